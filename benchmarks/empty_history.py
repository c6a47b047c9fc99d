"""What a trained model recommends to a user it knows nothing of, against most popular (a measurement behind a
decision: should the recommendations fall back to popularity for a user with no item the model knows?).

Every user's first item is the target of an empty history. The model's ranking for an empty history is its
output for a window of padding only (:meth:`elcrec_core.model.elcrec.ELCRec.user_representation`), the same for
every such user; most popular counts the items of all users' training parts (items[:-2], as the quality matrix's
baseline). Full ranking over the checkpoint's items, HR@20 and NDCG@20 over the users, with 95% intervals of the
difference (paired bootstrap over the users).

    .venv/bin/python benchmarks/empty_history.py --data ../shared/data/Beauty.txt \
        --checkpoint runs/quality_matrix/beauty/elcrec_paper/best.pt
    .venv/bin/python benchmarks/empty_history.py --data data-ml-100k/sequences/1998-04-22/sequences.parquet \
        --checkpoint data-ml-100k/models/1998-04-22/<run id>/best.pt
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from elcrec_core.data.sequences import read_sequence_file, read_sequence_parquet
from elcrec_core.evaluate.statistics import bootstrap_mean
from elcrec_core.evaluate.ranking import per_user
from elcrec_core.train.checkpoint import load_model


def first_item_ranks(scores: np.ndarray, targets: np.ndarray) -> torch.Tensor:
    """0-based rank of each target [U] (item indices) in one ranking ``scores`` [n] of items 1..n shared by every
    user (ties: the lower item first)."""
    order = np.argsort(-scores, kind="stable")
    rank = np.empty(len(scores), dtype=np.int64)
    rank[order] = np.arange(len(scores))
    return torch.from_numpy(rank[targets - 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="a benchmark sequence file (user_id item_id ...) or the "
                        "pipeline's sequences.parquet (with its item_index.parquet)")
    parser.add_argument("--checkpoint", required=True, help="a model trained on that file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    seqs = read_sequence_parquet(args.data)[0] if args.data.endswith(".parquet") else read_sequence_file(args.data)
    model, _ = load_model(args.checkpoint)
    model.eval()
    n = model.cfg.n_items
    lengths = np.diff(seqs.offsets)
    training = np.concatenate([seqs.items[s:s + max(0, length - 2)] for s, length in zip(seqs.offsets, lengths)])
    popularity = np.bincount(training, minlength=n + 1)[1:].astype(float)
    with torch.no_grad():
        empty = torch.zeros(1, model.cfg.max_len, dtype=torch.long)
        model_scores = (model.user_representation(empty) @ model.item_table().T)[0].float().numpy()
    targets = seqs.items[seqs.offsets[:-1]]
    ours = per_user(first_item_ranks(model_scores, targets), 20)
    popular = per_user(first_item_ranks(popularity, targets), 20)
    print(f"{len(targets)} users, {n} items; target: each user's first item after an empty history")
    for name in ("HR@20", "NDCG@20"):
        diff = bootstrap_mean(ours[name] - popular[name])
        print(f"{name}: model {ours[name].mean():.4f}  most popular {popular[name].mean():.4f}  "
              f"model - popular {diff.estimate:+.4f} [{diff.low:+.4f}, {diff.high:+.4f}]")
    print(f"correlation of the model's scores with log(1 + popularity): "
          f"{np.corrcoef(model_scores, np.log1p(popularity))[0, 1]:.3f}")


if __name__ == "__main__":
    main()
