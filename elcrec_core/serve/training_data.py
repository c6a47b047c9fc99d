"""Which data two models trained on, for the promotion gate and the report: the same sequences (a day run again),
newer data (a later day, or the day's sequences since they changed), or sequences built with other sequence
settings, on which one model's training items may be the other's validation and test targets."""

from __future__ import annotations

import dataclasses

from elcrec_core.serve.model_store import ModelRecord

UNRECORDED = "unrecorded"  # the sequence settings of a model whose record holds none, nor its day's sequences


def other_settings(record: ModelRecord, candidate: ModelRecord) -> bool:
    """Whether ``record``, a trained model, trained on sequences built with other sequence settings than
    ``candidate``'s (each known), not the same ones: its training items may be ``candidate``'s validation and test
    targets (``dedupe`` leaves a user's repeats out, which moves their last items; another k-core or event types
    keep other items), so its scores on ``candidate``'s sequences are no measure of it, and no model should start
    from it. A baseline is no such model: it is refitted on the sequences it is scored on."""
    settings = (record.sequence_settings, candidate.sequence_settings)
    return (record.trained and "" not in settings and settings[0] != settings[1]
            and not "" != record.sequences == candidate.sequences)


def sequences_words(record: ModelRecord) -> str:
    """How a message names the sequences that ``record`` trained on where :func:`other_settings` holds: built with
    other sequence settings, or of settings unknown (:data:`UNRECORDED`: they may be the same, helper-189)."""
    return ("whose sequence settings are not recorded (an earlier version's model, its day's sequences built again or "
            "removed since)" if record.sequence_settings == UNRECORDED else "built with other sequence settings")


def with_day_settings(record: ModelRecord, day_sequences: str | None, day_settings: str) -> ModelRecord:
    """``record`` where it holds its sequence settings, or is no trained model; else (recorded by a version before
    commit 720fcc3 of 2026-12-06, which kept none: helper-185) with those of its day's sequences as stored
    (``day_sequences``: their digest, None where they are gone; ``day_settings``: the digest of the settings that
    built them) where it trained on them, else :data:`UNRECORDED`, which :func:`other_settings` takes as other
    than any candidate's (its day built again since, or no sequences digest recorded: cautious, as its training
    items may be the candidate's targets)."""
    if record.sequence_settings or not record.trained:
        return record
    known = "" != record.sequences == day_sequences
    return dataclasses.replace(record, sequence_settings=day_settings if known else UNRECORDED)


def same_data(candidate: ModelRecord, champion: ModelRecord) -> bool:
    """Whether ``candidate`` trained on the sequences ``champion`` trained on: its day's, the same (each digest
    known)."""
    return candidate.day == champion.day and "" != champion.sequences == candidate.sequences


def serving_on_note(candidate: ModelRecord, stays: ModelRecord) -> str:
    """What a refusal says of a serving model of the candidate's own day that keeps serving, trained on the day's
    sequences before they changed (the report names no day's change otherwise); else nothing."""
    if stays.day == candidate.day and newer_data(candidate, stays):
        return f"; trained on the sequences of {stays.day} before they changed, it lacks the change"
    return ""


def newer_data(candidate: ModelRecord, champion: ModelRecord) -> bool:
    """Whether ``candidate`` trained on newer data than ``champion``: a newer day's, or its own day's sequences
    since they changed (a corrected or late delivery of a day up to it, run again): built with the same sequence
    settings, but other sequences (each digest known; a day built again with other settings is not newer data)."""
    known = "" not in (candidate.sequences, champion.sequences, candidate.sequence_settings,
                       champion.sequence_settings)
    return candidate.day > champion.day or (candidate.day == champion.day and known
                                            and candidate.sequence_settings == champion.sequence_settings
                                            and candidate.sequences != champion.sequences)
