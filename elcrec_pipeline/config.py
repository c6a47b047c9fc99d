"""Run configuration (Dagster ``Config`` classes). With no config at all every stage runs on the embedded
synthetic data set (5,000 users, 1,000 items) with training settings derived from the data (preset ``auto``,
:mod:`elcrec_core.train.auto_preset`): the whole daily job in about 1.5 minutes on a 2-core CPU."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import dagster as dg
from pydantic import Field, ValidationInfo, create_model, field_validator

from elcrec_core.config.field_types import refuse_bool_as_number
from elcrec_core.config.settings import ExperimentConfig, SettingField, overrides, preset_names, settings_fields
from elcrec_core.data.events_to_sequences import SequenceConfig
from elcrec_core.evaluate.baselines import EASE_LAMBDAS
from elcrec_core.data.files import MAX_LINE_BYTES
from elcrec_core.data.sequences import Sequences
from elcrec_core.config.setting_names import did_you_mean
from elcrec_core.data.source_config import (
    ColumnMap,
    ItemMetadataConfig,
    SourceConfig,
    SourceFormat,
    path_without_format,
)
from elcrec_core.data.source_folders import missing_day_advice
from elcrec_core.data.synthetic import SyntheticConfig
from elcrec_core.data.time_zones import naive_utc, timezone_problem
from elcrec_core.data.timestamp_patterns import FORMATS_TEXT, timestamp_format_problem
from elcrec_core.data.expectations import ExpectationConfig, reason_share_problems
from elcrec_core.data.validation import NULL_IDS, RowRules
from elcrec_core.train.auto_preset import AUTO, BASE_PRESET, preset_experiment
from elcrec_pipeline.resources import Storage


class CheckedConfig(dg.Config):
    """The base of the pipeline's run config classes: true or false given for a field that takes no bool (a number,
    a choice) raises ValueError naming the field, where lax mode read ``tolerance: true`` as 1.0 and a source
    file's ``max_rejected_share: true`` as 1.0 (helper-189)."""

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_as_number(cls, value: Any, info: ValidationInfo) -> Any:
        return refuse_bool_as_number(cls.model_fields[info.field_name].annotation, value)


class SourceSettings(CheckedConfig):
    """Where the interactions come from. Every field is optional: one left out takes its value from the source
    settings file (the ``source_file`` resource: ``ELCREC_SOURCE``), else its default. With neither, the embedded
    synthetic data set is loaded."""

    format: str | None = Field(None, description="csv, tsv, parquet, jsonl, sequence or synthetic (the default)")
    path: str | None = Field(None, description="file, folder or glob inside the data folder or the storage "
                                               "resource's input_dirs; '{date}' becomes the partition date")
    user_column: str | None = Field(None, description="default user_id")
    item_column: str | None = Field(None, description="default item_id")
    timestamp_column: str | None = Field(None, description="default timestamp; '' for a source without times")
    rating_column: str | None = Field(None, description="column of the rating (default: none read); ratings are "
                                                        "read only from the column named here")
    event_type_column: str | None = Field(None, description="column of the event type (view, purchase, ...; default: "
                                                            "none read), for the sequence settings' event_types")
    # Any: text or a list of texts, which Dagster's config types cannot say (value_problems checks it)
    timestamp_format: Any = Field(None, description=f"{FORMATS_TEXT} (a German Excel export's 07.12.2026 14:03), "
                                                    "or a list of patterns for times of several forms, each value "
                                                    "read by the first that reads it whole; default epoch_s")
    timezone: str | None = Field(None, description="IANA zone of times written without a UTC offset (a till's local "
                                                   "times: America/New_York), stored as UTC; times with an offset "
                                                   "and epoch numbers are not moved; default: UTC")
    delimiter: str | None = Field(None, description="field delimiter of csv/tsv, one character (default , for csv, "
                                                    "tab for tsv)")
    header: bool | None = Field(None, description="whether delimited text has a header line (default true, "
                                                      "or false where names are given)")
    names: list[str] | None = Field(None, description="the column names, instead of the header's (with header "
                                                             "true) or of a file without header")
    quote: str | None = Field(None, description="quote character of delimited text: default \"; '' for no quoting "
                                                "(a quote is then data)")
    max_line_bytes: int | None = Field(None, description=f"a text file with a longer line is refused "
                                                     f"(default {MAX_LINE_BYTES})")
    encoding: str | None = Field(None, description="of text files: default utf-8; latin-1, cp1252, ... (any Python "
                                                   "codec)")
    min_timestamp: str | None = Field(None, description="ISO time (without an offset: of timezone): earlier events "
                                                        "are rejected")
    max_timestamp: str | None = Field(None, description="ISO time (without an offset: of timezone): later events are "
                                                        "rejected")
    min_rating: float | None = Field(None, description="a lower rating is rejected (rating_out_of_range); a row "
                                                       "without a rating is kept")
    max_rating: float | None = Field(None, description="a higher rating is rejected (rating_out_of_range)")
    null_ids: list[str] | None = Field(None, description="texts that mean no value: as a user or item id "
                                                         "(missing_user, missing_item), a time (missing_timestamp) "
                                                         "or a rating (none), compared without case and outer "
                                                         f"spaces; default {', '.join(NULL_IDS)}; [] for none")
    max_rejected_share: float | None = Field(None, description="the expectations fail above it (default 0.05): the "
                                                               "share of a load's rows rejected for the reasons "
                                                               "without a share of their own")
    max_rejected_share_by_reason: dict[str, float] | None = Field(
        None, description="a share of their own for some rejection reasons, {reason: share} (a clickstream's "
                          "anonymous events: {missing_user: 0.4}); their rows count against it, not against "
                          "max_rejected_share")
    min_rows: int | None = Field(None, description="the expectations fail for a load with fewer accepted rows "
                                                   "(default 1); 0 lets an empty delivery through: a day "
                                                   "without events, or a day's file emptied to withdraw them")
    overwrite_day: bool | None = Field(None, description="a {date} source: a day's load withdraws the rows of the "
                                                         "files that earlier loads of the day read and that are gone "
                                                         "from disk (a writer that rewrites a day under new file "
                                                         "names, as Spark does); default false: they stay (an inbox "
                                                         "that moves loaded files away)")
    item_metadata_path: str | None = Field(None, description="item metadata: Parquet (.parquet) or delimited text "
                                                             "with item id, title and categories")
    item_metadata_item_column: str | None = Field(None, description="default item_id")
    item_metadata_title_column: str | None = Field(None, description="default title; '' for none")
    item_metadata_categories_column: str | None = Field(
        None, description="a list column or text split on item_metadata_categories_separator; default categories "
                          "(none when item_metadata_category_flags are given); '' for none")
    item_metadata_categories_separator: str | None = Field(None, description="default |")
    item_metadata_category_flags: list[str] | None = Field(
        None, description="0/1 columns: an item's categories are those of its columns that hold 1")
    item_metadata_category_names: dict[str, str] | None = Field(
        None, description="category of a flag column, {column: category} (default: the column's name)")
    item_metadata_delimiter: str | None = Field(None, description="one character; default ,")
    item_metadata_header: bool | None = Field(None, description="whether the file has a header line "
                                                                    "(default true, or false where names are given)")
    item_metadata_names: list[str] | None = Field(None, description="the column names, instead of the header's "
                                                                    "(with header true) or of a file without header")
    item_metadata_encoding: str | None = Field(None, description="default utf-8; latin-1 for MovieLens' u.item")
    item_metadata_quote: str | None = Field(None, description="default \"; '' for no quoting")
    synthetic_users: int | None = Field(None, description="default 5000")
    synthetic_items: int | None = Field(None, description="default 1000")
    synthetic_intents: int | None = Field(None, description="default 8")
    synthetic_seed: int | None = Field(None, description="default 0")

    def resolved(self, file_settings: Mapping[str, Any]) -> "SourceSettings":
        """Every field set: this run's value where given, else the source settings file's, else the default.
        Raises ValueError for a setting of the file that is no field (a typo must not pass silently), for a
        ``path`` without a format that reads it (the default, synthetic, loaded demo data in its place: helper-187),
        and for a value outside its bounds (checked here, where the caller names the run config and the file: a
        bound on the field would fail when Dagster builds the run config, naming neither)."""
        if unknown := sorted(set(file_settings) - set(SourceSettings.model_fields)):
            built = [name for name in unknown if name in SequenceSettings.model_fields]  # event_types, k_core, ...
            hint = did_you_mean(unknown, SourceSettings.model_fields, not_for=built)
            raise ValueError(f"unknown source setting(s) {unknown}{hint}; known: {sorted(SourceSettings.model_fields)}"
                             + (f"; {', '.join(built)}: how the sequences are built, not what the source holds: "
                                f"give {'them' if len(built) > 1 else 'it'} in the run config, "
                                "ops.interaction_sequences.config" if built else ""))
        given = {name: value for name, value in self.model_dump().items() if value is not None}
        if refusal := path_without_format({**file_settings, **given}):
            raise ValueError(refusal)
        settings = SourceSettings(**{**_SOURCE_DEFAULTS, **file_settings, **given})
        if problems := settings.value_problems():  # here, not in the fields: the error names the origin
            raise ValueError("; ".join(problems))
        return settings

    def value_problems(self) -> list[str]:
        """The values set that are out of their bounds (``min_rows = -1: must be 0 or more``) or none of their
        choices (``format``, ``timestamp_format``, ``timezone``, the reasons of ``max_rejected_share_by_reason``);
        unset ones pass."""
        values = {name: getattr(self, name) for name in _SOURCE_BOUNDS if getattr(self, name) is not None}
        problems = [f"{name} = {value!r}: must be {low} or more" + (f", at most {high}" if high else "")
                    for name, value in values.items() for low, high in [_SOURCE_BOUNDS[name]]
                    if value < low or (high is not None and value > high)]
        problems += reason_share_problems(self.max_rejected_share_by_reason or {})
        if self.format is not None and self.format not in SourceFormat.__args__:
            problems.append(f"format = {self.format!r}: one of {', '.join(SourceFormat.__args__)}")
        timestamps = timestamp_format_problem(self.timestamp_format) if self.timestamp_format is not None else None
        zone = timezone_problem(self.timezone) if self.timezone is not None else None
        return problems + [problem for problem in (timestamps, zone) if problem]

    def origin(self, file: Path | None) -> str:
        """Where these (unresolved) settings come from, for an error about them: the source settings ``file``,
        this run's config naming the fields it sets (over the file, if any), or the defaults."""
        given = [name for name, value in self.model_dump().items() if value is not None]
        run = f"run config ({', '.join(given)})" if given else ""
        return " over ".join(filter(None, (run, str(file or "")))) or "the defaults"

    def source_config(self, partition: str, storage: Storage, extra_dirs: Sequence[Path] = ()) -> SourceConfig:
        """The partition's source (of resolved settings); its path is checked by :meth:`Storage.input_path`,
        which also allows ``extra_dirs``. Raises ValueError naming ``user_column`` or ``item_column`` where it is
        empty (unlike ``timestamp_column``, whose '' means a source without times)."""
        for key in ("user_column", "item_column"):
            if not str(getattr(self, key)).strip():
                raise ValueError(f"{key} is empty: name the file's column (default {_SOURCE_DEFAULTS[key]})")
        columns = ColumnMap(self.user_column, self.item_column, self.timestamp_column or None, self.rating_column,
                            self.event_type_column)
        synthetic = SyntheticConfig(n_users=self.synthetic_users, n_items=self.synthetic_items,
                                    n_intents=self.synthetic_intents, seed=self.synthetic_seed)
        path = storage.input_path(self.path.replace("{date}", partition), extra_dirs,
                                  missing=lambda: missing_day_advice(str(self.path), partition)) if self.path else None
        names = tuple(self.names) if self.names else None
        return SourceConfig(format=self.format, path=path, columns=columns, timestamp_format=self.timestamp_format,
                            delimiter=self.delimiter, header=self.header, names=names, quote=self.quote or None,
                            max_line_bytes=self.max_line_bytes, encoding=self.encoding, timezone=self.timezone,
                            synthetic=synthetic)

    def row_rules(self) -> RowRules:
        """The row rules of these settings; the time window in naive UTC, as the events' times (a bound without an
        offset is a local time of ``timezone``, as the events' times). Raises ValueError naming ``min_timestamp`` or
        ``max_timestamp`` for a value that is no ISO 8601 time."""
        window = [naive_utc(name, getattr(self, name), self.timezone) for name in ("min_timestamp", "max_timestamp")]
        return RowRules(min_timestamp=window[0], max_timestamp=window[1], min_rating=self.min_rating,
                        max_rating=self.max_rating,
                        null_ids=NULL_IDS if self.null_ids is None else tuple(self.null_ids))

    def item_metadata(self, storage: Storage, extra_dirs: Sequence[Path] = ()) -> ItemMetadataConfig | None:
        """The item metadata source, if any; its path is checked by :meth:`Storage.input_path`. Raises
        ValueError for settings that do not fit together (such as a category name for a column that is no
        flag)."""
        if not self.item_metadata_path:
            return None
        s = self.resolved({})  # the defaults of settings not given (a no-op for resolved settings)
        flags = list(s.item_metadata_category_flags or [])
        names = dict(s.item_metadata_category_names or {})
        if unknown := sorted(set(names) - set(flags)):
            raise ValueError(f"item_metadata_category_names name columns that are no category flags: {unknown}")
        categories = s.item_metadata_categories_column
        if categories is None:
            categories = None if flags else "categories"
        return ItemMetadataConfig(
            path=storage.input_path(s.item_metadata_path, extra_dirs, "item_metadata_path"),
            item=s.item_metadata_item_column,
            title=s.item_metadata_title_column or None, categories=categories or None,
            categories_separator=s.item_metadata_categories_separator, delimiter=s.item_metadata_delimiter,
            header=s.item_metadata_header, names=tuple(s.item_metadata_names) if s.item_metadata_names else None,
            encoding=s.item_metadata_encoding, quote=s.item_metadata_quote or None,
            category_flags={column: names.get(column, column) for column in flags} or None)

    def expectations(self) -> ExpectationConfig:
        """The raw events' checks: every user and item id present, and every timestamp, except where the source
        has none (``timestamp_column`` '', or the sequence format: one line of items per user, in order)."""
        timed = bool(self.timestamp_column) and self.format != "sequence"
        nulls = {"user_id": 0.0, "item_id": 0.0, "timestamp": 0.0 if timed else 1.0}
        return ExpectationConfig(min_rows=self.min_rows, max_null_rate=nulls, min_users=min(1, self.min_rows),
                                 min_items=min(1, self.min_rows), max_rejected_share=self.max_rejected_share,
                                 max_rejected_share_by_reason=dict(self.max_rejected_share_by_reason or {}))


# (lowest, highest or None) of the numbers among the source settings
_SOURCE_BOUNDS: dict[str, tuple[float, float | None]] = {
    "max_line_bytes": (1, None), "max_rejected_share": (0, 1), "min_rows": (0, None), "synthetic_users": (1, None),
    "synthetic_items": (1, None), "synthetic_intents": (1, None)}
_SOURCE_DEFAULTS: dict[str, Any] = {
    "format": "synthetic", "user_column": "user_id", "item_column": "item_id", "timestamp_column": "timestamp",
    "timestamp_format": "epoch_s", "quote": '"', "max_line_bytes": MAX_LINE_BYTES, "encoding": "utf-8",
    "max_rejected_share": 0.05, "min_rows": 1, "overwrite_day": False, "null_ids": list(NULL_IDS),
    "synthetic_users": 5000, "synthetic_items": 1000, "synthetic_intents": 8, "synthetic_seed": 0,
    "item_metadata_item_column": "item_id", "item_metadata_title_column": "title",
    "item_metadata_categories_separator": "|", "item_metadata_delimiter": ",",
    "item_metadata_encoding": "utf-8", "item_metadata_quote": '"',
}


class SequenceSettings(CheckedConfig):
    """Filters, de-duplication and k-core of the sequence building."""

    min_rating: float | None = Field(None, description="events with a lower rating, or none, are left out of the "
                                                       "sequences (kept in the warehouse); the source's min_rating "
                                                       "rejects rows instead")
    event_types: list[str] | None = Field(None, description="the event types modelled, compared without case and outer "
                                                            "spaces (Purchase is purchase); None: every event")
    dedupe: bool = Field(False, description="each user's first event of an item only (repeats left out)")
    k_core: int = Field(5, ge=0, description="iterative k-core of users and items; 0 turns it off")
    max_user_events: int | None = Field(None, ge=1, description="a user with more events (of the types modelled, "
                                                                "after dedupe) is left out of the sequences and "
                                                                "the lists, kept in the warehouse: bots, shared "
                                                                "accounts; default none")
    min_length: int = Field(1, ge=1, description="the expectations fail for a shorter sequence")
    max_length: int | None = Field(None, ge=1, description="the expectations fail for a longer sequence")
    keep_days: int = Field(14, ge=0, description="sequence folders of days more than this before the newest are "
                                                 "deleted once the gate has judged their day (the serving and "
                                                 "previous models' days are kept); 0 keeps every day")

    def sequence_config(self) -> SequenceConfig:
        types = tuple(self.event_types) if self.event_types is not None else None
        return SequenceConfig(min_rating=self.min_rating, event_types=types, dedupe=self.dedupe, k_core=self.k_core,
                              max_user_events=self.max_user_events)

    def expectations(self) -> ExpectationConfig:
        return ExpectationConfig(min_length=self.min_length, max_length=self.max_length)


class _PipelineTraining(CheckedConfig):
    """The run config of training that is the pipeline's own; :data:`TrainingSettings` adds the settings of the
    schema."""

    preset: str = Field("auto", description="auto (general with max_len, batch, intents, loss and an optimiser-step "
                                            "budget derived from the data; see elcrec_core/train/auto_preset.py), "
                                            "general, synthetic, or the paper's beauty, sports, toys, yelp")
    device: str | None = Field(None, description="cpu, cuda, ...; default: the device resource")
    warm_start: bool = Field(True, description="start from the serving model (the newest one trained on data up to "
                                               "this day) when there is one")
    warm_start_epochs: int | None = Field(None, ge=1, description="epoch budget of a warm-started run")
    nproc: int = Field(1, ge=1, description="training processes on this machine: more than 1 runs "
                                             "DistributedDataParallel (torch's launch API; gloo on CPU, NCCL with one "
                                             "GPU each); batch_size is per process")

    def experiment(self, device: str, warm: bool, seqs: Sequences | None = None,
                   log: Callable[[str], None] | None = None) -> ExperimentConfig:
        """The run's settings on ``device``: the preset with the settings given over it (checked by the schema:
        ValueError naming the field); preset ``auto`` derives its settings from ``seqs`` (ValueError without them)
        and logs them to ``log``."""
        values = {**self.model_dump(), "device": device}
        if warm and self.warm_start_epochs:
            values["epochs"] = self.warm_start_epochs
        model, train = overrides(values)
        return preset_experiment(self.preset, seqs, model, train, log)

    def checked(self) -> ExperimentConfig:
        """The settings checked before the day's data is read (a run's first steps): the preset's with the settings
        given over it; for ``auto``, its base preset's (the values it derives from the data change no check across
        fields). Raises ValueError naming an unknown preset and each wrong value (over ``auto``'s base preset where
        the preset is unknown), as :meth:`experiment` does."""
        model, train = overrides(self.model_dump())
        try:
            return preset_experiment(BASE_PRESET if self.preset == AUTO else self.preset, None, model, train)
        except ValueError as unknown:
            if self.preset in (AUTO, *preset_names()):
                raise
            try:  # the other values too, so that mending the preset does not reveal them one run later
                preset_experiment(BASE_PRESET, None, model, train)
            except ValueError as values:
                raise ValueError(f"{unknown}; {values}") from None
            raise


def _run_config_type(annotation: Any) -> Any:
    """A schema field's type as Dagster's config holds it: a choice as text (the schema checks it), a pair as a
    list."""
    if get_origin(annotation) is Literal:
        return str
    if get_origin(annotation) is tuple:
        return list[get_args(annotation)[0]]
    return annotation


def _run_config_description(setting: SettingField) -> str:
    literal = get_origin(setting.annotation) is Literal
    choices = f" (one of {', '.join(get_args(setting.annotation))})" if literal else ""
    return f"{setting.description}{choices}; the preset's value when not given"


TrainingSettings = create_model(
    "TrainingSettings", __base__=_PipelineTraining, __module__=__name__,
    __doc__="ELCRec hyper-parameters: a preset (``auto``, derived from the day's sequences, or one of "
            "elcrec_core/config/presets.toml) plus overrides, one field per setting of the schema "
            "(:func:`elcrec_core.config.settings.settings_fields`, named as ``elcrec train``'s flags).",
    **{setting.option: (_run_config_type(setting.annotation) | None,
                        Field(None, description=_run_config_description(setting)))
       for setting in settings_fields() if setting.option != "device"})


class EvaluationSettings(CheckedConfig):
    """What the evaluation report compares (always the new model beside the model that served before it)."""

    split: Literal["test", "valid"] = Field("test", description="test (leave-one-out, as the paper) or valid")


class ChallengerSettings(CheckedConfig):
    """What the day's candidate competes with (the baselines always: most popular, item transition, EASE)."""

    sasrec: bool = Field(True, description="train SASRec (ELCRec without its intent parts) with the candidate's "
                                           "settings and budget")
    ease_lambdas: list[float] = Field(list(EASE_LAMBDAS), description="EASE's L2 weights λ, one chosen on valid; "
                                                                      "fewer for a large catalogue (one fit of 18,000 "
                                                                      "items takes minutes and 10 GB)")


class ProfileSettings(CheckedConfig):
    """How the intent profiles are drawn."""

    map_method: Literal["pca", "tsne"] = Field("pca", description="the 2-D user map: pca (all users' directions, "
                                                                  "fast) or tsne (local neighbourhoods, on a sample)")
    map_sample: int = Field(3000, ge=2, description="users drawn on the map")


class PromotionSettings(CheckedConfig):
    """When a new model (the candidate) replaces the serving one."""

    tolerance: float = Field(0.002, ge=0, description="how far below the best model's validation NDCG@20 the "
                                                      "candidate (or the serving model) may be and still serve (a "
                                                      "newer candidate within the noise below the serving model: "
                                                      "below the best of the others)")


class RecommendationSettings(CheckedConfig):
    """The lists user_recommendations writes."""

    top_k: int = Field(20, ge=1, description="recommendations per user")
    active_days: int | None = Field(None, ge=1, description="recommend only items with an event (of the sequences' "
                                                            "event types) in this many days up to the day's end: "
                                                            "items still on offer, where they stop getting events "
                                                            "when they expire (listings, sold-out products); None: "
                                                            "every item the model knows")
