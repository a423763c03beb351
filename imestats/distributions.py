"""Comparing impairment-rating (WPI) distributions between examiners, and IME versus treating.

WPI ratings are whole percentages, bounded at 0 and zero-inflated, so every test here is
chosen or configured for heavy ties: compare the share of zero ratings, the location, and
the whole distribution separately. Pass p-values from many examiner comparisons through a
false-discovery-rate procedure before flagging anyone.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats
from statsmodels.stats.proportion import proportions_ztest

from imestats._checks import check_scalar, float_array

Alternative = Literal["two-sided", "less", "greater"]

# scipy interpolates the k-sample Anderson-Darling p-value in a table and clips it here.
_AD_P_VALUE_FLOOR = 0.001
_AD_P_VALUE_CAP = 0.25


@dataclass(frozen=True)
class MannWhitneyResult:
    """Mann-Whitney U of x against y with rank-biserial and common-language effect sizes."""

    u_statistic: float
    p_value: float
    rank_biserial: float
    common_language: float
    n_x: int
    n_y: int
    alternative: str


@dataclass(frozen=True)
class KolmogorovSmirnovResult:
    """Two-sample Kolmogorov-Smirnov D and p-value."""

    statistic: float
    p_value: float
    n_x: int
    n_y: int
    alternative: str


@dataclass(frozen=True)
class AndersonKSampleResult:
    """k-sample Anderson-Darling test.

    ``statistic`` is scipy's standardised T = (A2 - (k - 1)) / sigma; ``a2`` and ``sigma``
    are the unstandardised statistic and its null SD as R kSamples prints them.
    ``p_value_bound`` is 'floored' or 'capped' when the interpolated p-value was clipped to
    [0.001, 0.25] (the true value lies beyond), else None.
    """

    statistic: float
    a2: float
    sigma: float
    p_value: float
    p_value_bound: str | None
    variant: str
    n_samples: int


@dataclass(frozen=True)
class KruskalResult:
    """Kruskal-Wallis H (tie-corrected) on k - 1 df."""

    statistic: float
    df: int
    p_value: float
    n_total: int


@dataclass(frozen=True)
class ZeroShareResult:
    """Share of zero ratings in x and in y, and the test that they are equal.

    ``z`` is the two-proportion z statistic, None when Fisher's exact test was used.
    """

    zeros_x: int
    n_x: int
    zeros_y: int
    n_y: int
    share_x: float
    share_y: float
    difference: float
    z: float | None
    p_value: float
    method: str


@dataclass(frozen=True)
class PairedGapResult:
    """Paired gap IME - treating: Wilcoxon signed-rank test and descriptive summaries.

    ``v_statistic`` is the sum of ranks of positive gaps (R's V), whatever the alternative.
    """

    n_pairs: int
    v_statistic: float
    p_value: float
    median_gap: float
    hodges_lehmann: float
    share_ime_lower: float
    share_tied: float
    zero_method: str
    alternative: str


def mann_whitney(
    x: ArrayLike,
    y: ArrayLike,
    alternative: Alternative = "two-sided",
    method: Literal["auto", "asymptotic", "exact"] = "auto",
) -> MannWhitneyResult:
    """Mann-Whitney U test of x against y (``scipy.stats.mannwhitneyu``) with effect sizes.

    Parameters
    ----------
    x, y : array_like
        Ratings of the examiner of interest (x) and of the comparison group (y).
    alternative : {'two-sided', 'less', 'greater'}, default 'two-sided'
        'greater': x tends to be larger than y.
    method : {'auto', 'asymptotic', 'exact'}, default 'auto'
        scipy's choice: exact for small samples without ties, otherwise the normal
        approximation with tie correction and continuity correction.

    Returns
    -------
    MannWhitneyResult
        U of x (R's W), p-value, rank-biserial r = 2U/(n_x n_y) - 1 (from -1 to 1, positive
        when x tends to be larger) and the common-language effect U/(n_x n_y) = P(X > Y) +
        P(X = Y)/2.

    Raises
    ------
    ValueError
        If ``x`` or ``y`` is empty, not one-dimensional or has missing values, or ``alternative`` or
        ``method`` is not one of the listed values.

    Notes
    -----
    Tests stochastic equality; it is a test of medians only when both distributions have
    the same shape. Assumes independent ratings (one per exam).

    References
    ----------
    Mann HB, Whitney DR. On a test of whether one of two random variables is stochastically
    larger than the other. Annals of Mathematical Statistics. 1947;18(1):50-60.

    Kerby DS. The simple difference formula: an approach to teaching nonparametric
    correlation. Comprehensive Psychology. 2014;3:11.IT.3.1.
    """
    first = _sample(x, "x")
    second = _sample(y, "y")
    result = stats.mannwhitneyu(first, second, alternative=alternative, method=method)
    pairs = len(first) * len(second)
    u_statistic = float(result.statistic)
    return MannWhitneyResult(
        u_statistic=u_statistic,
        p_value=float(result.pvalue),
        rank_biserial=2 * u_statistic / pairs - 1,
        common_language=u_statistic / pairs,
        n_x=len(first),
        n_y=len(second),
        alternative=alternative,
    )


def ks_2samp(
    x: ArrayLike, y: ArrayLike, alternative: Alternative = "two-sided"
) -> KolmogorovSmirnovResult:
    """Two-sample Kolmogorov-Smirnov test (``scipy.stats.ks_2samp``, method 'auto').

    Parameters
    ----------
    x, y : array_like
        The two samples of ratings.
    alternative : {'two-sided', 'less', 'greater'}, default 'two-sided'
        As in scipy: 'less' means the CDF of x lies below that of y somewhere.

    Returns
    -------
    KolmogorovSmirnovResult
        D = max |F_x - F_y| and its p-value.

    Raises
    ------
    ValueError
        If ``x`` or ``y`` is empty, not one-dimensional or has missing values, or ``alternative`` is
        not one of the listed values.

    Notes
    -----
    The null distribution assumes continuous data; with tied ratings (WPI) the p-value is
    conservative. Prefer :func:`anderson_ksamp` with variant 'midrank' for discrete ratings.

    References
    ----------
    Smirnov N. Table for estimating the goodness of fit of empirical distributions. Annals
    of Mathematical Statistics. 1948;19(2):279-281.

    Hodges JL. The significance probability of the Smirnov two-sample test. Arkiv for
    Matematik. 1958;3(5):469-486.
    """
    first = _sample(x, "x")
    second = _sample(y, "y")
    result = stats.ks_2samp(first, second, alternative=alternative)
    return KolmogorovSmirnovResult(
        statistic=float(result.statistic),
        p_value=float(result.pvalue),
        n_x=len(first),
        n_y=len(second),
        alternative=alternative,
    )


def anderson_ksamp(
    samples: Sequence[ArrayLike],
    variant: Literal["midrank", "right"] = "midrank",
    permutations: int | None = None,
    seed: int | None = None,
) -> AndersonKSampleResult:
    """k-sample Anderson-Darling test that all samples share one distribution.

    Parameters
    ----------
    samples : sequence of array_like
        Two or more samples (for example one per examiner).
    variant : {'midrank', 'right'}, default 'midrank'
        Scholz & Stephens' A2akN ('midrank', for discrete data with ties such as WPI) or
        A2kN ('right', right-continuous empirical CDFs).
    permutations : int, optional
        When given, the p-value comes from this many random permutations
        (``scipy.stats.PermutationMethod``) instead of the interpolated table, so it is not
        clipped to [0.001, 0.25]; use it when p-values feed a multiple-testing procedure.
    seed : int, optional
        Seed of the permutations, for reproducible p-values.

    Returns
    -------
    AndersonKSampleResult
        Standardised statistic T (scipy), A2 and its null SD sigma (R kSamples), p-value and
        whether it was clipped.

    Raises
    ------
    ValueError
        If a sample is empty, not one-dimensional or has missing values; if there are fewer than two
        samples or fewer than 4 observations in all (sigma is undefined); if ``variant``
        is not 'midrank' or 'right'; or if ``permutations`` is not a whole number >= 1.

    Notes
    -----
    scipy 1.17 returns T = (A2 - (k - 1)) / sigma, not A2, and replaced the ``midrank``
    flag by ``variant`` (the docstring's 'discrete' is not accepted; 'right' is). A2 here is
    T sigma + k - 1 with sigma from Scholz & Stephens (1987, eq. 4), identical for both
    variants. Assumes independent observations within and between samples.

    References
    ----------
    Scholz FW, Stephens MA. K-sample Anderson-Darling tests. Journal of the American
    Statistical Association. 1987;82(399):918-924.
    """
    if variant not in ("midrank", "right"):
        raise ValueError(f"variant={variant!r}: use 'midrank' or 'right'")
    arrays = [_sample(sample, f"samples[{i}]") for i, sample in enumerate(samples)]
    if len(arrays) < 2:
        raise ValueError(f"anderson_ksamp needs at least two samples, got {len(arrays)}")
    total = sum(len(array) for array in arrays)
    if total < 4:
        raise ValueError(
            f"samples have {total} observations in all: the null SD of A2 needs at least 4"
        )
    if permutations is not None and (
        check_scalar(permutations, "permutations", low=1) != int(permutations)
    ):
        raise ValueError(f"permutations must be a whole number, got {permutations!r}")
    if permutations is None:
        with warnings.catch_warnings():
            # The clipping is reported through p_value_bound instead of a warning.
            warnings.filterwarnings(
                "ignore", message="p-value (floored|capped)", category=UserWarning
            )
            result = stats.anderson_ksamp(arrays, variant=variant)
        p_value = float(result.pvalue)
        p_value_bound = {_AD_P_VALUE_FLOOR: "floored", _AD_P_VALUE_CAP: "capped"}.get(p_value)
    else:
        resampling = stats.PermutationMethod(
            n_resamples=permutations, rng=np.random.default_rng(seed)
        )
        result = stats.anderson_ksamp(arrays, variant=variant, method=resampling)
        p_value = float(result.pvalue)
        p_value_bound = None
    sigma = _anderson_ksamp_null_sd([len(array) for array in arrays])
    statistic = float(result.statistic)
    return AndersonKSampleResult(
        statistic=statistic,
        a2=statistic * sigma + len(arrays) - 1,
        sigma=sigma,
        p_value=p_value,
        p_value_bound=p_value_bound,
        variant=variant,
        n_samples=len(arrays),
    )


def kruskal(samples: Sequence[ArrayLike]) -> KruskalResult:
    """Kruskal-Wallis test that k samples share one distribution (``scipy.stats.kruskal``).

    Parameters
    ----------
    samples : sequence of array_like
        Two or more samples (for example the ratings of each examiner).

    Returns
    -------
    KruskalResult
        H corrected for ties, df = k - 1, the chi-square p-value and the total size. When
        every value in every sample is the same there is nothing to rank: H and the
        p-value are NaN.

    Raises
    ------
    ValueError
        If a sample is empty, not one-dimensional or has missing values, or there are fewer than two
        samples.

    Notes
    -----
    The chi-square approximation needs about five or more observations per group.
    Assumes independent observations; a significant H says some examiner differs, not which.

    References
    ----------
    Kruskal WH, Wallis WA. Use of ranks in one-criterion variance analysis. Journal of the
    American Statistical Association. 1952;47(260):583-621.
    """
    arrays = [_sample(sample, f"samples[{i}]") for i, sample in enumerate(samples)]
    if len(arrays) < 2:
        raise ValueError(f"kruskal needs at least two samples, got {len(arrays)}")
    result = stats.kruskal(*arrays)
    return KruskalResult(
        statistic=float(result.statistic),
        df=len(arrays) - 1,
        p_value=float(result.pvalue),
        n_total=sum(len(array) for array in arrays),
    )


def zero_share_test(x: ArrayLike, y: ArrayLike, min_expected: float = 5.0) -> ZeroShareResult:
    """Compare the share of zero ratings in x and y (two-sided).

    Parameters
    ----------
    x, y : array_like
        Ratings (WPI percent) of the two groups.
    min_expected : float, default 5
        When any expected count of the 2 x 2 table (zero / non-zero by group) is below
        this, Fisher's exact test replaces the z test (Cochran's rule).

    Returns
    -------
    ZeroShareResult
        Counts and shares of zeros, their difference (x - y), the z statistic (None for
        Fisher), the p-value and the method used.

    Raises
    ------
    ValueError
        If ``x`` or ``y`` is empty, not one-dimensional or has missing values, or ``min_expected``
        is missing or negative.

    Notes
    -----
    The z test pools the two shares for its variance (``proportions_ztest``); z^2 is
    Pearson's chi-square without continuity correction. Fisher's test conditions on the
    margins. Both assume independent exams.

    References
    ----------
    Fleiss JL, Levin B, Paik MC. Statistical Methods for Rates and Proportions. 3rd ed.
    Hoboken, NJ: Wiley; 2003 (chapter 3).

    Cochran WG. Some methods for strengthening the common chi-square tests. Biometrics.
    1954;10(4):417-451.

    Fisher RA. The Design of Experiments. Edinburgh: Oliver and Boyd; 1935.
    """
    min_expected = check_scalar(min_expected, "min_expected", low=0)
    first = _sample(x, "x")
    second = _sample(y, "y")
    zeros = np.array([(first == 0).sum(), (second == 0).sum()])
    sizes = np.array([len(first), len(second)])
    table = np.column_stack([zeros, sizes - zeros])
    expected = np.outer(sizes, table.sum(axis=0)) / sizes.sum()
    if (expected < min_expected).any():
        z = None
        p_value = float(stats.fisher_exact(table).pvalue)
        method = "fisher exact"
    else:
        z_statistic, p = proportions_ztest(zeros, sizes)
        z, p_value = float(z_statistic), float(p)
        method = "two-proportion z"
    share_x, share_y = zeros / sizes
    return ZeroShareResult(
        zeros_x=int(zeros[0]),
        n_x=int(sizes[0]),
        zeros_y=int(zeros[1]),
        n_y=int(sizes[1]),
        share_x=float(share_x),
        share_y=float(share_y),
        difference=float(share_x - share_y),
        z=z,
        p_value=p_value,
        method=method,
    )


def paired_gap(
    ime: ArrayLike,
    treating: ArrayLike,
    alternative: Alternative = "two-sided",
    zero_method: Literal["pratt", "wilcox", "zsplit"] = "pratt",
) -> PairedGapResult:
    """Gap between the IME rating and the treating physician's rating of the same case.

    Parameters
    ----------
    ime, treating : array_like
        Paired ratings, one pair per case; gaps are ime - treating.
    alternative : {'two-sided', 'less', 'greater'}, default 'two-sided'
        'less': IME ratings tend to be lower than treating ratings.
    zero_method : {'pratt', 'wilcox', 'zsplit'}, default 'pratt'
        Handling of zero gaps (equal ratings, common with WPI). 'pratt' ranks them and
        drops their ranks (Pratt 1959); 'wilcox' discards them first, as R does.

    Returns
    -------
    PairedGapResult
        Wilcoxon signed-rank V (sum of ranks of positive gaps) and p-value, the median gap,
        the Hodges-Lehmann estimate (median of the Walsh averages), the share of cases with
        the IME rating below the treating one and the share of equal ratings.

    Raises
    ------
    ValueError
        If ``ime`` or ``treating`` is empty, not one-dimensional or has missing values, or they
        differ in length; or if ``zero_method`` or ``alternative`` is not one of the listed values.

    Notes
    -----
    The p-value uses scipy's 'auto' method: exact for up to 50 pairs without ties or zero
    gaps, exhaustive permutations for up to 13 pairs with them, otherwise the normal
    approximation corrected for ties and zeros. The test assumes independent cases and gaps
    symmetric about their centre. The Hodges-Lehmann estimate is computed exactly from
    the distinct gaps and their counts, O(u^2) for u distinct gaps, which for whole-percent
    WPI is at most 201.

    References
    ----------
    Wilcoxon F. Individual comparisons by ranking methods. Biometrics Bulletin.
    1945;1(6):80-83.

    Pratt JW. Remarks on zeros and ties in the Wilcoxon signed rank procedures. Journal of
    the American Statistical Association. 1959;54(287):655-667.

    Hodges JL, Lehmann EL. Estimates of location based on rank tests. Annals of
    Mathematical Statistics. 1963;34(2):598-611.

    Hollander M, Wolfe DA, Chicken E. Nonparametric Statistical Methods. 3rd ed. Hoboken,
    NJ: Wiley; 2014 (chapter 3).
    """
    first = _sample(ime, "ime")
    second = _sample(treating, "treating")
    if first.shape != second.shape:
        raise ValueError(
            f"ime has {len(first)} ratings and treating {len(second)}; pass one pair per case"
        )
    if zero_method not in ("pratt", "wilcox", "zsplit"):
        raise ValueError(f"zero_method={zero_method!r}: use 'pratt', 'wilcox' or 'zsplit'")
    gaps = first - second
    test = stats.wilcoxon(gaps, zero_method=zero_method, alternative=alternative)
    return PairedGapResult(
        n_pairs=len(gaps),
        v_statistic=_positive_rank_sum(gaps, zero_method),
        p_value=float(test.pvalue),
        median_gap=float(np.median(gaps)),
        hodges_lehmann=_median_of_walsh_averages(gaps),
        share_ime_lower=float((gaps < 0).mean()),
        share_tied=float((gaps == 0).mean()),
        zero_method=zero_method,
        alternative=alternative,
    )


def _positive_rank_sum(gaps: np.ndarray, zero_method: str) -> float:
    """Signed-rank statistic V: ranks of |gap| summed over positive gaps."""
    if zero_method == "wilcox":
        gaps = gaps[gaps != 0]
    ranks = stats.rankdata(np.abs(gaps))
    positive = ranks[gaps > 0].sum()
    if zero_method == "zsplit":
        positive += ranks[gaps == 0].sum() / 2
    return float(positive)


def _median_of_walsh_averages(values: np.ndarray) -> float:
    """Median of (v_i + v_j)/2 over i <= j, from distinct values weighted by multiplicity."""
    distinct, counts = np.unique(values, return_counts=True)
    i, j = np.triu_indices(len(distinct))
    averages = (distinct[i] + distinct[j]) / 2
    # Pairs of copies: c(c + 1)/2 with i == j (a value with itself included), c_i c_j otherwise.
    multiplicity = np.where(i == j, counts[i] * (counts[i] + 1) // 2, counts[i] * counts[j])
    order = np.argsort(averages, kind="stable")
    averages = averages[order]
    cumulative = np.cumsum(multiplicity[order])
    total = int(cumulative[-1])
    # The k-th smallest (0-based) is the first average whose cumulative count exceeds k.
    lower = averages[np.searchsorted(cumulative, (total - 1) // 2, side="right")]
    upper = averages[np.searchsorted(cumulative, total // 2, side="right")]
    return float((lower + upper) / 2)


def _anderson_ksamp_null_sd(sizes: list[int]) -> float:
    """Null standard deviation of A2 (Scholz & Stephens 1987, eq. 4)."""
    k = len(sizes)
    n = sum(sizes)
    h_sum = sum(1 / size for size in sizes)
    harmonic = np.sum(1 / np.arange(1, n))
    # g = sum_{i=1}^{N-2} sum_{j=i+1}^{N-1} 1 / ((N - i) j)
    inverse_j = 1 / np.arange(1, n)
    tail_sums = np.cumsum(inverse_j[::-1])[::-1]  # tail_sums[m] = sum_{j=m+1}^{N-1} 1/j
    i = np.arange(1, n - 1)
    g = np.sum(tail_sums[i] / (n - i))
    a = (4 * g - 6) * (k - 1) + (10 - 6 * g) * h_sum
    b = (2 * g - 4) * k**2 + 8 * harmonic * k + (2 * g - 14 * harmonic - 4) * h_sum
    b += -8 * harmonic + 4 * g - 6
    c = (6 * harmonic + 2 * g - 2) * k**2 + (4 * harmonic - 4 * g + 6) * k
    c += (2 * harmonic - 6) * h_sum + 4 * harmonic
    d = (2 * harmonic + 6) * k**2 - 4 * harmonic * k
    variance = (a * n**3 + b * n**2 + c * n + d) / ((n - 1) * (n - 2) * (n - 3))
    return float(np.sqrt(variance))


def _sample(values: ArrayLike, name: str) -> np.ndarray:
    array = float_array(values, name, allow_nan=True)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-d sample, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} has missing values; drop them before comparing")
    return array
