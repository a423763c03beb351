"""Drift: a change in the examiner's own behaviour over time (docs/methods.md).

A risk-adjusted Bernoulli CUSUM of adverse opinions against the examiner's own earlier
baseline (Steiner 2000): the stored case-mix probability of each exam, recalibrated to the
examiner's baseline, in steps of a calendar period, signalling when it crosses a threshold
simulated for a panel-wide false-alarm rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special, stats

import queries
from imestats.cusum import (
    baseline_log_odds_ratios,
    batch_log_terms,
    batched_cusum,
    recalibrate_risks,
    threshold_for_batched_panel,
)
from imestats.proportions import oe_ratio_interval
from measures.base import (
    DEFAULT_SETTINGS,
    FlagSettings,
    Measure,
    View,
    comparable,
    q_values_and_flags,
)

NAME = "drift"
# Every exam with an adverse-opinion outcome, each examiner's exams together in date order,
# with the stored case-mix log odds of an adverse opinion. $examiner_id NULL: every examiner.
RISKS_SQL = """
SELECT
    examiner_id,
    exam_date,
    is_adverse,
    ln(expected_adverse_opinion / (1 - expected_adverse_opinion)) AS eta_adverse
FROM exams_in_view()
WHERE is_adverse IS NOT NULL
    AND expected_adverse_opinion > 0 AND expected_adverse_opinion < 1
    AND ($examiner_id IS NULL OR examiner_id = $examiner_id)
ORDER BY examiner_id, exam_date, exam_id
"""


def risks(view: View, examiner_id: str | None = None) -> pd.DataFrame:
    """The drift chart's input for one examiner, or every examiner (None)."""
    return view.run_sql(RISKS_SQL, per_exam=True, examiner_id=examiner_id)


def stored_threshold(view: View, settings: FlagSettings) -> float | None:
    """The panel threshold `ime load` simulated for the whole database, for a view with fewer
    exams (a filter or an insurer's scope); None for the default view, or before any load.

    A view's charts are the same examiners' exams or fewer, in series no longer than the whole
    database's, so under this threshold its panel-wide false-alarm rate can only fall below
    the target: reusing it keeps the flag honest and spares the simulation (seconds at 10^6
    exams) on every filter. The threshold is a setting of the method, not a figure of any
    examiner: every role may read it.
    """
    whole = view.scope.role != "insurer" and view.filters == queries.NO_FILTERS
    if whole or settings != DEFAULT_SETTINGS:
        return None
    stored = view.con.execute(
        "SELECT any_value(cusum_threshold) FROM examiner_flags WHERE measure = $measure",
        {"measure": NAME},
    ).fetchall()
    return stored[0][0] if stored else None


def score(view: View, settings: FlagSettings) -> pd.DataFrame:
    return score_risks(risks(view), settings, stored_threshold(view, settings))


@dataclass(frozen=True)
class DriftChart:
    """One examiner's exams after the baseline, in batches of calendar periods, for the CUSUM.

    Per batch (the later exams of one period of FlagSettings.drift_batch_months): the date of
    its last exam, its exams, adverse opinions, mean own-baseline risk and the sum of
    log(1 - p + R p) over its exams.
    """

    examiner_id: str
    n_exams: int
    baseline_end_date: object
    batch_end_dates: np.ndarray
    trials: np.ndarray
    adverse: np.ndarray
    risk: np.ndarray
    log_terms: np.ndarray


def drift_charts(risks: pd.DataFrame, settings: FlagSettings) -> list[DriftChart]:
    """Per examiner with enough exams: later exams by period, risks recalibrated to baseline.

    `risks` is RISKS_SQL's result (each examiner's exams together, in date
    order, with the case-mix log odds of an adverse opinion). Every examiner is handled at
    once, in arrays over all exams, and then cut into one chart each.
    """
    if not comparable(len(risks), risks["is_adverse"].astype(int)):
        return []
    examiner = risks["examiner_id"]
    first = np.flatnonzero((examiner != examiner.shift()).to_numpy())
    counts = np.diff(np.r_[first, len(risks)])
    charted = counts >= 2 * settings.min_volume
    if not charted.any():
        return []
    keep = np.repeat(charted, counts)
    if examiner.iloc[first].duplicated().any():
        raise ValueError("drift risks must hold each examiner's exams together, in date order")
    names = examiner.iloc[first[charted]].tolist()
    counts = counts[charted]
    # The charted examiners' exams: examiner (0, 1, ...) and place in the examiner's sequence.
    starts = np.cumsum(counts) - counts
    unit = np.repeat(np.arange(counts.size), counts)
    place = np.arange(unit.size) - starts[unit]
    adverse = risks["is_adverse"].to_numpy(dtype=float)[keep]
    risk = special.expit(risks["eta_adverse"].to_numpy(dtype=float)[keep])
    dates = risks["exam_date"].to_numpy(dtype="datetime64[D]")[keep]
    baseline_end = np.maximum(
        settings.min_volume, (counts * settings.drift_baseline_share).astype(int)
    )
    in_baseline = place < baseline_end[unit]
    delta = baseline_log_odds_ratios(
        adverse[in_baseline], risk[in_baseline], unit[in_baseline], counts.size
    )
    # Every charted examiner has later exams: at least twice the minimum volume, and a
    # baseline of the minimum volume or a share below 1.
    later_unit, later_date = unit[~in_baseline], dates[~in_baseline]
    later_p = recalibrate_risks(risk[~in_baseline], delta[later_unit])
    period = later_date.astype("datetime64[M]").astype(np.int64) // settings.drift_batch_months
    # A batch is a run of one examiner's later exams in one period.
    new_batch = np.r_[True, (np.diff(later_unit) != 0) | (np.diff(period) != 0)]
    batch_start = np.flatnonzero(new_batch)
    trials = np.diff(np.r_[batch_start, later_unit.size])
    batch_adverse = np.add.reduceat(adverse[~in_baseline], batch_start)
    batch_risk = np.add.reduceat(later_p, batch_start) / trials
    log_terms = batch_log_terms(
        later_p, np.cumsum(new_batch) - 1, batch_start.size, settings.drift_odds_ratio
    )
    batch_end_date = later_date[batch_start + trials - 1]
    # Each examiner's batches are consecutive: cut the arrays at each examiner's first batch.
    cuts = np.r_[np.searchsorted(later_unit[batch_start], np.arange(counts.size)), batch_start.size]
    return [
        DriftChart(
            names[k],
            int(counts[k]),
            dates[starts[k] + baseline_end[k] - 1],
            batch_end_date[lo:hi],
            trials[lo:hi],
            batch_adverse[lo:hi],
            batch_risk[lo:hi],
            log_terms[lo:hi],
        )
        for k, (lo, hi) in enumerate(zip(cuts[:-1], cuts[1:], strict=True))
    ]


def score_risks(
    risks: pd.DataFrame, settings: FlagSettings, threshold: float | None = None
) -> pd.DataFrame:
    """A change in an examiner's own adverse-opinion rate: risk-adjusted CUSUM on own baseline.

    The panel threshold is simulated for these charts unless `threshold` (stored_threshold)
    is given.
    """
    charts = drift_charts(risks, settings)
    if not charts:
        return pd.DataFrame()
    if threshold is None:
        threshold = threshold_for_batched_panel(
            [c.trials for c in charts],
            [c.risk for c in charts],
            [c.log_terms for c in charts],
            settings.drift_false_alarm,
            settings.drift_odds_ratio,
            n_sim=settings.drift_simulations,
            rng=settings.seed,
        ).threshold
    observed = np.array([c.adverse.sum() for c in charts])
    expected = np.array([(c.trials * c.risk).sum() for c in charts])
    later = np.array([c.trials.sum() for c in charts])
    peak = np.array(
        [
            batched_cusum(
                c.adverse, c.log_terms, threshold, settings.drift_odds_ratio
            ).max_statistic
            for c in charts
        ]
    )
    interval = oe_ratio_interval(observed, expected)
    rows = pd.DataFrame(
        {
            "examiner_id": [c.examiner_id for c in charts],
            "peer_group": "the examiner's own first exams",
            "n": [c.n_exams for c in charts],
            "observed": observed,
            "expected": expected,
            "ratio": observed / expected,
            "ci_low": interval.low,
            "ci_high": interval.high,
            "raw_rate": observed / later,
            "peer_rate": expected / later,
            # For drift, z holds the CUSUM's highest value and z_adjusted that value over the
            # panel threshold: 1 or more is a signal.
            "z": peak,
            "z_adjusted": peak / threshold,
            "cusum_threshold": threshold,
            # Poisson tail of the later exams against the own-baseline expectation.
            "p_value": stats.poisson.sf(observed - 1, expected),
        }
    )
    return q_values_and_flags(rows, NAME, settings, signal=peak >= threshold)


def drift_threshold(flags: pd.DataFrame) -> float | None:
    """The panel's CUSUM threshold in a flags table; None when it has no drift chart."""
    thresholds = flags.loc[flags["measure"] == "drift", "cusum_threshold"].dropna()
    return float(thresholds.iloc[0]) if len(thresholds) else None


def drift_path(
    chart: DriftChart, threshold: float, settings: FlagSettings = DEFAULT_SETTINGS
) -> pd.DataFrame:
    """The CUSUM of one examiner over time, for the profile page: one row per batch (period).

    exam_date is the date of the batch's last exam, where the chart takes its step.
    """
    cusum = batched_cusum(chart.adverse, chart.log_terms, threshold, settings.drift_odds_ratio)
    return pd.DataFrame(
        {
            "exam_date": chart.batch_end_dates,
            "cusum": cusum.path,
            "observed_cumulative": np.cumsum(chart.adverse),
            "expected_cumulative": np.cumsum(chart.trials * chart.risk),
            "signal": np.isin(np.arange(len(chart.adverse)), cusum.signal_indices),
        }
    )


MEASURE = Measure(
    name=NAME,
    label="Drift over time",
    words=(
        "A risk-adjusted CUSUM of adverse opinions against the examiner's own earlier baseline "
        "(Steiner 2000), signalling a lasting doubling of the odds; it steps a calendar quarter "
        "of exams at a time, and the threshold is set by simulation at load so that at most 5% "
        "of examiners with no change would signal across the panel (a filtered view keeps it: "
        "its charts are no longer, so its false alarms can only be fewer)."
    ),
    method="risk-adjusted Bernoulli CUSUM on the examiner's own baseline (Steiner 2000), "
    "panel-wide false-alarm threshold by simulation",
    rate="adverse rate after the examiner's baseline",
    peer="rate expected from the examiner's own baseline",
    chart="cusum",
    score=score,
    planted_by="drift",
    export_prefix="drift",
    export_counts=("drift_n_later", "drift_adverse_later"),
)
