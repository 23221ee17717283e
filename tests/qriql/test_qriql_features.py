"""Encoding of user_trajectories rows into padded arrays."""

from __future__ import annotations

import numpy as np
import polars as pl

from offline_rl.qriql.features import (
    UNKNOWN,
    IdIndex,
    category_lookup,
    flip_last_response,
    padded_lists,
)


def test_padded_lists_right_aligned_and_truncated():
    values, mask = padded_lists(pl.Series([[1, 2, 3], [], [4]]), 2)
    assert values.tolist() == [[2, 3], [0, 0], [0, 4]]
    assert mask.tolist() == [[True, True], [False, False], [False, True]]


def test_id_index_unknown_and_pad():
    index = IdIndex.fit([30, 10, 20, 10])
    assert index.values == (10, 20, 30)
    assert index.encode(np.array([10, 30, 99])).tolist() == [2, 4, UNKNOWN]
    assert index.encode(np.array([10, 20]), null_mask=np.array([False, True])).tolist() == [2, 0]


def test_category_lookup():
    items = IdIndex.fit([5, 6, 7])
    categories, lookup = category_lookup(items, {5: "a", 6: "b"})
    assert categories.values == ("a", "b")
    assert lookup.tolist() == [0, UNKNOWN, 2, 3, UNKNOWN]


def test_encoded_trajectories(trajectories):
    from offline_rl.qriql.features import encode_trajectories

    items = IdIndex.fit(trajectories["item"])
    data = encode_trajectories(trajectories, items=items, history_length=10, context_dim=4,
                               max_position=50, n_actions=2)
    n = trajectories.height
    assert data.state.history_items.shape == (n, 10)
    assert (data.next_state.item[data.done] == 0).all()
    # s' history ends with this step's item and response
    assert (data.next_state.history_items[:, -1] == data.state.item).all()
    assert (data.next_state.history_responses[:, -1] == data.action + 1).all()
    flipped = flip_last_response(data.next_state, 2, 1 - data.action)
    assert (flipped.history_responses[:, -1] == 2 - data.action).all()
    assert (flipped.history_responses[:, :-1] == data.next_state.history_responses[:, :-1]).all()
