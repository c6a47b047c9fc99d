"""The scoring contract that the ELCRec model and every baseline meet, and one evaluator for all of them.

A :class:`Recommender` is fitted on each user's items before a split's target (``fit(data, "valid")``: items[:-2],
the training part that the models train on; ``fit(data, "test")``: items[:-1]) and then scores every real item
for a batch of users from their input history. :func:`evaluate_recommender` ranks the split's targets under the
rules of :mod:`elcrec_core.evaluate.ranking` (full ranking, history excluded, ties against the target, a non-finite or
history target is a miss), in groups of at most 2^25 user-item scores; for an ELCRec model wrapped in
:class:`ELCRecRecommender` it gives exactly :func:`elcrec_core.evaluate.ranking.evaluate_ranks`.

The figures reported for baselines and models alike are: fit on the training part (``fit(data, "valid")``),
tune on the ``valid`` split, report the ``test`` split (its history items[:-1] is the input to score from).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal, Protocol, runtime_checkable

import torch
import torch.nn.functional as F

from elcrec_core.config.field_types import require_count
from elcrec_core.data.sequences import SequenceTensors, require_data, user_batches
from elcrec_core.evaluate.ranking import (
    DROP_AFTER,
    MAX_SCORE_ELEMENTS,
    MIN_ITEMS,
    MISS_RANK,
    NonFiniteScores,
    Split,
    SplitTable,
    figures_from_ranks,
    known_items,
    rank_score_matrix,
    split_users,
)
from elcrec_core.model.elcrec import ELCRec, eval_mode
from elcrec_core.model.products import user_item_scores

# what a recommender is fitted on: each user's items before the split's target (``valid``: items[:-2], the
# training part; ``test``: items[:-1]) or, to serve, every item (``all``)
Fit = Literal["valid", "test", "all"]
HELD_OUT = SplitTable(valid=2, test=1, all=0)  # items after the fitted part


@runtime_checkable
class Recommender(Protocol):
    """What the evaluator needs of a model or baseline.

    ``n_items``: the items it scores (ids 1..n_items; items of the data beyond them are unknown to it: the evaluator
    and :func:`~elcrec_core.serve.recommend.recommend` give them as padding in the history, and a target among them
    is a miss; ``score`` itself takes ids 0..n_items only, as they give them). ``fit(data, split)`` learns from each
    user's items before the split's target (``valid``, ``test``: :data:`HELD_OUT`) or from every item (``all``: to
    serve) and returns the recommender. ``score(users, history)`` returns [B, n_items] float scores (column i - 1
    for item i; higher is better; integers are taken as float64, :func:`scores_of`) for the ``users`` [B] with input
    ``history`` [B, L] (item ids, right-aligned, 0 = padding; the most recent item in the last column). The
    ``users`` are rows of the data that ``history`` is read from, which need not be the data it was fitted on
    (served users of another day, the short histories after them, one user's own file): a recommender scores from
    ``history`` and never looks a user up in its fitted data (helper-196). ``score`` raises ValueError for inputs
    of another shape, dtype or id range (:func:`require_score_inputs`)."""

    n_items: int

    def fit(self, data: SequenceTensors, split: Fit) -> "Recommender":
        """Learn from each user's items of ``data`` before the split's target (``all``: every item); returns the
        fitted recommender. Raises ValueError for a split that is none of :data:`Fit`'s."""
        ...

    def score(self, users: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        """Float scores [B, n_items] (column i - 1 for item i, higher is better) for ``users`` [B] from their
        ``history`` [B, L] (int64 ids 0..n_items, right-aligned, 0 = padding) alone. Raises ValueError for inputs
        that :func:`require_score_inputs` refuses, :class:`NotFitted` before :meth:`fit`."""
        ...


def require_score_inputs(rec: Recommender, users: torch.Tensor, history: torch.Tensor) -> None:
    """What :meth:`Recommender.score` takes, checked (each recommender's ``score`` calls it): ``users`` a 1-D and
    ``history`` a 2-D tensor of integer ids, a row of history per user, its ids within 0..``rec.n_items``. Raises
    ValueError naming ``rec``'s class otherwise: item -1 was scored as the last item by one baseline, n_items + 1
    raised an IndexError inside torch or scipy, and a history of fewer rows than users gave rows of zeros
    (helper-247)."""
    where = f"{type(rec).__name__}.score"
    for name, ids, dims in (("users", users, 1), ("history", history, 2)):
        if not isinstance(ids, torch.Tensor) or ids.dim() != dims or ids.is_floating_point() or ids.is_complex() \
                or ids.dtype == torch.bool:
            shown = f"a {ids.dim()}-D tensor of {ids.dtype}" if isinstance(ids, torch.Tensor) else type(ids).__name__
            raise ValueError(f"{where}: {name} must be a {dims}-D tensor of integer ids, not {shown}")
    if len(users) != len(history):
        raise ValueError(f"{where}: {len(users)} users but {len(history)} rows of history (one per user)")
    if history.numel() and not (0 <= int(history.min()) and int(history.max()) <= rec.n_items):
        raise ValueError(f"{where}: the history's item ids lie in {int(history.min())}..{int(history.max())}, not "
                         f"within 0..{rec.n_items} (0 is padding; items are 1..{rec.n_items})")


class NotFitted(AttributeError):
    """A recommender's fitted state (its ``n_items``, what ``score`` reads) asked for before its ``fit``: an
    AttributeError, as scikit-learn's NotFittedError is one, so ``hasattr`` and copying work as before."""


class Fitted:
    """Base of the baselines: before ``fit`` has set ``n_items``, an attribute that only ``fit`` sets raises
    :class:`NotFitted`, naming the class and ``fit``, where Python named only a private attribute such as
    ``_scores`` (helper-216). After ``fit`` a missing attribute is a plain AttributeError."""

    def __getattr__(self, name: str) -> object:  # only where the normal lookup finds nothing
        if name.startswith("__") or "n_items" in vars(self):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        raise NotFitted(f"{type(self).__name__} is not fitted: call its fit(data, split) first, which returns the "
                        f"fitted recommender (it has no {name} yet)")


@torch.no_grad()
def evaluate_recommender(rec: Recommender, data: SequenceTensors, split: Split, users: torch.Tensor | None = None,
                         batch_size: int = 2048) -> torch.Tensor:
    """0-based ranks of the ``split`` targets of ``users`` (default:
    :func:`~elcrec_core.evaluate.ranking.eligible_users`) under ``rec``, a fitted :class:`Recommender`. Users go in
    batches of ``batch_size`` (as
    :func:`~elcrec_core.evaluate.ranking.evaluate_ranks`), each scored in groups of at most 2^25 user-item scores; a
    target beyond ``rec.n_items`` is a miss and history items beyond it are left out of the input
    (:func:`~elcrec_core.evaluate.ranking.known_items`). Returns int64 [U]. Raises ValueError for ``users`` that are
    no rows of ``data`` or have too few items for ``split``, an unknown split, a ``batch_size`` below 1, an
    ``n_items`` that is no count (:func:`catalogue_size`) and scores that are no real [B, n_items] tensor
    (:func:`scores_of`); TypeError for ``data`` that is no SequenceTensors;
    :class:`~elcrec_core.evaluate.ranking.NonFiniteScores` where ``rec`` gives some user a NaN or infinite score
    (it returned their ranks as misses, which intervals then read as a figure: helper-216;
    :func:`ranks_and_non_finite` gives the ranks with the count, :func:`recommender_metrics` NaN metrics)."""
    ranks, non_finite = ranks_and_non_finite(rec, data, split, users, batch_size)
    if non_finite:
        raise NonFiniteScores(f"{type(rec).__name__} gives {non_finite} of the {len(ranks)} users a NaN or infinite "
                              f"score on the {split} split: its ranks are no figure")
    return ranks


@torch.no_grad()
def ranks_and_non_finite(rec: Recommender, data: SequenceTensors, split: Split, users: torch.Tensor | None = None,
                         batch_size: int = 2048, seen: SequenceTensors | None = None) -> tuple[torch.Tensor, int]:
    """:func:`evaluate_recommender`'s ranks and, from the same scoring pass, how many of the users get a NaN or
    infinite score for some item: a model with any such user must never serve (the promotion gate refuses it),
    and has no figure in the report. Where ``seen`` is given (a row per row of ``data``: every item the user had
    before the target, also those the input history leaves out), its items are excluded too, as the served lists
    exclude them (:func:`excluded_items`): they do not rank above the target, and a target among them is a miss."""
    n_items = catalogue_size(rec)
    ranks, non_finite = [], 0
    for targets, excluded, scores in _scored_groups(rec, data, split, users, batch_size, seen):
        non_finite += int((~torch.isfinite(scores)).any(1).sum())
        known = targets <= n_items  # an item the recommender does not know cannot be ranked: a miss
        group_ranks = rank_score_matrix(scores.to(excluded.device), targets.clamp(max=n_items), excluded)
        ranks.append(torch.where(known, group_ranks, MISS_RANK))
    return (torch.cat(ranks) if ranks else torch.zeros(0, dtype=torch.long)), non_finite


def _scored_groups(rec: Recommender, data: SequenceTensors, split: Split, users: torch.Tensor | None,
                   batch_size: int, seen: SequenceTensors | None) -> Iterator[tuple[torch.Tensor, torch.Tensor,
                                                                                     torch.Tensor]]:
    """(targets [G], excluded items [G, L'] (the input history, then the users' rows of ``seen``), scores [G,
    n_items]) for groups of at most 2^25 scores, in the order of ``users`` (default: the split's eligible users);
    raises ValueError for scores of the wrong shape."""
    users = split_users(data, split, users)
    require_seen_rows(seen, data)
    n_items, drop = catalogue_size(rec), DROP_AFTER[split]
    group = max(1, MAX_SCORE_ELEMENTS // max(1, n_items))
    for batch in user_batches(users, batch_size):
        targets = data.window(batch, drop, 1)[:, 0]
        lengths = data.lengths(batch) - drop - 1
        history = known_items(data.window(batch, drop + 1, int(lengths.max())), n_items)
        excluded = excluded_items(history, seen, batch, n_items)
        for lo in range(0, len(batch), group):
            part = slice(lo, lo + group)
            yield targets[part], excluded[part], scores_of(rec, batch[part], history[part])


def catalogue_size(rec: Recommender) -> int:
    """``rec.n_items``; ValueError naming ``rec``'s class where it is no whole number of 1 or more (0 gave torch's
    'index -1 is out of bounds', 5.0 a TypeError: helper-226)."""
    require_count(rec.n_items, f"{type(rec).__name__}.n_items, the number of items it scores,")
    return rec.n_items


def scores_of(rec: Recommender, users: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
    """``rec.score(users, history)``, [B, n_items] as floats: integer scores (counts) as float64, which ranking
    needs (their overflow's error named no model: helper-196), and float16 or bfloat16 ones as float32 (exactly:
    in half precision the served lists' popularity tie-break, values 1/n apart, collapsed, and equal scores came
    in another order for each user: helper-226). Raises ValueError, naming ``rec``'s class, for something that is
    not a real tensor of that shape (complex scores lost their imaginary part with a warning alone)."""
    scores = rec.score(users, history)
    if not isinstance(scores, torch.Tensor) or scores.shape != (len(users), rec.n_items) or scores.is_complex():
        shown = (type(scores).__name__ if not isinstance(scores, torch.Tensor) else f"shape {tuple(scores.shape)}"
                 + (f" of {scores.dtype}" if scores.is_complex() else ""))
        raise ValueError(f"{type(rec).__name__}.score gave {shown}, not a real tensor of ({len(users)}, "
                         f"{rec.n_items})")
    if not scores.is_floating_point():
        return scores.double()
    return scores.float() if torch.finfo(scores.dtype).bits < 32 else scores


def require_seen_rows(seen: SequenceTensors | None, data: SequenceTensors) -> None:
    """ValueError where ``seen`` is given and has not a row per row of ``data`` (fewer raised an IndexError deep
    in the library: helper-247); TypeError where it is no :class:`SequenceTensors` (helper-252)."""
    if seen is not None:
        require_data(seen, SequenceTensors, "seen")
    if seen is not None and len(seen) != len(data):
        raise ValueError(f"seen has {len(seen)} rows, the data {len(data)}: it holds a row per user of the data, in "
                         "its order")


def excluded_items(history: torch.Tensor, seen: SequenceTensors | None, batch: torch.Tensor,
                   n_items: int) -> torch.Tensor:
    """The items never recommended to the users ``batch``: their ``history`` rows as read ([B, W], the items of
    1..``n_items``, 0 = padding) and, where ``seen`` is given, their rows of it (those items too) after them
    ([B, W + W'], W' >= 1; an item may repeat)."""
    if seen is None:
        return history
    rows = seen.window(batch, 0, max(1, int(seen.lengths(batch).max())))  # no items: one padding column
    return torch.cat([history, known_items(rows, n_items).to(history.device)], 1)


def recommender_metrics(rec: Recommender, data: SequenceTensors, split: Split,
                        seen: SequenceTensors | None = None) -> dict[str, float]:
    """HR@K / NDCG@K (K = 5, 10, 20) of a fitted recommender over the split's eligible users (``seen``: items
    excluded beside each input history, as :func:`ranks_and_non_finite` takes them); every metric NaN
    where some user gets a NaN or infinite score (no figure, as :func:`elcrec_core.evaluate.ranking.evaluate`
    gives a model: its ranks alone would read a score that cannot rank as a plain miss). Raises ValueError for a
    split that is neither, and where no user has the split's target (a mean over no user is no figure)."""
    ranks, non_finite = ranks_and_non_finite(rec, data, split, seen=seen)
    if not len(ranks):
        raise ValueError(f"no user to rank on the {split} split: none of the data's {len(data)} users has the "
                         f"{MIN_ITEMS[split]} items it needs (test: an input and its target; valid: a training item "
                         "too)")
    return figures_from_ranks(ranks, non_finite)


def _unwrapped(model: object) -> object:
    """The module inside ``model`` where it wraps one: torch.compile's OptimizedModule (``_orig_mod``),
    DistributedDataParallel's and DataParallel's ``module``, in any nesting; ``model`` otherwise."""
    while isinstance(model, torch.nn.Module) and not isinstance(model, ELCRec):
        inner = next((model._modules[name] for name in ("_orig_mod", "module") if name in model._modules), None)
        if inner is None:
            return model
        model = inner
    return model


class ELCRecRecommender:
    """An ELCRec (or SASRec) model under the contract: score = user_representation(last max_len inputs) @
    item_table.T, in eval mode. ``fit`` does nothing: the model is trained already (:func:`elcrec_core.train.loop.train`
    trains on items[:-2] and selects the epoch on ``valid``). An ELCRec inside ``torch.compile``'s module or
    DistributedDataParallel (DataParallel) is scored as itself (helper-254: they were refused, and compile's had
    worked). TypeError for a ``model`` that is no ELCRec, such as
    :func:`~elcrec_core.train.checkpoint.load_model`'s (model, payload) pair or a checkpoint's path."""

    def __init__(self, model: ELCRec) -> None:
        model = _unwrapped(model)
        if not isinstance(model, ELCRec):  # a path or load_model's pair read "has no attribute 'cfg'" (helper-252)
            pair = " (load_model returns (model, payload))" if isinstance(model, tuple) else ""
            raise TypeError(f"ELCRecRecommender takes an ELCRec model, such as load_model(path)[0], not "
                            f"{type(model).__name__}{pair}")
        self.model = model
        self.n_items = model.cfg.n_items

    def fit(self, data: SequenceTensors, split: Fit) -> "ELCRecRecommender":
        """:meth:`Recommender.fit`: nothing to learn (the model is trained); returns ``self``. Raises ValueError
        for an unknown split."""
        HELD_OUT[split]  # an unknown split refused by name, as the baselines' fit refuses it
        return self

    @torch.no_grad()
    def score(self, users: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        """:meth:`Recommender.score`: float32 [B, n_items] dot products of the user representation (the last
        ``max_len`` items of ``history``) with the item embeddings, on the model's device: SASRec's and the
        reference's full-ranking prediction (``Trainer.predict_full``). Raises ValueError as
        :func:`require_score_inputs`."""
        require_score_inputs(self, users, history)
        if not len(users):  # no users: the attention's batch of none raised an IndexError (helper-247)
            return torch.zeros(0, self.n_items, device=self.model.item_emb.weight.device)
        max_len = self.model.cfg.max_len
        items = history[:, -max_len:]
        items = F.pad(items, (max_len - items.shape[1], 0))  # left padding, as SequenceTensors.window gives
        device = self.model.item_emb.weight.device
        with eval_mode(self.model):
            vecs = self.model.user_representation(items.to(device)).float()
            return user_item_scores(vecs, self.model.item_table().float())
