"""Tests for imestats.distributions against published examples (docs/methods.md, O19-O22)."""

import itertools

import numpy as np
import pytest
from scipy import stats

from imestats.distributions import (
    anderson_ksamp,
    kruskal,
    ks_2samp,
    mann_whitney,
    paired_gap,
    zero_share_test,
)

# R ?wilcox.test two-sample example (permeability constants): x and y.
R_WILCOX_X = [0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46]
R_WILCOX_Y = [1.15, 0.88, 0.90, 0.74, 1.21]

# Scholz & Stephens (1987), smoothness of paper from four laboratories.
SCHOLZ_STEPHENS_PAPER = [
    [38.7, 41.5, 43.8, 44.5, 45.5, 46.0, 47.7, 58.0],
    [39.2, 39.3, 39.7, 41.4, 41.8, 42.9, 43.3, 45.8],
    [34.0, 35.0, 39.0, 40.0, 43.0, 43.0, 44.0, 45.0],
    [34.0, 34.8, 34.8, 35.4, 37.2, 37.8, 41.2, 42.8],
]

# Hollander, Wolfe & Chicken Example 3.1: Hamilton depression scale before (x, first visit)
# and after (y, second visit) tranquilliser, 9 patients.
HAMILTON_FIRST = np.array([1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30])
HAMILTON_SECOND = np.array([0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29])


# --- Mann-Whitney -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alternative", "p_value"),
    # O22: R wilcox.test(x, y, alternative = "greater"): W = 35, p-value = 0.1272;
    # two-sided p = 0.2544 (exact, no ties).
    [("greater", 0.1272), ("two-sided", 0.2544)],
    ids=["greater", "two-sided"],
)
def test_mann_whitney_against_r_wilcox_test_example(alternative, p_value):
    result = mann_whitney(R_WILCOX_X, R_WILCOX_Y, alternative=alternative)
    assert result.u_statistic == 35
    assert result.p_value == pytest.approx(p_value, abs=5e-5)
    assert (result.n_x, result.n_y) == (10, 5)


def test_mann_whitney_effect_sizes_against_pair_counting():
    # Kerby's simple difference formula, counted over all pairs (ties count half):
    # r = P(x > y) - P(x < y); common language = P(x > y) + P(x = y)/2. Integer ratings with
    # ties, as WPI has.
    rng = np.random.default_rng(12)
    x = rng.integers(0, 8, size=40)
    y = rng.integers(0, 6, size=25)
    wins = sum(a > b for a, b in itertools.product(x, y))
    losses = sum(a < b for a, b in itertools.product(x, y))
    pairs = len(x) * len(y)
    result = mann_whitney(x, y)
    assert result.rank_biserial == pytest.approx((wins - losses) / pairs, abs=1e-12)
    assert result.common_language == pytest.approx((wins + (pairs - wins - losses) / 2) / pairs)


def test_mann_whitney_rank_biserial_of_r_example():
    # O22 by formula: r = 2 * 35 / (10 * 5) - 1 = 0.4.
    assert mann_whitney(R_WILCOX_X, R_WILCOX_Y).rank_biserial == pytest.approx(0.4, abs=1e-12)


# --- Kolmogorov-Smirnov -------------------------------------------------------------------


def test_ks_2samp_on_r_wilcox_example():
    # docs/methods.md, O22 (computed): D = 0.6, exact p = 0.16583 on the R example data.
    result = ks_2samp(R_WILCOX_X, R_WILCOX_Y)
    assert result.statistic == pytest.approx(0.6, abs=1e-12)
    assert result.p_value == pytest.approx(0.16583, abs=5e-6)


# --- Anderson-Darling k-sample ------------------------------------------------------------


@pytest.mark.parametrize(
    ("variant", "statistic", "a2", "p_value"),
    [
        # O19: kSamples (Scholz & Stephens data): A2akN 8.3926 ('midrank'), A2kN 8.3559
        # ('right'); scipy's standardised T 4.479781 / 4.449262, p 0.002225 / 0.002312.
        ("midrank", 4.479781, 8.3926, 0.002225),
        ("right", 4.449262, 8.3559, 0.002312),
    ],
    ids=["midrank", "right"],
)
def test_anderson_ksamp_against_scholz_stephens(variant, statistic, a2, p_value):
    result = anderson_ksamp(SCHOLZ_STEPHENS_PAPER, variant=variant)
    assert result.statistic == pytest.approx(statistic, abs=5e-7)
    assert result.a2 == pytest.approx(a2, abs=5e-5)
    assert result.p_value == pytest.approx(p_value, abs=5e-7)
    assert result.p_value_bound is None
    assert result.variant == variant


def test_anderson_ksamp_sigma_against_kSamples():
    # O19: kSamples prints sigma = 1.2038 for four samples of 8 (Scholz & Stephens eq. 4).
    assert anderson_ksamp(SCHOLZ_STEPHENS_PAPER).sigma == pytest.approx(1.2038, abs=5e-5)


@pytest.mark.parametrize(
    ("samples", "p_value", "bound"),
    [
        # Completely separated samples: the interpolated p-value is floored at 0.001.
        ([[1.0, 2, 3, 4, 5, 6, 7, 8], [11.0, 12, 13, 14, 15, 16, 17, 18]], 0.001, "floored"),
        # Identical samples: capped at 0.25.
        ([[1.0, 2, 3, 4, 5, 6], [1.0, 2, 3, 4, 5, 6]], 0.25, "capped"),
    ],
    ids=["floored", "capped"],
)
def test_anderson_ksamp_reports_clipped_p_value(samples, p_value, bound):
    result = anderson_ksamp(samples)
    assert result.p_value == p_value
    assert result.p_value_bound == bound


def test_anderson_ksamp_permutation_p_value_is_exact_for_small_samples():
    # Two samples of 6 have C(12, 6) = 924 splits; with more resamples than that scipy
    # enumerates them all. Only the two complete separations reach the observed statistic,
    # so p = 2 / 924 = 0.00216 (counted by hand); the interpolated table gives 0.00187.
    samples = [[1.0, 2, 3, 4, 5, 6], [11.0, 12, 13, 14, 15, 16]]
    result = anderson_ksamp(samples, permutations=10_000, seed=1)
    assert result.p_value == pytest.approx(2 / 924, rel=1e-12)
    assert result.p_value_bound is None


# --- Kruskal-Wallis -----------------------------------------------------------------------


def test_kruskal_against_nag_g08af_example():
    # O20: NAG Library g08af example, 5 groups: H = 10.537, df 4, p = 0.032.
    groups = [
        [23, 27, 26, 19, 30],
        [29, 25, 33, 36, 32, 28, 30, 31],
        [38, 31, 28, 35, 33, 36],
        [30, 27, 28, 22, 33, 34, 34, 32],
        [31, 33, 31, 28, 30, 24, 29, 30],
    ]
    result = kruskal(groups)
    assert result.statistic == pytest.approx(10.537, abs=5e-4)
    assert result.df == 4
    assert result.p_value == pytest.approx(0.032, abs=5e-4)
    assert result.n_total == 35


# --- share of zero ratings ----------------------------------------------------------------


def test_zero_share_fisher_exact_against_tea_tasting():
    # Fisher (1935) lady tasting tea, table [[3, 1], [1, 3]]: two-sided p = 0.4857 (R
    # fisher.test). Expected counts of 2 force the exact test.
    result = zero_share_test([0, 0, 0, 7], [0, 3, 5, 12])
    assert result.method == "fisher exact"
    assert result.z is None
    assert result.p_value == pytest.approx(0.4857, abs=5e-5)
    assert (result.share_x, result.share_y, result.difference) == (0.75, 0.25, 0.5)


def test_zero_share_z_test_equals_pearson_chi_square():
    # Independent computation: z^2 of the pooled two-proportion test is Pearson's chi-square
    # without continuity correction (scipy chi2_contingency), with the same p-value.
    rng = np.random.default_rng(3)
    x = rng.poisson(1.0, size=200)
    y = rng.poisson(1.3, size=300)
    result = zero_share_test(x, y)
    table = [[(x == 0).sum(), (x > 0).sum()], [(y == 0).sum(), (y > 0).sum()]]
    chi_square = stats.chi2_contingency(table, correction=False)
    assert result.method == "two-proportion z"
    assert result.z**2 == pytest.approx(chi_square.statistic, rel=1e-10)
    assert result.p_value == pytest.approx(chi_square.pvalue, rel=1e-8)
    assert result.zeros_x + result.zeros_y == int((x == 0).sum() + (y == 0).sum())


# --- paired gap IME - treating ------------------------------------------------------------


def test_paired_gap_against_hollander_wolfe_example_3_1():
    # O21: R wilcox.test(x, y, paired = TRUE, alternative = "greater"): V = 40,
    # p-value = 0.01953 (exact: 10/512). Hodges-Lehmann estimate 0.46 (Hollander & Wolfe,
    # recalled; matches the brute-force median of the 45 Walsh averages).
    result = paired_gap(HAMILTON_FIRST, HAMILTON_SECOND, alternative="greater")
    assert result.v_statistic == 40
    assert result.p_value == pytest.approx(10 / 512, rel=1e-12)
    assert result.hodges_lehmann == pytest.approx(0.46, abs=1e-12)
    assert result.median_gap == pytest.approx(0.49, abs=1e-12)
    assert result.share_ime_lower == pytest.approx(2 / 9)
    assert result.n_pairs == 9


@pytest.mark.parametrize(
    "zero_method", ["pratt", "wilcox", "zsplit"], ids=["pratt", "wilcox", "zsplit"]
)
def test_paired_gap_v_matches_scipy_one_sided_statistic(zero_method):
    # scipy's one-sided statistic is the positive-rank sum for each zero method; WPI-like
    # integer gaps with many zeros and ties.
    rng = np.random.default_rng(8)
    ime = rng.integers(0, 15, size=60)
    treating = ime + rng.integers(-2, 5, size=60)
    result = paired_gap(ime, treating, zero_method=zero_method)
    reference = stats.wilcoxon(ime - treating, zero_method=zero_method, alternative="greater")
    assert result.v_statistic == reference.statistic
    assert result.share_tied == pytest.approx(np.mean(ime == treating))


def test_paired_gap_pratt_p_value_against_scipy_asymptotic():
    # More than 13 pairs with zeros: scipy's 'auto' uses the normal approximation with
    # Pratt's zero and tie corrections; the result must be that p-value.
    rng = np.random.default_rng(21)
    ime = rng.integers(0, 20, size=80)
    treating = ime + rng.integers(-1, 4, size=80)
    gaps = ime - treating
    reference = stats.wilcoxon(gaps, zero_method="pratt", method="asymptotic")
    assert paired_gap(ime, treating).p_value == pytest.approx(reference.pvalue, rel=1e-12)


def test_hodges_lehmann_with_ties_against_brute_force_walsh_averages():
    # The weighted computation over distinct gaps must equal the plain median over all
    # n(n + 1)/2 Walsh averages, including even counts and heavy ties.
    rng = np.random.default_rng(4)
    for n in (7, 8, 60):
        ime = rng.integers(0, 12, size=n)
        treating = rng.integers(0, 12, size=n)
        gaps = ime - treating
        walsh = [(gaps[i] + gaps[j]) / 2 for i in range(n) for j in range(i, n)]
        assert paired_gap(ime, treating).hodges_lehmann == np.median(walsh)


def test_paired_gap_rejects_unpaired_input():
    with pytest.raises(ValueError, match="one pair per case"):
        paired_gap([1, 2, 3], [1, 2])
