"""The pipeline's daily partitions, as far as the command line needs them too: the environment variable that sets
their first day, and its default (``assets.daily`` builds the partitions; ``elcrec rollback`` names them in the
command it prints)."""

START_DATE_ENV = "ELCREC_START_DATE"
DEFAULT_START_DATE = "2026-01-01"  # an ISO date
