"""The pipeline used as its users use it: the dagster CLI, and the UI's GraphQL API of `dagster dev`."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DAGSTER = str(Path(sys.executable).with_name("dagster"))
PARTITION = "2026-01-31"
SMALL = {"ops": {
    "raw_interactions": {"config": {"synthetic_users": 300, "synthetic_items": 60, "synthetic_intents": 4}},
    "elcrec_model": {"config": {"epochs": 2, "intents": 4, "hidden": 16, "max_len": 12}},
    "user_recommendations": {"config": {"top_k": 5}},
}}


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    """A clean DAGSTER_HOME (telemetry off, from the project's dagster.yaml) and data folder."""
    home = tmp_path_factory.mktemp("dagster_home")
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    data = tmp_path_factory.mktemp("data")
    config = home / "small.yaml"
    config.write_text(yaml.safe_dump(SMALL))
    return {**os.environ, "DAGSTER_HOME": str(home), "ELCREC_DATA_DIR": str(data), "SMALL_CONFIG": str(config)}


def dagster(env: dict[str, str], *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([DAGSTER, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def test_definitions_validate(env):
    result = dagster(env, "definitions", "validate", "-m", "elcrec_pipeline.definitions")
    assert result.returncode == 0, result.stderr[-2000:]


def test_job_execute_then_single_asset_materialize(env):
    job = dagster(env, "job", "execute", "-m", "elcrec_pipeline.definitions", "-j", "daily_retrain_job",
                  "--tags", json.dumps({"dagster/partition": PARTITION}), "-c", env["SMALL_CONFIG"])
    assert job.returncode == 0, job.stderr[-3000:]
    assert "RUN_SUCCESS" in job.stderr + job.stdout
    data = Path(env["ELCREC_DATA_DIR"])
    assert (data / "models" / "aliases.json").is_file()
    report = next((data / "models" / PARTITION).glob("*/report.md"))
    first = report.stat().st_mtime
    again = dagster(env, "asset", "materialize", "-m", "elcrec_pipeline.definitions", "--select",
                    "evaluation_report", "--partition", PARTITION)
    assert again.returncode == 0, again.stderr[-3000:]
    assert report.stat().st_mtime > first  # the report again, from the stored model, without retraining
    assert len(list((data / "models" / PARTITION).glob("*/best.pt"))) == 1


def stop(process: subprocess.Popen) -> None:
    """Stop a server started in its own session, with everything it started."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def graphql(port: int, query: str, variables: dict | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        payload = json.loads(response.read())
    assert "errors" not in payload, payload["errors"]
    return payload["data"]


LAUNCH = """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
  ... on RunConfigValidationInvalid { errors { message } } } }"""
RUN = """query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"""
CHECKS = """query($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) { ... on AssetNode {
  assetChecksOrError { ... on AssetChecks { checks { name executionForLatestMaterialization { status } } } } } } }"""
METADATA = """query($key: AssetKeyInput!) { assetOrError(assetKey: $key) { ... on Asset {
  assetMaterializations(limit: 1) { partition metadataEntries { label
    ... on FloatMetadataEntry { floatValue } ... on IntMetadataEntry { intValue }
    ... on PathMetadataEntry { path } } } } } }"""


def test_ui_lists_assets_launches_the_job_and_shows_results(env, tmp_path):
    port = free_port()
    log = open(tmp_path / "dagster_dev.log", "w")
    server = subprocess.Popen([DAGSTER, "dev", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"],
                              cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 180
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5)
                assets = graphql(port, "{ assetNodes { assetKey { path } } }")["assetNodes"]
                if assets:
                    break
            except OSError:
                pass
            assert time.time() < deadline, (tmp_path / "dagster_dev.log").read_text()[-3000:]
            time.sleep(2)
        names = {node["assetKey"]["path"][0] for node in assets}
        assert names == {"raw_interactions", "rejected_interactions", "interaction_sequences", "elcrec_model",
                         "challengers", "serving_model", "evaluation_report", "intent_profiles", "user_recommendations"}
        params = {"selector": {"repositoryLocationName": "elcrec_pipeline.definitions",
                               "repositoryName": "__repository__", "jobName": "daily_retrain_job"},
                  "runConfigData": SMALL,
                  "executionMetadata": {"tags": [{"key": "dagster/partition", "value": PARTITION}]}}
        launched = graphql(port, LAUNCH, {"params": params})["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        run_id = launched["run"]["runId"]
        deadline = time.time() + 300
        while (status := graphql(port, RUN, {"id": run_id})["runOrError"]["status"]) not in (
                "SUCCESS", "FAILURE", "CANCELED"):
            assert time.time() < deadline, status
            time.sleep(2)
        assert status == "SUCCESS"
        node = graphql(port, CHECKS, {"key": {"path": ["serving_model"]}})["assetNodeOrError"]
        checks = {c["name"]: c["executionForLatestMaterialization"]["status"]
                  for c in node["assetChecksOrError"]["checks"]}
        candidate = json.loads((Path(env["ELCREC_DATA_DIR"]) / "models" / PARTITION / "latest.json").read_text())
        decision = json.loads((Path(env["ELCREC_DATA_DIR"]) / candidate["dir"] / "decision.json").read_text())
        assert checks == {"promotion_gate": "SUCCEEDED" if decision["promote"] else "FAILED"}
        (materialization,) = graphql(port, METADATA, {"key": {"path": ["elcrec_model"]}})[
            "assetOrError"]["assetMaterializations"]
        entries = {e["label"]: e for e in materialization["metadataEntries"]}
        assert materialization["partition"] == PARTITION
        assert 0 <= entries["valid_NDCG@20"]["floatValue"] <= 1
        assert Path(entries["model_dir"]["path"]).is_dir()
    finally:
        stop(server)
        log.close()


def test_readme_backfill_loads_your_own_files_through_the_daemon(tmp_path):
    """The README's backfill: ELCREC_SOURCE names a team's settings file, `dagster job backfill` queues one run
    per day without run config, and the daemon (which `dagster dev` runs) launches them: all 7 events of the two
    daily files, the late one included, end up in the warehouse."""
    from test_source_file import DAY_FILES

    home, team, data = tmp_path / "home", tmp_path / "team", tmp_path / "data"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    (team / "logs").mkdir(parents=True)
    for day, text in DAY_FILES.items():
        (team / "logs" / f"{day}.csv").write_text(text)
    (team / "source.yaml").write_text("format: csv\npath: logs/{date}.csv\ntimestamp_format: iso8601\n")
    env = {**os.environ, "DAGSTER_HOME": str(home), "ELCREC_DATA_DIR": str(data),
           "ELCREC_SOURCE": str(team / "source.yaml")}
    # Queue first, then start the daemon: two processes creating a fresh instance's SQLite storage at once race
    # on its schema migration (seen in CI), and a queued backfill waits for the daemon anyway.
    backfill = dagster(env, "job", "backfill", "-m", "elcrec_pipeline.definitions", "-j", "ingestion_job",
                       "--from", "2026-01-30", "--to", "2026-01-31", "--noprompt")
    assert backfill.returncode == 0 and "Launched backfill" in backfill.stdout, backfill.stderr[-2000:]
    log = open(tmp_path / "daemon.log", "w")
    daemon = subprocess.Popen([str(Path(DAGSTER).with_name("dagster-daemon")), "run", "-m",
                               "elcrec_pipeline.definitions"], cwd=REPO, env=env, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline, rows = time.time() + 240, None
        while rows != 7:
            assert time.time() < deadline, (rows, (tmp_path / "daemon.log").read_text()[-3000:])
            time.sleep(3)
            try:
                with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
                    rows = con.execute("SELECT count(*) FROM raw_interactions").fetchone()[0]
            except duckdb.Error:  # not created yet, or a run holds it
                pass
    finally:
        stop(daemon)
        log.close()
