"""Tests for imestats.survival against published survival analyses and independent code.

Oracle data: Freireich et al. (1963), Blood 21:699, remission times (weeks) of 42 children
with acute leukaemia, 6-MP versus placebo (docs/methods.md, checks O6-O9).
"""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.duration.survfunc import SurvfuncRight, survdiff

from imestats.survival import (
    kaplan_meier,
    kaplan_meier_from_counts,
    logrank_from_counts,
    survival_counts,
)

# Freireich 1963: 6-MP arm (0 in `event` = censored, the "+" of the paper) and placebo arm.
SIX_MP_WEEKS = np.array(
    [6, 6, 6, 6, 7, 9, 10, 10, 11, 13, 16, 17, 19, 20, 22, 23, 25, 32, 32, 34, 35], dtype=float
)
SIX_MP_EVENT = np.array([1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0])
PLACEBO_WEEKS = np.array(
    [1, 1, 2, 2, 3, 4, 4, 5, 5, 8, 8, 8, 8, 11, 11, 12, 12, 15, 17, 22, 23], dtype=float
)
PLACEBO_EVENT = np.ones(21, dtype=int)


@pytest.fixture
def freireich() -> pd.DataFrame:
    """Both arms, one row per child; placebo = 1 for the placebo arm."""
    return pd.DataFrame(
        {
            "weeks": np.concatenate([SIX_MP_WEEKS, PLACEBO_WEEKS]),
            "relapse": np.concatenate([SIX_MP_EVENT, PLACEBO_EVENT]),
            "placebo": np.repeat([0.0, 1.0], 21),
            "arm": np.repeat(["6-MP", "placebo"], 21),
        }
    )


def simulate_mmi_exams(
    seed: int, n_examiners: int, exams_per_examiner: int, planted_hazard_ratio: float
) -> pd.DataFrame:
    """Exams under proportional hazards; examiner E0 declares MMI faster by the planted ratio.

    Case mix: severity (standard normal, log hazard ratio 0.5) and legal representation
    (40 %, log hazard ratio -0.7); exponential time to MMI with a baseline of 0.004 per day,
    uniform censoring at the exam between 30 and 730 days, whole days (so ties occur).
    """
    rng = np.random.default_rng(seed)
    n = n_examiners * exams_per_examiner
    examiner = np.repeat([f"E{i}" for i in range(n_examiners)], exams_per_examiner)
    severity = rng.normal(size=n)
    represented = rng.binomial(1, 0.4, size=n).astype(float)
    log_hazard = (
        0.5 * severity - 0.7 * represented + np.log(planted_hazard_ratio) * (examiner == "E0")
    )
    days_to_mmi = rng.exponential(1 / (0.004 * np.exp(log_hazard)))
    days_to_exam = rng.uniform(30, 730, size=n)
    return pd.DataFrame(
        {
            "examiner": examiner,
            "severity": severity,
            "represented": represented,
            "days": np.ceil(np.minimum(days_to_mmi, days_to_exam)),
            "mmi": (days_to_mmi <= days_to_exam).astype(int),
        }
    )


# --- Kaplan-Meier -------------------------------------------------------------------------


def test_km_6mp_against_freireich_greenwood():
    # O6: Freireich 1963 6-MP arm as in Gehan 1965 / R survfit; exact values from docs/methods.md.
    expected = pd.DataFrame(
        {
            "time": [6, 7, 10, 13, 16, 22, 23],
            "survival": [0.857143, 0.806723, 0.752941, 0.690196, 0.627451, 0.537815, 0.448179],
            "std_err": [0.076360, 0.086935, 0.096350, 0.106815, 0.114054, 0.128234, 0.134591],
        }
    )
    table = kaplan_meier(SIX_MP_WEEKS, SIX_MP_EVENT).table
    at_events = table[table["n_event"] > 0].reset_index(drop=True)
    np.testing.assert_array_equal(at_events["time"], expected["time"])
    np.testing.assert_allclose(at_events["survival"], expected["survival"], atol=5e-7)
    np.testing.assert_allclose(at_events["std_err"], expected["std_err"], atol=5e-7)
    np.testing.assert_array_equal(at_events["n_at_risk"], [21, 17, 15, 12, 11, 7, 6])


def test_km_pooled_log_band_against_r_survfit_printout():
    # O7: R survfit(Surv(time, status) ~ 1) on all 42 children, conf.type = "log" (default);
    # rows t = 1, 2, 8, 23 of the printout: survival, std.err, lower 95% CI, upper 95% CI.
    published = {
        1: (0.952, 0.0329, 0.8901, 1.000),
        2: (0.905, 0.0453, 0.8202, 0.998),
        8: (0.591, 0.0764, 0.4588, 0.762),
        23: (0.189, 0.0710, 0.0909, 0.395),
    }
    times = np.concatenate([SIX_MP_WEEKS, PLACEBO_WEEKS])
    events = np.concatenate([SIX_MP_EVENT, PLACEBO_EVENT])
    table = kaplan_meier(times, events).table.set_index("time")
    for time, (survival, std_err, ci_low, ci_high) in published.items():
        row = table.loc[time]
        assert row["survival"] == pytest.approx(survival, abs=5e-4)
        assert row["std_err"] == pytest.approx(std_err, abs=5e-5)
        assert row["ci_low"] == pytest.approx(ci_low, abs=5e-4)
        assert row["ci_high"] == pytest.approx(ci_high, abs=5e-4)


@pytest.mark.parametrize(
    ("transform", "scipy_method"),
    [("log-log", "log-log"), ("plain", "linear")],
    ids=["log-log", "plain-vs-linear"],
)
def test_km_band_against_scipy_ecdf_6mp(transform, scipy_method):
    # Independent implementation: scipy.stats.ecdf on right-censored data (censored flag = not
    # event, docs/methods.md pitfall 1). Check O6, t = 6: log-log (0.6197, 0.9516), linear
    # (0.7075, 1.0).
    sample = stats.CensoredData.right_censored(SIX_MP_WEEKS, SIX_MP_EVENT == 0)
    band = stats.ecdf(sample).sf.confidence_interval(confidence_level=0.95, method=scipy_method)
    table = kaplan_meier(SIX_MP_WEEKS, SIX_MP_EVENT, transform=transform).table
    at_events = table[table["n_event"] > 0]
    np.testing.assert_allclose(
        at_events["ci_low"], band.low.evaluate(at_events["time"].to_numpy()), atol=1e-10
    )
    np.testing.assert_allclose(
        at_events["ci_high"], band.high.evaluate(at_events["time"].to_numpy()), atol=1e-10
    )


def test_km_std_err_against_statsmodels_survfunc_pooled():
    # Independent implementation: statsmodels SurvfuncRight (Greenwood), all 42 children.
    times = np.concatenate([SIX_MP_WEEKS, PLACEBO_WEEKS])
    events = np.concatenate([SIX_MP_EVENT, PLACEBO_EVENT])
    reference = SurvfuncRight(times, events)
    table = kaplan_meier(times, events).table
    at_events = table[table["n_event"] > 0]
    np.testing.assert_allclose(at_events["time"], reference.surv_times)
    np.testing.assert_allclose(at_events["survival"], reference.surv_prob, rtol=1e-12)
    np.testing.assert_allclose(at_events["std_err"], reference.surv_prob_se, rtol=1e-10)


def test_km_curve_at_zero_has_undefined_std_err_like_r():
    # Placebo arm ends with everyone relapsed: S = 0 at week 23, where R's survfit prints NaN
    # for std.err and the limits. The row before (week 22): S = 1/21, SE = 0.04647 (statsmodels).
    table = kaplan_meier(PLACEBO_WEEKS, PLACEBO_EVENT).table.set_index("time")
    assert table.loc[23.0, "survival"] == 0.0
    assert np.isnan(table.loc[23.0, ["std_err", "ci_low", "ci_high"]].to_numpy(dtype=float)).all()
    assert table.loc[22.0, "std_err"] == pytest.approx(0.046471, abs=5e-7)


@pytest.mark.parametrize(
    ("weeks", "event", "median", "ci_low", "ci_high"),
    [
        # O8: R quantile(survfit(...), 0.5), conf.type "log": 6-MP 23 (16, NA); placebo 8 (4, 12).
        (SIX_MP_WEEKS, SIX_MP_EVENT, 23.0, 16.0, np.nan),
        (PLACEBO_WEEKS, PLACEBO_EVENT, 8.0, 4.0, 12.0),
    ],
    ids=["6-MP", "placebo"],
)
def test_median_ci_against_r_quantile_survfit_log(weeks, event, median, ci_low, ci_high):
    result = kaplan_meier(weeks, event, transform="log").median
    np.testing.assert_array_equal(
        [result.estimate, result.ci_low, result.ci_high], [median, ci_low, ci_high]
    )


@pytest.mark.parametrize(
    ("weeks", "event"),
    [(SIX_MP_WEEKS, SIX_MP_EVENT), (PLACEBO_WEEKS, PLACEBO_EVENT)],
    ids=["6-MP", "placebo"],
)
def test_median_ci_log_log_against_statsmodels_cloglog(weeks, event):
    # Independent implementation of Brookmeyer-Crowley: statsmodels quantile_ci on the
    # complementary log-log scale (docs/methods.md, O8: 6-MP (13, inf), placebo (4, 11)).
    # statsmodels reports a missing upper limit as inf where R (and this module) give NaN.
    reference = SurvfuncRight(weeks, event)
    # statsmodels takes log(0) where the placebo curve reaches 0.
    with np.errstate(divide="ignore", invalid="ignore"):
        low, high = reference.quantile_ci(0.5, method="cloglog")
    result = kaplan_meier(weeks, event, transform="log-log").median
    assert result.estimate == reference.quantile(0.5)
    assert result.ci_low == low
    assert result.ci_high == high or (np.isnan(result.ci_high) and np.isinf(high))


def test_median_is_midpoint_when_curve_sits_on_one_half():
    # Four uncensored times: S = 0.5 on [2, 3), so the median is the usual sample median 2.5,
    # the midpoint rule of R's quantile.survfit.
    result = kaplan_meier([1.0, 2.0, 3.0, 4.0], [1, 1, 1, 1]).median
    assert result.estimate == 2.5


def test_km_from_counts_merges_unsorted_and_repeated_times():
    # The counts version must not depend on row order or on how the caller split the rows.
    per_child = kaplan_meier(SIX_MP_WEEKS, SIX_MP_EVENT).table
    shuffled = np.random.default_rng(7).permutation(len(SIX_MP_WEEKS))
    one_row_each = kaplan_meier_from_counts(
        SIX_MP_WEEKS[shuffled], SIX_MP_EVENT[shuffled], 1 - SIX_MP_EVENT[shuffled]
    ).table
    pd.testing.assert_frame_equal(one_row_each, per_child)


def test_survival_counts_aggregates_by_group_and_time(freireich):
    counts = survival_counts(freireich["weeks"], freireich["relapse"], freireich["arm"])
    six_mp_week_6 = counts[(counts["group"] == "6-MP") & (counts["time"] == 6)]
    assert six_mp_week_6[["n_event", "n_censored"]].to_numpy().tolist() == [[3, 1]]
    assert counts["n_event"].sum() == 30
    assert counts["n_censored"].sum() == 12


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_event": [1, -1]}, "non-negative whole numbers"),
        ({"n_event": [1, 0.5]}, "non-negative whole numbers"),
        ({"time": [1.0, np.nan]}, "missing or infinite"),
        ({"n_censored": [0]}, "differ in length"),
        ({"transform": "arcsine"}, "transform"),
        ({"level": 95}, "level"),
    ],
    ids=[
        "negative-count",
        "fractional-count",
        "missing-time",
        "length-mismatch",
        "transform",
        "level-as-percent",
    ],
)
def test_km_from_counts_rejects_bad_input(kwargs, message):
    arguments = {"time": [1.0, 2.0], "n_event": [1, 1], "n_censored": [0, 0]} | kwargs
    with pytest.raises(ValueError, match=message):
        kaplan_meier_from_counts(**arguments)


# --- log-rank -----------------------------------------------------------------------------


def test_logrank_6mp_against_r_survdiff(freireich):
    # O9: R survdiff(Surv(time, status) ~ group): Chisq = 16.79294 on 1 df, p = 4.1688e-05;
    # observed/expected 6-MP 9/19.3, placebo 21/10.7 (R prints one decimal).
    counts = survival_counts(freireich["weeks"], freireich["relapse"], freireich["arm"])
    result = logrank_from_counts(
        counts["group"], counts["time"], counts["n_event"], counts["n_censored"]
    )
    assert result.statistic == pytest.approx(16.79294, abs=5e-6)
    assert result.df == 1
    assert result.p_value == pytest.approx(4.1688e-05, rel=1e-4)
    table = result.table.set_index("group")
    assert table["observed"].tolist() == [9, 21]
    np.testing.assert_allclose(table["expected"], [19.3, 10.7], atol=0.05)
    assert table["n"].tolist() == [21, 21]


def test_logrank_6mp_against_statsmodels_and_scipy(freireich):
    # Two independent implementations: statsmodels survdiff returns chi-square; scipy logrank
    # returns the signed z, whose square is the chi-square (docs/methods.md pitfall 2).
    sm_statistic, sm_p = survdiff(freireich["weeks"], freireich["relapse"], freireich["arm"])
    scipy_result = stats.logrank(
        stats.CensoredData.right_censored(SIX_MP_WEEKS, SIX_MP_EVENT == 0),
        stats.CensoredData.right_censored(PLACEBO_WEEKS, PLACEBO_EVENT == 0),
    )
    counts = survival_counts(freireich["weeks"], freireich["relapse"], freireich["arm"])
    result = logrank_from_counts(
        counts["group"], counts["time"], counts["n_event"], counts["n_censored"]
    )
    assert result.statistic == pytest.approx(sm_statistic, rel=1e-10)
    assert result.statistic == pytest.approx(scipy_result.statistic**2, rel=1e-10)
    assert result.p_value == pytest.approx(sm_p, rel=1e-8)


def test_logrank_four_examiners_against_statsmodels_survdiff():
    # k-group case (df = 3) with tied whole-day times and censoring, against statsmodels.
    exams = simulate_mmi_exams(
        seed=31, n_examiners=4, exams_per_examiner=150, planted_hazard_ratio=1.5
    )
    sm_statistic, sm_p = survdiff(exams["days"], exams["mmi"], exams["examiner"])
    counts = survival_counts(exams["days"], exams["mmi"], exams["examiner"])
    result = logrank_from_counts(
        counts["group"], counts["time"], counts["n_event"], counts["n_censored"]
    )
    assert result.df == 3
    assert result.statistic == pytest.approx(sm_statistic, rel=1e-9)
    assert result.p_value == pytest.approx(sm_p, rel=1e-7)
    assert result.table["observed"].sum() == exams["mmi"].sum()
    assert result.table["expected"].sum() == pytest.approx(exams["mmi"].sum(), rel=1e-12)


def test_logrank_refuses_subjects_without_group():
    counts = survival_counts([1.0, 2.0, 3.0, 4.0], [1, 1, 0, 1], ["a", None, "b", "b"])
    with pytest.raises(ValueError, match="missing labels"):
        logrank_from_counts(
            counts["group"], counts["time"], counts["n_event"], counts["n_censored"]
        )


def test_logrank_needs_two_groups_at_risk():
    with pytest.raises(ValueError, match="two groups"):
        logrank_from_counts(["a", "a"], [1.0, 2.0], [1, 1], [0, 0])
