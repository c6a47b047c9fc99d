"""The users of a split that the metrics average over, as ``elcrec train``, ``evaluate`` and ``baselines`` say them:
how many have a target, and how many targets are items the user had before, which no model ranks."""

from __future__ import annotations

import sys

from elcrec_core.data.sequences import Sequences, SequenceTensors


def note_repeat_targets(data: SequenceTensors, split: str, fmt: str) -> None:
    """Say on stderr how many of the ``split`` targets of ``data`` are items the user had before, the bound on HR@K
    this puts, and how to leave such repeats out
    (:func:`~elcrec_core.report.evaluation_report.repeat_target_note`): ``--dedupe``, or, for the pipeline's
    sequences.parquet (``fmt`` "sequences-parquet", built already: --dedupe is refused there), the run config's
    dedupe. Nothing where no target is such a repeat. ``elcrec train`` says it too (helper-280: it did not)."""
    from elcrec_core.evaluate.ranking import eligible_users
    from elcrec_core.report.evaluation_report import RUN_CONFIG_DEDUPE, repeat_target_note, repeat_targets

    dedupe = RUN_CONFIG_DEDUPE if fmt == "sequences-parquet" else "--dedupe"
    if note := repeat_target_note(repeat_targets(data, eligible_users(data, split), split), split, dedupe):
        print(note, file=sys.stderr, flush=True)


def require_targets(name: str, seqs: Sequences, data: SequenceTensors, split: str, fmt: str) -> str:
    """How many users of ``seqs`` (as ``data``) have a ``split`` target, whom the metrics average over, as a phrase
    (``546 of the 552 users ranked (...)``: a subset's run is told from a whole one, helper-170, also by the
    baselines, helper-224). Raise ValueError where there is none: every metric would be NaN (JSON's null), which reads
    as a model without a finite score. Else say on stderr how many targets are items the user had before
    (:func:`note_repeat_targets`; ``fmt``: the data's format, as
    :class:`~elcrec_core.cli.data_loading.LoadedData` names it)."""
    from elcrec_core.evaluate.ranking import eligible_users

    users = eligible_users(data, split)
    if len(users) == 0:
        need = 3 if split == "valid" else 2
        raise ValueError(f"{name}: no user has a {split} target to rank (that takes at least {need} items; the "
                         f"longest history has {int(seqs.lengths.max(initial=0))})")
    note_repeat_targets(data, split, fmt)
    return (f"{len(users):,} of the {len(seqs):,} users ranked (a {split} target takes at least "
            f"{3 if split == 'valid' else 2} items)")
