"""The backtest's users: those who got a list from the model that served the day before."""

from __future__ import annotations

from elcrec_core.data.sequences import Sequences
from elcrec_core.evaluate.backtest import had_every_item


def test_a_user_who_had_every_item_of_the_served_model_had_no_list() -> None:
    """Three users who had bought every item got no list, yet the backtest scored them (their first items of the
    day, misses by force: HR@20 10/33 for 10/30, helper-197). Items beyond the model's (new to it) and repeats do
    not count towards every item; a user with no items before the day has not had them all."""
    seen = Sequences.from_lists(["all", "most", "repeats", "beyond", "none"],
                                [[3, 1, 2], [1, 2], [1, 1, 2, 2], [1, 2, 4], []], n_items=4)
    assert had_every_item(seen, 3).tolist() == [True, False, False, False, False]
    assert had_every_item(seen, 2).tolist() == [True, True, True, True, False]
