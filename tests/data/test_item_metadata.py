"""Item metadata: files without header, any delimiter and encoding, categories from a list column or from 0/1
flag columns (MovieLens 100K's u.item as it is), and the source settings that map them into the warehouse."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import duckdb
import pytest

from elcrec_core.data import warehouse
from elcrec_core.data.files import SourceReadError
from elcrec_core.data.item_metadata import categories_from_text, read_item_metadata, separator_advice
from elcrec_core.data.source_config import MOVIELENS_GENRES, ItemMetadataConfig
from elcrec_pipeline.config import SourceSettings
from elcrec_pipeline.resources import Storage

U_ITEM_NAMES = ("item_id", "title", "release", "video_release", "url", *MOVIELENS_GENRES)


def _flags(*genres: str) -> str:
    return "|".join("1" if g in genres else "0" for g in MOVIELENS_GENRES)


def _u_item(path: Path) -> Path:
    """Three lines of u.item's layout, Latin-1 encoded, plus one without an id and one with a bad flag."""
    toy_story = _flags("Animation", "Children's", "Comedy")
    lines = [
        f"1|Toy Story (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?Toy%20Story%20(1995)|{toy_story}",
        f"543|Misérables, Les (1995)|01-Jan-1995||http://x|{_flags('Drama', 'Musical')}",
        f"267|unknown||||{_flags('unknown')}",
        f"|no id||||{_flags('Drama')}",
        f"9|Bad flag||||{_flags('Drama').replace('0', 'x', 1)}",
    ]
    path.write_bytes("\n".join(lines).encode("latin-1") + b"\n")
    return path


def _u_item_config(path: Path) -> ItemMetadataConfig:
    return ItemMetadataConfig(str(path), delimiter="|", header=False, names=U_ITEM_NAMES, encoding="latin-1",
                              categories=None, category_flags=MOVIELENS_GENRES)


EXPECTED = [("1", "Toy Story (1995)", ["Animation", "Children's", "Comedy"]),
            ("543", "Misérables, Les (1995)", ["Drama", "Musical"]),
            ("267", "unknown", ["unknown"])]


def test_u_item_layout_reads_latin1_titles_and_genre_flags(tmp_path: Path) -> None:
    path = _u_item(tmp_path / "u.item")
    meta, rejected = read_item_metadata(_u_item_config(path))
    assert meta.rows() == EXPECTED
    assert rejected.rows() == [(str(path), 4, "missing_item", "item_id is empty"),
                               (str(path), 5, "bad_category_flag", "unknown: x")]


def test_u_item_read_with_header_true_is_refused_not_missing_toy_story(tmp_path: Path) -> None:
    """u.item has no header: ``header: true`` with its names skipped Toy Story without a word. A 0 or 1 in a flag
    column is no column name: refused, naming the line, the value and the fix."""
    path = _u_item(tmp_path / "u.item")
    config = dataclasses.replace(_u_item_config(path), header=True)
    with pytest.raises(SourceReadError) as info:
        read_item_metadata(config)
    assert str(info.value) == (
        f"{path}: line 1, which header: true reads as the header, holds '0' in the column of flags: a value, not a "
        "column name. It is the first record of data, which would be lost: set header: false (with names for the "
        "columns of a file without a header)")


def test_flag_columns_named_by_numbers_are_a_header_and_flags_of_true_and_false_are_data(tmp_path: Path) -> None:
    """A one-hot frame of genre ids (pandas' get_dummies: columns 12, 16, 28) has a header of numbers that are no
    flag values: it is read as the header. A first line of true and false flags, with header: true, is data."""
    path = tmp_path / "items.csv"
    path.write_text("item_id,title,12,16,28\n1,Toy Story,1,1,0\n2,Heat,0,0,1\n")
    config = ItemMetadataConfig(str(path), categories=None,
                                category_flags={"12": "Adventure", "16": "Animation", "28": "Action"})
    assert read_item_metadata(config)[0].rows() == [("1", "Toy Story", ["Adventure", "Animation"]),
                                                     ("2", "Heat", ["Action"])]
    for codes in ("1,2", "0,1"):  # one-hot codes (get_dummies of a 0/1 column: 0,1), picked by these names: names
        path.write_text(f"item_id,title,{codes}\n1,Toy Story,1,0\n")
        flags = dict(zip(codes.split(","), ("Adventure", "Action")))
        config = ItemMetadataConfig(str(path), categories=None, category_flags=flags)
        assert read_item_metadata(config)[0].rows() == [("1", "Toy Story", ["Adventure"])]
    path.write_text("1,Toy Story,false,true\n2,Heat,true,false\n")
    config = ItemMetadataConfig(str(path), header=True, names=("item_id", "title", "Action", "Comedy"),
                                categories=None, category_flags=("Action", "Comedy"))
    with pytest.raises(SourceReadError, match="holds 'false' in the column of flags: a value, not a column name"):
        read_item_metadata(config)


def test_the_same_file_read_as_utf8_rejects_the_latin1_line_with_a_hint(tmp_path: Path) -> None:
    path = _u_item(tmp_path / "u.item")
    meta, rejected = read_item_metadata(ItemMetadataConfig(
        str(path), delimiter="|", header=False, names=U_ITEM_NAMES, categories=None, category_flags=MOVIELENS_GENRES))
    assert meta["item_id"].to_list() == ["1", "267"]
    line = rejected.filter(source_row=2).row(0, named=True)
    assert line["reason"] == "malformed_line" and (
        "set its encoding, item_metadata_encoding, such as cp1252 (Windows) or latin-1" in line["detail"])
    # read as latin-1, cp1252 text is refused naming the item metadata's setting, not the events' (helper-187)
    path.write_bytes("item_id|title\n1|Don’t Look\n".encode("cp1252"))
    with pytest.raises(SourceReadError, match=r"Give it encoding cp1252 \(the source setting "
                                              r"item_metadata_encoding\)$"):
        read_item_metadata(ItemMetadataConfig(str(path), delimiter="|", encoding="latin-1", categories=None))
    # so are a header that is not UTF-8 and a byte that is not of the encoding given (they named none: helper-195)
    path.write_bytes("item_id|t\xedtle\n1|Heat\n".encode("latin-1"))
    with pytest.raises(SourceReadError, match=r"the first line is not UTF-8 text: give its encoding, such as latin-1 "
                                              r"\(the source setting item_metadata_encoding\)$"):
        read_item_metadata(ItemMetadataConfig(str(path), delimiter="|", title="t\xedtle", categories=None))
    path.write_text("item_id|title\n1|\xc1lmos\n", encoding="utf-8")  # cp1252 lacks the byte 0x81 of its Á
    with pytest.raises(SourceReadError, match=r"\(line 2\) is not cp1252 text; the file reads as UTF-8 text: give it "
                                              r"encoding utf-8 \(the source setting item_metadata_encoding\)$"):
        read_item_metadata(ItemMetadataConfig(str(path), delimiter="|", encoding="cp1252", categories=None))


def test_flags_with_category_names_and_a_list_column_together(tmp_path: Path) -> None:
    path = tmp_path / "items.tsv"
    path.write_text("sku\tname\ttags\tis_sf\tis_war\n"
                    "a\tDune\tclassic;novel\t1\t0\n"
                    "b\tPaths\t\ttrue\t1\n"
                    "c\tNone of them\tnovel\t0\t\n")
    config = ItemMetadataConfig(str(path), item="sku", title="name", categories="tags", categories_separator=";",
                                delimiter="\t", category_flags={"is_sf": "Sci-Fi", "is_war": "War"})
    meta, rejected = read_item_metadata(config)
    assert meta.rows() == [("a", "Dune", ["classic", "novel", "Sci-Fi"]), ("b", "Paths", ["Sci-Fi", "War"]),
                           ("c", "None of them", ["novel"])]
    assert rejected.is_empty()
    assert config.category_flags == (("is_sf", "Sci-Fi"), ("is_war", "War"))


def test_a_utf8_file_without_header_and_a_parquet_file_with_flags(tmp_path: Path) -> None:
    import polars as pl

    path = tmp_path / "items.txt"
    path.write_text("7;Amélie;Comedy|Romance\n8;Heat;Crime\n", encoding="utf-8")
    meta, _ = read_item_metadata(ItemMetadataConfig(str(path), delimiter=";", header=False,
                                                    names=("id", "title", "genres"), item="id", categories="genres"))
    assert meta.rows() == [("7", "Amélie", ["Comedy", "Romance"]), ("8", "Heat", ["Crime"])]
    pq = tmp_path / "items.parquet"
    pl.DataFrame({"item_id": [1, 2], "title": ["A", "B"], "Drama": [1, 0], "War": [True, True]}).write_parquet(pq)
    meta, rejected = read_item_metadata(ItemMetadataConfig(str(pq), categories=None, category_flags=["Drama", "War"]))
    assert meta.rows() == [("1", "A", ["Drama", "War"]), ("2", "B", ["War"])] and rejected.is_empty()


@pytest.mark.parametrize(("settings", "message"), [
    ({"delimiter": "||"}, "delimiter must be one character"),
    ({"encoding": "klingon"}, "unknown item metadata encoding"),
    ({"encoding": "hex"}, "'hex' is no text item metadata encoding"),
    ({"names": ("a", "a")}, "names repeat a column"),
    ({"category_flags": "Drama"}, "category_flags is a mapping"),
    ({"category_flags": ["Drama", "Drama"]}, "category_flags repeat a column"),
])
def test_item_metadata_settings_that_cannot_work_are_refused(settings: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ItemMetadataConfig("items.csv", **settings)


def test_a_header_line_of_a_file_read_without_one_is_a_rejected_row(tmp_path: Path) -> None:
    """RecBole's .item file read with item_metadata_names alone (header false): its header line was stored as item
    'item_id:token' titled 'title:token_seq', with no word (helper-200); the events' reader rejects such a line."""
    path = tmp_path / "toys.item"
    path.write_text("item_id:token\ttitle:token_seq\n" + "".join(f"{n}\tFilm {n}\n" for n in range(1, 26)))
    items, rejected = read_item_metadata(ItemMetadataConfig(str(path), delimiter="\t", names=("item_id", "title"),
                                                            categories=None))
    assert len(items) == 25 and "item_id:token" not in items["item_id"].to_list()
    assert rejected.select("source_row", "reason", "detail").rows() == [
        (1, "repeated_header", "the first line looks like a header (its item id not a number, as every other row's), "
                               "and the settings say the file has none (item_metadata_header: false, or names given "
                               "alone)")]


def test_delimited_text_settings_of_a_parquet_item_metadata_file_are_refused() -> None:
    """They were ignored without a word, as a Parquet events source refuses them (helper-200); their defaults pass."""
    with pytest.raises(ValueError, match=r"^item metadata delimiter, names, quote, encoding: settings of delimited "
                                         "text that a Parquet file has no use for; leave them out$"):
        ItemMetadataConfig("items.parquet", delimiter=";", names=("sku", "name"), quote="'", encoding="latin-1")
    assert ItemMetadataConfig("items.PARQUET", delimiter=",", quote='"', encoding="UTF8").header is True


def test_a_flag_column_the_file_lacks_is_named(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text("item_id,title,Drama\n1,A,1\n")
    with pytest.raises(SourceReadError, match=r"no column\(s\) \['War'\]"):
        read_item_metadata(ItemMetadataConfig(str(path), categories=None, category_flags=["Drama", "War"]))


def test_a_file_not_in_its_encoding_is_refused_with_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_bytes(b"item_id,title\n1,\x81\n")
    with pytest.raises(SourceReadError, match=f"{path}: byte 16 \\(line 2\\) is not cp1252 text"):
        read_item_metadata(ItemMetadataConfig(str(path), categories=None, encoding="cp1252"))


# --- the source settings (Dagster run config and the source settings file) ---------------------------------


def _u_item_settings(path: Path) -> dict:
    """ml-100k's u.item as source settings (a YAML file or ops.raw_interactions.config): no hand conversion."""
    return {"item_metadata_path": str(path), "item_metadata_delimiter": "|", "item_metadata_header": False,
            "item_metadata_encoding": "latin-1", "item_metadata_names": list(U_ITEM_NAMES),
            "item_metadata_category_flags": list(MOVIELENS_GENRES)}


def _load(settings: SourceSettings, storage: Storage) -> dict[str, int]:
    config = settings.item_metadata(storage)
    return warehouse.load_item_metadata(*read_item_metadata(config), config.path, storage.warehouse)


def test_source_settings_file_with_the_u_item_layout_loads_genres_into_the_warehouse(tmp_path: Path) -> None:
    path = _u_item(tmp_path / "u.item")
    storage = Storage(data_dir=str(tmp_path))
    settings = SourceSettings().resolved(_u_item_settings(path))
    config = settings.item_metadata(storage)
    assert (config.categories, config.title, config.item, config.encoding) == (None, "title", "item_id", "latin-1")
    assert _load(settings, storage) == {"rows_in": 5, "stored": 3, "superseded": 0, "rejected": 2, "kept": 0}
    with duckdb.connect(str(storage.warehouse), read_only=True) as con:
        assert con.execute("SELECT item_id, title, categories FROM item_metadata ORDER BY item_id").fetchall() == [
            ("1", "Toy Story (1995)", ["Animation", "Children's", "Comedy"]), ("267", "unknown", ["unknown"]),
            ("543", "Misérables, Les (1995)", ["Drama", "Musical"])]
        assert con.execute("SELECT source_row, reason FROM rejected_item_metadata ORDER BY 1").fetchall() == [
            (4, "missing_item"), (5, "bad_category_flag")]


def test_run_config_overrides_the_file_and_renames_flags(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text("id,name,sf,war\n1,Dune,1,0\n")
    storage = Storage(data_dir=str(tmp_path))
    run = SourceSettings(item_metadata_item_column="id", item_metadata_title_column="name",
                         item_metadata_category_flags=["sf", "war"], item_metadata_category_names={"sf": "Sci-Fi"})
    settings = run.resolved({"item_metadata_path": str(path), "item_metadata_delimiter": "|"})
    with pytest.raises(SourceReadError, match="no column"):  # the file's | delimiter: one column
        _load(settings, storage)
    settings = run.model_copy(update={"item_metadata_delimiter": ","}).resolved({"item_metadata_path": str(path)})
    assert settings.item_metadata(storage).category_flags == (("sf", "Sci-Fi"), ("war", "war"))
    _load(settings, storage)
    with duckdb.connect(str(storage.warehouse), read_only=True) as con:
        assert con.execute("SELECT * FROM item_metadata").fetchall() == [("1", "Dune", ["Sci-Fi"])]
    with pytest.raises(ValueError, match=r"no category flags: \['war '\]"):
        SourceSettings(item_metadata_path=str(path), item_metadata_category_flags=["war"],
                       item_metadata_category_names={"war ": "War"}).item_metadata(storage)
    plain = SourceSettings(item_metadata_path=str(path), item_metadata_title_column="").item_metadata(storage)
    assert (plain.categories, plain.title, plain.delimiter, plain.header) == ("categories", None, ",", True)


def test_the_raw_interactions_run_config_accepts_the_u_item_mapping(tmp_path: Path) -> None:
    """The mapping passes Dagster's config schema as run config of raw_interactions (lists and a map)."""
    import dagster as dg

    from elcrec_pipeline.definitions import defs

    job = defs().resolve_job_def("daily_retrain_job")
    config = {**_u_item_settings(tmp_path / "u.item"), "item_metadata_category_names": {"unknown": "(no genre)"}}
    result = dg.validate_run_config(job, {"ops": {"raw_interactions": {"config": config}}})
    assert result["ops"]["raw_interactions"]["config"]["item_metadata_names"] == list(U_ITEM_NAMES)


def test_the_real_u_item_loads_1682_movies_with_their_genres(shared: Path, tmp_path: Path) -> None:
    u_item = shared / "data" / "ml-100k" / "u.item"
    if not u_item.is_file():
        pytest.skip(f"{u_item} is absent")
    storage = Storage(data_dir=str(tmp_path), input_dirs=[str(u_item.parent)])
    settings = SourceSettings().resolved(_u_item_settings(u_item))
    assert _load(settings, storage) == {"rows_in": 1682, "stored": 1682, "superseded": 0, "rejected": 0, "kept": 0}
    with duckdb.connect(str(storage.warehouse), read_only=True) as con:
        rows = dict(con.execute("SELECT item_id, (title, categories) FROM item_metadata"
                                " WHERE item_id IN ('1', '543', '1633')").fetchall())
        assert rows == {"1": ("Toy Story (1995)", ["Animation", "Children's", "Comedy"]),
                        "543": ("Misérables, Les (1995)", ["Drama", "Musical"]),
                        "1633": ("Á köldum klaka (Cold Fever) (1994)", ["Comedy", "Drama"])}
        (dramas,), = con.execute("SELECT count(*) FROM item_metadata WHERE list_contains(categories, 'Drama')"
                                 ).fetchall()
        assert dramas == 725  # the Drama column of u.item holds 725 ones


@pytest.mark.parametrize("eol", ["\n", "\r\n"])
def test_empty_lines_before_the_header_are_skipped(tmp_path: Path, eol: str) -> None:
    path = tmp_path / "items.csv"
    path.write_text(eol.join(["", "item_id,title,categories", "1,Soap,Bath", ",No id,x", ""]), newline="")
    meta, rejected = read_item_metadata(ItemMetadataConfig(str(path)))
    assert meta.rows() == [("1", "Soap", ["Bath"])]
    assert rejected.select("source_row", "reason").rows() == [(4, "missing_item")]


def test_names_mean_the_file_has_no_header(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text("1,Soap,Bath\n2,Comb,Hair\n")
    config = ItemMetadataConfig(str(path), names=("item_id", "title", "categories"))
    meta, rejected = read_item_metadata(config)
    assert config.header is False and rejected.is_empty()
    assert meta.rows() == [("1", "Soap", ["Bath"]), ("2", "Comb", ["Hair"])]
    path.write_text("ID|Name|Tags\n1|Soap|Bath\n")  # header true with names: they replace the header's
    renamed = ItemMetadataConfig(str(path), delimiter="|", header=True, names=("item_id", "title", "categories"))
    assert read_item_metadata(renamed)[0].rows() == [("1", "Soap", ["Bath"])]


def test_names_that_fit_no_line_and_ids_that_are_no_value_are_refused(tmp_path: Path) -> None:
    """Names one short of a headerless file's columns had every row rejected (0 items, a green run), where the
    same mismatch with a header was refused; a Parquet list or boolean item column was read as text ('true')."""
    import polars as pl

    path = tmp_path / "items.csv"
    path.write_text("1,Soap,Bath,x\n2,Comb,Hair,y\n")
    with pytest.raises(SourceReadError, match=re.escape(
            "items.csv: none of its 2 records has the 3 columns that the names give (['item_id', 'title', "
            "'categories']); line 1: TOO MANY COLUMNS: 1,Soap,Bath,x")):
        read_item_metadata(ItemMetadataConfig(str(path), names=("item_id", "title", "categories")))
    path.write_text("1|Soap|Bath\n2|Comb|Hair\n")  # the names fit the fields of another delimiter: it says so
    with pytest.raises(SourceReadError, match=re.escape(
            "line 1: MISSING COLUMNS: 1|Soap|Bath; the line holds '|' between as many fields: is that the delimiter?")):
        read_item_metadata(ItemMetadataConfig(str(path), names=("item_id", "title", "categories")))
    path.write_text("1,Soap,Bath,x\n2,Comb\n")  # one record fits: the other is a rejected row, as before
    meta, rejected = read_item_metadata(ItemMetadataConfig(str(path), names=("item_id", "title", "categories", "x")))
    assert meta.rows() == [("1", "Soap", ["Bath"])] and rejected["reason"].to_list() == ["malformed_line"]
    for name, column in [("lists", [[1], [2]]), ("flags", [True, False])]:
        pq = tmp_path / f"{name}.parquet"
        pl.DataFrame({"item_id": column, "title": ["A", "B"], "categories": ["a", "b"]}).write_parquet(pq)
        with pytest.raises(SourceReadError, match=rf"{name}.parquet: column item_id holds (BIGINT\[\]|BOOLEAN) "
                                                  "values: a user or item id is one value"):
            read_item_metadata(ItemMetadataConfig(str(pq)))


def test_empty_categories_are_dropped_and_the_others_stripped(tmp_path: Path) -> None:
    import polars as pl

    path = tmp_path / "items.csv"
    path.write_text('item_id,title,categories\na,A,x|\nb,B,a||b\nc,C, Hair | Tools \nd,D,|\n')
    meta, rejected = read_item_metadata(ItemMetadataConfig(str(path)))
    assert meta.rows() == [("a", "A", ["x"]), ("b", "B", ["a", "b"]), ("c", "C", ["Hair", "Tools"]), ("d", "D", [])]
    assert rejected.is_empty()
    pq = tmp_path / "items.parquet"
    pl.DataFrame({"item_id": ["e"], "title": ["E"], "categories": [[" Hair", "", None, "Tools"]]}).write_parquet(pq)
    assert read_item_metadata(ItemMetadataConfig(str(pq)))[0].rows() == [("e", "E", ["Hair", "Tools"])]


def test_a_category_named_twice_is_stored_once(tmp_path: Path) -> None:
    """Two flag columns mapped to one name, or a list naming one category twice, stored it twice."""
    path = tmp_path / "items.csv"
    path.write_text("item_id,title,sf,scifi,war\na,A,1,1,0\nb,B,0,1,1\n")
    flags = {"sf": "Sci-Fi", "scifi": "Sci-Fi", "war": "War"}
    meta, _ = read_item_metadata(ItemMetadataConfig(str(path), categories=None, category_flags=flags))
    assert meta.rows() == [("a", "A", ["Sci-Fi"]), ("b", "B", ["Sci-Fi", "War"])]
    path.write_text("item_id,title,categories\na,A,Hair|Tools|Hair\n")
    assert read_item_metadata(ItemMetadataConfig(str(path)))[0].rows() == [("a", "A", ["Hair", "Tools"])]


def test_numeric_flags_count_as_their_value(tmp_path: Path) -> None:
    """A float flag column (1.0/0.0, as pandas writes a column with a gap) is 0/1, in Parquet and in text."""
    import polars as pl

    pq = tmp_path / "items.parquet"
    pl.DataFrame({"item_id": ["a", "b", "c", "d"], "title": ["A", "B", "C", "D"], "Drama": [1.0, 0.0, None, 2.0],
                  "War": [0, 1, 1, 0]}).write_parquet(pq)
    meta, rejected = read_item_metadata(ItemMetadataConfig(str(pq), categories=None, category_flags=["Drama", "War"]))
    assert meta.rows() == [("a", "A", ["Drama"]), ("b", "B", ["War"]), ("c", "C", ["War"])]
    assert rejected.select("source_row", "reason", "detail").rows() == [(4, "bad_category_flag", "Drama: 2.0")]
    path = tmp_path / "items.csv"
    path.write_text("item_id,title,Drama\na,A,1.0\nb,B,0.0\nc,C,x\n")
    meta, rejected = read_item_metadata(ItemMetadataConfig(str(path), categories=None, category_flags=["Drama"]))
    assert meta.rows() == [("a", "A", ["Drama"]), ("b", "B", [])]
    assert rejected.select("source_row", "reason", "detail").rows() == [(4, "bad_category_flag", "Drama: x")]


def test_an_items_last_usable_row_wins_and_its_earlier_rows_are_kept_with_the_row_that_replaced_them(
        tmp_path: Path) -> None:
    """Nothing is lost: a file that repeats an item keeps its last usable row (a row rejected for a bad flag
    replaces nothing), and the earlier rows become rejected rows that name their replacement."""
    path = tmp_path / "items.csv"
    path.write_text("item_id,title,Drama\n7,Old,1\n8,Other,0\n7,Newer,0\n7,Bad,x\n7,Newest,1\n")
    meta, rejected = read_item_metadata(ItemMetadataConfig(str(path), categories=None, category_flags=["Drama"]))
    assert meta.rows() == [("8", "Other", []), ("7", "Newest", ["Drama"])]
    assert sorted(rejected.select("source_row", "reason", "detail").rows()) == [
        (2, "superseded_item", "item 7 again at source_row 6, which replaces this row"),  # the header is row 1
        (4, "superseded_item", "item 7 again at source_row 6, which replaces this row"),
        (5, "bad_category_flag", "Drama: x")]
    assert len(meta) + len(rejected) == 5  # rows in = stored + rejected


def test_a_header_line_inside_item_metadata_is_rejected_not_read_as_an_item(tmp_path: Path) -> None:
    """Files joined with their headers: the repeated header was an item 'item_id' titled 'title' (with a list
    column), or a bad flag 'Drama: Drama' (with flags)."""
    path = tmp_path / "items.csv"
    path.write_text("item_id,title,categories\n1,Toy,a|b\nitem_id,title,categories\n2,Heat,c\n")
    meta, rejected = read_item_metadata(ItemMetadataConfig(str(path)))
    assert meta.rows() == [("1", "Toy", ["a", "b"]), ("2", "Heat", ["c"])]
    assert rejected.select("source_row", "reason", "detail").rows() == [
        (3, "repeated_header", "the column names again (item_id, title, categories): a header line inside the data, "
                               "as where files were joined with their headers")]
    path.write_text("item_id,title,Drama\n7,Old,1\nitem_id, title ,Drama\n")
    meta, rejected = read_item_metadata(ItemMetadataConfig(str(path), categories=None, category_flags=["Drama"]))
    assert meta.rows() == [("7", "Old", ["Drama"])]
    assert rejected.select("source_row", "reason").rows() == [(3, "repeated_header")]
    # names that replace the header's: a line of the file's own names is its header again too
    path.write_text("id,name,cats\n1,Toy,a\nid,name,cats\n")
    meta, rejected = read_item_metadata(ItemMetadataConfig(str(path), header=True,
                                                           names=("item_id", "title", "categories")))
    assert meta.rows() == [("1", "Toy", ["a"])]
    assert rejected.select("source_row", "reason", "detail").rows() == [
        (3, "repeated_header", "the column names again (id, name, cats): a header line inside the data, as where "
                               "files were joined with their headers")]
    # a file of other column order joined, with a flag column (a name there is no 0/1): its rows would have titles
    # for ids; refused at the line
    path.write_text("item_id,title,Drama\n1,Toy,1\ntitle,item_id,Drama\nHeat,2,0\n")
    with pytest.raises(SourceReadError, match=r"items\.csv: line 3 holds the column names in another order \(title, "
                                              r"item_id, Drama; the header: item_id, title, Drama\)"):
        read_item_metadata(ItemMetadataConfig(str(path), categories=None, category_flags=["Drama"]))


@pytest.mark.parametrize(("column", "values", "settings", "kind", "wanted"), [
    ("categories", [{"x": "Drama", "y": "War"}, {"x": "Comedy", "y": None}], {}, "STRUCT(x VARCHAR, y VARCHAR)",
     "text or a list of values"),
    ("categories", [[["x"]], [["y", "z"]]], {}, "VARCHAR[][]", "text or a list of values"),
    ("title", [["A"], ["B"]], {}, "VARCHAR[]", "one value (text or a number)"),
    ("Drama", [{"v": 1}, {"v": 0}], {"categories": None, "category_flags": ["Drama"]}, "STRUCT(v BIGINT)",
     "one value (text or a number)"),
])
def test_a_parquet_column_of_nested_values_is_refused_naming_it(tmp_path: Path, column, values, settings, kind,
                                                                 wanted) -> None:
    """Before, a struct became one category of its text (or a bare Polars cast error, where it held a null)."""
    import polars as pl

    path = tmp_path / "items.parquet"
    base = {"item_id": ["a", "b"], "title": ["A", "B"], "categories": ["x", "y"]}
    pl.DataFrame({**base, column: values}).write_parquet(path)
    with pytest.raises(SourceReadError, match=re.escape(f"{path}: column {column} holds {kind} values: it should "
                                                        f"hold {wanted}")):
        read_item_metadata(ItemMetadataConfig(str(path), **settings))


def test_a_parquet_list_or_array_of_categories_is_read_as_its_values(tmp_path: Path) -> None:
    import polars as pl

    path = tmp_path / "items.parquet"
    pl.DataFrame({"item_id": ["a", "b"], "title": ["A", "B"], "categories": [[1, 2], [3]]}).write_parquet(path)
    assert read_item_metadata(ItemMetadataConfig(str(path)))[0].rows() == [("a", "A", ["1", "2"]), ("b", "B", ["3"])]
    pl.DataFrame({"item_id": ["a"], "title": ["A"], "categories": pl.Series([["x", "y"]], dtype=pl.Array(pl.String, 2))}
                 ).write_parquet(path)
    assert read_item_metadata(ItemMetadataConfig(str(path)))[0].rows() == [("a", "A", ["x", "y"])]


def test_item_metadata_is_one_file_and_a_folder_or_pattern_says_so(tmp_path: Path) -> None:
    """Events may come from a folder or a pattern of files; item metadata from one file, which the error says."""
    (tmp_path / "catalogue").mkdir()
    with pytest.raises(SourceReadError, match="catalogue: a folder: item metadata is read from one file"):
        read_item_metadata(ItemMetadataConfig(str(tmp_path / "catalogue")))
    with pytest.raises(SourceReadError, match=r"no such file \(item metadata is one file, not a pattern\)"):
        read_item_metadata(ItemMetadataConfig(str(tmp_path / "catalogue" / "*.csv")))
    with pytest.raises(SourceReadError, match=r"no such file \(item metadata is one file, not a pattern\)"):
        read_item_metadata(ItemMetadataConfig(str(tmp_path / "*" / "items.csv")))  # a pattern in a folder's name
    with pytest.raises(SourceReadError, match=r"u\.itme: no such file$"):  # a mistyped name: no pattern note
        read_item_metadata(ItemMetadataConfig(str(tmp_path / "u.itme")))


def test_item_metadata_of_json_lines_says_it_reads_csv_or_parquet_alone(tmp_path: Path) -> None:
    """A clickstream's events file named as item metadata (its lines carry the product's name and category) was read
    as CSV and said 'no column(s) [...]; the file has ['{"event_time": ...', ' "product": {"id": 5'...]'
    (helper-259)."""
    path = tmp_path / "events.jsonl"
    path.write_text('\ufeff{"product": {"id": 5, "name": "Mug", "category": "kitchen"}}\n', encoding="utf-8")
    with pytest.raises(SourceReadError, match=r"events\.jsonl: a JSON object on its first line: item metadata is read "
                                              r"from Parquet or delimited text \(CSV\) alone, not JSON Lines"):
        read_item_metadata(ItemMetadataConfig(str(path), item="product.id", title="product.name"))
    path.write_text("item_id,title\n{5},Mug\n", encoding="utf-8")  # a brace inside the data is no JSON Lines
    assert read_item_metadata(ItemMetadataConfig(str(path), categories=None))[0].rows() == [("{5}", "Mug", None)]


def test_categories_split_on_the_wrong_separator_get_advice_naming_the_right_one(tmp_path: Path) -> None:
    """Categories written ``Action, Comedy`` and read with the default ``|`` became one category each, unsaid."""
    path = tmp_path / "items.csv"
    path.write_text('item_id,title,genres\n1,A,"Action, Comedy"\n2,B,"Drama, Romance, War"\n3,C,Drama\n4,D,\n')
    config = ItemMetadataConfig(str(path), categories="genres")
    items, _ = read_item_metadata(config)
    assert items["categories"].to_list() == [["Action, Comedy"], ["Drama, Romance, War"], ["Drama"], None]
    advice = separator_advice(items, config, "item_metadata_categories_separator")
    assert advice == ("no item has two categories or more: the categories text was split on '|', which it hardly "
                      "holds, while 2 of the 3 items with one category (67%) hold ',', such as 'Action, Comedy'. If "
                      "these are lists, set item_metadata_categories_separator to ','")
    right_config = ItemMetadataConfig(str(path), categories="genres", categories_separator=",")
    right, _ = read_item_metadata(right_config)
    assert right["categories"].to_list() == [["Action", "Comedy"], ["Drama", "Romance", "War"], ["Drama"], None]
    assert separator_advice(right, right_config) is None  # items with two categories: the separator splits
    # one item of 150 written with the configured | does not hide the other 149 (at most 1% may have several)
    rows = "".join(f'{i},T{i},"Action, Comedy"\n' for i in range(149))
    path.write_text(f"item_id,title,genres\n{rows}149,T,Action|Comedy\n")
    advice = separator_advice(read_item_metadata(config)[0], config)
    assert advice.startswith("only 1 of the 150 items with a category have two categories or more: the categories "
                             "text was split on '|', which it hardly holds, while 149 of the 149 items with one")


def test_categories_of_words_that_other_items_hold_alone_get_advice_to_split_on_spaces(tmp_path: Path) -> None:
    """RecBole's atomic files write genres space-separated (``Action Adventure``): read with the default ``|`` every
    item had one category, 215 combinations of 18 genres, and the category purity fell from 0.41 to 0.14, unsaid
    (helper-178). A category of several words that are no categories alone (``Home Decor``) gets no advice."""
    genres = [["Action Adventure"], ["Action"], ["Adventure"], ["Drama"], ["Comedy Drama"], ["Action Comedy War"],
              ["War"], ["Comedy"], ["Home Decor"], ["Drama"]]
    config = ItemMetadataConfig(str(tmp_path / "ml-100k.item"), categories="class")
    assert separator_advice(_items(genres), config, "item_metadata_categories_separator") == (
        "no item has two categories or more: the categories text was split on '|', which it hardly holds, while 3 of "
        "the 10 items with one category (30%) hold categories that other items hold alone, separated by ' ', such as "
        "'Action Adventure'. If these are lists, set item_metadata_categories_separator to ' '")
    spaced = ItemMetadataConfig(str(tmp_path / "ml-100k.item"), categories="class", categories_separator=" ")
    assert separator_advice(_items(genres), spaced) is None
    assert separator_advice(_items([["Home Decor"], ["Skin Care"], ["Books"], ["Home"]]), config) is None
    assert separator_advice(_items([["Action Adventure"], *[[g] for g in "ABCDEFGHI"]]), config) is None  # 10%


def _items(categories: list):
    import polars as pl

    return pl.DataFrame({"item_id": [str(i) for i in range(len(categories))], "categories": categories},
                        schema={"item_id": pl.String, "categories": pl.List(pl.String)})


@pytest.mark.parametrize("categories", [
    [["Arts, Crafts & Sewing"], ["Books"], ["Music"]],  # one category with a comma among plain ones: under half
    [["a;b"], ["c", "d"]],  # an item of two with two categories: the separator does split
    [[], []],  # no categories at all
    [["Sci-Fi"], ["Film-Noir"]],  # a hyphen is no list separator
    [["Electronics/Computers/Laptops"], ["Home/Kitchen"]],  # paths: one category each
])
def test_categories_that_need_no_other_separator_get_no_advice(tmp_path: Path, categories: list) -> None:
    config = ItemMetadataConfig(str(tmp_path / "items.csv"))
    assert separator_advice(_items(categories), config) is None
    assert separator_advice(_items(categories).clear(), config) is None


def test_categories_that_no_separator_splits_get_no_advice(tmp_path: Path) -> None:
    """A Parquet list column and flag columns are not split on the separator: no advice to set it."""
    import polars as pl

    path = tmp_path / "items.parquet"
    pl.DataFrame({"item_id": ["1", "2"], "categories": [["Clothing, Shoes & Jewelry"], ["Arts, Crafts"]],
                  "text": ["Clothing, Shoes", "Arts, Crafts"], "a, b": [1, 1]}).write_parquet(path)
    listed = ItemMetadataConfig(str(path), title=None)
    assert separator_advice(read_item_metadata(listed)[0], listed) is None
    flags = ItemMetadataConfig(str(path), title=None, categories=None, category_flags=("a, b",))
    assert separator_advice(read_item_metadata(flags)[0], flags) is None
    assert not categories_from_text(listed) and not categories_from_text(flags)
    assert categories_from_text(ItemMetadataConfig(str(path), title=None, categories="text"))
    text = ItemMetadataConfig(str(path), title=None, categories="text")  # as text: split on |: advice
    assert separator_advice(read_item_metadata(text)[0], text).endswith("set the categories separator to ','")
    # a name with [ ] is the file itself, not a pattern (polars read the schema of items1.parquet, or raised)
    odd = tmp_path / "items[1].parquet"
    path.rename(odd)
    pl.DataFrame({"item_id": ["1"], "text": [["a, b"]]}).write_parquet(tmp_path / "items1.parquet")  # a list
    text = ItemMetadataConfig(str(odd), title=None, categories="text")
    assert separator_advice(read_item_metadata(text)[0], text).endswith("set the categories separator to ','")


def test_a_spreadsheet_s_empty_rows_are_empty_row_not_missing_item(tmp_path: Path) -> None:
    """Excel's CSV export (cp1252, ;, CRLF) writes lines of delimiters only below a catalogue: empty_row, as the
    events' empty rows; a row with a title but no id stays missing_item. Ids keep their leading zeros."""
    path = tmp_path / "artikel.csv"
    path.write_bytes("Artikel;Bezeichnung;Kategorie\r\n00042;Kaffeemühle;Küche & Haushalt\r\n"
                     ";Topf „Classic“;x\r\n;;\r\n ; ;\r\n".encode("cp1252"))
    meta, rejected = read_item_metadata(ItemMetadataConfig(str(path), delimiter=";", encoding="cp1252",
                                                           item="Artikel", title="Bezeichnung",
                                                           categories="Kategorie"))
    assert meta.rows() == [("00042", "Kaffeemühle", ["Küche & Haushalt"])]
    assert sorted(rejected.select("source_row", "reason", "detail").rows()) == [
        (3, "missing_item", "Artikel is empty"),
        (4, "empty_row", "every field is empty: a line of delimiters only, as a spreadsheet's empty row"),
        (5, "empty_row", "every field is empty: a line of delimiters only, as a spreadsheet's empty row")]
