"""The daily partitions every asset shares, and common asset settings."""

import os

import dagster as dg

START_DATE_ENV = "ELCREC_START_DATE"

daily_partitions = dg.DailyPartitionsDefinition(start_date=os.environ.get(START_DATE_ENV, "2026-01-01"))
OWNERS = ["team:recommendations"]
