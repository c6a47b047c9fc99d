"""The promotion gate: may a newly trained model (the candidate) replace the model that serves?

A pure function of the two models and the day's sequences: the pipeline's ``candidate_gate`` check reports it
and the ``serving_model`` asset applies it, so both always agree and the check changes nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from elcrec_core.evaluation import SELECTION_METRIC, evaluate, non_finite_users
from elcrec_core.model import ELCRec
from elcrec_core.sequences import SequenceTensors


@dataclass(frozen=True)
class GateDecision:
    """The verdict on a candidate. Scores are validation NDCG@20 of both models on the same users (None where a
    model is absent); ``non_finite_users`` counts validation users with a NaN or infinite item score."""

    promote: bool
    reason: str
    candidate_score: float
    serving_score: float | None
    tolerance: float
    non_finite_users: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def gate(candidate: ELCRec, candidate_day: str, serving: ELCRec | None, serving_day: str | None,
         data: SequenceTensors, tolerance: float) -> GateDecision:
    """Decide whether ``candidate`` (trained on ``candidate_day``'s data) replaces ``serving`` (trained on
    ``serving_day``'s), both scored on the validation split of ``data``. In order, the candidate is refused when
    any validation user gets a non-finite score, when it was trained on an older day than the serving model,
    or when its validation NDCG@20 is below the serving model's by more than ``tolerance``; otherwise (and
    always when nothing serves yet) it is promoted."""
    bad = non_finite_users(candidate, data, "valid")
    score = evaluate(candidate, data, "valid")[SELECTION_METRIC]
    old = evaluate(serving, data, "valid")[SELECTION_METRIC] if serving is not None else None

    def verdict(promote: bool, reason: str) -> GateDecision:
        return GateDecision(promote, reason, score, old, tolerance, bad)

    if bad:
        return verdict(False, f"refused: {bad} validation users get a NaN or infinite score")
    if serving_day is not None and candidate_day < serving_day:
        return verdict(False, f"refused: trained on {candidate_day}, older than the serving model's day "
                              f"{serving_day} (an older day never replaces a newer model)")
    if old is None:
        return verdict(True, "promoted: no model served before")
    if score >= old - tolerance:
        return verdict(True, f"promoted: validation {SELECTION_METRIC} {score:.4f} against the serving model's "
                             f"{old:.4f} (tolerance {tolerance:g})")
    return verdict(False, f"refused: validation {SELECTION_METRIC} {score:.4f} is below the serving model's "
                          f"{old:.4f} by more than the tolerance {tolerance:g}")
