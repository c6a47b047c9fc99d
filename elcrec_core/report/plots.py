"""PNG plots for reports (matplotlib, no display needed). pyplot and scikit-learn are imported by the first
plot or map that uses them: together 3 of the 7.5 seconds that importing the assets (every Dagster process) took
(helper-265)."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import matplotlib
import numpy as np

from elcrec_core.data.atomic_files import write_atomically

if TYPE_CHECKING:
    from matplotlib.figure import Figure

matplotlib.use("Agg")  # before pyplot's import

LOSS_PARTS = ("loss", "rec", "seq_cl", "intent_cl", "cluster")
MapMethod = Literal["pca", "tsne"]


def training_curve(history: Sequence[dict[str, float]], path: str | Path) -> Path:
    """Each loss part and validation NDCG@20 per epoch, side by side; written to ``path`` as PNG."""
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    for part in LOSS_PARTS:
        if part in history[0]:
            left.plot(epochs, [row[part] for row in history], label=part)
    left.set(xlabel="epoch", ylabel="training loss", title="loss parts")
    left.legend(fontsize=8)
    right.plot(epochs, [row["valid_NDCG@20"] for row in history], color="tab:green")
    right.set(xlabel="epoch", ylabel="NDCG@20", title="validation NDCG@20")
    return _save(fig, path)


def markdown_image(path: str | Path, alt: str) -> str:
    """The PNG at ``path`` inlined as a Markdown image (a data URI), for metadata shown in the Dagster UI."""
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f"![{alt}](data:image/png;base64,{data})"


MIN_MAP_USERS = 3  # t-SNE needs its perplexity (at least 2) below the samples; PCA two samples for two axes


def map_coordinates(representation: np.ndarray, method: MapMethod = "pca", sample: int = 3000,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(2-D coordinates [S, 2], the rows of ``representation`` [U, d] they place [S]) for a seeded sample of
    S = min(``sample``, U) users, by PCA or t-SNE; fewer than :data:`MIN_MAP_USERS` users (too few to project),
    at their first two coordinates. Raises ValueError for another method."""
    if method not in ("pca", "tsne"):
        raise ValueError(f"unknown map method {method!r}: pca or tsne")
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(representation), size=min(sample, len(representation)), replace=False)
    if len(pick) < MIN_MAP_USERS:
        xy = np.zeros((len(pick), 2))
        first = representation[pick][:, :2]
        xy[:, :first.shape[1]] = first
    elif method == "pca":
        from sklearn.decomposition import PCA

        xy = PCA(n_components=2, random_state=seed).fit_transform(representation[pick])
    elif method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = min(30.0, max(2.0, (len(pick) - 1) / 3))  # t-SNE needs perplexity < samples
        xy = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(
            representation[pick])
    return xy, pick


MAP_PALETTE = [colour for n, colour in enumerate(matplotlib.colormaps["tab10"].colors) if n != 7]  # tab10 less its grey
MAP_COLOURS = len(MAP_PALETTE)  # 9 intents with a colour of their own; the others are light grey


def map_colour_groups(intents: np.ndarray, colours: int = MAP_COLOURS) -> list[int]:
    """The intents that get their own colour on the map: the ``colours`` largest among ``intents`` [S] (the
    mapped users' intents), largest first (ties: the lower intent first). A palette of more colours than the
    eye tells apart repeated its colours: with 32 intents, points of different intents looked alike."""
    values, counts = np.unique(intents, return_counts=True)
    order = np.lexsort((values, -counts))
    return values[order][:colours].tolist()


def intent_map(representation: np.ndarray, intents: np.ndarray, path: str | Path, method: MapMethod = "pca",
               sample: int = 3000, seed: int = 0) -> Path:
    """A 2-D map of (a sample of) the user representations [U, d], coloured by intent [U]: PCA (linear, fast) or
    t-SNE (neighbourhoods, slower: keep ``sample`` to a few thousand); the points are :func:`map_coordinates`'.
    The :data:`MAP_COLOURS` largest intents of the sample have a colour each, named in the legend with their
    users; the others are grey."""
    import matplotlib.pyplot as plt

    xy, pick = map_coordinates(representation, method, sample, seed)
    mapped = intents[pick]
    groups = map_colour_groups(mapped)
    fig, ax = plt.subplots(figsize=(6.5, 5))
    rest = ~np.isin(mapped, groups)
    if rest.any():
        others = len(np.unique(mapped[rest]))
        ax.scatter(xy[rest, 0], xy[rest, 1], color="lightgrey", s=4, alpha=0.7,
                   label=f"{others} other intent{'s' if others > 1 else ''} ({int(rest.sum())})")
    for colour, intent in enumerate(groups):
        shown = mapped == intent
        ax.scatter(xy[shown, 0], xy[shown, 1], color=MAP_PALETTE[colour], s=4, alpha=0.7,
                   label=f"intent {intent} ({int(shown.sum())})")
    ax.legend(fontsize=7, markerscale=3, loc="center left", bbox_to_anchor=(1, 0.5), frameon=False)
    ax.set(title=f"users by intent ({'PCA' if method == 'pca' else 't-SNE'}, {len(pick)} users)", xticks=[],
           yticks=[])
    return _save(fig, path)


MAX_SIZE_LABELS = 64  # intents whose ids label the size chart's bars; more would overlap


def intent_sizes_chart(sizes: np.ndarray, path: str | Path) -> Path:
    """Users per intent (``sizes[i]``: intent i's), largest first (ties: the lower id first); each bar is labelled
    with its intent's id, as the intent tables and the map name it (up to :data:`MAX_SIZE_LABELS` intents)."""
    import matplotlib.pyplot as plt

    order = np.argsort(-sizes, kind="stable")
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.bar(np.arange(len(sizes)), sizes[order], color="tab:blue")
    labelled = len(sizes) <= MAX_SIZE_LABELS
    ax.set_xticks(np.arange(len(sizes)) if labelled else [], [str(i) for i in order] if labelled else [],
                  fontsize=8 if len(sizes) <= 16 else 6)
    ax.set(xlabel="intent id, largest first" if labelled else "intents, largest first (ids: the intent tables)",
           ylabel="users", title=f"intent sizes ({int((sizes > 0).sum())} used)")
    return _save(fig, path)


def _save(fig: Figure, path: str | Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = Path(path)
    try:  # whole or as it was, as the report beside it (write_atomically)
        write_atomically(path, lambda tmp: fig.savefig(tmp, dpi=90, format=path.suffix.lstrip(".") or "png"))
    finally:
        plt.close(fig)
    return path


def backtest_trend(days: list[str], hr: list[float], ndcg: list[float], path: str | Path) -> Path:
    """Next-day HR@20 and NDCG@20 per day (the last 30 days)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3))
    ax.plot(days, hr, marker="o", label="HR@20")
    ax.plot(days, ndcg, marker="o", label="NDCG@20")
    ax.set(title="next-day backtest", ylabel="metric")
    ax.tick_params(axis="x", rotation=60, labelsize=7)
    ax.legend(fontsize=8)
    return _save(fig, path)
