"""Saving and loading checkpoints: atomic writes, ``weights_only`` loads, and the reference format."""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from elcrec_core.config.settings import ModelConfig
from elcrec_core.data.atomic_files import write_atomically
from elcrec_core.data.sequences import ITEM_INDEX_FILE, Sequences, read_item_index_file
from elcrec_core.model.elcrec import ELCRec
from elcrec_core.train.reference_checkpoint import from_reference_state_dict, is_reference_state_dict

FORMAT_VERSION = 1
LAST, BEST = "last.pt", "best.pt"  # a training's latest epoch (for resuming) and its best validation epoch


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read or does not fit."""


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` atomically (:func:`~elcrec_core.data.atomic_files.write_atomically`), torch.save
    writing straight into the temporary file (no second copy in memory). A full disk raises the file system's error
    (torch said only ``unexpected pos 704 vs 598``: helper-215): :class:`~elcrec_core.data.atomic_files.NotWritten`."""
    write_atomically(Path(path), lambda tmp: _torch_save(payload, tmp))


class _Writes:
    """The writes of an open file, keeping the OSError of one that the file system refuses."""

    def __init__(self, file: io.BufferedWriter) -> None:
        self.file, self.error, self.flush = file, None, file.flush

    def write(self, data: Any) -> int:
        try:
            return self.file.write(data)
        except OSError as err:
            self.error = err
            raise


def _torch_save(payload: dict[str, Any], path: Path) -> None:
    """torch.save into ``path``; a refused write raises the file system's OSError (its errno), not torch's."""
    with open(path, "wb") as file:
        writes = _Writes(file)
        try:
            torch.save(payload, writes)
        except RuntimeError:
            if writes.error is not None:
                raise writes.error from None
            raise


def require_checkpoint(path: str | Path) -> Path:
    """``path``; raises CheckpointError where it is no file (a command checks this before it reads the data): a
    folder is named as one, with the checkpoints in it."""
    path = Path(path)
    if path.is_dir():
        inside = sorted(p.name for p in path.glob("*.pt"))
        raise CheckpointError(f"checkpoint {path} is a folder: give a checkpoint file"
                              + (f" in it ({', '.join(inside)})" if inside else ", such as a run's best.pt"))
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; a missing or damaged file gives a clear error."""
    path = require_checkpoint(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises many types on damaged input (OSError, KeyError, IndexError...)
        with path.open("rb") as fh:
            head = fh.read(8)
        if not head:
            raise CheckpointError(f"checkpoint {path} is empty (a write cut short?)") from None
        if head[:2] not in (b"PK", b"\x80\x02"):  # neither torch.save's zip archive nor its legacy pickle: a data file?
            # torch's own message would advise weights_only=False, which runs any code a file holds: not quoted
            raise CheckpointError(f"{path} is not a PyTorch checkpoint (such as the best.pt or last.pt that elcrec "
                                  f"train writes): it begins {head!r}, not as torch.save's zip archive or pickle "
                                  "does") from None
        save = "Save a model's state: save_checkpoint(path, model_payload(model, exp, {}))"
        if unsafe := _refused_object(exc):  # not damaged: an object that a safe load refuses
            raise CheckpointError(f"{path} holds {unsafe}, which a checkpoint's safe load (weights_only) refuses: "
                                  "a whole pickled model or another Python object, not a checkpoint's tensors and "
                                  f"plain values (loading it would run the code it names; nothing is unpickled). {save}"
                                  ) from None
        if unknown := _unknown_global(exc):  # a script's class (torch.save(model) in __main__), or a damaged name
            raise CheckpointError(f"{path} names {unknown}, which no module loaded here holds: a pickled object of a "
                                  "script's class (torch.save(model) in __main__) or of a package not loaded, or a "
                                  "damaged byte in the name (a corrupt file); a checkpoint's safe load (weights_only) "
                                  f"reads tensors and plain values alone, and nothing was unpickled. {save}") from None
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated: {_without_advice(exc)}") from None
    if not isinstance(payload, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(payload).__name__}, not a dict")
    return payload


def refuse_unsafe_payload(payload: dict[str, Any], what: str) -> None:
    """Raise ValueError where a value of ``payload`` would make its checkpoint one that :func:`load_checkpoint`
    refuses (an object that a ``weights_only`` load refuses, such as a numpy array of texts): before a training
    writes it (helper-193: every epoch trained, then its own best.pt was called corrupt); ``what`` names the
    payload in the message."""
    advice = "give tensors, numbers, texts, and lists and dicts of them (a numpy array as a tensor or a list)"
    for key, value in payload.items():
        buffer = io.BytesIO()
        try:
            torch.save(value, buffer)
        except Exception as exc:  # pickle's error for a lambda, a local class, an open file (helper-202)
            raise ValueError(f"{what}[{key!r}] holds a {type(value).__name__}, which torch.save cannot write "
                             f"({exc}): {advice}") from None
        buffer.seek(0)
        try:
            torch.load(buffer, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch's weights-only unpickler's error (nothing else here reads a damaged file)
            raise ValueError(f"{what}[{key!r}] holds {_refused_object(exc) or type(value).__name__}, which a "
                             f"checkpoint's safe load (weights_only) refuses: {advice}") from None


def _refused_object(exc: Exception) -> str | None:
    """What torch's ``weights_only`` unpickler refused, from its error (a class or function it does not allow:
    ``numpy.dtypes.ObjectDType``); None for an error of a damaged file (an unknown operand: a corrupt byte, which
    was called a pickled object, helper-198) and for a name that no module loaded here holds
    (:func:`_unknown_global`)."""
    name = _global(exc)
    return f"an object it does not allow ({name})" if name is not None and _is_loaded(name) else None


def _unknown_global(exc: Exception) -> str | None:
    """The global of torch's ``weights_only`` refusal (``GLOBAL __main__.Net``) that no module loaded here holds: a
    class of the script that saved it, of a package not loaded, or a damaged byte (``torch._utilz``); else None."""
    name = _global(exc)
    return f"GLOBAL {name}" if name is not None and not _is_loaded(name) else None


def _global(exc: Exception) -> str | None:
    """The dotted name of the global that torch's ``weights_only`` unpickler refused, from its error; else None."""
    found = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
    return found[1] if found else None


def _is_loaded(dotted: str) -> bool:
    """Whether a module loaded here holds ``dotted`` (``module.name``; nothing is imported)."""
    module, _, name = dotted.rpartition(".")
    return hasattr(sys.modules.get(module), name)


def _without_advice(exc: Exception) -> str:
    """torch's error, without its advice to load with ``weights_only=False`` (which runs any code the file holds):
    the weights-only unpickler's own reason alone."""
    return found[1] if (found := re.search(r"WeightsUnpickler error: ([^\n]*)", str(exc))) else str(exc)


def non_finite_text(path: str | Path, bad: int, values: str = "weights") -> str:
    """The error for the checkpoint ``path`` of ``bad`` NaN or infinite ``values`` (:meth:`ELCRec.non_finite_weights`,
    or the optimiser's state)."""
    return (f"checkpoint {path} is corrupt: {bad:,} of its {values} are NaN or infinite, which no trained model's are "
            "(training stops where its loss is not finite)")


def load_model(path: str | Path, finite: bool = True) -> tuple[ELCRec, dict[str, Any]]:
    """A model from one of our checkpoints or a reference state dict, and the payload. Raises ValueError (pydantic's)
    for settings that are no model's; :class:`CheckpointError` for a missing, damaged or foreign file, weights that do
    not fit, or, where ``finite`` (not: the gate and evaluators judge NaN scores), NaN weights (helper-234)."""
    payload = load_checkpoint(path)
    if is_reference_state_dict(payload):
        cfg, state = from_reference_state_dict(payload)
        payload = {"format": "reference"}
    elif "model" in payload and "model_config" in payload:
        cfg, state = ModelConfig(**payload["model_config"]), payload["model"]
    else:
        raise CheckpointError(f"checkpoint {path} is neither an elcrec checkpoint nor a reference state dict")
    model = ELCRec(cfg)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {path} does not fit its model config: {exc}") from None
    if finite and (bad := model.non_finite_weights()):
        raise CheckpointError(non_finite_text(path, bad))
    return model.eval(), payload


def item_catalogue(checkpoint: str | Path, n_items: int, data_item_ids: np.ndarray | None) -> np.ndarray | None:
    """The item id of each index 1..``n_items`` of the model at ``checkpoint``: from the item index its training
    wrote beside it (``item_index.parquet``), else from the data's (None where neither has ids).

    Item indices are stable (known ids keep their index, new ones are appended), so the model's index must be
    the start of the data's; otherwise the checkpoint is from another item catalogue and a
    :class:`CheckpointError` names the first index where they differ. Without an index beside the checkpoint
    only the item count can be checked.
    """
    beside = Path(checkpoint).with_name(ITEM_INDEX_FILE)
    if not beside.is_file():
        if data_item_ids is not None and len(data_item_ids) < n_items:
            raise CheckpointError(f"checkpoint {checkpoint} knows {n_items} items, the data's item index only "
                                  f"{len(data_item_ids)}: without an {ITEM_INDEX_FILE} beside it, the data's items "
                                  "are matched to the model's by position, so the data must hold the catalogue "
                                  "the model was trained on (a part of it cannot be matched: give the data as the "
                                  "training read it, such as the sequence file whose integer ids are its indices)")
        return data_item_ids
    model_ids = read_item_index_file(beside).astype(str)
    if len(model_ids) != n_items:
        raise CheckpointError(f"{beside} lists {len(model_ids)} items, checkpoint {checkpoint} has {n_items}")
    if data_item_ids is not None:
        shared = min(n_items, len(data_item_ids))
        differ = np.flatnonzero(model_ids[:shared] != data_item_ids[:shared].astype(str))
        if len(differ):
            i = int(differ[0])
            raise CheckpointError(f"checkpoint {checkpoint} is from another item catalogue: item index {i + 1} is "
                                  f"{str(model_ids[i])!r} there and {str(data_item_ids[i])!r} in the data")
    return model_ids


def onto_catalogue(checkpoint: str | Path, n_items: int, seqs: Sequences, data_item_ids: np.ndarray | None,
                   warn: Callable[[str], None] | None = None) -> tuple[Sequences, np.ndarray | None]:
    """``seqs`` indexed as the model at ``checkpoint`` indexes items, and the item id of each index. A data file
    read on its own numbers its items itself (one user's events: their few items from 1), so where the item
    index beside the checkpoint has ids, the data's items are matched by id (:func:`onto_item_ids`; data without
    ids, a sequence file of integer ids, by those integers). Without an index beside the checkpoint,
    :func:`item_catalogue` checks what it can; where the data has ids (a ``best.pt`` copied alone, a model trained
    on a sequence file), its items are matched by position, right only for data of the training's catalogue,
    and ``warn`` gets a line that says so. Raises :class:`CheckpointError` when none of the data's items is the
    model's (another catalogue)."""
    if Path(checkpoint).with_name(ITEM_INDEX_FILE).is_file():
        return onto_item_ids(item_catalogue(checkpoint, n_items, None), seqs, data_item_ids, f"checkpoint {checkpoint}")
    if data_item_ids is not None and warn is not None:
        warn(f"no {ITEM_INDEX_FILE} beside {checkpoint}: the data's items are matched to the model's by position "
             "(its i-th item id in sorted order is the model's item i), which is right only for data with the "
             "item catalogue the model was trained on (elcrec train, elcrec baselines --out and the pipeline write "
             "the index beside a model of data with item ids: keep it there; a model of the sequence format, whose "
             "integer ids are its indices, has none: give it data in that format)")
    return seqs, item_catalogue(checkpoint, n_items, data_item_ids)


def onto_item_ids(model_ids: np.ndarray, seqs: Sequences, data_item_ids: np.ndarray | None,
                  model: str) -> tuple[Sequences, np.ndarray]:
    """``seqs`` (items numbered as in ``data_item_ids``, the id of each index; None: the indices are the ids)
    re-indexed onto a model's catalogue ``model_ids`` (the id of each of its indices 1..n), and the item id of
    each new index: the data's items that the model does not know come after its n (newer items: left out of
    inputs, their targets missed). Only the items the sequences hold are mapped. Raises :class:`CheckpointError`
    naming ``model`` when none of them is the model's (another catalogue)."""
    index = {item: i for i, item in enumerate(np.asarray(model_ids).astype(str).tolist(), start=1)}
    used, position = np.unique(np.asarray(seqs.items), return_inverse=True)
    ids = (used if data_item_ids is None else np.asarray(data_item_ids)[used - 1]).astype(str).tolist()
    new = list(dict.fromkeys(item for item in ids if item not in index))
    if ids and len(new) == len(set(ids)):
        raise CheckpointError(f"{model} is from another item catalogue: none of the data's "
                              f"{len(set(ids))} items is among its {len(model_ids)} (or every one is newer than "
                              "the model: an item first seen after it trained, as a new listing)")
    index.update({item: len(model_ids) + i for i, item in enumerate(new, start=1)})
    lookup = np.array([index[item] for item in ids], dtype=np.int64)
    return (Sequences(seqs.user_ids, lookup[position].reshape(np.shape(seqs.items)), seqs.offsets,
                      len(model_ids) + len(new)),
            np.array(list(index)))
