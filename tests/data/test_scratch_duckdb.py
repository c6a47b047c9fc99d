"""The process's in-memory DuckDB database: the queries that hold no table connect to it, not to a new database each
(20-35 ms here: DuckDB builds its catalogue each time)."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pytest

from elcrec_core.data import scratch_duckdb
from elcrec_core.data.event_selection import type_keys
from elcrec_core.data.time_zones import naive_utc
from elcrec_core.data.timestamp_patterns import timestamp_format_problem


def test_pattern_checks_time_conversions_and_type_keys_open_one_database_for_all(
        monkeypatch: pytest.MonkeyPatch) -> None:
    opened = []
    real = duckdb.connect
    monkeypatch.setattr(scratch_duckdb, "_DATABASES", {})
    monkeypatch.setattr(duckdb, "connect", lambda *args, **kwargs: opened.append(args) or real(*args, **kwargs))
    for _ in range(3):
        assert timestamp_format_problem("%d.%m.%Y %H:%M") is None
        assert naive_utc("min_timestamp", "2026-07-01 10:00", "America/New_York") == datetime(2026, 7, 1, 14)
        assert type_keys(["Purchase", None, "purchase"]) == ["purchase", None, "purchase"]
    assert opened == [()]  # the scratch database, once
