"""PNG plots for reports (matplotlib, no display needed)."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

LOSS_PARTS = ("loss", "rec", "seq_cl", "intent_cl", "cluster")


def training_curve(history: Sequence[dict[str, float]], path: str | Path) -> Path:
    """Each loss part and validation NDCG@20 per epoch, side by side; written to ``path`` as PNG."""
    epochs = [row["epoch"] for row in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    for part in LOSS_PARTS:
        if part in history[0]:
            left.plot(epochs, [row[part] for row in history], label=part)
    left.set(xlabel="epoch", ylabel="training loss", title="loss parts")
    left.legend(fontsize=8)
    right.plot(epochs, [row["valid_NDCG@20"] for row in history], color="tab:green")
    right.set(xlabel="epoch", ylabel="NDCG@20", title="validation NDCG@20")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def markdown_image(path: str | Path, alt: str) -> str:
    """The PNG at ``path`` inlined as a Markdown image (a data URI), for metadata shown in the Dagster UI."""
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f"![{alt}](data:image/png;base64,{data})"
