"""The evaluation report: models side by side on one split, with intervals, segments and curves.

Every model is ranked on the same users and split through the scoring interface that the models and baselines
share (:func:`elcrec_core.evaluate.scoring.ranks_and_non_finite`); the report turns those per-user ranks into
headline metrics with bootstrap intervals and paired differences (:mod:`elcrec_core.report.comparisons`) and
per-segment metrics (history length; popularity of the target item), and renders Markdown and HTML.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from elcrec_core.data.atomic_files import write_atomically
from elcrec_core.data.day_loads import DayLoad
from elcrec_core.data.rejections import count_text, file_name
from elcrec_core.data.sequence_summary import SequenceSummary, percent, users_text
from elcrec_core.data.sequences import SequenceTensors
from elcrec_core.evaluate.fitted_inputs import input_counts
from elcrec_core.evaluate.ranking import DROP_AFTER, Split, metrics_from_ranks, split_users
from elcrec_core.evaluate.statistics import CategoryPurity

# the history lengths of the report's segments: those of a music service's listeners (hundreds to thousands of
# plays) fell in one "20+" with everyone else's (a trial of 2026-12-06)
HISTORY_BUCKETS = ((1, 4), (5, 9), (10, 19), (20, 49), (50, 99), (100, 499), (500, None))


def history_segments(data: SequenceTensors, users: torch.Tensor, split: Split) -> np.ndarray:
    """Each user's history-length bucket for the split: "1-4", "5-9", "10-19", "20-49", "50-99", "100-499", "500+"
    (:data:`HISTORY_BUCKETS`); shape [len(users)], text. Raises ValueError for users the evaluators refuse
    (:func:`~elcrec_core.evaluate.ranking.split_users`: -1 read the last user, helper-227)."""
    lengths = (data.lengths(split_users(data, split, users)) - DROP_AFTER[split] - 1).numpy()
    labels = np.empty(len(lengths), dtype=object)
    for low, high in HISTORY_BUCKETS:
        inside = (lengths >= low) & ((lengths <= high) if high is not None else True)
        labels[inside] = f"{low}-{high}" if high is not None else f"{low}+"
    return labels


def popularity_segments(data: SequenceTensors, users: torch.Tensor, split: Split) -> np.ndarray:
    """Each user's target-item popularity bucket, by the share of the interactions of the split's inputs that the
    items more popular than the target hold: head under 20% (the most popular item is head), torso under 50%, tail
    otherwise; items of equal popularity share a bucket. Shape [len(users)], text. Raises ValueError as
    :func:`history_segments`."""
    counts = input_counts(data, split).numpy()
    ascending = np.sort(counts)
    at_most = np.concatenate([[0.0], np.cumsum(ascending)])[np.searchsorted(ascending, counts, side="right")]
    before = (counts.sum() - at_most) / max(counts.sum(), 1.0)  # the share of the items more popular than each
    bucket = np.where(before < 0.2, "head", np.where(before < 0.5, "torso", "tail")).astype(object)
    targets = data.window(split_users(data, split, users), DROP_AFTER[split], 1)[:, 0].numpy()
    return bucket[targets - 1]


def repeat_targets(data: SequenceTensors, users: torch.Tensor, split: Split) -> np.ndarray:
    """Whether each of ``users``' ``split`` target is an item of the user's history before it (shape [len(users)],
    bool). History excluded, as the evaluator (and the paper's protocol) ranks, no model can rank such a target: it
    counts as a miss. Raises ValueError as :func:`history_segments`."""
    users = split_users(data, split, users)
    starts = data.starts[users].cpu().numpy()
    targets_at = data.ends[users].cpu().numpy() - DROP_AFTER[split] - 1
    lengths = targets_at - starts  # the history before each target
    owner = np.repeat(np.arange(len(starts)), lengths)
    first = np.repeat(np.cumsum(lengths) - lengths, lengths)
    items, width = data.items.cpu().numpy(), data.n_items + 1
    history = owner * width + items[np.arange(len(owner)) - first + np.repeat(starts, lengths)]
    return np.isin(np.arange(len(starts)) * width + items[targets_at], history)


# how the pipeline's sequences keep each user's first event of an item only (elcrec_pipeline.config.SequenceSettings)
RUN_CONFIG_DEDUPE = "ops.interaction_sequences.config.dedupe: true in the run config"


def repeat_target_note(repeats: np.ndarray, split: Split, dedupe: str) -> str:
    """The sentences that say how many users' targets (:func:`repeat_targets`) no model can rank, the bound this
    puts on every HR@K, and what to do: ``dedupe``, the setting as the reader gives it (``--dedupe`` on the command
    line, :data:`RUN_CONFIG_DEDUPE` in the pipeline), trains and measures on the items a list can serve; empty where
    there is none."""
    if not repeats.any():
        return ""
    share = repeats.mean()
    return (f"{int(repeats.sum()):,} of {len(repeats):,} users' {split} targets ({share:.1%}) are items they had "
            f"before: with history excluded no model ranks them (they count as misses), so no HR@K can exceed "
            f"{1 - share:.4f} here. With {dedupe}, each user's first event of an item alone is kept: the models "
            "then learn, and are measured on, the items a list can serve (new to the user).")


def data_text(day: str, load: DayLoad | None, summary: SequenceSummary | None, k_core: int,
              earlier_days: str = "", rerun_after: str = "", off_day: str = "") -> str:
    """The report's account of the data: why the sensor ran the day again, where it did (``rerun_after``: the
    earlier day whose load changed the day's events after its model was trained; empty: not such a run), what the
    newest load of ``day`` read (rows in = accepted + rejected, the rejected rows by reason), what its check of the
    day's events found (``off_day``: the warning of a file without events on the day, another day's again; the day
    then trains on nothing new; empty: none), what its check of the earlier days found (``earlier_days``: files no
    load has read, days without a delivery; empty: none) and what the day's sequences hold of the stored events
    (what the k-core of ``k_core`` removed, where it removed any, the users whose two targets have the same time,
    and how many of its items have item metadata)."""
    parts = [f"The sensor ran {day} again: a load of {rerun_after}'s files (a corrected or late delivery) changed the "
             "events up to the day after the day's model was trained."] if rerun_after else []
    if load is None:
        parts.append(f"No load of {day}'s files is recorded in the warehouse.")
    else:
        # by their paths in their common folder (web/2026-12-02.csv, app/2026-12-02.csv: not the name twice, helper-192)
        files = ", ".join(file_name(file, load.files) for file in load.files[:3]) + (", ..." if len(load.files) > 3
                                                                                     else "")
        # a source whose path has no {date}, said without the placeholder: it read as a template unfilled (helper-228)
        which = f"of {day}" if load.day is not None else ("of this source, whose files are not named by day (it may be "
                                                          "after the day),")
        parts.append(f"The newest load {which} read {len(load.files)} file(s) ({files}): "
                     f"{count_text(load.rows_in, load.accepted, load.by_reason)}"
                     + ("; each rejected row is kept with its reason in rejected_interactions." if load.by_reason
                        else "."))
    if off_day:
        parts.append(f"When the day was loaded, the check events_on_their_day warned: {off_day.rstrip('.')}.")
    if earlier_days:
        parts.append(f"When the day was loaded, {earlier_days[0].lower()}{earlier_days[1:].rstrip('.')}.")
    if summary is not None:
        left = [f"{count:,} {what}" for count, what in (
            (summary.filtered_out, f"left out by {summary.filters_named}{summary.filtered_users_note}"),
            (summary.repeated_across_files, "stored by another file too, used once"),
            (summary.duplicates_removed, "repeats that dedupe removed"),
            (summary.max_user_events_removed, f"events of {users_text(summary.max_user_events_users)} with more "
                                              "than max_user_events, left out")) if count]
        parts.append(f"The day's sequences: {summary.users:,} users, {summary.items:,} items and "
                     f"{summary.interactions:,} of the {summary.events_in:,} events stored up to the day"
                     + (f" ({'; '.join(left)})" if left else "")
                     + (f"; {summary.k_core_text(k_core)}{summary.without_sequence_note}."
                        if summary.k_core_removed else "."))
        if summary.last_two_same_time is None:  # a summary of an earlier version (before 2026-12-05)
            parts.append("The version that built the day's sequences did not count the users whose test and "
                         "validation targets have the same time, nor the items the k-core removed: materialize "
                         "interaction_sequences of the day again to count them.")
        elif summary.last_two_same_time:
            parts.append(f"For {summary.last_two_same_time:,} of the {summary.users:,} users "
                         f"({percent(summary.last_two_same_time / summary.users)}) the last two events, the test and "
                         "validation targets, have the same time: the order of their rows in the files decides "
                         "which is the test target.")
        if summary.items_with_metadata:  # none: the source describes no items
            parts.append(f"{summary.items_with_metadata:,} of its {summary.items:,} items have item metadata"
                         + ("." if summary.items_with_metadata == summary.items else
                            " (the profiles and the category purity of the intents know only theirs; rows of the "
                            "file rejected are in rejected_item_metadata)."))
    return " ".join(parts)


def segment_rows(ranks: Mapping[str, torch.Tensor], segments: np.ndarray, name: str, k: int = 20) -> list[dict]:
    """HR@k and NDCG@k of each model within each segment (with the number of users)."""
    rows = []
    for segment in sorted(set(segments.tolist()), key=_segment_key):
        inside = torch.as_tensor(segments == segment)
        row: dict = {name: segment, "users": int(inside.sum())}
        for model, r in ranks.items():
            metrics = metrics_from_ranks(r[inside], (k,))
            row[f"{model} HR@{k}"] = metrics[f"HR@{k}"]
            row[f"{model} NDCG@{k}"] = metrics[f"NDCG@{k}"]
        rows.append(row)
    return rows


def _segment_key(label: str) -> tuple:
    order = {"head": 0, "torso": 1, "tail": 2}
    return (order.get(label, 3), int(label.split("-")[0].rstrip("+")) if label[0].isdigit() else 0)


@dataclass
class Report:
    title: str
    intro: str
    sections: list[tuple[str, str]]  # (heading, Markdown body)
    images: list[tuple[str, Path]]  # (caption, PNG)

    def markdown(self) -> str:
        parts = [f"# {self.title}", self.intro]
        parts += [f"## {heading}\n\n{body}" for heading, body in self.sections]
        parts += [f"![{caption}]({path.name})" for caption, path in self.images]
        return "\n\n".join(parts) + "\n"

    def html(self) -> str:
        body = [f"<h1>{html.escape(self.title)}</h1>", f"<p>{html.escape(self.intro)}</p>"]
        for heading, markdown in self.sections:
            body += [f"<h2>{html.escape(heading)}</h2>", _markdown_to_html(markdown)]
        body += [f'<figure><img src="{path.name}" alt="{html.escape(caption)}"><figcaption>{html.escape(caption)}'
                 f"</figcaption></figure>" for caption, path in self.images]
        style = "body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}" \
                "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}img{max-width:100%}"
        return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(self.title)}</title>"
                f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")

    def write(self, folder: Path, stem: str = "report") -> dict[str, Path]:
        paths = {"markdown": folder / f"{stem}.md", "html": folder / f"{stem}.html"}
        write_atomically(paths["markdown"], self.markdown())  # whole, or as it was (a full disk: helper-215)
        write_atomically(paths["html"], self.html())
        return paths


def _markdown_to_html(markdown: str) -> str:
    """A section's Markdown as HTML, block by block (blocks are separated by blank lines): a table (as
    :func:`elcrec_core.report.markdown.markdown_table` writes it) becomes an HTML table, other text a paragraph."""
    blocks = [block.strip() for block in markdown.split("\n\n") if block.strip()]
    return "".join(_table_to_html(block) if block.startswith("|") else f"<p>{html.escape(block)}</p>"
                   for block in blocks)


def _table_to_html(markdown: str) -> str:
    cells = [[c.strip().replace("\\|", "|") for c in line.strip("|").split(" | ")] for line in markdown.splitlines()]
    head, rows = cells[0], cells[2:]
    out = ["<table><tr>", *(f"<th>{html.escape(c)}</th>" for c in head), "</tr>"]
    for row in rows:
        out += ["<tr>", *(f"<td>{html.escape(c)}</td>" for c in row), "</tr>"]
    return "".join(out + ["</table>"])


def purity_text(purity: CategoryPurity, n_intents: int) -> str:
    """The report's sentences on the intents' category purity (:func:`elcrec_core.evaluate.statistics.
    category_purity`) of a model of ``n_intents`` intents: the purity beside the shuffled assignments', and how
    many intents have each main category. Where every intent has the same main category, a purity above the
    shuffled one cannot come from intents that separate categories (on ml-100k all are Drama: the intents split
    the users by how much they watch, and light users' shares of Drama are higher), and the text says so, also where
    only intents of fewer than :data:`SMALL_INTENT_SHARE` of the users have another (one user's Thriller); where
    intents hold no user or fewer than :data:`SMALL_INTENT_SHARE` of them (ml-100k: 2 of 8 empty, 2 with 1 and 2
    users of 943), it says that too, which the main categories' counts of intents hide."""
    mains = purity.per_intent["main_category"].value_counts(sort=True, name="intents").sort(
        ["intents", "main_category"], descending=[True, False])
    listed = ", ".join(f"{category} ({n} intent{'s' * (n != 1)})" for category, n in mains.iter_rows())
    text = (f"Category purity {purity.purity:.3f} (the share of an intent's interactions in its most frequent "
            f"category, weighted by users); shuffled assignments of the same sizes {purity.shuffled:.3f} ± "
            f"{purity.shuffled_std:.4f} (mean ± standard deviation of {purity.shuffles} shuffles). Main categories: "
            f"{listed}.")
    users = purity.per_intent["users"]
    large = purity.per_intent.filter(users >= SMALL_INTENT_SHARE * users.sum())  # a user or two decide no caveat
    if (len(mains) == 1 and len(purity.per_intent) > 1) or (len(large) > 1 and large["main_category"].n_unique() == 1):
        main = mains["main_category"][0] if len(mains) == 1 else large["main_category"][0]
        which = (f"Every intent's main category is {main}" if len(mains) == 1 else
                 f"The main category of every intent of at least {SMALL_INTENT_SHARE:.0%} of the users "
                 f"({large['users'].sum()} of {users.sum()} users) is {main}")
        text += (f" {which}: a purity above the shuffled one "
                 "comes from how the intents split the users (such as by how much they interact), not from intents "
                 "of different categories; their top categories by lift tell them apart (intent_profiles lists them "
                 "for the model whose intents are served: this one, unless the gate refused it and an ELCRec model "
                 "that served before gives them).")
    return text + _collapse_text(purity.per_intent["users"].to_numpy(), n_intents)


SMALL_INTENT_SHARE = 0.01


def _collapse_text(sizes: np.ndarray, n_intents: int) -> str:
    """A sentence on the intents that hold no user or fewer than SMALL_INTENT_SHARE of the users (``sizes``: the
    users of each intent that holds any), or '' where there are none."""
    small = np.sort(sizes[sizes < SMALL_INTENT_SHARE * sizes.sum()])
    if len(sizes) == n_intents and not len(small):
        return ""
    text = f" Of the model's {n_intents} intents, {len(sizes)} hold these users"
    text += f" ({n_intents - len(sizes)} none)" if len(sizes) < n_intents else ""
    if len(small):
        text += (f"; {len(small)} of them fewer than {SMALL_INTENT_SHARE:.0%} of the users each "
                 f"({', '.join(str(int(n)) for n in small)} user{'s' * (int(small[-1]) != 1)})")
    return text + "."
