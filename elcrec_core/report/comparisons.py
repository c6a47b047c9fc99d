"""Models compared on the same users: per-user HR@k / NDCG@k from ranks, each model's headline figures with a
95% bootstrap interval, the paired differences of one model against the others, and the plain answer to "does
ELCRec pay here?" that the evaluation report prints (:mod:`elcrec_core.report.evaluation_report`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from elcrec_core.evaluate.ranking import SELECTION_METRIC, check_ranks, per_user, require_cutoff
from elcrec_core.evaluate.score_text import ScoreFormat, difference_text
from elcrec_core.evaluate.statistics import (
    FEWEST_USERS_FOR_AN_INTERVAL,
    RESAMPLES,
    Interval,
    bootstrap_mean,
)


def headline(ranks: Mapping[str, torch.Tensor], k: int = 20, n_boot: int = RESAMPLES) -> list[dict]:
    """HR@k and NDCG@k of each model with a 95% bootstrap interval over users (text; none from fewer than
    :data:`~elcrec_core.evaluate.statistics.FEWEST_USERS_FOR_AN_INTERVAL` users). Of a model with no target in its
    top k of n users, whose bootstrap gives [0, 0], Clopper-Pearson's for HR@k, [0, 1 - 0.025^(1/n)], which bounds
    NDCG@k too (a user's NDCG@k is at most their HR@k); of one that ranks every target first, its mirror,
    [0.025^(1/n), 1] (a user's NDCG@k is 1 where the target is first). Raises ValueError for k < 1, as
    :func:`paired_differences` does (it gave "HR@0": helper-193), or above the rank of a miss, and, naming the model,
    for ranks that are no vector of integers >= 0 or of no user (an evaluation of data where no user has the split's
    target gives none: "no values to bootstrap" named neither, helper-247)."""
    require_cutoff(k, "the cut-off k")
    rows = []
    for name, r in ranks.items():
        check_ranks(r, name)
        if not len(r):
            raise ValueError(f"{name}: no ranks, so no figure (no user of the data has the split's target)")
        row: dict = {"model": name}
        for metric, values in per_user(r, k).items():
            interval = bootstrap_mean(values, n_boot=n_boot)
            n, hit, every = len(values), bool(values.any()), bool((values == 1).all())
            row[metric] = interval.estimate
            row[f"{metric} 95% CI"] = (_too_few(n) if n < FEWEST_USERS_FOR_AN_INTERVAL else  # not [0, 0] nor [1, 1]
                                       f"[0.0000, {1 - 0.025 ** (1 / n):.4f}] (no hit)" if not hit else
                                       f"[{0.025 ** (1 / n):.4f}, 1.0000] (every target "
                                       f"{'hit' if metric.startswith('HR') else 'first'})" if every else
                                       f"[{interval.low:.4f}, {interval.high:.4f}]")
        rows.append(row)
    return rows


def _too_few(users: int) -> str:
    return f"none ({users} user{'s' if users != 1 else ''}; an interval needs {FEWEST_USERS_FOR_AN_INTERVAL})"


@dataclass(frozen=True)
class PairedDifference:
    """The ``reference`` model's mean per-user HR@k and NDCG@k minus ``model``'s, on the same ``users`` users,
    each with a 95% paired bootstrap interval (:func:`paired_differences`). From fewer than
    :data:`~elcrec_core.evaluate.statistics.FEWEST_USERS_FOR_AN_INTERVAL` users no interval is shown and no
    difference claimed: even when every user favours one model, a sign test cannot tell at the 95% level. Nor where
    neither model ranks any of their targets in its top k (``hits`` 0: a tiny shop whose targets are all items the
    users had before): the interval [0, 0] would read as certainty where nothing was measured (helper-197)."""

    reference: str
    model: str
    k: int
    hr: Interval
    ndcg: Interval
    users: int
    hits: int | None = None  # users whose target either model ranks in its top k (None: not counted)

    @property
    def enough_users(self) -> bool:
        return self.users >= FEWEST_USERS_FOR_AN_INTERVAL and self.hits != 0

    @property
    def verdict(self) -> str:
        """On NDCG@k only: "better" (the reference; the interval lies above 0), "worse" (below 0) or "level"
        (the interval holds 0, or too few users for one); "none" where no target is in either's top k."""
        if self.hits == 0:
            return "none"
        if not self.enough_users:
            return "level"
        return "better" if self.ndcg.low > 0 else "worse" if self.ndcg.high < 0 else "level"

    @property
    def intervals(self) -> dict[str, Interval]:
        """``{"HR@k": hr, "NDCG@k": ndcg}``."""
        return {f"HR@{self.k}": self.hr, f"NDCG@{self.k}": self.ndcg}

    def row(self, label: str, signed: bool = False) -> dict:
        """A table row for the model shown as ``label``: the differences (floats, or signed text such as +0.0012
        with ``signed``, for Markdown), their intervals (signed text) and the verdict on NDCG@k."""
        row: dict = {"model": label}
        for metric, interval in self.intervals.items():
            row[f"Δ{metric}"] = _signed(interval.estimate) if signed else interval.estimate
            row[f"Δ{metric} 95% CI"] = self.interval_text(interval)
        return row | {f"verdict (NDCG@{self.k})": self.verdict}

    def ndcg_text(self) -> str:
        """The NDCG@k difference and its interval as text: "+0.0019 [+0.0006, +0.0031]"."""
        return f"{_signed(self.ndcg.estimate)} {self.interval_text(self.ndcg)}"

    def interval_text(self, interval: Interval) -> str:
        """``interval`` (one of this difference's) as signed text "[+0.0006, +0.0031]", or "none (3 users; ...)"."""
        if self.hits == 0:
            return f"none (no target of the {self.users} users is in either model's top {self.k})"
        return _signed_interval(interval) if self.enough_users else _too_few(self.users)

    def to_dict(self) -> dict:
        """For report.json: ``{"HR@k": {"difference", "95ci": [low, high] or null (too few users, or no target in
        either model's top k)}, "NDCG@k": {...}, "verdict", "users"}``."""
        return {**{metric: {"difference": i.estimate, "95ci": [i.low, i.high] if self.enough_users else None}
                   for metric, i in self.intervals.items()}, "verdict": self.verdict, "users": self.users}


def _signed_interval(interval: Interval) -> str:
    return f"[{_signed(interval.low)}, {_signed(interval.high)}]"


def _signed(value: float) -> str:
    """``value`` with its sign (:func:`difference_text`): an interval bound of +0.00004 beside the verdict "better"
    reads "+0.000040", not "+0.0000"."""
    return difference_text(value, signed=True)


def paired_differences(ranks: Mapping[str, torch.Tensor], reference: str, k: int = 20,
                       n_boot: int = RESAMPLES) -> list[PairedDifference]:
    """``reference`` against every other model of ``ranks`` (name -> 0-based integer ranks [U] of the same U
    users, in the same order): the mean of the per-user differences of HR@k and NDCG@k, with a percentile
    bootstrap interval that resamples the users once for both models of a pair. Two models scored on the same
    users are compared more sharply this way than by their headline intervals, which ignore that the users are
    shared (a gain of +0.002 NDCG@20 on Beauty lies inside both models' intervals and is still clear when
    paired). Each comparison is at the 95% level: among several, one may come out "better" or "worse" by chance.

    Raises KeyError when ``reference`` is not in ``ranks``; ValueError, naming the model, for k < 1 or above the
    rank of a miss (:func:`~elcrec_core.evaluate.ranking.require_cutoff`), no users, ranks that are not a vector of
    non-negative integers, or rank vectors of different lengths.
    """
    require_cutoff(k, "the cut-off k")
    if reference not in ranks:
        raise KeyError(f"the reference model {reference!r} is not among the ranked models {sorted(ranks)}")
    users = len(ranks[reference])
    for name, r in ranks.items():
        check_ranks(r, name)
        if len(r) != users:
            raise ValueError(f"{name} was ranked for {len(r)} users, {reference} for {users}: a paired "
                             "comparison needs the same users")
        if users == 0:
            raise ValueError(f"{name}: no users to compare")
    base = per_user(ranks[reference], k)
    differences = []
    for name, r in ranks.items():
        if name != reference:
            other = per_user(r, k)
            hr, ndcg = (bootstrap_mean(base[m] - other[m], n_boot=n_boot) for m in (f"HR@{k}", f"NDCG@{k}"))
            hits = int(((base[f"HR@{k}"] > 0) | (other[f"HR@{k}"] > 0)).sum())
            differences.append(PairedDifference(reference, name, k, hr, ndcg, users, hits))
    return differences


def pays_answer(differences: list[PairedDifference], labels: Mapping[str, str], reference: str,
                ablation: str = "sasrec", valid: Mapping[str, float] | None = None, unlike: str | None = None) -> str:
    """A plain answer to "does ELCRec pay here?" from :func:`paired_differences` of the ELCRec model
    ``reference``: first against its own ablation (the same encoder and budget without the ELCRec parts, the model
    named ``ablation``), then against the other models, on NDCG@k. ``labels`` maps model names to the labels
    that people read. ``valid``: the promotion gate's validation NDCG@20 by model name, where known; a verdict
    "better" or "worse" against the ablation that the validation split contradicts (the ablation scored there at
    least as well, or no better) is said to be no settled gain or loss. ``unlike``: what else than the ELCRec parts
    tells the two apart (the next-item loss, where the settings gave ELCRec sampled softmax or BCE and the ablation
    full softmax), which the verdict then does not put on the intents alone. Raises ValueError for differences from
    another reference or at several cut-offs, KeyError naming a model without a label."""
    if any(d.reference != reference for d in differences) or len({d.k for d in differences}) > 1:
        raise ValueError(f"pays_answer needs the differences of {reference!r} at one cut-off")
    missing = sorted({reference, *(d.model for d in differences)} - set(labels))
    if missing:
        raise KeyError(f"no label for {', '.join(missing)}")
    by_name = {d.model: d for d in differences}
    parts = []
    if ablation in by_name:
        d = by_name[ablation]
        note = _valid_disagrees(d, labels, valid or {})
        meaning = ({"better": "the learned intents pay on this data",
                    "level": "the learned intents neither help nor hurt measurably on this data",
                    "worse": "the learned intents cost accuracy on this data"}[d.verdict] if d.enough_users
                   else f"neither ranks any test target in its top {d.k}, so nothing tells what the learned intents "
                   "are worth" if d.hits == 0 else "too few test users to tell what the learned intents are worth")
        if note is not None:  # no claim for the data: the test users' verdict alone
            meaning = f"the learned intents did {d.verdict} on these test users"
        if d.enough_users and d.hr.low == d.hr.high == d.ndcg.low == d.ndcg.high == 0:  # (helper-199)
            meaning = (f"the two rank every test user's target alike at NDCG@{d.k}: nothing tells them apart here "
                       "(one untrained network, or the same?)")
        if unlike is not None and d.enough_users:  # not the intents alone
            meaning = f"not the learned intents' alone: {unlike}, so the loss differs as well as the intents"
        parts.append(f"Against its own ablation, {labels[ablation]}: {d.verdict} (NDCG@{d.k} "
                     f"{_signed(d.ndcg.estimate)}, 95% paired interval {d.interval_text(d.ndcg)}): {meaning}.")
        if note is not None:
            parts.append(note)
    else:
        parts.append("No ablation without the ELCRec parts was ranked, so the intents' own share is not measured.")
    others = [d for d in differences if d.model != ablation]
    k = others[0].k if others else 0  # none too: such models were left unsaid (helper-198)
    standings = [phrase.format(_listed([labels[d.model] for d in others if d.verdict == verdict]))
                 for verdict, phrase in (("better", "better than {}"), ("level", "level with {}"),
                                         ("worse", "worse than {}"),
                                         ("none", f"not measured against {{}} (no target in either's top {k})"))
                 if any(d.verdict == verdict for d in others)]
    unmeasured = bool(differences) and all(d.hits == 0 for d in differences)  # no model ranks any target
    if standings and not unmeasured:  # the sentence below says it
        parts.append(f"On NDCG@{others[0].k} (paired), {labels[reference]} is {'; '.join(standings)}.")
    if unmeasured:
        parts.append(f"No model ranks any of the {differences[0].users} test users' targets in its top "
                     f"{differences[0].k}, so no difference is measured.")
    elif differences and differences[0].users < FEWEST_USERS_FOR_AN_INTERVAL:
        parts.append(f"With {differences[0].users} test user{'s' if differences[0].users != 1 else ''} no difference "
                     f"is claimed: even if all of them favoured one model, a sign test could not tell at the 95% "
                     f"level (that needs {FEWEST_USERS_FOR_AN_INTERVAL}).")
    return " ".join(parts)


def validation_agrees(d: PairedDifference, valid: Mapping[str, float]) -> bool | None:
    """Whether the validation scores in ``valid`` (the promotion gate's NDCG@20 by model name) bear out the test
    verdict of ``d``: True where it is "better" and the reference scored above the other model there, or "worse"
    and below; False where they point the other way or are equal; None where the verdict is "level" or "none", or a
    score is missing or NaN (nothing to bear out, or no figure to tell)."""
    if d.verdict in ("level", "none") or d.reference not in valid or d.model not in valid:
        return None
    ours, theirs = valid[d.reference], valid[d.model]
    if math.isnan(ours) or math.isnan(theirs):  # no validation user
        return None
    return ours != theirs and (ours > theirs) == (d.verdict == "better")


def _valid_disagrees(d: PairedDifference, labels: Mapping[str, str], valid: Mapping[str, float]) -> str | None:
    """Where the verdict of ``d`` (ELCRec against its ablation, on test) is "better" or "worse" and the
    validation scores in ``valid`` point the other way or are equal, a sentence that says so; else None."""
    if validation_agrees(d, valid) is not False:
        return None
    fmt = ScoreFormat.of(valid.values())  # as the gate's reason and table print them
    return (f"On the validation split, on which the promotion gate decides, {labels[d.model]} scored "
            f"{fmt(valid[d.model])} against {labels[d.reference]}'s {fmt(valid[d.reference])}: the validation split "
            f"does not bear the test verdict out, so this is no settled {'gain' if d.verdict == 'better' else 'loss'}"
            " (a single comparison at the 95% level, and near-equal models trade places from one split to the "
            "other).")


def gate_table(scores: Mapping[str, float], non_finite: Mapping[str, int], serves: str | None,
               labels: Mapping[str, str]) -> list[dict]:
    """The report's rows of a promotion gate's decision (``decision.json``'s ``scores``: validation NDCG@20 by role;
    ``non_finite``: users with a NaN or infinite score by role; ``serves``: the role that serves), ``labels`` naming
    each role: best first, a NaN score (no validation user) last as a float (the table's "no figure"), then each
    role without a score. Scores print as the gate's reason prints them (:class:`ScoreFormat`: two that differ
    differ, 0.254612 and 0.254559, not 0.2546 twice). Raises KeyError for a role without a label."""
    fmt = ScoreFormat.of(scores.values())
    rows = [{"model": labels[role], f"valid {SELECTION_METRIC}": score if math.isnan(score) else fmt(score),
             "serves": "yes" if role == serves else ""}
            for role, score in sorted(scores.items(), key=lambda item: (math.isnan(item[1]), -item[1]))]
    return rows + [{"model": labels[role], f"valid {SELECTION_METRIC}": f"none: {n} users get NaN or infinite scores",
                    "serves": ""} for role, n in non_finite.items() if n]


def _listed(names: list[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
