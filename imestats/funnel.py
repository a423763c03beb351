"""Funnel-plot limits, z-scores and over-dispersion for comparing examiners.

Two scales are supported: proportions (r events of n cases against a target
rate theta0) and risk-adjusted observed/expected ratios (O against E from a
case-mix model, with binomial variance V). Limits are returned unclipped;
:func:`clip_limits` is for display only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from imestats._checks import (
    broadcast,
    check_at_most,
    check_level,
    check_nonnegative,
    check_positive,
    check_scalar,
    count_array,
    float_array,
    same_shape,
)

Adjustment = Literal["tau2", "phi", "none"]


@dataclass(frozen=True)
class FunnelLimits:
    """Lower and upper control limits at one two-sided level (arrays aligned with the input)."""

    level: float
    lower: np.ndarray
    upper: np.ndarray


@dataclass(frozen=True)
class DispersionTest:
    """Chi-square test of the sum of squared z-scores against its null distribution.

    ``ratio`` is statistic/df, the observed-to-theoretical variance ratio.
    """

    statistic: float
    df: int
    ratio: float
    p_value: float


@dataclass(frozen=True)
class UnitScores:
    """Per-unit z-scores and p-values with the over-dispersion estimates used.

    ``units`` has one row per unit, in input order, with columns ``observed``,
    ``expected``, ``variance``, ``ratio`` (O/E), ``z`` (unadjusted),
    ``z_adjusted``, ``p_one_sided`` (upper tail: more events than expected)
    and ``p_two_sided``, both from ``z_adjusted``. ``phi`` is the (winsorised)
    multiplicative dispersion, ``tau2`` the additive between-unit variance on
    the O/E ratio scale (multiply by theta0**2 for the proportion scale).
    """

    units: pd.DataFrame
    phi: float
    tau2: float
    dispersion: DispersionTest
    adjustment: Adjustment
    trim: float


def _tail_probability(level: float) -> float:
    return (1.0 - check_level(level)) / 2.0


def _two_sided_z(level: float) -> float:
    return float(stats.norm.isf(_tail_probability(level)))


def _check_target_rate(theta0: float) -> float:
    return check_level(theta0, "theta0")


def exact_binomial_quantile(prob, n, theta0: float) -> np.ndarray:
    """Interpolated p-th quantile of Bin(n, theta0)/n (Spiegelhalter's exact limit).

    Parameters
    ----------
    prob : float
        Lower-tail probability, e.g. 0.001, 0.025, 0.975, 0.999; strictly between 0 and 1.
    n : array_like
        Number of cases per unit (funnel x-axis), whole numbers >= 0.
    theta0 : float
        Target proportion, strictly between 0 and 1.

    Returns
    -------
    numpy.ndarray
        (r_p - alpha)/n with r_p the smallest r such that F(r) >= prob and
        alpha = (F(r_p) - prob)/(F(r_p) - F(r_p - 1)). Unclipped: it can be
        negative for small n*theta0. NaN where n = 0.

    Raises
    ------
    ValueError
        If ``prob`` or ``theta0`` is not strictly between 0 and 1, or if ``n`` has
        missing, negative or fractional values.

    Notes
    -----
    The interpolation makes the limits a smooth function of n instead of the
    step function that plain ``binom.ppf(prob, n, theta0)/n`` gives.

    References
    ----------
    Spiegelhalter DJ. Funnel plots for comparing institutional performance.
    Stat Med 2005;24:1185-1202, Appendix A.1.1.
    """
    theta0 = _check_target_rate(theta0)
    prob = check_level(prob, "prob")
    n_arr = count_array(n, "n")
    r_p = stats.binom.ppf(prob, n_arr, theta0)
    # F(r_p) - F(r_p - 1) is the pmf at r_p; the pmf is more accurate than a
    # difference of two CDF values close to 1.
    alpha = (stats.binom.cdf(r_p, n_arr, theta0) - prob) / stats.binom.pmf(r_p, n_arr, theta0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n_arr > 0, (r_p - alpha) / n_arr, np.nan)


def exact_binomial_limits(n, theta0: float, level: float = 0.95) -> FunnelLimits:
    """Exact binomial funnel limits for proportions, with interpolation.

    Parameters
    ----------
    n : array_like
        Number of cases per unit or a grid of n for drawing the funnel.
    theta0 : float
        Target proportion (pooled rate or external standard).
    level : float, default 0.95
        Two-sided level; 0.95 and 0.998 are the usual "alert" and "alarm".

    Returns
    -------
    FunnelLimits
        Unclipped limits on the proportion scale; NaN where n = 0.

    Raises
    ------
    ValueError
        If ``level`` or ``theta0`` is not strictly between 0 and 1, or if ``n`` has
        missing, negative or fractional values.

    Notes
    -----
    Assumes Y ~ Bin(n, theta0)/n under the null, i.e. no over-dispersion; see
    :func:`tau2_additive_limits` when units differ by more than chance.

    References
    ----------
    Spiegelhalter DJ. Funnel plots for comparing institutional performance.
    Stat Med 2005;24:1185-1202, Appendix A.1.1.
    """
    tail = _tail_probability(level)
    return FunnelLimits(
        level=float(level),
        lower=exact_binomial_quantile(tail, n, theta0),
        upper=exact_binomial_quantile(1.0 - tail, n, theta0),
    )


def exact_poisson_ratio_limits(expected, level: float = 0.95) -> FunnelLimits:
    """Exact Poisson funnel limits for an O/E ratio around 1, as in FunnelPlotR.

    Parameters
    ----------
    expected : array_like
        Expected count E per unit (funnel x-axis), E > 0.
    level : float, default 0.95
        Two-sided level.

    Returns
    -------
    FunnelLimits
        lower = chi2_{a/2}(2E)/(2E), upper = chi2_{1-a/2}(2(E+1))/(2E) with
        a = 1 - level.

    Raises
    ------
    ValueError
        If ``level`` is not strictly between 0 and 1, or if ``expected`` has missing or
        infinite values or values <= 0.

    Notes
    -----
    Assumes O ~ Poisson(E) under the null. The chi-square (gamma) quantiles
    with non-integer degrees of freedom are already smooth in E, so no
    interpolation is needed.

    References
    ----------
    Spiegelhalter DJ. Funnel plots for comparing institutional performance.
    Stat Med 2005;24:1185-1202.
    Mainey C et al. FunnelPlotR: funnel plots for comparing institutional
    performance, R package (nhs-r-community), file R/calculate_limits.R.
    """
    tail = _tail_probability(level)
    e_arr = check_positive(float_array(expected, "expected"), "expected")
    return FunnelLimits(
        level=float(level),
        lower=stats.chi2.ppf(tail, 2.0 * e_arr) / 2.0 / e_arr,
        upper=stats.chi2.isf(tail, 2.0 * (e_arr + 1.0)) / 2.0 / e_arr,
    )


def binomial_standard_error(n, theta0: float) -> np.ndarray:
    """Null standard error sqrt(theta0 (1 - theta0) / n) of a proportion (NaN where n = 0).

    Raises ValueError if ``theta0`` is not strictly between 0 and 1 or ``n`` has missing or
    negative values.
    """
    theta0 = _check_target_rate(theta0)
    n_arr = count_array(n, "n", whole=False)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n_arr > 0, np.sqrt(theta0 * (1.0 - theta0) / n_arr), np.nan)


def _standard_errors(standard_error) -> np.ndarray:
    se = float_array(standard_error, "standard_error", allow_nan=True)
    check_nonnegative(se, "standard_error")
    if np.isinf(se).any():
        raise ValueError("standard_error has infinite values")
    return se


def normal_limits(target: float, standard_error, level: float = 0.95) -> FunnelLimits:
    """Normal-approximation limits target +/- z * se.

    Parameters
    ----------
    target : float
        Centre line: theta0 for proportions, 1 for O/E ratios.
    standard_error : array_like
        Null standard error per unit, e.g. :func:`binomial_standard_error`, >= 0; NaN
        (a unit without cases) gives NaN limits.
    level : float, default 0.95
        Two-sided level.

    Returns
    -------
    FunnelLimits
        Unclipped limits.

    Raises
    ------
    ValueError
        If ``target`` is missing or infinite, ``standard_error`` is negative or infinite,
        or ``level`` is not strictly between 0 and 1.

    References
    ----------
    Spiegelhalter DJ. Funnel plots for comparing institutional performance.
    Stat Med 2005;24:1185-1202, section 3.
    """
    target = check_scalar(target, "target")
    half_width = _two_sided_z(level) * _standard_errors(standard_error)
    return FunnelLimits(level=float(level), lower=target - half_width, upper=target + half_width)


def tau2_additive_limits(
    target: float, standard_error, tau2: float, level: float = 0.95
) -> FunnelLimits:
    """Limits with additive between-unit variance: target +/- z * sqrt(se**2 + tau2).

    Parameters
    ----------
    target : float
        Centre line.
    standard_error : array_like
        Null (within-unit) standard error per unit, on the same scale as tau2.
    tau2 : float
        Between-unit variance from :func:`dersimonian_laird_tau2`.
    level : float, default 0.95
        Two-sided level.

    Returns
    -------
    FunnelLimits
        Unclipped limits.

    Raises
    ------
    ValueError
        If ``tau2`` is missing, infinite or negative, or as :func:`normal_limits`.

    Notes
    -----
    Random-effects assumption: true unit values are spread around the target
    with variance tau2, so the limits stop narrowing for large units.

    References
    ----------
    Spiegelhalter DJ. Handling over-dispersion of performance indicators.
    Qual Saf Health Care 2005;14:347-351.
    DerSimonian R, Laird N. Meta-analysis in clinical trials. Control Clin
    Trials 1986;7:177-188.
    """
    tau2 = check_scalar(tau2, "tau2", low=0)
    se = _standard_errors(standard_error)
    return normal_limits(target, np.sqrt(se**2 + tau2), level)


def clip_limits(limits: FunnelLimits, low: float = 0.0, high: float = 1.0) -> FunnelLimits:
    """Clip limits to the possible range for display ([0, 1] for proportions; use
    ``high=numpy.inf`` for O/E ratios). Never use clipped limits for testing units.

    Raises ValueError if ``low`` or ``high`` is missing or ``low`` > ``high``.
    """
    if np.isnan(low) or np.isnan(high) or low > high:
        raise ValueError(f"low and high must be numbers with low <= high, got {low!r}, {high!r}")
    return FunnelLimits(
        level=limits.level,
        lower=np.clip(limits.lower, low, high),
        upper=np.clip(limits.upper, low, high),
    )


def proportion_zscores(r, n, theta0: float) -> np.ndarray:
    """Standardised Pearson residuals (r/n - theta0) / sqrt(theta0 (1 - theta0) / n).

    NaN where n = 0.

    Raises
    ------
    ValueError
        If ``r`` or ``n`` has missing or negative values, r > n anywhere, the two do not
        broadcast, or ``theta0`` is not strictly between 0 and 1.

    References
    ----------
    Spiegelhalter DJ. Handling over-dispersion of performance indicators.
    Qual Saf Health Care 2005;14:347-351.
    """
    r_arr, n_arr = broadcast(r=count_array(r, "r", whole=False), n=count_array(n, "n", whole=False))
    check_at_most(r_arr, n_arr, "r", "n")
    with np.errstate(divide="ignore", invalid="ignore"):
        return (r_arr / n_arr - theta0) / binomial_standard_error(n_arr, theta0)


def _observed_expected_variance(observed, expected, variance) -> list[np.ndarray]:
    return broadcast(
        observed=count_array(observed, "observed", whole=False),
        expected=count_array(expected, "expected", whole=False),
        variance=count_array(variance, "variance", whole=False),
    )


def oe_zscores(observed, expected, variance) -> np.ndarray:
    """Risk-adjusted z-scores (O - E) / sqrt(V), V = sum of p (1 - p) over the unit's cases.

    NaN where V = 0 (no modelled uncertainty, e.g. no cases).

    Raises
    ------
    ValueError
        If ``observed``, ``expected`` or ``variance`` has missing, infinite or negative
        values, or the three do not broadcast.

    References
    ----------
    Spiegelhalter DJ. Funnel plots for comparing institutional performance.
    Stat Med 2005;24:1185-1202, section 5.
    """
    o_arr, e_arr, v_arr = _observed_expected_variance(observed, expected, variance)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(v_arr > 0, (o_arr - e_arr) / np.sqrt(v_arr), np.nan)


def winsorise(z, trim: float = 0.1) -> np.ndarray:
    """Set z-scores below the ``trim`` quantile to it, and above 1 - ``trim`` to that.

    Quantiles are numpy's default 'linear' method (R type 7, as FunnelPlotR
    uses) over the finite values; NaN stays NaN. ``trim = 0`` returns a copy.

    Raises ValueError if ``trim`` is not in [0, 0.5) or ``z`` holds text.
    """
    if not 0.0 <= trim < 0.5:
        raise ValueError(f"trim must be in [0, 0.5), got {trim!r}")
    z_arr = float_array(z, "z", allow_nan=True)
    finite = z_arr[np.isfinite(z_arr)]
    if trim == 0.0 or finite.size == 0:
        return z_arr.copy()
    low, high = np.quantile(finite, [trim, 1.0 - trim])
    return np.clip(z_arr, low, high)


def overdispersion_phi(z, trim: float = 0.1) -> float:
    """Multiplicative over-dispersion phi = mean of (winsorised) squared z-scores.

    Parameters
    ----------
    z : array_like
        Unit z-scores from :func:`proportion_zscores` or :func:`oe_zscores`;
        non-finite values (empty units) are ignored.
    trim : float, default 0.1
        Winsorisation fraction in each tail; 0 gives the plain estimate.

    Returns
    -------
    float
        phi (about 1 when units differ only by chance).

    Raises
    ------
    ValueError
        If ``trim`` is not in [0, 0.5) or no z-score is finite (empty input included).

    Notes
    -----
    Winsorising stops the very outliers one is trying to detect from
    inflating the dispersion estimate and so hiding themselves.

    References
    ----------
    Spiegelhalter DJ. Handling over-dispersion of performance indicators.
    Qual Saf Health Care 2005;14:347-351.
    """
    z_w = winsorise(z, trim)
    finite = z_w[np.isfinite(z_w)]
    if finite.size == 0:
        raise ValueError("z has no finite z-scores: every unit is empty")
    return float(np.mean(finite**2))


def dispersion_test(z, df: int | None = None) -> DispersionTest:
    """Test for over-dispersion: sum of squared z-scores against chi-square(df).

    Parameters
    ----------
    z : array_like
        Unit z-scores (non-finite values ignored), unwinsorised.
    df : int, optional
        Degrees of freedom; default is the number of finite z-scores minus 1,
        for a target estimated from the same data (pooled rate).

    Returns
    -------
    DispersionTest
        statistic, df, ratio = statistic/df and the upper-tail p-value.

    Raises
    ------
    ValueError
        If ``df`` is not a whole number >= 1 (or, by default, fewer than 2 z-scores are
        finite).

    Notes
    -----
    With equal unit sizes and a pooled target this is the classical
    binomial or Poisson dispersion test D = (s^2/sigma^2)(k - 1).

    References
    ----------
    Wetherill GB, Brown DW. Statistical Process Control: Theory and Practice,
    3rd ed. Chapman & Hall 1991, pp. 212-218.
    Spiegelhalter DJ. Handling over-dispersion of performance indicators.
    Qual Saf Health Care 2005;14:347-351.
    """
    z_arr = float_array(z, "z", allow_nan=True)
    finite = z_arr[np.isfinite(z_arr)]
    if df is not None and check_scalar(df, "df") != int(df):
        raise ValueError(f"df must be a whole number, got {df!r}")
    dof = finite.size - 1 if df is None else int(df)
    if dof < 1:
        raise ValueError(f"need at least 1 degree of freedom, got {dof} from {finite.size} units")
    statistic = float(np.sum(finite**2))
    return DispersionTest(
        statistic=statistic,
        df=dof,
        ratio=statistic / dof,
        p_value=float(stats.chi2.sf(statistic, dof)),
    )


def dersimonian_laird_tau2(z, within_variance, trim: float = 0.1) -> float:
    """Additive between-unit variance tau^2 by DerSimonian-Laird, from (winsorised) phi.

    Parameters
    ----------
    z : array_like
        Unit z-scores; non-finite values (and their variances) are ignored.
    within_variance : array_like
        Within-unit null variance s_i^2 on the scale of the limits, e.g.
        theta0 (1 - theta0)/n for proportions or V/E^2 for O/E ratios.
    trim : float, default 0.1
        Winsorisation used for phi (0 gives the classical DL estimate).

    Returns
    -------
    float
        tau^2 = max(0, (I phi - (I - 1)) / (sum w - sum w^2 / sum w)), w = 1/s^2.

    Raises
    ------
    ValueError
        If ``z`` and ``within_variance`` differ in shape, ``within_variance`` is negative,
        ``trim`` is outside [0, 0.5), or fewer than 2 units have a finite z and a
        positive finite variance.

    Notes
    -----
    I phi plays the role of Cochran's Q. With ``trim = 0`` and the pooled
    target this equals ``statsmodels.stats.meta_analysis.combine_effects(y,
    s2, method_re='dl').tau2``.

    References
    ----------
    DerSimonian R, Laird N. Meta-analysis in clinical trials. Control Clin
    Trials 1986;7:177-188.
    Spiegelhalter DJ. Handling over-dispersion of performance indicators.
    Qual Saf Health Care 2005;14:347-351.
    """
    z_arr = float_array(z, "z", allow_nan=True)
    s2 = check_nonnegative(
        float_array(within_variance, "within_variance", allow_nan=True), "within_variance"
    )
    same_shape(z=z_arr, within_variance=s2)
    usable = np.isfinite(z_arr) & np.isfinite(s2) & (s2 > 0)
    n_units = int(usable.sum())
    if n_units < 2:
        raise ValueError(f"tau2 needs at least 2 units with finite z and variance, got {n_units}")
    q_statistic = n_units * overdispersion_phi(z_arr[usable], trim)
    weights = 1.0 / s2[usable]
    denominator = weights.sum() - np.sum(weights**2) / weights.sum()
    return float(max(0.0, (q_statistic - (n_units - 1)) / denominator))


def score_units(
    observed,
    expected,
    variance,
    adjustment: Adjustment = "tau2",
    trim: float = 0.1,
) -> UnitScores:
    """z-scores, over-dispersion-adjusted z-scores and p-values for risk-adjusted O/E.

    Parameters
    ----------
    observed, expected, variance : array_like
        Per unit: observed events O, expected events E and V = sum of
        p (1 - p) over the unit's cases (from the case-mix model).
    adjustment : {'tau2', 'phi', 'none'}, default 'tau2'
        'tau2': z = (O/E - 1) / sqrt(V/E^2 + tau^2), additive DerSimonian-Laird
        tau^2 computed from the winsorised phi (the default);
        'phi': z / sqrt(max(phi, 1)); 'none': unadjusted z.
    trim : float, default 0.1
        Winsorisation fraction for phi (and hence tau^2).

    Returns
    -------
    UnitScores
        Per-unit table plus phi, tau2 and the dispersion test.

    Raises
    ------
    ValueError
        If ``observed``, ``expected`` or ``variance`` is empty, not one-dimensional, has
        missing, infinite or negative values, or if they differ in length; if
        ``adjustment`` is not 'tau2', 'phi' or 'none'; if ``trim`` is outside [0, 0.5);
        or if fewer than 2 units have V > 0.

    Notes
    -----
    Why additive tau^2 on winsorised phi is the default (as in FunnelPlotR):
    examiners differ by more than chance for reasons the case-mix model does
    not capture; that between-examiner variation does not shrink with
    volume. The multiplicative phi scales each unit's own sampling variance,
    so high-volume examiners would still be flagged for small, unimportant
    differences; the additive tau^2 gives every examiner the same allowance
    for unexplained variation. Winsorising before estimating phi stops the
    outliers being tested from inflating the allowance. tau^2 is 0 when the
    winsorised I phi is below I - 1, so the adjustment never narrows limits.
    Units with V = 0 get NaN throughout and do not enter the estimates.

    References
    ----------
    Spiegelhalter DJ. Handling over-dispersion of performance indicators.
    Qual Saf Health Care 2005;14:347-351.
    Spiegelhalter DJ. Funnel plots for comparing institutional performance.
    Stat Med 2005;24:1185-1202.
    Jones HE, Ohlssen DI, Spiegelhalter DJ. Use of the false discovery rate
    when comparing multiple health care providers. J Clin Epidemiol
    2008;61:232-240.
    """
    if adjustment not in ("tau2", "phi", "none"):
        raise ValueError(f"adjustment must be 'tau2', 'phi' or 'none', got {adjustment!r}")
    o_arr = count_array(observed, "observed", whole=False, ndim=1, nonempty=True)
    e_arr = count_array(expected, "expected", whole=False, ndim=1)
    v_arr = count_array(variance, "variance", whole=False, ndim=1)
    same_shape(observed=o_arr, expected=e_arr, variance=v_arr)
    z = oe_zscores(o_arr, e_arr, v_arr)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(e_arr > 0, o_arr / e_arr, np.nan)
        ratio_variance = np.where(e_arr > 0, v_arr / e_arr**2, np.nan)
    phi = overdispersion_phi(z, trim)
    tau2 = dersimonian_laird_tau2(z, ratio_variance, trim)
    if adjustment == "tau2":
        z_adjusted = (ratio - 1.0) / np.sqrt(ratio_variance + tau2)
    elif adjustment == "phi":
        z_adjusted = z / np.sqrt(max(phi, 1.0))
    else:
        z_adjusted = z
    units = pd.DataFrame(
        {
            "observed": o_arr,
            "expected": e_arr,
            "variance": v_arr,
            "ratio": ratio,
            "z": z,
            "z_adjusted": z_adjusted,
            "p_one_sided": stats.norm.sf(z_adjusted),
            "p_two_sided": 2.0 * stats.norm.sf(np.abs(z_adjusted)),
        }
    )
    return UnitScores(
        units=units,
        phi=phi,
        tau2=tau2,
        dispersion=dispersion_test(z),
        adjustment=adjustment,
        trim=float(trim),
    )


