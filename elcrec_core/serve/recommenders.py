"""Recommenders from the model store's records: a trained checkpoint (ELCRec, SASRec) or a baseline's recipe.

Any record may serve (champion / challenger, :mod:`elcrec_core.serve.promotion`): a trained one scores from its
``best.pt``; a baseline (:mod:`elcrec_core.evaluate.baselines`) is refitted with its ``params`` on the data it scores,
so a baseline that serves learns each day's interactions.
"""

from __future__ import annotations

from elcrec_core.data.sequences import SequenceTensors
from elcrec_core.evaluate.baselines import EASE, ItemTransition, MostPopular
from elcrec_core.evaluate.item_knn import ItemKNN
from elcrec_core.evaluate.scoring import ELCRecRecommender, Fit, Recommender
from elcrec_core.serve.model_store import ModelRecord, ModelStore
from elcrec_core.train.checkpoint import load_model

BASELINES: dict[str, type[MostPopular] | type[ItemTransition] | type[EASE] | type[ItemKNN]] = {
    cls.name: cls for cls in (MostPopular, ItemTransition, EASE, ItemKNN)
}


def recipe_text(record: ModelRecord) -> str:
    """A baseline's tuned settings as the reports and the gate's reasons name them: ``λ = 50`` (EASE), ``k = 100,
    shrink 0`` (item-kNN); empty for other kinds (two EASE of other lambdas read as one model: helper-225)."""
    params = record.params or {}
    if record.kind == "ease" and "lam" in params:
        return f"λ = {params['lam']:g}"
    if record.kind == "item_knn" and {"k", "shrink"} <= params.keys():
        return f"k = {params['k']}, shrink {params['shrink']:g}"
    return ""


def with_recipe(name: str, record: ModelRecord) -> str:
    """``name`` (how a message names ``record``), followed by its :func:`recipe_text` where it has one:
    ``EASE (λ = 50)``."""
    return f"{name} ({recipe})" if (recipe := recipe_text(record)) else name


def baseline_params(rec: MostPopular | ItemTransition | EASE | ItemKNN) -> dict[str, float]:
    """What refits ``rec`` as it was chosen (EASE's ``lam``, item-kNN's ``k`` and ``shrink``; nothing for most
    popular and item transition). Raises ValueError for a class that is not :data:`BASELINES`' class of its kind
    (``name``), a new one not registered there (it served, and could not be refitted: helper-211) or a subclass (its
    own settings would be dropped), and for one whose settings it does not know: a new baseline refitted to serve
    with its defaults, not the settings the gate measured (helper-196)."""
    kind = type(rec)
    if BASELINES.get(rec.name) is not kind:
        raise ValueError(f"{kind.__name__} (kind {rec.name!r}) is not the class of its kind in "
                         "serve.recommenders.BASELINES, which refits a baseline to serve: register it there")
    if kind is EASE:
        return {"lam": rec.lam}
    if kind is ItemKNN:
        return {"k": rec.k, "shrink": rec.shrink}
    if kind in (MostPopular, ItemTransition):
        return {}
    raise ValueError(f"baseline_params knows no settings of {kind.__name__}: name those that refit it")


def load_recommender(store: ModelStore, record: ModelRecord, data: SequenceTensors | None, fit: Fit,
                     finite: bool = False) -> Recommender:
    """The :class:`~elcrec_core.evaluate.scoring.Recommender` of ``record``: a trained model from its checkpoint
    (``data`` and ``fit`` unused: it learnt on its own day), a baseline refitted on ``data``'s ``fit`` part (``valid``
    to compare with models trained on items[:-2], ``all`` to serve). Raises ValueError for an unknown kind or a
    baseline without ``data``, or params its class refuses (TypeError for a param it does not take), and as the
    baseline's ``fit`` (an unknown split; TypeError for ``data`` that is no SequenceTensors) and ``load_model``
    (ValueError for settings that are no model's); :class:`~elcrec_core.train.checkpoint.CheckpointError` for a
    checkpoint that cannot be read, or, where ``finite`` (not: the gate judges NaN scores), one of NaN or infinite
    weights."""
    if record.trained:
        return ELCRecRecommender(load_model(store.checkpoint(record), finite=finite)[0])
    if data is None:
        raise ValueError(f"model {record.name}: a baseline is fitted on data, and none was given")
    if record.kind not in BASELINES:
        raise ValueError(f"model {record.name}: unknown kind {record.kind!r} (known: elcrec, sasrec, "
                         f"{', '.join(BASELINES)})")
    return BASELINES[record.kind](**record.params).fit(data, fit)
