"""User item sequences in compact form, and their readers.

A :class:`Sequences` holds every user's chronological item indices (1..n_items; 0 is padding) as one flat
array with offsets, so that batches are cut with vectorised gathers and no per-user Python.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import torch

from elcrec_core.config.field_types import require_count
from elcrec_core.data.atomic_files import write_atomically
from elcrec_core.data.files import SourceReadError, reading, scan_lines

EVENT_COLUMNS = ("user_id", "item_id", "timestamp")
ITEM_INDEX_FILE = "item_index.parquet"
MAX_ITEM_ID = 2**31 - 1  # item ids of the benchmark format are indices into the item table


@dataclass
class Sequences:
    """Users' item sequences: ``items[offsets[u]:offsets[u + 1]]`` is user u's history, oldest first."""

    user_ids: np.ndarray  # original user ids, one per user
    items: np.ndarray  # int64 item indices in 1..n_items
    offsets: np.ndarray  # int64, len(user_ids) + 1
    n_items: int

    def __post_init__(self) -> None:
        """Raises ValueError for items or offsets that are not integers (floats were cut, NaN let through:
        helper-193), offsets that do not run from 0 up to ``len(items)``, an ``n_items`` that is no whole number of
        0 or more, or an item outside 1..n_items (named, with its row and user: helper-252)."""
        if isinstance(self.n_items, bool) or not isinstance(self.n_items, numbers.Integral) or self.n_items < 0:
            raise ValueError(f"n_items must be a whole number of 0 or more, not {self.n_items!r}")
        for name in ("items", "offsets"):
            if not np.issubdtype(getattr(self, name).dtype, np.integer):
                raise ValueError(f"{name} must be integers, not {getattr(self, name).dtype}")
        if len(self.offsets) != len(self.user_ids) + 1:
            raise ValueError("offsets must have one entry more than user_ids")
        if self.offsets[0] != 0 or self.offsets[-1] != len(self.items) or (np.diff(self.offsets) < 0).any():
            raise ValueError(f"offsets must rise from 0 to len(items) = {len(self.items)}")
        if len(self.items) and (self.items.min() < 1 or self.items.max() > self.n_items):
            at = int(np.flatnonzero((self.items < 1) | (self.items > self.n_items))[0])
            row = int(np.searchsorted(self.offsets, at, side="right")) - 1
            raise ValueError(f"item indices must lie in 1..{self.n_items}, not {self.items[at]} (row {row}, user "
                             f"{self.user_ids[row:row + 1].tolist()[0]!r})")

    def __len__(self) -> int:
        return len(self.user_ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def sequence(self, user: int) -> list[int]:
        """The item indices of the user at row ``user`` (0..len - 1: a position, not a user id; its id is
        ``user_ids[user]``), oldest first. Raises IndexError outside 0..len - 1 (-1 gave an empty list)."""
        if not 0 <= user < len(self):
            raise IndexError(f"row {user} is not in 0..{len(self) - 1}")
        return self.items[self.offsets[user] : self.offsets[user + 1]].tolist()

    def known(self, n_items: int) -> "Sequences":
        """The same users with only the items 1..``n_items`` (those a model of ``n_items`` items knows), in order;
        a user may be left with no items."""
        keep = self.items <= n_items
        kept_before = np.concatenate([[0], np.cumsum(keep)])
        return Sequences(self.user_ids, self.items[keep], kept_before[self.offsets].astype(np.int64), n_items)

    def take(self, keep: np.ndarray) -> "Sequences":
        """The users where ``keep`` ([len(self)] bool) is true, in order, with their items."""
        owner = np.repeat(np.arange(len(self)), self.lengths)
        offsets = np.concatenate([[0], np.cumsum(self.lengths[keep])]).astype(np.int64)
        return Sequences(self.user_ids[keep], self.items[keep[owner]], offsets, self.n_items)

    def concat(self, other: "Sequences") -> "Sequences":
        """These users followed by ``other``'s, over the larger of the two catalogues."""
        offsets = np.concatenate([self.offsets, self.offsets[-1] + other.offsets[1:]]).astype(np.int64)
        return Sequences(np.concatenate([self.user_ids, other.user_ids]), np.concatenate([self.items, other.items]),
                         offsets, max(self.n_items, other.n_items))

    @classmethod
    def from_lists(cls, user_ids: list, lists: list[list[int]], n_items: int | None = None) -> "Sequences":
        """Sequences of ``user_ids`` and their ``lists`` of item indices (integers: ValueError for others, which
        were cut, 1.7 to 1), one list per user (ValueError naming both counts); ``n_items``: the largest index where
        None."""
        if len(user_ids) != len(lists):  # the offsets' error named neither (helper-216)
            raise ValueError(f"{len(user_ids)} user ids and {len(lists)} lists of items: one list per user")
        lengths = np.array([len(s) for s in lists], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        items = np.asarray([i for s in lists for i in s])
        if len(items) and not np.issubdtype(items.dtype, np.integer):
            ids = ": item ids? give their indices (i for item_ids[i - 1])" if items.dtype.kind in "UO" else ""
            raise ValueError(f"item indices must be integers, not {items.dtype} ({items[:3].tolist()}, ...){ids}")
        items = items.astype(np.int64)
        n = int(items.max()) if n_items is None and len(items) else (n_items or 0)
        return cls(np.asarray(user_ids), items, offsets, n)


def read_sequence_file(path: str | Path) -> Sequences:
    """Read the benchmark line format ``user_id item_id item_id ...`` (chronological; ids are positive ints);
    a UTF-8 byte order mark before the first line is skipped.

    A binary file, a line longer than :data:`~elcrec_core.data.files.MAX_LINE_BYTES` (checked in a streamed pass,
    so memory stays bounded), a line that is not a user and its items, or a user's second line (one line per user:
    the pipeline's sequence reader joins them, helper-193) raises :class:`SourceReadError` with the file and line.
    The benchmarks read with it; the ``elcrec`` command reads every format through the pipeline's
    readers (:mod:`elcrec_core.cli.data_loading`).
    """
    path = Path(path)
    user_ids, lists, begun = [], [], {}
    with reading(path):
        scan_lines(path)
        with path.open("rb") as fh:
            for line_no, line in enumerate(fh, start=1):
                if line_no == 1:
                    line = line.removeprefix(b"\xef\xbb\xbf")
                parts = line.split()
                if not parts:
                    continue
                try:
                    ids = [int(p) for p in parts]
                except ValueError:
                    raise SourceReadError(path, f"line {line_no}: not integer ids: {line.strip()[:200]!r}") from None
                if len(ids) == 1:
                    raise SourceReadError(path, f"line {line_no}: a user without items")
                if not 1 <= min(ids[1:]) <= max(ids[1:]) <= MAX_ITEM_ID:
                    raise SourceReadError(path, f"line {line_no}: item ids must be integers in 1..{MAX_ITEM_ID}")
                if (first := begun.setdefault(ids[0], line_no)) != line_no:
                    raise SourceReadError(path, f"line {line_no}: user {ids[0]} again (line {first}): one line per "
                                                "user (SourceConfig(format='sequence') joins a user's lines)")
                user_ids.append(ids[0])
                lists.append(ids[1:])
    if not lists:
        raise SourceReadError(path, "no sequences")
    return Sequences.from_lists(user_ids, lists)


def sequences_from_events(events: pl.DataFrame) -> tuple[Sequences, np.ndarray]:
    """Build sequences from events with columns user_id, item_id, timestamp.

    Events are ordered by (timestamp, original row order) per user. Item ids are mapped to 1..n in sorted
    order; returns the sequences and the item id of each index (``item_ids[i - 1]`` for index i). A quick path
    for tests on generated events; files are read through :mod:`elcrec_core.cli.data_loading`.
    """
    missing = set(EVENT_COLUMNS) - set(events.columns)
    if missing:
        raise ValueError(f"events lack column(s) {sorted(missing)}")
    item_ids = events["item_id"].unique().sort()
    mapping = pl.DataFrame({"item_id": item_ids, "index": np.arange(1, len(item_ids) + 1, dtype=np.int64)})
    ordered = (
        events.with_row_index("_row")
        .join(mapping, on="item_id", how="left")
        .sort(["user_id", "timestamp", "_row"])
    )
    users = ordered.group_by("user_id", maintain_order=True).len()
    offsets = np.concatenate([[0], np.cumsum(users["len"].to_numpy())]).astype(np.int64)
    seqs = Sequences(users["user_id"].to_numpy(), ordered["index"].to_numpy().astype(np.int64), offsets, len(item_ids))
    return seqs, item_ids.to_numpy()


def user_batches(users: torch.Tensor, size: int) -> tuple[torch.Tensor, ...]:
    """``users`` [U] in consecutive batches of at most ``size``, and no batch at all for no users
    (``Tensor.split`` gives one empty batch, whose longest history a caller could not take). Raises ValueError
    for a ``size`` that is no whole number of 1 or more (torch's split named none: helper-193)."""
    require_count(size, "batch_size, the users of a batch,")
    return users.split(size) if len(users) else ()


def check_user_rows(users: object, n_rows: int) -> None:
    """Raise ValueError where ``users`` is not a 1-D tensor of row indices 0..``n_rows`` - 1 of torch.long or
    torch.int32, the integers that index (a list, a float or bool tensor or a 2-D one gave TypeError, IndexError or
    RuntimeError; uint8 is torch's mask, helper-198; int8 or int16 gave IndexError, helper-202; a negative index
    would read another user's row)."""
    if not isinstance(users, torch.Tensor) or users.dim() != 1 or users.dtype not in (torch.int64, torch.int32):
        shown = f"a {users.dim()}-D {users.dtype} tensor" if isinstance(users, torch.Tensor) else type(users).__name__
        raise ValueError(f"users are a 1-D tensor of row indices (torch.long), not {shown}")
    if len(outside := users[(users < 0) | (users >= n_rows)]):
        raise ValueError(f"users are row indices of the data, 0 to {n_rows - 1}: not {int(outside[0])}")


def require_data(data: object, kind: type, what: str) -> None:
    """TypeError, naming ``what`` (the argument), where ``data`` is no ``kind`` (:class:`Sequences` or
    :class:`SequenceTensors`): the other one read "'Sequences' object has no attribute 'ends'" deep in the library
    (helper-252)."""
    if isinstance(data, kind):
        return
    how = {"SequenceTensors": "give SequenceTensors.from_sequences(seqs)",
           "Sequences": "read_sequence_parquet returns them, Sequences.from_lists builds them"}[kind.__name__]
    raise TypeError(f"{what} must be {kind.__name__}, not {type(data).__name__}: {how}")


@dataclass
class SequenceTensors:
    """:class:`Sequences` as torch tensors on one device, for batching."""

    items: torch.Tensor  # flat
    starts: torch.Tensor
    ends: torch.Tensor
    n_items: int

    @classmethod
    def from_sequences(cls, seqs: Sequences, device: torch.device | str = "cpu") -> "SequenceTensors":
        """``seqs`` on ``device``: the flat items [N] and each user's start and end in them [U]. TypeError for
        anything but :class:`Sequences` (:func:`require_data`)."""
        require_data(seqs, Sequences, "SequenceTensors.from_sequences's seqs")
        offsets = torch.as_tensor(seqs.offsets, device=device)
        return cls(torch.as_tensor(seqs.items, device=device), offsets[:-1], offsets[1:], seqs.n_items)

    def __len__(self) -> int:
        return len(self.starts)

    def window(self, users: torch.Tensor, drop_last: int, width: int) -> torch.Tensor:
        """Each user's items[:len - drop_last], right-aligned (left-padded with 0) in ``width`` columns;
        longer histories keep their most recent ``width`` items (all 0 where no user has an item)."""
        ends = self.ends[users] - drop_last
        if len(self.items) == 0:  # nothing to gather from: every row is padding
            return self.items.new_zeros(len(ends), width)
        idx = ends[:, None] - width + torch.arange(width, device=ends.device)
        valid = idx >= self.starts[users][:, None]
        return torch.where(valid, self.items[idx.clamp(min=0)], 0)

    def lengths(self, users: torch.Tensor) -> torch.Tensor:
        return self.ends[users] - self.starts[users]


def read_sequence_parquet(path: str | Path, item_index: str | Path | None = None) -> tuple[Sequences, np.ndarray]:
    """Read sequences written by the data layer (``sequences.parquet``: one row per user with ``user_id`` and
    ``items``, the item indices in order) and its item index (``item_index.parquet`` beside it unless given).

    Returns the sequences and the item id of each index (``item_ids[i - 1]`` for index i).
    """
    path = Path(path)
    with reading(path):
        frame = pl.read_parquet(path, columns=["user_id", "items"], glob=False)
        lists = frame["items"].cast(pl.List(pl.Int64)).rechunk().to_arrow()
    item_ids = read_item_index_file(item_index or path.with_name(ITEM_INDEX_FILE))
    offsets = np.asarray(lists.offsets, dtype=np.int64)
    items = np.array(lists.flatten(), dtype=np.int64)  # a writable copy (torch refuses read-only buffers)
    try:
        seqs = Sequences(frame["user_id"].to_numpy(), items, offsets - offsets[0], len(item_ids))
    except ValueError as exc:
        raise SourceReadError(path, f"{exc} (the items of its item index)") from None
    return seqs, item_ids


def write_item_index_file(path: str | Path, item_ids: np.ndarray) -> None:
    """Write an item index: ``item_index`` 1..n and the ``item_id`` of each (``item_ids[i - 1]`` for index i)."""
    write_atomically(Path(path), pl.DataFrame({
        "item_index": np.arange(1, len(item_ids) + 1, dtype=np.int64),
        "item_id": pl.Series(item_ids, dtype=pl.String),
    }).write_parquet)


def index_beside(folder: Path, item_ids: np.ndarray | None) -> None:
    """The item index of a model trained into ``folder`` (:data:`ITEM_INDEX_FILE`, which evaluate and recommend match
    its items by): ``item_ids`` written there, the folder made where missing; for data without item ids (the
    integers are the indices), an earlier run's index removed, which would relabel the new model (helper-227)."""
    if item_ids is None:
        (folder / ITEM_INDEX_FILE).unlink(missing_ok=True)
        return
    folder.mkdir(parents=True, exist_ok=True)
    write_item_index_file(folder / ITEM_INDEX_FILE, item_ids)


def read_item_index_file(path: str | Path) -> np.ndarray:
    """The item id of each index (``ids[i - 1]`` for index i) from an item index file; its indices must be 1..n."""
    with reading(path):
        index = pl.read_parquet(path, columns=["item_index", "item_id"], glob=False).sort("item_index")
    if not np.array_equal(index["item_index"].to_numpy(), np.arange(1, len(index) + 1)):
        raise SourceReadError(path, f"the item index is not 1..{len(index)}")
    return index["item_id"].to_numpy()


def sequence_day_folders(data_dir: str | Path) -> list[Path]:
    """The day folders (``sequences/YYYY-MM-DD``) of a pipeline data folder, oldest first; none without any. A
    folder named like a day that is none (``2026-02-30``, ``2026-13-01``: made by hand) is no day's: left out, so that
    it is never taken for the newest day, compared with or pruned."""
    return sorted(folder for folder in (Path(data_dir) / "sequences").glob("????-??-??")
                  if folder.is_dir() and is_day(folder.name))


def is_day(name: str) -> bool:
    """Whether ``name`` is an ISO date (``2026-02-30`` is none, nor ``2026-01-3x``)."""
    try:
        date.fromisoformat(name)
    except ValueError:
        return False
    return True
