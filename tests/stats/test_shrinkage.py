"""Empirical Bayes shrinkage and expected ranks."""

import math

import numpy as np
import pytest
from scipy import integrate, optimize, special, stats

from imestats.shrinkage import gamma_poisson_shrinkage

# BUGS Examples Vol. 1 "Surgical".
SURGICAL_N = np.array([47, 148, 119, 810, 211, 196, 148, 215, 207, 97, 256, 360])
SURGICAL_R = np.array([0, 18, 8, 46, 8, 13, 9, 31, 14, 8, 29, 24])
THETA0 = 208 / 2814
# docs/methods.md, EB (computed by marginal ML): a, b, prior mean, rho and EB means to 4 decimals.
SURGICAL_EB_MEANS = [0.0533, 0.1026, 0.0716, 0.0591, 0.0510, 0.0699,
                     0.0674, 0.1216, 0.0707, 0.0793, 0.1024, 0.0689]  # fmt: skip


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


