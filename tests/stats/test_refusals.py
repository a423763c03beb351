"""Statistics that refuse bad input (issue 12, item 5).

Every public function of imestats either raises ValueError naming the bad argument or returns
its documented NaN. One test per case; `match` names the argument.
"""

import numpy as np
import pandas as pd
import pytest

from imestats import (
    agreement,
    casemix,
    concentration,
    cusum,
    distributions,
    funnel,
    multiplicity,
    proportions,
    shrinkage,
    survival,
)

NAN = float("nan")


# --- the cases named in the issue ---------------------------------------------------------


def test_score_units_refuses_negative_observed():
    with pytest.raises(ValueError, match="observed"):
        funnel.score_units([-5, 3, 4, 5], [3.0, 3.0, 4.0, 5.0], [2.0, 2.0, 3.0, 3.0])


def test_gamma_poisson_shrinkage_refuses_nan_observed():
    # Used to give a finite alpha (29.04) as if the unit were not there.
    with pytest.raises(ValueError, match="observed"):
        shrinkage.gamma_poisson_shrinkage([1, NAN, 3], [1.0, 2.0, 3.0])


def test_kaplan_meier_refuses_negative_durations():
    with pytest.raises(ValueError, match="durations"):
        survival.kaplan_meier([-1.0, 2.0, 3.0], [1, 1, 0])


def test_logrank_from_counts_refuses_empty_input():
    with pytest.raises(ValueError, match="group, time, n_event and n_censored are empty"):
        survival.logrank_from_counts([], [], [], [])


def test_fleiss_kappa_refuses_empty_input():
    with pytest.raises(ValueError, match="counts has no subjects"):
        agreement.fleiss_kappa(np.zeros((0, 3)))


def test_cohens_kappa_refuses_empty_input():
    with pytest.raises(ValueError, match="table has no subjects"):
        agreement.cohens_kappa(np.zeros((0, 0)))


# --- agreement ------------------------------------------------------------------------------


def test_cohens_kappa_refuses_a_table_of_zeros():
    with pytest.raises(ValueError, match="table has no subjects"):
        agreement.cohens_kappa([[0, 0], [0, 0]])


def test_cohens_kappa_refuses_all_subjects_in_one_category():
    # Chance agreement 1: kappa is 0/0 (it used to come back NaN with warnings).
    with pytest.raises(ValueError, match="table has every subject in one category"):
        agreement.cohens_kappa([[5, 0], [0, 0]])


def test_cohens_kappa_refuses_missing_counts():
    with pytest.raises(ValueError, match="table"):
        agreement.cohens_kappa([[5, NAN], [1, 4]])


def test_cohens_kappa_refuses_level_outside_zero_one():
    with pytest.raises(ValueError, match="level"):
        agreement.cohens_kappa([[5, 1], [1, 4]], level=0.0)


def test_fleiss_kappa_refuses_fractional_rater_counts():
    with pytest.raises(ValueError, match="counts must hold non-negative whole numbers"):
        agreement.fleiss_kappa([[1.5, 1.5], [2, 1]])


def test_icc_oneway_unbalanced_refuses_mismatched_lengths():
    with pytest.raises(ValueError, match="targets"):
        agreement.icc_oneway_unbalanced([1.0, 2.0, 3.0], [0, 0])


def test_bland_altman_refuses_non_positive_multiplier():
    with pytest.raises(ValueError, match="multiplier"):
        agreement.bland_altman([1.0, 2.0, 3.0], [1.0, 2.5, 2.0], multiplier=0.0)


def test_bland_altman_refuses_missing_values():
    with pytest.raises(ValueError, match="x and y"):
        agreement.bland_altman([1.0, NAN, 3.0], [1.0, 2.5, 2.0])


# --- casemix --------------------------------------------------------------------------------


def _small_model() -> casemix.CaseMixModel:
    patterns = pd.DataFrame({"part": ["back", "knee"], "n": [200, 150], "y": [40, 60]})
    return casemix.fit_casemix(patterns, ["part"])


def test_fit_casemix_refuses_events_above_trials():
    patterns = pd.DataFrame({"part": ["back", "knee"], "n": [200, 150], "y": [40, 160]})
    with pytest.raises(ValueError, match="y <= n"):
        casemix.fit_casemix(patterns, ["part"])


def test_fit_casemix_refuses_patterns_without_trials():
    patterns = pd.DataFrame({"part": ["back", "knee"], "n": [0, 0], "y": [0, 0]})
    with pytest.raises(ValueError, match="patterns_df has no pattern"):
        casemix.fit_casemix(patterns, ["part"])


def test_fit_casemix_refuses_negative_min_level_trials():
    patterns = pd.DataFrame({"part": ["back", "knee"], "n": [200, 150], "y": [40, 60]})
    with pytest.raises(ValueError, match="min_level_trials"):
        casemix.fit_casemix(patterns, ["part"], min_level_trials=-1)


# --- concentration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "counts", [[], [3, -1], [1.0, NAN]], ids=["empty", "negative", "nan"]
)
def test_concentration_names_counts_when_refusing(counts):
    with pytest.raises(ValueError, match="counts"):
        concentration.concentration(counts)


def test_concentration_by_group_refuses_rows_without_a_group():
    frame = pd.DataFrame({"examiner": ["a", "a", None], "n": [3, 2, 5]})
    with pytest.raises(ValueError, match="by columns"):
        concentration.concentration_by_group(frame, ["examiner"], "n")


# --- cusum ----------------------------------------------------------------------------------


def test_cusum_weights_refuses_missing_odds_ratio():
    with pytest.raises(ValueError, match="odds_ratio"):
        cusum.cusum_weights([0, 1], [0.2, 0.3], odds_ratio=NAN)


def test_cusum_weights_refuses_missing_outcome():
    with pytest.raises(ValueError, match="y must be 0 or 1"):
        cusum.cusum_weights([0, NAN], [0.2, 0.3])


def test_baseline_log_odds_ratio_refuses_fractional_baseline_end():
    with pytest.raises(ValueError, match="baseline_end"):
        cusum.baseline_log_odds_ratio([0, 1, 0, 1], [0.2, 0.3, 0.2, 0.3], 1.5)


@pytest.mark.parametrize(
    "unit", [[0, -1], [0, 0.5], [0, 2]], ids=["negative", "fraction", "too_big"]
)
def test_baseline_log_odds_ratios_refuses_bad_unit_index(unit):
    with pytest.raises(ValueError, match="unit must hold whole numbers"):
        cusum.baseline_log_odds_ratios([0, 1], [0.2, 0.3], unit, 2)


def test_recalibrate_risks_refuses_risks_outside_zero_one():
    with pytest.raises(ValueError, match="risks p"):
        cusum.recalibrate_risks([0.2, 1.0], 0.5)


def test_recalibrate_risks_refuses_missing_log_odds_ratio():
    with pytest.raises(ValueError, match="log_odds_ratio"):
        cusum.recalibrate_risks([0.2, 0.4], NAN)


def test_risk_adjusted_cusum_of_no_cases_is_an_empty_chart():
    chart = cusum.risk_adjusted_cusum([], [], threshold=4.5)
    assert chart.path.size == 0 and chart.max_statistic == 0.0 and chart.first_signal is None


# --- distributions --------------------------------------------------------------------------


def test_mann_whitney_refuses_empty_sample():
    with pytest.raises(ValueError, match="x must be a non-empty"):
        distributions.mann_whitney([], [1.0, 2.0])


def test_anderson_ksamp_refuses_fewer_than_four_observations():
    # Used to fail with an IndexError in the null SD.
    with pytest.raises(ValueError, match="samples have 2 observations"):
        distributions.anderson_ksamp([[1.0], [2.0]])


def test_anderson_ksamp_refuses_zero_permutations():
    with pytest.raises(ValueError, match="permutations"):
        distributions.anderson_ksamp([[1.0, 2.0], [2.0, 3.0]], permutations=0)


def test_zero_share_test_refuses_missing_min_expected():
    with pytest.raises(ValueError, match="min_expected"):
        distributions.zero_share_test([0.0, 1.0], [1.0, 2.0], min_expected=NAN)


def test_kruskal_of_identical_values_is_documented_nan():
    with np.errstate(all="ignore"):
        result = distributions.kruskal([[1.0, 1.0], [1.0, 1.0]])
    assert np.isnan(result.statistic) and np.isnan(result.p_value)


def test_paired_gap_refuses_mismatched_lengths():
    with pytest.raises(ValueError, match="one pair per case"):
        distributions.paired_gap([1.0, 2.0, 3.0], [1.0, 2.0])


# --- funnel ---------------------------------------------------------------------------------


def test_score_units_refuses_missing_expected():
    with pytest.raises(ValueError, match="expected"):
        funnel.score_units([5, 3, 4, 5], [3.0, NAN, 4.0, 5.0], [2.0, 2.0, 3.0, 3.0])


def test_score_units_refuses_negative_variance():
    with pytest.raises(ValueError, match="variance"):
        funnel.score_units([5, 3, 4, 5], [3.0, 3.0, 4.0, 5.0], [2.0, -2.0, 3.0, 3.0])


def test_score_units_refuses_mismatched_lengths():
    with pytest.raises(ValueError, match="observed, expected, variance"):
        funnel.score_units([5, 3, 4], [3.0, 3.0, 4.0, 5.0], [2.0, 2.0, 3.0, 3.0])


def test_score_units_refuses_empty_input():
    with pytest.raises(ValueError, match="observed is empty"):
        funnel.score_units([], [], [])


def test_score_units_refuses_unknown_adjustment_before_computing():
    with pytest.raises(ValueError, match="adjustment"):
        funnel.score_units([], [], [], adjustment="both")


def test_exact_binomial_quantile_refuses_probability_outside_zero_one():
    with pytest.raises(ValueError, match="prob"):
        funnel.exact_binomial_quantile(1.0, [10, 20], 0.2)


def test_exact_binomial_quantile_refuses_fractional_n():
    # binom.ppf returns NaN for a fractional n; the limit looked like an empty unit.
    with pytest.raises(ValueError, match="n must hold non-negative whole numbers"):
        funnel.exact_binomial_quantile(0.025, [10.5, 20], 0.2)


def test_exact_binomial_limits_refuses_level_outside_zero_one():
    with pytest.raises(ValueError, match="level"):
        funnel.exact_binomial_limits([10, 20], 0.2, level=95)


def test_exact_binomial_limits_of_an_empty_unit_is_documented_nan():
    limits = funnel.exact_binomial_limits([0, 20], 0.2)
    assert np.isnan(limits.lower[0]) and np.isnan(limits.upper[0])
    assert np.isfinite(limits.lower[1])


def test_exact_poisson_ratio_limits_refuses_missing_expected():
    with pytest.raises(ValueError, match="expected"):
        funnel.exact_poisson_ratio_limits([NAN, 2.0])


def test_binomial_standard_error_refuses_negative_n():
    # Used to come back NaN, as for an empty unit.
    with pytest.raises(ValueError, match="n must hold"):
        funnel.binomial_standard_error([-10, 20], 0.2)


def test_binomial_standard_error_refuses_theta0_outside_zero_one():
    with pytest.raises(ValueError, match="theta0"):
        funnel.binomial_standard_error([10, 20], 1.2)


def test_normal_limits_refuse_negative_standard_error():
    with pytest.raises(ValueError, match="standard_error"):
        funnel.normal_limits(0.2, [0.1, -0.1])


def test_normal_limits_refuse_missing_target():
    with pytest.raises(ValueError, match="target"):
        funnel.normal_limits(NAN, [0.1, 0.1])


def test_normal_limits_of_a_missing_standard_error_are_nan():
    limits = funnel.normal_limits(0.2, funnel.binomial_standard_error([0, 25], 0.2))
    assert np.isnan(limits.lower[0]) and np.isfinite(limits.lower[1])


def test_tau2_additive_limits_refuse_missing_tau2():
    with pytest.raises(ValueError, match="tau2"):
        funnel.tau2_additive_limits(1.0, [0.1, 0.2], NAN)


def test_clip_limits_refuses_low_above_high():
    limits = funnel.normal_limits(0.2, [0.1, 0.1])
    with pytest.raises(ValueError, match="low and high"):
        funnel.clip_limits(limits, 1.0, 0.0)


def test_proportion_zscores_refuse_events_above_trials():
    with pytest.raises(ValueError, match="r must not exceed n"):
        funnel.proportion_zscores([3, 30], [10, 20], 0.2)


def test_oe_zscores_refuse_negative_observed():
    with pytest.raises(ValueError, match="observed"):
        funnel.oe_zscores([-3, 3], [2.0, 2.0], [1.5, 1.5])


def test_oe_zscores_refuse_mismatched_lengths():
    with pytest.raises(ValueError, match="observed, expected, variance"):
        funnel.oe_zscores([3, 3, 1], [2.0, 2.0], [1.5, 1.5])


def test_dispersion_test_refuses_fractional_df():
    with pytest.raises(ValueError, match="df"):
        funnel.dispersion_test([1.0, -1.0, 0.5], df=1.5)


def test_dersimonian_laird_tau2_refuses_mismatched_lengths():
    # Used to fail with an IndexError from the boolean mask.
    with pytest.raises(ValueError, match="z, within_variance"):
        funnel.dersimonian_laird_tau2([1.0, -1.0, 0.5], [0.1, 0.1])


def test_dersimonian_laird_tau2_refuses_negative_variance():
    with pytest.raises(ValueError, match="within_variance"):
        funnel.dersimonian_laird_tau2([1.0, -1.0, 0.5], [0.1, -0.1, 0.1])


def test_overdispersion_phi_refuses_empty_input():
    with pytest.raises(ValueError, match="z has no finite z-scores"):
        funnel.overdispersion_phi([])


# --- multiplicity ---------------------------------------------------------------------------


def test_bh_qvalues_refuses_infinite_p_value():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        multiplicity.bh_qvalues([0.01, np.inf])


def test_flag_units_refuses_fdr_outside_zero_one():
    with pytest.raises(ValueError, match="q must be strictly between 0 and 1"):
        multiplicity.flag_units([0.01, 0.2], [50, 50], q=5)


def test_flag_units_refuses_negative_volumes():
    with pytest.raises(ValueError, match="volumes"):
        multiplicity.flag_units([0.01, 0.2], [-50, 50])


def test_flag_units_refuses_missing_volumes():
    with pytest.raises(ValueError, match="volumes"):
        multiplicity.flag_units([0.01, 0.2], [NAN, 50])


def test_flag_units_refuses_qvalues_above_one():
    with pytest.raises(ValueError, match="qvalues"):
        multiplicity.flag_units([0.01, 2.0], [50, 50])


# --- proportions ----------------------------------------------------------------------------


def test_wilson_interval_refuses_missing_events():
    # Used to pass the check (NaN < 0 is False) and come back NaN like an empty unit.
    with pytest.raises(ValueError, match="k has 1 missing"):
        proportions.wilson_interval([NAN, 3], [10, 10])


def test_wilson_interval_refuses_mismatched_lengths():
    with pytest.raises(ValueError, match="k, n"):
        proportions.wilson_interval([1, 3, 4], [10, 10])


def test_wilson_interval_refuses_level_outside_zero_one():
    with pytest.raises(ValueError, match="level"):
        proportions.wilson_interval(3, 10, level=0.0)


def test_garwood_interval_refuses_missing_observed():
    with pytest.raises(ValueError, match="observed"):
        proportions.garwood_interval([NAN, 3])


def test_oe_ratio_interval_refuses_missing_expected():
    with pytest.raises(ValueError, match="expected"):
        proportions.oe_ratio_interval([2, 3], [NAN, 2.0])


def test_oe_ratio_interval_refuses_mismatched_lengths():
    with pytest.raises(ValueError, match="observed, expected"):
        proportions.oe_ratio_interval([2, 3, 4], [1.0, 2.0])


# --- rates ----------------------------------------------------------------------------------


# --- shrinkage ------------------------------------------------------------------------------


def test_gamma_poisson_shrinkage_refuses_missing_expected():
    with pytest.raises(ValueError, match="expected"):
        shrinkage.gamma_poisson_shrinkage([1, 2, 3], [1.0, NAN, 3.0])


def test_gamma_poisson_shrinkage_refuses_fractional_observed():
    with pytest.raises(ValueError, match="observed must hold non-negative whole numbers"):
        shrinkage.gamma_poisson_shrinkage([1, 2.5, 3], [1.0, 2.0, 3.0])


def test_gamma_poisson_shrinkage_refuses_mismatched_lengths():
    with pytest.raises(ValueError, match="observed, expected"):
        shrinkage.gamma_poisson_shrinkage([1, 2, 3], [1.0, 2.0])


def test_gamma_poisson_shrinkage_refuses_a_single_unit():
    with pytest.raises(ValueError, match="observed and expected have 1 units"):
        shrinkage.gamma_poisson_shrinkage([1], [1.0])


# --- survival -------------------------------------------------------------------------------


def test_kaplan_meier_refuses_empty_input():
    with pytest.raises(ValueError, match="durations is empty"):
        survival.kaplan_meier([], [])


def test_kaplan_meier_from_counts_refuses_negative_time():
    with pytest.raises(ValueError, match="time must be >= 0"):
        survival.kaplan_meier_from_counts([-1.0, 2.0], [1, 1], [0, 0])


def test_survival_counts_refuses_negative_durations():
    with pytest.raises(ValueError, match="durations"):
        survival.survival_counts([-1.0, 2.0], [1, 1])


def test_logrank_from_counts_refuses_negative_time():
    with pytest.raises(ValueError, match="time"):
        survival.logrank_from_counts(["a", "b"], [-1.0, 2.0], [1, 1], [0, 0])


# --- variance -------------------------------------------------------------------------------


