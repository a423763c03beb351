"""Median odds ratio, latent ICC and examiner variance (METHODS.md O23, O24)."""

import numpy as np
import pytest
from statsmodels.stats.meta_analysis import combine_effects

from imestats.variance import (
    examiner_variance_dl,
    examiner_variance_vb,
    latent_icc,
    median_odds_ratio,
)

SURGICAL_N = np.array([47, 148, 119, 810, 211, 196, 148, 215, 207, 97, 256, 360])
SURGICAL_R = np.array([0, 18, 8, 46, 8, 13, 9, 31, 14, 8, 29, 24])
THETA0 = 208 / 2814
SURGICAL_E = SURGICAL_N * THETA0
SURGICAL_V = SURGICAL_E * (1 - THETA0)

# METHODS.md 6.2 (O23; Larsen & Merlo 2005 formula; 1.3 -> "about 3" in GLMMmisc docs).
MOR = [(1.3, 2.9671), (0.1, 1.3521), (0.5, 1.9630), (1.0, 2.5957)]


@pytest.mark.parametrize(("sigma2", "expected"), MOR, ids=[f"mor_sigma2_{s}" for s, _ in MOR])
def test_median_odds_ratio_against_o23(sigma2, expected):
    assert median_odds_ratio(sigma2) == pytest.approx(expected, abs=5e-5)


def test_median_odds_ratio_vectorised_and_one_without_variance():
    assert median_odds_ratio(np.array([0.0, 1.3])) == pytest.approx([1.0, 2.9671], abs=5e-5)


def test_latent_icc_for_sigma2_one_against_methods_6_2():
    # 1 / (1 + pi^2/3) = 0.2331 (METHODS.md 6.2).
    assert latent_icc(1.0) == pytest.approx(0.2331, abs=5e-5)


def test_examiner_variance_vb_against_surgical_o24():
    # METHODS.md 2.2 (O24): fit_vb on the 2,814 binary rows gives sigma_u = 0.409.
    fit = examiner_variance_vb(list("ABCDEFGHIJKL"), SURGICAL_N, SURGICAL_R)
    assert fit.sigma == pytest.approx(0.409, abs=5e-4)
    assert fit.method == "vb" and fit.n_units == 12
    assert not fit.at_boundary


def test_examiner_variance_vb_on_split_rows_equals_one_row_per_hospital():
    # The same exams split over two rows per hospital: identical expanded data.
    units = np.repeat(list("ABCDEFGHIJKL"), 2)
    n = np.column_stack([SURGICAL_N // 2, SURGICAL_N - SURGICAL_N // 2]).ravel()
    r = np.column_stack([SURGICAL_R // 2, SURGICAL_R - SURGICAL_R // 2]).ravel()
    fit = examiner_variance_vb(units, n, r)
    assert fit.sigma == pytest.approx(0.409, abs=5e-4)


def test_examiner_variance_vb_is_net_of_case_mix():
    # 30 examiners with no examiner effect but very different shares of high-risk cases
    # (risk 0.1 vs 0.5): raw rates differ, the case-mix-adjusted variance is near 0.
    rng = np.random.default_rng(2024)
    share_high = np.linspace(0.0, 1.0, 30)
    n_high = np.round(100 * share_high).astype(int)
    n = np.column_stack([100 - n_high, n_high]).ravel()
    risk = np.tile([0.1, 0.5], 30)
    y = rng.binomial(n, risk)
    units = np.repeat(np.arange(30), 2)
    unadjusted = examiner_variance_vb(units, n, y)
    adjusted = examiner_variance_vb(units, n, y, case_mix_logit=np.log(risk / (1 - risk)))
    assert unadjusted.sigma > 0.4
    assert adjusted.sigma < 0.2


def test_examiner_variance_vb_refuses_data_too_large_for_it():
    with pytest.raises(ValueError, match="examiner_variance_dl"):
        examiner_variance_vb(list("ABCDEFGHIJKL"), SURGICAL_N, SURGICAL_R, max_exams=1000)


def test_examiner_variance_dl_equals_statsmodels_combine_effects_on_peto_log_odds():
    fit = examiner_variance_dl(SURGICAL_R, SURGICAL_E, SURGICAL_V)
    reference = combine_effects(
        (SURGICAL_R - SURGICAL_E) / SURGICAL_V, 1 / SURGICAL_V, method_re="dl"
    ).tau2
    assert fit.sigma2 == pytest.approx(reference, abs=1e-12)
    assert fit.method == "dl" and fit.n_units == 12


def test_examiner_variance_dl_agrees_with_vb_on_surgical():
    # Cross-check asked for by METHODS.md pitfall 8: DL 0.1660 vs fit_vb 0.1672.
    dl = examiner_variance_dl(SURGICAL_R, SURGICAL_E, SURGICAL_V)
    assert dl.sigma2 == pytest.approx(0.409**2, abs=0.01)


def test_examiner_variance_dl_is_at_boundary_without_examiner_variation():
    fit = examiner_variance_dl([10, 20, 15], [10.0, 20.0, 15.0], [8.0, 16.0, 12.0])
    assert fit.sigma2 == 0.0
    assert fit.at_boundary
