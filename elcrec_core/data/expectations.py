"""Data-set expectations (Great Expectations 1.x): :func:`expect_interactions` and :func:`expect_sequences` run
suites over a load's accepted events (and its share of rejected rows, :class:`~elcrec_core.data.validation.RowCheck`)
and over the built sequences, and return a plain :class:`ExpectationReport` that asset checks can show."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import polars as pl

from elcrec_core.config.field_types import check_field_types
from elcrec_core.data.validation import REASONS, RowCheck


# rejection reasons of rows that hold no data, bounded by no share unless max_rejected_share_by_reason gives one
UNBOUNDED: tuple[str, ...] = ("empty_row",)


@dataclass(frozen=True)
class ExpectationConfig:
    """Data-set thresholds. ``max_null_rate`` per column (set timestamp to 1.0 for sources without times).
    ``max_rejected_share`` bounds the share of a load's rows rejected for any reason but those of
    ``max_rejected_share_by_reason``, each of which has a share of its own (``{"missing_user": 0.4}``: a
    clickstream's anonymous events). Raises ValueError for a reason that is none of
    :data:`~elcrec_core.data.validation.REASONS`, or a share outside [0, 1]."""

    min_rows: int = 1
    max_null_rate: Mapping[str, float] = field(
        default_factory=lambda: {"user_id": 0.0, "item_id": 0.0, "timestamp": 0.0})
    min_users: int = 1
    min_items: int = 1
    max_rejected_share: float = 0.05
    max_rejected_share_by_reason: Mapping[str, float] = field(default_factory=dict)
    min_length: int = 1
    max_length: int | None = None

    def __post_init__(self) -> None:
        check_field_types(self)
        share = [] if 0 <= self.max_rejected_share <= 1 else [
            f"max_rejected_share = {self.max_rejected_share!r}: must be 0 or more, at most 1"]
        if problems := share + reason_share_problems(self.max_rejected_share_by_reason):
            raise ValueError("; ".join(problems))


def reason_share_problems(shares: Mapping[str, float]) -> list[str]:
    """What is wrong with the setting ``max_rejected_share_by_reason`` (a reason that is no rejection reason, a
    share outside [0, 1]); none where it is right."""
    unknown = sorted(set(shares) - set(REASONS))
    return ([f"max_rejected_share_by_reason names no rejection reason: {', '.join(unknown)} (the reasons: "
             f"{', '.join(REASONS)})"] if unknown else []) + [
        f"max_rejected_share_by_reason.{reason} = {share!r}: must be 0 or more, at most 1"
        for reason, share in shares.items() if not isinstance(share, (int, float)) or not 0 <= share <= 1]


@dataclass
class ExpectationOutcome:
    """One expectation's result: the observed value of an aggregate expectation, or for a per-row one the
    number of rows that break it (``unexpected_count``)."""

    expectation: str
    column: str | None
    success: bool
    observed: Any
    unexpected_count: int | None
    kwargs: dict[str, Any]
    setting: str | None = None  # the setting that gives the threshold, where one does (min_rows, max_length, ...)


@dataclass
class ExpectationReport:
    """The outcome of one suite: overall success and one entry per expectation (JSON-ready via ``to_dict``)."""

    suite: str
    success: bool
    outcomes: list[ExpectationOutcome]

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def expect_interactions(events: pl.DataFrame, check: RowCheck,
                        config: ExpectationConfig = ExpectationConfig()) -> ExpectationReport:
    """Row count, null rates, distinct users and items of the accepted ``events``; the rejected shares of the
    load that ``check`` describes (usually ``events`` is ``check.accepted``): ``rejected_share`` of the reasons
    without a share of their own, ``<reason>_share`` of each that has one. The null rates of no rows are not
    checked (no value is null): ``min_rows`` decides whether an empty load passes."""
    import great_expectations as gx

    event_checks = [
        gx.expectations.ExpectTableRowCountToBeBetween(min_value=config.min_rows, meta={"setting": "min_rows"}),
        *(gx.expectations.ExpectColumnProportionOfNonNullValuesToBeBetween(column=c, min_value=1.0 - rate)
          for c, rate in config.max_null_rate.items() if len(events)),
        gx.expectations.ExpectColumnUniqueValueCountToBeBetween(column="user_id", min_value=config.min_users),
        gx.expectations.ExpectColumnUniqueValueCountToBeBetween(column="item_id", min_value=config.min_items),
    ]
    own = config.max_rejected_share_by_reason
    load = pl.DataFrame({name: [share] for name, (share, _) in rejected_shares(check.by_reason, check.rows_in,
                                                                                config).items()})
    load_checks = [gx.expectations.ExpectColumnMaxToBeBetween(
        column="rejected_share", max_value=config.max_rejected_share, meta={"setting": "max_rejected_share"}),
        *(gx.expectations.ExpectColumnMaxToBeBetween(
            column=f"{reason}_share", max_value=share, meta={"setting": f"max_rejected_share_by_reason.{reason}"})
          for reason, share in own.items())]
    return _run_suite("interactions", [
        ("events", events.select(sorted({*config.max_null_rate, "user_id", "item_id"})), event_checks),
        ("load", load, load_checks),
    ])


def rejected_shares(by_reason: Mapping[str, int], rows_in: int,
                    config: ExpectationConfig) -> dict[str, tuple[float, float]]:
    """The shares of a load's ``rows_in`` rows rejected (counts ``by_reason``) that ``config`` bounds, each with its
    bound: ``rejected_share``, of the reasons without a share of their own (``max_rejected_share``), and
    ``<reason>_share`` for each reason of ``max_rejected_share_by_reason``. Rows of the reasons :data:`UNBOUNDED`
    (the empty rows of a spreadsheet's export, ``;;;;``) are left out of ``rejected_share``, rejected and rows alike
    (as empty lines, which are no rows), unless ``max_rejected_share_by_reason`` gives them a share of their own."""
    own, rows = config.max_rejected_share_by_reason, max(rows_in, 1)
    judged = {reason: n for reason, n in by_reason.items() if reason not in own and reason not in UNBOUNDED}
    others = max(rows_in - unbounded_rows(by_reason, config), 1)
    return {"rejected_share": (sum(judged.values()) / others, config.max_rejected_share),
            **{f"{reason}_share": (by_reason.get(reason, 0) / rows, share) for reason, share in own.items()}}


def unbounded_rows(by_reason: Mapping[str, int], config: ExpectationConfig | None = None) -> int:
    """The rows of the counts ``by_reason`` that no share bounds: those of the reasons :data:`UNBOUNDED` (empty
    rows) that ``config`` gives no share of their own; :func:`rejected_shares` leaves them out of the load's rows."""
    own = config.max_rejected_share_by_reason if config is not None else {}
    return sum(n for reason, n in by_reason.items() if reason in UNBOUNDED and reason not in own)


def expect_sequences(per_user: pl.DataFrame, config: ExpectationConfig = ExpectationConfig()) -> ExpectationReport:
    """Sequence lengths within bounds and timestamps non-decreasing within every user's ordered sequence.

    ``per_user`` has one row per user with ``length`` and ``timestamps_monotonic`` (see
    :meth:`elcrec_core.data.events_to_sequences.SequenceBuild.profile`)."""
    import great_expectations as gx

    checks = [
        gx.expectations.ExpectTableRowCountToBeBetween(min_value=1),
        gx.expectations.ExpectColumnValuesToBeBetween(column="length", min_value=config.min_length,
                                                      max_value=config.max_length,
                                                      meta={"setting": "min_length and max_length"}),
        gx.expectations.ExpectColumnValuesToBeInSet(column="timestamps_monotonic", value_set=[True]),
    ]
    return _run_suite("sequences", [("sequences", per_user.select("length", "timestamps_monotonic"), checks)])


def _run_suite(name: str, batches: list[tuple[str, pl.DataFrame, list[Any]]]) -> ExpectationReport:
    """Validate each (asset name, frame, expectations) with an ephemeral GX context."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas(name)
    outcomes = []
    for asset_name, frame, expectations in batches:
        definition = source.add_dataframe_asset(name=asset_name).add_batch_definition_whole_dataframe(asset_name)
        suite = context.suites.add(gx.ExpectationSuite(name=f"{name}.{asset_name}", expectations=expectations))
        validation = context.validation_definitions.add(
            gx.ValidationDefinition(name=f"{name}.{asset_name}", data=definition, suite=suite))
        for result in validation.run(batch_parameters={"dataframe": frame.to_pandas()}).results:
            cfg = result.expectation_config
            kwargs = {k: _plain(v) for k, v in cfg.kwargs.items() if k != "batch_id"}
            outcomes.append(ExpectationOutcome(
                cfg.type, kwargs.get("column"), bool(result.success), _plain(result.result.get("observed_value")),
                _plain(result.result.get("unexpected_count")), kwargs, (cfg.meta or {}).get("setting")))
    return ExpectationReport(name, all(o.success for o in outcomes), outcomes)


def _plain(value: Any) -> Any:
    """numpy scalars and lists or tuples of them as plain Python values (GX's observed values and settings)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
