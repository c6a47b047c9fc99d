"""The pipeline used as its users use it: the dagster CLI, and the UI's GraphQL API of `dagster dev`."""

import json
import os
import re
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

pytestmark = pytest.mark.e2e  # each test starts the Dagster CLI, the UI or the daemon (TESTING.md)

REPO = Path(__file__).resolve().parents[2]
DAGSTER = str(Path(sys.executable).with_name("dagster"))
PARTITION = "2026-01-31"
SMALL = {"ops": {
    "raw_interactions": {"config": {"synthetic_users": 300, "synthetic_items": 60, "synthetic_intents": 4}},
    "elcrec_model": {"config": {"epochs": 2, "intents": 4, "hidden": 16, "max_len": 12}},
    "user_recommendations": {"config": {"top_k": 5}},
}}


# The queue of the daemon (in `dagster dev` too) is read each second, not each 5 (Dagster's default): the runs that
# the UI and the backfill queue start sooner.
QUEUE_READ_EACH_SECOND = """run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    dequeue_interval_seconds: 1
"""


def instance_home(home: Path) -> None:
    """``home`` as a DAGSTER_HOME: the project's dagster.yaml (telemetry off, the pools) and
    :data:`QUEUE_READ_EACH_SECOND`."""
    settings = (REPO / "elcrec_pipeline" / "dagster.yaml").read_text(encoding="utf-8")
    (home / "dagster.yaml").write_text(settings + QUEUE_READ_EACH_SECOND, encoding="utf-8")


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    """A clean DAGSTER_HOME (telemetry off, from the project's dagster.yaml) and data folder."""
    home = tmp_path_factory.mktemp("dagster_home")
    instance_home(home)
    data = tmp_path_factory.mktemp("data")
    config = home / "small.yaml"
    config.write_text(yaml.safe_dump(SMALL))
    return {**os.environ, "DAGSTER_HOME": str(home), "ELCREC_DATA_DIR": str(data), "SMALL_CONFIG": str(config)}


def dagster(env: dict[str, str], *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([DAGSTER, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def test_definitions_validate(env):
    result = dagster(env, "definitions", "validate", "-m", "elcrec_pipeline.definitions")
    assert result.returncode == 0, result.stderr[-2000:]


def test_loading_the_code_location_leaves_the_heavy_modules_to_their_first_use(env):
    """Each Dagster process loads the code location (the UI's code server, the daemon, each run): torch.compile's
    machinery (``torch._dynamo``), scikit-learn, SciPy's statistics and pyplot were half of its 11-18 seconds
    (helper-265); the steps that use them import them."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c",
                           "import elcrec_pipeline.definitions as d; d.defs()"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    imported = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert {"elcrec_pipeline.definitions", "assets.training", "elcrec_core.report.plots"} <= imported
    assert imported & {"torch._dynamo", "sklearn", "scipy.stats", "matplotlib.pyplot"} == set()


def test_job_execute_then_single_asset_materialize(env):
    job = dagster(env, "job", "execute", "-m", "elcrec_pipeline.definitions", "-j", "daily_retrain_job",
                  "--tags", json.dumps({"dagster/partition": PARTITION}), "-c", env["SMALL_CONFIG"])
    assert job.returncode == 0, job.stderr[-3000:]
    assert "RUN_SUCCESS" in job.stderr + job.stdout
    data = Path(env["ELCREC_DATA_DIR"])
    assert (data / "models" / "aliases.json").is_file()
    report = next((data / "models" / PARTITION).glob("*/report.md"))
    # the console says who serves, the figures and where the report is, not only the UI
    said = re.search(r"(\S.*) serves \(.*\)\. test NDCG@20: ELCRec \(new\) [01]\.\d{4}, .*Report: (\S+\.md)",
                     job.stderr + job.stdout)
    assert said is not None and Path(said[2]) == report.resolve(), (job.stderr + job.stdout)[-3000:]
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
ENTRIES = """metadataEntries { __typename label
  ... on FloatMetadataEntry { floatValue } ... on IntMetadataEntry { intValue } ... on PathMetadataEntry { path }
  ... on MarkdownMetadataEntry { mdStr } ... on TextMetadataEntry { text }
  ... on TableSchemaMetadataEntry { schema { columns { name type description } } }
  ... on TableMetadataEntry { table { records schema { columns { name type } } } } }"""
CHECKS = """query($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) { ... on AssetNode {
  assetChecksOrError { ... on AssetChecks { checks { name executionForLatestMaterialization { status
    evaluation { ENTRIES } } } } } } } }""".replace("ENTRIES", ENTRIES)
METADATA = """query($key: AssetKeyInput!) { assetOrError(assetKey: $key) { ... on Asset {
  assetMaterializations(limit: 1) { partition ENTRIES } } } }""".replace("ENTRIES", ENTRIES)
DESCRIPTIONS = "{ assetNodes { assetKey { path } description } }"
ALL_CHECKS = """{ assetNodes { assetKey { path } assetChecksOrError { ... on AssetChecks { checks { name
  executionForLatestMaterialization { status evaluation { description } } } } } } }"""


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
            time.sleep(0.5)
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
            time.sleep(0.5)
        assert status == "SUCCESS"
        data = Path(env["ELCREC_DATA_DIR"])
        candidate = json.loads((data / "models" / PARTITION / "latest.json").read_text())
        folder = data / candidate["dir"]
        decision = json.loads((folder / "decision.json").read_text())
        executions = {(node["assetKey"]["path"][0], check["name"]): check["executionForLatestMaterialization"]
                      for node in graphql(port, ALL_CHECKS)["assetNodes"]
                      for check in node["assetChecksOrError"]["checks"]}
        checks = {key: execution["status"] for key, execution in executions.items()}
        # each result says what it found, passed or not (six passed ones said nothing: helper-232)
        assert [key for key, execution in executions.items() if not execution["evaluation"]["description"]] == []
        assert checks == {("raw_interactions", "interaction_expectations"): "SUCCEEDED",
                          ("raw_interactions", "earlier_days_loaded"): "SUCCEEDED",
                          ("raw_interactions", "later_days_trained_after"): "SUCCEEDED",
                          ("raw_interactions", "events_on_their_day"): "SUCCEEDED",
                          ("raw_interactions", "item_metadata_matches_items"): "SUCCEEDED",
                          ("raw_interactions", "item_categories_split"): "SUCCEEDED",
                          ("interaction_sequences", "sequence_expectations"): "SUCCEEDED",
                          ("interaction_sequences", "new_event_types_modelled"): "SUCCEEDED",
                          ("interaction_sequences", "settings_as_the_day_before"): "SUCCEEDED",
                          ("elcrec_model", "model_settings_as_the_day_before"): "SUCCEEDED",
                          ("serving_model", "promotion_gate"): "SUCCEEDED" if decision["promote"] else "FAILED",
                          ("user_recommendations", "complete_lists"): "SUCCEEDED"}
        check_metadata_matches_files(port, folder)
        check_metadata_reads_well(port, names)
    finally:
        stop(server)
        log.close()


def latest_entries(port: int, asset: str) -> dict[str, dict]:
    """The metadata entries of ``asset``'s latest materialization (of PARTITION), by label."""
    (materialization,) = graphql(port, METADATA, {"key": {"path": [asset]}})["assetOrError"]["assetMaterializations"]
    assert materialization["partition"] == PARTITION, asset
    return {e["label"]: e for e in materialization["metadataEntries"]}


def check_metadata_matches_files(port: int, folder: Path) -> None:
    """The figures the UI shows of the new model and of the report are those of its metrics.json and report.json
    (rounded to 4 significant digits), row by row and model by model."""
    from assets.metadata import significant

    def same(entry: dict, value: float) -> bool:
        return entry["__typename"] == "FloatMetadataEntry" and entry["floatValue"] == significant(value)

    metrics = json.loads((folder / "metrics.json").read_text())
    model = latest_entries(port, "elcrec_model")
    assert Path(model["model_dir"]["path"]) == folder
    for split in ("valid", "test"):
        for name in ("HR@20", "NDCG@20"):
            assert same(model[f"{split}_{name}"], metrics[split][name]), (split, name)
    rows = table_cells(model["metrics"], ["split"], "elcrec_model.metrics")
    assert rows == [{"split": split, **{k: significant(v) for k, v in metrics[split].items()}}
                    for split in ("valid", "test")]
    assert model["best_epoch"]["intValue"] == metrics["best_epoch"]
    assert model["epochs_run"]["intValue"] == metrics["epochs"] == len(metrics["history"])
    assert same(model["train_seconds"], metrics["seconds"])
    assert model["precision"]["text"] == metrics["precision"] in ("fp32", "bf16 autocast")
    assert [row["epoch"] for row in table_cells(model["training_curve"], ["epoch"], "curve")] == [
        row["epoch"] for row in metrics["history"]]

    report = json.loads((folder / "report.json").read_text())
    shown = latest_entries(port, "evaluation_report")
    assert report["day"] == PARTITION and report["split"] == "test"
    assert set(report["models"]) >= {"elcrec", "sasrec", "most_popular", "transition", "ease"}
    assert shown["serving"]["text"] == report["serving"]
    assert report["models"]["elcrec"] == metrics["test"]  # the report ranks the stored model again: same figures
    assert same(shown["test_HR@20"], report["models"]["elcrec"]["HR@20"])
    assert same(shown["test_NDCG@20"], report["models"]["elcrec"]["NDCG@20"])
    assert same(shown["popularity_HR@20"], report["models"]["most_popular"]["HR@20"])
    rows = table_cells(shown["all_cut_offs"], ["model"], "evaluation_report.all_cut_offs")
    assert [{k: v for k, v in row.items() if k != "model"} for row in rows] == [
        {k: significant(v) for k, v in values.items()} for values in report["models"].values()]
    headline = {row["model"]: row for row in table_cells(shown["headline"], ["model"], "headline")}
    assert [(row["HR@20"], row["NDCG@20"]) for row in headline.values()] == [
        (significant(v["HR@20"]), significant(v["NDCG@20"])) for v in report["models"].values()]


# What the UI shows of each asset's latest materialization, read through its GraphQL API (the types decide how it
# renders: a TableMetadataEntry is a table, a FloatMetadataEntry a number that the Plots view draws by partition).
WAREHOUSE_TABLES = {  # asset: its warehouse table (dagster/table_name) and some of the columns of its schema
    "raw_interactions": ("raw_interactions", {"user_id", "item_id", "timestamp", "source_file", "source_row"}),
    "rejected_interactions": ("rejected_interactions", {"source_file", "source_row", "reason", "detail"}),
    "interaction_sequences": ("sequences", {"user_id", "items", "length"}),
    "intent_profiles": ("intent_profiles", {"intent", "users", "cohesion", "top_items"}),
    "user_recommendations": ("user_recommendations", {"user_id", "rank", "item_id", "score", "intent"}),
}
TABLES = {  # asset: {table entry: its first columns}
    "raw_interactions": {"rejected_by_reason": ["reason", "rows"], "tables": ["table", "rows"]},
    "rejected_interactions": {"by_reason": ["reason", "rows"],
                              "sample": ["source_file", "source_row", "reason", "detail"]},
    "interaction_sequences": {"length": ["min", "p10", "p25", "p50", "p75", "p90", "p99", "max", "mean"]},
    "elcrec_model": {"metrics": ["split", "HR@5", "NDCG@5", "HR@10", "NDCG@10", "HR@20", "NDCG@20"],
                     "training_curve": ["epoch", "loss", "rec", "seq_cl", "intent_cl", "cluster"]},  # as plotted
    "challengers": {"challengers": ["model", "valid_NDCG@20", "test_HR@20", "test_NDCG@20", "params", "seconds"]},
    "serving_model": {"scores": ["model", "valid_NDCG@20", "serves"]},
    "evaluation_report": {
        "headline": ["model", "HR@20", "HR@20 95% CI", "NDCG@20", "NDCG@20 95% CI"],
        "all_cut_offs": ["model", "HR@5", "NDCG@5", "HR@10", "NDCG@10", "HR@20", "NDCG@20"],
        "by_history_length": ["history", "users", "model", "HR@20", "NDCG@20"],
        "by_target_popularity": ["target", "users", "model", "HR@20", "NDCG@20"]},
    "intent_profiles": {"largest_intents": ["intent", "users", "cohesion", "nearest_intent", "top_items"],
                        "users_per_intent": ["min", "p25", "median", "p75", "max"]},
    "user_recommendations": {"sample": ["user_id", "rank", "item_id", "score", "intent"]},
}
FLOATS = {  # asset: metrics that the Plots view draws by partition
    "raw_interactions": {"rejected_share"}, "interaction_sequences": {"density"},
    "elcrec_model": {"valid_HR@20", "valid_NDCG@20", "test_HR@20", "test_NDCG@20", "train_seconds"},
    "challengers": {"most_popular_valid_NDCG@20", "ease_valid_NDCG@20"},
    "serving_model": {"candidate_valid_NDCG@20", "tolerance"},
    "evaluation_report": {"test_HR@20", "test_NDCG@20", "popularity_HR@20", "HR@20_minus_popularity",
                          "serving_test_HR@20", "serving_test_NDCG@20"},
    "intent_profiles": {"planted_NMI", "planted_ARI", "shuffled_NMI", "shuffled_ARI"},
    "user_recommendations": {"catalogue_coverage"},
}
PLOTS = {"elcrec_model": {"training_plot"}, "intent_profiles": {"intent_map", "intent_sizes"}}
PATHS_IN_DESCRIPTIONS = {"elcrec_model": "models/<day>/<run id>/", "challengers": "models/<day>/<run id>/challengers/",
                         "interaction_sequences": "sequences/<day>/", "intent_profiles": "profiles/<day>/"}
EXPECTATION_COLUMNS = ["expectation", "column", "observed", "threshold", "passed"]


def check_metadata_reads_well(port: int, assets: set[str]) -> None:
    """Tables are typed tables with the expected columns (JSON records without NaN), every warehouse table asset
    has dagster/row_count and dagster/column_schema, floats are float entries rounded to 4 significant digits,
    plots are named Markdown images, no raw JSON but the training settings, Great Expectations results are a table,
    and the descriptions' paths survive Markdown rendering."""
    from assets.metadata import significant

    floats, json_entries = [], []
    for asset in sorted(assets):
        (materialization,) = graphql(port, METADATA, {"key": {"path": [asset]}})["assetOrError"][
            "assetMaterializations"]
        entries = {e["label"]: e for e in materialization["metadataEntries"]}
        assert not [label for label in entries if label.startswith("plot_")], asset
        # each image once (a day's history of report materializations carried the training curves again)
        assert asset == "elcrec_model" or "training_plot" not in entries, asset
        json_entries += [(asset, e["label"]) for e in entries.values() if e["__typename"] == "JsonMetadataEntry"]
        floats += [(asset, e["label"], e["floatValue"]) for e in entries.values()
                   if e["__typename"] == "FloatMetadataEntry"]
        if asset in WAREHOUSE_TABLES:
            name, columns = WAREHOUSE_TABLES[asset]
            assert entries["dagster/row_count"]["__typename"] == "IntMetadataEntry", asset
            assert entries["dagster/row_count"]["intValue"] > 0 or asset == "rejected_interactions", asset
            assert entries["dagster/column_schema"]["__typename"] == "TableSchemaMetadataEntry", asset
            assert columns <= {c["name"] for c in entries["dagster/column_schema"]["schema"]["columns"]}, asset
            undescribed = [c["name"] for c in entries["dagster/column_schema"]["schema"]["columns"]
                           if not c["description"]]  # rejected_interactions' ids had none (helper-232)
            assert undescribed == [], (asset, undescribed)
        for label, columns in TABLES.get(asset, {}).items():
            cells = table_cells(entries[label], columns, f"{asset}.{label}")
            assert cells or "reason" in columns, (asset, label)  # the synthetic data has no rejected rows
            floats += [(asset, label, v) for row in cells for v in row.values() if isinstance(v, float)]
        for label in FLOATS.get(asset, set()):
            assert entries[label]["__typename"] == "FloatMetadataEntry", (asset, label)
        for label in PLOTS.get(asset, set()):
            assert entries[label]["__typename"] == "MarkdownMetadataEntry", (asset, label)
            assert entries[label]["mdStr"].startswith("**") and "data:image/png;base64," in entries[label]["mdStr"]
    assert json_entries == [("elcrec_model", "settings")]
    assert floats and [f for f in floats if significant(f[2]) != f[2]] == []  # 0.4985, not 0.4984672244648978
    for asset, check in (("raw_interactions", "interaction_expectations"),
                         ("interaction_sequences", "sequence_expectations")):
        node = graphql(port, CHECKS, {"key": {"path": [asset]}})["assetNodeOrError"]
        (result,) = [c for c in node["assetChecksOrError"]["checks"] if c["name"] == check]
        entries = {e["label"]: e for e in result["executionForLatestMaterialization"]["evaluation"]["metadataEntries"]}
        assert entries["failed"]["intValue"] == 0
        rows = table_cells(entries["expectations"], EXPECTATION_COLUMNS, check)
        assert rows and all(row["passed"] and row["threshold"] for row in rows), rows
    descriptions = {node["assetKey"]["path"][0]: node["description"]
                    for node in graphql(port, DESCRIPTIONS)["assetNodes"]}
    for asset, path in PATHS_IN_DESCRIPTIONS.items():
        assert path in rendered_text(descriptions[asset]), (asset, descriptions[asset])


def table_cells(entry: dict, columns: list[str], where: str) -> list[dict]:
    """The rows of a TableMetadataEntry whose schema starts with ``columns``; every record is plain JSON (no NaN:
    the UI could not parse it) with the schema's columns."""
    assert entry["__typename"] == "TableMetadataEntry", where
    names = [c["name"] for c in entry["table"]["schema"]["columns"]]
    assert names[:len(columns)] == columns, (where, names)

    def no_constants(name: str):
        raise AssertionError(f"{where}: {name} in a record")

    rows = [json.loads(record, parse_constant=no_constants) for record in entry["table"]["records"]]
    assert all(set(row) == set(names) for row in rows), where  # the records' keys come sorted
    return rows


def rendered_text(markdown: str) -> str:
    """The text a reader sees of ``markdown`` rendered as HTML (raw HTML such as ``<day>`` is a tag, not text)."""
    from html.parser import HTMLParser

    from markdown_it import MarkdownIt

    class Text(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.parts: list[str] = []

        def handle_data(self, data: str) -> None:
            self.parts.append(data)

    parser = Text()
    parser.feed(MarkdownIt().render(markdown))
    return "".join(parser.parts)


def test_readme_backfill_loads_your_own_files_through_the_daemon(tmp_path):
    """The README's backfill: ELCREC_SOURCE names a team's settings file, `dagster job backfill` queues one run
    per day without run config, and the daemon (which `dagster dev` runs) launches them: all 7 events of the two
    daily files, the late one included, end up in the warehouse."""
    from tests.pipeline.test_source_file import DAY_FILES

    home, team, data = tmp_path / "home", tmp_path / "team", tmp_path / "data"
    home.mkdir()
    instance_home(home)
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
            time.sleep(1)  # a reader of the warehouse makes the run's step wait for its lock
            try:
                with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
                    rows = con.execute("SELECT count(*) FROM raw_interactions").fetchone()[0]
            except duckdb.Error:  # not created yet, or a run holds it
                pass
    finally:
        stop(daemon)
        log.close()
