"""The asset metadata helpers (assets/metadata.py): rounding, typed tables, the warehouse tables' row count and
column schema, named plots and Great Expectations results as a table."""

import math
from datetime import date

import dagster as dg
import duckdb
import polars as pl
import pytest

from assets.metadata import (expectation_results, figure, metric, significant, table, warehouse_table,
                             without_empty_text)
from elcrec_core.data import warehouse
from elcrec_core.data.expectations import (ExpectationConfig, ExpectationOutcome, ExpectationReport,
                                          expect_sequences)


def columns(value: dg.TableMetadataValue) -> dict[str, str]:
    return {c.name: c.type for c in value.schema.columns}


def records(value: dg.TableMetadataValue) -> list[dict]:
    return [r.data for r in value.records]


@pytest.mark.parametrize("value, rounded", [
    (0.4984672244648978, 0.4985), (1234.5678, 1235.0), (0.000123456, 0.0001235), (-0.0123456, -0.01235),
    (12.0, 12.0), (7, 7.0), (0.0, 0.0)])
def test_significant_keeps_four_digits(value, rounded):
    assert significant(value) == rounded


def test_significant_leaves_nan_and_infinities():
    assert math.isnan(significant(float("nan"))) and significant(float("-inf")) == float("-inf")


def test_metric_is_a_rounded_float_entry():
    value = metric(0.4984672244648978)
    assert isinstance(value, dg.FloatMetadataValue) and value.value == 0.4985


def test_table_infers_the_schema_and_rounds():
    value = table([{"model": "a", "HR@20": 0.123456, "users": 3, "mixed": 1, "serves": True, "items": [1, 2],
                    "day": date(2026, 1, 2), "note": None},
                   {"model": "b", "HR@20": float("nan"), "users": 4, "mixed": 0.5, "serves": False, "items": [],
                    "day": date(2026, 1, 3), "note": "x"}],
                  {"HR@20": "over users"})
    assert columns(value) == {"model": "string", "HR@20": "float", "users": "int", "mixed": "float",
                              "serves": "bool", "items": "string", "day": "string", "note": "string"}
    assert records(value) == [
        {"model": "a", "HR@20": 0.1235, "users": 3, "mixed": 1, "serves": True, "items": "1, 2",
         "day": "2026-01-02", "note": None},
        {"model": "b", "HR@20": None, "users": 4, "mixed": 0.5, "serves": False, "items": "", "day": "2026-01-03",
         "note": "x"}]
    assert {c.name: c.description for c in value.schema.columns}["HR@20"] == "over users"


def test_table_of_a_frame_keeps_its_types_also_when_empty():
    frame = pl.DataFrame({"reason": ["bad", "dup"], "rows": [3, 1], "share": [0.75, 0.25]})
    assert columns(table(frame)) == {"reason": "string", "rows": "int", "share": "float"}
    assert records(table(frame))[0] == {"reason": "bad", "rows": 3, "share": 0.75}
    empty = table(frame.clear())
    assert columns(empty) == {"reason": "string", "rows": "int", "share": "float"} and records(empty) == []


def test_table_rejects_ragged_rows_and_unknown_descriptions():
    with pytest.raises(ValueError, match=r"table row 1 has the columns \['a', 'c'\]"):
        table([{"a": 1, "b": 2}, {"a": 1, "c": 2}])
    with pytest.raises(ValueError, match=r"lacks: \['z'\]"):
        table([{"a": 1}], {"z": "no such column"})


def test_warehouse_table_gives_dagsters_row_count_and_column_schema(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    with warehouse.connect(path) as con:
        con.execute("CREATE TABLE scores (user_id VARCHAR NOT NULL, score DOUBLE, items VARCHAR[])")
        con.execute("INSERT INTO scores VALUES ('1', 0.5, ['a']), ('2', NULL, [])")
    metadata = warehouse_table(path, "scores", {"score": "higher is better"}, partition_rows=1)
    assert metadata["dagster/row_count"].value == 2 and metadata["dagster/partition_row_count"].value == 1
    assert metadata["dagster/table_name"].value == "scores"
    schema = metadata["dagster/column_schema"].value
    assert [(c.name, c.type, c.constraints.nullable, c.description) for c in schema.columns] == [
        ("user_id", "VARCHAR", False, None), ("score", "DOUBLE", True, "higher is better"),
        ("items", "VARCHAR[]", True, None)]
    assert "dagster/partition_row_count" not in warehouse_table(path, "scores")
    with pytest.raises(ValueError, match="has no table 'missing'"):
        warehouse_table(path, "missing")
    with pytest.raises(ValueError, match=r"lacks: \['rank'\]"):
        warehouse_table(path, "scores", {"rank": "no such column"})
    with duckdb.connect(str(path), read_only=True) as con:  # read only: the table is as it was
        assert con.execute("SELECT count(*) FROM scores").fetchone()[0] == 2


def test_figure_is_named_markdown_with_the_image(tmp_path):
    png = tmp_path / "plot.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n")
    value = figure(png, "Training curves")
    assert isinstance(value, dg.MarkdownMetadataValue)
    assert value.value == "**Training curves**\n\n![Training curves](data:image/png;base64,iVBORw0KGgo=)"


def test_expectation_results_are_a_table_of_observed_and_threshold():
    report = ExpectationReport("interactions", False, [
        ExpectationOutcome("expect_table_row_count_to_be_between", None, True, 4119, None, {"min_value": 1}),
        ExpectationOutcome("expect_column_max_to_be_between", "rejected_share", False, 0.0712345, None,
                           {"column": "rejected_share", "max_value": 0.05}),
        ExpectationOutcome("expect_column_values_to_be_between", "length", True, None, 0,
                           {"column": "length", "min_value": 1.0, "max_value": 50.0}),
        ExpectationOutcome("expect_column_values_to_be_in_set", "timestamps_monotonic", True, None, 0,
                           {"column": "timestamps_monotonic", "value_set": [True]}),
    ])
    metadata = expectation_results(report)
    assert metadata["failed"].value == 1
    value = metadata["expectations"]
    assert columns(value) == {"expectation": "string", "column": "string", "observed": "string",
                              "threshold": "string", "passed": "bool"}
    assert [(r["column"], r["observed"], r["threshold"], r["passed"]) for r in records(value)] == [
        ("", "4119", "≥ 1", True), ("rejected_share", "0.07123", "≤ 0.05", False),
        ("length", "0 unexpected rows", "1 to 50", True), ("timestamps_monotonic", "0 unexpected rows", "in [True]",
                                                            True)]


def test_expectation_results_of_a_real_suite():
    per_user = pl.DataFrame({"length": [3, 5, 1], "timestamps_monotonic": [True, True, False]})
    value = expectation_results(expect_sequences(per_user, ExpectationConfig(max_length=4)))["expectations"]
    assert [(r["expectation"], r["observed"], r["threshold"], r["passed"]) for r in records(value)] == [
        ("expect_table_row_count_to_be_between", "3", "≥ 1", True),
        ("expect_column_values_to_be_between", "1 unexpected row", "1 to 4", False),
        ("expect_column_values_to_be_in_set", "1 unexpected row", "in [True]", False)]


def test_entries_of_empty_text_are_left_out_of_results_and_their_checks():
    """An entry of empty text was a row without a value in the UI (raw_interactions' earlier_days_note and
    off_day_note where their checks passed: helper-277); numbers, False, "none" and other entries stay."""
    check = dg.AssetCheckResult(check_name="c", passed=True, metadata={"note": "", "changes": "none"})
    result = dg.MaterializeResult(metadata={"a": "", "b": dg.MetadataValue.text(""), "c": dg.MetadataValue.md(""),
                                            "zero": 0, "no": False, "text": "x", "md": dg.MetadataValue.md("**x**")},
                                  check_results=[check], data_version=dg.DataVersion("v"))
    kept = without_empty_text(result)
    assert kept.metadata == {"zero": 0, "no": False, "text": "x", "md": dg.MetadataValue.md("**x**")}
    assert [c.metadata for c in kept.check_results] == [{"changes": dg.MetadataValue.text("none")}]
    assert kept.data_version == dg.DataVersion("v") and kept.check_results[0].check_name == "c"
    assert without_empty_text(check).metadata == {"changes": dg.MetadataValue.text("none")}  # a check yielded alone
    assert without_empty_text(dg.MaterializeResult()).metadata is None and without_empty_text(3) == 3
