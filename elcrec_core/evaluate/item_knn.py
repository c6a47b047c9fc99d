"""Item-kNN, the neighbourhood baseline that stands in for EASE where the catalogue is too large for EASE's dense
item x item matrices (more than :data:`~elcrec_core.evaluate.baselines.EASE_MAX_ITEMS` items).

Item-based collaborative filtering with cosine similarity and the k nearest items (Sarwar et al., WWW 2001;
Deshpande & Karypis, TOIS 2004), with the shrink term of the cosine's denominator that RecBole's ItemKNN and the
reproducibility studies of Ferrari Dacrema et al. (RecSys 2019) tune with k: it discounts items that share few
users (on Beauty's valid split, NDCG@20 0.0457 at shrink 0 and 0.0558 at 50, k 200). Its memory is the
similarity's k entries an item (n k, sparse), and its time the co-occurring pairs of the users' inputs (the sum of
their squared lengths), computed in blocks of items of about :data:`ITEM_KNN_BLOCK_PAIRS` of them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
import torch

from elcrec_core.config.field_types import require_count
from elcrec_core.data.sequences import SequenceTensors
from elcrec_core.evaluate import baselines
from elcrec_core.evaluate.baselines import EASE, EASE_LAMBDAS, interaction_matrix, tune_ease
from elcrec_core.evaluate.fitted_inputs import popularity_tie_break
from elcrec_core.evaluate.ranking import SELECTION_METRIC, eligible_users
from elcrec_core.evaluate.scoring import Fit, Fitted, recommender_metrics, require_score_inputs

ITEM_KNN_NEIGHBOURS = (50, 200)  # the grid of k and of the shrink, chosen on valid: 8 fits
ITEM_KNN_SHRINKS = (0.0, 10.0, 50.0, 200.0)
ITEM_KNN_BLOCK_PAIRS = 1 << 24  # co-occurrences computed at once (about 1 GB while a block is ranked)


def nearest_items(data: SequenceTensors, split: Fit, k: int, shrink: float = 0.0) -> sp.csr_matrix:
    """Each item's ``k`` most similar items, as the rows of a sparse [n, n] float32 matrix (row i - 1 for item i,
    column j - 1 for item j), each row's entries in order of similarity (highest first; ties: the lower item first).
    The similarity of items i != j is the cosine of their columns of the binary user-item matrix X of the users'
    inputs for ``split`` (:func:`~elcrec_core.evaluate.baselines.interaction_matrix`) with ``shrink`` added to its
    denominator: |U_i ∩ U_j| / (sqrt(|U_i| |U_j|) + shrink), U_i the users with item i; items that share no user
    are not neighbours. Raises ValueError for k < 1 or a shrink not finite and >= 0."""
    _check(k, shrink)
    x = interaction_matrix(data, split)
    items = x.T.tocsr()
    users_per_item = np.diff(items.indptr).astype(np.float64)
    # a block of items at a time, of about ITEM_KNN_BLOCK_PAIRS co-occurrences (an item's: its users' input lengths)
    pairs = items @ np.diff(x.indptr).astype(np.float64)
    block = (np.cumsum(pairs) - pairs) // ITEM_KNN_BLOCK_PAIRS
    starts = np.append(np.flatnonzero(np.diff(block, prepend=-1)), data.n_items)
    blocks = []
    for start, stop in zip(starts[:-1], starts[1:]):
        counts = (items[start:stop] @ x).tocoo()  # co-occurrences [stop - start, n]
        row, col = counts.row.astype(np.int64), counts.col.astype(np.int64)
        off_diagonal = row + start != col
        row, col, count = row[off_diagonal], col[off_diagonal], counts.data[off_diagonal].astype(np.float64)
        similarity = count / (np.sqrt(users_per_item[row + start] * users_per_item[col]) + shrink)
        order = np.lexsort((col, -similarity, row))  # by row, then most similar, then lower item
        ranked = sp.csr_matrix((similarity[order].astype(np.float32), col[order].astype(np.int32),
                                np.append(0, np.cumsum(np.bincount(row, minlength=stop - start)))),
                               shape=(stop - start, data.n_items))
        blocks.append(first_neighbours(ranked, k))
    if not blocks:
        return sp.csr_matrix((data.n_items, data.n_items), dtype=np.float32)
    return sp.vstack(blocks, format="csr")  # the rows' entries stay in their order


def first_neighbours(neighbours: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """The first ``k`` entries of each row of :func:`nearest_items` (computed for k or more): its k nearest."""
    per_row = np.diff(neighbours.indptr)
    rank = np.arange(neighbours.nnz) - np.repeat(neighbours.indptr[:-1], per_row)
    kept = rank < k
    indptr = np.concatenate([[0], np.cumsum(np.minimum(per_row, k))])
    return sp.csr_matrix((neighbours.data[kept], neighbours.indices[kept], indptr), shape=neighbours.shape)


def _check(k: int, shrink: float) -> None:
    require_count(k, "item-kNN's k, its number of neighbours,")
    if not 0 <= shrink < math.inf:
        raise ValueError(f"item-kNN's shrink must be finite and >= 0, not {shrink}")


class ItemKNN(Fitted):
    """Item-kNN: a user's score of item j is the sum, over the distinct items i of their history, of the
    similarity of i and j (the cosine with ``shrink``) where j is one of the ``k`` nearest items of i
    (:func:`nearest_items`), a float32 sum s, plus its
    :func:`~elcrec_core.evaluate.fitted_inputs.popularity_tie_break` t times half the float32 spacing at s (below
    the next float32 sum: it orders equal sums alone); an item near none of them scores t - 1 (in (-1, 0): below
    every near item, in most popular's order). So the items score one total order, served and evaluated alike
    (equal sums, and the 0 of every item near none, counted against the target in evaluation while the lists broke
    them by popularity). ``score`` gives [B, n_items] float64. Raises ValueError for k < 1 or a shrink not finite
    and >= 0. Defaults: RecBole's ItemKNN."""

    name = "item_knn"

    def __init__(self, k: int = 100, shrink: float = 0.0) -> None:
        _check(k, shrink)
        self.k, self.shrink = int(k), float(shrink)

    def fit(self, data: SequenceTensors, split: Fit) -> "ItemKNN":
        """``scoring.Recommender.fit`` (its errors): the ``k`` nearest items of each from ``split``'s inputs."""
        return self.fit_neighbours(nearest_items(data, split, self.k, self.shrink), popularity_tie_break(data, split))

    def fit_neighbours(self, neighbours: sp.csr_matrix, tie_break: np.ndarray) -> "ItemKNN":
        """Fit from :func:`nearest_items` of ``k`` or more neighbours and the same shrink (a grid of k computes it
        once) and the :func:`~elcrec_core.evaluate.fitted_inputs.popularity_tie_break` of the same inputs."""
        self.weights = first_neighbours(neighbours, self.k)
        self.n_items = neighbours.shape[0]
        self.tie_break = tie_break
        return self

    def score(self, users: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        """``scoring.Recommender.score`` (its errors): the class's sums and tie-break, float64 [B, n_items]."""
        require_score_inputs(self, users, history)
        rows, cols = np.nonzero(history.cpu().numpy() > 0)
        items = history.cpu().numpy()[rows, cols] - 1
        x = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, items)), shape=(len(users), self.n_items))
        x.data[:] = 1.0  # an item the history repeats counts once
        sums = (x @ self.weights).toarray()  # float32; similarities are > 0: 0 is near no item
        ordered = sums + 0.5 * np.spacing(sums).astype(np.float64) * self.tie_break
        return torch.from_numpy(np.where(sums > 0, ordered, self.tie_break - 1.0))


def tune_item_knn(data: SequenceTensors, ks: tuple[int, ...] = ITEM_KNN_NEIGHBOURS,
                  shrinks: tuple[float, ...] = ITEM_KNN_SHRINKS,
                  log: Callable[[str], None] = print) -> tuple[ItemKNN, dict[tuple[int, float], dict[str, float]]]:
    """Item-kNN fitted on the training part (items[:-2]) for each k of ``ks`` and shrink of ``shrinks``, scored on
    the ``valid`` split (never on test); returns the one of best valid NDCG@20 (the first on a tie, shrinks in the
    outer loop) and every (k, shrink)'s valid metrics. Raises ValueError for an empty grid, a k < 1 or a shrink not
    finite and >= 0, and when no user has a valid target."""
    if not ks or not shrinks:
        raise ValueError(f"item-kNN needs one or more k and shrinks, not {ks} and {shrinks}")
    for k in ks:
        for shrink in shrinks:
            _check(k, shrink)
    if len(eligible_users(data, "valid")) == 0:
        raise ValueError(f"item-kNN's k is tuned on the valid split, and none of the {len(data)} users has the 3 "
                         "items it needs")
    best, best_score, table = None, -math.inf, {}
    tie_break = popularity_tie_break(data, "valid")
    for shrink in shrinks:
        neighbours = knn = None  # the last shrink's, freed before the next is computed (n k entries each)
        t0 = time.perf_counter()
        neighbours = nearest_items(data, "valid", max(ks), shrink)
        log(f"item_knn: the {max(ks)} nearest of {data.n_items:,} items, shrink {shrink:g}, in "
            f"{time.perf_counter() - t0:.1f}s")
        for k in ks:
            knn = ItemKNN(k, shrink).fit_neighbours(neighbours, tie_break)
            table[k, shrink] = metrics = recommender_metrics(knn, data, "valid")
            log(f"item_knn: k {k}, shrink {shrink:g}: valid HR@20 {metrics['HR@20']:.4f} NDCG@20 "
                f"{metrics['NDCG@20']:.4f}")
            if best is None or metrics[SELECTION_METRIC] > best_score:
                best, best_score = knn, metrics[SELECTION_METRIC]
    log(f"item_knn: chose k {best.k}, shrink {best.shrink:g} (best valid {SELECTION_METRIC} {best_score:.4f})")
    return best, table


def tune_item_baseline(data: SequenceTensors, lambdas: tuple[float, ...] = EASE_LAMBDAS,
                       log: Callable[[str], None] = print) -> EASE | ItemKNN:
    """The item-similarity baseline of the comparisons, tuned on valid: EASE (λ from ``lambdas``, :func:`tune_ease`)
    up to :data:`~elcrec_core.evaluate.baselines.EASE_MAX_ITEMS` items, item-kNN (:func:`tune_item_knn`, its own
    grid: ``lambdas`` are EASE's) above.
    Raises ValueError where no user has a valid target to tune on."""
    limit = baselines.EASE_MAX_ITEMS
    if data.n_items <= limit:
        return tune_ease(data, lambdas, log=log)[0]
    log(f"ease: left out ({data.n_items:,} items; EASE is limited to {limit:,}): item_knn stands in")
    return tune_item_knn(data, log=log)[0]
