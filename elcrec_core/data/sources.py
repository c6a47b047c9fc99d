"""Interaction sources' readers: every file of a source (:class:`~elcrec_core.data.source_config.SourceConfig`)
into one normalised frame.

Every reader returns the columns of
:data:`~elcrec_core.data.source_config.NORMALISED_SCHEMA`, one row per event (or per line that could not be
parsed): ``user_id`` and ``item_id`` exactly as given (text), ``timestamp`` in UTC, optional ``rating`` and
``event_type``, the ``source_file`` and its 1-based ``source_row`` (the line where the record starts; for the
sequence format, where a line holds many events, the event's number in file order), and ``error``/``detail``
for rows the reader could not parse (a malformed line, a missing or unparseable timestamp, an unparseable
rating). Rows are never dropped here; :mod:`elcrec_core.data.validation` decides which are accepted. A file that
cannot be read at all raises :class:`~elcrec_core.data.files.SourceReadError` naming the file and the cause.

Delimited text, JSON Lines and Parquet are read with DuckDB (structural CSV errors become rows through its
``store_rejects`` table; every text field is read as text, so ids keep their exact spelling); the sequence
format and the synthetic generator are built in Polars.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import polars as pl

from elcrec_core.data.cut_short_lines import last_line_cut_short
from elcrec_core.data.duckdb_reading import INVALID_ENCODING, connection_for, parquet_relation, read_delimited
from elcrec_core.data.event_normalisation import (
    EXACT_INTEGERS,
    event_fields,
    finish_events,
    id_text,
    normalise_events,
    sql_text,
    with_rejects,
)
from elcrec_core.data.files import SourceReadError, ends_with_line_end, names_hint, refuse_non_id_columns
from elcrec_core.data.header_lines import header_read_as_data, refuse_reordered_header
from elcrec_core.data.source_config import SourceConfig, resolve_files
from elcrec_core.data.synthetic import SyntheticConfig, generate
from elcrec_core.data.text_encoding import EVENTS_ENCODING, as_utf8
from elcrec_core.data.validation import NULL_IDS


# what a line that is not UTF-8 text advises (a file of another encoding: each line with a letter beyond ASCII)
NOT_UTF8_ADVICE = f"not UTF-8 text: give its encoding, such as cp1252 or latin-1: {EVENTS_ENCODING}"


def read_source(config: SourceConfig, null_values: tuple[str, ...] = NULL_IDS) -> pl.DataFrame:
    """Read every file of a source into one normalised frame (files in name order, rows in file order); a time or
    rating that is one of ``null_values`` is no value (see
    :func:`elcrec_core.data.event_normalisation.normalise_events`)."""
    if config.format == "synthetic":
        return _synthetic_frame(config.synthetic)
    return read_files(resolve_files(config.path), config, null_values)


def read_files(files: list[Path], config: SourceConfig, null_values: tuple[str, ...] = NULL_IDS) -> pl.DataFrame:
    """Read ``files`` (at least one) of a source into one normalised frame, in the order given."""
    frames = [read_file(f, config, null_values) for f in files]
    return pl.concat(frames, how="vertical") if len(frames) > 1 else frames[0]


def read_file(path: Path, config: SourceConfig, null_values: tuple[str, ...] = NULL_IDS) -> pl.DataFrame:
    """Read one file of a source into the normalised frame; raises
    :class:`~elcrec_core.data.files.SourceReadError` if unreadable."""
    readers = {"csv": _read_delimited_events, "tsv": _read_delimited_events, "jsonl": _read_jsonl}
    if config.format == "parquet":
        with connection_for(path) as con:
            return _read_parquet(con, path, config, null_values)
    with connection_for(path) as con, as_utf8(path, config.encoding) as text:  # a UTF-8 copy of another encoding
        frame = (_read_sequence_file(con, text, config) if config.format == "sequence"
                 else readers[config.format](con, text, config, null_values))
    if text != path:  # the rows name the file, not its copy
        frame = frame.with_columns(source_file=pl.lit(str(path)).cast(pl.Categorical))
    else:
        frame = frame.with_columns(pl.when(pl.col("detail").str.starts_with(INVALID_ENCODING))
                                   .then(pl.col("detail") + f" ({NOT_UTF8_ADVICE})")
                                   .otherwise(pl.col("detail")).alias("detail"))
    return frame


# --- delimited text ----------------------------------------------------------------------------------------


def _read_delimited_events(con: duckdb.DuckDBPyConnection, path: Path, config: SourceConfig,
                           null_values: tuple[str, ...]) -> pl.DataFrame:
    fields = event_fields(config.columns)
    good, rejects = read_delimited(
        con, path, fields, config.separator, config.header, config.names, config.quote, config.escape,
        build=lambda raw: normalise_events(raw, fields, config.timestamp_format, path, null_values, config.timezone),
        max_line_bytes=config.max_line_bytes, typed={"t": "times", "r": "ratings"}, ids=("u", "i"),
        one_line={"user_id": "user id", "item_id": "item id", **({"event_type": "event type"} if fields.get("e")
                                                                 else {}), "detail": "rejected value"},  # time, rating
    )
    refuse_reordered_header(path, good)
    last_good = len(good) and (not len(rejects) or good["source_row"].max() > rejects["source_row"].max())
    if last_good and not ends_with_line_end(path):  # the last line, without a line end: cut short?
        good = last_line_cut_short(good, fields, config.timestamp_format)
    frame = finish_events(with_rejects(good, rejects.rename({"u": "user_id", "i": "item_id"}, strict=False)), path)
    return frame if config.header else header_read_as_data(frame)


# --- JSON Lines ------------------------------------------------------------------------------------------


def _read_jsonl(con: duckdb.DuckDBPyConnection, path: Path, config: SourceConfig,
                null_values: tuple[str, ...]) -> pl.DataFrame:
    fields = event_fields(config.columns)

    def build(raw: duckdb.DuckDBPyRelation) -> pl.DataFrame:
        # a byte order mark inside the file, where files were joined (cat): as at its start, not part of the line
        raw = raw.query("lines", "SELECT * REPLACE (ltrim(line, chr(65279)) AS line) FROM lines")
        paths = _key_paths(raw, fields, path)
        return normalise_events(raw.query("lines", _jsonl_parse(fields, paths)), fields, config.timestamp_format,
                                path, null_values, config.timezone)

    good, rejects = read_delimited(con, path, {"line": "line"}, None, False, ("line",), None, None, build=build,
                                   max_line_bytes=config.max_line_bytes)
    return finish_events(with_rejects(good, rejects), path)


def _jsonl_parse(fields: dict[str, str | None], paths: dict[str, tuple[str, ...]]) -> str:
    """SQL over the table ``lines`` (one column ``line``) that picks each field of ``fields`` at its key's path in
    ``paths`` (from :func:`_key_paths`) and gives each line that is no JSON object, or whose object repeats a key
    read, holds an object, array, true or false as an id, or lacks the user, item or time, its error and detail."""
    valid = "json_type(CASE WHEN json_valid(line) THEN line ELSE 'null' END) = 'OBJECT'"
    picks = ", ".join(
        f"CASE WHEN {valid} THEN {_json_id(paths[key]) if alias in ('u', 'i') else f'line ->> {_pointer(paths[key])}'}"
        f" END AS {alias}" for alias, key in fields.items() if key is not None
    )
    siblings = {key: "keys" if len(key_path) == 1 else f"json_keys(line, {_pointer(key_path[:-1])})"
                for key, key_path in paths.items()}  # the keys of the object that holds the key
    repeated = [(f"len(list_filter({siblings[key]}, lambda k: k = {sql_text(paths[key][-1])})) > 1",
                 f"{key} is a key of the object more than once: ") for key in fields.values() if key is not None]
    not_ids = [(f"json_type(line, {_pointer(paths[key])}) IN {types}", f"{key} is a JSON {kind}, not an id: ")
               for alias, key in fields.items() if alias in ("u", "i") and key is not None
               for types, kind in (("('OBJECT', 'ARRAY')", "object or array"), ("('BOOLEAN')", "true or false"))]
    absent = [(f"NOT json_exists(line, {_pointer(paths[key])})", f"{key} is no key of the object: ", reason)
              for alias, reason in (("u", "missing_user"), ("i", "missing_item"), ("t", "missing_timestamp"))
              if (key := fields.get(alias)) is not None]  # not "is empty": a key renamed upstream is no empty value
    tests = [(test, detail, "malformed_line") for test, detail in repeated + not_ids] + absent
    errors = "".join(f" WHEN {test} THEN '{reason}'" for test, _, reason in tests)
    details = "".join(f" WHEN {test} THEN {sql_text(detail)} || line" for test, detail, _ in tests)
    return (f"SELECT {picks}, CASE WHEN NOT ({valid}) THEN 'malformed_line'{errors} END AS error,"
            f" CASE WHEN NOT ({valid}) THEN {_NOT_AN_OBJECT} || line{details} END AS detail"
            f" FROM (SELECT *, CASE WHEN {valid} THEN json_keys(line) END AS keys FROM lines)")  # keys: parsed once


# the detail of a line that is no JSON object; of one that opens an array, what JSON Lines is: a file written as one
# JSON array (of objects, one a line or pretty-printed) gives a rejected row for each of its lines; of objects one
# after another on a line, how that comes about: an export without a line end at its end joined (cat) with the next
_NOT_AN_OBJECT = ("CASE WHEN starts_with(ltrim(line), '[') THEN 'a JSON array, not an object (JSON Lines holds one "
                  "object a line; a file that is one JSON array is no JSON Lines): ' "
                  "WHEN regexp_matches(line, '^\\s*\\{.*}\\s*\\{.*}\\s*$') THEN 'JSON objects one after another "
                  "on a line, not one object (a file without a line end at its end joined with the next?): ' "
                  "ELSE 'not a JSON object: ' END")


def _key_paths(lines: duckdb.DuckDBPyRelation, fields: dict[str, str | None],
               path: Path) -> dict[str, tuple[str, ...]]:
    """The path to each key that ``fields`` name in the JSON objects of ``lines``: the top-level key itself, or, for
    a name with dots that no object has as a key (``product.id``), the key ``id`` of the object at ``product``, where
    some object has that. Raise :class:`SourceReadError` where no object has the user, item or timestamp key (a
    misspelt column setting: every row was rejected as missing its user, naming no key), naming the first object's
    keys. A rating or event type key may be absent from every line (a day without ratings)."""
    keys = [key for key in fields.values() if key is not None]
    nested = {key: tuple(key.split(".")) for key in keys if "." in key.strip(".")}
    found = ", ".join(f"count(*) FILTER (WHERE json_exists(line, {_pointer(key_path)}))"
                      for key_path in [(key,) for key in keys] + list(nested.values()))
    objects = "SELECT line FROM lines WHERE json_valid(line) AND json_type(line) = 'OBJECT'"
    (row,) = lines.query("lines", f"SELECT {found}, first(json_keys(line)) FROM ({objects})").fetchall()
    top, below, first = dict(zip(keys, row)), dict(zip(nested, row[len(keys):])), row[-1]
    paths = {key: nested[key] if not top[key] and below.get(key) else (key,) for key in keys}
    required = [key for alias, key in fields.items() if alias in ("u", "i", "t") and key is not None]
    if missing := [key for key in required if not top[key] and not below.get(key) and first is not None]:
        raise SourceReadError(path, f"no column(s) {missing} (keys of no line); the file has {first} (the keys of "
                                    "its first object; a key of a nested object is named with dots, product.id)"
                                    + names_hint(missing, list(first)))
    return paths


def _json_id(key_path: tuple[str, ...]) -> str:
    """SQL for the id at ``key_path`` (keys from the top level down) of JSON ``line`` as text: a whole JSON number
    written with a fraction or an exponent (pandas writes an integer id column with a missing value as floats: 7.0)
    reads as the integer ("7"), as in a Parquet file of the same frame, where a double holds it exactly (below
    2^53); any other value (text, an integer, a larger number: 1e17 reads "100000000000000000.0") as DuckDB's JSON
    gives it, so that
    distinct ids stay distinct; NaN and Infinity (which Python's json writes) are a missing id, a number past the
    doubles' range (1e400) keeps its text. Any other number written with a point and no exponent keeps the line's
    digits, but the fraction's trailing zeros (2.50 is 2.5, 12345678901234567.0 is 12345678901234567): a double
    holds 17 digits, and DuckDB's read 1234567890.1700000001 and ...02 (Google Analytics' client ids) as one id,
    1234567890.17."""
    pointer = _pointer(key_path)
    value = f"line ->> {pointer}"
    whole = id_text(f"TRY_CAST({value} AS DOUBLE)", "DOUBLE", otherwise=value,
                    missing=f"lower({value}) IN ('nan', '-nan', 'infinity', '-infinity')")
    raw, written = _number_text(key_path[-1], value)
    return f"CASE WHEN json_type(line, {pointer}) = 'DOUBLE' THEN (CASE WHEN {written} THEN {raw} ELSE {whole} END)" \
           f" ELSE {value} END"


def _number_text(key: str, value: str) -> tuple[str, str]:
    """SQL for the text of the number of ``key`` (the last key of its path) as ``line`` writes it (digits, a point,
    digits; without the fraction's trailing zeros, nor a point left alone), and the condition to take it: the line
    names the key once (where another object names it too, or the line escapes the name, no), the text reads as
    the double ``value`` (SQL: DuckDB's text of it), and it has a fraction (1.000000000000000001, which the double
    reads as 1) or is no whole number below 2^53 (those read as integers: 7.0 is 7)."""
    name = f'"{re.escape(key)}"' + r"\s*:"
    number = sql_text(name + r"\s*(-?[0-9]+\.[0-9]+)([^0-9eE.]|$)")  # an exponent (1.5e3): the double's text
    found = f"regexp_extract(line, {number}, 1)"
    raw = f"regexp_replace(regexp_replace({found}, '(\\.[0-9]*?)0+$', '\\1'), '\\.$', '')"
    double = f"TRY_CAST({value} AS DOUBLE)"
    return raw, (f"len(regexp_extract_all(line, {sql_text(name)})) = 1 AND TRY_CAST({found} AS DOUBLE) = {double} "
                 f"AND (contains({raw}, '.') OR NOT ({double} = trunc({double}) "
                 f"AND abs({double}) < {EXACT_INTEGERS['DOUBLE']}))")


def _pointer(key_path: tuple[str, ...]) -> str:
    """A path of keys, from the top level down, as an SQL literal of a JSON pointer: every character of a key
    stands for itself."""
    return sql_text("".join("/" + key.replace("~", "~0").replace("/", "~1") for key in key_path))


# --- Parquet ---------------------------------------------------------------------------------------------


def _read_parquet(con: duckdb.DuckDBPyConnection, path: Path, config: SourceConfig,
                  null_values: tuple[str, ...]) -> pl.DataFrame:
    fields = event_fields(config.columns)
    relation = parquet_relation(con, path, fields)
    refuse_non_id_columns(path, {fields[alias]: str(column_type) for alias, column_type
                                 in zip(relation.columns, relation.types) if alias in ("u", "i")})
    raw = relation.query(
        "events", "SELECT *, NULL::VARCHAR AS error, NULL::VARCHAR AS detail FROM events")
    return finish_events(normalise_events(raw, fields, config.timestamp_format, path, null_values, config.timezone),
                         path)


# --- sequence format and the generator -------------------------------------------------------------------


def _read_sequence_file(con: duckdb.DuckDBPyConnection, path: Path, config: SourceConfig) -> pl.DataFrame:
    """``user item item ...`` per line: one event per item, no timestamps; a row is one event, numbered in file
    order. A malformed line, one with a user and no items, or one of white space only (no user either; an empty
    line is skipped) is one rejected row with its line number."""
    lines, rejects = read_delimited(con, path, {"line": "line"}, None, False, ("line",), None, None,
                                     max_line_bytes=config.max_line_bytes)
    tokens = lines.with_columns(pl.col("line").str.strip_chars_start("\ufeff").str.extract_all(r"\S+")  # files
                                .alias("tokens"))  # joined (cat): a byte order mark inside, as at the start
    no_items = tokens.filter(pl.col("tokens").list.len() <= 1).select(
        "source_row", reason=pl.lit("malformed_line"),
        detail=pl.when(pl.col("tokens").list.len() == 1).then(pl.lit("no items: ") + pl.col("line"))
        .otherwise(pl.lit("no user and no items: white space only")))
    events = (
        tokens.filter(pl.col("tokens").list.len() > 1)
        .select(pl.col("tokens").list.first().alias("user_id"), pl.col("tokens").list.slice(1).alias("item_id"))
        .explode("item_id")
        .with_row_index("source_row", offset=1)
    )
    return finish_events(with_rejects(events, pl.concat([rejects, no_items])), path)


def _synthetic_frame(config: SyntheticConfig) -> pl.DataFrame:
    """The generator's events as one source file named ``synthetic`` whatever the settings, so that a load with
    other settings replaces the previous synthetic load (ingestion records the settings in ``loads``)."""
    from elcrec_core.data.warehouse import SYNTHETIC_SOURCE_FILE

    events = generate(config).events
    return finish_events(
        events.select(
            pl.col("user_id").cast(pl.String),
            pl.col("item_id").cast(pl.String),
            (pl.col("timestamp") * 1_000_000).cast(pl.Datetime("us")),
        ).with_row_index("source_row", offset=1),
        SYNTHETIC_SOURCE_FILE,
    )

