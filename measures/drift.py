"""Drift: a change in the examiner's own behaviour over time (docs/methods.md).

A risk-adjusted Bernoulli CUSUM of adverse opinions against the examiner's own earlier
baseline (Steiner 2000): the stored case-mix probability of each exam, recalibrated to the
examiner's baseline, in steps of a calendar period, signalling when it crosses a threshold
simulated for a panel-wide false-alarm rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
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
# The exams a chart counts: an examiner's, with an adverse-opinion outcome and a stored
# case-mix risk strictly between 0 and 1; $examiner_id NULL: every examiner's.
CHARTED_EXAMS = """examiner_id IS NOT NULL AND is_adverse IS NOT NULL
    AND expected_adverse_opinion > 0 AND expected_adverse_opinion < 1
    AND ($examiner_id IS NULL OR examiner_id = $examiner_id)"""
# An exam's calendar period: months since January 1970, floor-divided by
# FlagSettings.drift_batch_months ($batch_months), as batches_from_exams counts them.
PERIOD = (
    "CAST(floor(((year(exam_date) - 1970) * 12 + month(exam_date) - 1) / $batch_months) "
    "AS BIGINT)"
)
# The view's charted exams counted per examiner and period, each examiner's periods in time
# order: what decides, without reading any exam, which examiners are charted and in which
# period each baseline ends (a baseline is a count of exams, not a period).
PERIODS_SQL = f"""
SELECT examiner_id, {PERIOD} AS period, count(*) AS n, count_if(is_adverse) AS adverse
FROM exams_in_view()
WHERE {CHARTED_EXAMS}
GROUP BY ALL
ORDER BY ALL
"""
# The charted examiners' exams as numbers (examiner by its place in $examiners, date as days
# since 1 January 1970: no conversion of dates on the way to arrays), each marked
# in the baseline or not: before the period in which the examiner's baseline ends, in it,
# or after it. Only the exams of that one period are put in order (date, exam_id breaking
# ties) to find the baseline's last. Sorting every exam of the view instead, and reading each
# back with its examiner's id, cost more: filtered to one jurisdiction at 10^7 exams, 2.2 s of
# CPU against 1.7 s for these two queries and the arrays.
EXAMS_SQL = f"""
WITH splits AS (
    SELECT
        unnest($examiners) AS examiner_id,
        unnest(range(len($examiners))) AS unit,
        unnest($split_periods) AS split_period,
        unnest($split_baselines) AS split_baseline
),
exams AS MATERIALIZED (
    SELECT
        CAST(unit AS INTEGER) AS unit,
        CAST({PERIOD} AS INTEGER) AS period,
        CAST(exam_date - DATE '1970-01-01' AS INTEGER) AS day,
        exam_id,
        CAST(is_adverse AS TINYINT) AS is_adverse,
        ln(expected_adverse_opinion / (1 - expected_adverse_opinion)) AS eta_adverse,
        split_period,
        split_baseline
    FROM exams_in_view() JOIN splits USING (examiner_id)
    WHERE {CHARTED_EXAMS}
)
SELECT unit, period, day, is_adverse, eta_adverse, period < split_period AS in_baseline
FROM exams
WHERE period <> split_period
UNION ALL
SELECT unit, period, day, is_adverse, eta_adverse,
    row_number() OVER (PARTITION BY unit ORDER BY day, exam_id) <= split_baseline
FROM exams
WHERE period = split_period
"""


# A batch table: one row per examiner and batch (the later exams of one calendar period of
# FlagSettings.drift_batch_months), each examiner's batches together in time order: the
# examiner's exams and baseline's last date, the batch's last date, exams, adverse opinions,
# sum of own-baseline risks p and of log(1 - p + R p), and the CUSUM without reset after it.
BATCH_COLUMNS = [
    "examiner_id",
    "n_exams",
    "baseline_end_date",
    "batch_end_date",
    "trials",
    "adverse",
    "risk_sum",
    "log_terms",
    "cusum",
]


@dataclass(frozen=True)
class DriftChart:
    """One examiner's exams after the baseline, in batches of calendar periods, for the CUSUM.

    Per batch (the later exams of one period of FlagSettings.drift_batch_months): the date of
    its last exam, its exams, adverse opinions, mean own-baseline risk, the sum of
    log(1 - p + R p) over its exams and the CUSUM without reset after it.
    """

    examiner_id: str
    n_exams: int
    baseline_end_date: object
    batch_end_dates: np.ndarray
    trials: np.ndarray
    adverse: np.ndarray
    risk: np.ndarray
    log_terms: np.ndarray
    unreset_cusum: np.ndarray


def drift_batches(
    view: View, settings: FlagSettings, examiner_id: str | None = None
) -> pd.DataFrame:
    """Per examiner in view with enough exams (or the one asked for), sorted by examiner: the
    later exams in batches by period, their risks recalibrated to the examiner's baseline
    (BATCH_COLUMNS), from the view's exams: their counts per period (PERIODS_SQL), then the
    charted examiners' exams as numbers (EXAMS_SQL)."""
    params = {"examiner_id": examiner_id, "batch_months": settings.drift_batch_months}
    # Through Arrow, like a result of a row per exam: filtered to one jurisdiction at 10^7
    # exams, its 99,666 rows of an examiner id, a period and two counts took 0.27 s of CPU
    # against 0.28 to 0.35 s through DuckDB's own conversion.
    periods = view.run_sql(PERIODS_SQL, per_exam=True, **params)
    if not comparable(periods["n"], periods["adverse"]):
        return pd.DataFrame(columns=BATCH_COLUMNS)
    examiner = periods["examiner_id"].to_numpy()
    n = periods["n"].to_numpy(dtype=np.int64)
    first = np.flatnonzero(np.r_[True, examiner[1:] != examiner[:-1]])
    counts = np.add.reduceat(n, first)
    charted = counts >= 2 * settings.min_volume
    if not charted.any():
        return pd.DataFrame(columns=BATCH_COLUMNS)
    # Per period row: the examiner's exams up to its end; the baseline ends in the one period
    # whose exams reach the baseline's count.
    row_examiner = np.repeat(np.arange(first.size), np.diff(np.r_[first, n.size]))
    through = np.cumsum(n)
    through -= (through - n)[first][row_examiner]
    end = _baseline_ends(counts, settings)[row_examiner]
    split = charted[row_examiner] & (through - n < end) & (end <= through)
    exams = view.run_sql(
        EXAMS_SQL,
        per_exam=True,
        **params,
        examiners=examiner[split].tolist(),
        split_periods=periods["period"].to_numpy()[split].tolist(),
        split_baselines=(end - (through - n))[split].tolist(),
    )
    return _batch_table(
        examiner[split],
        counts[charted],
        exams["unit"].to_numpy(dtype=np.intp),
        exams["in_baseline"].to_numpy(dtype=bool),
        exams["period"].to_numpy(dtype=np.int64),
        exams["day"].to_numpy(dtype=np.int64),
        exams["is_adverse"].to_numpy(dtype=float),
        special.expit(exams["eta_adverse"].to_numpy(dtype=float)),
        settings,
    )


def charts_of(batches: pd.DataFrame) -> list[DriftChart]:
    """One DriftChart per examiner of a batch table (drift_batches, batches_from_exams)."""
    cuts = np.r_[0, np.cumsum(batches.groupby("examiner_id", sort=False).size().to_numpy())]
    columns = {c: batches[c].to_numpy() for c in BATCH_COLUMNS}
    trials = columns["trials"].astype(int)
    return [
        DriftChart(
            columns["examiner_id"][lo],
            int(columns["n_exams"][lo]),
            columns["baseline_end_date"][lo],
            columns["batch_end_date"][lo:hi].astype("datetime64[D]"),
            trials[lo:hi],
            columns["adverse"][lo:hi].astype(float),
            columns["risk_sum"][lo:hi] / trials[lo:hi],
            columns["log_terms"][lo:hi].astype(float),
            columns["cusum"][lo:hi].astype(float),
        )
        for lo, hi in zip(cuts[:-1], cuts[1:], strict=True)
    ]


def drift_charts(
    view: View, settings: FlagSettings, examiner_id: str | None = None
) -> list[DriftChart]:
    """The drift charts of a view (or of one examiner in it), for pages and reports."""
    return charts_of(drift_batches(view, settings, examiner_id))


def batches_from_exams(risks: pd.DataFrame, settings: FlagSettings) -> pd.DataFrame:
    """The batch table (BATCH_COLUMNS) of exams held outside the database (the benchmark's
    pandas way, and the tests' reading by hand of what drift_batches reads in the database).

    `risks` has one row per exam with examiner_id, exam_date, is_adverse and eta_adverse
    (the case-mix log odds of an adverse opinion), each examiner's exams together in date
    order.
    """
    if not comparable(len(risks), risks["is_adverse"].astype(int)):
        return pd.DataFrame(columns=BATCH_COLUMNS)
    examiner = risks["examiner_id"]
    first = np.flatnonzero((examiner != examiner.shift()).to_numpy())
    counts = np.diff(np.r_[first, len(risks)])
    charted = counts >= 2 * settings.min_volume
    if not charted.any():
        return pd.DataFrame(columns=BATCH_COLUMNS)
    keep = np.repeat(charted, counts)
    if examiner.iloc[first].duplicated().any():
        raise ValueError("drift risks must hold each examiner's exams together, in date order")
    names = examiner.iloc[first[charted]].to_numpy()
    counts = counts[charted]
    # The charted examiners' exams: examiner (0, 1, ...) and place in the examiner's sequence.
    starts = np.cumsum(counts) - counts
    unit = np.repeat(np.arange(counts.size), counts)
    place = np.arange(unit.size) - starts[unit]
    dates = risks["exam_date"].to_numpy(dtype="datetime64[D]")[keep]
    return _batch_table(
        names,
        counts,
        unit,
        place < _baseline_ends(counts, settings)[unit],
        dates.astype("datetime64[M]").astype(np.int64) // settings.drift_batch_months,
        dates.astype(np.int64),
        risks["is_adverse"].to_numpy(dtype=float)[keep],
        special.expit(risks["eta_adverse"].to_numpy(dtype=float)[keep]),
        settings,
    )


def _baseline_ends(counts: np.ndarray, settings: FlagSettings) -> np.ndarray:
    """How many of an examiner's first exams (of `counts`) are its baseline."""
    return np.maximum(settings.min_volume, (counts * settings.drift_baseline_share).astype(int))


def _batch_table(
    names: np.ndarray,
    n_exams: np.ndarray,
    unit: np.ndarray,
    in_baseline: np.ndarray,
    period: np.ndarray,
    days: np.ndarray,
    adverse: np.ndarray,
    risk: np.ndarray,
    settings: FlagSettings,
) -> pd.DataFrame:
    """The batch table (BATCH_COLUMNS) of the charted examiners `names` (sorted, with their
    `n_exams`), from their exams in any order: examiner (place in `names`), whether in the
    baseline, calendar period, date (days since 1 January 1970), adverse opinion (0 or 1)
    and case-mix risk.

    Every examiner is handled at once, in arrays over all exams. The CUSUM without reset is
    C_k - min(0, min over j <= k of C_j), C the running sum of the batch weights
    W = O log R - sum log(1 - p + R p) (Lindley's recursion): the chart's path up to the
    first crossing of any threshold.
    """
    n_units = len(names)
    delta = baseline_log_odds_ratios(
        adverse[in_baseline], risk[in_baseline], unit[in_baseline], n_units
    )
    baseline_end = np.full(n_units, np.iinfo(np.int64).min)
    np.maximum.at(baseline_end, unit[in_baseline], days[in_baseline])
    # Every charted examiner has later exams: at least twice the minimum volume, and a
    # baseline of the minimum volume or a share below 1.
    later = ~in_baseline
    later_unit, later_period, later_days = unit[later], period[later], days[later]
    later_p = recalibrate_risks(risk[later], delta[later_unit])
    # A batch is one examiner's later exams of one period: numbered by examiner, then period,
    # through a table of every examiner and period in between (no sort of the exams).
    first_period = later_period.min()
    span = int(later_period.max() - first_period) + 1
    key = later_unit * span + (later_period - first_period)
    occupied = np.bincount(key, minlength=n_units * span) > 0
    batch = (np.cumsum(occupied) - 1)[key]
    n_batches = int(occupied.sum())
    trials = np.bincount(batch, minlength=n_batches)
    batch_adverse = np.bincount(batch, weights=adverse[later], minlength=n_batches)
    risk_sum = np.bincount(batch, weights=later_p, minlength=n_batches)
    log_terms = batch_log_terms(later_p, batch, n_batches, settings.drift_odds_ratio)
    batch_end = np.full(n_batches, np.iinfo(np.int64).min)
    np.maximum.at(batch_end, batch, later_days)
    batch_unit = np.flatnonzero(occupied) // span
    # The CUSUM without reset: each examiner's running sum less its running minimum below 0.
    weights = pd.Series(batch_adverse * np.log(settings.drift_odds_ratio) - log_terms)
    running = weights.groupby(batch_unit).cumsum()
    unreset = (running - np.minimum(0.0, running.groupby(batch_unit).cummin())).to_numpy()
    return pd.DataFrame(
        {
            "examiner_id": np.asarray(names, dtype=object)[batch_unit],
            "n_exams": np.asarray(n_exams)[batch_unit],
            "baseline_end_date": baseline_end.astype("datetime64[D]")[batch_unit],
            "batch_end_date": batch_end.astype("datetime64[D]"),
            "trials": trials,
            "adverse": batch_adverse,
            "risk_sum": risk_sum,
            "log_terms": log_terms,
            "cusum": unreset,
        }
    )


def stored_threshold(view: View, settings: FlagSettings) -> float | None:
    """The panel threshold `ime load` simulated for the whole database: for the default view
    the one kept since the case-mix models were last fitted (kept_threshold), for a view with
    fewer exams (a filter or an insurer's scope) the one stored with the default view's flags;
    None when there is none, and for settings other than the default.

    A view's charts are the same examiners' exams or fewer, in series no longer than the whole
    database's, so under this threshold its panel-wide false-alarm rate can only fall below
    the target: reusing it keeps the flag honest and spares the simulation (seconds at 10^6
    exams) on every filter. The threshold is a setting of the method, not a figure of any
    examiner: every role may read it.
    """
    if settings != DEFAULT_SETTINGS:
        return None
    whole = view.scope.role != "insurer" and view.filters == queries.NO_FILTERS
    # A cursor of its own: measures are scored side by side (measures.engine).
    cur = view.con.cursor()
    try:
        if whole:
            return kept_threshold(cur)
        stored = cur.execute(
            "SELECT any_value(cusum_threshold) FROM examiner_flags WHERE measure = $measure",
            {"measure": NAME},
        ).fetchall()
    finally:
        cur.close()
    return stored[0][0] if stored else None


def kept_threshold(con: duckdb.DuckDBPyConnection) -> float | None:
    """The threshold simulated since the case-mix models were last fitted (drift_thresholds),
    if any: like the models, it is kept until the next refit, so that a small load does not
    simulate the panel again (docs/methods.md, "When the models are refitted")."""
    if not queries.table_exists(con, "drift_thresholds"):
        return None
    kept = con.execute(
        "SELECT threshold FROM drift_thresholds "
        "WHERE load_id >= (SELECT max(load_id) FROM casemix_fits) "
        "ORDER BY load_id DESC LIMIT 1"
    ).fetchall()
    return kept[0][0] if kept else None


def keep_threshold(con: duckdb.DuckDBPyConnection, flags: pd.DataFrame) -> None:
    """At load, after the default view's `flags`: keep their drift threshold if it was
    simulated now (none was kept since the last fit)."""
    threshold = drift_threshold(flags)
    if threshold is None or kept_threshold(con) is not None:
        return
    con.execute(
        "INSERT INTO drift_thresholds VALUES (currval('load_id_seq'), $threshold)",
        {"threshold": threshold},
    ).fetchall()


def score(view: View, settings: FlagSettings) -> pd.DataFrame:
    return score_batches(
        drift_batches(view, settings), settings, stored_threshold(view, settings)
    )


def score_batches(
    batches: pd.DataFrame, settings: FlagSettings, threshold: float | None = None
) -> pd.DataFrame:
    """A change in an examiner's own adverse-opinion rate: risk-adjusted CUSUM on own baseline.

    The panel threshold is simulated for these charts unless `threshold` (stored_threshold)
    is given.
    """
    if batches.empty:
        return pd.DataFrame()
    if threshold is None:
        charts = charts_of(batches)
        threshold = threshold_for_batched_panel(
            [c.trials for c in charts],
            [c.risk for c in charts],
            [c.log_terms for c in charts],
            settings.drift_false_alarm,
            settings.drift_odds_ratio,
            n_sim=settings.drift_simulations,
            rng=settings.seed,
        ).threshold
    units = batches.groupby("examiner_id", sort=False).agg(
        n=("n_exams", "first"),
        observed=("adverse", "sum"),
        expected=("risk_sum", "sum"),
        later=("trials", "sum"),
        peak=("cusum", "max"),
    )
    observed = units["observed"].to_numpy(dtype=float)
    expected = units["expected"].to_numpy(dtype=float)
    later = units["later"].to_numpy(dtype=float)
    # Below the threshold the chart's highest value is that of the path without reset; a
    # chart that crossed it restarts at 0 after each signal, so its own recursion decides.
    peak = units["peak"].to_numpy(dtype=float, copy=True)
    crossed = peak >= threshold
    if crossed.any():
        signalled = batches[batches["examiner_id"].isin(units.index[crossed])]
        peak[crossed] = [
            batched_cusum(
                chart.adverse, chart.log_terms, threshold, settings.drift_odds_ratio
            ).max_statistic
            for chart in charts_of(signalled)
        ]
    interval = oe_ratio_interval(observed, expected)
    rows = pd.DataFrame(
        {
            "examiner_id": units.index.to_numpy(),
            "peer_group": "the examiner's own first exams",
            "n": units["n"].to_numpy(dtype=int),
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
    high_means=(
        "the examiner's later exams more often adverse than their own baseline: a rise over "
        "time"
    ),
)
