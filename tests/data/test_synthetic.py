"""Synthetic data with planted intents, and the readers that turn events and files into sequences."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from elcrec_core.data.sequences import read_sequence_file, sequences_from_events
from elcrec_core.data.synthetic import SyntheticConfig, SyntheticData, generate

CFG = SyntheticConfig(n_users=1500, n_items=160, n_intents=8, seed=5)


@pytest.fixture(scope="module")
def data() -> SyntheticData:
    return generate(CFG)


def _consecutive_pairs(users: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(previous, next) items of consecutive events of the same user (events grouped by user)."""
    same = users[1:] == users[:-1]
    return items[:-1][same], items[1:][same]


def _shuffle_within_users(users: np.ndarray, items: np.ndarray, seed: int) -> np.ndarray:
    """Each user's items in a random order: same composition, no sequential structure."""
    rng = np.random.default_rng(seed)
    out = items.copy()
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(users)) + 1, [len(users)]])
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        out[lo:hi] = rng.permutation(items[lo:hi])
    return out


def test_generate_is_deterministic_per_seed(data: SyntheticData) -> None:
    again = generate(CFG)
    assert again.events.equals(data.events)
    assert again.user_intents.equals(data.user_intents)
    assert np.array_equal(again.item_intent, data.item_intent)
    other = generate(SyntheticConfig(n_users=1500, n_items=160, n_intents=8, seed=6))
    assert not other.events.equals(data.events)


def test_generate_events_are_well_formed(data: SyntheticData) -> None:
    ev = data.events
    assert ev.columns == ["user_id", "item_id", "timestamp"]
    assert ev["user_id"].n_unique() == CFG.n_users
    assert int(ev["item_id"].min()) >= 1 and int(ev["item_id"].max()) <= CFG.n_items
    per_user = ev.group_by("user_id").agg(
        pl.len().alias("n"), pl.col("timestamp").diff().min().alias("min_gap")
    )
    assert int(per_user["n"].min()) >= CFG.min_len
    assert int(per_user["n"].max()) <= CFG.max_len
    assert int(per_user["min_gap"].min()) >= 0  # timestamps non-decreasing in row order per user
    assert ev["user_id"].is_sorted()  # each user's events are contiguous
    assert len(data.item_intent) == CFG.n_items
    assert set(np.unique(data.item_intent).tolist()) == set(range(CFG.n_intents))
    # chains of nearly equal size: 160 items / 8 intents
    assert set(np.bincount(data.item_intent).tolist()) == {20}


def test_generate_user_intents(data: SyntheticData) -> None:
    ui = data.user_intents
    assert ui["user_id"].to_list() == list(range(1, CFG.n_users + 1))
    n_mix = Counter()
    for intents, primary in zip(ui["intents"].to_list(), ui["primary_intent"].to_list()):
        assert 1 <= len(intents) <= 3 and len(set(intents)) == len(intents)
        assert all(0 <= i < CFG.n_intents for i in intents)
        assert primary in intents
        n_mix[len(intents)] += 1
    assert set(n_mix) == {1, 2, 3}


def test_generate_plants_intents_and_chains(data: SyntheticData) -> None:
    ev = data.events
    users, items = ev["user_id"].to_numpy(), ev["item_id"].to_numpy()
    own = {u: set(i) for u, i in zip(data.user_intents["user_id"].to_list(), data.user_intents["intents"].to_list())}
    item_intent = data.item_intent[items - 1]
    in_own = np.mean([intent in own[u] for u, intent in zip(users.tolist(), item_intent.tolist())])
    assert in_own > 0.99  # by construction every item is drawn from one of the user's intents

    # users stay with an intent (switch probability 0.15): more same-intent neighbours than in a shuffled order
    prev, nxt = _consecutive_pairs(users, items)
    shuffled = _shuffle_within_users(users, items, seed=0)
    s_prev, s_nxt = _consecutive_pairs(users, shuffled)
    same_real = np.mean(data.item_intent[prev - 1] == data.item_intent[nxt - 1])
    same_shuffled = np.mean(data.item_intent[s_prev - 1] == data.item_intent[s_nxt - 1])
    assert same_real > same_shuffled + 0.05, (same_real, same_shuffled)

    # chains: an item's most frequent successor follows it far more often than chance, within its intent
    counts: dict[int, Counter] = defaultdict(Counter)
    for a, b in zip(prev.tolist(), nxt.tolist()):
        counts[a][b] += 1
    mode = {a: c.most_common(1)[0][0] for a, c in counts.items()}
    follow_real = np.mean([mode[a] == b for a, b in zip(prev.tolist(), nxt.tolist())])
    follow_shuffled = np.mean([mode.get(a) == b for a, b in zip(s_prev.tolist(), s_nxt.tolist())])
    assert follow_real > 0.4 and follow_real > 3 * follow_shuffled, (follow_real, follow_shuffled)
    same_chain = np.mean([data.item_intent[a - 1] == data.item_intent[b - 1] for a, b in mode.items()])
    assert same_chain > 0.9


EXPECTED_FIRST_MIXES = [[1, 2, 0], [2, 0, 1], [2, 0]]  # generated before the K < 3 fix


@pytest.mark.parametrize("k", [1, 2])
def test_fewer_than_three_intents_give_each_user_at_most_all_of_them(k: int) -> None:
    """Users mix 1-3 intents; with K < 3 at most K, and every event's item comes from one of them."""
    data = generate(SyntheticConfig(n_users=300, n_items=40, n_intents=k, seed=1))
    mixes = [sorted(intents) for intents in data.user_intents["intents"].to_list()]
    assert {len(m) for m in mixes} == set(range(1, k + 1)) and all(0 <= i < k for m in mixes for i in m)
    own = dict(zip(data.user_intents["user_id"].to_list(), mixes))
    planted = data.item_intent[data.events["item_id"].to_numpy() - 1]
    assert all(i in own[u] for u, i in zip(data.events["user_id"].to_list(), planted.tolist()))


def test_the_mix_of_three_or_more_intents_is_unchanged() -> None:
    """The fix for K < 3 draws the same random stream for K >= 3: the default data set stays the same."""
    data = generate(SyntheticConfig(n_users=50, n_items=40, n_intents=3, seed=0))
    assert data.user_intents["intents"].to_list()[:3] == EXPECTED_FIRST_MIXES


def test_generate_rejects_no_intents() -> None:
    with pytest.raises(ValueError, match="n_intents must be at least 1, got 0"):
        generate(SyntheticConfig(n_users=3, n_items=2, n_intents=0))


def test_generate_rejects_fewer_items_than_intents() -> None:
    with pytest.raises(ValueError, match="item per intent"):
        generate(SyntheticConfig(n_users=3, n_items=2, n_intents=3))


# ------------------------------------------------------------------------------------------ readers
def test_sequences_from_events_orders_by_time_then_row() -> None:
    """Items 7, 50, 300 map to 1, 2, 3.

    u1: rows 1 (7, t20), 3 (50, t20), 5 (300, t5) -> 300, 7, 50 (the t20 tie keeps row order) -> [3, 1, 2]
    u2: rows 0 (7, t30), 2 (300, t10), 4 (50, t10) -> 300, 50, 7 -> [3, 2, 1]
    u10: row 6 (50, t0) -> [2]
    """
    events = pl.DataFrame({
        "user_id": ["u2", "u1", "u2", "u1", "u2", "u1", "u10"],
        "item_id": [7, 7, 300, 50, 50, 300, 50],
        "timestamp": [30, 20, 10, 20, 10, 5, 0],
    })
    seqs, item_ids = sequences_from_events(events)
    assert item_ids.tolist() == [7, 50, 300]
    assert seqs.n_items == 3
    by_user = {str(u): seqs.sequence(i) for i, u in enumerate(seqs.user_ids)}
    assert by_user == {"u1": [3, 1, 2], "u2": [3, 2, 1], "u10": [2]}
    assert sorted(seqs.lengths.tolist()) == [1, 3, 3]


def test_sequences_from_events_requires_columns() -> None:
    with pytest.raises(ValueError, match="timestamp"):
        sequences_from_events(pl.DataFrame({"user_id": [1], "item_id": [2]}))


def test_read_sequence_file_round_trip_and_bad_token(tmp_path: Path) -> None:
    good = tmp_path / "good.txt"
    good.write_text("1 5 3 9\n\n2 4\n")
    seqs = read_sequence_file(good)
    assert seqs.user_ids.tolist() == [1, 2]
    assert [seqs.sequence(0), seqs.sequence(1)] == [[5, 3, 9], [4]]
    assert seqs.n_items == 9
    bom = tmp_path / "bom.txt"
    bom.write_bytes(b"\xef\xbb\xbf" + good.read_bytes())  # a byte order mark before the first user
    assert read_sequence_file(bom).user_ids.tolist() == [1, 2]

    bad = tmp_path / "bad.txt"
    bad.write_text("1 5 3 9\n\n2 4 x7 6\n")  # line 3, after a blank line
    with pytest.raises(ValueError, match=re.escape(f"{bad}: line 3: not integer ids")):
        read_sequence_file(bad)
    zero = tmp_path / "zero.txt"
    zero.write_text("1 5\n2 0 3\n")
    with pytest.raises(ValueError, match=re.escape(f"{zero}: line 2: item ids must be")):
        read_sequence_file(zero)
    again = tmp_path / "again.txt"  # two histories of user 1, two test targets (helper-193)
    again.write_text("1 1 2 3\n2 2 3\n1 4 5\n")
    with pytest.raises(ValueError, match=re.escape(f"{again}: line 3: user 1 again (line 1): one line per user")):
        read_sequence_file(again)


def test_lengths_follow_the_config_and_times_fit_the_window() -> None:
    cfg = SyntheticConfig(n_users=2000, n_items=300, n_intents=5, seed=1)
    events = generate(cfg).events
    per_user = events.group_by("user_id").agg(
        pl.len().alias("n"), (pl.col("timestamp").max() - pl.col("timestamp").min()).alias("span"))
    assert per_user["n"].min() == cfg.min_len  # the shortest users have exactly min_len events
    assert abs(per_user["n"].mean() - (cfg.min_len + cfg.mean_extra_len)) < 0.5
    assert events["timestamp"].min() >= cfg.start
    assert events["timestamp"].max() <= cfg.start + cfg.days * 86400


def test_sequences_refuse_items_or_offsets_that_are_no_integer_indices() -> None:
    """Floats were cut (1.7 to 1) and NaN let through, decreasing offsets gave a length of -1, and row -1 an empty
    history (helper-193): each is refused, naming what is wrong."""
    from elcrec_core.data.sequences import Sequences

    with pytest.raises(ValueError, match=r"^item indices must be integers, not float64 \(\[1\.7, 2\.2, 3\.9\], "):
        Sequences.from_lists([1], [[1.7, 2.2, 3.9]])
    with pytest.raises(ValueError, match="^items must be integers, not float64$"):
        Sequences(np.array([1]), np.array([1.0, np.nan]), np.array([0, 2]), 3)
    with pytest.raises(ValueError, match=r"^offsets must rise from 0 to len\(items\) = 3$"):
        Sequences(np.array([1, 2]), np.array([1, 2, 3]), np.array([0, 3, 2]), 3)
    with pytest.raises(ValueError, match=r"^offsets must rise from 0 to len\(items\) = 3$"):
        Sequences(np.array([1]), np.array([1, 2, 3]), np.array([0, 2]), 3)  # an item of no user
    seqs = Sequences.from_lists(["u", "v"], [[1, 2], [3]])
    assert seqs.sequence(1) == [3] and Sequences.from_lists([], []).items.dtype == np.int64
    for users, lists in ((["a", "b"], [[1, 2]]), (["a"], [[1], [2]])):  # 'offsets must have one entry more ...'
        with pytest.raises(ValueError, match=rf"^{len(users)} user ids and {len(lists)} lists of items: one list "
                                             r"per user$"):
            Sequences.from_lists(users, lists)
    with pytest.raises(IndexError, match=r"^row -1 is not in 0\.\.1$"):
        seqs.sequence(-1)
