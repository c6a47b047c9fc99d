"""``decision.json`` read back: the promotion gate's refusal of a candidate from a decision of any version (one
written before decisions kept ``refusal`` says it in its reason alone)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

REFUSED = "refused: "  # how a refusal's reason begins


def stored_refusal(decision: Mapping[str, Any]) -> str | None:
    """Why the gate refused the candidate of ``decision`` (a ``decision.json``'s dict: ``GateDecision.to_dict``),
    its ``refusal``; None where the candidate was not refused. A decision written before it kept ``refusal``
    (helper-274) gives its reason's words after "refused: " up to the first "; " outside brackets (what serves
    instead follows it), None where its reason is no refusal."""
    if "refusal" in decision:
        return decision["refusal"]
    reason = str(decision.get("reason") or "")
    if not reason.startswith(REFUSED):
        return None
    words, depth = reason[len(REFUSED):], 0
    for at, char in enumerate(words):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and words.startswith("; ", at):
            return words[:at]
    return words
