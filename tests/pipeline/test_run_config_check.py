"""A run's whole run config is checked before its first steps, and ELCREC_RUN_CONFIG when the code location loads:
a wrong value of a later stage (top_k: 0, tolerance: -1) failed that stage only, after the load and hours of
training, and a misspelt setting in ELCREC_RUN_CONFIG passed `dagster definitions validate` and failed every run
that the schedule or the sensor started."""

from __future__ import annotations

import typing

import dagster as dg
import pytest
import yaml

from elcrec_pipeline.definitions import defs
from elcrec_pipeline.resources import ComputeDevice, Storage
from elcrec_pipeline.run_config_check import OP_SETTINGS, run_config_problems

BAD = {"ops": {"raw_interactions": {"config": {"min_rows": -1, "max_rejected_share": 2, "format": "xls",
                                                "timestamp_format": "epochs"}},
               "serving_model": {"config": {"tolerance": -1}},
               "user_recommendations": {"config": {"top_k": 0}},
               "elcrec_model": {"config": {"epochs": -3, "dropout": 1.5}},
               "intent_profiles": {"config": {"map_sample": 1}}},
       "resources": {"device": {"config": {"device": "gpu", "threads": 1}}}}


def test_each_assets_run_config_class_is_the_one_checked():
    """OP_SETTINGS names each asset that takes run config with the class of its ``config`` parameter."""
    location = defs()
    taken = {}
    for node in location.resolve_job_def("daily_retrain_job").graph.node_defs:
        hints = typing.get_type_hints(node.compute_fn.decorated_fn)
        if "config" in hints:
            taken[node.name] = hints["config"]
    assert taken == OP_SETTINGS


def test_settings_given_to_an_asset_that_takes_none_are_named():
    """Dagster's schema takes any value as the config of an asset without settings: a source setting put under
    rejected_interactions (ingestion's other asset) was accepted and did nothing."""
    given = {"ops": {"rejected_interactions": {"config": {"max_rejected_share": 0.5}}}}
    assert run_config_problems(given) == [
        "ops.rejected_interactions.config: rejected_interactions takes no settings (given max_rejected_share): "
        "those of the load go under ops.raw_interactions.config"]
    assert run_config_problems({"ops": {"rejected_interactions": {"config": {}}}}) == []
    for value, shown in ((5, "5"), ("abc", "'abc'"), ([1, 2], "[1, 2]")):  # Dagster takes any value: no crash
        assert run_config_problems({"ops": {"rejected_interactions": {"config": value}}}) == [
            f"ops.rejected_interactions.config: rejected_interactions takes no settings (given {shown}): those of "
            "the load go under ops.raw_interactions.config"]
    job = defs().resolve_job_def("daily_retrain_job")  # the assets whose config is not checked: those without any
    unchecked = {node.name for node in job.graph.node_defs} - set(OP_SETTINGS)
    assert unchecked == {"rejected_interactions"} and all(
        job.run_config_schema.config_type.fields["ops"].config_type.fields[name].config_type.fields["config"]
        .config_type.kind.name == "ANY" for name in unchecked)


def test_every_config_field_of_the_jobs_is_described():
    """The UI's launchpad shows each field's description: the columns of ratings and event types, the source's and
    the sequences' min_rating, dedupe and the device had none."""
    for name in ("daily_retrain_job", "ingestion_job"):
        root = defs().resolve_job_def(name).run_config_schema.config_type
        blocks = {f"{section}.{key}": field.config_type.fields["config"] for section in ("ops", "resources")
                  for key, field in root.fields[section].config_type.fields.items()
                  if key != "io_manager" and field.config_type.fields["config"].config_type.kind.name != "ANY"}
        assert {where for where, block in blocks.items() if not block.description} == set()
        assert {f"{where}.{key}" for where, block in blocks.items()
                for key, field in block.config_type.fields.items() if not field.description} == set()


def test_every_wrong_value_of_a_run_config_is_named_with_its_path(monkeypatch):
    assert run_config_problems(BAD) == [
        "ops.raw_interactions.config: max_rejected_share = 2.0: must be 0 or more, at most 1",
        "ops.raw_interactions.config: min_rows = -1: must be 0 or more",
        "ops.raw_interactions.config: format = 'xls': one of csv, tsv, parquet, jsonl, sequence, synthetic",
        "ops.raw_interactions.config: timestamp_format = 'epochs': one of epoch_s, epoch_ms, epoch_us, iso8601 or a "
        "strptime pattern such as '%d.%m.%Y %H:%M' (text holding %)",
        "ops.elcrec_model.config: invalid setting(s): model.dropout: Input should be less than 1 (given 1.5); "
        "train.epochs: Input should be greater than or equal to 1 (given -3)",
        "ops.serving_model.config.tolerance: Input should be greater than or equal to 0 (given -1)",
        "ops.intent_profiles.config.map_sample: Input should be greater than or equal to 2 (given 1)",
        "ops.user_recommendations.config.top_k: Input should be greater than or equal to 1 (given 0)",
        "resources.device.config: device 'gpu' is not a device name: auto, cpu, cuda or cuda:N"]
    assert run_config_problems({"ops": {"elcrec_model": {"config": {"preset": "fast", "device": "cuda:7"}}}}) == [
        "ops.elcrec_model.config: unknown preset 'fast'; choose one of ['auto', 'beauty', 'general', 'sports', "
        "'synthetic', 'toys', 'yelp']"]
    assert run_config_problems({"ops": {"elcrec_model": {"config": {"preset": "fast", "epochs": 0}}}}) == [
        "ops.elcrec_model.config: unknown preset 'fast'; choose one of ['auto', 'beauty', 'general', 'sports', "
        "'synthetic', 'toys', 'yelp']; invalid setting(s): train.epochs: Input should be greater than or equal to 1 "
        "(given 0)"]  # the other values too, over auto's base preset
    assert run_config_problems(BAD, devices=False)[-1] == "ops.user_recommendations.config.top_k: Input should be " \
                                                          "greater than or equal to 1 (given 0)"  # no device check
    good = {"ops": {"elcrec_model": {"config": {"preset": "beauty", "epochs": 2, "device": "cpu"}},
                    "user_recommendations": {"config": {"top_k": {"env": "ELCREC_TEST_TOP_K"}}}},
            "resources": {"device": {"config": {"threads": 1}}}}
    monkeypatch.delenv("ELCREC_TEST_TOP_K", raising=False)  # not set here: left to Dagster, which names it
    assert run_config_problems(good) == [] and run_config_problems({}) == []
    monkeypatch.setenv("ELCREC_TEST_TOP_K", "0")  # read from the environment: it got past the check, unchecked
    assert run_config_problems(good) == [
        "ops.user_recommendations.config.top_k: Input should be greater than or equal to 1 (given '0')"]


def test_a_run_with_a_wrong_later_setting_fails_before_it_loads_anything(tmp_path):
    job = defs().resolve_job_def("daily_retrain_job")
    config = {"ops": {"raw_interactions": {"config": {"synthetic_users": 100, "synthetic_items": 40}},
                      "user_recommendations": {"config": {"top_k": 0}}}}
    result = job.execute_in_process(run_config=config, partition_key="2026-01-31", raise_on_error=False,
                                    resources={"storage": Storage(data_dir=str(tmp_path / "data")),
                                               "device": ComputeDevice(device="cpu", threads=1)})
    (failure,) = result.get_step_failure_events()
    assert failure.step_key == "raw_interactions" and not result.get_asset_materialization_events()
    assert (f"the run config of run {result.run_id} has wrong values, so nothing was run: "
            "ops.user_recommendations.config.top_k: Input should be greater than or equal to 1 (given 0)"
            in failure.event_specific_data.error.message)
    assert not [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
    assert not (tmp_path / "data" / "warehouse.duckdb").exists()


@pytest.mark.parametrize("config, message", [
    ({"ops": {"elcrec_model": {"config": {"epoch": 3}}}},
     'Received unexpected config entry "epoch" at path root:ops:elcrec_model:config'),
    (BAD, "ops.serving_model.config.tolerance: Input should be greater than or equal to 0 (given -1.0); "),
    # a config that is no mapping: Dagster's line without its schema (it raised AttributeError here: helper-198)
    ({"ops": {"elcrec_model": {"config": 5}, "serving_model": 3}},
     "Value at path root:ops:elcrec_model:config must be dict"),
    ({"ops": ["raw_interactions"]}, "Value at path root:ops must be dict"),  # ops itself too (helper-202)
    ({"ops": {"user_recommendations": {"config": {"top_k": {"env": "ELCREC_TEST_UNSET"}}}}},
     'failed: dagster._config.errors.PostProcessingError: You have attempted to fetch the environment variable '
     '"ELCREC_TEST_UNSET" which is not set. In order for this execution to succeed it must be set in this '
     'environment.'),  # one line, without Dagster's stack trace
])
def test_a_run_config_file_that_does_not_fit_the_job_stops_the_code_locations_load(tmp_path, monkeypatch, config,
                                                                                   message):
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("ELCREC_RUN_CONFIG", str(tmp_path / "run.yaml"))
    with pytest.raises(ValueError) as refused:
        defs()
    assert str(refused.value).startswith(f"ELCREC_RUN_CONFIG='{tmp_path / 'run.yaml'}': its run config does not fit "
                                         "daily_retrain_job: ") and message in str(refused.value)
    assert "Stack Trace" not in str(refused.value) and 'Expected: "' not in str(refused.value)  # no 2 KB schema


def test_a_device_that_the_loading_machine_lacks_is_left_to_the_runs(tmp_path, monkeypatch):
    """The webserver and the daemon may run where the runs' GPUs are not: the code location loads; a run's first
    step (on its own machine) checks the device."""
    (tmp_path / "run.yaml").write_text(yaml.safe_dump({"resources": {"device": {"config": {"device": "cuda:7"}}}}))
    monkeypatch.setenv("ELCREC_RUN_CONFIG", str(tmp_path / "run.yaml"))
    assert defs().resolve_job_def("daily_retrain_job")
    assert run_config_problems({"resources": {"device": {"config": {"device": "cuda:7"}}}})  # where a run starts


def test_every_wrong_value_of_a_source_settings_file_is_named_at_once():
    """It named one per run: the next appeared once the first was mended."""
    from elcrec_pipeline.config import SourceSettings

    with pytest.raises(ValueError) as refused:
        SourceSettings().resolved({"min_rows": -1, "max_rejected_share": 3, "format": "xls"})
    assert str(refused.value) == ("max_rejected_share = 3.0: must be 0 or more, at most 1; min_rows = -1: must be 0 or "
                                  "more; format = 'xls': one of csv, tsv, parquet, jsonl, sequence, synthetic")


@pytest.mark.parametrize("asset", ["challengers", "serving_model", "evaluation_report", "intent_profiles",
                                   "user_recommendations"])
def test_a_run_that_starts_at_a_later_stage_checks_the_whole_run_config(tmp_path, monkeypatch, asset):
    """One asset materialized again (the README's evaluation_report): the other stages' wrong values were not named
    (and a device 'gpu' was silently left unused)."""
    monkeypatch.setenv("ELCREC_DATA_DIR", str(tmp_path))  # the code location's own resources
    monkeypatch.delenv("ELCREC_SOURCE", raising=False)
    every_asset = defs().resolve_implicit_global_asset_job_def()  # as `dagster asset materialize --select` runs
    result = every_asset.execute_in_process(run_config={"ops": {"elcrec_model": {"config": {"epochs": -3}}}},
                                            partition_key="2026-01-31", raise_on_error=False,
                                            asset_selection=[dg.AssetKey(asset)])
    (failure,) = result.get_step_failure_events()
    assert ("has wrong values, so nothing was run: ops.elcrec_model.config: invalid setting(s): train.epochs: Input "
            "should be greater than or equal to 1 (given -3)" in failure.event_specific_data.error.message)


def test_true_or_false_for_a_number_of_the_run_config_or_the_source_file_is_named():
    """Dagster's Float and pydantic's lax mode took true as 1.0: tolerance: true promoted any candidate that beat
    most popular, a source file's max_rejected_share: true refused no load (helper-189). Each run config class
    refuses a bool for a field that takes none, inside a list or mapping too; a bool field keeps its bool."""
    given = {"ops": {"serving_model": {"config": {"tolerance": True}},
                     "elcrec_model": {"config": {"lr": True, "betas": [False, 0.9], "warm_start": False}},
                     "interaction_sequences": {"config": {"min_rating": True, "dedupe": True}}}}
    assert run_config_problems(given, devices=False) == [
        f"ops.{name}.config.{field}: Value error, true or false is no value of this field, a number or a choice "
        f"(given {value!r})" for name, field, value in (("interaction_sequences", "min_rating", True),
                                                        ("elcrec_model", "lr", True),
                                                        ("elcrec_model", "betas", [False, 0.9]),
                                                        ("serving_model", "tolerance", True))]
    from elcrec_pipeline.config import SourceSettings

    with pytest.raises(ValueError, match=r"max_rejected_share\n.*true or false is no value of this field"):
        SourceSettings().resolved({"format": "csv", "path": "e.csv", "max_rejected_share": True})
    assert SourceSettings().resolved({"format": "csv", "path": "e.csv", "header": False}).header is False
