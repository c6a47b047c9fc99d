"""Reliability of the pipeline: a training killed mid-epoch resumes, concurrent and repeated runs of a partition
leave the same warehouse, and a held warehouse lock gives a short wait then a clear error."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import torch
from dagster._core.definitions.policy import calculate_delay  # the delays the README states

from assets import challengers, evaluation, ingestion, profiling, recommendations, sequences, serving, training
from assets.daily import MODEL_STORE_POOL, RETRY, WAREHOUSE_POOL
from elcrec_core.config.settings import preset_names
from elcrec_core.data import warehouse, warehouse_file
from elcrec_core.data.sequences import sequence_day_folders
from elcrec_core.serve.model_store import ModelRecord, ModelStore
from elcrec_core.train import state
from elcrec_pipeline.definitions import defs
from elcrec_pipeline.resources import ComputeDevice, SourceFile, Storage

REPO = Path(__file__).resolve().parents[2]
PARTITION = "2026-01-20"

# Materializes the named assets of PARTITION in DATA_DIR in a new process (an ephemeral Dagster instance), as
# run_assets does here.
MATERIALIZE = textwrap.dedent("""
    import json, sys
    from tests.pipeline.test_reliability import run_assets
    data_dir, config, names = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3:]
    sys.exit(0 if run_assets(data_dir, names, config).success else 1)
""")

SOURCE = {"synthetic_users": 1000, "synthetic_items": 100, "synthetic_intents": 4}
TRAINING = {"preset": "general", "epochs": 6, "patience": 6, "lr": 3e-3, "intents": 4, "hidden": 16, "max_len": 12,
            "seed": 3, "warm_start": False}


ASSETS = {a.key.path[-1]: a for a in (ingestion.raw_interactions, sequences.interaction_sequences,
                                     training.elcrec_model)}


def run_config(*names: str) -> dict:
    ops = {"raw_interactions": {"config": SOURCE}, "elcrec_model": {"config": TRAINING}}
    return {"ops": {name: ops[name] for name in names if name in ops}}


def materialize(data_dir: Path, *names: str, config: dict | None = None, **popen) -> subprocess.Popen:
    cmd = [sys.executable, "-c", MATERIALIZE, str(data_dir), json.dumps(config or run_config(*names)), *names]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(cmd, cwd=REPO, env=env, text=True, **popen)


def run_assets(data_dir: str | Path, names: Sequence[str], config: dict,
               instance: dg.DagsterInstance | None = None) -> dg.ExecuteInProcessResult:
    """A run of the assets ``names`` of PARTITION in ``data_dir`` with run config ``config``, on one CPU thread."""
    return dg.materialize([ASSETS[name] for name in names], partition_key=PARTITION, instance=instance,
                          run_config=config, raise_on_error=False,
                          resources={"storage": Storage(data_dir=str(data_dir)), "source_file": SourceFile(),
                                     "device": ComputeDevice(device="cpu", threads=1)})


def materialize_here(data_dir: Path, *names: str, config: dict | None = None) -> str:
    """What :data:`MATERIALIZE` does, in this process (no interpreter and imports to start: seconds a run) for a run
    that no other runs beside: its log's messages, one a line. Fails the test where the run fails."""
    threads = torch.get_num_threads()  # the device resource sets one thread, as the children have
    try:
        with dg.DagsterInstance.ephemeral() as instance:
            result = run_assets(data_dir, names, config or run_config(*names), instance)
            log = "\n".join(entry.message for entry in instance.all_logs(result.run_id))
    finally:
        torch.set_num_threads(threads)
    assert result.success, log[-3000:]
    return log


def finish(proc: subprocess.Popen, timeout: int = 600) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-3000:]
    return out


def counts(data_dir: Path) -> dict[str, int]:
    return {t: n for t, n in warehouse.table_counts(data_dir / "warehouse.duckdb").items() if t != "loads"}


@pytest.fixture(scope="module")
def sequences_built(tmp_path_factory) -> Path:
    """A data folder with the partition's events and sequences, ready for training."""
    data_dir = tmp_path_factory.mktemp("built")
    materialize_here(data_dir, "raw_interactions", "interaction_sequences")
    return data_dir


@pytest.mark.e2e
def test_training_killed_mid_epoch_resumes_and_ends_like_an_uninterrupted_run(sequences_built, tmp_path,
                                                                             monkeypatch):
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    shutil.copytree(sequences_built, killed)
    shutil.copytree(sequences_built, clean)
    proc = materialize(killed, "elcrec_model", stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    seen = []
    for line in proc.stdout:  # Dagster's log lines; the trainer logs one per epoch
        seen.append(line)
        if "epoch   1 |" in line:
            time.sleep(0.2)  # inside epoch 2; a fast epoch 2 may be writing its checkpoint: kill between writes
            deadline = time.monotonic() + 10
            while list((killed / "models").glob("**/*.tmp*")) and time.monotonic() < deadline:
                time.sleep(0.005)
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)[-2000:]
    (work,) = (killed / "models" / PARTITION / "training").iterdir()
    assert (work / "last.pt").exists() and not list(work.glob("*.tmp*"))  # atomic writes: no half-written file
    # under other code (an upgrade) the run starts again from its first epoch: it resumed the old code's epochs,
    # a model of two versions under the new one's recipe (helper-185)
    upgraded = tmp_path / "upgraded"
    shutil.copytree(killed, upgraded)
    with monkeypatch.context() as upgrade:
        for module in (state, training):  # the function and the asset's name of it
            upgrade.setattr(module, "code_digest", lambda: "other code")
        other = materialize_here(upgraded, "elcrec_model")
    assert "epoch   0 |" in other and "resum" not in other, other[-2000:]

    log = materialize_here(killed, "elcrec_model")
    assert "resuming after its last complete epoch" in log
    assert "resumed from" in log and "epoch   0 |" not in log  # no epoch is trained twice from scratch
    materialize_here(clean, "elcrec_model")  # the uninterrupted run

    resumed, reference = ModelStore(killed).candidate(PARTITION), ModelStore(clean).candidate(PARTITION)
    assert resumed.best_epoch == reference.best_epoch
    for name, value in reference.valid.items():
        assert resumed.valid[name] == pytest.approx(value, abs=1e-4), name
    for name, value in reference.test.items():
        assert resumed.test[name] == pytest.approx(value, abs=1e-4), name
    assert not (killed / "models" / PARTITION / "training").exists()  # training state dropped at the end


@pytest.mark.e2e
def test_two_instances_training_one_day_at_once_train_one_after_the_other(sequences_built, tmp_path):
    """Two runs of one day from two Dagster instances (another DAGSTER_HOME: the pool does not see the other's
    run) trained in one training folder at once: the first to finish removed it, the other failed, and its retry left
    a last.pt without best.pt that failed every later run of the day. The second now waits for the first."""
    data_dir = tmp_path / "shared"
    shutil.copytree(sequences_built, data_dir)
    # a training of 40 epochs (some seconds): longer than the second run takes to reach the lock once the first
    # trains (two processes started at once with 6 epochs: one once ended before the other had started to train)
    longer = {"ops": {"elcrec_model": {"config": {**TRAINING, "epochs": 40, "patience": 40}}}}
    stale = data_dir / "models" / PARTITION / "training" / "0123456789abcdef"  # a diverged run's, of other settings:
    (stale / "tensorboard").mkdir(parents=True)  # it stayed for good (helper-234); a training that ends removes it
    (stale / "config.json").write_text("{}")
    output = tmp_path / "first.log"
    with output.open("w", encoding="utf-8") as out:  # a file, not a pipe that nobody reads while the second runs
        first = materialize(data_dir, "elcrec_model", config=longer, stdout=out, stderr=subprocess.STDOUT)
    while "epoch   0 |" not in output.read_text(encoding="utf-8"):  # it holds the lock: the second run comes now
        assert first.poll() is None, output.read_text(encoding="utf-8")[-3000:]
        time.sleep(0.05)
    second = materialize_here(data_dir, "elcrec_model", config=longer)  # this process, another Dagster instance
    assert first.wait(timeout=600) == 0, output.read_text(encoding="utf-8")[-3000:]
    logs = [output.read_text(encoding="utf-8"), second]
    lock = data_dir / "models" / PARTITION / ".training.lock"
    waited = [re.search(rf"run (\S+) \(process \d+ on \S+, since [-\d]+ [:\d]+ UTC\) trains {PARTITION} in "
                        rf"this data folder \({re.escape(str(lock))} is locked\): waiting for it to end", log)
              for log in logs]
    (waiting,) = [n for n, found in enumerate(waited) if found]
    assert f" - {waited[waiting].group(1)} - " in logs[1 - waiting]  # the other run's id, as its own log gives it
    assert not (lock.parent / ".training.holder").exists()  # the holder's note goes with its lock
    assert not (data_dir / "models" / PARTITION / "training").exists()  # each run's training state dropped
    runs = sorted((data_dir / "models" / PARTITION).glob("*/record.json"))
    assert len(runs) == 2 and all((run.parent / "best.pt").exists() for run in runs)


@pytest.mark.e2e
def test_same_partition_twice_at_once_and_again_leaves_the_same_warehouse(sequences_built, tmp_path):
    expected = counts(sequences_built)
    assert expected["raw_interactions"] > 0 and expected["sequences"] > 0
    data_dir = tmp_path / "twice"
    names = ("raw_interactions", "interaction_sequences")
    both = [materialize(data_dir, *names, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for _ in range(2)]
    for proc in both:
        finish(proc)
    assert counts(data_dir) == expected
    materialize_here(data_dir, *names)
    assert counts(data_dir) == expected
    assert warehouse.table_counts(data_dir / "warehouse.duckdb")["loads"] == 3  # each load is logged


HOLD_LOCK = ("import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); "
             "time.sleep(float(sys.argv[2]))")


def hold_lock(path: Path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(path), str(seconds)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


@pytest.mark.parametrize("value", ["60s", "-1", "nan", "inf"])
def test_a_bad_lock_wait_is_refused_naming_the_variable_before_a_run_starts(tmp_path, monkeypatch, value):
    """'60s' failed each step that opened the warehouse with float()'s unnamed message, and was retried."""
    monkeypatch.setenv(warehouse_file.LOCK_WAIT_ENV, value)
    message = f"{warehouse_file.LOCK_WAIT_ENV}={value!r}: expected a number of seconds >= 0, such as 60"
    with pytest.raises(ValueError) as refused:
        defs()  # the code location's load (the UI, dagster job execute, the daemon)
    assert str(refused.value) == message
    with pytest.raises(ValueError) as refused:
        with warehouse.connect(tmp_path / "warehouse.duckdb"):
            pass
    assert str(refused.value) == message


def test_a_data_folder_gone_since_earlier_runs_fails_the_run_and_makes_no_new_store(tmp_path, monkeypatch):
    """An unmounted data volume: the run made the path anew, an empty store, trained from scratch and served, green
    (helper-234). A folder that earlier runs of the instance used and that is gone, or empty where one succeeded,
    now fails the run at once, naming it; a new folder (no run used it) is made as before, and one with a NEW_STORE
    file in it starts a new store."""
    instance = dg.DagsterInstance.ephemeral()
    folder = tmp_path / "mounted" / "data"
    resources = {"storage": Storage(data_dir=str(folder)), "source_file": SourceFile(path="")}
    first = dg.materialize([ingestion.raw_interactions], partition_key="2026-01-31", resources=resources,
                           instance=instance)
    assert first.success and (folder / "warehouse.duckdb").is_file()
    shutil.rmtree(tmp_path / "mounted")
    gone = dg.materialize([ingestion.raw_interactions], partition_key="2026-01-31", resources=resources,
                          instance=instance, raise_on_error=False)
    assert not gone.success and not folder.exists()
    errors = [e.event_specific_data.error.message for e in gone.all_events
              if e.event_type == dg.DagsterEventType.RESOURCE_INIT_FAILURE]  # before any step's work
    assert len(errors) == 1 and (
        f"the data folder {folder} (the run config's resources.storage.config.data_dir) does not exist, though run "
        f"{first.run_id} of this instance used it: an unmounted volume, or a folder moved?") in errors[0], errors
    # made again, empty, as an unmounted volume leaves its mount point: a new, empty store was made there, green
    # (helper-239); refused too, until a file in it says to start anew
    folder.mkdir(parents=True)
    empty = dg.materialize([ingestion.raw_interactions], partition_key="2026-01-31", resources=resources,
                           instance=instance, raise_on_error=False)
    errors = [e.event_specific_data.error.message for e in empty.all_events
              if e.event_type == dg.DagsterEventType.RESOURCE_INIT_FAILURE]
    assert not empty.success and list(folder.iterdir()) == []
    assert len(errors) == 1 and (
        f"the data folder {folder} (the run config's resources.storage.config.data_dir) is empty, though run "
        f"{first.run_id} of this instance succeeded with it: the mount point of a volume not mounted, or a folder "
        f"emptied? Nothing was made there; mount the volume, or point the setting at the folder, or put a file named "
        f"NEW_STORE in it (mkdir -p {folder} && touch {folder / 'NEW_STORE'}) to start a new, empty store "
        "there") in errors[0], errors
    (folder / "lost+found").mkdir()  # a new, empty file system mounted there: a new store was made (helper-243)
    assert not dg.materialize([ingestion.raw_interactions], partition_key="2026-01-31", resources=resources,
                              instance=instance, raise_on_error=False).success
    (folder / "NEW_STORE").touch()
    anew = dg.materialize([ingestion.raw_interactions], partition_key="2026-01-31", resources=resources,
                          instance=instance)
    said = [e.message for e in instance.all_logs(anew.run_id) if "NEW_STORE" in e.message]  # the run said nothing
    assert anew.success and said == [f"{folder / 'NEW_STORE'}: a new, empty store starts in {folder}; the file may be "
                                     "removed once this run has written there"], said
    # the folder's runs are queried before the folder is looked at: a backfill's run that made the folder and tagged
    # itself in between failed another, the folder "gone" though it was there (helper-239)
    racing = tmp_path / "racing"
    first_of_backfill = {"storage": Storage(data_dir=str(racing)), "source_file": SourceFile(path=str(tmp_path / "x"))}
    assert not dg.materialize([ingestion.raw_interactions], partition_key="2026-01-30", resources=first_of_backfill,
                              instance=instance, raise_on_error=False).success  # tagged, going on (not succeeded)
    shutil.rmtree(racing)  # not made yet when the other looked
    get_runs = instance.get_runs

    def made_in_between(*args, **kwargs):
        runs = get_runs(*args, **kwargs)
        racing.mkdir(exist_ok=True)
        return runs

    monkeypatch.setattr(instance, "get_runs", made_in_between)
    tagged = {"storage": Storage(data_dir=str(racing)), "source_file": SourceFile(path="")}
    assert dg.materialize([ingestion.raw_interactions], partition_key="2026-01-31", resources=tagged,
                          instance=instance).success
    # a first run that fails before it writes anything (its source settings file missing) made the folder too: the
    # next was refused, the folder taken for one gone (helper-236)
    fresh = {"storage": Storage(data_dir=str(tmp_path / "fresh")), "source_file": SourceFile(path=str(tmp_path / "x"))}
    assert not dg.materialize([ingestion.raw_interactions], partition_key="2026-01-31", resources=fresh,
                              instance=instance, raise_on_error=False).success
    fresh["source_file"] = SourceFile(path="")
    assert dg.materialize([ingestion.raw_interactions], partition_key="2026-01-31", resources=fresh,
                          instance=instance).success


def test_a_training_in_a_folder_gone_read_only_fails_with_its_own_error(tmp_path, monkeypatch):
    """The data folder made read-only during a training: the step failed on the lock's note's removal ('Read-only
    file system: .../.training.holder'), which hid the write that failed (.last.pt's), and kept the lock (helper-234).
    The training's own error is told, and the lock is freed."""
    storage = Storage(data_dir=str(tmp_path))
    unlink = Path.unlink

    def read_only(path: Path, missing_ok: bool = False) -> None:
        if path.name == ".training.holder":
            raise OSError(30, "Read-only file system", str(path))
        unlink(path, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", read_only)
    with pytest.raises(OSError, match=r"last\.pt was not written"):
        with storage.training_lock("2026-01-31", print, "run a"):
            raise OSError("last.pt was not written")
    with storage.training_lock("2026-01-31", print, "run b"):  # freed: no wait
        pass


def test_the_lock_wait_is_read_in_seconds_with_60_by_default(monkeypatch):
    monkeypatch.delenv(warehouse_file.LOCK_WAIT_ENV, raising=False)
    assert warehouse_file.lock_wait_seconds() == 60.0
    for value, seconds in (("", 60.0), ("0", 0.0), ("2.5", 2.5), (" 30 ", 30.0)):
        monkeypatch.setenv(warehouse_file.LOCK_WAIT_ENV, value)
        assert warehouse_file.lock_wait_seconds() == seconds


def test_a_held_warehouse_lock_is_waited_for_then_reported(tmp_path, monkeypatch):
    path = tmp_path / "warehouse.duckdb"
    with warehouse.connect(path):
        pass
    holder = hold_lock(path, 60)
    monkeypatch.setenv(warehouse_file.LOCK_WAIT_ENV, "0.5")
    try:
        with pytest.raises(warehouse_file.WarehouseLocked,
                           match=rf"warehouse\.duckdb is locked by another process .*0\.5 s.*"
                                 rf"{warehouse_file.LOCK_WAIT_ENV}.*PID {holder.pid}"):
            with warehouse.connect(path, read_only=True):
                pass
    finally:
        holder.kill()
        holder.wait()

    holder = hold_lock(path, 1.0)  # released within the wait: the connection succeeds
    monkeypatch.setenv(warehouse_file.LOCK_WAIT_ENV, "30")
    with warehouse.connect(path) as con:
        assert con.execute("SELECT count(*) FROM loads").fetchall() == [(0,)]
    holder.wait()


def test_a_damaged_warehouse_is_named_with_the_ways_back_on_opening_it_and_on_reading_a_block(tmp_path):
    """DuckDB's error for a block whose checksum fails names no file ('Corrupt database file: computed checksum
    ...'), and the pipeline retried it twice; a file cut short or of something else was named, with no way back."""
    path = tmp_path / "warehouse.duckdb"
    with warehouse.transaction(path) as con:
        con.execute("CREATE TABLE big AS SELECT range AS i, md5(range::VARCHAR) AS s FROM range(1000000)")
    good = path.read_bytes()
    middle = len(good) // 2  # a block of the table's data, read by a query, not on opening the file
    damages = {"junk": b"not a database" * 100, "cut short": good[:len(good) // 3],
               "a block overwritten": good[:middle] + bytes(4096) + good[middle + 4096:]}
    for damage, content in damages.items():
        path.write_bytes(content)
        for read_only in (True, False):
            with pytest.raises(warehouse_file.WarehouseDamaged) as refused:
                with warehouse.connect(path, read_only=read_only) as con:
                    con.execute("SELECT max(s) FROM big").fetchall()
            message = str(refused.value)
            assert message.startswith(f"the warehouse {path} is damaged, and DuckDB cannot read it: "), damage
            assert f"mv {path} {path}.damaged" in message and "each through interaction_sequences" in message
            assert isinstance(refused.value.__cause__, duckdb.Error)
    path.write_bytes(good)  # put back: read as before
    with warehouse.connect(path, read_only=True) as con:
        assert con.execute("SELECT count(*), count(DISTINCT s) FROM big").fetchall() == [(1000000, 1000000)]
    with pytest.raises(duckdb.CatalogException):  # DuckDB's other errors pass as they are
        with warehouse.connect(path, read_only=True) as con:
            con.execute("SELECT * FROM no_such_table")


def test_warehouse_assets_share_one_pool_and_ingestion_and_training_retry():
    touching_warehouse = [ingestion.raw_interactions, ingestion.rejected_interactions,
                          sequences.interaction_sequences, evaluation.evaluation_report, profiling.intent_profiles,
                          recommendations.user_recommendations]
    for asset in touching_warehouse:
        assert asset.op.pool == WAREHOUSE_POOL, asset.key
    # long training never holds the warehouse pool; the model store's writers queue in their own
    for asset in (training.elcrec_model, challengers.challengers, serving.serving_model):
        assert asset.op.pool == MODEL_STORE_POOL, asset.key
    # retried by their own code, not by a Dagster retry policy: Dagster retries an interrupted step by its policy,
    # and a terminated run went on (dagster-io/dagster#15026)
    # every step: the others retry a warehouse held locked past the wait alone (helper-245)
    for asset in (*touching_warehouse, training.elcrec_model, challengers.challengers, serving.serving_model):
        compute = asset.op.compute_fn.decorated_fn
        assert asset.op.retry_policy is None and compute.__code__.co_qualname.startswith("retried_on_error."), asset.key
    # README: twice, with exponential backoff (after 10 s, then 30 s: Dagster's (2^n - 1) x delay)
    assert (RETRY.max_retries, RETRY.delay, RETRY.backoff) == (2, 10, dg.Backoff.EXPONENTIAL)
    assert [calculate_delay(n, RETRY.backoff, RETRY.jitter, RETRY.delay) for n in (1, 2)] == [10, 30]
    instance = (REPO / "elcrec_pipeline" / "dagster.yaml").read_text()
    assert "default_limit: 1" in instance


def test_a_step_that_retries_no_other_error_retries_a_warehouse_held_locked(monkeypatch):
    """A consumer's read-only connection held the warehouse past the wait: user_recommendations failed at once, with
    no retry, where the README says a step is retried twice (helper-245). Its other errors still fail at once."""
    from assets import daily

    monkeypatch.setattr(daily, "RETRY", dg.RetryPolicy(max_retries=2, delay=0))
    tries: list[int] = []

    def asset_raising(error: Exception, times: int) -> dg.AssetsDefinition:
        @daily.daily_asset(name=f"raises_{type(error).__name__}")
        def step(context: dg.AssetExecutionContext) -> None:
            tries.append(context.retry_number)
            if len(tries) <= times:
                raise error
        return step

    locked = warehouse_file.WarehouseLocked("the warehouse w.duckdb is locked by another process")
    assert dg.materialize([asset_raising(locked, 2)], partition_key=PARTITION).success and tries == [0, 1, 2]
    tries.clear()
    result = dg.materialize([asset_raising(RuntimeError("a bug"), 1)], partition_key=PARTITION, raise_on_error=False)
    assert not result.success and tries == [0]


def test_the_pool_slot_of_a_killed_run_is_freed_by_the_daemon(tmp_path, monkeypatch):
    """A run whose process was killed kept the pool slot of its step: every later run that needs the pool (all of
    them: each loads into the warehouse) stayed queued for good (a trial of 2026-12-05, dagster dev). The
    project's instance settings have the daemon's run monitoring free a finished run's slots 30 s after it ended."""
    import logging
    from types import SimpleNamespace

    import dagster._daemon.monitoring.concurrency as slots

    shutil.copy(REPO / "elcrec_pipeline" / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert "MONITORING" in instance.get_required_daemon_types()  # dagster dev's daemon runs it
        storage, killed = instance.event_log_storage, "a" * 32
        instance.add_run(dg.DagsterRun(job_name="daily_retrain_job", run_id=killed,
                                       status=dg.DagsterRunStatus.STARTED))
        assert storage.initialize_concurrency_limit_to_default(WAREHOUSE_POOL)  # 1, as a run's first step makes it
        storage.claim_concurrency_slot(WAREHOUSE_POOL, killed, "raw_interactions")
        instance.report_run_failed(instance.get_run_by_id(killed))  # its process was killed: the run failed

        def claimed_after(seconds: int) -> list[str]:
            monkeypatch.setattr(slots, "get_current_datetime",
                                lambda: datetime.now(timezone.utc) + timedelta(seconds=seconds))
            list(slots.execute_concurrency_slots_iteration(SimpleNamespace(instance=instance),
                                                           logging.getLogger(__name__)))
            return [slot.run_id for slot in storage.get_concurrency_info(WAREHOUSE_POOL).claimed_slots]

        assert claimed_after(10) == [killed]  # not yet: a run that ends releases its own slots
        assert claimed_after(45) == []


def test_bad_input_fails_without_retries(tmp_path):
    config = {"ops": {"raw_interactions": {"config": {"format": "csv", "path": str(tmp_path / "missing.csv")}}}}
    result = dg.materialize([ingestion.raw_interactions], partition_key=PARTITION, run_config=config,
                            raise_on_error=False,
                            resources={"storage": Storage(data_dir=str(tmp_path)), "source_file": SourceFile()})
    assert not result.success
    retries = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
    assert retries == []
    (failure,) = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert "missing.csv" in failure.event_specific_data.error.message


def test_the_synthetic_demo_and_real_files_never_share_a_data_folder(tmp_path):
    """The README's demo, then the team's own file in the same folder: the demo's sequences, models and live
    tables would have answered for the team's users (the same ids 1, 2, ...). The load fails at once, without
    retries, naming the fix; so does a run without a source (the synthetic default) in a folder of real files."""
    synthetic = {"ops": {"raw_interactions": {"config": {"synthetic_users": 50, "synthetic_items": 20}}}}
    for demo_first, message in [
        (True, "holds the embedded synthetic demo data, and {folder} what was built from it"),
        (False, "the embedded synthetic data would mix into them. Describe the source (ELCREC_SOURCE"),
    ]:
        folder = tmp_path / ("demo" if demo_first else "team")
        folder.mkdir()
        own = {"ops": {"raw_interactions": {"config": {"format": "csv", "path": str(folder / "events.csv")}}}}
        first, then = (synthetic, own) if demo_first else (own, synthetic)
        (folder / "events.csv").write_text("user_id,item_id,timestamp\n" + "".join(
            f"u{n % 40},i{n % 13},{1_768_780_800 + 60 * n}\n" for n in range(400)))  # 2026-01-19, epoch seconds
        storage = Storage(data_dir=str(folder))
        resources = {"storage": storage, "source_file": SourceFile()}
        assert dg.materialize([ingestion.raw_interactions], partition_key=PARTITION, run_config=first,
                              resources=resources).success
        before = warehouse.read_table(storage.warehouse, "raw_interactions")
        result = dg.materialize([ingestion.raw_interactions], partition_key=PARTITION, run_config=then,
                                resources=resources, raise_on_error=False)
        assert not result.success
        assert [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY] == []
        (failure,) = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
        assert message.format(folder=folder) in failure.event_specific_data.error.message
        assert warehouse.read_table(storage.warehouse, "raw_interactions").equals(before)


@pytest.mark.parametrize("asset, config, message", [
    (training.elcrec_model, {"preset": "beauty"}, "no readable sequences for 2026-01-20 (materialize "
                                                  "interaction_sequences first)"),
    # a wrong setting is named first, before the stage looks at its inputs
    (training.elcrec_model, {"preset": "beuaty"}, "has wrong values, so nothing was run: ops.elcrec_model.config: "
                                                  "unknown preset 'beuaty'"),
    (challengers.challengers, {}, "no model has been trained for 2026-01-20: materialize elcrec_model first"),
    (serving.serving_model, {}, "no model has been trained for 2026-01-20: materialize elcrec_model first"),
    (sequences.interaction_sequences, {}, "sequences of 2026-01-20: no warehouse at"),
    (ingestion.rejected_interactions, None, "rejected_interactions (materialize raw_interactions first): no "
                                            "warehouse at"),
])
def test_a_missing_earlier_stage_fails_at_once_naming_it(tmp_path, asset, config, message):
    """An empty data folder: each stage fails at once, without the two retries (40 s) of a transient failure,
    saying which stage to materialize first."""
    run_config = {"ops": {asset.op.name: {"config": config}}} if config is not None else {}
    result = dg.materialize([asset], partition_key=PARTITION, run_config=run_config, raise_on_error=False,
                            resources={"storage": Storage(data_dir=str(tmp_path)), "device": ComputeDevice(),
                                       "source_file": SourceFile()}, selection=[asset.key])
    assert not result.success
    assert [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY] == []
    (failure,) = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert message in failure.event_specific_data.error.message


def test_a_day_that_is_no_partition_fails_at_once_naming_the_partitions(tmp_path, monkeypatch):
    """`dagster job execute --tags '{"dagster/partition": "<today>"}'` loaded a partial day's events (Dagster does
    not check a key given as a tag); a day before ELCREC_START_DATE is none either. Nothing is written."""
    monkeypatch.setenv("ELCREC_START_DATE", "2026-01-01")
    monkeypatch.setenv("ELCREC_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("ELCREC_SOURCE", raising=False)
    today = datetime.now(timezone.utc).date()
    for day in (today.isoformat(), (today + timedelta(days=3)).isoformat(), "2025-12-31"):
        for job in ("ingestion_job", "daily_retrain_job"):
            yesterday = (datetime.now(timezone.utc).date() - timedelta(days=1)).isoformat()  # at each run (midnight)
            result = defs().resolve_job_def(job).execute_in_process(tags={"dagster/partition": day},
                                                                    raise_on_error=False)
            assert [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY] == []
            failures = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
            assert [e.step_key for e in failures] == ["raw_interactions"], (job, day)
            assert failures[0].event_specific_data.error.message.startswith(
                f"dagster._core.definitions.events.Failure: {day} is no partition: the partitions are the days "
                f"from 2026-01-01 (ELCREC_START_DATE) to {yesterday}, each once it has ended in UTC, so that its "
                "events are complete")
    # a range of days at once (Dagster's range tags), and a start date that is still to come (no partition yet)
    result = defs().resolve_job_def("ingestion_job").execute_in_process(raise_on_error=False, tags={
        "dagster/asset_partition_range_start": "2026-01-02", "dagster/asset_partition_range_end": "2026-01-04"})
    (failure,) = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert failure.event_specific_data.error.message.startswith(
        "dagster._core.definitions.events.Failure: raw_interactions is built one day at a time, not for a range of "
        "days (2026-01-02 .. 2026-01-04): run each day (a backfill of the days does)")
    start = (datetime.now(timezone.utc).date() + timedelta(days=2)).isoformat()
    monkeypatch.setenv("ELCREC_START_DATE", start)
    result = defs().resolve_job_def("ingestion_job").execute_in_process(tags={"dagster/partition": start},
                                                                        raise_on_error=False)
    (failure,) = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert failure.event_specific_data.error.message.startswith(
        f"dagster._core.definitions.events.Failure: {start} is no partition: there is none yet, for "
        f"ELCREC_START_DATE={start} has not ended (a day is one once it has ended in UTC, so that its events are "
        "complete)")
    monkeypatch.setenv("ELCREC_START_DATE", "2026-01-01")
    # no day at all (the tag forgotten): Dagster's "Cannot access partition_key for a non-partitioned run"
    result = defs().resolve_job_def("daily_retrain_job").execute_in_process(raise_on_error=False)
    (failure,) = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert failure.step_key == "raw_interactions" and failure.event_specific_data.error.message.startswith(
        "dagster._core.definitions.events.Failure: raw_interactions is built for one day: give it, as in dagster job "
        "execute ... --tags '{\"dagster/partition\": \"2026-01-31\"}' (the UI, the schedule, the sensor and "
        "backfills give it themselves)")
    assert not (tmp_path / "warehouse.duckdb").exists()


def test_a_bad_training_setting_fails_at_once_naming_it(tmp_path):
    storage = Storage(data_dir=str(tmp_path))
    dg.materialize([ingestion.raw_interactions, sequences.interaction_sequences], partition_key=PARTITION,
                   resources={"storage": storage, "source_file": SourceFile()},
                   run_config={"ops": {"raw_interactions": {"config": {"synthetic_users": 300,
                                                                       "synthetic_items": 60}}}})
    result = dg.materialize([training.elcrec_model], partition_key=PARTITION, raise_on_error=False,
                            run_config={"ops": {"elcrec_model": {"config": {"preset": "beuaty"}}}},
                            resources={"storage": storage, "device": ComputeDevice()},
                            selection=[training.elcrec_model.key])
    assert [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY] == []
    (failure,) = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    names = sorted(["auto", *preset_names()])  # auto too: the default, which the preset file does not hold
    assert (f"so nothing was run: ops.elcrec_model.config: unknown preset 'beuaty'; choose one of {names}"
            in failure.event_specific_data.error.message) and "auto" in names
    result = dg.materialize([training.elcrec_model], partition_key=PARTITION, raise_on_error=False,
                            run_config={"ops": {"elcrec_model": {"config": {"intents": 4096}}}},  # > the sequences
                            resources={"storage": storage, "device": ComputeDevice()},
                            selection=[training.elcrec_model.key])
    assert [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY] == []
    (failure,) = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert "k-means needs at least n_intents = 4096 training sequences" in failure.event_specific_data.error.message


def test_old_sequence_folders_are_pruned_but_the_serving_and_previous_models_days_are_kept(tmp_path):
    """Folders more than keep_days before the day built go once the gate has judged their day; the serving and
    previous models' days stay, and so does a day not judged yet (a backfill builds every day's sequences before
    it trains the first: the later steps still read them)."""
    storage = Storage(data_dir=str(tmp_path))
    for day in ("2026-01-01", "2026-01-02", "2026-01-05", "2026-01-08", "2026-01-16", "2026-01-17", "2026-01-30"):
        storage.sequences_dir(day).mkdir(parents=True)
    for day in ("2026-01-02", "2026-01-05"):
        storage.store.promote(ModelRecord(day=day, run_id="r", dir=f"models/{day}/r"), "test")
    assert storage.prune_sequences("2026-01-30", keep_days=14) == []  # the gate has judged no day yet
    for day in ("2026-01-01", "2026-01-02", "2026-01-16"):
        storage.store.record_decision(ModelRecord(day=day, run_id="j", dir=f"models/{day}/j"), {"promoted": False})
    # the 1st is judged and 29 days old; the 2nd serves; the 8th is not judged yet; the 16th is 14 days old
    assert storage.prune_sequences("2026-01-30", keep_days=14) == ["2026-01-01"]
    assert storage.prune_sequences("2026-01-30", keep_days=13, busy={"2026-01-16"}) == []  # a run of the 16th
    assert storage.prune_sequences("2026-01-30", keep_days=13) == ["2026-01-16"]
    left = sorted(p.name for p in (tmp_path / "sequences").iterdir())
    assert left == ["2026-01-02", "2026-01-05", "2026-01-08", "2026-01-17", "2026-01-30"]
    with pytest.raises(ValueError, match="keep_days must be >= 0, not -1"):
        storage.prune_sequences("2026-01-30", keep_days=-1)


def test_a_folder_named_like_a_day_that_is_none_is_no_days_sequences(tmp_path):
    """A folder made by hand, ``sequences/2026-13-01`` (after every real day by name) or ``2026-02-30``, is no day:
    taken for the newest day, it kept every later run's sequences out of the warehouse's live tables, and pruning
    read its name as a date."""
    storage = Storage(data_dir=str(tmp_path))
    for day in ("2026-01-01", "2026-01-30", "2026-02-30", "2026-13-01"):
        storage.sequences_dir(day).mkdir(parents=True)
    storage.store.record_decision(ModelRecord(day="2026-02-30", run_id="j", dir="models/2026-02-30/j"), {})
    assert [folder.name for folder in sequence_day_folders(tmp_path)] == ["2026-01-01", "2026-01-30"]
    assert storage.store.judged_days() == set()  # nor a model folder so named (a review of 12-06)
    assert storage.newer_day("2026-01-30") is None and storage.newer_day("2026-01-01") == "2026-01-30"
    assert storage.prune_sequences("2026-01-30", keep_days=0) == []  # the odd folders stay: not the pipeline's
    assert sorted(p.name for p in (tmp_path / "sequences").iterdir()) == [
        "2026-01-01", "2026-01-30", "2026-02-30", "2026-13-01"]


def test_building_a_days_sequences_prunes_the_folders_older_than_keep_days(tmp_path):
    """interaction_sequences of 2026-01-31 with keep_days 14 deletes the folder of 2026-01-10 (21 days older,
    judged by the gate, no model serves from it) and keeps 2026-01-20; keep_days 0 keeps every day."""
    resources = {"storage": Storage(data_dir=str(tmp_path)), "source_file": SourceFile()}
    config = {"ops": {"raw_interactions": {"config": SOURCE}}}
    for day in ("2026-01-10", "2026-01-20"):
        assert dg.materialize([ingestion.raw_interactions, sequences.interaction_sequences], partition_key=day,
                              run_config=config, resources=resources).success
        judged = ModelRecord(day=day, run_id="r", dir=f"models/{day}/r")  # the gate has judged the day's model
        resources["storage"].store.record_decision(judged, {"promoted": False})
    every_day = ["2026-01-10", "2026-01-20", "2026-01-31"]
    # keep_days 14 while a run of the 10th is in progress (it reads the folder it has just built again): kept
    for keep_days, busy, left in ((0, None, every_day), (14, "2026-01-10", every_day),
                                  (14, None, ["2026-01-20", "2026-01-31"])):
        run = {"ops": {**config["ops"], "interaction_sequences": {"config": {"keep_days": keep_days}}}}
        with dg.DagsterInstance.ephemeral() as instance:
            if busy:
                instance.add_run(dg.DagsterRun(job_name="daily_retrain_job", status=dg.DagsterRunStatus.STARTED,
                                               tags={"dagster/partition": busy}))
            assert dg.materialize([ingestion.raw_interactions, sequences.interaction_sequences], instance=instance,
                                  partition_key="2026-01-31", run_config=run, resources=resources).success
        assert sorted(p.name for p in (tmp_path / "sequences").iterdir()) == left  # (no result kept past its instance)


def test_a_re_execution_of_a_re_execution_judges_the_model_of_the_nearest_run_that_trained_one() -> None:
    """A trains, B re-executes all of A (and trains again), C re-executes B from failure, D re-executes C: D's
    lineage is D, C, B, A (it was D, C, A: the gate and the report of D judged A's model, not B's)."""
    from types import SimpleNamespace

    from assets.daily import run_lineage

    a, b, c, d = (letter * 32 for letter in "abcd")
    with dg.DagsterInstance.ephemeral() as instance:
        runs = {}
        for run_id, parent in ((a, None), (b, a), (c, b), (d, c)):
            runs[run_id] = dg.DagsterRun(job_name="daily_retrain_job", run_id=run_id, parent_run_id=parent,
                                         root_run_id=a if parent else None)
            instance.add_run(runs[run_id])
        assert run_lineage(SimpleNamespace(run=runs[d], instance=instance)) == (d, c, b, a)
        assert run_lineage(SimpleNamespace(run=runs[a], instance=instance)) == (a,)
        instance.delete_run(b)  # a parent gone: the chain ends there, the original comes last
        assert run_lineage(SimpleNamespace(run=runs[d], instance=instance)) == (d, c, b, a)
        instance.delete_run(c)
        assert run_lineage(SimpleNamespace(run=runs[d], instance=instance)) == (d, c, a)


def test_a_data_folder_named_with_brackets_or_a_question_mark(sequences_built, tmp_path):
    """A data folder whose name holds "[" failed the report from its second day on (one Parquet read of the
    folder's sequences took the name for a glob pattern and found no file); one whose name holds "?" failed every
    load after two retries, DuckDB naming a file that does not exist. Now the first reads as the others do, and the
    second is refused at once, naming the folder."""
    bracketed = tmp_path / "data [v2] {x}"
    shutil.copytree(sequences_built, bracketed)
    users = Storage(data_dir=str(bracketed)).listed_users(PARTITION)
    assert len(users) > 0 and users["short"].sum() < len(users)
    asked = tmp_path / "data 1?"
    result = dg.materialize([ingestion.raw_interactions], partition_key=PARTITION, raise_on_error=False,
                            run_config=run_config("raw_interactions"),
                            resources={"storage": Storage(data_dir=str(asked)), "source_file": SourceFile()})
    (failure,) = [e for e in result.all_events if e.event_type == dg.DagsterEventType.RESOURCE_INIT_FAILURE]
    retries = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
    assert not result.success and not retries  # the storage resource refuses it before the step starts
    assert (f"the warehouse {asked.resolve() / 'warehouse.duckdb'}: DuckDB cannot open a database whose path holds "
            "'?' (it reads what follows as options); give the data folder a name without it (the run config's "
            "resources.storage.config.data_dir)") in failure.event_specific_data.error.to_string()  # not the
    # environment's ELCREC_DATA_DIR, which the run config's data_dir overrides (helper-201)
    assert not asked.exists()  # nothing made
