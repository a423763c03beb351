"""Agreement between raters: Cohen's and Fleiss' kappa, the one-way intraclass correlation and
Bland-Altman limits.

In IME data a case is rated by a varying set of examiners (and by treating physicians), so
the one-way form (:func:`icc_oneway_unbalanced`) fits the design.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats
from statsmodels.stats import inter_rater

from imestats._checks import (
    check_level,
    check_nonnegative,
    check_scalar,
    count_array,
    float_array,
)


@dataclass(frozen=True)
class KappaResult:
    """Cohen's kappa with its large-sample SE, interval, and test of kappa = 0."""

    kappa: float
    std_err: float
    ci_low: float
    ci_high: float
    std_err_null: float
    z: float
    p_value: float
    weights: str


@dataclass(frozen=True)
class FleissKappaResult:
    """Fleiss' kappa with the SE under kappa = 0 and the two-sided z test."""

    kappa: float
    std_err_null: float
    z: float
    p_value: float
    n_subjects: int
    n_raters: int


@dataclass(frozen=True)
class IccOneWayResult:
    """One-way ICC from unbalanced data: ANOVA estimator with the n0 group size."""

    icc: float
    ci_low: float
    ci_high: float
    f_statistic: float
    df1: int
    df2: int
    p_value: float
    between_targets_ms: float
    within_targets_ms: float
    n0: float
    n_targets: int
    n_ratings: int
    level: float


@dataclass(frozen=True)
class BlandAltmanResult:
    """Mean difference (bias), limits of agreement, and the intervals of each."""

    n: int
    bias: float
    sd: float
    bias_ci_low: float
    bias_ci_high: float
    loa_low: float
    loa_high: float
    loa_low_ci_low: float
    loa_low_ci_high: float
    loa_high_ci_low: float
    loa_high_ci_high: float
    multiplier: float
    level: float


def cohens_kappa(
    table: ArrayLike,
    weights: Literal["linear", "quadratic"] | None = None,
    level: float = 0.95,
) -> KappaResult:
    """Cohen's kappa (optionally weighted) for two raters (statsmodels ``cohens_kappa``).

    Parameters
    ----------
    table : array_like, shape (c, c)
        Counts of subjects by rater A's category (rows) and rater B's (columns), with the
        same categories in the same order on both axes (ordered, for weighted kappa).
    weights : {None, 'linear', 'quadratic'}, default None
        None for unweighted kappa; 'linear' or 'quadratic' disagreement weights by category
        distance for ordinal categories.
    level : float, default 0.95
        Confidence level of the interval.

    Returns
    -------
    KappaResult
        kappa, its asymptotic SE and Wald interval, the SE under kappa = 0, z and two-sided
        p of the test of no agreement beyond chance.

    Raises
    ------
    ValueError
        If ``table`` is not a square 2-d table, has missing or negative counts, has no
        subjects (empty or all zero), or has every subject in one and the same category
        for both raters (chance agreement 1: kappa undefined); if ``weights`` is not
        None, 'linear' or 'quadratic'; or if ``level`` is not strictly between 0 and 1.

    Notes
    -----
    kappa = (p_o - p_e)/(1 - p_e), weighted kappa = 1 - sum w o / sum w e. Assumes
    independent subjects and the same two raters (or rater roles) throughout. Kappa depends
    on the prevalence of the categories, so compare it only between similar case mixes.

    References
    ----------
    Cohen J. A coefficient of agreement for nominal scales. Educational and Psychological
    Measurement. 1960;20(1):37-46.

    Cohen J. Weighted kappa: nominal scale agreement with provision for scaled disagreement
    or partial credit. Psychological Bulletin. 1968;70(4):213-220.

    Fleiss JL, Cohen J, Everitt BS. Large sample standard errors of kappa and weighted
    kappa. Psychological Bulletin. 1969;72(5):323-327.
    """
    _require_level(level)
    counts = _count_table(table, "table")
    if counts.shape[0] != counts.shape[1]:
        raise ValueError(
            f"table has shape {counts.shape}; Cohen's kappa needs a square table with the "
            "same categories on both axes"
        )
    if weights not in (None, "linear", "quadratic"):
        raise ValueError(f"weights={weights!r}: use None, 'linear' or 'quadratic'")
    if counts.sum() <= 0:
        raise ValueError(f"table has no subjects (shape {counts.shape}, total count 0)")
    rows_used, columns_used = np.flatnonzero(counts.sum(axis=1)), np.flatnonzero(counts.sum(axis=0))
    if rows_used.size == 1 and columns_used.size == 1 and rows_used[0] == columns_used[0]:
        raise ValueError(
            "table has every subject in one category for both raters: chance agreement is 1, "
            "kappa undefined"
        )
    fit = inter_rater.cohens_kappa(counts, wt=weights)
    half_width = stats.norm.ppf(0.5 + level / 2) * fit.std_kappa
    return KappaResult(
        kappa=float(fit.kappa),
        std_err=float(fit.std_kappa),
        ci_low=float(fit.kappa - half_width),
        ci_high=float(fit.kappa + half_width),
        std_err_null=float(fit.std_kappa0),
        z=float(fit.z_value),
        p_value=float(fit.pvalue_two_sided),
        weights=weights or "none",
    )


def fleiss_kappa(counts: ArrayLike) -> FleissKappaResult:
    """Fleiss' kappa for many raters per subject, with its z test.

    Parameters
    ----------
    counts : array_like, shape (n_subjects, n_categories)
        Number of raters who put each subject in each category; every row must sum to the
        same number of raters (the raters need not be the same people). Raw labels
        (subjects x raters) convert with ``statsmodels.stats.inter_rater.aggregate_raters``.

    Returns
    -------
    FleissKappaResult
        kappa (statsmodels ``fleiss_kappa``), the SE under kappa = 0 (Fleiss, Nee & Landis
        1979, as in R ``irr::kappam.fleiss``), z = kappa / SE and the two-sided p.

    Raises
    ------
    ValueError
        If ``counts`` is not a 2-d table, has no subjects, has missing, negative or
        fractional counts, has rows with different sums or fewer than 2 ratings per
        subject, or has all ratings in one category.

    Notes
    -----
    P_i = sum_j n_ij (n_ij - 1) / (n (n - 1)), p_j = sum_i n_ij / (N n),
    kappa = (mean P_i - sum p_j^2) / (1 - sum p_j^2). The null SE assumes independent
    subjects and no agreement beyond chance; it is not an interval for kappa.

    References
    ----------
    Fleiss JL. Measuring nominal scale agreement among many raters. Psychological Bulletin.
    1971;76(5):378-382.

    Fleiss JL, Nee JCM, Landis JR. Large sample variance of kappa in the case of different
    sets of raters. Psychological Bulletin. 1979;86(5):974-977.
    """
    table = _count_table(counts, "counts")
    if table.shape[0] == 0:
        raise ValueError(f"counts has no subjects (shape {table.shape})")
    count_array(table, "counts")  # numbers of raters: whole numbers
    raters_per_subject = table.sum(axis=1)
    if not np.all(raters_per_subject == raters_per_subject[0]) or raters_per_subject[0] < 2:
        raise ValueError(
            "every subject needs the same number (at least 2) of ratings; row sums are "
            f"{sorted(set(raters_per_subject.tolist()))}"
        )
    if np.count_nonzero(table.sum(axis=0)) < 2:
        raise ValueError("all ratings fall in one category: chance agreement is 1, kappa undefined")
    n_subjects, n_raters = table.shape[0], int(raters_per_subject[0])
    kappa = float(inter_rater.fleiss_kappa(table, method="fleiss"))

    share = table.sum(axis=0) / (n_subjects * n_raters)
    spread = share * (1 - share)
    variance_null = (
        2
        / (spread.sum() ** 2 * n_subjects * n_raters * (n_raters - 1))
        * (spread.sum() ** 2 - (spread * (1 - 2 * share)).sum())
    )
    std_err_null = float(np.sqrt(variance_null))
    z = kappa / std_err_null
    return FleissKappaResult(
        kappa=kappa,
        std_err_null=std_err_null,
        z=z,
        p_value=float(2 * stats.norm.sf(abs(z))),
        n_subjects=n_subjects,
        n_raters=n_raters,
    )


def icc_oneway_unbalanced(
    ratings: ArrayLike, targets: ArrayLike, level: float = 0.95
) -> IccOneWayResult:
    """One-way ICC when each target (case) has its own, varying number of raters.

    Parameters
    ----------
    ratings : array_like
        One rating per row (for example the WPI of one examiner's report).
    targets : array_like
        The target (case) each rating belongs to.
    level : float, default 0.95
        Confidence level of the interval.

    Returns
    -------
    IccOneWayResult
        ICC = (MSB - MSW)/(MSB + (n0 - 1) MSW), its approximate interval, the F test of
        ICC = 0, the mean squares, n0 and the counts.

    Raises
    ------
    ValueError
        If ``ratings`` is not one-dimensional or has missing values; if ``targets`` differs
        from it in length or has missing labels; if there are fewer than 2 targets or no
        target with 2 ratings; or if ``level`` is not strictly between 0 and 1.

    Notes
    -----
    ANOVA (method of moments) estimator of sigma2_target / (sigma2_target + sigma2_error)
    with n0 = (N - sum n_i^2 / N)/(a - 1), a targets and N ratings; with equal n_i it is
    ICC(1,1). The F test (MSB/MSW on a - 1 and N - a df) is exact under normality; the
    interval plugs n0 into the balanced F interval and is approximate when the n_i differ
    much. Targets rated once add to MSB only. The estimate can be negative.

    References
    ----------
    Searle SR, Casella G, McCulloch CE. Variance Components. New York: Wiley; 1992
    (chapter 3, the unbalanced one-way classification).

    Donner A. A review of inference procedures for the intraclass correlation coefficient
    in the one-way random effects model. International Statistical Review.
    1986;54(1):67-82.
    """
    _require_level(level)
    values = float_array(ratings, "ratings", allow_nan=True)
    if values.ndim != 1 or not np.isfinite(values).all():
        raise ValueError("ratings must be one-dimensional without missing values")
    codes, labels = pd.factorize(np.asarray(targets))
    if len(codes) != len(values):
        raise ValueError(f"ratings has {len(values)} rows but targets has {len(codes)}")
    if (codes < 0).any():
        raise ValueError("targets has missing labels; give every rating its case")
    n_targets, n_ratings = len(labels), len(values)
    if n_targets < 2 or n_ratings <= n_targets:
        raise ValueError(
            f"{n_targets} targets and {n_ratings} ratings: need at least two targets and "
            "one target with two or more ratings"
        )
    sizes = np.bincount(codes)
    target_means = np.bincount(codes, weights=values) / sizes
    grand_mean = values.mean()
    df_between, df_within = n_targets - 1, n_ratings - n_targets
    msb = (sizes * (target_means - grand_mean) ** 2).sum() / df_between
    msw = ((values - target_means[codes]) ** 2).sum() / df_within
    n0 = (n_ratings - (sizes**2).sum() / n_ratings) / df_between

    f_statistic = msb / msw
    tail = 0.5 + level / 2
    f_low = f_statistic / stats.f.ppf(tail, df_between, df_within)
    f_high = f_statistic * stats.f.ppf(tail, df_within, df_between)
    return IccOneWayResult(
        icc=float((msb - msw) / (msb + (n0 - 1) * msw)),
        ci_low=float((f_low - 1) / (f_low + n0 - 1)),
        ci_high=float((f_high - 1) / (f_high + n0 - 1)),
        f_statistic=float(f_statistic),
        df1=df_between,
        df2=df_within,
        p_value=float(stats.f.sf(f_statistic, df_between, df_within)),
        between_targets_ms=float(msb),
        within_targets_ms=float(msw),
        n0=float(n0),
        n_targets=n_targets,
        n_ratings=n_ratings,
        level=level,
    )


def bland_altman(
    x: ArrayLike, y: ArrayLike, multiplier: float = 1.96, level: float = 0.95
) -> BlandAltmanResult:
    """Bland-Altman bias and limits of agreement of paired measurements, with intervals.

    Parameters
    ----------
    x, y : array_like
        Paired measurements of the same cases, for example the IME rating (x) and the
        treating physician's rating (y); differences are x - y.
    multiplier : float, default 1.96
        Limits are bias +/- multiplier * SD (Bland & Altman 1986 used 2).
    level : float, default 0.95
        Confidence level of the intervals of the bias and of each limit.

    Returns
    -------
    BlandAltmanResult
        n, bias (mean difference), SD of the differences, the t interval of the bias, the
        limits of agreement and the approximate interval of each limit.

    Raises
    ------
    ValueError
        If ``x`` and ``y`` are not 1-d arrays of one length, have missing values or fewer
        than 3 pairs; if ``multiplier`` is not a positive number; or if ``level`` is not
        strictly between 0 and 1.

    Notes
    -----
    SE(bias) = s/sqrt(n) and SE(limit) ~ sqrt(3 s^2 / n), each with t on n - 1 df
    (Bland & Altman 1986). Assumes the differences are roughly normal with constant spread
    across the range; when the spread grows with the level (common for WPI), analyse log
    ratings or percentage differences instead.

    References
    ----------
    Bland JM, Altman DG. Statistical methods for assessing agreement between two methods of
    clinical measurement. The Lancet. 1986;327(8476):307-310.

    Bland JM, Altman DG. Measuring agreement in method comparison studies. Statistical
    Methods in Medical Research. 1999;8(2):135-160.
    """
    _require_level(level)
    multiplier = check_scalar(multiplier, "multiplier", low=0, low_inclusive=False)
    first = float_array(x, "x", allow_nan=True)
    second = float_array(y, "y", allow_nan=True)
    if first.shape != second.shape or first.ndim != 1:
        raise ValueError(
            f"x and y must be paired 1-d arrays, got shapes {first.shape} and {second.shape}"
        )
    if not (np.isfinite(first).all() and np.isfinite(second).all()):
        raise ValueError("x and y must not have missing values; drop incomplete pairs first")
    n = len(first)
    if n < 3:
        raise ValueError(f"{n} pairs: Bland-Altman limits need at least 3")
    differences = first - second
    bias = differences.mean()
    sd = differences.std(ddof=1)
    t = stats.t.ppf(0.5 + level / 2, n - 1)
    bias_half_width = t * sd / np.sqrt(n)
    limit_half_width = t * np.sqrt(3 * sd**2 / n)
    loa_low, loa_high = bias - multiplier * sd, bias + multiplier * sd
    return BlandAltmanResult(
        n=n,
        bias=float(bias),
        sd=float(sd),
        bias_ci_low=float(bias - bias_half_width),
        bias_ci_high=float(bias + bias_half_width),
        loa_low=float(loa_low),
        loa_high=float(loa_high),
        loa_low_ci_low=float(loa_low - limit_half_width),
        loa_low_ci_high=float(loa_low + limit_half_width),
        loa_high_ci_low=float(loa_high - limit_half_width),
        loa_high_ci_high=float(loa_high + limit_half_width),
        multiplier=multiplier,
        level=level,
    )


def _count_table(values: ArrayLike, name: str) -> np.ndarray:
    table = float_array(values, name, allow_nan=True)
    if table.ndim != 2:
        raise ValueError(f"{name} must be a 2-d table of counts, got shape {table.shape}")
    return check_nonnegative(float_array(table, name), name)


def _require_level(level: float) -> None:
    check_level(level)
