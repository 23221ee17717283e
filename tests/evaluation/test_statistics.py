"""Sufficient statistics: functionals, their influence functions and resampling units,
checked against hand computations and finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from offline_rl.evaluation.statistics import (
    Functional,
    functional_values,
    influence_values,
    reduce_to_units,
    sum_by_label,
)

#: Three events: column 0 the count, then two statistics. Column means 1 and 8/3.
EVENTS = np.array([[1.0, 2.0, 4.0], [1.0, 0.0, 2.0], [1.0, 1.0, 2.0]])
MEAN = Functional("mean", ((1, 1),))
RATIO = Functional("ratio", ((1, 1), (2, -1)))
SQUARE = Functional("square", ((2, 2),))


def test_functional_values_by_hand():
    values = functional_values(EVENTS.sum(axis=0), [MEAN, RATIO, SQUARE])
    np.testing.assert_allclose(values, [1.0, 3 / 8, 64 / 9], rtol=1e-15)
    assert MEAN.offset == 0.0
    lift = Functional("lift", ((1, 1), (2, -1)), offset=1.0)
    assert functional_values(EVENTS.sum(axis=0), [lift])[0] == pytest.approx(3 / 8 - 1, rel=1e-15)


def test_functional_values_keep_leading_axes():
    """Resampled sums come as (R, B, k), R data sets of B replicates: every leading index is
    evaluated on its own."""
    sums = np.stack([EVENTS.sum(axis=0), [2.0, 1.0, 4.0], [1.0, 1.0, 1.0]])
    sums = np.stack([sums, 2 * sums])  # (2, 3, 3): R != B
    values = functional_values(sums, [MEAN, RATIO, SQUARE])
    assert values.shape == (2, 3, 3)
    expected = [[1.0, 3 / 8, 64 / 9], [0.5, 0.25, 4.0], [1.0, 1.0, 1.0]]
    np.testing.assert_allclose(values, [expected, expected], rtol=1e-15)


@pytest.mark.filterwarnings("error")  # no RuntimeWarning leaks out for a zero denominator
def test_zero_denominator_is_nan_and_silent():
    sums = np.array([[3.0, 3.0, 0.0], [0.0, 0.0, 0.0]])  # a zero column; an empty replicate
    values = functional_values(sums, [MEAN, RATIO, SQUARE])
    assert values[0, 0] == 1.0 and np.isnan(values[0, 1]) and values[0, 2] == 0.0
    assert np.isnan(values[1]).all()  # zero events: every mean is undefined


def test_ratio_over_merges_exponents():
    snips = Functional("snips", ((1, 1), (2, -1)))
    other = Functional("other", ((3, 1), (2, -1)))
    lift = snips.ratio_over(other, "lift")
    assert (lift.name, lift.terms, lift.offset) == ("lift", ((1, 1), (3, -1)), 1.0)
    assert snips.ratio_over(other, "ratio", offset=0.0).offset == 0.0
    sums = np.array([4.0, 2.0, 8.0, 1.0])
    value = functional_values(sums, [snips, other, lift])
    assert value[2] == pytest.approx(value[0] / value[1] - 1, rel=1e-15)
    assert value[2] == pytest.approx(2.0 / 1.0 - 1, rel=1e-15)


def test_ratio_over_itself_is_zero_lift_where_defined():
    """All terms cancel: the lift of a value over itself, 0, or undefined where it is 0."""
    value = Functional("value", ((2, 1),))
    lift = value.ratio_over(value, "self")
    assert lift.terms == ((2, 1), (2, -1))
    values = functional_values(np.array([[2.0, 5.0, 1.0], [2.0, 5.0, 0.0]]), [lift])
    assert values[0, 0] == 0.0 and np.isnan(values[1, 0])


def test_ratio_over_a_functional_with_a_repeated_column():
    """m1 * m1 / m2: exponents of a repeated column add up."""
    square = Functional("square", ((1, 1), (1, 1)))
    ratio = square.ratio_over(Functional("m2", ((2, 1),)), "ratio", offset=0.0)
    assert ratio.terms == ((1, 2), (2, -1))
    assert functional_values(np.array([2.0, 6.0, 4.0]), [ratio])[0] == 9 / 2


@pytest.mark.parametrize(
    ("terms", "message"),
    [
        ((), r"Functional 'bad' needs at least one \(column, exponent\) term."),
        (((0, 1),), r"Functional 'bad' uses column 0, the event count; every mean"),
        (((1, 1), (2, 0)), r"Functional 'bad' has a zero exponent on column 2."),
    ],
)
def test_bad_functionals(terms, message):
    with pytest.raises(ValueError, match=message):
        Functional("bad", terms)


def test_influence_values_by_hand():
    """Events (N_u = 1): IF of a mean is S_u - mean; of a ratio (S_u1 - f S_u2) / mean_2; of
    mean_2 squared 2 mean_2 (S_u2 - mean_2)."""
    influence = influence_values(EVENTS, [MEAN, RATIO, SQUARE])
    expected = np.array(
        [
            [1.0, (2 - 1.5) * 3 / 8, 64 / 9],
            [-1.0, (0 - 0.75) * 3 / 8, -32 / 9],
            [0.0, (1 - 0.75) * 3 / 8, -32 / 9],
        ]
    )
    np.testing.assert_allclose(influence, expected, rtol=1e-14, atol=1e-15)


def test_influence_of_a_repeated_column_adds_its_terms():
    """m2 / m2 is constant (influence 0); m2 * m2 has the influence of m2 ** 2."""
    influence = influence_values(
        EVENTS, [Functional("one", ((2, 1), (2, -1))), Functional("sq", ((2, 1), (2, 1)))]
    )
    np.testing.assert_allclose(influence[:, 0], 0.0, atol=1e-15)
    np.testing.assert_allclose(influence[:, 1], [64 / 9, -32 / 9, -32 / 9], rtol=1e-14)


def test_influence_of_clusters_counts_their_events():
    """A cluster of N_u events: IF of a mean is (S_u - f N_u) / mean(N)."""
    units = np.array([[2.0, 3.0], [1.0, 0.0]])  # mean of the events 1.0, mean N 1.5
    np.testing.assert_allclose(influence_values(units, [MEAN])[:, 0], [2 / 3, -2 / 3], rtol=1e-15)


def test_influence_values_match_finite_differences():
    """IF_u = d/de f((1 - e) * mean + e * S_u) at e = 0, for a product of three powers, with
    clusters of unequal size; and the (R, m, k) batch gives each data set's own answer."""
    rng = np.random.default_rng(0)
    units = np.column_stack(
        [rng.integers(1, 5, 12).astype(float), rng.uniform(0.5, 2, (12, 3))]
    )
    functional = Functional("f", ((1, 2), (2, -1), (3, 1)), offset=1.0)
    mean = units.mean(axis=0)
    step = 1e-6
    numeric = [
        (
            functional_values((1 - step) * mean + step * unit, [functional])[0]
            - functional_values((1 + step) * mean - step * unit, [functional])[0]
        )
        / (2 * step)
        for unit in units
    ]
    influence = influence_values(units, [functional, MEAN])
    np.testing.assert_allclose(influence[:, 0], numeric, rtol=1e-6)
    batch = influence_values(np.stack([units, units[::-1] * 2]), [functional, MEAN])
    np.testing.assert_allclose(batch[0], influence, rtol=1e-14)
    np.testing.assert_allclose(
        batch[1], influence_values(units[::-1] * 2, [functional, MEAN]), rtol=1e-14
    )


@pytest.mark.filterwarnings("error")
def test_influence_of_a_zero_numerator_is_zero_and_of_a_zero_denominator_nan():
    """A metric without positives has standard error 0, not NaN; a zero denominator is
    undefined."""
    units = np.array([[1.0, 0.0, 2.0, 0.0], [1.0, 0.0, 1.0, 0.0]])
    no_positive = Functional("no_positive", ((1, 1), (2, -1)))
    zero_denominator = Functional("zero_denominator", ((2, 1), (3, -1)))
    influence = influence_values(units, [no_positive, zero_denominator])
    np.testing.assert_array_equal(influence[:, 0], [0.0, 0.0])
    assert np.isnan(influence[:, 1]).all()


def test_reduce_to_units_sums_clusters_in_label_order():
    stats = np.column_stack([np.ones(5), [1.0, 2.0, 3.0, 4.0, 5.0]])
    units = reduce_to_units(stats, clusters=np.array([7, 3, 7, 3, 9]))
    np.testing.assert_array_equal(units, [[2, 6], [2, 4], [1, 5]])
    empty = reduce_to_units(np.ones((0, 2)), clusters=np.array([], dtype=int))
    assert empty.shape == (0, 2)


def test_blocks_are_equal_sized_seeded_and_only_when_needed():
    stats = np.column_stack([np.ones(10), np.arange(10.0) ** 2])
    blocks = reduce_to_units(stats, max_units=4, seed=1)
    assert blocks.shape == (4, 2)
    assert sorted(blocks[:, 0]) == [2.0, 2.0, 3.0, 3.0]  # 10 events in 4 blocks: 3, 2, 3, 2
    np.testing.assert_array_equal(blocks.sum(axis=0), stats.sum(axis=0))
    np.testing.assert_array_equal(blocks, reduce_to_units(stats, max_units=4, seed=1))
    assert not np.array_equal(blocks, reduce_to_units(stats, max_units=4, seed=2))
    # the default seed is fixed: same inputs, same blocks
    np.testing.assert_array_equal(
        reduce_to_units(stats, max_units=4), reduce_to_units(stats, max_units=4)
    )
    # no more units than max_units: the units themselves, in order, as float64
    for max_units in (10, 11, None):
        units = reduce_to_units(stats.astype(int).tolist(), max_units=max_units)
        assert units.dtype == np.float64
        np.testing.assert_array_equal(units, stats)
    # blocks of clusters: users first, then blocks of users
    users = reduce_to_units(stats, clusters=np.arange(10) % 5, max_units=2, seed=0)
    assert sorted(users[:, 0]) == [4.0, 6.0]  # 5 users of 2 events in blocks of 2 and 3 users


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"stats": np.ones(3)},
            r"Expected `stats` to be 2-D \(events x statistics\), but found shape \(3,\).",
        ),
        (
            {"stats": np.ones((3, 2)), "clusters": np.array([1, 2])},
            r"Expected `clusters.shape == \(3,\)` \(one label per event\), but found \(2,\).",
        ),
    ],
)
def test_reduce_to_units_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        reduce_to_units(**kwargs)


def test_sum_by_label():
    stats = np.array([[1.0, 2.0], [1.0, 3.0], [1.0, 5.0]])
    np.testing.assert_array_equal(
        sum_by_label(stats, np.array([2, 0, 2]), 4), [[1, 3], [0, 0], [2, 7], [0, 0]]
    )
