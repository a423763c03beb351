"""Comparing two Poisson rates: the exact conditional test behind the allegiance measure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

from imestats._checks import broadcast, check_level, check_nonnegative, count_array, float_array


@dataclass(frozen=True)
class RateRatio:
    """Rate ratio (O1/E1)/(O2/E2) with its exact interval and p-value (arrays or floats)."""

    ratio: np.ndarray | float
    ci_low: np.ndarray | float
    ci_high: np.ndarray | float
    p_value: np.ndarray | float


def poisson_rate_ratio(
    o1,
    e1,
    o2,
    e2,
    alternative: Literal["greater", "two-sided"] = "greater",
    level: float = 0.95,
) -> RateRatio:
    """Exact test and interval for the ratio of two Poisson rates with known exposures.

    Parameters
    ----------
    o1, e1 : array_like
        Observed events (whole numbers >= 0) and exposure (>= 0; here: the case-mix expected
        count) in group 1, e.g. an examiner's exams retained by an insurer or employer.
    o2, e2 : array_like
        The same for group 2, e.g. the examiner's exams retained by a claimant or a neutral.
        All four broadcast against each other (one value per unit, or scalars).
    alternative : {'greater', 'two-sided'}
        'greater' tests whether group 1's rate exceeds group 2's.
    level : float
        Confidence level of the (two-sided, Clopper-Pearson based) interval, strictly
        between 0 and 1.

    Returns
    -------
    RateRatio
        NaN where either group has no exposure (e1 or e2 = 0) or no events at all
        (o1 + o2 = 0).

    Raises
    ------
    ValueError
        If ``o1`` or ``o2`` has missing, negative or fractional values; if ``e1`` or ``e2``
        has missing, infinite or negative values; if the four do not broadcast; if
        ``alternative`` is not 'greater' or 'two-sided'; or if ``level`` is not strictly
        between 0 and 1.

    Notes
    -----
    Conditional on the total O1 + O2 = m, O1 ~ Bin(m, pi) with pi = theta E1/(theta E1 + E2)
    and theta the rate ratio; under H0 (theta = 1) pi0 = E1/(E1 + E2). The p-value is the
    exact binomial one (two-sided: probabilities no larger than the observed, as R's
    binom.test and scipy.stats.binomtest), and the Clopper-Pearson limits for pi map to
    theta = pi/(1 - pi) * E2/E1. This is R's ``poisson.test(c(O1, O2), c(E1, E2))``.
    Using case-mix expected counts as exposures adjusts the comparison for the case mix
    of each group; it assumes the expected counts are known without error.

    References
    ----------
    Przyborowski J, Wilenski H. Homogeneity of results in testing samples from Poisson series.
    Biometrika 1940;31:313-323.
    Breslow NE, Day NE. Statistical Methods in Cancer Research, Vol. II. IARC 1987, sec. 2.4.
    """
    level = check_level(level)
    if alternative not in ("greater", "two-sided"):
        raise ValueError(f"alternative must be 'greater' or 'two-sided', got {alternative!r}")
    # Floats out only when every input is a scalar: a scalar o1 against arrays of exposures
    # must not reduce the result to its first unit.
    scalar = all(np.ndim(value) == 0 for value in (o1, e1, o2, e2))
    o1 = count_array(o1, "o1")
    o2 = count_array(o2, "o2")
    e1 = check_nonnegative(float_array(e1, "e1"), "e1")
    e2 = check_nonnegative(float_array(e2, "e2"), "e2")
    o1, e1, o2, e2 = (np.atleast_1d(a) for a in broadcast(o1=o1, e1=e1, o2=o2, e2=e2))
    m = o1 + o2
    valid = (e1 > 0) & (e2 > 0) & (m > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        pi0 = np.where(valid, e1 / (e1 + e2), np.nan)
        ratio = np.where(valid, (o1 / e1) / (o2 / e2), np.nan)
        alpha = 1.0 - level
        pi_low = np.where(o1 > 0, stats.beta.ppf(alpha / 2, o1, m - o1 + 1), 0.0)
        pi_high = np.where(o1 < m, stats.beta.ppf(1 - alpha / 2, o1 + 1, m - o1), 1.0)
        to_ratio = e2 / e1
        ci_low = np.where(valid, pi_low / (1 - pi_low) * to_ratio, np.nan)
        ci_high = np.where(valid & (pi_high < 1), pi_high / (1 - pi_high) * to_ratio, np.inf)
        ci_high = np.where(valid, ci_high, np.nan)
    if alternative == "greater":
        p = np.where(valid, stats.binom.sf(o1 - 1, m, pi0), np.nan)
    else:
        p = np.array(
            [
                stats.binomtest(int(k), int(n), float(q)).pvalue if ok else np.nan
                for k, n, q, ok in zip(o1, m, pi0, valid, strict=True)
            ]
        )
    if scalar:
        return RateRatio(float(ratio[0]), float(ci_low[0]), float(ci_high[0]), float(p[0]))
    return RateRatio(ratio, ci_low, ci_high, p)
