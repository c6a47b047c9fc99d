"""Stage 4: the evaluation report of the partition's new model."""

import json
from collections.abc import Iterable
from datetime import date
from typing import Any

import dagster as dg
import numpy as np
import polars as pl
import torch

from assets.daily import (EARLIER_DAY_CHANGED_TAG, WAREHOUSE_POOL, daily_asset, day_before, run_lineage,
                          warehouse_entry)
from assets.ingestion import earlier_days_note, off_day_note
from assets.metadata import figure, metric, table
from assets.sequences import interaction_sequences
from assets.serving import first_gate, serving_model
from elcrec_core.data import warehouse
from elcrec_core.data.atomic_files import read_json, write_atomically
from elcrec_core.data.day_loads import newest_day_load
from elcrec_core.data.events_to_sequences import SETTINGS_FILE, read_sequence_settings
from elcrec_core.data.sequence_settings import setting_changes
from elcrec_core.data.sequence_summary import read_summary
from elcrec_core.data.sequences import SequenceTensors
from elcrec_core.evaluate.backtest import had_every_item, next_day_sequences, seen_before_day
from elcrec_core.evaluate.ranking import (
    eligible_users,
    figures_from_ranks,
    metrics_from_ranks,
)
from elcrec_core.evaluate.score_text import ScoreFormat
from elcrec_core.evaluate.scoring import (
    ELCRecRecommender,
    Recommender,
    ranks_and_non_finite,
    recommender_metrics,
)
from elcrec_core.evaluate.statistics import RESAMPLES
from elcrec_core.intents.profiles import intent_category_purity
from elcrec_core.report.comparisons import gate_table, headline, paired_differences, pays_answer, validation_agrees
from elcrec_core.report.evaluation_report import (
    RUN_CONFIG_DEDUPE,
    Report,
    data_text,
    history_segments,
    popularity_segments,
    purity_text,
    repeat_target_note,
    repeat_targets,
    segment_rows,
)
from elcrec_core.report.markdown import markdown_table
from elcrec_core.report.plots import backtest_trend
from elcrec_core.serve.challengers import stored_ranks
from elcrec_core.serve.decisions import stored_refusal
from elcrec_core.serve.model_store import ModelRecord, ModelStore
from elcrec_core.serve.promotion import CHALLENGER_NAMES
from elcrec_core.serve.recommenders import load_recommender, recipe_text
from elcrec_core.serve.training_data import other_settings, sequences_words
from elcrec_core.train.checkpoint import load_model
from elcrec_core.train.state import data_digest
from elcrec_pipeline.config import EvaluationSettings
from elcrec_pipeline.resources import Storage, digest
from elcrec_pipeline.run_config_check import refuse_bad_run_config


@daily_asset(
    pool=WAREHOUSE_POOL,
    # the day's sequences are its split; and so the day before's serving_model, which the backtest scores
    deps=[serving_model, interaction_sequences],
    group_name="reports",
    code_version="10",
    kinds={"pytorch", "markdown", "html"},
    description="Is today's model better, and for whom? Which model serves, and why? Full-ranking "
                "leave-one-out HR@K and NDCG@K (K = 5, 10, 20) of the new model beside the model that served "
                "before it and the challengers (SASRec without the ELCRec parts, same encoder and budget; most "
                "popular, item transition, EASE with λ chosen on valid or item-kNN above its item limit), on the "
                "same split, also as report.json; "
                "which model serves with the promotion gate's validation scores; whether ELCRec pays here (its paired "
                "differences to each model on the same users); 95% bootstrap intervals; the "
                "same by history length and by target popularity; training curves; and the next-day backtest (the "
                "model that served after the previous day) with its 30-day trend. Written as report.md and "
                "report.html into the new model's folder. targets_in_history counts the users whose target of the "
                "split is an item already in their history (targets_in_history_share: their share): the ranking "
                "leaves history items out, so no model hits them, and no HR@K can exceed 1 minus that share.",
)
def evaluation_report(context: dg.AssetExecutionContext, config: EvaluationSettings,
                      storage: Storage) -> dg.MaterializeResult:
    refuse_bad_run_config(context)  # a run may start here (one asset materialized again)
    partition, split = context.partition_key, config.split
    store = storage.store
    candidate = storage.require_candidate(partition, run_lineage(context))
    decision = store.decision(candidate)
    if decision is None:
        raise dg.Failure(f"the candidate {candidate.name} has no decision yet: materialize serving_model first")
    out = store.folder(candidate)
    seqs, item_ids = storage.read_candidate_sequences(partition, candidate)
    data = SequenceTensors.from_sequences(seqs)
    users = eligible_users(data, split)
    candidate_model = load_model(store.checkpoint(candidate), finite=False)[0]  # NaN scores: no figure
    # report.json names (stable, for machines) -> the report's row labels (for people)
    labels: dict[str, str] = {}
    plain: dict[str, str] = {}  # the labels without a no-figure note: the serving sentence's subject
    ranks: dict[str, torch.Tensor] = {}
    no_figure: dict[str, int] = {}  # models with a NaN or infinite score for some user: no figure, no verdict

    def rank(name: str, label: str, rec: Recommender | None, stored: tuple[torch.Tensor, int] | None = None) -> None:
        """Rank ``rec`` (None: it cannot score the data), or take the ranks its fit ``stored``."""
        labels[name] = plain[name] = label
        if rec is None and stored is None:
            return
        model_ranks, bad = stored if stored is not None else ranks_and_non_finite(rec, data, split, users)
        if bad:
            labels[name], no_figure[name] = f"{label}: {bad} {split} users get a NaN or infinite score, no figure", bad
        else:
            ranks[name] = model_ranks

    rank("elcrec", "ELCRec (new)", ELCRecRecommender(candidate_model))
    before = ModelRecord.from_dict(decision["serving_before"]) if decision["serving_before"] else None
    if before is not None and before != candidate:
        # a later day's model did not serve before this day (helper-201): it served when the day ran (again, or for
        # the first time: a late delivery, helper-218)
        role = "served before" if before.day <= candidate.day else "was serving when this day ran"
        rank("current", *_earlier_model(role, store, storage.with_recorded_settings(before), candidate, data))
    challengers = {record.kind: record for record in store.challengers(candidate)}
    fitted_on = data_digest(seqs)
    for name in [*CHALLENGER_ORDER, *sorted(set(challengers) - set(CHALLENGER_ORDER))]:  # a new kind: after them
        if name in challengers:  # a baseline's ranks as its fit stored them, else fitted and ranked
            if (stored := stored_ranks(store, challengers[name], fitted_on, split)) is not None:
                rank(name, _label(challengers[name]), None, stored)
            else:
                rank(name, _label(challengers[name]), load_recommender(store, challengers[name], data, "valid"))
    serving_record = ModelRecord.from_dict(decision["serving"]) if decision["serving"] else None
    serving = _report_name(decision.get("serves"), before, candidate)
    withdrawn = None  # the gate's choice, taken out of serving since by elcrec rollback: the report names what serves
    if serving_record is not None and _rolled_back_since(store, decision, serving_record):
        withdrawn, serving_record = serving_record, store.serving()
        reported = {"elcrec": candidate, "current": before, **challengers}
        serving = next((name for name, record in reported.items() if record is not None and serving_record is not None
                        and record.name == serving_record.name), "none")
        if serving == "none" and serving_record is not None:  # none of the day's models: ranked beside them
            serving = "restored"
            rank(serving, *_earlier_model("restored by elcrec rollback", store,
                                          storage.with_recorded_settings(serving_record), candidate, data))
    now = store.serving()  # another model than the gate's choice where a later day's gate or a rollback chose it
    superseded = withdrawn is None and (now.name if now else None) != (serving_record.name if serving_record else None)
    metrics = {name: metrics_from_ranks(r) for name, r in ranks.items()}
    differences = paired_differences(ranks, "elcrec") if "elcrec" in ranks else []
    # and a model the gate judged that the day's challengers no longer hold (run again without it: helper-196)
    gate_labels = {role: f"{CHALLENGER_NAMES.get(role, role)} (judged by the gate; not among the challengers now)"
                   for role in decision.get("scores", {})}
    gate_labels |= {"candidate": labels["elcrec"], "serving": labels.get("current", labels["elcrec"]), **labels}
    gate_scores = decision.get("scores", {})
    gate_rows = gate_table(gate_scores, decision.get("non_finite", {}), decision.get("serves"), gate_labels)
    valid = {{"candidate": "elcrec", "serving": "current"}.get(role, role): score  # the gate's roles: the report's
             for role, score in gate_scores.items()}
    pays = (pays_answer(differences, labels, "elcrec", valid=valid,
                        unlike=_losses_differ(store, candidate, challengers.get("sasrec"))) if "elcrec" in ranks else
            f"No answer: ELCRec (new) gives {no_figure['elcrec']} {split} users a NaN or infinite score, so it has no "
            "figure (and may not serve).")
    write_atomically(out / "report.json", json.dumps({  # whole or as it was: a full disk left it empty (helper-215)
        "day": partition, "split": split, "serving": serving,
        "serving_model": serving_record.name if serving_record else None,
        "serving_now": now.name if now else None,  # when the report was made: aliases.json's
        "withdrawn": withdrawn.name if withdrawn else None, "models": {name: metrics.get(name) for name in labels},
        "elcrec_vs": {d.model: d.to_dict() | {"validation_agrees": validation_agrees(d, valid)} for d in differences},
        "elcrec_pays": pays}, indent=2) + "\n")
    difference_rows = [d.row(labels[d.model]) for d in differences]
    signed_rows = [d.row(labels[d.model], signed=True) for d in differences]
    ranks = {labels[name]: r for name, r in ranks.items()}
    all_k = [{"model": labels[name], **values} for name, values in metrics.items()]
    who = _who_serves(serving, plain.get(serving), serving_record, superseded)
    if superseded:  # a report made again after later days: what serves now is said, as aliases.json has it
        change = store.serving_log()[-1] if now else None
        who += (f"; {now.name} ({_kind(now)}) serves now, since {change['time']} ({change['action']}, "
                "models/serving_log.jsonl)" if now and change else "; no model serves now")
    if withdrawn is not None:
        who += (f"; the gate had chosen {withdrawn.name} ({_kind(withdrawn)}), which elcrec rollback has taken out of "
                "serving since (the gate's table below is the day's decision)")
    headline_rows = headline(ranks)
    by_history = segment_rows(ranks, history_segments(data, users, split), "history")
    by_popularity = segment_rows(ranks, popularity_segments(data, users, split), "target")
    sections = [
        ("Serving", f"{who}. The new model {candidate.name} was {decision['reason']}.\n\nThe promotion gate "
                    f"(champion / challenger) scored each on the validation users:\n\n{markdown_table(gate_rows)}"),
        ("Does ELCRec pay here?", f"{pays}\n\nELCRec (new) minus each model, per user, averaged over the same "
                                  f"users; 95% paired bootstrap intervals ({RESAMPLES:,} resamples of the users; with "
                                  "several comparisons, one may come out better or worse by chance):\n\n"
                                  f"{markdown_table(signed_rows)}"),
        (f"Headline: HR@20 and NDCG@20 with 95% bootstrap intervals over users ({RESAMPLES:,} resamples)",
         markdown_table(headline_rows)),
        ("All cut-offs", markdown_table(all_k)),
        ("By history length", markdown_table(by_history)),
        (f"By target popularity ({POPULARITY})", markdown_table(by_popularity)),
        ("Data", data_text(partition, newest_day_load(date.fromisoformat(partition), storage.warehouse),
                           read_summary(storage.sequences_dir(partition) / "summary.json"),
                           read_sequence_settings(storage.sequences_dir(partition)).k_core,
                           earlier_days_note(context.instance, partition, storage.warehouse),
                           context.run.tags.get(EARLIER_DAY_CHANGED_TAG, ""),
                           off_day_note(context.instance, partition, storage.warehouse))),
    ]
    purity = intent_category_purity(candidate_model, seqs, item_ids, storage.warehouse)
    if purity is not None:
        # the tables of another model's intents: their figures differed from these unsaid (helper-233)
        profiled = storage.intent_model(partition, run_lineage(context))
        elsewhere = (f" These are the new model's intents, which do not serve: intent_profiles and "
                     f"intent_category_purity hold those of {profiled.name}, the ELCRec model whose intents serve "
                     "for this day, with its own figures." if profiled.dir != candidate.dir else "")
        sections.append(("Intents of the new model and item categories",
                         purity_text(purity, candidate_model.cfg.n_intents) + elsewhere))
    images = {"training_plot": ("training curves of the new model", out / "training_curve.png")}
    backtest, backtest_note = _backtest(storage, partition, _served_at_first_gate(store, partition))
    if backtest is None:
        sections.append(("Next-day backtest", f"None for {partition}: {backtest_note}."))
    else:
        tail = backtest.tail(30)
        sections.append(("Next-day backtest (the model that served after the previous day, scored on the first "
                         "item of the day; model_day: its training day; users: those with a list, also from a short "
                         "history, as short_history_users; without_list: no sequence nor short history; new_users: "
                         "first events on the day, so no list, not scored; new_item_targets: users scored whose item "
                         "is new to the model, which no list held: misses, so HR@20 is at most 1 - new_item_targets / "
                         "users)",
                         markdown_table([{name: _cell(name, row) for name in row}
                                         for row in tail.to_dicts()])
                         + EARLIER_BACKTEST * tail["without_list"].has_nulls() + backtest_note))
        images["backtest_plot"] = ("next-day backtest, last 30 days", backtest_trend(
            tail["day"].to_list(), tail["HR@20"].to_list(), tail["NDCG@20"].to_list(), out / "backtest.png"))
    repeats = repeat_targets(data, users, split)
    report = Report(f"Evaluation report {partition}",
                    f"{len(users):,} users, {seqs.n_items:,} items; full ranking over all items, history excluded, "
                    f"leave-one-out {split} split; ties count against the target (most popular, item transition "
                    "and item-kNN have none: they order equal scores by popularity, then item index, as they serve "
                    "them)."
                    f"{small_catalogue_note(seqs.n_items)}"
                    + (f" {note}" if (note := repeat_target_note(repeats, split, RUN_CONFIG_DEDUPE)) else ""),
                    sections, list(images.values()))
    paths = report.write(out)
    test_fmt = ScoreFormat.of(values["NDCG@20"] for values in metrics.values())
    figures = ", ".join([f"{labels[name]} {test_fmt(values['NDCG@20'])}" for name, values in metrics.items()]
                        + [labels[name] for name in no_figure])  # said too, not left out (helper-211)
    context.log.info(f"{who}. {split} NDCG@20: {figures}. {pays} Report: {paths['markdown']}")
    metadata = {
        "serving": serving,
        "serving_model": serving_record.name if serving_record else "none",
        **({"withdrawn": withdrawn.name} if withdrawn else {}),
        "promoted": bool(decision["promote"]),
        "targets_in_history": dg.MetadataValue.int(int(repeats.sum())),  # no model can rank them: misses
        "targets_in_history_share": metric(float(repeats.mean()) if len(repeats) else 0.0),  # 1 - it bounds HR@K
        "decision": decision["reason"],
        **({"refusal": refusal} if (refusal := stored_refusal(decision)) else {}),  # why the gate refused it
        **({f"{split}_{name}": metric(metrics["elcrec"][name]) for name in ("HR@20", "NDCG@20")}
           if "elcrec" in metrics else {}),  # none: the new model has no figure
        # the figures of the model that serves, beside the new model's (they read as the served quality: helper-232)
        **({f"serving_{split}_{name}": metric(metrics[serving][name]) for name in ("HR@20", "NDCG@20")}
           if serving in metrics else {}),
        "elcrec_pays": pays,
        "elcrec_vs": table(difference_rows, {"verdict (NDCG@20)": "of ELCRec (new): better or worse where the "
                                                                  "paired 95% interval excludes 0 (no interval from "
                                                                  "fewer than 6 users), else level; none where no "
                                                                  "target is in either model's top 20"}
                           if difference_rows else None),  # none: the new model has no figure
        "headline": table(headline_rows, {"model": "ELCRec (new) is the day's candidate"}),
        "all_cut_offs": table(all_k),
        "by_history_length": table(_per_model(by_history, "history", ranks), {
            "history": "items before the target", "users": "users in the segment"}),
        "by_target_popularity": table(_per_model(by_popularity, "target", ranks), {
            "target": f"popularity of the target item: {POPULARITY}", "users": "users in the segment"}),
    }
    if "most_popular" in metrics and "elcrec" in metrics:
        metadata["popularity_HR@20"] = metric(metrics["most_popular"]["HR@20"])
        # a difference: "_over_" read as a ratio (helper-228)
        metadata["HR@20_minus_popularity"] = metric(metrics["elcrec"]["HR@20"] - metrics["most_popular"]["HR@20"])
    if backtest is None:
        metadata["backtest"] = dg.MetadataValue.text(f"none: {backtest_note}")
    else:
        metadata["backtest_HR@20"] = metric(backtest["HR@20"][-1])
        metadata["backtest"] = table(backtest.tail(30), {
            "model_day": "the day of the model scored (it served after that day)",
            "users": "users of the day with earlier events and a list served after the day before, scored",
            "without_list": "users of the day with earlier events but no list (their events left no sequence "
                            "nor short history)",
            "new_users": "users whose first events are on the day: no list made before the day knew them, not scored",
            "new_item_targets": "of the users scored, those whose first item of the day is new to the model (it "
                                "trained before the item's first event): no list held it, a miss",
            "short_history_users": "of the users scored, those whose list came from a short history (the k-core "
                                   "removed them)",
            "short_history_HR@20": "their HR@20 (null: none)"})
    if purity is not None:
        metadata |= {"category_purity": metric(purity.purity), "shuffled_category_purity": metric(purity.shuffled)}
    metadata |= {name: figure(path, caption) for name, (caption, path) in images.items()
                 if name != "training_plot"}  # elcrec_model's own metadata holds it: not each day's twice
    metadata |= {**warehouse_entry(storage.warehouse),  # which data folder's (one instance may run several)
                 "markdown": dg.MetadataValue.path(str(paths["markdown"])),
                 "json": dg.MetadataValue.path(str(out / "report.json")),
                 "html": dg.MetadataValue.path(str(paths["html"]))}
    # its inputs are many (the decision, the models, the next day's events, item categories): the version is
    # that of what the report says, its settings and its Markdown and JSON
    version = dg.DataVersion(digest(config.model_dump(), [paths["markdown"], out / "report.json"]))
    return dg.MaterializeResult(data_version=version, metadata=metadata)


POPULARITY = ("head: the items more popular than the target hold under 20% of the interactions before the users' "
              "targets, torso: under 50%, tail: the rest (equally popular items share a bucket)")


def _per_model(rows: list[dict], segment: str, models: Iterable[str], k: int = 20) -> list[dict]:
    """:func:`elcrec_core.report.evaluation_report.segment_rows`' rows (one per segment, HR@k and NDCG@k of each model
    side by side) as one row per segment and model: a table narrow enough for the UI."""
    return [{segment: row[segment], "users": row["users"], "model": model, f"HR@{k}": row[f"{model} HR@{k}"],
             f"NDCG@{k}": row[f"{model} NDCG@{k}"]} for row in rows for model in models]


CHALLENGER_ORDER = ("sasrec", "most_popular", "transition", "ease", "item_knn")


def _losses_differ(store: ModelStore, candidate: ModelRecord, sasrec: ModelRecord | None) -> str | None:
    """Where the SASRec challenger trained with another next-item loss than the candidate (settings that give
    ELCRec sampled softmax or BCE; the ablation takes full softmax where it fits), the sentence that says so; else
    None (also where either's settings are not on disk)."""
    if sasrec is None:
        return None
    losses = []
    for record in (sasrec, candidate):
        config = store.folder(record) / "config.json"
        if not config.exists():
            return None
        losses.append(read_json(config).get("train", {}).get("rec_loss", "ce"))
    named = {"ce": "full softmax (ce)"}
    return None if losses[0] == losses[1] else (
        f"SASRec trained with the next-item loss {named.get(losses[0], losses[0])}, ELCRec with "
        f"{named.get(losses[1], losses[1])}")


def _label(record: ModelRecord) -> str:
    """A challenger's row label in the report."""
    name = CHALLENGER_NAMES.get(record.kind, record.kind)
    if recipe := recipe_text(record):
        return f"{name} ({recipe}, chosen on valid)"
    return f"{name} (no ELCRec parts, same budget)" if record.kind == "sasrec" else name


def _earlier_model(role: str, store: ModelStore, record: ModelRecord, candidate: ModelRecord,
                   data: SequenceTensors) -> tuple[str, Recommender | None]:
    """The report's label and the recommender of ``record``, a model of another run than the day's ``candidate``,
    as ``role``: no recommender for a trained model of a later day (a day run again: it has trained on this day's
    test items; a baseline of a later day is its recipe, refitted on this day's training part, as the gate scored
    it: helper-225), for one trained on sequences built with other sequence settings (whose training items may be
    them: :func:`~elcrec_core.serve.training_data.other_settings`), or one that cannot score the day's data (an
    EASE past its item limit), as the label says."""
    why, rec = "a later day: not ranked", None
    if other_settings(record, candidate):
        why = f"trained on sequences {sequences_words(record)}, which may hold this day's test items: not ranked"
    elif record.day <= candidate.day or not record.trained:
        try:
            why, rec = "", load_recommender(store, record, data, "valid")
        except ValueError:
            why = "cannot score this day's data: not ranked"
    return f"{role} ({record.name}, {_kind(record)}{f', {why}' if why else ''})", rec


def _who_serves(serving: str, label: str | None, record: ModelRecord | None, superseded: bool) -> str:
    """The serving sentence's subject and verb, for the model of report.json's ``serving`` name (``elcrec``,
    ``current``, ``restored``, a challenger's kind or ``none``): ``label`` is its row's name without a no-figure note
    (None: the report does not rank it), ``record`` the model (None: none serves), ``superseded`` whether a later
    day's gate chose another since. ``The model restored by elcrec rollback (<folder>, elcrec) serves``."""
    tense = "served after this day's gate" if superseded else "serves"
    if label is not None and serving == "current":
        return f"The model that {label} {'served on after this day' if superseded else 'serves on'}"
    if label is not None and serving == "restored":
        return f"The model {label} {tense}"
    if label is not None and record is not None:
        return f"{label} {tense} ({record.name})"
    if record is not None:
        return f"{record.name} ({_kind(record)}) {tense}, a model this report does not rank"
    return f"No model {tense}"


def _kind(record: ModelRecord) -> str:
    """``ease, λ = 100``: a model's kind, with a baseline's recipe (:func:`recipe_text`), as the gate's reasons name
    it (helper-227)."""
    return f"{record.kind}, {recipe}" if (recipe := recipe_text(record)) else record.kind


def _rolled_back_since(store: ModelStore, decision: dict, chosen: ModelRecord) -> bool:
    """Whether ``elcrec rollback`` has taken the gate's choice ``chosen`` out of serving since the day's
    ``decision``: it is withdrawn (a rollback from it, not undone), or every change of the serving alias since the
    decision was a rollback and another model serves (a rollback undone after the gate refused the model it
    restores). A decision written before the serving log's length was kept in it counts the first case only."""
    if chosen.identity in store.withdrawn():
        return True
    serving, length = store.serving(), decision.get("serving_log_length")
    since = store.serving_log()[length:] if length is not None else []
    return (serving is not None and serving.name != chosen.name and bool(since)
            and all(entry["action"] == "rollback" for entry in since))


def _report_name(serves: str | None, before: ModelRecord | None, candidate: ModelRecord) -> str:
    """The report.json name of the model that serves after the gate (its role in the decision: ``candidate``,
    ``serving`` or a challenger's kind): ``elcrec``, ``current``, ``sasrec``, ``most_popular``, ... or ``none``."""
    if serves == "candidate" or (serves == "serving" and before == candidate):
        return "elcrec"
    if serves == "serving":
        return "current"
    return serves or "none"


def served_recommender(storage: Storage, record: ModelRecord, day: str) -> Recommender | None:
    """``record`` as it served after ``day`` (a day not before ``record.day``): a trained model from its
    checkpoint; a baseline fitted on every item of the newest sequences from ``record.day`` to ``day``, as the
    recommendations of that day fitted it (:func:`assets.recommendations.user_recommendations`: a baseline that
    keeps serving is refitted every day; fitted on the backtest's data, it would have had the next day's users and
    items, and scored the placeholder of items without an index, which must be a miss). None for a baseline whose
    sequences of those days are gone (pruned)."""
    if record.trained:
        return load_recommender(storage.store, record, None, "all")
    fitted_on = storage.newest_sequences(record.day, day)
    if fitted_on is None:
        return None
    return load_recommender(storage.store, record, SequenceTensors.from_sequences(storage.read_sequences(fitted_on)[0]),
                            "all")


def _served_at_first_gate(store: ModelStore, partition: str) -> ModelRecord | None:
    """What served when the first gate of ``partition`` ran: the ``serving_before`` of the earliest of its
    candidates' first gates (:func:`assets.serving.first_gate`; by the serving log's length then, a decision of
    an earlier version, without it, first; then by the decision file's time): what served after the day before,
    also where the day ran again after its own model was promoted, a candidate was judged again, or a rollback
    came since."""
    paths = sorted((store.models / partition).glob("*/decision.json"), key=lambda path: path.stat().st_mtime)
    gates = [first_gate(read_json(path)) for path in paths]
    first = min(gates, key=lambda gate: gate["serving_log_length"] or -1, default=None)  # stable: time breaks ties
    return ModelRecord.from_dict(first["serving_before"]) if first and first["serving_before"] else None


EARLIER_BACKTEST = (
    "\n\nThe rows without `without_list` were measured by an earlier version of this report, which excluded only "
    "the items of each user's sequence (not every item seen, as the served lists do) and scored every user of the day, "
    "also those who got no list: their figures are not comparable with the others'. Materializing a day's "
    "evaluation_report again measures its row anew, where the sequences it needs remain.")


HEADLINE_K = 20  # the cut-off of the headline figures, the gate's and the verdicts'


def small_catalogue_note(n_items: int) -> str:
    """For the report's first lines: where the catalogue holds at most twice :data:`HEADLINE_K` items, that a
    list of that many holds nearly every item a user has not had (a young log of 11 items showed HR@20 1.0000 for
    every model, with no word); empty otherwise."""
    if n_items > 2 * HEADLINE_K:
        return ""
    return (f" With {n_items} items, a list of {HEADLINE_K} holds nearly every item a user has not had: "
            f"HR@{HEADLINE_K} and NDCG@{HEADLINE_K} tell the models little apart here (the cut-offs 5 and 10 more).")


def _cell(name: str, row: dict[str, Any]) -> Any:
    """A backtest row's value of ``name`` for the report; null: none (short_history_HR@20 without such users), or
    not counted (a row of an earlier version, which lacked the column)."""
    if row[name] is not None:
        return row[name]
    return "none" if name == "short_history_HR@20" and row["short_history_users"] == 0 else "not counted"


def _backtest(storage: Storage, partition: str,
              serving_before: ModelRecord | None) -> tuple[pl.DataFrame | None, str]:
    """Score the model that served after the previous day (``serving_before``, what served when the day's first gate
    ran, as its decision recorded it, so that a report made again after a rollback scores what served then; where
    that model was trained on a later day, as when an older day runs after newer ones: the newest serving model
    trained on data up to the previous day, as the serving aliases and log say when the report is made) on this
    day's first items (of the events that the sequence settings of the lists that served select, which the note
    returned names where the day's own differ; every item the user had before the day excluded, as the served lists
    exclude it: :func:`seen_before_day`), for the users who had a list after the previous day (those of the newest
    day judged since the model's who had not had every item of the model; the others, whose events left no sequence
    nor short history or who had every item, are counted as ``without_list``, and the users whose first events are
    on the day, who had no list, as ``new_users``), store the row in the warehouse table ``backtest`` (one row per
    day, replaced on re-runs) and return the trend up to this day (its last row is this day's, also when later days
    have run), and that note or "". (None, why) without such a model, without the sequences whose users got the
    lists it served (pruned), for a baseline whose sequences are gone (an older day re-run after pruning:
    :func:`served_recommender`), or without users of the day to score (an earlier run's row of the day is then
    removed: its events are gone)."""
    day = date.fromisoformat(partition)
    before = day_before(partition)
    if serving_before is None:
        return None, f"no model served after {before} (none had served by then)"
    previous = serving_before if serving_before.day <= before else storage.store.served_up_to(before)
    if previous is None:
        return None, (f"no model served after {before} (none had served by then, or elcrec rollback withdrew "
                      "those that had)")
    try:
        served = served_recommender(storage, previous, before)
    except ValueError as err:  # a kind this version cannot refit: no backtest, as the report's other parts do
        return None, f"{previous.name}, which served after {before}, cannot be loaded to score ({err})"
    if served is None:
        return None, f"{previous.name}, which served after {before}, was fitted on sequences since removed"
    # the lists served after the day before: those of the newest day since the model's that the gate judged
    listed = max((judged for judged in storage.store.judged_days() if previous.day <= judged <= before),
                 default=previous.day)
    if not storage.sequences_file(listed).exists():
        return None, f"the sequences of {listed}, whose users got the lists served after {before}, were removed"
    # the settings the served lists were made with: their history, exclusions and aim (another day's settings
    # scored lists that never served: helper-208, views modelled one day and not the next)
    # (a folder written before settings.json was has the day's own: read_sequence_settings' defaults are not what
    # built it, helper-213)
    own = read_sequence_settings(storage.sequences_dir(partition))
    settings = read_sequence_settings(storage.sequences_dir(listed)) \
        if (storage.sequences_dir(listed) / SETTINGS_FILE).is_file() else own
    changes = setting_changes(settings, own)
    next_day = next_day_sequences(storage.warehouse, day, settings)
    active = next_day.seqs
    listed_users = storage.listed_users(listed)
    with_list = np.isin(active.user_ids.astype(str), listed_users["user_id"].to_numpy())
    seqs = active.take(with_list)
    if len(seqs):  # and a user who had every item of the model got no list either (helper-197)
        seen_items = seen_before_day(storage.warehouse, day, seqs, settings)
        listed_now = ~had_every_item(seen_items, served.n_items)
        seqs, seen_items = seqs.take(listed_now), seen_items.take(listed_now)
    returning = len(active) + next_day.unindexed  # the day's users with earlier events, with an indexed item or not
    history = warehouse.read_table(storage.warehouse, "backtest")
    if len(seqs) == 0:  # no user of the day with earlier events (now): an earlier run's row of the day goes
        if history is not None and partition in history["day"].to_list():
            warehouse.replace_table(storage.warehouse, "backtest", history.filter(pl.col("day") != partition))
        return None, (f"no events on {partition} of users with earlier events (the day's data has none to score"
                      f"{f'; {next_day.new_users} new user(s), who had no list' if next_day.new_users else ''})"
                      if returning == 0 else f"none of the {returning} users of {partition} with earlier events"
                      f" had a list served after {before} (their events left no sequence nor short history, or they "
                      "had every item)")
    data = SequenceTensors.from_sequences(seqs)  # test inputs: each user's items up to the previous day
    seen = SequenceTensors.from_sequences(seen_items)
    metrics = recommender_metrics(served, data, "test", seen)  # the items the served lists left out, excluded too
    # of them, the users whose list came from a short history (the k-core removed them)
    short = np.isin(seqs.user_ids.astype(str), listed_users.filter("short")["user_id"].to_numpy())
    users = eligible_users(data, "test")
    targets = torch.from_numpy(seqs.items[seqs.offsets[1:] - 1])[users]  # each user's first item of the day
    new_items = int((targets > served.n_items).sum())  # new to the model: no list it made held them
    short_ranks, bad = ranks_and_non_finite(served, data, "test", users[torch.from_numpy(short)[users]], seen=seen)
    row = pl.DataFrame({"day": [partition], "model_day": [previous.day], "users": [len(seqs)],
                        "without_list": [returning - len(seqs)],
                        "new_users": [next_day.new_users],
                        "new_item_targets": [new_items],
                        "HR@20": [metrics["HR@20"]], "NDCG@20": [metrics["NDCG@20"]],
                        "short_history_users": [len(short_ranks)],
                        "short_history_HR@20": [figures_from_ranks(short_ranks, bad)["HR@20"] if len(short_ranks)
                                                else None]},
                       schema_overrides={"short_history_HR@20": pl.Float64})
    history = row.clear() if history is None else history
    # a table of an earlier version lacks without_list or new_users: its rows keep a null there
    trend = pl.concat([history.filter(pl.col("day") != partition), row], how="diagonal_relaxed").sort("day")
    trend = trend.select(row.columns)  # in this version's order, also after rows of an earlier version
    warehouse.replace_table(storage.warehouse, "backtest", trend)
    note = (f"\n\n{partition} is scored with the sequence settings of {listed}, whose users got the lists served "
            f"after {before}, not the day's own ({'; '.join(changes)}): its history, the items excluded and the "
            "first item of the day are of the events those lists were made from." if changes else "")
    return trend.filter(pl.col("day") <= partition), note
