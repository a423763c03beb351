"""Empirical Bayes shrinkage of examiner rates and O/E ratios, and expected ranks.

Small examiners' raw rates are noisy; shrinking them towards the population
by an amount estimated from the data gives estimates that are better on
average and rank more honestly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special, stats

from imestats._checks import (
    check_at_most,
    check_level,
    check_nonnegative,
    check_positive,
    check_scalar,
    count_array,
    float_array,
    same_shape,
)

# Bounds on log a, log b and log alpha: exp(25) ~ 7e10 is "no detectable
# between-unit variation"; exp(-10) is a far more dispersed prior than any
# real set of examiners.
_LOG_BOUNDS = (-10.0, 25.0)
# A unit whose own data get less than this weight is, for reporting, fully
# shrunk to the prior mean.
_NEGLIGIBLE_WEIGHT = 1e-3


@dataclass(frozen=True)
class BetaBinomialShrinkage:
    """Beta-binomial empirical Bayes fit and per-unit posteriors.

    ``prior_mean`` = a/(a + b); ``rho`` = 1/(a + b + 1) is the intra-unit
    correlation. ``posterior_mean``, ``low`` and ``high`` are per unit (Beta
    posterior mean and equal-tailed interval at ``level``). ``fully_shrunk``
    is True when every unit's own data get less than 0.1% weight
    (n/(n + a + b) < 0.001): no between-unit variation was detected, the ML
    estimate is at or near the boundary a + b -> infinity, and every
    posterior mean is the prior mean.
    """

    a: float
    b: float
    prior_mean: float
    rho: float
    posterior_mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    level: float
    fully_shrunk: bool


@dataclass(frozen=True)
class GammaPoissonShrinkage:
    """Gamma-Poisson empirical Bayes fit of O/E ratios and per-unit posteriors.

    The prior on the true ratio is Gamma(alpha, rate alpha): mean 1, variance
    ``prior_variance`` = 1/alpha. ``posterior_mean``, ``low``, ``high`` are per
    unit. ``fully_shrunk`` is True when every unit's own ratio gets less
    than 0.1% weight (E/(E + alpha) < 0.001): no between-unit variation was
    detected and every ratio shrinks to 1.
    """

    alpha: float
    prior_variance: float
    posterior_mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    level: float
    fully_shrunk: bool


def _tail(level: float) -> float:
    return (1.0 - check_level(level)) / 2.0


@dataclass(frozen=True)
class _RisingFactorialCounts:
    """Units' counts arranged for the beta-binomial likelihood in O(max n) per evaluation.

    With c_r[k] = #{j: r_j > k}, c_s[k] = #{j: n_j - r_j > k} and c_n[k] = #{j: n_j > k},
    sum_j log B(r_j + a, n_j - r_j + b)/B(a, b) = sum_k c_r[k] log(a + k)
    + c_s[k] log(b + k) - c_n[k] log(a + b + k).
    """

    steps: np.ndarray
    events_above: np.ndarray
    non_events_above: np.ndarray
    trials_above: np.ndarray
    events: float
    non_events: float
    log_binomial_coefficients: float


def _rising_factorial_counts(r: np.ndarray, n: np.ndarray) -> _RisingFactorialCounts:
    length = int(n.max())

    def above(values: np.ndarray) -> np.ndarray:
        at_most = np.cumsum(np.bincount(values.astype(np.int64), minlength=length + 1))
        return (values.size - at_most[:length]).astype(float)

    return _RisingFactorialCounts(
        steps=np.arange(length, dtype=float),
        events_above=above(r),
        non_events_above=above(n - r),
        trials_above=above(n),
        events=float(r.sum()),
        non_events=float((n - r).sum()),
        log_binomial_coefficients=float(
            np.sum(special.gammaln(n + 1) - special.gammaln(r + 1) - special.gammaln(n - r + 1))
        ),
    )


def _beta_binomial_negative_loglik(log_ab: np.ndarray, counts: _RisingFactorialCounts):
    """Negative marginal log-likelihood and its gradient on the (log a, log b) scale.

    Each log(x + k) is written log x + log1p(k / x), and log(a/(a + b)) as -log1p(b/a), so
    nothing cancels when a and b are large (no between-unit variation); log-gamma
    differences lose about a + b times the machine precision there, which made the
    optimiser's line search fail at the optimum.
    """
    a, b = np.exp(log_ab)
    total = a + b
    k = counts.steps
    value = (
        counts.log_binomial_coefficients
        - counts.events * np.log1p(b / a)
        - counts.non_events * np.log1p(a / b)
        + counts.events_above @ np.log1p(k / a)
        + counts.non_events_above @ np.log1p(k / b)
        - counts.trials_above @ np.log1p(k / total)
    )
    # d/da of sum_k c_r[k] log(a + k) - c_n[k] log(a + b + k), times a for the log scale.
    trials_term = counts.trials_above @ (1.0 / (total + k))
    d_a = counts.events_above @ (1.0 / (a + k)) - trials_term
    d_b = counts.non_events_above @ (1.0 / (b + k)) - trials_term
    return -float(value), -np.array([a * d_a, b * d_b])


def _moment_start(r: np.ndarray, n: np.ndarray) -> np.ndarray:
    pooled = r.sum() / n.sum()
    binomial_part = pooled * (1.0 - pooled) * np.mean(1.0 / n)
    excess = np.var(r / n, ddof=1) - binomial_part if r.size > 1 else 0.0
    # Var(r/n) = p(1-p)[1/n + rho (1 - 1/n)]: solve for rho, kept in a sane range.
    rho = np.clip(excess / (pooled * (1.0 - pooled) * (1.0 - np.mean(1.0 / n))), 1e-4, 0.5)
    concentration = 1.0 / rho - 1.0
    return np.log([pooled * concentration, (1.0 - pooled) * concentration])


# A point is accepted as the maximum when no coordinate of the projected gradient of the
# log-likelihood (on the log a, log b scale) exceeds this times the number of trials: each
# coordinate is a difference of sums of that size (events, and trials times a/(a + b)), so
# this is zero to about a million times the rounding error of those sums.
_GRADIENT_TOLERANCE = 1e-9
# Or when a Newton step could raise the log-likelihood by no more than this (the Newton
# decrement g' H^-1 g / 2 with a positive definite Hessian): a and b are then within about
# 1e-5 of their relative values at the maximum.
_NEWTON_DECREMENT_TOLERANCE = 1e-10


def _projected_gradient(x: np.ndarray, gradient: np.ndarray) -> np.ndarray:
    # Zero for a coordinate at a bound whose gradient points out of the box (a KKT point).
    return x - np.clip(x - gradient, *_LOG_BOUNDS)


def _is_maximum(x: np.ndarray, counts: _RisingFactorialCounts, n_trials: float) -> bool:
    """Whether (log a, log b) = x is the maximum, judged by the gradient and curvature."""
    gradient = _projected_gradient(x, _beta_binomial_negative_loglik(x, counts)[1])
    if np.max(np.abs(gradient)) <= _GRADIENT_TOLERANCE * n_trials:
        return True
    free = gradient != 0
    # Hessian of the free coordinates by central differences of the analytic gradient.
    step = 1e-5
    columns = [
        (
            _beta_binomial_negative_loglik(x + step * unit, counts)[1]
            - _beta_binomial_negative_loglik(x - step * unit, counts)[1]
        )
        / (2 * step)
        for unit in np.eye(2)
    ]
    hessian = np.column_stack(columns)[np.ix_(free, free)]
    hessian = (hessian + hessian.T) / 2
    if np.any(np.linalg.eigvalsh(hessian) <= 0):
        return False
    g = gradient[free]
    return bool(g @ np.linalg.solve(hessian, g) / 2 <= _NEWTON_DECREMENT_TOLERANCE)


def _maximise_beta_binomial(r: np.ndarray, n: np.ndarray) -> np.ndarray:
    """(log a, log b) at the maximum of the marginal likelihood, checked by its gradient."""
    counts = _rising_factorial_counts(r, n)
    n_trials = float(n.sum())
    fit = optimize.minimize(
        _beta_binomial_negative_loglik,
        np.clip(_moment_start(r, n), *_LOG_BOUNDS),
        args=(counts,),
        jac=True,
        method="L-BFGS-B",
        bounds=[_LOG_BOUNDS, _LOG_BOUNDS],
        options={"ftol": 1e-14, "gtol": 1e-10},
    )
    # L-BFGS-B can stop with ABNORMAL_TERMINATION_IN_LNSRCH at the optimum itself, where no
    # step reduces the objective by more than rounding: success is judged by the gradient.
    if fit.success or _is_maximum(fit.x, counts, n_trials):
        return fit.x
    # Stopped short of the maximum: Nelder-Mead, which needs no line search, from there.
    polished = optimize.minimize(
        lambda x: _beta_binomial_negative_loglik(x, counts)[0],
        fit.x,
        method="Nelder-Mead",
        bounds=[_LOG_BOUNDS, _LOG_BOUNDS],
        options={"xatol": 1e-10, "fatol": 1e-13, "maxiter": 2000},
    )
    if _is_maximum(polished.x, counts, n_trials):
        return polished.x
    gradient = _beta_binomial_negative_loglik(polished.x, counts)[1]
    raise RuntimeError(
        "beta-binomial marginal likelihood did not converge: gradient "
        f"{_projected_gradient(polished.x, gradient)} at log(a, b) = {polished.x} "
        f"(L-BFGS-B: {fit.message}; Nelder-Mead: {polished.message})"
    )


def beta_binomial_shrinkage(r, n, level: float = 0.95) -> BetaBinomialShrinkage:
    """Shrink unit proportions r/n with a beta-binomial model fitted by marginal ML.

    Parameters
    ----------
    r, n : array_like
        Events and trials per unit: whole numbers with 0 <= r <= n and n > 0, at
        least two units.
    level : float, default 0.95
        Level of the posterior (Beta) intervals.

    Returns
    -------
    BetaBinomialShrinkage

    Raises
    ------
    ValueError
        If ``level`` is not strictly between 0 and 1; if ``r`` or ``n`` has missing,
        negative or fractional values, an n of 0, an r above its n, a shape other than
        one value per unit, or fewer than two units; if r is 0 in every unit or n in
        every unit (the maximum is then at a = 0 or b = 0 and does not exist); or if n is
        1 in every unit (a + b is then not identified).
    RuntimeError
        If the maximisation stops where the gradient is not zero.

    Notes
    -----
    r_j ~ Bin(n_j, theta_j), theta_j ~ Beta(a, b). (a, b) maximise the
    marginal beta-binomial likelihood over (log a, log b) by L-BFGS-B with
    analytic gradients, started from the method of moments. The likelihood is
    evaluated as sums of log1p terms, which stay exact when a + b is large (no
    between-unit variation). When L-BFGS-B does not report convergence (it can
    stop with an abnormal line search at the optimum itself), the point is
    accepted if the projected gradient is zero to 1e-9 times the number of trials
    or a Newton step would gain less than 1e-10 in log-likelihood; otherwise
    Nelder-Mead continues from it and the same check decides. The posterior is
    Beta(r_j + a, n_j - r_j + b), mean (r_j + a)/(n_j + a + b). Treating the
    estimated (a, b) as known makes the intervals slightly too narrow when
    there are few units. Unadjusted for case mix: use
    :func:`gamma_poisson_shrinkage` on O/E for risk-adjusted comparisons.

    References
    ----------
    Efron B, Morris C. Data analysis using Stein's estimator and its
    generalizations. J Am Stat Assoc 1975;70:311-319.
    Spiegelhalter DJ, Thomas A, Best NG, Gilks WR. BUGS 0.5 Examples Volume 1
    (Surgical: institutional ranking). MRC Biostatistics Unit, Cambridge 1996.
    """
    tail = _tail(level)
    r_arr = count_array(r, "r", ndim=1)
    n_arr = count_array(n, "n", ndim=1)
    same_shape(r=r_arr, n=n_arr)
    if r_arr.size < 2:
        raise ValueError(
            f"r and n have {r_arr.size} units: the prior is estimated from the spread between "
            "units and needs at least 2"
        )
    check_positive(n_arr, "n")
    check_at_most(r_arr, n_arr, "r", "n")
    if r_arr.sum() in (0.0, n_arr.sum()):
        raise ValueError(
            f"r is {'0' if r_arr.sum() == 0 else 'n'} in every unit: the prior mean is at the "
            "boundary (0 or 1) and the beta-binomial maximum does not exist"
        )
    if np.all(n_arr == 1):
        raise ValueError(
            "n is 1 in every unit: a single trial cannot show between-unit variation, so "
            "a + b is not identified"
        )
    a, b = np.exp(_maximise_beta_binomial(r_arr, n_arr))
    post_a, post_b = r_arr + a, n_arr - r_arr + b
    return BetaBinomialShrinkage(
        a=float(a),
        b=float(b),
        prior_mean=float(a / (a + b)),
        rho=float(1.0 / (a + b + 1.0)),
        posterior_mean=post_a / (post_a + post_b),
        low=stats.beta.ppf(tail, post_a, post_b),
        high=stats.beta.isf(tail, post_a, post_b),
        level=float(level),
        fully_shrunk=bool(np.max(n_arr / (n_arr + a + b)) < _NEGLIGIBLE_WEIGHT),
    )


def _gamma_poisson_negative_loglik(log_alpha: float, o: np.ndarray, e: np.ndarray) -> float:
    alpha = np.exp(log_alpha)
    # O ~ Poisson(E theta), theta ~ Gamma(alpha, rate alpha) => O is negative
    # binomial with size alpha and success probability alpha/(alpha + E).
    return -float(np.sum(stats.nbinom.logpmf(o, alpha, alpha / (alpha + e))))


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
    tail = _tail(level)
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
    shape, rate = alpha + o_arr, alpha + e_arr
    return GammaPoissonShrinkage(
        alpha=alpha,
        prior_variance=1.0 / alpha,
        posterior_mean=shape / rate,
        low=stats.gamma.ppf(tail, shape, scale=1.0 / rate),
        high=stats.gamma.isf(tail, shape, scale=1.0 / rate),
        level=float(level),
        fully_shrunk=bool(np.max(e_arr / (e_arr + alpha)) < _NEGLIGIBLE_WEIGHT),
    )


def expected_rank(estimate, variance, block_size: int = 1024) -> np.ndarray:
    """Expected rank of each unit given estimates and their (posterior) variances.

    Parameters
    ----------
    estimate : array_like
        Point estimate per unit (e.g. posterior mean O/E).
    variance : array_like
        Its variance (e.g. posterior variance).
    block_size : int, default 1024
        Rows of the pairwise matrix computed at once (bounds memory for
        thousands of units).

    Returns
    -------
    numpy.ndarray
        E[rank_i] = 1 + sum_{k != i} Phi((theta_i - theta_k) / sqrt(v_i + v_k));
        rank 1 is the lowest value. Ranks sum to I(I + 1)/2.

    Raises
    ------
    ValueError
        If ``estimate`` or ``variance`` is not one-dimensional or has missing or
        infinite values, if ``variance`` is negative, if the two differ in length, or
        if ``block_size`` is not a whole number >= 1.

    Notes
    -----
    Assumes approximately normal, independent posteriors. Expected ranks of
    uncertain units crowd towards the middle, which is the honest reading of
    a league table.

    References
    ----------
    Laird NM, Louis TA. Empirical Bayes ranking methods. J Educ Stat
    1989;14:29-46.
    Goldstein H, Spiegelhalter DJ. League tables and their limitations:
    statistical issues in comparisons of institutional performance. J R Stat
    Soc A 1996;159:385-443.
    """
    theta = float_array(estimate, "estimate", ndim=1)
    v = check_nonnegative(float_array(variance, "variance", ndim=1), "variance")
    same_shape(estimate=theta, variance=v)
    if check_scalar(block_size, "block_size", low=1) != int(block_size):
        raise ValueError(f"block_size must be a whole number, got {block_size!r}")
    block_size = int(block_size)
    ranks = np.empty_like(theta)
    for start in range(0, theta.size, block_size):
        rows = slice(start, start + block_size)
        difference = theta[rows, None] - theta[None, :]
        spread = np.sqrt(v[rows, None] + v[None, :])
        with np.errstate(divide="ignore", invalid="ignore"):
            probability = stats.norm.cdf(difference / spread)
        # A unit compared with itself contributes Phi(0) = 1/2, removed here;
        # 0/0 for zero-variance ties also counts as a half.
        probability = np.where(np.isnan(probability), 0.5, probability)
        ranks[rows] = 0.5 + probability.sum(axis=1)
    return ranks
