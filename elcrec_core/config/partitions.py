"""The pipeline's daily partitions, as far as the command line needs them too: the environment variable that sets
their first day, and its default (``assets.daily`` builds the partitions; ``elcrec rollback`` names them in the
command it prints), and a day's end."""

from __future__ import annotations

from datetime import datetime, timedelta

START_DATE_ENV = "ELCREC_START_DATE"
DEFAULT_START_DATE = "2026-01-01"  # an ISO date


def partition_end(partition: str) -> datetime:
    """The first instant after the partition's day (an ISO date; naive UTC): the events before it are the
    partition's history. Raises ValueError for a name that is no date."""
    return datetime.fromisoformat(partition) + timedelta(days=1)
