"""The promotion gate, champion / challenger: which model serves after a new one (the candidate) is trained?

The contenders are the candidate, the model that serves now (the champion) and the challengers trained or fitted beside
the candidate on the same data (SASRec, most popular, item transition, EASE); each is scored on the validation split of
the day's sequences (NDCG@20, the models' selection metric). The candidate serves only when every validation user's
scores are finite, it was not trained on an older day than the champion (nor than the newest day whose gate kept or
chose the champion: a day run again after newer days changes nothing), its score beats most-popular and is within
``tolerance`` of the best contender's; otherwise the champion keeps serving when it meets the same conditions, else the
best challenger serves (a baseline may serve). Where the best is the champion, a candidate of a newer day than the
champion's whose score is below it by no more than the noise (:data:`NOISE` paired standard errors over the validation
users) is judged against the best of the others instead: the champion's score is on validation targets that its own
training was chosen on (a lucky score kept a trial's model serving for five days while each newer candidate, level or
better on test, was refused), and it lacks the newer events and items. So is a candidate of the champion's own day
trained on that day's sequences since they changed (a corrected or late delivery, its day run again: the champion,
trained before, lacks the change). A trained champion of sequences built with other sequence settings
(:func:`~elcrec_core.serve.training_data.other_settings`: its training items may be the candidate's validation targets,
so its score is no measure) is left out, as a withdrawn one is: the day's models alone are judged. Its day run again on
the sequences it trained on (the same digest), a trained champion that meets the conditions itself (fit, within the
tolerance of the best or within the noise of it) serves on unless the candidate is above it by more than the noise:
each trained on what it trained on, so a smaller gap is chance. Most popular, the floor, may always serve, also as the
champion (a most-popular model that serves ties the floor, and is fit all the same). Without most popular among the
challengers there is no floor: the pipeline's ``serving_model`` refuses to judge a candidate whose challengers lack it.
The older-day rule protects a champion only while it is fit for the day's data (finite scores that beat most popular):
a model that fails there, such as one trained on another source before a team described its own, never keeps serving,
whatever its day. A model that ``elcrec rollback`` withdrew (``withdrawn``) may not serve again until a rollback
restores it, except most popular, the floor. A pure function of the contenders and the data: the pipeline's
``promotion_gate`` check reports the decision and the ``serving_model`` asset applies it, so both always agree and the
check changes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from elcrec_core.data.sequences import SequenceTensors
from elcrec_core.evaluate.baselines import MostPopular
from elcrec_core.evaluate.ranking import SELECTION_METRIC, metrics_from_ranks
from elcrec_core.evaluate.score_text import ScoreFormat
from elcrec_core.evaluate.scoring import Recommender, ranks_and_non_finite
from elcrec_core.serve.model_store import ModelRecord
from elcrec_core.serve.recommenders import with_recipe
from elcrec_core.serve.training_data import newer_data, other_settings, same_data, sequences_words, serving_on_note
from elcrec_core.serve.validation_gap import NOISE, gap_text, noise, noise_text, paired_gap, tolerance_text

CANDIDATE, CHAMPION, FLOOR = "candidate", "serving", "most_popular"
CHALLENGER_NAMES = {"sasrec": "SASRec", "most_popular": "most popular", "transition": "item transition",
                    "ease": "EASE", "item_knn": "item-kNN"}  # how a reason names each challenger's role


@dataclass(frozen=True)
class Contender:
    """A model that may serve: ``role`` is ``candidate``, ``serving`` (the champion) or the challenger's name
    (``sasrec``, ``most_popular``, ``transition``, ``ease``, ``item_knn``); ``recommender`` is fitted on the training
    part (items[:-2]) as the candidate was trained. ``valid_ranks``, where given, stand for the recommender: its
    ranks of the validation targets and the users with a non-finite score, as its fit on the same data stored them
    (:func:`elcrec_core.serve.challengers.stored_ranks`); raises ValueError without either."""

    role: str
    record: ModelRecord
    recommender: Recommender | None
    valid_ranks: tuple[torch.Tensor, int] | None = None

    def __post_init__(self) -> None:
        if self.recommender is None and self.valid_ranks is None:
            raise ValueError(f"the contender {self.role} needs a recommender or its validation ranks")

    def ranks(self, data: SequenceTensors) -> tuple[torch.Tensor, int]:
        """The ranks of the validation targets of ``data`` and the users with a non-finite score."""
        if self.recommender is None:
            return self.valid_ranks  # given (__post_init__)
        return self.valid_ranks or ranks_and_non_finite(self.recommender, data, "valid")


@dataclass(frozen=True)
class GateDecision:
    """The verdict. ``promote``: the candidate serves. ``serves``: the role of the model that serves after the
    decision (None: none, when nothing served before and the candidate is refused without a challenger).
    ``scores``: validation NDCG@20 of each finite contender by role; ``non_finite``: validation users with a NaN
    or infinite score, by role. ``refusal``: why the candidate may not serve, the reason's words after "refused: "
    up to what serves instead (where no contender may serve: why the candidate may not); None where it serves."""

    promote: bool
    serves: str | None
    serving: ModelRecord | None
    reason: str
    scores: dict[str, float]
    non_finite: dict[str, int]
    tolerance: float
    refusal: str | None = None

    @property
    def candidate_score(self) -> float | None:
        """The candidate's validation NDCG@20 (None where it has no finite score or was not judged)."""
        return self.scores.get(CANDIDATE)

    @property
    def serving_score(self) -> float | None:
        """The champion's validation NDCG@20 (None when nothing served before, or its scores are not finite)."""
        return self.scores.get(CHAMPION)

    @property
    def non_finite_users(self) -> int:
        """The candidate's validation users with a non-finite score."""
        return self.non_finite.get(CANDIDATE, 0)

    def to_dict(self) -> dict[str, Any]:
        """``decision.json``'s dict: the fields, the three properties, the serving record's dict."""
        return {"promote": self.promote, "serves": self.serves, "reason": self.reason, "refusal": self.refusal,
                "scores": self.scores,
                "non_finite": self.non_finite, "tolerance": self.tolerance, "candidate_score": self.candidate_score,
                "serving_score": self.serving_score, "non_finite_users": self.non_finite_users,
                "serving": self.serving.to_dict() if self.serving is not None else None}


def gate(candidate: Contender, champion: Contender | None, challengers: list[Contender], data: SequenceTensors,
         tolerance: float, withdrawn: frozenset[str] = frozenset(), judged: str | None = None) -> GateDecision:
    """Decide which of ``candidate``, ``champion`` (the serving model, None before the first promotion) and
    ``challengers`` serves, all scored on the validation split of ``data`` (see the module's rules, applied in
    the order candidate, champion, challengers by score). A candidate trained on an older day than the champion, or
    than ``judged`` (the newest day whose gate kept or chose the champion, on newer data: a gate that chose
    another model, since withdrawn by a rollback or of another source, does not count), changes nothing (an older
    day never replaces what a newer day's gate chose) unless the champion is unfit for ``data`` (non-finite
    scores, or not beating most popular); the reason then says so, as it names a champion of non-finite scores, left
    out (helper-234: unsaid). ``withdrawn``: the identities of the models that a rollback withdrew
    (:meth:`ModelStore.withdrawn`: a model trained again from one's recipe is it), unfit but for the floor. Raises
    ValueError when two contenders share a role, or for a negative ``tolerance`` (no model would be within it)."""
    if not tolerance >= 0:
        raise ValueError(f"the gate's tolerance must be >= 0, not {tolerance}")
    contenders = [candidate, *([champion] if champion is not None else []), *challengers]
    roles = [c.role for c in contenders]
    if len(set(roles)) != len(roles):
        raise ValueError(f"contenders need distinct roles, not {roles}")
    scored = {c.role: c.ranks(data) for c in contenders}  # one pass each
    non_finite = {role: bad for role, (_, bad) in scored.items()}
    finite = [c for c in contenders if not non_finite[c.role]]
    scores = {c.role: metrics_from_ranks(scored[c.role][0])[SELECTION_METRIC] for c in finite}
    floor, fmt = scores.get(FLOOR), ScoreFormat.of(scores.values())  # differing scores print differently

    def is_withdrawn(c: Contender) -> bool:
        return c.record.identity in withdrawn and FLOOR not in (c.role, c.record.kind)

    def unfit(c: Contender) -> str | None:
        """Why ``c`` may not serve on this data whatever the others score, or None."""
        if non_finite[c.role]:
            return f"{non_finite[c.role]} validation users get a NaN or infinite score"
        if is_withdrawn(c):
            again = ", or is trained again as one that was (the same recipe)" if c.record.recipe else ""
            return f"{c.record.name} was withdrawn by elcrec rollback{again} (roll back again to restore it)"
        if floor is not None and FLOOR not in (c.role, c.record.kind) and not scores[c.role] > floor:
            if not len(scored[c.role][0]):  # every metric NaN
                return ("no user has a validation target to judge it on (a user needs 3 items: items[:-2] to fit "
                        "on, a validation and a test target)")
            return f"validation {SELECTION_METRIC} {fmt(scores[c.role])} does not beat most popular's {fmt(floor)}"
        return None

    older = ""  # why an older day's candidate was judged after all (added to every reason)

    def decide(serves: Contender | None, reason: str, refusal: str | None = None) -> GateDecision:
        return GateDecision(serves is candidate, serves.role if serves else None,
                            serves.record if serves else None, reason + older, scores, non_finite, tolerance, refusal)

    newest = max(champion.record.day, judged or "") if champion is not None else ""
    if champion is not None and candidate.record.day < newest:
        day, by_champion = candidate.record.day, newest == champion.record.day
        than = f"the serving model's {newest}" if by_champion else f"{newest}, whose gate kept or chose it"
        if (champion_unfit := unfit(champion)) is not None:
            older = f" (the candidate's day {day} is older than {than}, but {_name(champion)} is unfit for this " \
                    f"data: {champion_unfit})"
        else:
            why = (f"trained on {day}, older than the serving model's day {newest} (an older day never replaces a "
                   "newer model; the serving model's validation score on this day may be on targets it trained on)"
                   if by_champion else f"trained on {day}, older than {newest}, whose gate kept or chose "
                   f"{_name(champion)} on newer data (an older day never replaces a newer day's choice)")
            return decide(champion, f"refused: {why}", why)

    # a champion trained on sequences built with other settings is no measure on these (its training items may be
    # their targets: after dedupe turned on, a trial's serving model scored 0.24 on them, against 0.01 on its own):
    # left out, as a withdrawn one is, so that the day's models alone are judged, whether or not the candidate is
    # fit (helper-188: behind a candidate with a NaN score it served on by its leaked score over a SASRec)
    unlike = champion in finite and not is_withdrawn(champion) and other_settings(champion.record, candidate.record)
    left_out = (f"; {_name(champion)} was left out: trained on sequences {sequences_words(champion.record)}, whose "
                "training items may be these sequences' targets, its score on them is no measure" if unlike else ""
                ) + (f"; {_name(champion)} was left out: {unfit(champion)}"  # but where all are: "every contender"
                     if non_finite.get(CHAMPION) and finite and not older else "")
    eligible = [c for c in finite if not is_withdrawn(c) and not (unlike and c is champion)]  # the best is one
    if not eligible:
        return decide(None, ("refused: every contender gives NaN or infinite scores" if not finite else
                             "refused: every contender with finite scores was withdrawn by elcrec rollback"
                             if not unlike else f"refused: {unfit(candidate)}; no other contender may serve")
                      + left_out, unfit(candidate))
    best = max(eligible, key=lambda c: scores[c.role])
    # a newer candidate within the noise below the champion is judged against the others: the champion's score is
    # on targets that its own training was chosen on, and it lacks the newer events and items
    fresher = (best is champion and candidate in eligible and newer_data(candidate.record, champion.record)
               and (gap := paired_gap(scored[CANDIDATE][0], scored[CHAMPION][0])) is not None
               and gap[0] <= NOISE * gap[1])
    rest = [c for c in eligible if c not in (champion, candidate)] + [candidate]  # a tie names the other
    against = max(rest, key=lambda c: scores[c.role]) if fresher else best
    # a trained champion's own day run again on the same sequences (not the same model judged again): every
    # contender trained on what it trained on, so what serves changes only for a model above it by more than the
    # noise (a trial's rerun replaced it so by a challenger level on validation and worse on test); a baseline that
    # served as a fallback gets no such hold
    rerun = (champion in eligible and champion.record.trained and candidate.record.dir != champion.record.dir
             and same_data(candidate.record, champion.record))

    def above_champion(c: Contender) -> tuple[float, float, int] | None:
        """How far ``c`` is above the champion (:func:`paired_gap`) where that is within the noise, else None."""
        gap = paired_gap(scored[CHAMPION][0], scored[c.role][0])
        return gap if gap is not None and gap[0] <= NOISE * gap[1] else None

    def fails(c: Contender) -> str | None:
        """Why ``c`` may not serve, or None."""
        if (why := unfit(c)) is not None:
            return why
        if rerun and c is champion and above_champion(best) is not None:
            return None
        top = against if c is candidate else best
        if scores[c.role] < scores[top.role] - tolerance:
            others = "" if top is best else " of the others (the serving model's score is within the noise above)"
            return (f"validation {SELECTION_METRIC} {fmt(scores[c.role])} is below the best{others}, {_name(top)}'s "
                    f"{fmt(scores[top.role])}, by more than the tolerance {tolerance:g}"
                    f"{noise(scored[c.role][0], scored[top.role][0])}")
        if (rerun and c is candidate and (gap := above_champion(candidate)) is not None
                and fails(champion) is None):  # the champion serves on: else the candidate, not a challenger
            return (f"validation {SELECTION_METRIC} {fmt(scores[CANDIDATE])} is not above the serving model "
                    f"{champion.record.name}'s {fmt(scores[CHAMPION])} by more than the noise, on the sequences it "
                    f"trained on (its day run again){gap_text(gap)}")
        return None

    why_not = fails(candidate)
    if why_not is None:
        level = [_name(c) for c in eligible if c is not candidate and scores[c.role] == scores[CANDIDATE]]
        def beside_it(c: Contender) -> str:  # one the candidate did not beat
            within = tolerance_text(scored[CANDIDATE][0], scored[c.role][0], tolerance)
            return f"{_name(c)} {fmt(scores[c.role])}{within}"
        of_others = f"; of the others: {beside_it(against)}" if against is not candidate else \
            "; it is the best of the others"
        beside = (f"; the best: {_name(best)} {fmt(scores[best.role])}, higher"
                  f"{noise_text(gap)}, and the newer model serves (the serving "
                  "model's score is on targets its training was chosen on, and it lacks "
                  + (f"the changes since it trained to the events up to {champion.record.day} (a corrected or "
                     "late delivery of a day)" if candidate.record.day == champion.record.day else "the newer events")
                  + ")" + of_others
                  if fresher else
                  f"; the best: {beside_it(best)}"
                  if best is not candidate else f"; level with {', '.join(level)}, the best of the others"
                  if level else "; it is the best of all")
        return decide(candidate, f"promoted: validation {SELECTION_METRIC} {fmt(scores[CANDIDATE])}" + (
            f" beats most popular {fmt(floor)}" if floor is not None else "") + beside + left_out)
    # never empty: the best eligible contender qualifies, or most popular when the best only ties with it
    others = [c for c in contenders[1:] if not (unlike and c is champion) and fails(c) is None]
    stays = champion if champion in others else max(others, key=lambda c: scores[c.role])
    held = (f"; {_name(best)}'s {fmt(scores[best.role])} is above it by no more than the noise{gap_text(gap)}, and "
            "on the sequences it trained on (its day run again) it serves on"
            if rerun and stays is champion and best not in (champion, candidate)
            and (gap := above_champion(best)) is not None else "")
    return decide(stays, f"refused: {why_not}; {_name(stays)} serves (validation {SELECTION_METRIC} "
                         f"{fmt(scores[stays.role])}{serving_on_note(candidate.record, stays.record)}{held})"
                         f"{left_out}", why_not)


def judge_alone(record: ModelRecord, recommender: Recommender, data: SequenceTensors) -> GateDecision:
    """The gate's rules for the model of ``record`` (``recommender``: fitted as :class:`Contender` says) judged
    against the floor alone on ``data`` (most popular, fitted on it as the pipeline's challenger is): its
    ``refusal`` says why the model may not serve whatever else is there (a validation user with a NaN or infinite
    score, validation NDCG@20 not above most popular's), None where it may; its ``scores`` hold the validation
    NDCG@20 of ``candidate`` (the model, where its scores are finite) and ``most_popular``. For ``elcrec rollback``,
    which restores a model without a gate: "nothing non-finite or worse than most popular serves" holds for it too."""
    floor = Contender(FLOOR, ModelRecord(record.day, FLOOR, "", kind=FLOOR), MostPopular().fit(data, "valid"))
    return gate(Contender(CANDIDATE, record, recommender), None, [floor], data, math.inf)


def below_floor(decision: Mapping[str, Any] | None) -> str:
    """Why the model that a gate's ``decision`` (``decision.json``: :meth:`ModelStore.decision`; None: none) judged
    as its candidate was unfit whatever else was there: no finite validation NDCG@20, or one not above most
    popular's; '' where it was fit or was not judged. Its intents are then no user's interests: the profiles and a
    rollback that take them say so (helper-194: an untrained candidate's, without a word)."""
    scores, non_finite = (decision or {}).get("scores") or {}, (decision or {}).get("non_finite") or {}
    if non_finite.get(CANDIDATE):  # the gate scores only a finite contender (helper-198: it was taken as fit)
        return f"{non_finite[CANDIDATE]} validation users get NaN or infinite scores from it"
    if CANDIDATE not in scores:
        return ""
    own, floor, fmt = scores[CANDIDATE], scores.get(FLOOR), ScoreFormat.of(scores.values())  # as its gate said
    if not isinstance(own, (int, float)) or not math.isfinite(own):
        return f"the gate found no finite validation {SELECTION_METRIC} for it"
    return (f"its validation {SELECTION_METRIC} {fmt(own)} does not beat most popular's {fmt(floor)}"
            if isinstance(floor, (int, float)) and not own > floor else "")


def _name(c: Contender) -> str:
    """How a reason names a contender: the champion by its record, a challenger by :data:`CHALLENGER_NAMES` (the
    role itself for another), each with a baseline's recipe (:func:`recipe_text`)."""
    return with_recipe(f"the serving model {c.record.name}" if c.role == CHAMPION
                       else CHALLENGER_NAMES.get(c.role, c.role), c.record)
