"""Empirical Bayes shrinkage and expected ranks."""

import math

import numpy as np
import pytest
from scipy import integrate, optimize, special, stats

from imestats.shrinkage import beta_binomial_shrinkage, expected_rank, gamma_poisson_shrinkage

# BUGS Examples Vol. 1 "Surgical".
SURGICAL_N = np.array([47, 148, 119, 810, 211, 196, 148, 215, 207, 97, 256, 360])
SURGICAL_R = np.array([0, 18, 8, 46, 8, 13, 9, 31, 14, 8, 29, 24])
THETA0 = 208 / 2814
# METHODS.md 2.3 (computed by marginal ML): a, b, prior mean, rho and EB means to 4 decimals.
SURGICAL_EB_MEANS = [0.0533, 0.1026, 0.0716, 0.0591, 0.0510, 0.0699,
                     0.0674, 0.1216, 0.0707, 0.0793, 0.1024, 0.0689]  # fmt: skip


def test_beta_binomial_against_surgical_methods_2_3():
    fit = beta_binomial_shrinkage(SURGICAL_R, SURGICAL_N)
    assert fit.a == pytest.approx(8.2535, abs=5e-5)
    assert fit.b == pytest.approx(99.6369, abs=5e-4)
    assert fit.prior_mean == pytest.approx(0.07650, abs=5e-6)
    assert fit.rho == pytest.approx(0.00918, abs=5e-6)
    assert fit.posterior_mean == pytest.approx(SURGICAL_EB_MEANS, abs=5e-5)
    assert not fit.fully_shrunk


def test_beta_binomial_maximum_matches_nelder_mead_on_betabinom_logpmf():
    # Independent optimiser, no gradients, on the plain (a, b) scale.
    def negative_loglik(ab):
        return -stats.betabinom.logpmf(SURGICAL_R, SURGICAL_N, *ab).sum()

    reference = optimize.minimize(
        negative_loglik,
        [5.0, 60.0],
        method="Nelder-Mead",
        options={"xatol": 1e-8, "fatol": 1e-12, "maxiter": 20_000},
    )
    fit = beta_binomial_shrinkage(SURGICAL_R, SURGICAL_N)
    assert (fit.a, fit.b) == pytest.approx(tuple(reference.x), rel=1e-4)


def test_beta_binomial_posterior_interval_brackets_mean_and_shrinks_zero_of_47():
    fit = beta_binomial_shrinkage(SURGICAL_R, SURGICAL_N)
    assert np.all(fit.low < fit.posterior_mean) and np.all(fit.posterior_mean < fit.high)
    # Hospital A, 0/47, is shrunk to 5.3% (METHODS.md 2.3) with a lower limit above 0.
    assert fit.low[0] > 0


def test_beta_binomial_without_overdispersion_is_fully_shrunk():
    fit = beta_binomial_shrinkage([10, 10, 10, 10], [100, 100, 100, 100])
    assert fit.fully_shrunk
    assert fit.posterior_mean == pytest.approx([0.1] * 4, abs=1e-5)


def _poisson_times_gamma_prior(t, o, e, alpha):
    """Poisson(o | e t) x Gamma(t | alpha, rate alpha), written out with math for speed."""
    if t <= 0:
        return 0.0
    return math.exp(
        o * math.log(e * t)
        - e * t
        - math.lgamma(o + 1)
        + alpha * math.log(alpha)
        + (alpha - 1) * math.log(t)
        - alpha * t
        - math.lgamma(alpha)
    )


def _marginal_loglik_by_quadrature(alpha, observed, expected):
    """log of integral Poisson(O | E t) Gamma(t | alpha, rate alpha) dt, summed over units."""
    return sum(
        # The Gamma prior has mean 1 and alpha > 2 here: no mass beyond 20.
        math.log(
            integrate.quad(
                _poisson_times_gamma_prior, 0, 20, args=(o, e, alpha), epsabs=0, epsrel=1e-10
            )[0]
        )
        for o, e in zip(observed, expected, strict=True)
    )


def test_gamma_poisson_alpha_matches_quadrature_marginal_likelihood():
    observed, expected = SURGICAL_R, SURGICAL_N * THETA0
    reference = optimize.minimize_scalar(
        lambda log_a: -_marginal_loglik_by_quadrature(np.exp(log_a), observed, expected),
        bounds=(1.0, 4.0),
        method="bounded",
        options={"xatol": 1e-6},
    )
    fit = gamma_poisson_shrinkage(observed, expected)
    assert fit.alpha == pytest.approx(np.exp(reference.x), rel=1e-4)
    assert fit.prior_variance == pytest.approx(1 / fit.alpha, rel=1e-12)
    assert not fit.fully_shrunk


def test_gamma_poisson_posterior_mean_matches_quadrature_for_hospital_h():
    observed, expected = SURGICAL_R, SURGICAL_N * THETA0
    fit = gamma_poisson_shrinkage(observed, expected)
    o, e, alpha = observed[7], expected[7], fit.alpha

    def unnormalised(t):
        return _poisson_times_gamma_prior(t, o, e, alpha)

    numerator = integrate.quad(lambda t: t * unnormalised(t), 0, 20, epsabs=0, epsrel=1e-10)[0]
    denominator = integrate.quad(unnormalised, 0, 20, epsabs=0, epsrel=1e-10)[0]
    assert fit.posterior_mean[7] == pytest.approx(numerator / denominator, abs=1e-8)
    # Shrunk towards 1 from the raw O/E = 31/15.89.
    assert 1 < fit.posterior_mean[7] < o / e


def test_gamma_poisson_without_overdispersion_is_fully_shrunk_to_one():
    fit = gamma_poisson_shrinkage([10, 10, 10, 10], [10.0, 10.0, 10.0, 10.0])
    assert fit.fully_shrunk
    assert fit.posterior_mean == pytest.approx([1.0] * 4, abs=1e-5)


def test_expected_rank_two_units_by_hand():
    # 1 + Phi(-1) and 1 + Phi(1): Phi(1) = 0.841345 (standard normal table).
    assert expected_rank([0.0, 1.0], [0.5, 0.5]) == pytest.approx([1.158655, 1.841345], abs=5e-7)


def test_expected_rank_equals_monte_carlo_ranks():
    estimate = np.array([0.8, 1.0, 1.05, 1.4, 0.6])
    variance = np.array([0.04, 0.01, 0.09, 0.02, 0.05])
    draws = np.random.default_rng(99).normal(estimate, np.sqrt(variance), size=(200_000, 5))
    monte_carlo = stats.rankdata(draws, axis=1).mean(axis=0)
    # Monte Carlo SE of a mean rank is below 0.003 here.
    assert expected_rank(estimate, variance) == pytest.approx(monte_carlo, abs=0.01)


def test_expected_rank_blocks_do_not_change_the_result_and_ranks_sum_correctly():
    rng = np.random.default_rng(5)
    estimate, variance = rng.normal(size=37), rng.uniform(0.01, 0.2, size=37)
    ranks = expected_rank(estimate, variance)
    assert expected_rank(estimate, variance, block_size=4) == pytest.approx(ranks, abs=1e-12)
    assert ranks.sum() == pytest.approx(37 * 38 / 2, abs=1e-9)


def test_expected_rank_zero_variance_ties_share_the_middle_rank():
    assert expected_rank([1.0, 1.0, 1.0], [0.0, 0.0, 0.0]) == pytest.approx([2.0] * 3)


# A case on which L-BFGS-B stopped with ABNORMAL_TERMINATION_IN_LNSRCH at the maximum itself
# (issue 12, item 5): 25 units, rates from 4% to 45%.
ABNORMAL_R = [53, 23, 11, 14, 34, 52, 28, 19, 44, 5, 20, 22, 30, 47, 17, 8, 32, 25, 53, 39, 30,
              49, 29, 82, 7]  # fmt: skip
ABNORMAL_N = [185, 122, 299, 61, 115, 298, 129, 227, 221, 34, 181, 249, 220, 236, 127, 119, 154,
              209, 288, 207, 174, 242, 217, 245, 40]  # fmt: skip


def _betabinom_negative_loglik(ab, r, n):
    return -stats.betabinom.logpmf(r, n, *ab).sum()


def _betaln_negative_loglik(ab, r, n):
    """The same through scipy.special.betaln, without the constant: quicker for many calls."""
    a, b = ab
    return -np.sum(special.betaln(r + a, n - r + b) - special.betaln(a, b))


def test_beta_binomial_mle_where_lbfgsb_stopped_abnormally_is_a_5_13_b_24_74():
    # Independent maximum: Nelder-Mead, no gradients, on the plain (a, b) scale of scipy's
    # beta-binomial log-pmf, from a start far from the answer.
    reference = optimize.minimize(
        _betabinom_negative_loglik,
        [1.0, 1.0],
        args=(ABNORMAL_R, ABNORMAL_N),
        method="Nelder-Mead",
        options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 20_000},
    )
    assert np.round(reference.x, 2).tolist() == [5.13, 24.74]
    fit = beta_binomial_shrinkage(ABNORMAL_R, ABNORMAL_N)
    assert (round(fit.a, 2), round(fit.b, 2)) == (5.13, 24.74)
    assert (fit.a, fit.b) == pytest.approx(tuple(reference.x), rel=1e-6)
    assert not fit.fully_shrunk


def test_beta_binomial_forty_null_data_sets_reach_the_maximum_without_raising():
    # No between-unit variation: the maximum often lies at a + b -> infinity (the binomial),
    # where L-BFGS-B raised on most of these. The reference is the better of the binomial
    # log-likelihood at the pooled rate (the limit) and a Nelder-Mead search with a and b up
    # to e^13 (about 4e5), where scipy's log-pmf is still exact to well below 1e-6; beyond
    # that its log-gamma differences are noisy enough to fake a better maximum.
    for seed in range(40):
        rng = np.random.default_rng(seed)
        n = rng.integers(30, 300, 25)
        r = rng.binomial(n, 0.2)
        fit = beta_binomial_shrinkage(r, n)
        pooled = r.sum() / n.sum()
        binomial_limit = stats.binom.logpmf(r, n, pooled).sum()
        constant = np.sum(stats.binom.logpmf(r, n, pooled)) - np.sum(
            r * np.log(pooled) + (n - r) * np.log1p(-pooled)
        )  # log binomial coefficients, which _betaln_negative_loglik leaves out
        search = optimize.minimize(
            lambda log_ab, r=r, n=n: _betaln_negative_loglik(
                np.exp(np.minimum(log_ab, 13.0)), r, n
            ),
            np.log([2.0, 8.0]),
            method="Nelder-Mead",
            options={"xatol": 1e-6, "fatol": 1e-9, "maxiter": 4000},
        )
        best = max(binomial_limit, constant - search.fun)
        if fit.fully_shrunk:
            assert fit.prior_mean == pytest.approx(pooled, abs=1e-6), seed
            assert binomial_limit >= best - 1e-6, seed
        else:
            assert -_betabinom_negative_loglik((fit.a, fit.b), r, n) >= best - 1e-6, seed
