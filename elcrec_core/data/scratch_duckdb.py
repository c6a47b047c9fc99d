"""One in-memory DuckDB database a process for the queries that hold no table: reading a file (its rows come back
as a frame), checking a strptime pattern, converting a time zone's times, keying event types.

Opening a database costs 20-35 ms here (DuckDB builds its catalogue each time); a new connection to an open one, a
cursor, under 1 ms. Each :func:`scratch_connection` has its own settings (``SET TimeZone``, ...), transaction and
temporary objects, and the database holds no table, so no query sees another's. A process of another id (a forked
child) opens its own.
"""

from __future__ import annotations

import os
import threading

import duckdb

_DATABASES: dict[int, duckdb.DuckDBPyConnection] = {}  # process id -> its in-memory database
_LOCK = threading.Lock()


def scratch_connection() -> duckdb.DuckDBPyConnection:
    """A new connection to this process's in-memory database, to close after use (``with``): its settings start as
    DuckDB's defaults (the machine's time zone, threads), whatever another connection set."""
    with _LOCK:
        if os.getpid() not in _DATABASES:  # a forked child opens its own
            _DATABASES[os.getpid()] = duckdb.connect()
        return _DATABASES[os.getpid()].cursor()
