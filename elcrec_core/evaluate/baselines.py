"""Baselines, ranked under the same protocol as the model: most popular, item transitions, EASE and SASRec
(the ablation of ELCRec), each a :class:`~elcrec_core.evaluate.scoring.Recommender`.

As the models train on each user's items[:-2], every baseline is fitted there (``fit(data, "valid")``), tuned on
the ``valid`` split and reported on ``test`` (:func:`compare`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from elcrec_core.config.settings import ExperimentConfig, merge_overrides
from elcrec_core.data.sequences import Sequences, SequenceTensors
from elcrec_core.evaluate.fitted_inputs import input_counts, input_items, popularity_rank_order, popularity_tie_break
from elcrec_core.evaluate.linalg import spd_inverse_
from elcrec_core.evaluate.ranking import SELECTION_METRIC, Split, eligible_users
from elcrec_core.evaluate.score_text import ScoreFormat
from elcrec_core.evaluate.scoring import ELCRecRecommender, Fit, Fitted, recommender_metrics, require_score_inputs


# ----------------------------------------------------------------------------------------- under the contract
EASE_LAMBDAS = (10.0, 50.0, 100.0, 200.0, 500.0, 1000.0)
# EASE holds dense item x item matrices, at most three while fitting (its inverse, the factor and a tuning's best
# weights) and the Gram matrix in float32: 28 n^2 bytes in float64 (4.1 GB for Beauty's 12,101 items), 16 n^2 in
# float32, which it uses above EASE_FLOAT64_ITEMS (on Beauty float32 moves a metric in the 4th decimal at some
# lambdas); no more than EASE_MAX_ITEMS (14 GB)
EASE_FLOAT64_ITEMS = 20_000
EASE_MAX_ITEMS = 30_000
# SASRec trained as the ablation of ELCRec: the next-item loss (full softmax) alone, no intent parts
SASREC_ABLATION = {"cf_weight": 0.0, "intent_cf_weight": 0.0, "trade_off": 0.0, "rec_loss": "ce"}


class MostPopular(Fitted):
    """Every item scored by how often it occurs in all users' inputs for the fitted split (:func:`input_counts`)
    plus its :func:`popularity_rank_order` (< 1: among equally frequent items the lower index first): one total
    order, which it serves and is evaluated on alike (the evaluator's tie rule, which counts ties against the
    target, would otherwise rank it below what it serves, and the promotion gate's floor with it). Fitted and
    evaluated on one split it ranks as :func:`~elcrec_core.evaluate.popularity.popularity_ranks`."""

    name = "most_popular"

    def fit(self, data: SequenceTensors, split: Fit) -> "MostPopular":
        """``scoring.Recommender.fit`` (its errors): counts each item in the inputs for ``split``."""
        self.counts = input_counts(data, split)  # first: a refused ``data`` leaves the recommender unfitted
        self._scores = self.counts + popularity_rank_order(self.counts)
        self.n_items = data.n_items
        return self

    def score(self, users: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        """``scoring.Recommender.score`` (its errors): the same counts for every user, float64 [B, n_items]."""
        require_score_inputs(self, users, history)
        return self._scores.to(history.device).expand(len(users), -1)


class ItemTransition(Fitted):
    """First-order item transitions: the score of item j after the user's most recent input item i is the number
    of i -> j consecutive pairs in all users' fitted inputs, plus j's :func:`popularity_tie_break` (< 1: it only
    breaks ties between equal counts; a user without inputs gets most popular's order): one total order, served
    and evaluated alike. The counts are a sparse (n + 1) x (n + 1) matrix: memory grows with the distinct pairs,
    not n^2."""

    name = "transition"

    def fit(self, data: SequenceTensors, split: Fit) -> "ItemTransition":
        """``scoring.Recommender.fit`` (its errors): counts the consecutive pairs of the inputs for ``split``."""
        user, item = (t.cpu().numpy() for t in input_items(data, split))
        same = user[1:] == user[:-1]
        self.n_items = n = data.n_items
        prev, nxt = item[:-1][same], item[1:][same]
        self.pairs = sp.csr_matrix((np.ones(len(prev)), (prev, nxt)), shape=(n + 1, n + 1))  # repeats are summed
        self.tie_break = popularity_tie_break(data, split)
        return self

    def score(self, users: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        """``scoring.Recommender.score`` (its errors): the pairs after ``history``'s last item, float64 [B, n_items]."""
        require_score_inputs(self, users, history)
        last = history[:, -1].cpu().numpy() if history.shape[1] else np.zeros(len(users), np.int64)
        counts = self.pairs[last].toarray()[:, 1:]  # row 0 (no item) is empty
        return torch.from_numpy(counts + self.tie_break)


def interaction_matrix(data: SequenceTensors, split: Fit) -> sp.csr_matrix:
    """The binary users x items matrix (column i - 1 for item i) of the users' inputs for ``split``."""
    user, item = (t.cpu().numpy() for t in input_items(data, split))
    x = sp.csr_matrix((np.ones(len(user), np.float32), (user, item - 1)), shape=(len(data), data.n_items))
    x.data[:] = 1.0  # a repeated item counts once
    return x


def ease_gram(data: SequenceTensors, split: Fit) -> torch.Tensor:
    """X^T X, dense [n, n] float32, for X the :func:`interaction_matrix` (exact: integer counts < 2^24)."""
    if data.n_items > EASE_MAX_ITEMS:
        raise ValueError(f"EASE needs dense {data.n_items:,} x {data.n_items:,} matrices; it is limited to "
                         f"{EASE_MAX_ITEMS:,} items")
    x = interaction_matrix(data, split)
    return torch.from_numpy((x.T @ x).toarray())


class EASE(Fitted):
    """EASE (Steck 2019): B = I - P diag(1 / diag(P)) with P = (X^T X + lambda I)^-1 and X the binary user-item
    matrix of the fitted inputs (so diag(B) = 0); a user's scores are x_u B, x_u the binary vector of the items in
    their history. ``dtype`` None (the default): float64 up to :data:`EASE_FLOAT64_ITEMS` items, float32 above."""

    name = "ease"

    def __init__(self, lam: float = 100.0, dtype: torch.dtype | None = None) -> None:
        if isinstance(lam, (bool, np.bool_)) or not isinstance(lam, (int, float, np.integer, np.floating)) \
                or not 0 < lam < math.inf:  # a numpy number too, as ease_lambdas takes (helper-202)
            raise ValueError(f"EASE's lambda must be a finite number > 0, not {lam!r}")  # inf failed in fit only
        self.lam, self.dtype = float(lam), dtype

    def fit(self, data: SequenceTensors, split: Fit) -> "EASE":
        """``scoring.Recommender.fit`` (its errors; ValueError above EASE_MAX_ITEMS items): B of ``split``'s inputs."""
        return self.fit_gram(ease_gram(data, split))

    def fit_gram(self, gram: torch.Tensor) -> "EASE":
        """Fit from X^T X (:func:`ease_gram`), which is left unchanged: a lambda grid computes it once."""
        n = gram.shape[0]
        if self.dtype is None:
            self.dtype = torch.float64 if n <= EASE_FLOAT64_ITEMS else torch.float32
        p = gram.to(self.dtype, memory_format=torch.contiguous_format, copy=True)
        p.diagonal().add_(self.lam)
        p = spd_inverse_(p)  # X^T X + lambda I is symmetric positive definite
        p.div_(-p.diagonal().clone())  # column j over -P_jj
        p.diagonal().zero_()
        self.weights, self.n_items = p, n
        return self

    def score(self, users: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        """``scoring.Recommender.score`` (its errors): x_u B, [B, n_items] of ``dtype`` (float64 or float32)."""
        require_score_inputs(self, users, history)
        n = self.n_items
        rows, cols = torch.nonzero(history.cpu() > 0, as_tuple=True)
        keys = torch.unique(rows * (n + 1) + history.cpu()[rows, cols])  # each (user, item) once: x_u is binary
        x = torch.sparse_coo_tensor(torch.stack([keys // (n + 1), keys % (n + 1) - 1]),
                                    torch.ones(len(keys), dtype=self.dtype), (len(users), n),
                                    is_coalesced=True, check_invariants=False)  # sorted, unique
        return torch.sparse.mm(x, self.weights)


def ease_lambdas(values: Iterable[float]) -> tuple[float, ...]:
    """``values`` as EASE's grid of L2 weights λ; raises ValueError for none, or one not finite and > 0."""
    lambdas = tuple(float(value) for value in values)
    if not lambdas or not all(0 < lam < math.inf for lam in lambdas):
        raise ValueError(f"EASE needs one or more finite lambdas > 0, not {lambdas}")
    return lambdas


def tune_ease(data: SequenceTensors, lambdas: tuple[float, ...] = EASE_LAMBDAS,
              log: Callable[[str], None] = print) -> tuple[EASE, dict[float, dict[str, float]]]:
    """EASE fitted on the training part (items[:-2]) for each lambda, scored on the ``valid`` split (never on
    test); returns the one with the best valid NDCG@20 (the models' selection metric; the first on a tie) and
    every lambda's valid metrics (the first lambda where none has a figure: its scores are not finite for some user,
    so it never serves). Raises ValueError for no lambda or one not finite and > 0, and when no user has a valid
    target (3 items or more): nothing to tune on."""
    lambdas = ease_lambdas(lambdas)
    if len(eligible_users(data, "valid")) == 0:
        raise ValueError(f"EASE's lambda is tuned on the valid split, and none of the {len(data)} users has the 3 "
                         "items it needs")
    t0 = time.perf_counter()
    gram = ease_gram(data, "valid")
    log(f"ease: X^T X of {data.n_items} items in {time.perf_counter() - t0:.1f}s")
    best, best_score, table = None, -math.inf, {}
    for lam in lambdas:
        t0 = time.perf_counter()
        ease = EASE(lam).fit_gram(gram)
        fit_seconds = time.perf_counter() - t0
        table[lam] = recommender_metrics(ease, data, "valid")
        log(f"ease: lambda {lam:g}: valid HR@20 {table[lam]['HR@20']:.4f} NDCG@20 {table[lam]['NDCG@20']:.4f} "
            f"(fit {fit_seconds:.1f}s, {time.perf_counter() - t0:.1f}s with the valid ranking)")
        if table[lam][SELECTION_METRIC] > best_score:
            best, best_score = ease, table[lam][SELECTION_METRIC]
        del ease
    if best is None:  # every lambda gives some valid user a NaN or infinite score: no figure to choose by
        best = EASE(lambdas[0]).fit_gram(gram)
        log(f"ease: every lambda gives some valid user a NaN or infinite score (no figure): lambda {best.lam:g}, "
            "which may not serve")
        return best, table
    near = [lam for lam in table if lam != best.lam  # alike as the lambdas' lines printed them (helper-246)
            and ScoreFormat()(table[lam][SELECTION_METRIC]) == ScoreFormat()(best_score)]
    fmt = ScoreFormat.of([best_score, *(table[lam][SELECTION_METRIC] for lam in near)])
    against = ", ".join(f"{fmt(table[lam][SELECTION_METRIC])} (lambda {lam:g})" for lam in near)
    log(f"ease: chose lambda {best.lam:g} (best valid {SELECTION_METRIC} {fmt(best_score)}"
        + (f", against {against}" if near else "") + f"){_grid_end(best.lam, lambdas)}")
    return best, table


def _grid_end(lam: float, lambdas: tuple[float, ...]) -> str:
    """A note for the log when ``lam``, chosen from a grid of several, is at one of its ends: the best may lie
    beyond the grid."""
    if len(set(lambdas)) < 2 or min(lambdas) < lam < max(lambdas):
        return ""
    side, beyond = ("largest", "larger") if lam == max(lambdas) else ("smallest", "smaller")
    return f"; it is the grid's {side}: a {beyond} lambda may score higher"


class SASRec(Fitted):
    """SASRec (Kang & McAuley, 2018), the ablation of ELCRec: the same encoder, settings and budget as ``exp``
    with only the full-softmax next-item loss (:data:`SASREC_ABLATION`), trained by
    :func:`elcrec_core.train.loop.train` into ``out_dir``.
    Training always fits items[:-2] and selects the epoch on ``valid``, so only ``fit(data, "valid")`` exists;
    after it the best epoch's model scores as :class:`~elcrec_core.evaluate.scoring.ELCRecRecommender`."""

    name = "sasrec"

    def __init__(self, exp: ExperimentConfig, out_dir: str | Path, log: Callable[[str], None] = print) -> None:
        self.settings, self.out_dir, self.log = exp, Path(out_dir), log

    def fit(self, data: SequenceTensors, split: Split) -> "SASRec":
        """``scoring.Recommender.fit`` (its errors) on "valid" only (ValueError otherwise), and train()'s errors."""
        from elcrec_core.train.checkpoint import load_model
        from elcrec_core.train.device import select_device
        from elcrec_core.train.loop import train

        if split != "valid":
            raise ValueError("SASRec trains on items[:-2] and selects its epoch on the valid split: fit it on "
                             f"'valid', not {split!r}")
        self.exp = sasrec_config(self.settings, data.n_items)
        self.result = train(to_sequences(data), self.exp, self.out_dir, resume=False, log=self.log)
        model, _ = load_model(self.result.checkpoint)
        self.model = ELCRecRecommender(model.to(select_device(self.exp.train.device)))
        self.n_items = self.model.n_items
        return self

    def score(self, users: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        """``scoring.Recommender.score`` (its errors), as ``ELCRecRecommender.score``: float32 [B, n_items]."""
        require_score_inputs(self, users, history)  # named as SASRec's
        return self.model.score(users, history)


def sasrec_config(exp: ExperimentConfig, n_items: int | None = None) -> ExperimentConfig:
    """``exp`` with the intent parts off and the full-softmax next-item loss: plain SASRec. Given the catalogue's
    ``n_items``, where full softmax is refused for it (one batch's logits over
    :data:`~elcrec_core.config.settings.MAX_CE_LOGITS`), ``exp``'s own next-item loss (the sampled softmax that
    preset auto picks there): the ablation then trains where the candidate does."""
    sasrec = merge_overrides(exp, {}, SASREC_ABLATION)
    if n_items is not None:
        try:
            sasrec.model_config(n_items)
        except ValueError:  # full softmax over too many items: refused for any model
            return merge_overrides(exp, {}, {k: v for k, v in SASREC_ABLATION.items() if k != "rec_loss"})
    return sasrec


def to_sequences(data: SequenceTensors) -> Sequences:
    """The :class:`Sequences` (users numbered 0..U-1) of tensors whose users lie back to back in ``items``."""
    starts, ends = data.starts.cpu().numpy(), data.ends.cpu().numpy()
    if len(starts) and (starts[0] != 0 or (starts[1:] != ends[:-1]).any() or ends[-1] != len(data.items)):
        raise ValueError("the users' items do not lie back to back")
    offsets = np.concatenate([[0], ends]).astype(np.int64)
    return Sequences(np.arange(len(starts)), data.items.cpu().numpy().astype(np.int64), offsets, data.n_items)


def compare(data: SequenceTensors, lambdas: tuple[float, ...] = EASE_LAMBDAS, sasrec: SASRec | None = None,
            log: Callable[[str], None] = print) -> dict[str, dict[str, float]]:
    """Test-split HR@K / NDCG@K of each baseline, fitted as the models train (on items[:-2]) and tuned on
    ``valid``: ``most_popular``, ``transition``, ``ease`` (its lambda the best of ``lambdas``; ``item_knn`` instead
    where the catalogue exceeds :data:`EASE_MAX_ITEMS`; left out where no user has a valid target to tune on) and,
    when given, ``sasrec``. Fit times and lambdas go to ``log``."""
    from elcrec_core.evaluate.item_knn import tune_item_baseline  # it builds on this module

    out: dict[str, dict[str, float]] = {}
    for rec in (MostPopular(), ItemTransition()):
        out[rec.name] = _fit_and_test(rec, data, log)
    if len(eligible_users(data, "valid")) == 0:  # the others' figures stand: printed, not lost to an error
        log(f"{'ease' if data.n_items <= EASE_MAX_ITEMS else 'item_knn'}: left out (tuned on the valid split, and "
            f"none of the {len(data)} users has the 3 items it needs)")
    else:
        t0 = time.perf_counter()
        rec = tune_item_baseline(data, lambdas, log=log)
        log(f"{rec.name}: tuned in {time.perf_counter() - t0:.1f}s")
        out[rec.name] = _test_metrics(rec, data, log)
    if sasrec is not None:
        out[sasrec.name] = _fit_and_test(sasrec, data, log)
    return out


def _fit_and_test(rec, data: SequenceTensors, log: Callable[[str], None]) -> dict[str, float]:
    t0 = time.perf_counter()
    rec.fit(data, "valid")
    log(f"{rec.name}: fitted in {time.perf_counter() - t0:.1f}s")
    return _test_metrics(rec, data, log)


def _test_metrics(rec, data: SequenceTensors, log: Callable[[str], None]) -> dict[str, float]:
    t0 = time.perf_counter()
    metrics = recommender_metrics(rec, data, "test")
    said = ("no figure: some test users get a NaN or infinite score" if math.isnan(metrics["HR@20"])  # (nan said
            else f"test HR@20 {metrics['HR@20']:.4f} NDCG@20 {metrics['NDCG@20']:.4f}")        # no more: helper-211)
    log(f"{rec.name}: {said} (ranked in {time.perf_counter() - t0:.1f}s)")
    return metrics
