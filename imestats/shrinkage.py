"""Empirical Bayes shrinkage of examiner O/E ratios.

Small examiners' raw rates are noisy; shrinking them towards the population
by an amount estimated from the data gives estimates that are better on
average and rank more honestly.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import optimize, special, stats

from imestats._checks import (
    check_level,
    check_positive,
    count_array,
    float_array,
    same_shape,
)

# Bounds on log alpha: exp(25) ~ 7e10 is "no detectable
# between-unit variation"; exp(-10) is a far more dispersed prior than any
# real set of examiners.
_LOG_BOUNDS = (-10.0, 25.0)
# A unit whose own data get less than this weight is, for reporting, fully
# shrunk to the prior mean.
_NEGLIGIBLE_WEIGHT = 1e-3


@dataclass(frozen=True)
class GammaPoissonShrinkage:
    """Gamma-Poisson empirical Bayes fit of O/E ratios and per-unit posteriors.

    The prior on the true ratio is Gamma(alpha, rate alpha): mean 1, variance
    ``prior_variance`` = 1/alpha. Each unit's posterior is Gamma(``shape``, rate ``rate``);
    ``posterior_mean``, ``low``, ``high`` are per unit. ``fully_shrunk`` is True when every
    unit's own ratio gets less than 0.1% weight (E/(E + alpha) < 0.001): no between-unit
    variation was detected and every ratio shrinks to 1.
    """

    alpha: float
    prior_variance: float
    shape: np.ndarray
    rate: np.ndarray
    level: float
    fully_shrunk: bool

    @property
    def posterior_mean(self) -> np.ndarray:
        return self.shape / self.rate

    # The intervals are worked out when asked for: the flags of every view read only the
    # posterior mean, and the gamma quantiles of thousands of units cost more than the fit.
    @cached_property
    def low(self) -> np.ndarray:
        return stats.gamma.ppf(_tail(self.level), self.shape, scale=1.0 / self.rate)

    @cached_property
    def high(self) -> np.ndarray:
        return stats.gamma.isf(_tail(self.level), self.shape, scale=1.0 / self.rate)


def _tail(level: float) -> float:
    return (1.0 - check_level(level)) / 2.0


def _gamma_poisson_negative_loglik(log_alpha: float, o: np.ndarray, e: np.ndarray) -> float:
    alpha = np.exp(log_alpha)
    # O ~ Poisson(E theta), theta ~ Gamma(alpha, rate alpha) => O is negative
    # binomial with size alpha and success probability p = alpha/(alpha + E). Its log pmf in
    # scipy.stats.nbinom's own formula (the same numbers, bit for bit), without the argument
    # checks of the public logpmf, half the cost of a call the optimiser makes a hundred times
    # per measure and view; the arguments were checked once by gamma_poisson_shrinkage.
    p = alpha / (alpha + e)
    log_pmf = (
        special.gammaln(alpha + o)
        - special.gammaln(o + 1)
        - special.gammaln(alpha)
        + alpha * np.log(p)
        + special.xlog1py(o, -p)
    )
    return -float(np.sum(log_pmf))


def gamma_poisson_shrinkage(observed, expected, level: float = 0.95) -> GammaPoissonShrinkage:
    """Shrink O/E ratios towards 1 with a gamma-Poisson model fitted by marginal ML.

    Parameters
    ----------
    observed : array_like
        Observed event counts O per unit (integers >= 0).
    expected : array_like
        Expected counts E > 0 from the case-mix model, one per unit of ``observed``.
    level : float, default 0.95
        Level of the posterior (Gamma) intervals.

    Returns
    -------
    GammaPoissonShrinkage

    Raises
    ------
    ValueError
        If ``level`` is not strictly between 0 and 1; if ``observed`` has missing,
        negative or fractional values; if ``expected`` has missing or infinite values or
        values <= 0; if the two differ in shape or give fewer than two units.

    Notes
    -----
    O_j ~ Poisson(E_j theta_j), theta_j ~ Gamma(alpha, rate alpha), so the
    prior mean ratio is 1: this presumes the case-mix model is calibrated
    overall (sum O = sum E, which a logistic model with an intercept fitted by
    maximum likelihood guarantees on its own data). alpha maximises the
    negative-binomial marginal likelihood (bounded 1-D search on log alpha).
    The posterior is Gamma(alpha + O_j, rate alpha + E_j): mean
    (alpha + O_j)/(alpha + E_j), i.e. a weighted average of O_j/E_j and 1 with
    weight E_j/(E_j + alpha) on the unit's own ratio. The Poisson model for a
    binomial count is conservative when event rates are high.

    References
    ----------
    Clayton D, Kaldor J. Empirical Bayes estimates of age-standardized
    relative risks for use in disease mapping. Biometrics 1987;43:671-681.
    Greenland S, Robins JM. Empirical-Bayes adjustments for multiple
    comparisons are sometimes useful. Epidemiology 1991;2:244-251.
    """
    _tail(level)  # a bad level is refused now, not when the intervals are first read
    o_arr = count_array(observed, "observed", ndim=1)
    e_arr = check_positive(float_array(expected, "expected", ndim=1), "expected")
    same_shape(observed=o_arr, expected=e_arr)
    if o_arr.size < 2:
        raise ValueError(
            f"observed and expected have {o_arr.size} units: the prior is estimated from the "
            "spread between units and needs at least 2"
        )
    fit = optimize.minimize_scalar(
        _gamma_poisson_negative_loglik,
        bounds=_LOG_BOUNDS,
        args=(o_arr, e_arr),
        method="bounded",
        options={"xatol": 1e-9},
    )
    alpha = float(np.exp(fit.x))
    return GammaPoissonShrinkage(
        alpha=alpha,
        prior_variance=1.0 / alpha,
        shape=alpha + o_arr,
        rate=alpha + e_arr,
        level=float(level),
        fully_shrunk=bool(np.max(e_arr / (e_arr + alpha)) < _NEGLIGIBLE_WEIGHT),
    )


