"""Intervals for proportions, Poisson counts and O/E ratios against published values."""

import numpy as np
import pytest

from imestats.proportions import (
    Interval,
    garwood_interval,
    oe_ratio_interval,
    wilson_interval,
)

# Newcombe RG, Stat Med 1998;17:857-872, Table II, method 3 (score, no continuity
# correction), printed to 4 decimals; equals R prop.test(k, n, correct = FALSE)$conf.int.
NEWCOMBE_WILSON = [
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0, 0.1611),
    (1, 29, 0.0061, 0.1718),
]
# Same table, method 5 (exact, Clopper-Pearson); equals R binom.test(k, n)$conf.int.
NEWCOMBE_EXACT = [
    (81, 263, 0.2527, 0.3676),
    (15, 148, 0.0578, 0.1617),
    (0, 20, 0.0, 0.1684),
    (1, 29, 0.0009, 0.1776),
]
FOUR_DECIMALS = 5e-5


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    NEWCOMBE_WILSON,
    ids=[f"wilson_against_newcombe_{k}_of_{n}" for k, n, *_ in NEWCOMBE_WILSON],
)
def test_wilson_against_newcombe_1998(k, n, low, high):
    interval = wilson_interval(k, n)
    assert interval.estimate == pytest.approx(k / n, abs=1e-15)
    assert interval.low == pytest.approx(low, abs=FOUR_DECIMALS)
    assert interval.high == pytest.approx(high, abs=FOUR_DECIMALS)


def test_wilson_vectorised_matches_scalar_calls_and_returns_arrays():
    k = np.array([row[0] for row in NEWCOMBE_WILSON])
    n = np.array([row[1] for row in NEWCOMBE_WILSON])
    interval = wilson_interval(k, n)
    assert isinstance(interval.low, np.ndarray)
    assert interval.low.shape == (4,)
    for i, (ki, ni) in enumerate(zip(k, n, strict=True)):
        single = wilson_interval(int(ki), int(ni))
        assert isinstance(single.low, float)
        assert interval.low[i] == pytest.approx(single.low, abs=1e-15)
        assert interval.high[i] == pytest.approx(single.high, abs=1e-15)


def test_wilson_empty_unit_gives_nan_without_warning():
    interval = wilson_interval(np.array([0, 3]), np.array([0, 10]))
    assert np.isnan(interval.estimate[0]) and np.isnan(interval.low[0])
    assert np.isnan(interval.high[0])
    assert np.isfinite(interval.low[1])


@pytest.mark.parametrize(
    ("k", "n"), [(5, 3), (-1, 10)], ids=["more_events_than_trials", "negative_events"]
)
def test_wilson_rejects_impossible_counts(k, n):
    with pytest.raises(ValueError, match="0 <= k <= n"):
        wilson_interval(k, n)


# Garwood limits are chi-square quantiles / 2. Chi-square table values (e.g. NIST/SEMATECH
# e-Handbook of Statistical Methods, table 1.3.6.7.4, 3 decimals): chi2_{0.975, 2} = 7.378,
# chi2_{0.025, 2} = 0.0506, chi2_{0.975, 4} = 11.143, chi2_{0.025, 20} = 9.591,
# chi2_{0.975, 22} = 36.781.
GARWOOD = [
    (0, 0.0, 7.378 / 2),
    (1, 0.0506 / 2, 11.143 / 2),
    (10, 9.591 / 2, 36.781 / 2),
]


@pytest.mark.parametrize(
    ("observed", "low", "high"),
    GARWOOD,
    ids=[f"garwood_against_chi_square_table_O_{o}" for o, *_ in GARWOOD],
)
def test_garwood_against_chi_square_table(observed, low, high):
    interval = garwood_interval(observed)
    assert interval.estimate == observed
    assert interval.low == pytest.approx(low, abs=5e-4)
    assert interval.high == pytest.approx(high, abs=5e-4)


def test_oe_ratio_interval_is_garwood_over_expected_10_over_5():
    # Garwood for O = 10 from the chi-square table above, divided by E = 5.
    interval = oe_ratio_interval(10, 5.0)
    assert isinstance(interval, Interval)
    assert interval.estimate == pytest.approx(2.0, abs=1e-12)
    assert interval.low == pytest.approx(9.591 / 10, abs=1e-4)
    assert interval.high == pytest.approx(36.781 / 10, abs=1e-4)


def test_oe_ratio_interval_zero_expected_is_nan():
    interval = oe_ratio_interval(np.array([3, 4]), np.array([0.0, 2.0]))
    assert np.isnan(interval.estimate[0]) and np.isnan(interval.high[0])
    assert interval.estimate[1] == pytest.approx(2.0, abs=1e-12)


def test_level_outside_unit_interval_is_rejected():
    with pytest.raises(ValueError, match="level"):
        garwood_interval(3, level=95)
