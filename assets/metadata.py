"""Asset metadata that a person reads in the Dagster UI: numbers rounded to 4 significant digits, tables with a
typed schema (``dg.MetadataValue.table``), a warehouse table's row count and column schema under Dagster's
``dagster/row_count`` and ``dagster/column_schema`` keys, named plots, and Great Expectations results as a
table. Dagster's table metadata: https://docs.dagster.io/guides/build/assets/metadata-and-tags/table-metadata."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from elcrec_core.data import warehouse
from elcrec_core.data.expectations import ExpectationOutcome, ExpectationReport
from elcrec_core.report.plots import markdown_image

SIGNIFICANT = 4
Cell = str | int | float | bool | None


def significant(value: float, digits: int = SIGNIFICANT) -> float:
    """``value`` rounded to ``digits`` significant digits: 0.4984672244648978 -> 0.4985, 1234.56 -> 1235.0,
    0.000123456 -> 0.0001235; zero, nan and infinities are returned as they are."""
    value = float(value)
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def metric(value: float) -> dg.FloatMetadataValue:
    """A float metadata entry rounded to 4 significant digits: the UI shows it as a number and plots it across
    partitions (Overview > Metadata > Plots)."""
    return dg.MetadataValue.float(significant(value))


def table(rows: Sequence[Mapping[str, Any]] | pl.DataFrame,
          descriptions: Mapping[str, str] | None = None) -> dg.TableMetadataValue:
    """``rows`` (dicts with the same keys in the same order, or a frame) as a Dagster table whose schema has one
    column per key: type ``int``, ``float``, ``bool`` or ``string`` from a frame's types, else from the values
    (ints and floats together are ``float``; other values are shown as text). Floats are rounded to 4
    significant digits (nan and infinities become empty cells), lists are joined with ", ", dates are ISO text
    and None stays an empty cell. ``descriptions`` maps column names to the text that the UI shows under "Show
    schema".

    Raises ValueError when a row's keys differ from the first row's (naming the row), or when ``descriptions``
    names a column that the rows lack.
    """
    types: dict[str, str] = {}
    if isinstance(rows, pl.DataFrame):  # the frame's types, also when it is empty
        types = {name: _dtype(dtype) for name, dtype in rows.schema.items()}
        names, rows = rows.columns, rows.to_dicts()
    else:
        names = list(rows[0]) if rows else []
    for i, row in enumerate(rows):
        if list(row) != names:
            raise ValueError(f"table row {i} has the columns {list(row)}, the first row {names}")
    unknown = set(descriptions or {}) - set(names)
    if unknown:
        raise ValueError(f"descriptions name columns the table lacks: {sorted(unknown)} (columns: {names})")
    cells = [{name: _cell(row[name]) for name in names} for row in rows]
    schema = dg.TableSchema(columns=[
        dg.TableColumn(name, types.get(name) or _column_type([row[name] for row in cells]),
                       description=(descriptions or {}).get(name))
        for name in names])
    return dg.MetadataValue.table([dg.TableRecord(row) for row in cells], schema=schema)


def warehouse_table(path: str | Path, name: str, descriptions: Mapping[str, str] | None = None,
                    partition_rows: int | None = None, as_it_is: bool = False) -> dict[str, dg.MetadataValue]:
    """Dagster's table metadata of the DuckDB table ``name`` in the warehouse at ``path``: ``dagster/table_name``,
    ``dagster/row_count`` (all rows), ``dagster/partition_row_count`` (``partition_rows``, when given: what this
    partition contributed) and ``dagster/column_schema`` (each column's DuckDB type, whether it may be NULL and
    its description from ``descriptions``). ``as_it_is``: of a table this run did not write, which an earlier
    version may have written without some of the columns ``descriptions`` names.

    Raises ValueError when the warehouse has no such table or ``descriptions`` names a column it lacks (but
    ``as_it_is``); FileNotFoundError without a warehouse.
    """
    columns, rows = warehouse.table_schema(path, name)
    unknown = set(descriptions or {}) - {column for column, _, _ in columns}
    if unknown and not as_it_is:
        raise ValueError(f"descriptions name columns that the table {name} lacks: {sorted(unknown)}")
    schema = dg.TableSchema(columns=[
        dg.TableColumn(column, kind, description=(descriptions or {}).get(column),
                       constraints=dg.TableColumnConstraints(nullable=nullable))
        for column, kind, nullable in columns])
    metadata = {"dagster/table_name": dg.MetadataValue.text(name), "dagster/row_count": dg.MetadataValue.int(rows),
                "dagster/column_schema": dg.MetadataValue.table_schema(schema)}
    if partition_rows is not None:
        metadata["dagster/partition_row_count"] = dg.MetadataValue.int(partition_rows)
    return metadata


def without_empty_text(result: Any) -> Any:
    """``result`` (what an asset's function returns or yields) without the metadata entries of empty text (``""``,
    a text or Markdown entry of it): a ``MaterializeResult``'s, its check results' and an ``AssetCheckResult``'s;
    anything else as it is. The UI showed them as rows without a value (``earlier_days_note: ""`` where the check
    passed: helper-277); a reader of stored metadata, of this version's runs or older ones, takes a missing key as
    empty."""
    if isinstance(result, dg.MaterializeResult):
        return result._replace(metadata=_kept(result.metadata),
                               check_results=[without_empty_text(check) for check in result.check_results or []])
    if isinstance(result, dg.AssetCheckResult):
        return result._replace(metadata=_kept(result.metadata))
    return result


def _kept(metadata: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``metadata`` without its entries of empty text (None: none given)."""
    if metadata is None:
        return None
    texts = {key: value.value if isinstance(value, (dg.TextMetadataValue, dg.MarkdownMetadataValue)) else value
             for key, value in metadata.items()}
    return {key: value for key, value in metadata.items() if not (isinstance(texts[key], str) and texts[key] == "")}


def figure(path: str | Path, caption: str) -> dg.MarkdownMetadataValue:
    """The PNG at ``path`` under a bold ``caption``, inlined as Markdown (Dagster has no image type: the UI opens
    it with "Show Markdown")."""
    return dg.MetadataValue.md(f"**{caption}**\n\n{markdown_image(path, caption)}")


def expectation_results(report: ExpectationReport) -> dict[str, dg.MetadataValue]:
    """A Great Expectations suite's outcome for an asset check: ``expectations``, a table of expectation,
    column, observed value (for a per-row expectation: the number of rows that break it), threshold and passed;
    ``failed``, the number of expectations that failed."""
    rows = [{"expectation": o.expectation, "column": o.column or "", "observed": _observed(o),
             "threshold": _threshold(o.kwargs), "passed": o.success} for o in report.outcomes]
    return {"expectations": table(rows, {"observed": "the aggregate, or the rows that break a per-row rule",
                                         "threshold": "what the expectation accepts"}),
            "failed": dg.MetadataValue.int(len(report.failed))}


def failed_expectations(report: ExpectationReport) -> str:
    """The expectations of ``report`` that failed, for a failure message: ``expectation (column): observed X,
    accepts Y`` and, where a setting gives the threshold, ``(setting NAME)``, separated by semicolons."""
    return "; ".join(f"{o.expectation}{f' ({o.column})' if o.column else ''}: observed {_observed(o)}, accepts "
                     f"{_threshold(o.kwargs)}{_setting(o.setting)}" for o in report.failed)


def _setting(setting: str | None) -> str:
    """`` (setting min_rows)``, `` (settings min_length and max_length)``, or '' for none."""
    return "" if setting is None else f" (setting{'s' * (' and ' in setting)} {setting})"


def _cell(value: Any) -> Cell:
    if isinstance(value, float):  # nan and infinities: empty (a table's records travel as JSON, which lacks them)
        return significant(value) if math.isfinite(value) else None
    if isinstance(value, (list, tuple)):
        return ", ".join(str(_cell(v)) for v in value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)


def _dtype(dtype: pl.DataType) -> str:
    """A frame column's table type: other types than these are shown as text."""
    if dtype == pl.Boolean:
        return "bool"
    if dtype.is_integer():
        return "int"
    return "float" if dtype.is_float() else "string"


def _column_type(values: list[Cell]) -> str:
    kinds = {type(v) for v in values if v is not None}
    if kinds == {bool}:
        return "bool"
    if kinds == {int}:
        return "int"
    if kinds and kinds <= {int, float}:
        return "float"
    return "string"


def _number(value: Any) -> str:
    return f"{value:.{SIGNIFICANT}g}" if isinstance(value, float) else str(value)


def _observed(outcome: ExpectationOutcome) -> str:
    if outcome.observed is not None:
        return _number(outcome.observed)
    if outcome.unexpected_count is not None:
        return f"{outcome.unexpected_count} unexpected row{'s' if outcome.unexpected_count != 1 else ''}"
    return ""


def _threshold(kwargs: Mapping[str, Any]) -> str:
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if "value_set" in kwargs:
        return "in [" + ", ".join(_number(v) for v in kwargs["value_set"]) + "]"
    if low is not None and high is not None:
        return f"{_number(low)} to {_number(high)}"
    if low is not None:
        return f"≥ {_number(low)}"
    if high is not None:
        return f"≤ {_number(high)}"
    return ""
