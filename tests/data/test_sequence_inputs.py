"""Sequences name what is wrong with their items and n_items (helper-252)."""

import re

import numpy as np
import pytest

from elcrec_core.data.sequences import Sequences


def test_an_item_outside_the_catalogue_is_named_with_its_row_and_user():
    with pytest.raises(ValueError, match=re.escape("item indices must lie in 1..1349, not 2000 (row 2, user 'w')")):
        Sequences.from_lists(["u", "v", "w"], [[1, 2], [], [3, 2000, 5000]], n_items=1349)
    with pytest.raises(ValueError, match=re.escape("item indices must lie in 1..5, not 0 (row 0, user 'u')")):
        Sequences.from_lists(["u"], [[0, 2]], n_items=5)
    assert Sequences.from_lists(["u", "v"], [[1, 2], [5]], n_items=5).sequence(1) == [5]


@pytest.mark.parametrize("n_items", [5.5, -3, True, "5"])
def test_n_items_is_a_whole_number(n_items):
    with pytest.raises(ValueError, match=re.escape(f"n_items must be a whole number of 0 or more, not {n_items!r}")):
        Sequences(np.array(["u"]), np.array([1]), np.array([0, 1]), n_items)  # 5.5 was kept; -3 said "1..-3"


def test_item_ids_given_for_indices_are_told():
    with pytest.raises(ValueError, match=re.escape("item indices must be integers, not <U3 (['s3', 's10'], ...): "
                                                   "item ids? give their indices (i for item_ids[i - 1])")):
        Sequences.from_lists(["u"], [["s3", "s10"]], n_items=10)
    assert Sequences.from_lists(["u"], [[]]).n_items == 0 and Sequences(
        np.array(["u"]), np.array([1]), np.array([0, 1]), np.int64(3)).n_items == 3
