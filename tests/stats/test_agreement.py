"""Tests for imestats.agreement against published agreement values (docs/methods.md, O13-O18)."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from imestats.agreement import (
    bland_altman,
    cohens_kappa,
    fleiss_kappa,
    icc_oneway_unbalanced,
)

# Shrout & Fleiss (1979) Table 2: 6 targets (rows) rated by 4 judges (columns).
SHROUT_FLEISS_RATINGS = np.array(
    [
        [9, 2, 5, 8],
        [6, 1, 3, 2],
        [8, 4, 6, 8],
        [7, 1, 2, 6],
        [10, 5, 6, 9],
        [6, 2, 4, 7],
    ],
    dtype=float,
)

# SAS PROC FREQ AGREE example, 3 x 3 table (statsmodels test_inter_rater.py, table10).
SAS_KAPPA_TABLE = np.array([[0, 4, 1], [0, 8, 0], [0, 1, 5]])

# Fleiss (1971): 30 patients, 6 psychiatrists each, 5 diagnoses (depression, personality
# disorder, schizophrenia, neurosis, other); counts aggregated from the rater matrix
# `diagnoses` in statsmodels test_inter_rater.py (aggregate_raters).
FLEISS_1971_COUNTS = np.array(
    [
        [0, 0, 0, 6, 0], [0, 3, 0, 0, 3], [0, 1, 4, 0, 1], [0, 0, 0, 0, 6], [0, 3, 0, 3, 0],
        [2, 0, 4, 0, 0], [0, 0, 4, 0, 2], [2, 0, 3, 1, 0], [2, 0, 0, 4, 0], [0, 0, 0, 0, 6],
        [1, 0, 0, 5, 0], [1, 1, 0, 4, 0], [0, 3, 3, 0, 0], [1, 0, 0, 5, 0], [0, 2, 0, 3, 1],
        [0, 0, 5, 0, 1], [3, 0, 0, 1, 2], [5, 1, 0, 0, 0], [0, 2, 0, 4, 0], [1, 0, 2, 0, 3],
        [0, 0, 0, 0, 6], [0, 1, 0, 5, 0], [0, 2, 0, 1, 3], [2, 0, 0, 4, 0], [1, 0, 0, 4, 1],
        [0, 5, 0, 1, 0], [4, 0, 0, 0, 2], [0, 2, 0, 4, 0], [1, 0, 5, 0, 0], [0, 0, 0, 0, 6],
    ]
)  # fmt: skip

# Wikipedia "Fleiss' kappa" worked example: 10 subjects, 14 raters, 5 categories.
WIKIPEDIA_FLEISS_COUNTS = np.array(
    [
        [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
    ]
)  # fmt: skip

# Bland & Altman (1986) Lancet, PEFR (l/min), first reading with each meter, 17 subjects.
WRIGHT_PEFR = [494, 395, 516, 434, 476, 557, 413, 442, 650, 433, 417, 656, 267, 478, 178, 423, 427]
MINI_WRIGHT_PEFR = [
    512,
    430,
    520,
    428,
    500,
    600,
    364,
    380,
    658,
    445,
    432,
    626,
    260,
    477,
    259,
    350,
    451,
]


# --- Cohen's kappa ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        # SAS output (statsmodels tests): kappa, ASE, 95% CI, ASE under H0, Z, two-sided p.
        (None, (0.4842, 0.1380, 0.2137, 0.7547, 0.1484, 3.2626, 0.0011)),
        ("linear", (0.4701, 0.1457, 0.1845, 0.7558, 0.1426, 3.2971, 0.0010)),
    ],
    ids=["unweighted", "linear-weighted"],
)
def test_cohens_kappa_against_sas_agree_example(weights, expected):
    result = cohens_kappa(SAS_KAPPA_TABLE, weights=weights)
    observed = (
        result.kappa,
        result.std_err,
        result.ci_low,
        result.ci_high,
        result.std_err_null,
        result.z,
        result.p_value,
    )
    assert observed == pytest.approx(expected, abs=5e-5)


def test_cohens_kappa_quadratic_against_r_irr_anxiety():
    # R irr: kappa2(anxiety[, 2:3], "squared") -> Kappa 0.2520325, z 1.437451, p 0.1505898
    # (statsmodels test_inter_rater.py). Raters 2 and 3 of irr's `anxiety`, cross-tabulated
    # over the levels they used (1, 2, 3, 4, 6).
    table = [[0, 0, 1, 0, 0], [4, 0, 1, 0, 0], [2, 3, 3, 0, 0], [0, 2, 0, 1, 1], [1, 0, 0, 1, 0]]
    result = cohens_kappa(table, weights="quadratic")
    assert result.kappa == pytest.approx(0.2520325, abs=5e-8)
    assert result.z == pytest.approx(1.437451, abs=5e-7)
    assert result.p_value == pytest.approx(0.1505898, abs=5e-8)


def test_cohens_kappa_interval_widens_with_level():
    narrow = cohens_kappa(SAS_KAPPA_TABLE, level=0.80)
    wide = cohens_kappa(SAS_KAPPA_TABLE, level=0.99)
    assert wide.ci_low < narrow.ci_low < narrow.kappa < narrow.ci_high < wide.ci_high


def test_cohens_kappa_rejects_non_square_table():
    with pytest.raises(ValueError, match="square"):
        cohens_kappa([[1, 2, 3], [4, 5, 6]])


# --- Fleiss' kappa ------------------------------------------------------------------------


def test_fleiss_kappa_against_r_irr_fleiss_1971_diagnoses():
    # O14: R irr kappam.fleiss(diagnoses): Kappa = 0.4302445, z = 17.65183.
    result = fleiss_kappa(FLEISS_1971_COUNTS)
    assert result.kappa == pytest.approx(0.4302445, abs=5e-8)
    assert result.z == pytest.approx(17.65183, abs=5e-6)
    assert (result.n_subjects, result.n_raters) == (30, 6)


def test_fleiss_kappa_against_wikipedia_example():
    # O15: Wikipedia "Fleiss' kappa" worked example, kappa = 0.210 (exact 0.209931).
    assert fleiss_kappa(WIKIPEDIA_FLEISS_COUNTS).kappa == pytest.approx(0.209931, abs=5e-7)


def test_fleiss_kappa_rejects_unequal_rater_counts():
    with pytest.raises(ValueError, match="same number"):
        fleiss_kappa([[2, 1], [1, 1]])


def test_fleiss_kappa_refuses_a_single_category():
    with pytest.raises(ValueError, match="one category"):
        fleiss_kappa([[3, 0], [3, 0]])


# --- Shrout-Fleiss ICC --------------------------------------------------------------------


# --- one-way ICC, unbalanced --------------------------------------------------------------


def test_icc_oneway_unbalanced_equals_icc11_when_balanced():
    # With every target rated k times n0 = k, so estimate, F test and interval are
    # Shrout-Fleiss ICC(1,1) (Stata: .1657418, CI -.1329323 to .7225601).
    targets = np.repeat(np.arange(6), 4)
    result = icc_oneway_unbalanced(SHROUT_FLEISS_RATINGS.ravel(), targets)
    assert result.n0 == 4.0
    assert (result.icc, result.ci_low, result.ci_high) == pytest.approx(
        (0.1657418, -0.13293232, 0.7225601), abs=5e-7
    )
    assert (result.df1, result.df2) == (5, 18)


def test_icc_oneway_n0_by_hand():
    # Targets rated 2, 3 and 5 times: N = 10, sum n_i^2 = 38, n0 = (10 - 38/10)/2 = 3.1.
    targets = ["a"] * 2 + ["b"] * 3 + ["c"] * 5
    ratings = [1, 2, 4, 5, 6, 7, 8, 8, 9, 10]
    assert icc_oneway_unbalanced(ratings, targets).n0 == pytest.approx(3.1, abs=1e-12)


def test_icc_oneway_unbalanced_against_mixedlm_variance_components():
    # Independent estimator: REML variance components of a random-intercept model
    # (statsmodels MixedLM). Simulated IME-like data: 800 cases rated by 1-5 examiners,
    # case SD 2 and rating error variance 6, so the true ICC is 4/10 = 0.4. The ANOVA and
    # REML estimators differ by far less than their sampling error (about 0.02 here).
    rng = np.random.default_rng(2024)
    raters_per_case = rng.integers(1, 6, size=800)
    case = np.repeat(np.arange(800), raters_per_case)
    wpi = 10 + rng.normal(0, 2, size=800)[case] + rng.normal(0, np.sqrt(6), size=len(case))
    result = icc_oneway_unbalanced(wpi, case)

    frame = pd.DataFrame({"wpi": wpi, "case": case})
    fit = smf.mixedlm("wpi ~ 1", frame, groups=frame["case"]).fit(reml=True)
    case_variance = float(fit.cov_re.iloc[0, 0])
    assert fit.converged
    assert result.icc == pytest.approx(case_variance / (case_variance + fit.scale), abs=0.005)
    assert result.within_targets_ms == pytest.approx(fit.scale, rel=0.01)
    assert result.ci_low < 0.4 < result.ci_high


def test_icc_oneway_needs_a_repeated_target():
    with pytest.raises(ValueError, match="two or more ratings"):
        icc_oneway_unbalanced([1.0, 2.0, 3.0], ["a", "b", "c"])


# --- Krippendorff's alpha -----------------------------------------------------------------


# --- Bland-Altman -------------------------------------------------------------------------


def test_bland_altman_against_1986_lancet_pefr():
    # O18: Bland & Altman (1986): mean difference -2.1, SD 38.8, limits (+/- 2 SD) -79.7 to
    # 75.5; 95% CI of the lower limit about -114.3 to -45.1 (the paper rounds s and t, hence
    # the looser tolerance on that interval).
    result = bland_altman(WRIGHT_PEFR, MINI_WRIGHT_PEFR, multiplier=2)
    assert result.n == 17
    assert result.bias == pytest.approx(-2.1, abs=0.05)
    assert result.sd == pytest.approx(38.8, abs=0.05)
    assert (result.loa_low, result.loa_high) == pytest.approx((-79.7, 75.5), abs=0.1)
    assert (result.loa_low_ci_low, result.loa_low_ci_high) == pytest.approx(
        (-114.3, -45.1), abs=0.2
    )


def test_bland_altman_exact_values_and_bias_interval():
    # Exact PEFR values (docs/methods.md, O18): bias -2.1176, SD 38.7651, 1.96 SD limits -78.10 to
    # 73.86. Bias interval by hand: -2.1176 -/+ t(0.975, 16) * 38.7651 / sqrt(17)
    # = -2.1176 -/+ 2.119905 * 9.40190 = (-22.0488, 17.8135).
    result = bland_altman(WRIGHT_PEFR, MINI_WRIGHT_PEFR)
    assert (result.bias, result.sd) == pytest.approx((-2.1176, 38.7651), abs=5e-5)
    assert (result.loa_low, result.loa_high) == pytest.approx((-78.10, 73.86), abs=5e-3)
    assert (result.bias_ci_low, result.bias_ci_high) == pytest.approx((-22.0488, 17.8135), abs=5e-4)
    # Both limits share one half-width, t * sqrt(3 s^2 / n).
    assert result.loa_high_ci_high - result.loa_high == pytest.approx(
        result.loa_low - result.loa_low_ci_low, rel=1e-12
    )


def test_bland_altman_rejects_unpaired_input():
    with pytest.raises(ValueError, match="paired"):
        bland_altman([1.0, 2.0, 3.0], [1.0, 2.0])
