"""The evaluation report: models side by side on one split, with intervals, segments and curves.

Every model is ranked on the same users and split by :func:`elcrec_core.evaluation.evaluate_ranks` (or the
popularity baseline); the report turns those per-user ranks into headline metrics with bootstrap intervals and
per-segment metrics (history length; popularity of the target item), and renders Markdown and HTML.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from elcrec_core.baselines import input_counts
from elcrec_core.evaluation import DROP_AFTER, Split, metrics_from_ranks
from elcrec_core.sequences import SequenceTensors
from elcrec_core.statistics import bootstrap_mean

HISTORY_BUCKETS = ((1, 4), (5, 9), (10, 19), (20, None))


def per_user(ranks: torch.Tensor, k: int) -> dict[str, np.ndarray]:
    """Per-user HR@k and NDCG@k (0 or 1/log2(rank + 2)) from 0-based ranks."""
    r = ranks.double().numpy()
    hit = r < k
    return {f"HR@{k}": hit.astype(float), f"NDCG@{k}": np.where(hit, 1.0 / np.log2(r + 2.0), 0.0)}


def headline(ranks: Mapping[str, torch.Tensor], k: int = 20, n_boot: int = 1000) -> list[dict]:
    """HR@k and NDCG@k of each model with a 95% bootstrap interval over users."""
    rows = []
    for name, r in ranks.items():
        row: dict = {"model": name}
        for metric, values in per_user(r, k).items():
            interval = bootstrap_mean(values, n_boot=n_boot)
            row[metric] = interval.estimate
            row[f"{metric} 95% CI"] = f"[{interval.low:.4f}, {interval.high:.4f}]"
        rows.append(row)
    return rows


def history_segments(data: SequenceTensors, users: torch.Tensor, split: Split) -> np.ndarray:
    """Each user's history-length bucket ("1-4", "5-9", "10-19", "20+") for the split."""
    lengths = (data.lengths(users) - DROP_AFTER[split] - 1).numpy()
    labels = np.empty(len(lengths), dtype=object)
    for low, high in HISTORY_BUCKETS:
        inside = (lengths >= low) & ((lengths <= high) if high is not None else True)
        labels[inside] = f"{low}-{high}" if high is not None else f"{low}+"
    return labels


def popularity_segments(data: SequenceTensors, users: torch.Tensor, split: Split) -> np.ndarray:
    """Each user's target-item popularity bucket: head / torso / tail, the items that make up the top 20%,
    the next 30% and the last 50% of the interactions of the split's inputs."""
    counts = input_counts(data, split).numpy()
    order = np.argsort(-counts, kind="stable")
    share = np.cumsum(counts[order]) / max(counts.sum(), 1.0)
    bucket = np.empty(data.n_items, dtype=object)
    bucket[order] = np.where(share <= 0.2, "head", np.where(share <= 0.5, "torso", "tail"))
    bucket[order[0]] = "head"  # the most popular item is head even when it alone exceeds 20%
    targets = data.window(users, DROP_AFTER[split], 1)[:, 0].numpy()
    return bucket[targets - 1]


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
            body += [f"<h2>{html.escape(heading)}</h2>", _markdown_table_to_html(markdown)]
        body += [f'<figure><img src="{path.name}" alt="{html.escape(caption)}"><figcaption>{html.escape(caption)}'
                 f"</figcaption></figure>" for caption, path in self.images]
        style = "body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}" \
                "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}img{max-width:100%}"
        return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(self.title)}</title>"
                f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")

    def write(self, folder: Path, stem: str = "report") -> dict[str, Path]:
        paths = {"markdown": folder / f"{stem}.md", "html": folder / f"{stem}.html"}
        paths["markdown"].write_text(self.markdown())
        paths["html"].write_text(self.html())
        return paths


def _markdown_table_to_html(markdown: str) -> str:
    """A Markdown table (as :func:`elcrec_core.markdown.markdown_table` writes it) as an HTML table; other
    text as a paragraph."""
    lines = [line for line in markdown.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("|"):
        return f"<p>{html.escape(markdown)}</p>"
    cells = [[c.strip().replace("\\|", "|") for c in line.strip("|").split(" | ")] for line in lines]
    head, rows = cells[0], cells[2:]
    out = ["<table><tr>", *(f"<th>{html.escape(c)}</th>" for c in head), "</tr>"]
    for row in rows:
        out += ["<tr>", *(f"<td>{html.escape(c)}</td>" for c in row), "</tr>"]
    return "".join(out + ["</table>"])

