"""Time to MMI: Kaplan-Meier curves, log-rank tests and Cox models on right-censored durations.

An exam contributes the days from injury to MMI when the examiner declared MMI (an event) and
the days to the exam date otherwise (right-censored: not yet at MMI). The counts versions take
one row per distinct time (and group), so the product can aggregate millions of exams in
DuckDB and hand over a few thousand rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats
from statsmodels.duration.hazard_regression import PHReg

from imestats._checks import check_level, check_nonnegative, count_array, float_array, same_length

BandTransform = Literal["log", "log-log", "plain"]
_BAND_TRANSFORMS = ("log", "log-log", "plain")

# R's quantile.survfit treats a curve value this close to the target as lying exactly on it.
_QUANTILE_TOLERANCE = float(np.sqrt(np.finfo(float).eps))


@dataclass(frozen=True)
class MedianSurvival:
    """Median time to event with its confidence interval (NaN where the curve never gets there)."""

    estimate: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class KaplanMeierResult:
    """Kaplan-Meier curve, one row per distinct time, and its median.

    ``table`` columns: time, n_at_risk, n_event, n_censored, survival, std_err, ci_low, ci_high.
    """

    table: pd.DataFrame
    median: MedianSurvival
    level: float
    transform: str


@dataclass(frozen=True)
class LogRankResult:
    """Log-rank test across groups; ``table`` has group, n, observed, expected per group."""

    statistic: float
    df: int
    p_value: float
    table: pd.DataFrame


@dataclass(frozen=True)
class CoxModel:
    """A fitted Cox proportional hazards model.

    ``table`` is indexed by covariate with columns coef, std_err, hazard_ratio, hr_ci_low,
    hr_ci_high, z, p_value. The baseline cumulative hazard (Breslow) is that of a case with
    every covariate at ``covariate_means``; it steps at ``baseline_time``.
    """

    table: pd.DataFrame
    log_likelihood: float
    log_likelihood_null: float
    lr_statistic: float
    lr_df: int
    lr_p_value: float
    n_obs: int
    n_events: int
    ties: str
    level: float
    covariate_means: pd.Series
    baseline_time: np.ndarray
    baseline_cumulative_hazard: np.ndarray


def survival_counts(
    durations: ArrayLike, event: ArrayLike, group: ArrayLike | None = None
) -> pd.DataFrame:
    """Aggregate one row per subject into event and censoring counts per (group and) time.

    Parameters
    ----------
    durations : array_like
        Follow-up time of each subject (for example days from injury to MMI or to the exam).
    event : array_like of bool or {0, 1}
        True (1) when the event (MMI) was observed, False (0) when the time is censored.
    group : array_like, optional
        Group label of each subject (for example the examiner).

    Returns
    -------
    pandas.DataFrame
        Columns ``[group,] time, n_event, n_censored``, sorted, one row per distinct
        (group and) time: the input expected by :func:`kaplan_meier_from_counts` and
        :func:`logrank_from_counts`.

    Raises
    ------
    ValueError
        If ``durations`` is not one-dimensional or has missing, infinite or negative
        values; if ``event`` is not 0/1; or if ``event`` or ``group`` differs from
        ``durations`` in length.
    """
    time = _times(durations, "durations")
    observed = _event_indicator(event, "event")
    same_length(time=time, event=observed)
    frame = pd.DataFrame({"time": time, "n_event": observed, "n_censored": 1 - observed})
    keys = ["time"]
    if group is not None:
        labels = np.asarray(group)
        same_length(time=time, group=labels)
        frame.insert(0, "group", labels)
        keys = ["group", "time"]
    # dropna=False keeps unlabelled subjects visible, so logrank_from_counts can refuse them.
    grouped = frame.groupby(keys, sort=True, dropna=False)
    return grouped[["n_event", "n_censored"]].sum().reset_index()


def kaplan_meier_from_counts(
    time: ArrayLike,
    n_event: ArrayLike,
    n_censored: ArrayLike,
    level: float = 0.95,
    transform: BandTransform = "log",
) -> KaplanMeierResult:
    """Kaplan-Meier estimate with Greenwood standard errors from counts per distinct time.

    Parameters
    ----------
    time : array_like
        Distinct follow-up times. Repeated times are merged (their counts summed) and the
        rows need not be sorted.
    n_event : array_like of int
        Number of events (MMI reached) at each time.
    n_censored : array_like of int
        Number of censored subjects at each time (still followed up to, and including, it).
    level : float, default 0.95
        Confidence level of the pointwise band and of the median's interval.
    transform : {'log', 'log-log', 'plain'}, default 'log'
        Scale on which the pointwise interval is symmetric. 'log' is R ``survfit``'s default,
        'log-log' is Kalbfleisch-Prentice (the lifelines default) and 'plain' is
        S +/- z SE (the scipy default). Limits are clipped to [0, 1].

    Returns
    -------
    KaplanMeierResult
        ``table`` with one row per distinct time (censoring-only times included): time,
        n_at_risk, n_event, n_censored, survival, std_err (Greenwood SE of the survival),
        ci_low, ci_high; and ``median`` with its interval.

    Raises
    ------
    ValueError
        If ``time`` has missing, infinite or negative values; if ``n_event`` or
        ``n_censored`` has missing, negative or fractional values; if the three differ in
        length, are empty or count nobody; if ``level`` is not strictly between 0 and 1;
        or if ``transform`` is not one of the three.

    Notes
    -----
    Censoring must be independent of the time to MMI. Claim closure or settlement before MMI
    is a competing event, not censoring; when it is common, 1 - KM overstates the chance of
    MMI by a given time (use a cumulative incidence instead).

    Subjects censored at an event time are counted at risk at that time. Once the curve
    reaches 0 the Greenwood variance is infinite: std_err and the band are NaN there, as in
    R. Before the first event the band is the point (1, 1) for every transform (R leaves
    the 'log-log' band undefined there).

    The median is the first time the curve is at or below 0.5, or the midpoint of a stretch
    where it equals 0.5. Its interval (Brookmeyer and Crowley 1982) is read off the pointwise
    band on the chosen transform, as R's ``quantile.survfit`` does: the lower limit is the
    first time the lower band is at or below 0.5, the upper limit the first time the upper
    band is (NaN, R's NA, when it never is). Where a band is not monotone this takes its
    first crossing; R interpolates on the band's sorted values and can pick a later one.

    References
    ----------
    Kaplan EL, Meier P. Nonparametric estimation from incomplete observations. Journal of the
    American Statistical Association. 1958;53(282):457-481.

    Greenwood M. The natural duration of cancer. Reports on Public Health and Medical
    Subjects, no. 33. London: His Majesty's Stationery Office; 1926.

    Brookmeyer R, Crowley J. A confidence interval for the median survival time. Biometrics.
    1982;38(1):29-41.

    Kalbfleisch JD, Prentice RL. The Statistical Analysis of Failure Time Data. 2nd ed.
    Hoboken, NJ: Wiley; 2002.

    Therneau TM. A Package for Survival Analysis in R (functions survfit and
    quantile.survfit). R package survival, https://CRAN.R-project.org/package=survival.
    """
    check_level(level)
    if transform not in _BAND_TRANSFORMS:
        raise ValueError(f"transform={transform!r}: use one of {_BAND_TRANSFORMS}")
    times, events, censored = _merge_counts_by_time(time, n_event, n_censored)

    # Everyone with a time at or after t is at risk at t.
    at_risk = np.cumsum((events + censored)[::-1])[::-1]
    survival = np.cumprod(1.0 - events / at_risk)
    with np.errstate(divide="ignore"):
        # Where everyone left at risk has the event (n = d) the Greenwood term is infinite.
        log_variance = np.cumsum(events / (at_risk * (at_risk - events)))
    std_err = np.full_like(survival, np.nan)
    positive = survival > 0
    std_err[positive] = survival[positive] * np.sqrt(log_variance[positive])
    z = stats.norm.ppf(0.5 + level / 2)
    ci_low, ci_high = _pointwise_band(survival, np.sqrt(log_variance), z, transform)

    table = pd.DataFrame(
        {
            "time": times,
            "n_at_risk": at_risk,
            "n_event": events,
            "n_censored": censored,
            "survival": survival,
            "std_err": std_err,
            "ci_low": ci_low,
            "ci_high": ci_high,
        }
    )
    last_time = float(times[-1])
    median = MedianSurvival(
        estimate=_time_curve_reaches(times, survival, 0.5, last_time),
        ci_low=_time_curve_reaches(times, ci_low, 0.5, last_time),
        ci_high=_time_curve_reaches(times, ci_high, 0.5, last_time),
    )
    return KaplanMeierResult(table=table, median=median, level=level, transform=transform)


def kaplan_meier(
    durations: ArrayLike,
    event: ArrayLike,
    level: float = 0.95,
    transform: BandTransform = "log",
) -> KaplanMeierResult:
    """Kaplan-Meier estimate from one row per subject.

    Aggregates with :func:`survival_counts`, then calls :func:`kaplan_meier_from_counts`;
    see there for the parameters, the result and the assumptions.

    Raises
    ------
    ValueError
        If ``durations`` is empty, not one-dimensional or has missing, infinite or negative
        values; if ``event`` is not 0/1 or differs from ``durations`` in length; or as
        :func:`kaplan_meier_from_counts` for ``level`` and ``transform``.
    """
    counts = survival_counts(durations, event)
    if counts.empty:
        raise ValueError("durations is empty: the Kaplan-Meier estimate needs at least one time")
    return kaplan_meier_from_counts(
        counts["time"], counts["n_event"], counts["n_censored"], level=level, transform=transform
    )


def logrank_from_counts(
    group: ArrayLike, time: ArrayLike, n_event: ArrayLike, n_censored: ArrayLike
) -> LogRankResult:
    """Log-rank test that two or more groups share one survival curve, from counts.

    Parameters
    ----------
    group : array_like
        Group label of each row (for example the examiner).
    time : array_like
        Follow-up time of each row. Rows repeating a (group, time) pair are summed.
    n_event : array_like of int
        Number of events in the group at that time.
    n_censored : array_like of int
        Number censored in the group at that time.

    Returns
    -------
    LogRankResult
        ``statistic`` (chi-square), ``df`` (number of groups with a positive expected count,
        minus one), ``p_value``, and ``table`` with group, n, observed, expected.

    Raises
    ------
    ValueError
        If the inputs are empty or differ in length; if ``time`` has missing, infinite or
        negative values; if ``n_event`` or ``n_censored`` has missing, negative or
        fractional values; if ``group`` has missing labels; or if fewer than two groups
        have someone at risk at an event time.

    Notes
    -----
    At each event time t_j, group g expects d_j n_gj / n_j events; the covariance of
    observed minus expected sums d_j (n_j - d_j)/(n_j - 1) (n_gj/n_j)(delta_gh - n_hj/n_j).
    The statistic is (O - E)' V^-1 (O - E) over all groups but one, as R ``survdiff`` does,
    after dropping groups whose expected count is zero (nobody at risk at any event time).
    The test has most power when hazards are proportional; it assumes independent censoring.

    References
    ----------
    Mantel N. Evaluation of survival data and two new rank order statistics arising in its
    consideration. Cancer Chemotherapy Reports. 1966;50(3):163-170.

    Peto R, Peto J. Asymptotically efficient rank invariant test procedures. Journal of the
    Royal Statistical Society, Series A. 1972;135(2):185-207.

    Therneau TM. A Package for Survival Analysis in R (function survdiff). R package
    survival, https://CRAN.R-project.org/package=survival.
    """
    times = _times(time, "time")
    events = count_array(n_event, "n_event", ndim=1)
    censored = count_array(n_censored, "n_censored", ndim=1)
    group_code, group_labels = pd.factorize(np.asarray(group), sort=True)
    same_length(group=group_code, time=times, n_event=events, n_censored=censored)
    if times.size == 0:
        raise ValueError("group, time, n_event and n_censored are empty: no rows to test")
    if np.any(group_code < 0):
        raise ValueError("group has missing labels; give every row a group")
    time_values, time_code = np.unique(times, return_inverse=True)

    shape = (len(group_labels), len(time_values))
    cell = group_code * shape[1] + time_code
    events_gt = np.bincount(cell, weights=events, minlength=shape[0] * shape[1]).reshape(shape)
    removed_gt = events_gt + np.bincount(
        cell, weights=censored, minlength=shape[0] * shape[1]
    ).reshape(shape)
    at_risk_gt = np.cumsum(removed_gt[:, ::-1], axis=1)[:, ::-1]

    events_t = events_gt.sum(axis=0)
    is_event_time = events_t > 0
    events_t = events_t[is_event_time]
    at_risk_g = at_risk_gt[:, is_event_time]
    at_risk = at_risk_g.sum(axis=0)
    share = at_risk_g / at_risk
    observed = events_gt.sum(axis=1)
    expected = share @ events_t
    # A risk set of one contributes no variance (0/0 in the formula), as in survdiff.
    spread = np.divide(
        events_t * (at_risk - events_t),
        at_risk - 1,
        out=np.zeros_like(events_t),
        where=at_risk > 1,
    )
    covariance = np.diag(share @ spread) - (share * spread) @ share.T

    informative = np.flatnonzero(expected > 0)
    if informative.size < 2:
        raise ValueError(
            "log-rank test needs two groups with someone at risk at an event time; "
            f"found {informative.size} among groups {list(group_labels)}"
        )
    kept = informative[1:]
    difference = (observed - expected)[kept]
    statistic = float(difference @ np.linalg.solve(covariance[np.ix_(kept, kept)], difference))
    df = int(informative.size - 1)
    table = pd.DataFrame(
        {
            "group": group_labels,
            "n": removed_gt.sum(axis=1).astype(np.int64),
            "observed": observed.astype(np.int64),
            "expected": expected,
        }
    )
    return LogRankResult(
        statistic=statistic, df=df, p_value=float(stats.chi2.sf(statistic, df)), table=table
    )


def cox_ph(
    data: pd.DataFrame,
    duration_col: str,
    event_col: str,
    covariates: Sequence[str],
    ties: Literal["efron", "breslow"] = "efron",
    level: float = 0.95,
) -> CoxModel:
    """Fit a Cox proportional hazards model (statsmodels ``PHReg``).

    Parameters
    ----------
    data : pandas.DataFrame
        One row per subject (exam).
    duration_col : str
        Column with the follow-up time.
    event_col : str
        Column with the event indicator (bool or 0/1; 1 = MMI declared).
    covariates : sequence of str
        Numeric columns of the linear predictor. Encode categorical case features as
        indicator columns first (for example ``pandas.get_dummies(..., drop_first=True)``).
    ties : {'efron', 'breslow'}, default 'efron'
        Handling of tied event times. Efron is the default of R ``coxph`` and lifelines;
        statsmodels itself defaults to Breslow, which is why the choice is explicit here.
    level : float, default 0.95
        Confidence level of the hazard-ratio intervals.

    Returns
    -------
    CoxModel
        Coefficients with SE, hazard ratio and its interval, Wald z and p; partial
        log-likelihoods of the fit and of the null model; the likelihood-ratio test; and the
        Breslow baseline cumulative hazard used by :func:`cox_expected_events`.

    Raises
    ------
    ValueError
        If ``data`` has no rows; if ``duration_col`` has missing, infinite or negative
        values; if ``event_col`` is not 0/1 or has no event at all (the partial likelihood
        is then empty); if a covariate has missing values; if ``covariates`` is empty; or
        if ``ties`` or ``level`` is invalid.
    KeyError
        If a named column is not in ``data``.
    TypeError
        If a covariate is not numeric.

    Notes
    -----
    Assumes proportional hazards (check with Schoenfeld residuals) and independent
    censoring; standard errors are model-based and ignore clustering of exams within an
    examiner. PHReg has no case weights, so a model fitted on a sample must come from a
    simple random sample or one stratified on the covariates; see
    :func:`observed_expected_by_examiner`.

    The baseline cumulative hazard is Breslow's estimator at the fitted coefficients, with
    the covariates centred at their means: H0(t) = sum over event times t_j <= t of
    d_j / sum_{k at risk at t_j} exp((x_k - mean)' beta). statsmodels'
    ``baseline_cumulative_hazard`` reports the value just before each event time, which
    would drop each exam's own event from its expectation, hence the recomputation.

    References
    ----------
    Cox DR. Regression models and life-tables. Journal of the Royal Statistical Society,
    Series B. 1972;34(2):187-220.

    Efron B. The efficiency of Cox's likelihood function for censored data. Journal of the
    American Statistical Association. 1977;72(359):557-565.

    Breslow NE. Covariance analysis of censored survival data. Biometrics.
    1974;30(1):89-99.
    """
    check_level(level)
    if ties not in ("efron", "breslow"):
        raise ValueError(f"ties={ties!r}: use 'efron' or 'breslow'")
    covariates = list(covariates)
    if not covariates:
        raise ValueError("cox_ph needs at least one covariate")
    durations = _times(_column(data, duration_col), duration_col)
    observed = _event_indicator(_column(data, event_col), event_col)
    design = _covariate_matrix(data, covariates)
    if durations.size == 0:
        raise ValueError("data has no rows: nothing to fit")
    if not observed.any():
        raise ValueError(
            f"{event_col} has no events among {observed.size} rows: the Cox partial "
            "likelihood has no terms, so no hazard ratio can be estimated"
        )

    model = PHReg(durations, design, status=observed, ties=ties)
    fit = model.fit()
    coef = np.asarray(fit.params)
    std_err = np.asarray(fit.bse)
    z_value = coef / std_err
    z = stats.norm.ppf(0.5 + level / 2)
    table = pd.DataFrame(
        {
            "coef": coef,
            "std_err": std_err,
            "hazard_ratio": np.exp(coef),
            "hr_ci_low": np.exp(coef - z * std_err),
            "hr_ci_high": np.exp(coef + z * std_err),
            "z": z_value,
            "p_value": 2 * stats.norm.sf(np.abs(z_value)),
        },
        index=pd.Index(covariates, name="covariate"),
    )
    log_likelihood = float(fit.llf)
    log_likelihood_null = float(model.loglike(np.zeros(len(covariates))))
    lr_statistic = 2 * (log_likelihood - log_likelihood_null)

    means = design.mean(axis=0)
    risk_score = np.exp((design - means) @ coef)
    baseline_time, baseline_cumulative_hazard = _breslow_cumulative_hazard(
        durations, observed, risk_score
    )
    return CoxModel(
        table=table,
        log_likelihood=log_likelihood,
        log_likelihood_null=log_likelihood_null,
        lr_statistic=lr_statistic,
        lr_df=len(covariates),
        lr_p_value=float(stats.chi2.sf(lr_statistic, len(covariates))),
        n_obs=len(durations),
        n_events=int(observed.sum()),
        ties=ties,
        level=level,
        covariate_means=pd.Series(means, index=covariates),
        baseline_time=baseline_time,
        baseline_cumulative_hazard=baseline_cumulative_hazard,
    )


def cox_expected_events(model: CoxModel, data: pd.DataFrame, duration_col: str) -> np.ndarray:
    """Expected number of events of each subject under a Cox model: H0(t_i) exp(x_i' beta).

    Parameters
    ----------
    model : CoxModel
        A model from :func:`cox_ph`; ``data`` must have its covariate columns.
    data : pandas.DataFrame
        Subjects to score: the fitting data or any other rows (for example all exams when
        the model was fitted on a sample).
    duration_col : str
        Column with each subject's follow-up time.

    Returns
    -------
    numpy.ndarray
        The cumulative hazard over each subject's follow-up, which is the expected count of
        events (0 or 1 observed) given its covariates. Observed minus expected is the
        martingale residual.

    Raises
    ------
    ValueError
        If ``duration_col`` has missing, infinite or negative values or a covariate has
        missing values.
    KeyError
        If a column is not in ``data``.

    Notes
    -----
    The baseline is a step function, looked up for all rows at once with
    ``numpy.searchsorted``; it is flat after the last event time of the fitting data, so
    follow-up beyond it adds no expectation.

    References
    ----------
    Therneau TM, Grambsch PM, Fleming TR. Martingale-based residuals for survival models.
    Biometrika. 1990;77(1):147-160.
    """
    durations = _times(_column(data, duration_col), duration_col)
    design = _covariate_matrix(data, list(model.covariate_means.index))
    risk_score = np.exp(
        (design - model.covariate_means.to_numpy()) @ model.table["coef"].to_numpy()
    )
    steps = np.concatenate(([0.0], model.baseline_cumulative_hazard))
    cumulative_hazard = steps[np.searchsorted(model.baseline_time, durations, side="right")]
    return cumulative_hazard * risk_score


def observed_expected_by_examiner(
    model: CoxModel,
    data: pd.DataFrame,
    duration_col: str,
    event_col: str,
    examiner_col: str,
    level: float = 0.95,
) -> pd.DataFrame:
    """Observed and case-mix expected MMI declarations per examiner (standardised ratio).

    Parameters
    ----------
    model : CoxModel
        Cox model of case features only (no examiner term), from :func:`cox_ph`.
    data : pandas.DataFrame
        Exams to score, one row each, with the model's covariates.
    duration_col, event_col, examiner_col : str
        Columns with follow-up time, MMI indicator and examiner.
    level : float, default 0.95
        Confidence level of the exact interval of the ratio.

    Returns
    -------
    pandas.DataFrame
        One row per examiner, sorted by examiner: examiner, n_exams, observed, expected,
        o_e_ratio, ci_low, ci_high. A ratio above 1 means the examiner declares MMI sooner
        (more often per day of follow-up) than the case mix predicts. An examiner with
        nothing expected (every exam ends before the first event time) gets NaN ratio and
        limits.

    Raises
    ------
    ValueError
        If ``examiner_col`` has missing labels, ``event_col`` is not 0/1, or as
        :func:`cox_expected_events`; or if ``level`` is not strictly between 0 and 1.
    KeyError
        If a column is not in ``data``.

    Notes
    -----
    Expected = sum over the examiner's exams of H0(t_i) exp(x_i' beta), the survival
    analogue of indirect standardisation (the standardised mortality ratio); O - E is the
    examiner's sum of martingale residuals. On the fitting data the Breslow baseline makes
    total expected equal total observed, so the ratios are relative to the average exam.

    The interval treats the observed count as Poisson with the expected count fixed
    (Garwood's exact limits); it ignores the uncertainty of the model and any
    over-dispersion between examiners.

    To scale, fit :func:`cox_ph` on a sample and score all rows here. A simple random sample,
    or one stratified on the model's covariates, keeps the coefficients and the baseline
    hazard unbiased because sampling on covariates leaves the hazard given the covariates
    unchanged. Never sample on the outcome or the follow-up time; sampling unequally by
    examiner makes the benchmark the sample's mix of examiners.

    References
    ----------
    Berry G. The analysis of mortality by the subject-years method. Biometrics.
    1983;39(1):173-184.

    Breslow NE, Day NE. Statistical Methods in Cancer Research, Volume II: The Design and
    Analysis of Cohort Studies. IARC Scientific Publications No. 82. Lyon: International
    Agency for Research on Cancer; 1987.

    Garwood F. Fiducial limits for the Poisson distribution. Biometrika.
    1936;28(3-4):437-442.
    """
    check_level(level)
    examiner = _column(data, examiner_col)
    if examiner.isna().any():
        raise ValueError(
            f"column {examiner_col!r} has {int(examiner.isna().sum())} exams without an "
            "examiner; drop or label them first"
        )
    expected = cox_expected_events(model, data, duration_col)
    observed = _event_indicator(_column(data, event_col), event_col)
    per_exam = pd.DataFrame(
        {
            "examiner": examiner.to_numpy(),
            "observed": observed,
            "expected": expected,
        }
    )
    summary = (
        per_exam.groupby("examiner", sort=True)
        .agg(
            n_exams=("observed", "size"),
            observed=("observed", "sum"),
            expected=("expected", "sum"),
        )
        .reset_index()
    )
    counts = summary["observed"].to_numpy()
    expected_sum = summary["expected"].to_numpy(dtype=float)
    # An examiner whose exams all end before the first event time has nothing expected:
    # the ratio is undefined (NaN), not infinite.
    per_expected = np.divide(
        1.0, expected_sum, out=np.full_like(expected_sum, np.nan), where=expected_sum > 0
    )
    tail = (1 - level) / 2
    low_count = np.zeros(len(summary))
    some = counts > 0
    low_count[some] = stats.chi2.ppf(tail, 2 * counts[some]) / 2
    high_count = stats.chi2.ppf(1 - tail, 2 * counts + 2) / 2
    return summary.assign(
        o_e_ratio=counts * per_expected,
        ci_low=low_count * per_expected,
        ci_high=high_count * per_expected,
    )


def _pointwise_band(
    survival: np.ndarray, log_sd: np.ndarray, z: float, transform: str
) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise interval of the survival curve; NaN where the curve has reached 0."""
    low = np.full_like(survival, np.nan)
    high = np.full_like(survival, np.nan)
    positive = survival > 0
    s = survival[positive]
    sd = log_sd[positive]
    if transform == "log":
        lower, upper = s * np.exp(-z * sd), s * np.exp(z * sd)
    elif transform == "log-log":
        # sd is 0 exactly where s is 1 (no event yet): the band collapses onto the estimate.
        spread = np.divide(z * sd, -np.log(s), out=np.zeros_like(s), where=sd > 0)
        lower, upper = s ** np.exp(spread), s ** np.exp(-spread)
    else:
        lower, upper = s - z * s * sd, s + z * s * sd
    low[positive] = np.clip(lower, 0.0, 1.0)
    high[positive] = np.clip(upper, 0.0, 1.0)
    return low, high


def _time_curve_reaches(
    times: np.ndarray, curve: np.ndarray, probability: float, last_time: float
) -> float:
    """First time a survival-type curve is at or below ``probability`` (R quantile.survfit rule).

    A curve lying on ``probability`` gives the midpoint of that flat stretch (ending at the next
    drop, or at the last follow-up time). Undefined (NaN) points are skipped, as R does.
    """
    defined = np.isfinite(curve)
    times, curve = times[defined], curve[defined]
    reached = np.flatnonzero(curve <= probability + _QUANTILE_TOLERANCE)
    if reached.size == 0:
        return float("nan")
    first = reached[0]
    if curve[first] < probability - _QUANTILE_TOLERANCE:
        return float(times[first])
    below = np.flatnonzero(curve < probability - _QUANTILE_TOLERANCE)
    end = times[below[0]] if below.size else last_time
    return float((times[first] + end) / 2)


def _breslow_cumulative_hazard(
    durations: np.ndarray, observed: np.ndarray, risk_score: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Breslow baseline cumulative hazard at each distinct event time."""
    order = np.argsort(durations, kind="stable")
    sorted_time = durations[order]
    # risk_at_or_after[i] = sum of risk scores of the subjects sorted at positions i, i+1, ...
    risk_at_or_after = np.cumsum(risk_score[order][::-1])[::-1]
    event_time, n_events = np.unique(durations[observed == 1], return_counts=True)
    risk_set = risk_at_or_after[np.searchsorted(sorted_time, event_time, side="left")]
    return event_time, np.cumsum(n_events / risk_set)


def _merge_counts_by_time(
    time: ArrayLike, n_event: ArrayLike, n_censored: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted distinct times with summed counts; times with no one leaving are dropped."""
    times = _times(time, "time")
    events = count_array(n_event, "n_event", ndim=1)
    censored = count_array(n_censored, "n_censored", ndim=1)
    same_length(time=times, n_event=events, n_censored=censored)
    if times.size == 0:
        raise ValueError("time is empty: the Kaplan-Meier estimate needs at least one time")
    distinct, inverse = np.unique(times, return_inverse=True)
    events = np.bincount(inverse, weights=events)
    censored = np.bincount(inverse, weights=censored)
    leaving = events + censored > 0
    if not leaving.any():
        raise ValueError("n_event and n_censored are all zero: nobody was followed up")
    return distinct[leaving], events[leaving].astype(np.int64), censored[leaving].astype(np.int64)


def _covariate_matrix(data: pd.DataFrame, covariates: list[str]) -> np.ndarray:
    """Covariate columns as a float matrix; refuses missing or non-numeric values."""
    columns = [_column(data, name) for name in covariates]
    for name, values in zip(covariates, columns, strict=True):
        if not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)):
            raise TypeError(
                f"covariate {name!r} has dtype {values.dtype}; encode it as numeric "
                "indicator columns (for example pandas.get_dummies)"
            )
        if values.isna().any():
            raise ValueError(
                f"covariate {name!r} has {int(values.isna().sum())} missing values; "
                "drop or impute them first"
            )
    return np.column_stack([values.to_numpy(dtype=float) for values in columns])


def _column(data: pd.DataFrame, name: str) -> pd.Series:
    if name not in data.columns:
        raise KeyError(f"column {name!r} not in data; columns are {list(data.columns)}")
    return data[name]


def _times(values: ArrayLike, name: str) -> np.ndarray:
    """Follow-up times: one-dimensional, finite and >= 0."""
    return check_nonnegative(float_array(values, name, ndim=1), name)


def _event_indicator(values: ArrayLike, name: str) -> np.ndarray:
    array = float_array(values, name, ndim=1)
    if not np.isin(array, (0.0, 1.0)).all():
        raise ValueError(f"{name} must be 0/1 or boolean (1 = event observed, 0 = censored)")
    return array.astype(np.int64)
