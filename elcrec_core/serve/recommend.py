"""Top-K recommendations from any recommender (a trained model or a baseline), history excluded."""

from __future__ import annotations

import torch

from elcrec_core.config.field_types import require_count
from elcrec_core.data.sequences import Sequences, SequenceTensors, check_user_rows, require_data, user_batches
from elcrec_core.evaluate.fitted_inputs import input_counts, popularity_rank_order
from elcrec_core.evaluate.ranking import MAX_SCORE_ELEMENTS, known_items
from elcrec_core.evaluate.scoring import (
    Recommender,
    catalogue_size,
    excluded_items,
    require_seen_rows,
    scores_of,
)

BATCH_USERS = 2048  # users scored at a time, at most


@torch.no_grad()
def recommend(
    rec: Recommender, data: SequenceTensors, users: torch.Tensor, k: int = 20, batch_size: int = BATCH_USERS,
    popularity: SequenceTensors | None = None, seen: SequenceTensors | None = None,
    candidates: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The k best items (indices 1..rec.n_items) and their scores for each of ``users`` (row indices of ``data``)
    under the fitted ``rec``, from the whole history (a model reads its last max_len items); items of the history,
    and of the same user's row of ``seen`` where given (every item the user has interacted with, also those the
    sequences left out: :func:`elcrec_core.data.seen_items.seen_items`), are never recommended: where fewer than k
    others exist, the rest of the row holds such items with score -inf, for the caller to drop. Items of equal
    score are ranked by their popularity in ``popularity`` (default ``data``; every item of every user: the
    pipeline's day, also for one user's recommendations), so that a
    baseline's ties (EASE gives 0 to every item that shares no user with the history) serve the most popular items
    rather than arbitrary ones; a NaN or infinite score counts as -inf (no score: dropped, after the finite ones,
    so the ranks of those served stay 1, 2, ...). ``candidates``, bool [rec.n_items] (item i at i - 1), where given:
    the only items that may be recommended (those still on offer), the others scored -inf too (ValueError for another
    shape or dtype). Raises TypeError for ``data``, ``popularity`` or ``seen`` that is no :class:`SequenceTensors`,
    ValueError for a ``k`` below 1, for a ``seen`` without a row per row of ``data``, for ``users`` that are no 1-D
    tensor of rows of ``data`` (:func:`~elcrec_core.data.sequences.check_user_rows`) and for a ``batch_size`` below
    1. Returns ([U, k'] items, [U, k'] scores in the recommender's dtype, float64 for integer scores; float32 for no
    users), k' = min(k, rec.n_items). A batch holds at most ``batch_size`` users and 2^25 scores (fewer users for a
    large catalogue)."""
    items, scores, _ = _recommend(rec, data, users, k, batch_size, popularity, seen, candidates)
    return items, scores


@torch.no_grad()
def _recommend(rec: Recommender, data: SequenceTensors, users: torch.Tensor, k: int, batch_size: int,
               popularity: SequenceTensors | None, seen: SequenceTensors | None,
               candidates: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`recommend`'s items and scores, and per user the NaN or infinite scores ``rec`` gave (int64 [U])."""
    n_items = catalogue_size(rec)
    require_count(k, "k, the number of items to recommend,")
    require_data(data, SequenceTensors, "recommend's data")  # a baseline's fit named the wrong call (helper-252)
    if popularity is not None:
        require_data(popularity, SequenceTensors, "recommend's popularity")
    check_user_rows(users, len(data))
    require_seen_rows(seen, data)
    require_candidates(candidates, n_items)
    k = min(k, n_items)
    batch_size = min(batch_size, max(1, MAX_SCORE_ELEMENTS // n_items))
    tie_break = popularity_order(data if popularity is None else popularity, n_items)
    top_items, top_scores, non_finite = [], [], []
    for batch in user_batches(users, batch_size):
        history = known_items(data.window(batch, 0, int(data.lengths(batch).max())), n_items)
        no_score = float("-inf")  # nan_to_num would make -inf the dtype's lowest finite value, served as a score
        scores = scores_of(rec, batch, history)
        non_finite.append((~torch.isfinite(scores)).sum(1).cpu())
        scores = torch.nan_to_num(scores, nan=no_score, posinf=no_score, neginf=no_score)
        scores = torch.cat([scores, scores.new_zeros(len(batch), 1)], 1)  # last column: padding slot
        excluded = excluded_items(history, seen, batch, n_items).to(scores.device)
        scores.scatter_(1, torch.where(excluded > 0, excluded - 1, n_items), float("-inf"))
        if candidates is not None:
            scores[:, :n_items].masked_fill_(~candidates.to(scores.device), float("-inf"))
        values, indices = top_k_by_score_then(scores[:, :n_items], tie_break.to(scores), k)
        top_items.append(indices.cpu() + 1)
        top_scores.append(values.cpu())
    if not top_items:
        return torch.zeros(0, k, dtype=torch.long), torch.zeros(0, k), torch.zeros(0, dtype=torch.long)
    return torch.cat(top_items), torch.cat(top_scores), torch.cat(non_finite)


def recommend_day(rec: Recommender, fitted: Sequences, short: Sequences, k: int, seen: SequenceTensors | None = None,
                  candidates: torch.Tensor | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The day's lists (:func:`recommend`): for every user of ``fitted`` (the sequences that ``rec`` was fitted on
    or trained with) and then of ``short`` (the short histories of the users their k-core removed), the ``k`` best
    items from the items ``rec`` knows, every item of the user's row of ``seen`` (same users, same order) excluded,
    ties broken by popularity in ``fitted`` alone (no model learns from the short histories), from ``candidates``
    alone where given (:func:`recommend`). Returns [U, k] items and scores, [U] recommendations lost to
    non-finite scores (:func:`missing_recommendations`) and [U] NaN or infinite scores the user got (never served;
    where they took no list's place, a list is still whole)."""
    data = SequenceTensors.from_sequences(fitted.concat(short).known(rec.n_items))
    users = torch.arange(len(fitted) + len(short))
    items, scores, non_finite = _recommend(rec, data, users, k, BATCH_USERS, SequenceTensors.from_sequences(
        fitted.known(rec.n_items)), seen, candidates)
    missing = missing_recommendations(scores, data, users, rec.n_items, seen=seen, candidates=candidates)
    return items, scores, missing, non_finite


def require_candidates(candidates: torch.Tensor | None, n_items: int) -> None:
    """ValueError where ``candidates`` is given and is no bool vector [``n_items``] (item i at i - 1): another dtype
    failed inside torch (helper-247), and a mask of another shape read "holds 4 items, the recommender scores 4"
    (a column [4, 1]) or raised a TypeError (a single bool)."""
    if candidates is not None and (not isinstance(candidates, torch.Tensor) or candidates.dtype != torch.bool):
        raise ValueError(f"candidates must be a bool tensor (True: the item may be recommended), not "
                         f"{getattr(candidates, 'dtype', type(candidates).__name__)}")
    if candidates is not None and candidates.shape != (n_items,):
        raise ValueError(f"candidates must hold one flag per item, shape ({n_items},) for the {n_items} items the "
                         f"recommender scores, not {tuple(candidates.shape)}")


def missing_recommendations(scores: torch.Tensor, data: SequenceTensors, users: torch.Tensor, n_items: int,
                            batch_size: int = 2048, seen: SequenceTensors | None = None,
                            candidates: torch.Tensor | None = None) -> torch.Tensor:
    """Per user of ``users``, how many of its recommendations are missing: the slots of its row of ``scores``
    [U, k] (from :func:`recommend` over items 1..``n_items``) without a finite score, beyond those that its
    history in ``data`` and its row of ``seen`` leave nothing to fill (it has seen all but j < k of the items, of
    ``candidates`` where given: bool [n_items], the items that may be recommended).
    Non-zero only where the recommender gave an item the user has not seen a NaN or infinite score, which
    :func:`recommend` never serves: the user gets fewer than k items, or none. The histories are read
    ``batch_size`` users at a time, as :func:`recommend` reads them. int64 [U]."""
    require_candidates(candidates, n_items)
    missing = []
    offered = torch.cat([torch.zeros(1, dtype=torch.bool),  # by item index; 0, the padding, is none
                         torch.ones(n_items, dtype=torch.bool) if candidates is None else candidates.cpu()])
    for batch, rows in zip(user_batches(users, batch_size), scores.cpu().split(batch_size)):
        width = max(1, int(data.lengths(batch).max()))  # a batch of users without items: one padding column
        history = known_items(data.window(batch, 0, width), n_items)
        ordered = excluded_items(history, seen, batch, n_items).cpu().sort(1).values
        first = torch.cat([torch.ones_like(ordered[:, :1], dtype=torch.bool), ordered[:, 1:] != ordered[:, :-1]], 1)
        distinct = (first & offered[ordered]).sum(1)  # the excluded items that could be offered, each once
        could = (int(offered.sum()) - distinct).clamp(max=scores.shape[1])
        missing.append((could - torch.isfinite(rows).sum(1)).clamp(min=0))
    return torch.cat(missing) if missing else torch.zeros(0, dtype=torch.long)


def popularity_order(data: SequenceTensors, n_items: int) -> torch.Tensor:
    """Per item 1..``n_items`` (index i - 1), a distinct value in (0, 1) that is larger for an item more frequent
    in ``data`` (every item of every user; an item beyond ``data``'s catalogue counts 0), and for the lower index
    among equally frequent ones: the tie-break of :func:`top_k_by_score_then`. float64 [n_items]."""
    counts = input_counts(data, "all")[:n_items].cpu()
    return popularity_rank_order(torch.cat([counts, counts.new_zeros(n_items - len(counts))]))


def top_k_by_score_then(scores: torch.Tensor, tie_break: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k largest of ``scores`` [U, n] per row, ties (equal scores) decided by the larger ``tie_break`` [n]
    (distinct values in [0, 1), as from :func:`popularity_order`). Returns ([U, k] scores, [U, k] column
    indices), best first. Rows whose k + 1 best scores are distinct (no tie can change the choice or the order:
    the common case for a trained model) take one ``topk``; the others the tie-break."""
    best = scores.topk(min(k + 1, scores.shape[1]), dim=1)
    values, indices = best.values[:, :k].clone(), best.indices[:, :k].clone()
    tied = torch.nonzero((best.values[:, 1:] == best.values[:, :-1]).any(1)).squeeze(1)
    if len(tied):
        values[tied], indices[tied] = _top_k_tie_broken(scores[tied], tie_break, k)
    return values, indices


def _top_k_tie_broken(scores: torch.Tensor, tie_break: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`top_k_by_score_then` for rows with ties: every item above the k-th score, then those at it by
    tie-break, ordered by score, then tie-break."""
    kth = scores.topk(k, dim=1).values[:, -1:]
    above = torch.tensor(2.0, dtype=scores.dtype, device=scores.device)
    key = torch.where(scores > kth, above, torch.where(scores == kth, tie_break.expand_as(scores), -1.0))
    chosen = key.topk(k, dim=1).indices
    chosen = chosen.gather(1, tie_break[chosen].argsort(dim=1, descending=True, stable=True))
    chosen = chosen.gather(1, scores.gather(1, chosen).argsort(dim=1, descending=True, stable=True))
    return scores.gather(1, chosen), chosen
