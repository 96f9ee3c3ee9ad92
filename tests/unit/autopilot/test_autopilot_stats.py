"""The anytime-valid confidence sequences: coverage under peeking, power, edge cases."""

from __future__ import annotations

import math

import numpy as np

from mlpilot.autopilot import difference_sequence, mean_sequence, paired_sequence


def test_the_sequence_covers_the_true_difference_at_every_look_in_almost_every_run() -> None:
    """Peeking after every observation: a fixed-n interval at alpha 0.05 would miss far more
    often than 5% of runs; the confidence sequence stays under it."""
    rng = np.random.default_rng(0)
    runs, looks, misses = 200, 400, 0
    for _ in range(runs):
        a = (rng.random(looks) < 0.9).astype(float).tolist()
        b = (rng.random(looks) < 0.9).astype(float).tolist()
        for n in range(10, looks + 1, 5):
            interval = difference_sequence(a[:n], b[:n], alpha=0.05, horizon=100, bounded=True)
            if not interval.low <= 0.0 <= interval.high:
                misses += 1
                break
    assert misses / runs <= 0.05


def test_a_naive_interval_peeked_at_the_same_way_misses_more_often() -> None:
    """The control for the test above: the same runs with a plain 95% normal interval."""
    rng = np.random.default_rng(0)
    runs, looks, misses = 200, 400, 0
    for _ in range(runs):
        a = (rng.random(looks) < 0.9).astype(float).tolist()
        b = (rng.random(looks) < 0.9).astype(float).tolist()
        for n in range(10, looks + 1, 5):
            pa, pb = sum(a[:n]) / n, sum(b[:n]) / n
            se = math.sqrt(max(pa * (1 - pa), 1e-9) / n + max(pb * (1 - pb), 1e-9) / n)
            if abs(pa - pb) > 1.96 * se:
                misses += 1
                break
    assert misses / runs > 0.1


def test_a_clearly_worse_variant_is_separated_within_a_hundred_labels() -> None:
    rng = np.random.default_rng(1)
    good = (rng.random(100) < 0.95).astype(float).tolist()
    bad = (rng.random(100) < 0.5).astype(float).tolist()
    interval = difference_sequence(bad, good, alpha=0.05, horizon=100, bounded=True)
    assert interval.high < -0.1
    assert interval.low >= -1.0


def test_the_interval_narrows_as_labels_accumulate() -> None:
    rng = np.random.default_rng(2)
    values = (rng.random(5000) < 0.95).astype(float).tolist()
    widths = [
        (lambda i: i.high - i.low)(mean_sequence(values[:n], alpha=0.05, horizon=100, bounded=True))
        for n in (50, 300, 1000, 5000)
    ]
    assert widths == sorted(widths, reverse=True)
    assert widths[-1] < 0.03


def test_identical_outcomes_do_not_give_a_zero_width_interval() -> None:
    interval = mean_sequence([1.0] * 30, alpha=0.05, horizon=100, bounded=True)
    assert interval.high == 1.0
    assert interval.low < 0.95


def test_no_data_or_one_unbounded_value_gives_an_unbounded_interval() -> None:
    empty = mean_sequence([], alpha=0.05, horizon=100)
    assert empty.n == 0
    assert math.isinf(empty.low)
    assert math.isinf(empty.high)
    one = mean_sequence([3.0], alpha=0.05, horizon=100)
    assert one.estimate == 3.0
    assert math.isinf(one.high)


def test_unbounded_errors_use_their_sample_variance() -> None:
    rng = np.random.default_rng(3)
    small = mean_sequence(list(rng.normal(1.0, 0.1, 500)), alpha=0.05, horizon=100)
    large = mean_sequence(list(rng.normal(1.0, 1.0, 500)), alpha=0.05, horizon=100)
    assert small.low < 1.0 < small.high
    assert (large.high - large.low) > 5 * (small.high - small.low)


def test_the_paired_sequence_covers_the_true_gain_at_every_look_in_almost_every_run() -> None:
    """Per-row differences of two models that mostly agree (the challenger right where the
    champion was wrong on 6% of rows, wrong where it was right on 3%: true gain 0.03), peeked
    at every five labels: the sequence misses the true gain in at most 5% of runs."""
    rng = np.random.default_rng(4)
    runs, looks, misses = 200, 400, 0
    for _ in range(runs):
        u = rng.random(looks)
        diffs = np.where(u < 0.06, 1.0, np.where(u < 0.09, -1.0, 0.0)).tolist()
        for n in range(10, looks + 1, 5):
            interval = paired_sequence(diffs[:n], alpha=0.05, horizon=100)
            if not interval.low <= 0.03 <= interval.high:
                misses += 1
                break
    assert misses / runs <= 0.05


def test_rows_that_always_agreed_do_not_give_a_zero_width_paired_interval() -> None:
    interval = paired_sequence([0.0] * 40, alpha=0.05, horizon=100)
    assert interval.low < -0.05
    assert interval.high > 0.05
    assert paired_sequence([], alpha=0.05, horizon=100).n == 0
