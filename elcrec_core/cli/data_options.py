"""How the command line reads ``--data``: the formats it knows and the options of event files."""

from __future__ import annotations

from dataclasses import dataclass

from elcrec_core.cli.settings_origin import SettingsOrigin
from elcrec_core.data.events_to_sequences import SequenceConfig
from elcrec_core.data.expectations import ExpectationConfig
from elcrec_core.data.sequence_settings import event_type_set
from elcrec_core.data.time_zones import naive_utc
from elcrec_core.data.validation import NULL_IDS, RowRules

SYNTHETIC = "synthetic"


FORMATS = ("sequence", "csv", "tsv", "jsonl", "parquet")


ALIASES = {"sequences": "sequence", "events": "events"}  # the names of earlier versions; events: by the name


FORMAT_CHOICES = ("auto", *FORMATS, *ALIASES)


@dataclass(frozen=True)
class DataOptions:
    """How to read ``--data``: the format (None: guess), the columns of event files (None: the defaults
    user_id, item_id, timestamp; no rating), the timestamp format (None: detect), delimited-text settings, the
    lowest rating kept (None: every rating), the event types modelled (None: every event) and the k-core."""

    format: str | None = None
    user_column: str | None = None
    item_column: str | None = None
    timestamp_column: str | None = None  # "none": the file has no times (events keep their file order)
    timestamp_format: str | tuple[str, ...] | None = None  # a tuple: strptime patterns, the first that reads a time
    timezone: str | None = None  # of times without a UTC offset (None: UTC), as the source settings' timezone
    delimiter: str | None = None
    header: bool = True
    names: tuple[str, ...] | None = None
    header_names: bool = False  # with names: the first line is a header, whose names they replace
    quote: str | None = '"'  # None: --no-quote
    encoding: str = "utf-8"  # of text files
    rating_column: str | None = None
    min_rating: float | None = None
    max_rating: float | None = None
    min_timestamp: str | None = None  # ISO 8601, as the source settings' min_timestamp and max_timestamp
    max_timestamp: str | None = None
    null_ids: tuple[str, ...] | None = None  # None: the source settings' default (NULL_IDS)
    event_type_column: str | None = None
    event_types: tuple[str, ...] | None = None  # as the sequence settings' event_types
    sequence_min_rating: float | None = None  # as the sequence settings' min_rating: out of the sequences alone
    dedupe: bool = False  # as the sequence settings' dedupe
    k_core: int = 0
    max_user_events: int | None = None  # as the sequence settings' max_user_events
    seed: int = 0  # of the synthetic data
    rejected_shares: ExpectationConfig | None = None  # the --source file's bounds on rejected rows (None: defaults)
    rejected_out: str | None = None  # --rejected-out: written by the load where it accepts no row, else by the caller
    origin: SettingsOrigin = SettingsOrigin()  # --source's file or options alone: how advice names a fix

    def __post_init__(self) -> None:
        if self.format is not None and self.format != "auto" and self.format not in FORMAT_CHOICES:
            raise ValueError(f"unknown format {self.format!r}; known: {', '.join(FORMAT_CHOICES)}")
        if self.k_core < 0:
            raise ValueError(f"--k-core must be >= 0, not {self.k_core}")
        if self.max_user_events is not None and self.max_user_events < 1:
            raise ValueError(f"--max-user-events must be >= 1, not {self.max_user_events}")
        needs = self.origin.named  # the column's fix: an option, or the --source file's setting
        for setting, value in (("min_rating", self.min_rating), ("max_rating", self.max_rating)):
            if value is not None and self.rating_column is None:
                raise ValueError(f"{self.origin.word(setting)} needs {needs(('rating_column', None))}: the column "
                                 "that holds the ratings")
        self.row_rules()  # a time that is none: refused before reading
        if self.sequence_min_rating is not None and self.rating_column is None:  # the run config's: an option
            raise ValueError(f"--sequence-min-rating needs {needs(('rating_column', None))}: the column that holds "
                             "the ratings")
        if self.event_types is not None and self.event_type_column is None:
            raise ValueError(f"--event-types needs {needs(('event_type_column', None))}: the column that holds the "
                             "event types")

    def own_shares(self) -> tuple[str, ...]:
        """The rejection reasons that the --source file gives a share of their own (max_rejected_share_by_reason),
        whose rows the examples show after the others' (:func:`~elcrec_core.data.rejections.example_rows`)."""
        return tuple(self.rejected_shares.max_rejected_share_by_reason) if self.rejected_shares else ()

    def row_rules(self) -> RowRules:
        """The row rules that these options give, as the source settings' of the same names give the pipeline's.
        Raises ValueError naming ``--min-timestamp`` or ``--max-timestamp`` for a value that is no ISO 8601 time; one
        without an offset is a local time of ``--timezone``."""
        return RowRules(min_timestamp=naive_utc("--min-timestamp", self.min_timestamp, self.timezone),
                        max_timestamp=naive_utc("--max-timestamp", self.max_timestamp, self.timezone),
                        min_rating=self.min_rating,
                        max_rating=self.max_rating, null_ids=NULL_IDS if self.null_ids is None else self.null_ids)

    @property
    def event_options(self) -> list[str]:
        """The options given that only event files (csv, tsv, jsonl, Parquet events) have."""
        given = {"--user-column": self.user_column, "--item-column": self.item_column,
                 "--timestamp-column": self.timestamp_column, "--timestamp-format": self.timestamp_format,
                 "--timezone": self.timezone,
                 "--delimiter": self.delimiter, "--names": self.names, "--rating-column": self.rating_column,
                 "--min-rating": self.min_rating, "--max-rating": self.max_rating,
                 "--min-timestamp": self.min_timestamp, "--max-timestamp": self.max_timestamp,
                 "--null-ids": self.null_ids, "--event-type-column": self.event_type_column,
                 "--event-types": self.event_types, "--sequence-min-rating": self.sequence_min_rating}
        return [name for name, value in given.items() if value is not None] + ([] if self.header else ["--no-header"]) \
            + ([] if self.quote else ["--no-quote"])

    @property
    def built_options(self) -> list[str]:
        """The options given that build sequences from events (--k-core, --dedupe, --max-user-events): refused for
        the pipeline's sequences.parquet, built already."""
        return [name for name, given in (("--k-core", self.k_core), ("--dedupe", self.dedupe),
                                         ("--max-user-events", self.max_user_events)) if given]

    @property
    def delimited_text_options(self) -> list[str]:
        """The options given that only delimited text (csv, tsv) has."""
        return [name for name in self.event_options if name in ("--delimiter", "--names", "--no-header", "--no-quote")]

    def unused_for(self, fmt: str) -> str:
        """The refusal of the options given that a file of ``fmt`` (sequence, jsonl, parquet) has no use for, each
        named with the formats that have (``--no-header: only for delimited text (csv, tsv), not the sequence
        format``; a ``--source`` file's as its settings); empty where none is."""
        delimited = self.delimited_text_options
        events = [name for name in self.event_options if name not in delimited] if fmt == "sequence" else []
        named = self.origin.as_given  # an option, or the --source file's setting
        parts = ([f"{named(events)}: only for event files (csv, tsv, jsonl, parquet)"] if events else []) + (
            [f"{named(delimited)}: only for delimited text (csv, tsv)"] if delimited else [])
        return f"{'; '.join(parts)}, not {'the sequence format' if fmt == 'sequence' else fmt}" if parts else ""


def sequence_settings_note(options: DataOptions, built: SequenceConfig, day: str) -> str:
    """The line that says which options read events as the pipeline built the sequences of ``day`` (``built``,
    their ``settings.json``): its k-core, event types, min_rating, dedupe and max_user_events, where ``options``
    differ; empty where they agree. A user's history, and so the list, differs otherwise (the pipeline's k-core 5
    drops rare items and users)."""
    differ = ([f"--k-core {built.k_core}"] if options.k_core != built.k_core else []) + (
        [("" if options.event_type_column else "--event-type-column COLUMN ")  # the source's: not in the settings
         + f"--event-types {','.join(built.event_types)}" if built.event_types is not None else "no --event-types"]
        if event_type_set(options.event_types) != event_type_set(built.event_types) else []) + (
        [("" if options.rating_column else "--rating-column COLUMN ")
         + f"--sequence-min-rating {built.min_rating:g}" if built.min_rating is not None
         else "no --sequence-min-rating"] if options.sequence_min_rating != built.min_rating else []) + (
        [("--dedupe" if built.dedupe else "no --dedupe")] if options.dedupe != built.dedupe else []) + (
        [f"--max-user-events {built.max_user_events}" if built.max_user_events else "no --max-user-events"]
        if options.max_user_events != built.max_user_events else [])
    return (f"the pipeline built the sequences of {day} with other settings (sequences/{day}/settings.json): give "
            f"{' and '.join(differ)} to read --data as it did" if differ else "")
