"""Report and profile statistics on hand-checkable inputs."""

import numpy as np
import pytest
import torch

from elcrec_core.evaluate.ranking import MISS_RANK, metrics_from_ranks, per_user
from elcrec_core.evaluate.statistics import Interval, bootstrap_mean, item_lift, planted_agreement


def test_lift_on_a_hand_example():
    # users 0, 1 in intent 0; user 2 in intent 1. Interactions: item 7 x3 and item 8 x1 by intent 0 (4 events),
    # item 8 x4 by intent 1 (4 events). Overall: item 7 3/8, item 8 5/8.
    intents = np.array([0, 0, 1])
    users = np.array([0, 0, 1, 0, 2, 2, 2, 2])
    items = np.array([7, 7, 7, 8, 8, 8, 8, 8])
    table = item_lift(intents, users, items, min_count=1)
    lift = {(r["intent"], r["item"]): r["lift"] for r in table.to_dicts()}
    assert lift[(0, 7)] == pytest.approx((3 / 4) / (3 / 8))  # 2.0
    assert lift[(0, 8)] == pytest.approx((1 / 4) / (5 / 8))  # 0.4
    assert lift[(1, 8)] == pytest.approx((4 / 4) / (5 / 8))  # 1.6
    assert table.filter(intent=0)["item"].to_list() == [7, 8]  # ordered by lift
    assert len(item_lift(intents, users, items, min_count=2)) == 2  # (0, 8) seen once: left out


def test_lift_prefers_characteristic_items_over_popular_ones():
    rng = np.random.default_rng(0)
    intents = np.repeat([0, 1], 50)
    users = np.repeat(np.arange(100), 10)
    popular = rng.random(1000) < 0.6
    items = np.where(popular, 1, np.where(intents[users] == 0, 2, 3))  # item 1 everywhere; 2 and 3 per intent
    top = item_lift(intents, users, items, top=1)
    assert top.sort("intent")["item"].to_list() == [2, 3]


def test_bootstrap_interval_covers_the_true_mean_at_the_nominal_rate():
    """A 95% interval: coverage within [0.93, 0.97] over 1,000 trials (a 90% or a 99% interval falls outside,
    by 4 standard errors or more), and a mean width within 5% of the normal approximation's 2 x 1.96 x
    sqrt(0.3 x 0.7 / 400) = 0.0898 (a 90% interval is 16% narrower, a 99% one 31% wider)."""
    rng = np.random.default_rng(1)
    covered, widths = 0, []
    trials = 1000
    for t in range(trials):
        hits = (rng.random(400) < 0.3).astype(float)  # per-user HR of a model whose true HR is 0.3
        interval = bootstrap_mean(hits, n_boot=400, seed=t)
        covered += interval.low <= 0.3 <= interval.high
        widths.append(interval.high - interval.low)
        assert interval.low <= interval.estimate <= interval.high
    assert 0.93 <= covered / trials <= 0.97
    assert np.mean(widths) == pytest.approx(2 * 1.96 * np.sqrt(0.3 * 0.7 / 400), rel=0.05)


def test_bootstrap_of_a_constant_is_a_point():
    interval = bootstrap_mean(np.full(50, 0.25))
    assert interval.low == interval.high == interval.estimate == 0.25
    with pytest.raises(ValueError):
        bootstrap_mean(np.array([]))


def test_planted_agreement_is_perfect_for_a_relabelling_and_near_zero_when_shuffled():
    planted = np.repeat(np.arange(5), 200)
    learned = (planted + 2) % 5  # the same partition under other names
    agreement = planted_agreement(planted, learned)
    assert agreement.nmi == pytest.approx(1.0) and agreement.ari == pytest.approx(1.0)
    assert agreement.shuffled_nmi < 0.02 and abs(agreement.shuffled_ari) < 0.02


def test_intent_summary_counts_dead_centres_and_cohesion():
    from elcrec_core.intents.profiles import UserIntents, summarise_intents

    centres = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    # four users on centre 0 (distances 0.1, 0.3), centre 1 (0.2) and centre 3 (0.0, 0.4); centre 2 is dead
    intent = np.array([0, 0, 1, 3, 3])
    distance = np.array([0.1, 0.3, 0.2, 0.0, 0.4])
    rep = centres[intent] + 0.01 * np.arange(5)[:, None]
    summary = summarise_intents(UserIntents(intent, distance, intent, rep), centres)
    assert (summary.used, summary.dead) == (3, 1)
    rows = {r["intent"]: r for r in summary.per_intent.to_dicts()}
    assert rows[0]["users"] == 2 and rows[0]["cohesion"] == pytest.approx(0.2)
    assert rows[2]["users"] == 0 and rows[2]["cohesion"] is None  # null, not NaN: SQL's avg() skips it
    assert rows[0]["nearest_intent"] in (1, 3)  # both at squared distance 2; centre 2 is at 4
    assert summary.size_quantiles["max"] == 2 and summary.silhouette > 0.5  # the singleton intent scores 0
    single = summarise_intents(UserIntents(intent * 0, distance, intent * 0, rep), centres[:1])
    assert single.per_intent.rows() == [(0, 5, pytest.approx(0.2), None)]  # no other centre to be nearest
    # centre 1, nearest to 0, holds no user: it was named intent 0's nearest, telling nothing (helper-232)
    near = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    dead = summarise_intents(UserIntents(np.array([0, 2]), distance[:2], np.array([2, 0]), near[[0, 2]]), near)
    assert dead.per_intent["nearest_intent"].to_list() == [2, 0, 0]
    alone = summarise_intents(UserIntents(np.array([0, 0]), distance[:2], np.array([0, 0]), near[[0, 0]]), near)
    assert alone.per_intent["nearest_intent"].to_list() == [None, 0, 0]  # no other intent holds users


def _genre_example():
    """Items 1: Action, 2: Drama, 3: Action and Comedy, 4: no category. Users 0, 1 in intent 0; users 2, 3, 4 in
    intent 1; user 5 in intent 2. Described interactions (with an item that has a category):
    intent 0: 1, 1, 3 (user 0; item 4 does not count) and 2 (user 1): Action 3, Comedy 1, Drama 1 of 4;
    intent 1: 2, 2, 3 (user 2) and 2 (user 3; user 4 only saw item 4): Drama 3, Action 1, Comedy 1 of 4;
    intent 2: 3 (user 5): Action 1, Comedy 1 of 1. Overall: Action 5, Drama 4, Comedy 3 of 9."""
    import polars as pl

    intents = np.array([0, 0, 1, 1, 1, 2])
    interactions = [(0, 1), (0, 1), (0, 3), (0, 4), (1, 2), (2, 2), (2, 2), (2, 3), (3, 2), (3, 4), (4, 4), (5, 3)]
    users, items = (np.array(c) for c in zip(*interactions))
    categories = pl.DataFrame({"item": [1, 2, 3, 3], "category": ["Action", "Drama", "Action", "Comedy"]})
    return intents, users, items, categories


def test_category_lift_on_a_hand_example():
    from elcrec_core.evaluate.statistics import category_lift

    table = category_lift(*_genre_example(), min_count=1)
    rows = {(r["intent"], r["category"]): (r["count"], r["share"], r["lift"]) for r in table.to_dicts()}
    expected = {
        (0, "Action"): (3, 3 / 4, (3 / 4) / (5 / 9)), (0, "Comedy"): (1, 1 / 4, (1 / 4) / (3 / 9)),
        (0, "Drama"): (1, 1 / 4, (1 / 4) / (4 / 9)),
        (1, "Drama"): (3, 3 / 4, (3 / 4) / (4 / 9)), (1, "Comedy"): (1, 1 / 4, (1 / 4) / (3 / 9)),
        (1, "Action"): (1, 1 / 4, (1 / 4) / (5 / 9)),
        (2, "Comedy"): (1, 1.0, 1 / (3 / 9)), (2, "Action"): (1, 1.0, 1 / (5 / 9)),
    }
    assert rows.keys() == expected.keys()
    for key, (count, share, lift) in expected.items():
        assert rows[key][0] == count and rows[key][1] == pytest.approx(share) and rows[key][2] == pytest.approx(lift)
    assert table.filter(intent=0)["category"].to_list() == ["Action", "Comedy", "Drama"]  # 1.35, 0.75, 0.5625
    assert table.filter(intent=1)["category"].to_list() == ["Drama", "Comedy", "Action"]  # 1.6875, 0.75, 0.45
    assert category_lift(*_genre_example(), min_count=2)[["intent", "category"]].rows() == [(0, "Action"),
                                                                                            (1, "Drama")]
    assert category_lift(*_genre_example(), min_count=1, top=1)["category"].to_list() == ["Action", "Drama", "Comedy"]


def test_category_purity_on_a_hand_example():
    from elcrec_core.evaluate.statistics import category_purity

    result = category_purity(*_genre_example(), shuffles=3, seed=1)
    # intent 0: Action 3 of 4; intent 1: Drama 3 of 4 (user 4 has no described interaction and is not counted);
    # intent 2: Action (tied with Comedy, first by name) 1 of 1. Weighted by users: (2 * .75 + 2 * .75 + 1) / 5
    assert result.per_intent.rows() == [(0, 2, 4, "Action", 0.75), (1, 2, 4, "Drama", 0.75), (2, 1, 1, "Action", 1.0)]
    assert result.purity == pytest.approx(0.8)
    assert result.shuffles == 3 and 0.0 < result.shuffled <= 1.0 and result.shuffled_std >= 0.0
    again = category_purity(*_genre_example(), shuffles=3, seed=1)
    assert (again.shuffled, again.shuffled_std) == (result.shuffled, result.shuffled_std)  # seeded
    # the shuffles' mean and sample standard deviation (n - 1: three draws of chance), from the same draws: the
    # users that count (all but user 4) permuted by the seeded generator
    intents, users, items, categories = _genre_example()
    rng, counted, chance = np.random.default_rng(1), np.array([0, 1, 2, 3, 5]), []
    for _ in range(3):
        permuted = intents.copy()
        permuted[counted] = rng.permutation(permuted[counted])
        chance.append(category_purity(permuted, users, items, categories, shuffles=0).purity)
    assert result.shuffled == pytest.approx(np.mean(chance)) and len(set(chance)) > 1
    assert result.shuffled_std == pytest.approx(np.std(chance, ddof=1))


def test_category_purity_of_one_intent_is_the_same_shuffled_and_nothing_without_categories():
    import polars as pl

    from elcrec_core.evaluate.statistics import category_purity

    intents, users, items, categories = _genre_example()
    one = category_purity(np.zeros_like(intents), users, items, categories, shuffles=4)
    # 9 described interactions of 5 users, Action 5 of them: a permutation of one intent changes nothing
    assert one.purity == pytest.approx(5 / 9) and one.shuffled == pytest.approx(5 / 9) and one.shuffled_std == 0.0
    none = pl.DataFrame({"item": [99], "category": ["Western"]})
    assert category_purity(intents, users, items, none) is None


def test_genre_intents_are_pure_and_shuffled_ones_are_not():
    import polars as pl

    from elcrec_core.evaluate.statistics import category_purity

    rng = np.random.default_rng(0)
    intents = np.repeat(np.arange(4), 50)  # 200 users, 4 intents; intent k watches genre k 90% of the time
    users = np.repeat(np.arange(200), 20)
    genre = np.where(rng.random(4000) < 0.9, intents[users], rng.integers(0, 4, 4000))
    items = genre * 10 + rng.integers(0, 10, 4000)  # items 10g .. 10g + 9 are of genre g
    categories = pl.DataFrame({"item": np.arange(40), "category": [f"g{i // 10}" for i in range(40)]})
    result = category_purity(intents, users, items, categories, shuffles=5, seed=0)
    assert result.purity > 0.9 and result.shuffled < 0.35  # chance: about a quarter, a little more by noise
    assert result.per_intent["main_category"].to_list() == ["g0", "g1", "g2", "g3"]


# --- the defaults and orderings that readers of a report or profile see (mutation testing, TESTING.md) --------


def test_bootstrap_defaults_are_1000_resamples_seed_0_and_every_user_can_be_drawn():
    values = np.random.default_rng(3).random(50)  # per-user NDCG-like values: every resample mean differs
    default = bootstrap_mean(values)
    assert default == bootstrap_mean(values, n_boot=1000, level=0.95, seed=0) == bootstrap_mean(values)
    assert default != bootstrap_mean(values, n_boot=1001) and default != bootstrap_mean(values, seed=1)
    # two users, HR 1 and 0: resampled means are 0, 0.5 or 1, each end with probability 1/4 (> 2.5%)
    assert bootstrap_mean(np.array([1.0, 0.0])) == Interval(0.5, 0.0, 1.0)
    with pytest.raises(ValueError, match="^no values to bootstrap$"):
        bootstrap_mean(np.array([]))


def test_planted_agreement_shuffles_with_seed_0_by_default():
    planted = np.repeat(np.arange(4), 25)
    learned = planted.copy()
    learned[::7] = (learned[::7] + 1) % 4
    default = planted_agreement(planted, learned)
    assert default == planted_agreement(planted, learned, seed=0) == planted_agreement(planted, learned)
    assert default.shuffled_nmi != planted_agreement(planted, learned, seed=1).shuffled_nmi


def _tied_lifts(intents: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``intents`` intents of 2 users each, listed last intent first; each intent's users pick item 10 four times
    and items 11..14 three times each (16 interactions): every lift is exactly (c / 16) / (intents x c / (16 x
    intents)) = 1; the bound (higher for 4 of 32 than for 3 of 24: the same share from more events) and then the
    item ids order the items."""
    users, items = [], []
    for k in reversed(range(intents)):
        for item, count in ((10, 4), (11, 3), (12, 3), (13, 3), (14, 3)):
            users += [2 * k, 2 * k + 1][:1] * count
            items += [item] * count
    return np.repeat(np.arange(intents), 2), np.array(users), np.array(items)


def test_item_lift_orders_intents_then_the_bound_and_item():
    table = item_lift(*_tied_lifts())
    assert table.columns == ["intent", "item", "count", "lift", "lift_low"]
    assert table.drop("lift_low").rows() == [(k, item, count, 1.0) for k in range(8)
                                             for item, count in ((10, 4), (11, 3), (12, 3), (13, 3), (14, 3))]
    assert item_lift(*_tied_lifts(), min_count=4).drop("lift_low").rows() == [(k, 10, 4, 1.0) for k in range(8)]


def test_item_lift_low_is_the_clopper_pearson_bound_of_the_intents_share_over_its_share_of_all():
    """Intent 0 (users 0, 1; 58 interactions of 115) picks item 1 all 3 times it is picked, item 2 40 of its 50
    times and item 4 all 15 times; intent 1 (user 2; 57) the other 10 of item 2 and item 3 47 times. Item 1 has
    the larger lift (115 / 58 = 1.98 against 0.8 x 115 / 58 = 1.59), but from 3 events only: item 2, 40 of 50,
    comes before it by the lower bound of the lift's 95% interval (scipy's exact binomial interval, computed
    another way: binomtest)."""
    from scipy.stats import binomtest

    users = [0] * 3 + [1] * 40 + [2] * 10 + [2] * 47 + [0] * 15
    items = [1] * 3 + [2] * 40 + [2] * 10 + [3] * 47 + [4] * 15
    table = item_lift(np.array([0, 0, 1]), np.array(users), np.array(items))
    assert table.filter(intent=0)["item"].to_list() == [4, 2, 1]  # item 4: 15 of 15 in intent 0
    rows = {(r["intent"], r["item"]): r for r in table.to_dicts()}
    for (intent, item), (k, n) in {(0, 1): (3, 3), (0, 2): (40, 50), (0, 4): (15, 15), (1, 2): (10, 50),
                                   (1, 3): (47, 47)}.items():
        share = 58 / 115 if intent == 0 else 57 / 115
        low = binomtest(k, n).proportion_ci(0.95, method="exact").low
        assert rows[(intent, item)]["lift_low"] == pytest.approx(low / share, rel=1e-9)
        assert rows[(intent, item)]["lift"] == pytest.approx(k / n / share, rel=1e-12)
    assert rows[(0, 1)]["lift"] > rows[(0, 2)]["lift"] and rows[(0, 1)]["lift_low"] < rows[(0, 2)]["lift_low"]


def test_item_lift_defaults_are_a_minimum_of_3_and_the_top_10():
    intents, users = np.zeros(1, dtype=np.int64), np.zeros(36, dtype=np.int64)
    items = np.repeat(np.arange(1, 13), 3)  # one intent, 12 items picked 3 times each: all lifts 1
    assert item_lift(intents, users, items)["item"].to_list() == list(range(1, 11))
    items[-1] = 1  # item 12 now 2 times: below the minimum, and item 1 four times
    assert item_lift(intents, users, items, top=20)["item"].to_list() == [1, *range(2, 12)]


def test_category_lift_orders_intents_then_lift_count_and_name_and_keeps_the_top_5_of_count_3():
    import polars as pl

    from elcrec_core.evaluate.statistics import category_lift

    intents = np.repeat(np.arange(8), 2)
    users, items = [], []
    for k in reversed(range(8)):  # every intent: item 10 four times, items 11..15 three times: all lifts 1
        for item, count in ((10, 4), (11, 3), (12, 3), (13, 3), (14, 3), (15, 3)):
            users += [2 * k] * count
            items += [item] * count
    categories = pl.DataFrame({"item": [15, 14, 13, 12, 11, 10], "category": ["F", "E", "D", "C", "B", "A"]})
    table = category_lift(intents, np.array(users), np.array(items), categories)
    assert table.columns == ["intent", "category", "count", "share", "lift"]
    assert [(r[0], r[1], r[2], r[4]) for r in table.rows()] == [
        (k, name, count, 1.0) for k in range(8) for name, count in (("A", 4), ("B", 3), ("C", 3), ("D", 3), ("E", 3))]
    assert category_lift(intents, np.array(users), np.array(items), categories, min_count=4)["category"].to_list() == [
        "A"] * 8


def _genre_users(seed: int = 0):
    import polars as pl

    rng = np.random.default_rng(seed)
    intents = np.repeat(np.arange(4), 50)
    users = np.repeat(np.arange(200), 20)
    genre = np.where(rng.random(4000) < 0.6, intents[users], rng.integers(0, 4, 4000))
    categories = pl.DataFrame({"item": np.arange(40), "category": [f"g{i // 10}" for i in range(40)]})
    return intents, users, genre * 10 + rng.integers(0, 10, 4000), categories


def test_category_purity_defaults_to_5_shuffles_with_seed_0_and_takes_any_integer_user_ids():
    from elcrec_core.evaluate.statistics import category_purity

    data = _genre_users()
    default = category_purity(*data)
    explicit = category_purity(*data, shuffles=5, seed=0)
    assert default.shuffles == 5 and (default.shuffled, default.shuffled_std) == (explicit.shuffled,
                                                                                  explicit.shuffled_std)
    assert default.shuffled != category_purity(*data, seed=1).shuffled
    intents, users, items, categories = data
    narrow = category_purity(intents, users.astype(np.int32), items, categories)
    assert (narrow.purity, narrow.shuffled) == (default.purity, default.shuffled)
    assert narrow.per_intent.equals(default.per_intent)


def test_category_purity_without_shuffles_has_no_chance_figures_and_warns_nothing():
    import math
    import warnings

    from elcrec_core.evaluate.statistics import category_purity

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = category_purity(*_genre_users(), shuffles=0)
    assert result.shuffles == 0 and math.isnan(result.shuffled) and math.isnan(result.shuffled_std)
    assert result.purity > 0.5


def test_bootstrap_of_float32_values_is_computed_in_float64() -> None:
    """Per-user metrics may arrive as float32 (from torch): the mean and its interval are those of the same
    values in float64, not a float32 sum's rounding."""
    values = np.random.default_rng(1).random(1000).astype(np.float32)
    wide = bootstrap_mean(values.astype(np.float64))
    assert bootstrap_mean(values) == wide
    assert wide.estimate != float(values.mean())  # float32 accumulation would differ


def test_bootstrap_draws_in_chunks_the_same_resamples_in_bounded_memory(monkeypatch) -> None:
    """Chunks of any size give the interval of drawing every resample at once; 50,000 users peak at about
    64 MiB (the indices and values of one chunk), where drawing all at once took 800 MB."""
    import tracemalloc

    import elcrec_core.evaluate.statistics as statistics

    values = np.random.default_rng(3).random(1001)
    whole = bootstrap_mean(values)
    for chunk in (1, 7, 1001 * 3 + 5):
        monkeypatch.setattr(statistics, "BOOTSTRAP_CHUNK_ELEMENTS", chunk)
        assert bootstrap_mean(values) == whole
    monkeypatch.undo()
    many = np.random.default_rng(4).random(50_000)
    tracemalloc.start()
    bootstrap_mean(many)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 150 * 2**20, peak


def test_the_shuffled_purity_keeps_the_intent_sizes_of_the_users_that_count():
    """Intent 0's 50 users have categories (item 1: a; half of them also item 2: b), intent 1's 50 users only items
    without one. Every shuffle of the intents among the users that count leaves them one group: the shuffled purity
    is the purity itself (a permutation over all users split them, and small groups are purer by chance)."""
    import polars as pl

    from elcrec_core.evaluate.statistics import category_purity

    intents = np.repeat([0, 1], 50)
    users = np.concatenate([np.arange(50), np.arange(25), np.arange(50, 100)])
    items = np.concatenate([np.full(50, 1), np.full(25, 2), np.full(50, 3)])
    categories = pl.DataFrame({"item": [1, 2], "category": ["a", "b"]})
    result = category_purity(intents, users, items, categories, shuffles=20)
    assert result.purity == pytest.approx(50 / 75)
    assert result.shuffled == pytest.approx(result.purity) and result.shuffled_std == pytest.approx(0.0)


def test_intent_summary_and_map_of_a_few_users_each_in_its_own_intent():
    """Three users, each alone in an intent: no silhouette (defined for 2 to users - 1 groups; it raised), and the
    map places 1, 2 or 3 users by both methods (PCA raised for one user, t-SNE for two)."""
    from elcrec_core.intents.profiles import UserIntents, summarise_intents
    from elcrec_core.report.plots import map_coordinates

    centres = np.eye(3)
    rep = centres + 0.01
    summary = summarise_intents(UserIntents(np.arange(3), np.zeros(3), np.arange(3), rep), centres)
    assert summary.used == 3 and summary.silhouette is None
    for users in (1, 2, 3):
        for method in ("pca", "tsne"):
            xy, pick = map_coordinates(rep[:users], method)
            assert xy.shape == (users, 2) and sorted(pick.tolist()) == list(range(users)) and np.isfinite(xy).all()
    assert map_coordinates(rep[:1], "pca")[0].tolist() == [[1.01, 0.01]]  # one user: its first two coordinates


def test_equal_lifts_that_a_chain_of_divisions_rounds_apart_tie_and_are_ordered_by_count():
    """Items seen only by one intent's users all have the lift total / intent_total; computed as
    (count / intent_total) / (item_total / total) they differed in the last bit and the top 10 was rounding noise."""
    import polars as pl

    from elcrec_core.evaluate.statistics import category_lift

    users, items = [], []
    for item in range(1, 13):  # intent 0 alone sees items 1..12, item k k + 2 times; intent 1 item 99 500 times
        users += [0] * (item + 2)
        items += [item] * (item + 2)
    users += [1] * 500
    items += [99] * 500
    intents = np.array([0, 1])
    table = item_lift(intents, np.array(users), np.array(items)).filter(intent=0)
    assert table["count"].to_list() == list(range(14, 4, -1))  # the 10 most frequent, most frequent first
    assert table["lift"].unique().to_list() == [len(items) / 102]
    # categories: intent 0 picks A 4 times and B 6 times, intent 1 C 5 times: A and B both lift 15 / 10
    users, items = [0] * 10 + [1] * 5, [1] * 4 + [2] * 6 + [3] * 5
    categories = pl.DataFrame({"item": [1, 2, 3], "category": ["A", "B", "C"]})
    table = category_lift(intents, np.array(users), np.array(items), categories, min_count=1)
    assert table.rows() == [(0, "B", 6, 0.6, 1.5), (0, "A", 4, 0.4, 1.5), (1, "C", 5, 1.0, 3.0)]


def test_bootstrap_and_the_headline_refuse_what_has_no_interval() -> None:
    """A NaN among the values gave a NaN interval unsaid; n_boot 0 and level 95 numpy's errors; the headline's
    k 0 gave "HR@0" (helper-193)."""
    from elcrec_core.report.comparisons import headline, paired_differences

    with pytest.raises(ValueError, match="^1 of the 3 values to bootstrap are NaN$"):
        bootstrap_mean(np.array([1.0, np.nan, 0.0]))
    for level in (95, 0.0):
        with pytest.raises(ValueError, match=rf"^level must be in \(0, 1\) \(0.95 for 95%\), not {level}$"):
            bootstrap_mean(np.array([1.0, 0.0]), level=level)
    for n_boot in (0, 2.5, True):  # 2.5: numpy's TypeError; true was 1 resample (helper-219)
        with pytest.raises(ValueError, match=rf"^n_boot, the bootstrap's resamples, must be a whole number of 1 or "
                                             rf"more, not {n_boot!r}$"):
            bootstrap_mean(np.array([1.0, 0.0]), n_boot=n_boot)
        with pytest.raises(ValueError, match=r"^n_boot, the bootstrap's resamples, must be"):
            headline({"a": torch.arange(30)}, n_boot=n_boot)
    for k in (0, 2.5, True):  # 'HR@0', 'HR@2.5', 'HR@True'
        with pytest.raises(ValueError, match=rf"^the cut-off k must be a whole number of 1 or more, not {k!r}$"):
            per_user(torch.tensor([0, 1]), k)
        with pytest.raises(ValueError, match=rf"^the cut-off K must be a whole number of 1 or more, not {k!r}$"):
            metrics_from_ranks(torch.tensor([0, 1]), (k,))
    for k in (0, 2.5, True):
        with pytest.raises(ValueError, match=f"^the cut-off k must be a whole number of 1 or more, not {k!r}$"):
            headline({"a": torch.tensor([0, 1])}, k=k)
    # above the rank of a miss (2^31), a target in the history counted as a hit at rank 2^31 (helper-226)
    miss, beyond = torch.tensor([0, MISS_RANK]), MISS_RANK + 1
    assert metrics_from_ranks(miss, (MISS_RANK,))[f"HR@{MISS_RANK}"] == 0.5  # the largest K: the miss is no hit
    for check in (lambda: per_user(miss, beyond), lambda: metrics_from_ranks(miss, (beyond,)),
                  lambda: headline({"a": miss}, k=beyond), lambda: paired_differences({"a": miss}, "a", k=beyond)):
        with pytest.raises(ValueError, match=r"^the cut-off [kK] must be at most 2147483648 \(2\^31, the rank of a "
                                             r"miss\), not 2147483649$"):
            check()
