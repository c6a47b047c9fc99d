"""Item metadata (titles and categories) read from a delimited or Parquet file, with its unusable rows kept
with a reason."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from elcrec_core.data.duckdb_reading import (
    INVALID_ENCODING,
    connection_for,
    empty_rejects,
    parquet_relation,
    quoting_fix,
    read_delimited,
)
from elcrec_core.data.empty_rows import EMPTY_RECORD
from elcrec_core.data.event_normalisation import EXACT_INTEGERS
from elcrec_core.data.files import SourceReadError, is_nested, refuse_non_id_columns
from elcrec_core.data.header_lines import first_row_of_names, refuse_reordered_header
from elcrec_core.data.source_config import ItemMetadataConfig
from elcrec_core.data.text_encoding import as_utf8, is_utf8
from elcrec_core.data.validation import blank


ENCODING_ADVICE = "not UTF-8 text: set its encoding, item_metadata_encoding, such as cp1252 (Windows) or latin-1"
QUOTING_FIX = quoting_fix("item_metadata_quote")


def read_item_metadata(config: ItemMetadataConfig) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Item metadata as (item_id, title, categories: list of text), and its unusable rows with a reason.

    A row is unusable when its line is malformed (``malformed_line``; with the UTF-8 encoding, a line that is
    not UTF-8 text is one too, and its detail suggests an encoding), it holds the column names (a header line
    inside the data: ``repeated_header``), every field is empty (``;;``, a spreadsheet's empty row: ``empty_row``),
    its item id is missing (``missing_item``)
    or a category flag is neither 0 nor 1 (``bad_category_flag``, the detail names the column and the value);
    of an item's usable rows the last wins, and the earlier ones are rejected as ``superseded_item`` (the detail
    names the row that replaces them); the rejected frame has source_file, source_row, reason and detail. A file
    that is not text of another configured encoding is refused (:class:`SourceReadError`, naming the byte).
    Categories lose surrounding white space; empty ones are dropped.
    """
    path = Path(config.path).resolve()
    if not path.is_file():  # one file: unlike the events, not a folder or a pattern of files
        pattern = " (item metadata is one file, not a pattern)" if any(c in str(config.path) for c in "*?[") else ""
        raise SourceReadError(path, "a folder: item metadata is read from one file" if path.is_dir()
                              else f"no such file{pattern}")
    if path.suffix.lower() != ".parquet":
        _refuse_json_lines(path)
    flags = dict(config.category_flags or ())
    wanted = {"item": config.item, "title": config.title, "categories": config.categories,
              **{f"flag{i}": column for i, column in enumerate(flags)}}
    with connection_for(path) as con:
        if path.suffix.lower() == ".parquet":
            relation = parquet_relation(con, path, wanted)
            types = {wanted[key]: str(kind) for key, kind in zip(relation.columns, relation.types) if key in wanted}
            refuse_non_id_columns(path, {config.item: types.pop(config.item)})
            _refuse_nested_columns(path, types, config.categories)
            raw, malformed = relation.pl(), empty_rejects()
        else:
            with as_utf8(path, config.encoding, "the source setting item_metadata_encoding") as text:
                flagged = {f"flag{i}": "flags" for i in range(len(flags))}
                one_line = {"item": "item id", **({"categories": "categories value"} if config.categories is not None
                                                   else {}),
                            **{f"flag{i}": f"category flag {column}" for i, column in enumerate(flags)}}  # no title
                raw, malformed = read_delimited(con, text, wanted, config.delimiter, config.header, config.names,
                                                 config.quote, None, typed=flagged, refusal_fix=QUOTING_FIX,
                                                 one_line=one_line, ids=("item",))
            refuse_reordered_header(path, raw)
    if is_utf8(config.encoding):
        malformed = malformed.with_columns(
            pl.when(pl.col("detail").str.starts_with(INVALID_ENCODING))
            .then(pl.col("detail") + f" ({ENCODING_ADVICE})")
            .otherwise(pl.col("detail")).alias("detail"))
    lists = []
    if config.categories is not None:
        column = raw["categories"]
        split = (pl.col("categories").cast(pl.List(pl.String)) if isinstance(column.dtype, pl.List)
                 else pl.col("categories").cast(pl.String).str.split(config.categories_separator))
        # each category without surrounding white space; an empty one (as in ``a||b`` or ``x|``) is none
        lists.append(split.list.eval(pl.element().str.strip_chars()).list.filter(pl.element() != ""))
    bad_flag = pl.lit(None, pl.String)
    if flags:
        values = [pl.col(f"flag{i}").cast(pl.String).str.strip_chars().str.to_lowercase() for i in range(len(flags))]
        numbers = [v.cast(pl.Float64, strict=False) for v in values]  # 1, 1.0 (a float column), ...
        on = [(v == "true").fill_null(False) | (n == 1).fill_null(False) for v, n in zip(values, numbers)]
        off = [v.is_null() | v.is_in(["false", ""]).fill_null(False) | (n == 0).fill_null(False)
               for v, n in zip(values, numbers)]
        lists.append(pl.concat_list([pl.when(o).then(pl.lit(name)) for o, name in zip(on, flags.values())])
                     .list.drop_nulls())
        bad_flag = pl.coalesce([
            pl.when(~o & ~f).then(pl.lit(f"{column}: ") + pl.col(f"flag{i}").cast(pl.String))
            for i, (o, f, column) in enumerate(zip(on, off, flags))])
    if not lists:
        categories = pl.lit(None, pl.List(pl.String))
    elif len(lists) == 1:  # each once: two flag columns may name one category, a list may repeat one
        categories = lists[0].list.unique(maintain_order=True)
    else:  # the list column's categories, then the flags' (each once)
        categories = pl.concat_list([lists[0].fill_null(pl.lit([], pl.List(pl.String))), lists[1]]) \
            .list.unique(maintain_order=True)
    title = pl.col("title").cast(pl.String) if config.title is not None else pl.lit(None, pl.String)
    if "error" not in raw.columns:  # Parquet: no header line inside the data (read_delimited marks those of text)
        raw = raw.with_columns(error=pl.lit(None, pl.String), detail=pl.lit(None, pl.String))
    if not config.header and (found := first_row_of_names(raw.filter(pl.col("item").is_not_null())
                                                          .with_columns(pl.col("item").cast(pl.String)), ("item",))):
        at = pl.col("source_row") == found[0]  # a header line of a file that the settings say has none (helper-200)
        raw = raw.with_columns(error=pl.when(at).then(pl.lit("repeated_header")).otherwise("error"), detail=pl.when(
            at).then(pl.lit("the first line looks like a header (its item id not a number, as every other row's), and "
                            "the settings say the file has none (item_metadata_header: false, or names given alone)"))
                               .otherwise("detail"))
    header = (pl.col("error") == "repeated_header").fill_null(False)
    frame = raw.select(
        _id_text(pl.col("item"), raw.schema["item"]).alias("item_id"), title.alias("title"),
        categories.alias("categories"), pl.when(~header).then(bad_flag).alias("bad_flag"), "source_row",
        header.alias("header"), "detail", (pl.col("error") == "empty_row").fill_null(False).alias("empty"),
    )
    repeated, frame = frame.filter(pl.col("header")), frame.filter(~pl.col("header")).drop("header", "detail")
    # a line of delimiters only (;;): a spreadsheet's empty row, as the events' empty_row, not an item without id
    empty, frame = frame.filter(pl.col("empty")), frame.filter(~pl.col("empty")).drop("empty")
    missing = frame.filter(blank("item_id"))
    flagged = frame.filter(~blank("item_id") & pl.col("bad_flag").is_not_null())
    rejected = pl.concat([
        malformed.select("source_row", "reason", "detail"),
        repeated.select("source_row", pl.lit("repeated_header").alias("reason"), "detail"),
        empty.select("source_row", pl.lit("empty_row").alias("reason"), pl.lit(EMPTY_RECORD).alias("detail")),
        missing.select("source_row", pl.lit("missing_item").alias("reason"),
                       pl.lit(f"{config.item} is empty").alias("detail")),
        flagged.select("source_row", pl.lit("bad_category_flag").alias("reason"), pl.col("bad_flag").alias("detail")),
    ]).with_columns(source_file=pl.lit(str(path))).select("source_file", "source_row", "reason", "detail")
    good = frame.filter(~blank("item_id") & pl.col("bad_flag").is_null())
    # an item's last usable row wins; its earlier rows are kept as rejected rows, as a repeated event is
    good = good.with_columns(winner=pl.col("source_row").max().over("item_id"))
    superseded = good.filter(pl.col("source_row") != pl.col("winner")).select(
        "source_row", pl.lit("superseded_item").alias("reason"),
        pl.format("item {} again at source_row {}, which replaces this row", "item_id", "winner").alias("detail"))
    rejected = pl.concat([rejected, superseded.with_columns(source_file=pl.lit(str(path))).select(rejected.columns)])
    good = good.filter(pl.col("source_row") == pl.col("winner"))
    return good.drop("bad_flag", "source_row", "winner"), rejected


OTHER_SEPARATORS = (",", ";", "|")  # separators of category lists that separator_advice looks for ("/": paths)
ADVICE_SHARE = 0.5  # the share of the items with one category that holds another separator
SPLIT_SHARE = 0.01  # at most this share of the items with a category has several: the separator hardly splits
# the share of the items with one category whose text is words that other items hold alone as their category, split
# by spaces ("Action Adventure" beside "Action" and "Adventure"): RecBole's token_seq fields; a category of words
# ("Home Decor") is no such text unless its every word is a category of its own
COMPOSED_SHARE = 0.2


def separator_advice(items: pl.DataFrame, config: ItemMetadataConfig,
                     setting: str = "the categories separator") -> str | None:
    """Where ``items`` (read by :func:`read_item_metadata` with ``config``) look as if their categories text was
    split on the wrong separator, what to set; else None. That is: the categories come from a text column (not a
    list column, not flags), at most :data:`SPLIT_SHARE` of the items with a category have two or more, and of
    those with one, at least :data:`ADVICE_SHARE` hold one of :data:`OTHER_SEPARATORS` other than the configured
    one (the most frequent is named, with the share and an example), as ``Action, Comedy`` read with the default
    ``|`` gives each item one category ``Action, Comedy``; or, where none does, at least :data:`COMPOSED_SHARE`
    hold categories that other items hold alone, separated by spaces (``Action Adventure``: RecBole's lists). The
    advice says to set ``setting`` (the name of the setting where the caller has one)."""
    if not categories_from_text(config):
        return None
    counts = items["categories"].list.len().fill_null(0)
    described, several = int((counts > 0).sum()), int((counts > 1).sum())
    if not described or several > SPLIT_SHARE * described:
        return None
    single = items.filter(counts == 1)["categories"].list.first()
    separator = config.categories_separator
    found = {other: single.str.contains(other, literal=True)
             for other in OTHER_SEPARATORS if other != separator}
    other, holding = max(found.items(), key=lambda kv: kv[1].sum())
    if holding.sum() < ADVICE_SHARE * len(single):
        if separator == " ":
            return None
        other, holding = " ", _composed_of_categories(single)
        if holding.sum() < COMPOSED_SHARE * len(single):
            return None
    share, example = int(holding.sum()), single.filter(holding)[0]
    held = ("hold categories that other items hold alone, separated by ' '" if other == " " else f"hold {other!r}")
    split = f"only {several:,} of the {described:,} items with a category have" if several else "no item has"
    return (f"{split} two categories or more: the categories text was split on {separator!r}, which it hardly "
            f"holds, while {share:,} of the {len(single):,} items with one category ({share / len(single):.0%}) "
            f"{held}, such as {example!r}. If these are lists, set {setting} to {other!r}")


def _composed_of_categories(single: pl.Series) -> pl.Series:
    """Per category text of ``single`` (an item's one category): whether it is two or more words, separated by
    single spaces, each of which is the whole category text of some item."""
    alone = single.filter(~single.str.contains(" ", literal=True)).unique()
    words = single.str.split(" ")
    return (words.list.len() > 1) & words.list.eval(pl.element().is_in(alone.implode())).list.all()


def categories_from_text(config: ItemMetadataConfig) -> bool:
    """Whether ``config``'s categories are text split on its separator: a categories column without flag columns
    that is not a Parquet list or array (which no separator splits)."""
    if config.categories is None or config.category_flags:
        return False
    if Path(config.path).suffix.lower() != ".parquet":
        return True
    with open(config.path, "rb") as file:  # a handle: the name is no pattern ([, *, ? are its own characters)
        dtype = pl.read_parquet_schema(file).get(config.categories)
    return not isinstance(dtype, (pl.List, pl.Array))


def _refuse_json_lines(path: Path) -> None:
    """Raise :class:`SourceReadError` where the file's text starts with a JSON object (JSON Lines, such as the events
    of a clickstream whose lines carry the product's name and category): read as delimited text, its header would
    be the first object's pieces, and the error would name them as columns."""
    with path.open("rb") as file:
        head = file.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"{"):
        raise SourceReadError(path, "a JSON object on its first line: item metadata is read from Parquet or delimited "
                                    "text (CSV) alone, not JSON Lines; write one row per item (item_id, title, "
                                    "categories) as CSV, from the events' product fields where the events carry them")


def _refuse_nested_columns(path: Path, types: dict[str, str], categories: str | None) -> None:
    """Raise :class:`SourceReadError` where a Parquet column (name -> DuckDB type) holds what no title, flag or
    category list is read from: structs, maps or unions, a list where one value is wanted (title, flags), or a
    list of lists as the ``categories`` column."""
    for name, kind in types.items():
        inner = re.sub(r"\[\d*\]$", "", kind) if name == categories else kind
        if is_nested(inner):
            wanted = "text or a list of values" if name == categories else "one value (text or a number)"
            raise SourceReadError(path, f"column {name} holds {kind} values: it should hold {wanted}")


def _id_text(column: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """The item id as text, as the events read it (:func:`elcrec_core.data.event_normalisation.id_text`): a whole
    number of a float or decimal column as an integer, a NaN or infinite one as null (a missing id)."""
    if dtype.is_decimal():
        return pl.when(column == column.floor()).then(column.floor().cast(pl.Int128).cast(pl.String)) \
            .otherwise(column.cast(pl.String))
    if not dtype.is_float():
        return column.cast(pl.String)
    exact = EXACT_INTEGERS["FLOAT" if dtype == pl.Float32 else "DOUBLE"]
    whole = column.is_finite() & (column == column.floor()) & (column.abs() < exact)
    return (pl.when(column.is_finite().not_()).then(None).when(whole).then(column.cast(pl.Int64).cast(pl.String))
            .otherwise(column.cast(pl.String)))
