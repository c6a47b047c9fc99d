"""Report and profile statistics on hand-checkable inputs."""

import numpy as np
import pytest

from elcrec_core.statistics import bootstrap_mean, item_lift, planted_agreement


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
    rng = np.random.default_rng(1)
    covered = 0
    trials = 200
    for t in range(trials):
        hits = (rng.random(400) < 0.3).astype(float)  # per-user HR of a model whose true HR is 0.3
        interval = bootstrap_mean(hits, n_boot=400, seed=t)
        covered += interval.low <= 0.3 <= interval.high
        assert interval.low <= interval.estimate <= interval.high
    assert 0.90 <= covered / trials <= 0.99  # nominal 95%


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
    from elcrec_core.profiling import UserIntents, summarise_intents

    centres = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    # four users on centre 0 (distances 0.1, 0.3), centre 1 (0.2) and centre 3 (0.0, 0.4); centre 2 is dead
    intent = np.array([0, 0, 1, 3, 3])
    distance = np.array([0.1, 0.3, 0.2, 0.0, 0.4])
    rep = centres[intent] + 0.01 * np.arange(5)[:, None]
    summary = summarise_intents(UserIntents(intent, distance, intent, rep), centres)
    assert (summary.used, summary.dead) == (3, 1)
    rows = {r["intent"]: r for r in summary.per_intent.to_dicts()}
    assert rows[0]["users"] == 2 and rows[0]["cohesion"] == pytest.approx(0.2)
    assert rows[2]["users"] == 0 and np.isnan(rows[2]["cohesion"])
    assert rows[0]["nearest_intent"] in (1, 3)  # both at squared distance 2; centre 2 is at 4
    assert summary.size_quantiles["max"] == 2 and summary.silhouette > 0.5  # the singleton intent scores 0
