"""Poisson rate ratio against R's poisson.test."""

import numpy as np
import pytest

from imestats.rates import poisson_rate_ratio


def test_rate_ratio_against_R_poisson_test_eba1977():
    # R: poisson.test(c(11, 6+8+7), c(800, 1083+1050+878)), the example in ?poisson.test
    # (ISwR eba1977, Fredericia vs the other three cities, ages 55-59). R prints
    # p-value = 0.07967, 95% CI 0.8584264 4.2772659, rate ratio 1.971488.
    r = poisson_rate_ratio(11, 800, 21, 1083 + 1050 + 878, alternative="two-sided")
    assert r.ratio == pytest.approx(1.971488, abs=1e-6)
    assert r.ci_low == pytest.approx(0.8584264, abs=1e-6)
    assert r.ci_high == pytest.approx(4.2772659, abs=1e-6)
    assert r.p_value == pytest.approx(0.07967, abs=1e-5)


def test_one_sided_p_is_the_upper_binomial_tail():
    # Independent computation: P(X >= 11) for X ~ Bin(32, 800/3811), summed term by term.
    from math import comb

    pi0 = 800 / 3811
    expected = sum(comb(32, k) * pi0**k * (1 - pi0) ** (32 - k) for k in range(11, 33))
    r = poisson_rate_ratio(11, 800, 21, 3011, alternative="greater")
    assert r.p_value == pytest.approx(expected, rel=1e-10)


def test_vectorised_and_degenerate_rows():
    r = poisson_rate_ratio([11, 0, 5], [800, 10, 0], [21, 0, 5], [3011, 10, 10])
    assert r.ratio[0] == pytest.approx(1.971488, abs=1e-6)
    assert np.isnan(r.ratio[1]) and np.isnan(r.ratio[2])
    assert np.isnan(r.p_value[1]) and np.isnan(r.p_value[2])
