"""What a measure is, the settings every measure shares, and the last step all measures take.

A measure yields one row per examiner (or decision-maker) with the same columns: volume,
observed and expected counts, their ratio with an interval, a p-value, a Benjamini-Hochberg
q-value across examiners, and the flag; beside them the detail columns the pages and reports
draw from (the over-dispersion allowed for among them, so no consumer reconstructs it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd

import queries
from imestats.multiplicity import bh_qvalues, flag_units
from imestats.shrinkage import gamma_poisson_shrinkage

OUTPUT_COLUMNS = [
    "examiner_id",
    "measure",
    "n",
    "observed",
    "expected",
    "ratio",
    "ci_low",
    "ci_high",
    "p_value",
    "q_value",
    "flagged",
    # 'high' or 'low': the side of the comparison the examiner's figure lies on, and so the
    # side whose test p_value, q_value and flagged report (docs/methods.md, "Both directions").
    "direction",
]
DETAIL_COLUMNS = [
    "peer_group",
    "raw_rate",
    "peer_rate",
    "shrunken_ratio",
    "z",
    "z_adjusted",
    "eligible",
    "cusum_threshold",
    # Funnel measures: the unit's variance of O, the panel's additive between-examiner variance
    # (ratio scale) and multiplicative dispersion: what the funnel limits are drawn from.
    "variance",
    "tau2",
    "phi",
]
FLAG_COLUMNS = OUTPUT_COLUMNS + DETAIL_COLUMNS

# How a measure is drawn: a funnel of O/E against expected count; a forest of odds ratios with
# their intervals; a CUSUM path over time; a funnel of published counts.
CHART_KINDS = ("funnel", "odds_ratio", "cusum", "counts_funnel")


@dataclass(frozen=True)
class FlagSettings:
    """The choices a reviewer may change; defaults as docs/methods.md."""

    q: float = 0.05
    min_volume: int = 30
    adjustment: str = "tau2"
    # The case-mix models are fitted at load on a fixed hash sample of about this many exams
    # (every exam of a smaller database), then score every exam once. Past a few hundred
    # thousand exams more data barely moves some 70 coefficients, while the fit's cost grows
    # with the distinct covariate patterns, which are nearly as many as the exams.
    casemix_sample: int = 250_000
    # Drift: the first share of each examiner's exams is the baseline; the CUSUM looks for a
    # doubling of the odds (Steiner 2000) with a 5% panel-wide false-alarm probability. It
    # steps a calendar quarter of exams at a time, so its cost (above all the simulation of
    # the threshold) follows quarters, not exams.
    drift_batch_months: int = 3
    drift_baseline_share: float = 0.4
    drift_odds_ratio: float = 2.0
    drift_false_alarm: float = 0.05
    drift_simulations: int = 1000
    seed: int = 0


DEFAULT_SETTINGS = FlagSettings()


@dataclass(frozen=True)
class LogisticModel:
    """A case-mix model of a yes/no outcome per exam, fitted at load, stored per exam.

    `outcome` is a SQL expression over fct_exams that is true, false, or NULL where the exam
    does not count for the measure. Each exam's predicted probability is stored at load in
    fct_exams.expected_<measure>.
    """

    outcome: str
    extra_features: tuple[str, ...] = ()


@dataclass
class View:
    """What a measure reads: a connection, the reader's scope and filters, and the one grouped
    pass over the view's exams (`units`) that every measure with `aggregates` shares."""

    con: duckdb.DuckDBPyConnection
    scope: queries.Scope
    filters: queries.Filters
    units: pd.DataFrame | None = None
    _cache: dict = field(default_factory=dict)

    def run(self, name: str, **params) -> pd.DataFrame:
        return queries.run(self.con, name, self.scope, self.filters, **params)

    def run_sql(self, sql: str, per_exam: bool = False, **params) -> pd.DataFrame:
        return queries.run_sql(self.con, sql, self.scope, self.filters, per_exam, **params)


@dataclass(frozen=True)
class Measure:
    """One examiner measure, everything about it in one place.

    name: the key in flags tables, exports and the command line.
    label: how pages, charts and reports name it.
    words: the method in plain words (pages, audit packs, `ime flags --explain`).
    method: one line for export metadata.
    rate, peer: what raw_rate counts and what peer_rate is.
    chart: one of CHART_KINDS.
    ratio_label, ratio_short: how charts and tables name the measure's `ratio` (an axis, a
        hover, a column heading): observed / expected for most; an odds ratio says so.
    score: (View, FlagSettings) -> unit rows (FLAG_COLUMNS less q_value, flagged, eligible,
        measure), to be completed by `q_values_and_flags`; an empty frame when the view has
        nothing to compare.
    aggregates: (alias, SQL) columns this measure adds to the shared per-examiner pass over
        exams_in_view() (View.units). Only a measure with aggregates reads View.units: the
        others are scored while the engine runs that pass.
    model: the case-mix model fitted at load whose per-exam expectation the measure reads.
    stored: (column, SQL) per-exam values computed at load from the models' linear predictors
        (eta_<measure>) and feature terms (term_<feature>_<measure>), stored in fct_exams.
    high_means, low_means: what a finding on each side means, in words equally neutral (pages,
        audit packs, `ime flags --explain`); a measure that watches one side only (drift's
        CUSUM) leaves low_means empty.
    needs_exams: False for a measure of published counts, which needs no exam.
    planted_by: the demo data's planted pattern this measure should find (ime validate).
    export_prefix: the prefix of its columns in the examiner_rates export.
    export_counts: the examiner_counts columns its figures are built on: where one of them is
        suppressed for a reader, so are the measure's figures.
    disclosure_counts: for a model-based figure from which no count can be worked back (an
        odds ratio from a model), the counts that must each be at least k for its
        figures to be published (access.roles `robust`); empty: export_counts, any hidden.
    """

    name: str
    label: str
    words: str
    method: str
    rate: str
    peer: str
    chart: str
    score: Callable[[View, FlagSettings], pd.DataFrame]
    aggregates: tuple[tuple[str, str], ...] = ()
    model: LogisticModel | None = None
    stored: tuple[tuple[str, str], ...] = ()
    high_means: str = ""
    low_means: str = ""
    needs_exams: bool = True
    planted_by: str | None = None
    export_prefix: str = ""
    export_counts: tuple[str, ...] = ()
    disclosure_counts: tuple[str, ...] = ()
    ratio_label: str = "observed / expected"
    ratio_short: str = "O/E"

    def __post_init__(self) -> None:
        if self.chart not in CHART_KINDS:
            raise ValueError(f"{self.name}: chart must be one of {CHART_KINDS}, got {self.chart}")

    @property
    def expected_column(self) -> str:
        """The fct_exams column holding each exam's expectation under this measure's model."""
        return f"expected_{self.name}"


def comparable(trials, events) -> bool:
    """An outcome that never or always happens leaves nothing to compare examiners on."""
    return 0 < np.sum(events) < np.sum(trials)


def q_values_and_flags(
    rows: pd.DataFrame,
    measure: str,
    settings: FlagSettings,
    signal: np.ndarray | None = None,
    shrink: bool = True,
) -> pd.DataFrame:
    """q-values across examiners of at least the minimum volume, and the flag, on both sides.

    A measure gives `p_value` as its test's upper tail (more than expected), and `p_low` as
    its lower tail where the two do not add up to one (an exact test, whose two tails both
    count P(T = observed), or a continuity-corrected one); without `p_low` the lower tail is
    1 - p_value (a normal test). The two sides are two one-sided families, each with its own
    Benjamini-Hochberg q-values at settings.q, so the high side's q-values and flags are those
    of a one-sided analysis. A row's `direction` is the side its figure lies on (the smaller
    tail), and its p_value, q_value and flag are that side's. The flag is q below settings.q
    with the ratio on that side of 1, or, for a monitoring measure, the chart's `signal`
    (which watches for a rise only: its direction is always high); either way only at or
    above the minimum volume. `shrink` False leaves `shrunken_ratio` empty, for a measure
    whose ratio is not an observed/expected one (an odds ratio): the shrinkage pulls an
    observed/expected ratio towards 1, and drawn beside another kind of ratio it would mislead.
    """
    rows = rows.copy()
    rows["measure"] = measure
    # Empirical Bayes beside the raw ratio: small examiners are pulled towards 1.
    usable = (rows["expected"] > 0).to_numpy()
    rows["shrunken_ratio"] = np.nan
    if shrink and usable.sum() >= 2:
        shrunk = gamma_poisson_shrinkage(rows["observed"][usable], rows["expected"][usable])
        rows.loc[usable, "shrunken_ratio"] = shrunk.posterior_mean
    rows["eligible"] = rows["n"] >= settings.min_volume
    p_high = rows["p_value"].where(rows["eligible"]).to_numpy(dtype=float)
    q_high = bh_qvalues(p_high)
    if signal is not None:
        rows["q_value"] = q_high
        rows["direction"] = "high"
        rows["flagged"] = signal & rows["eligible"].to_numpy()
        return _in_order(rows)
    ratio = rows["ratio"].to_numpy(dtype=float)
    n = rows["n"].to_numpy()
    flagged_high = flag_units(q_high, n, settings.q, settings.min_volume) & (ratio > 1)
    lower = rows["p_low"] if "p_low" in rows else 1 - rows["p_value"]
    p_low = lower.where(rows["eligible"]).to_numpy(dtype=float)
    q_low = bh_qvalues(p_low)
    flagged_low = flag_units(q_low, n, settings.q, settings.min_volume) & (ratio < 1)
    p = rows["p_value"].to_numpy(dtype=float)
    # Without a test, the side of the ratio.
    low = np.where(np.isnan(p), ratio < 1, lower.to_numpy(dtype=float) < p)
    rows["direction"] = np.where(low, "low", "high")
    rows["p_value"] = np.where(low, lower, rows["p_value"])
    rows["q_value"] = np.where(low, q_low, q_high)
    rows["flagged"] = np.where(low, flagged_low, flagged_high)
    return _in_order(rows)


def _in_order(rows: pd.DataFrame) -> pd.DataFrame:
    """One measure's rows by examiner; columns a measure has no use for (the CUSUM threshold
    outside drift) are left empty."""
    rows = rows.reindex(columns=FLAG_COLUMNS)
    # Most measures come in examiner order already (their grouped pass sorts): then a sort
    # would only copy every column.
    examiners = rows["examiner_id"]
    if examiners.is_unique and examiners.is_monotonic_increasing:
        return rows.reset_index(drop=True)
    return rows.sort_values(["measure", "examiner_id"], ignore_index=True)
