"""A binary exposure's effect within each of many units, against a case-mix model.

One unit (an examiner) has many exams; each exam has a binary outcome (an adverse opinion), a
binary exposure (retained by an insurer or employer, or not) and a case-mix log odds from a
model fitted on every unit (the offset). Within the unit,

    logit P(outcome) = offset + alpha + beta * exposure,

where alpha is the unit's own level and exp(beta) the odds ratio of the exposure, allowing
for the case mix of each exposure's exams. The test of beta = 0 is the score test (it needs
only the fit without beta, so it exists whenever the unit has both outcomes); the odds ratio
is the maximum-likelihood estimate with its Wald interval. Rows are groups of exams of one
unit and exposure with a common offset (binomial counts), so a database can hand over a
grouped table rather than every exam.

With a constant offset the score statistic is Pearson's chi-square of the unit's 2x2 table,
and with a continuity correction of 1/2 Yates's, the normal counterpart of Fisher's exact test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special, stats

from imestats._checks import check_at_most, check_level, count_array, float_array

# Newton's method on a concave log-likelihood: each step is capped (the first steps from a
# poor start can overshoot), and the fit stops when no estimate moves by more than TOLERANCE.
MAX_ITERATIONS = 100
MAX_STEP = 2.0
TOLERANCE = 1e-10


@dataclass(frozen=True)
class ExposureEffects:
    """Per unit, in the order of `units` (sorted).

    ``observed`` and ``expected`` are the exposed exams' events and the events expected of
    them with no exposure effect (the unit's own level and the offsets); ``odds_ratio`` is
    exp(beta) by maximum likelihood with its Wald interval, except where one exposure's
    events are none or all of its exams (the likelihood then has no finite maximum): there
    the 2x2 table's odds ratio with a half added to every cell, with Woolf's interval;
    ``p_greater`` and ``p_less`` are the one-sided p-values of an odds ratio above and below
    1. A unit without both exposures, or without both outcomes, has NaN throughout, except
    ``trials`` and ``events``: each exposure's exams and events (row 0 unexposed, row 1
    exposed; shape (2, units)), counted for every unit.
    """

    units: np.ndarray
    trials: np.ndarray
    events: np.ndarray
    observed: np.ndarray
    expected: np.ndarray
    odds_ratio: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    p_greater: np.ndarray
    p_less: np.ndarray


def exposure_effect_by_unit(
    unit,
    exposed,
    offset,
    trials,
    events,
    level: float = 0.95,
    continuity: float = 0.0,
) -> ExposureEffects:
    """Score test and odds ratio of a binary exposure within each unit, with an offset.

    Parameters
    ----------
    unit : array_like
        The unit of each row.
    exposed : array_like of bool
        Whether the row's exams were exposed.
    offset : array_like
        The rows' case-mix log odds (finite).
    trials, events : array_like
        The rows' exams and events (whole counts, events <= trials).
    level : float, default 0.95
        Confidence level of the odds ratio's interval.
    continuity : float, default 0
        Subtracted from the distance between the exposed events and their expectation
        before the normal tail is read. 0, the plain score test (Pearson's chi-square on a
        constant offset), rejects about as often as its level; 1/2 makes it Yates's, the
        normal counterpart of Fisher's exact test, which rejects less often than its level
        (tests/stats/test_offset_logistic.py enumerates both).

    Returns
    -------
    ExposureEffects

    Raises
    ------
    ValueError
        When counts are negative, not whole or events exceed trials, an offset is not
        finite, the arrays differ in length, `level` is not in (0, 1) or `continuity` is
        negative.

    Notes
    -----
    Under beta = 0, alpha solves sum n expit(o + alpha) = sum y over the unit. With
    p the fitted probabilities and w = n p (1 - p), the score of beta is
    U = sum over exposed rows of (y - n p), its variance V = W1 W0 / (W1 + W0) (W1, W0
    the sums of w over the exposed and unexposed rows), and
    p_greater = 1 - Phi((U - c) / sqrt(V)), p_less = Phi((U + c) / sqrt(V)).
    The maximum-likelihood beta comes from Newton's method on (alpha, beta); its variance is
    (W1 + W0) / (W1 W0) at the estimate.

    References
    ----------
    Rao CR. Large sample tests of statistical hypotheses concerning several parameters with
    applications to problems of estimation. Proc Camb Philos Soc 1948;44:50-57.
    Agresti A. Categorical Data Analysis, 3rd ed. Wiley 2013, sections 1.3.3 (score tests),
    3.1.3 (Yates's correction and Fisher's exact test) and 4.3 (offsets).
    """
    level = check_level(level)
    if not continuity >= 0:
        raise ValueError(f"continuity must be >= 0, got {continuity!r}")
    n = count_array(trials, "trials")
    y = count_array(events, "events")
    check_at_most(y, n, "events", "trials")
    offset = float_array(offset, "offset", ndim=1)
    exposed = np.asarray(exposed, dtype=bool)
    unit = np.asarray(unit)
    if not len(unit) == len(exposed) == len(offset) == len(n) == len(y):
        raise ValueError("unit, exposed, offset, trials and events must have the same length")
    codes, units = pd.factorize(unit, sort=True)
    k = len(units)

    def per_unit(values: np.ndarray) -> np.ndarray:
        return np.bincount(codes, weights=values, minlength=k)

    s = exposed.astype(float)
    n1, y1 = per_unit(n * s), per_unit(y * s)
    n_all, y_all = per_unit(n), per_unit(y)
    n0, y0 = n_all - n1, y_all - y1
    usable = (n1 > 0) & (n0 > 0) & (y_all > 0) & (y_all < n_all)

    alpha = np.zeros(k)
    for _ in range(MAX_ITERATIONS):
        p = special.expit(offset + alpha[codes])
        gradient, information = per_unit(y - n * p), per_unit(n * p * (1 - p))
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(usable, np.clip(gradient / information, -MAX_STEP, MAX_STEP), 0.0)
        alpha += step
        if np.abs(step).max(initial=0.0) < TOLERANCE:
            break
    p = special.expit(offset + alpha[codes])
    w = n * p * (1 - p)
    w1, w_all = per_unit(w * s), per_unit(w)
    expected = per_unit(n * p * s)
    with np.errstate(divide="ignore", invalid="ignore"):
        sd = np.sqrt(w1 * (w_all - w1) / w_all)
        score = y1 - expected
        p_greater = stats.norm.sf((score - continuity) / sd)
        p_less = stats.norm.cdf((score + continuity) / sd)

    # One exposure's events none or all of its exams: the likelihood has no finite maximum.
    separated = (y1 == 0) | (y0 == n0) | (y1 == n1) | (y0 == 0)
    odds_ratio, ci_low, ci_high = _maximum_likelihood(
        per_unit, codes, s, offset, n, y, alpha, usable & ~separated, level
    )
    # There, the unit's 2x2 table with a half added to each cell (Haldane and Anscombe) and
    # Woolf's interval: finite, on the side the data lie, and wide.
    cells = np.stack([y1, n1 - y1, y0, n0 - y0]) + 0.5
    log_ratio = np.log(cells[0] * cells[3] / (cells[1] * cells[2]))
    half = stats.norm.ppf(0.5 + level / 2) * np.sqrt((1 / cells).sum(axis=0))
    odds_ratio = np.where(separated, np.exp(log_ratio), odds_ratio)
    ci_low = np.where(separated, np.exp(log_ratio - half), ci_low)
    ci_high = np.where(separated, np.exp(log_ratio + half), ci_high)

    def unless_unusable(values: np.ndarray) -> np.ndarray:
        return np.where(usable, values, np.nan)

    return ExposureEffects(
        units=np.asarray(units),
        trials=np.stack([n0, n1]),
        events=np.stack([y0, y1]),
        observed=unless_unusable(y1),
        expected=unless_unusable(expected),
        odds_ratio=unless_unusable(odds_ratio),
        ci_low=unless_unusable(ci_low),
        ci_high=unless_unusable(ci_high),
        p_greater=unless_unusable(p_greater),
        p_less=unless_unusable(p_less),
    )


def _maximum_likelihood(per_unit, codes, s, offset, n, y, alpha, finite, level):
    """exp(beta) by Newton's method on (alpha, beta) per unit, from the null fit's alpha,
    and its Wald interval, for the units where `finite` (a maximum exists); NaN elsewhere.
    `per_unit` sums a row array per unit."""
    alpha = alpha.copy()
    beta = np.zeros_like(alpha)
    for _ in range(MAX_ITERATIONS):
        p = special.expit(offset + alpha[codes] + beta[codes] * s)
        residual, w = y - n * p, n * p * (1 - p)
        g_alpha, g_beta = per_unit(residual), per_unit(residual * s)
        w_all, w1 = per_unit(w), per_unit(w * s)
        with np.errstate(divide="ignore", invalid="ignore"):
            determinant = w1 * (w_all - w1)
            d_alpha = (w1 * g_alpha - w1 * g_beta) / determinant
            d_beta = (w_all * g_beta - w1 * g_alpha) / determinant
        fine = finite & np.isfinite(d_alpha) & np.isfinite(d_beta)
        d_alpha = np.where(fine, np.clip(d_alpha, -MAX_STEP, MAX_STEP), 0.0)
        d_beta = np.where(fine, np.clip(d_beta, -MAX_STEP, MAX_STEP), 0.0)
        alpha += d_alpha
        beta += d_beta
        if max(np.abs(d_alpha).max(initial=0.0), np.abs(d_beta).max(initial=0.0)) < TOLERANCE:
            break
    p = special.expit(offset + alpha[codes] + beta[codes] * s)
    w = n * p * (1 - p)
    w_all, w1 = per_unit(w), per_unit(w * s)
    z = stats.norm.ppf(0.5 + level / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        half = np.where(finite, z * np.sqrt(w_all / (w1 * (w_all - w1))), np.nan)
    beta = np.where(finite, beta, np.nan)
    return np.exp(beta), np.exp(beta - half), np.exp(beta + half)

