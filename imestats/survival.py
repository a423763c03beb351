"""Time to MMI: Kaplan-Meier curves and log-rank tests on right-censored durations.

An exam contributes the days from injury to MMI when the examiner declared MMI (an event) and
the days to the exam date otherwise (right-censored: not yet at MMI). The counts versions take
one row per distinct time (and group), so the product can aggregate millions of exams in
DuckDB and hand over a few thousand rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

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


def _times(values: ArrayLike, name: str) -> np.ndarray:
    """Follow-up times: one-dimensional, finite and >= 0."""
    return check_nonnegative(float_array(values, name, ndim=1), name)


def _event_indicator(values: ArrayLike, name: str) -> np.ndarray:
    array = float_array(values, name, ndim=1)
    if not np.isin(array, (0.0, 1.0)).all():
        raise ValueError(f"{name} must be 0/1 or boolean (1 = event observed, 0 = censored)")
    return array.astype(np.int64)
