"""The source setting ``timezone``: times written without a UTC offset are a zone's local times, stored as UTC."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from elcrec_core.cli.data_options import DataOptions
from elcrec_core.cli.main import main
from elcrec_core.data.source_config import ColumnMap, SourceConfig
from elcrec_core.data.sources import read_source
from elcrec_pipeline.config import SourceSettings
from elcrec_pipeline.resources import Storage

NEW_YORK = ZoneInfo("America/New_York")

# New York local times: winter (-5 h), summer (-4 h), the spring-forward gap (02:30 on 2026-03-08 never shows on
# the clocks), the autumn overlap (01:30 on 2026-11-01 shows twice), an evening that is the next day in UTC
LOCAL = {"winter": datetime(2026, 12, 7, 14, 5, 33), "summer": datetime(2026, 7, 15, 14, 5, 33),
         "gap": datetime(2026, 3, 8, 2, 30), "overlap": datetime(2026, 11, 1, 1, 30),
         "midnight": datetime(2026, 12, 31, 19, 30)}


def _utc(local: datetime, fold: int = 0) -> datetime:
    """``local``, a New York wall time, as naive UTC by zoneinfo."""
    return local.replace(tzinfo=NEW_YORK, fold=fold).astimezone(timezone.utc).replace(tzinfo=None)


# the stored times the setting must give: zoneinfo's, with the rule of DuckDB's ICU (time_zones' docstring): the
# gap read with the offset before the change (fold=0), the overlap as its second, standard time (fold=1)
EXPECTED = {name: _utc(local, fold=1 if name == "overlap" else 0) for name, local in LOCAL.items()}


def test_expected_times_are_the_documented_rule() -> None:
    """The figures the other tests compare with, written out: -5 h in winter, -4 h in summer, the gap at -5 h
    (03:30 EDT), the overlap's second hour (EST), and 19:30 on New Year's Eve on the next day in UTC."""
    assert EXPECTED == {"winter": datetime(2026, 12, 7, 19, 5, 33), "summer": datetime(2026, 7, 15, 18, 5, 33),
                        "gap": datetime(2026, 3, 8, 7, 30), "overlap": datetime(2026, 11, 1, 6, 30),
                        "midnight": datetime(2027, 1, 1, 0, 30)}


def _read(path: Path, fmt: str, zone: str | None, file_format: str = "csv") -> dict[str, datetime]:
    frame = read_source(SourceConfig(format=file_format, path=str(path), timestamp_format=fmt, timezone=zone))
    assert frame["error"].null_count() == len(frame), frame.filter(frame["error"].is_not_null())
    return dict(zip(frame["item_id"], frame["timestamp"]))


def test_a_tills_csv_of_local_times_is_stored_as_utc(tmp_path: Path) -> None:
    """A US till's export (12/07/2026 2:05:33 PM, New York) under timezone America/New_York: each time stored as
    the UTC of its moment; without the setting, as written (UTC, as before)."""
    path = tmp_path / "pos.csv"
    path.write_text("user_id,item_id,timestamp\n" + "".join(
        f"u,{name},{local.strftime('%m/%d/%Y %I:%M:%S %p')}\n" for name, local in LOCAL.items()), encoding="utf-8")
    assert _read(path, "%m/%d/%Y %I:%M:%S %p", "America/New_York") == EXPECTED
    assert _read(path, "%m/%d/%Y %I:%M:%S %p", None) == LOCAL


def test_json_lines_iso_times_without_offset_are_local_and_with_one_are_moments(tmp_path: Path) -> None:
    """ISO 8601 in JSON Lines: a time without offset (and a date alone, local midnight) is New York's; one with an
    offset or Z is a moment, not moved."""
    path = tmp_path / "events.jsonl"
    lines = [{"user_id": "u", "item_id": "date", "timestamp": "2026-03-08"}]  # not last: a line cut short?
    lines += [{"user_id": "u", "item_id": name, "timestamp": local.isoformat()} for name, local in LOCAL.items()]
    lines += [{"user_id": "u", "item_id": "offset", "timestamp": "2026-07-15T14:05:33+02:00"},
              {"user_id": "u", "item_id": "zulu", "timestamp": "2026-07-15T14:05:33Z"},
              {"user_id": "u", "item_id": "spaced", "timestamp": "2026-01-05 10:00:00 +0100"}]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    assert _read(path, "iso8601", "America/New_York", "jsonl") == {
        **EXPECTED, "offset": datetime(2026, 7, 15, 12, 5, 33), "zulu": datetime(2026, 7, 15, 14, 5, 33),
        "spaced": datetime(2026, 1, 5, 9), "date": _utc(datetime(2026, 3, 8))}


def test_offset_patterns_and_epoch_numbers_are_not_moved(tmp_path: Path) -> None:
    """A strptime pattern with %z reads moments, and an epoch number is one: the setting moves neither."""
    path = tmp_path / "offsets.csv"
    path.write_text("user_id,item_id,timestamp\nu,a,07/15/2026 14:05:33 +0200\n", encoding="utf-8")
    assert _read(path, "%m/%d/%Y %H:%M:%S %z", "America/New_York") == {"a": datetime(2026, 7, 15, 12, 5, 33)}
    epoch = tmp_path / "epoch.csv"
    epoch.write_text("user_id,item_id,timestamp\nu,a,1784124333\n", encoding="utf-8")
    assert _read(epoch, "epoch_s", "America/New_York") == {"a": datetime(2026, 7, 15, 14, 5, 33)}


def test_a_parquet_column_of_naive_times_is_local(tmp_path: Path) -> None:
    """A Parquet time column without a zone holds wall times: local ones under the setting; one with a zone holds
    moments, not moved."""
    import polars as pl

    path = tmp_path / "events.parquet"
    pl.DataFrame({"user_id": ["u", "u"], "item_id": ["naive", "aware"],
                  "timestamp": [LOCAL["summer"], LOCAL["summer"]]}).with_columns(
        aware=pl.col("timestamp").dt.replace_time_zone("UTC")).write_parquet(path)
    assert _read(path, "epoch_s", "America/New_York", "parquet")["naive"] == EXPECTED["summer"]
    frame = read_source(SourceConfig(format="parquet", path=str(path), timezone="America/New_York",
                                     columns=ColumnMap(timestamp="aware")))
    assert frame["timestamp"].to_list() == [LOCAL["summer"]] * 2


@pytest.mark.parametrize(("zone", "said"), [
    ("America/New_Yrok", "; did you mean America/New_York?"), ("new york", "; did you mean America/New_York?"),
    ("CST", "; did you mean America/Chicago?"), ("Eastern Standard Time", "; did you mean America/New_York?"),
    ("pdt", "; did you mean America/Los_Angeles?"), ("IST", "")])  # IST: India's, Israel's or Ireland's
def test_an_unknown_zone_is_refused_naming_the_setting_and_a_close_name(zone: str, said: str) -> None:
    """Refused when the settings are read, naming the setting and the value; ICU's own three-letter names (CST is
    both China's and the US's) are no IANA names."""
    message = f"timezone = {zone!r}: no IANA time zone name (such as America/New_York, Europe/Berlin or UTC){said}"
    with pytest.raises(ValueError) as refused:
        SourceConfig(format="csv", path="events.csv", timezone=zone)
    assert str(refused.value) == message
    with pytest.raises(ValueError) as refused:
        SourceSettings(format="csv", path="events.csv", timezone=zone).resolved({})
    assert str(refused.value) == message


def test_the_run_config_and_the_source_file_give_the_zone_to_the_source(tmp_path: Path) -> None:
    """The source settings file's timezone, and the run config's over it; unset: None (UTC, as before)."""
    (tmp_path / "events.csv").write_text("user_id,item_id,timestamp\n", encoding="utf-8")
    storage, path = Storage(data_dir=str(tmp_path)), str(tmp_path / "events.csv")
    for run, file, zone in ((None, "America/New_York", "America/New_York"), ("Europe/Berlin", "America/New_York",
                                                                            "Europe/Berlin"), (None, None, None)):
        settings = SourceSettings(format="csv", path=path, timezone=run).resolved({"timezone": file} if file else {})
        assert settings.source_config("2026-01-31", storage).timezone == zone


def test_elcrec_sequences_reads_the_zone_of_a_source_file(tmp_path: Path, capsys) -> None:
    """``elcrec sequences --source``: a local 10:00 in New York (15:00 UTC) comes after 12:00Z of a web log; read as
    UTC it came before. An unknown zone is refused naming the file."""
    (tmp_path / "events.csv").write_text("user_id,item_id,timestamp\nu,till,2026-01-15T10:00:00\n"
                                         "u,web,2026-01-15T12:00:00Z\n", encoding="utf-8")
    source = tmp_path / "source.yaml"
    settings = {"format": "csv", "path": "events.csv", "timestamp_format": "iso8601"}
    for zone, items in ((None, ["till", "web"]), ("America/New_York", ["web", "till"])):
        source.write_text(yaml.safe_dump({**settings, **({"timezone": zone} if zone else {})}), encoding="utf-8")
        assert main(["sequences", "--source", str(source), "--json"]) == 0
        assert [json.loads(line)["items"] for line in capsys.readouterr().out.splitlines()] == [items]
    assert main(["sequences", "--source", str(source), "--timezone", "UTC", "--json"]) == 0  # the option wins
    assert [json.loads(line)["items"] for line in capsys.readouterr().out.splitlines()] == [["till", "web"]]
    source.write_text(yaml.safe_dump({**settings, "timezone": "America/New_Yrok"}), encoding="utf-8")
    with pytest.raises(SystemExit):
        main(["sequences", "--source", str(source)])
    assert (f"--source {source}: timezone = 'America/New_Yrok': no IANA time zone name (such as America/New_York, "
            "Europe/Berlin or UTC); did you mean America/New_York? (the pipeline refuses it too)"
            in capsys.readouterr().err)


@pytest.mark.parametrize("zone", ["America/New_York", None])
def test_the_time_window_without_an_offset_is_a_local_time_of_the_zone(zone: str | None) -> None:
    """``min_timestamp`` / ``max_timestamp`` (and ``--min-timestamp`` / ``--max-timestamp``) without an offset are
    local times of ``timezone``, converted as the events' times (the gap and the overlap too); with an offset they
    are moments; without a zone, UTC as written."""
    with_offset = "2027-01-02T14:05:33-05:00"
    for name, local in LOCAL.items():
        expected = EXPECTED[name] if zone else local
        rules = SourceSettings(format="csv", path="e.csv", timezone=zone, min_timestamp=local.isoformat(),
                               max_timestamp=with_offset).resolved({}).row_rules()
        options = DataOptions(timezone=zone, min_timestamp=local.isoformat(), max_timestamp=with_offset).row_rules()
        for window in (rules, options):
            assert (window.min_timestamp, window.max_timestamp) == (expected, datetime(2027, 1, 2, 19, 5, 33))
    date_alone = DataOptions(timezone=zone, min_timestamp="2026-12-07").row_rules().min_timestamp
    assert date_alone == datetime(2026, 12, 7, 5 if zone else 0)  # local midnight


def test_elcrec_rejects_by_a_local_window_the_events_of_a_web_log_with_offsets(tmp_path: Path, capsys) -> None:
    """A web log's 14:30Z is 09:30 in New York: before the window from 10:00 local (15:00 UTC), rejected; read as
    10:00 UTC the window let it in. The rejected row's detail gives the time and the window in UTC."""
    (tmp_path / "events.csv").write_text("user_id,item_id,timestamp\nu,early,2026-01-15T14:30:00Z\n"
                                         "u,late,2026-01-15T15:30:00Z\n", encoding="utf-8")
    window = ["--min-timestamp", "2026-01-15T10:00:00", "--timestamp-format", "iso8601", "--json"]
    for zone, items in (([], ["early", "late"]), (["--timezone", "America/New_York"], ["late"])):
        assert main(["sequences", "--data", str(tmp_path / "events.csv"), *window, *zone]) == 0
        assert [json.loads(line)["items"] for line in capsys.readouterr().out.splitlines()] == [items]
    rejected = tmp_path / "rejected.csv"
    assert main(["sequences", "--data", str(tmp_path / "events.csv"), *window, "--timezone", "America/New_York",
                 "--rejected-out", str(rejected)]) == 0
    assert ("timestamp 2026-01-15 14:30:00 is outside 2026-01-15 15:00:00 .. any (UTC)"
            in rejected.read_text(encoding="utf-8"))
