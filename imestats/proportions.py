"""Confidence intervals for proportions, Poisson counts and observed/expected ratios."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from imestats._checks import broadcast, check_level, float_array


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided confidence interval.

    Fields are floats for scalar input and numpy arrays (same shape as the
    broadcast input) for array input.
    """

    estimate: float | np.ndarray
    low: float | np.ndarray
    high: float | np.ndarray
    level: float


def _as_result(values: np.ndarray, scalar: bool) -> float | np.ndarray:
    # Scalars in, floats out: callers formatting one examiner's figure should not
    # have to unwrap 0-d arrays.
    return float(values) if scalar else values


def _counts_and_trials(k, n) -> tuple[np.ndarray, np.ndarray, bool]:
    k_arr = float_array(k, "k")
    n_arr = float_array(n, "n")
    scalar = k_arr.ndim == 0 and n_arr.ndim == 0
    k_arr, n_arr = broadcast(k=k_arr, n=n_arr)
    if np.any(n_arr < 0) or np.any(k_arr < 0) or np.any(k_arr > n_arr):
        bad = np.flatnonzero((n_arr < 0) | (k_arr < 0) | (k_arr > n_arr))[0]
        raise ValueError(
            "need 0 <= k <= n for every unit; first violation at position "
            f"{bad}: k={k_arr.flat[bad]!r}, n={n_arr.flat[bad]!r}"
        )
    return k_arr, n_arr, scalar


def wilson_interval(k, n, level: float = 0.95) -> Interval:
    """Wilson score interval for a binomial proportion, vectorised.

    Parameters
    ----------
    k : int or array_like
        Number of events (for example adverse opinions).
    n : int or array_like
        Number of trials; broadcast against ``k``.
    level : float, default 0.95
        Two-sided confidence level.

    Returns
    -------
    Interval
        ``estimate`` is k/n; ``low``/``high`` the Wilson limits. Units with
        n = 0 get NaN in all three fields.

    Raises
    ------
    ValueError
        If ``level`` is not strictly between 0 and 1, if ``k`` or ``n`` has missing or
        infinite values, if k < 0, n < 0 or k > n anywhere, or if ``k`` and ``n`` do not
        broadcast.

    Notes
    -----
    Assumes independent trials with a common probability. This is the score
    interval without continuity correction, the one R ``prop.test(correct =
    FALSE)`` prints; it stays inside [0, 1] and has near-nominal average
    coverage, which is why the product uses it for every displayed rate.

    References
    ----------
    Wilson EB. Probable inference, the law of succession, and statistical
    inference. J Am Stat Assoc 1927;22:209-212.
    Newcombe RG. Two-sided confidence intervals for the single proportion:
    comparison of seven methods. Stat Med 1998;17:857-872.
    """
    level = check_level(level)
    k_arr, n_arr, scalar = _counts_and_trials(k, n)
    z = stats.norm.isf((1.0 - level) / 2.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        # n = 0 is a legitimate empty cell; it yields NaN rather than an error.
        p_hat = k_arr / n_arr
        denominator = 1.0 + z**2 / n_arr
        centre = (p_hat + z**2 / (2.0 * n_arr)) / denominator
        half_width = (
            z * np.sqrt(p_hat * (1.0 - p_hat) / n_arr + z**2 / (4.0 * n_arr**2)) / denominator
        )
    return Interval(
        estimate=_as_result(p_hat, scalar),
        low=_as_result(centre - half_width, scalar),
        high=_as_result(centre + half_width, scalar),
        level=level,
    )


def garwood_interval(observed, level: float = 0.95) -> Interval:
    """Exact (Garwood) interval for the mean of a Poisson count, vectorised.

    Parameters
    ----------
    observed : int or array_like
        Observed count O (non-negative).
    level : float, default 0.95
        Two-sided confidence level.

    Returns
    -------
    Interval
        ``estimate`` is O; ``low`` = chi2_{a/2, 2O}/2 (0 when O = 0) and
        ``high`` = chi2_{1-a/2, 2(O+1)}/2 with a = 1 - level.

    Raises
    ------
    ValueError
        If ``level`` is not strictly between 0 and 1, or if ``observed`` has missing,
        infinite or negative values.

    Notes
    -----
    Assumes O is a Poisson count. The interval inverts two one-sided Poisson
    tests, each at a/2, through the Poisson-gamma (chi-square) identity, so it is
    exact and conservative.

    References
    ----------
    Garwood F. Fiducial limits for the Poisson distribution. Biometrika
    1936;28:437-442.
    Ulm K. A simple method to calculate the confidence interval of a
    standardized mortality ratio (SMR). Am J Epidemiol 1990;131:373-375.
    """
    level = check_level(level)
    o_arr = float_array(observed, "observed")
    if np.any(o_arr < 0):
        raise ValueError(f"observed counts must be >= 0, got min {o_arr.min()!r}")
    tail = (1.0 - level) / 2.0
    # chi2 with 0 degrees of freedom is undefined in scipy; the limit is 0 there.
    low = np.where(o_arr > 0, stats.chi2.ppf(tail, 2.0 * np.maximum(o_arr, 1.0)) / 2.0, 0.0)
    high = stats.chi2.isf(tail, 2.0 * (o_arr + 1.0)) / 2.0
    scalar = o_arr.ndim == 0
    return Interval(
        estimate=_as_result(o_arr, scalar),
        low=_as_result(low, scalar),
        high=_as_result(high, scalar),
        level=level,
    )


def oe_ratio_interval(observed, expected, level: float = 0.95) -> Interval:
    """Observed/expected ratio with its exact Poisson (Garwood) interval.

    Parameters
    ----------
    observed : int or array_like
        Observed count O per unit (for example adverse opinions of an examiner).
    expected : float or array_like
        Expected count E from the case-mix model; broadcast against ``observed``.
    level : float, default 0.95
        Two-sided confidence level.

    Returns
    -------
    Interval
        ``estimate`` is O/E, limits are the Garwood limits of O divided by E.
        Units with E <= 0 get NaN.

    Raises
    ------
    ValueError
        If ``level`` is not strictly between 0 and 1, if ``observed`` has missing,
        infinite or negative values, if ``expected`` has missing or infinite values, or
        if the two do not broadcast.

    Notes
    -----
    Treats E as fixed (its estimation error from the case-mix model is
    ignored, which is standard for indirect standardisation with a large
    reference population) and O as Poisson. For a binomial O with high rates
    the Poisson interval is somewhat wide (conservative).

    References
    ----------
    Breslow NE, Day NE. Statistical Methods in Cancer Research, Vol. II: The
    Design and Analysis of Cohort Studies. IARC Sci Publ 82, Lyon 1987, ch. 2.
    Ulm K. A simple method to calculate the confidence interval of a
    standardized mortality ratio (SMR). Am J Epidemiol 1990;131:373-375.
    """
    o_arr = float_array(observed, "observed")
    e_arr = float_array(expected, "expected")
    scalar = o_arr.ndim == 0 and e_arr.ndim == 0
    o_arr, e_arr = broadcast(observed=o_arr, expected=e_arr)
    count_interval = garwood_interval(o_arr, level)
    # E = 0 (an examiner with no modelled cases) has no defined ratio.
    safe_e = np.where(e_arr > 0, e_arr, np.nan)
    return Interval(
        estimate=_as_result(o_arr / safe_e, scalar),
        low=_as_result(count_interval.low / safe_e, scalar),
        high=_as_result(count_interval.high / safe_e, scalar),
        level=count_interval.level,
    )
