"""The tables of `ime export` and the Exports page, and the export itself.

Each table is read through the one query runner (so the scope holds where data are read),
described column by column, declared with the counts every rate, interval or ratio is built
on and how its counts add up, passed through `access.roles.for_role`, and written by
`outputs.files.write_export` with a data dictionary and citable metadata. Every export is
recorded in the audit log.

Tables (all aggregates):

- ``examiner_rates``: per examiner, volumes, opinion and decision rates with intervals, and
  every examiner comparison (O/E with intervals, shrunken estimate, p, q, flag).
- ``insurer_rates``: per insurer, the opinion and decision rates of docs/methods.md.
- ``monthly_rates``: the same per calendar month of the exam.
- ``mmi_summary``: time to MMI per group of several case features: Kaplan-Meier median with
  its interval and the log-rank test across the groups of each feature.
- ``impairment_distribution``: impairment ratings by body part and guides edition.
- ``decision_counts_flags``: published decision counts per decision-maker with the funnel
  comparison and FDR flags.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

import queries
from access import audit
from access.roles import (
    EXPORTABLE_TABLES,
    MARKET,
    OWN,
    POPULATION,
    Margin,
    Presented,
    Relation,
    check_exportable,
    check_filters,
    for_role,
)
from imestats.proportions import wilson_interval
from imestats.suppression import DEFAULT_K, RULE_VERSION
from imestats.survival import kaplan_meier_from_counts, logrank_from_counts
from measures.base import DEFAULT_SETTINGS, FlagSettings
from measures.engine import compute_flags, flags_for_view
from measures.registry import MEASURES
from outputs import provenance
from outputs.files import ExportFiles, snapshot_hash, write_export
from outputs.rounding import tidy
from queries import FULL_ACCESS, Filters, Scope
from queries.known_values import check_known

NO_FILTERS = Filters()
METHOD_VERSIONS = {
    "ime_outcomes": importlib.metadata.version("ime-outcomes"),
    "rate_interval": "Wilson score interval, 95%, no continuity correction",
    "oe_interval": "exact Poisson (Garwood) interval of O divided by E, 95%",
    "case_mix": "logistic model of case features with specialty, no examiner term (SPEC 2)",
    "overdispersion": "additive tau2 (DerSimonian-Laird on winsorised z-scores, 10% trim)",
    "multiplicity": "Benjamini-Hochberg q-values across examiners at or above minimum volume",
    "shrinkage": "gamma-Poisson empirical Bayes",
    "kaplan_meier": "Greenwood variance, 95% band on the log scale, Brookmeyer-Crowley median "
                    "interval",
    "logrank": "log-rank chi-square across the groups of one feature",
    "suppression": f"access.roles over imestats.suppression rule version {RULE_VERSION}",
    **{name: m.method for name, m in MEASURES.items()},
}

PSEUDONYM_WORDS = (
    "Stable pseudonym (keyed HMAC-SHA256 of the id; not reversible without the key)"
)
COMMON_DICTIONARY = {
    POPULATION: (
        f"Whose cases the row counts: {OWN!r} (the insurer's own, as they are) or {MARKET!r} "
        "(aggregates over every insurer, suppressed)"
    ),
    "examiner": f"{PSEUDONYM_WORDS} of the examiner; a total row keeps its label",
    "maker": f"{PSEUDONYM_WORDS} of the decision-maker; a total row keeps its label",
}


# ---------------------------------------------------------------------------------------------
# Column layouts: one declaration gives the dictionary, the derived columns and the values.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Count:
    """A count column, as read from the query."""

    name: str
    words: str


@dataclass(frozen=True)
class Value:
    """A non-count column read from the query (a label, a mean), built on `sources` counts."""

    name: str
    words: str
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rate:
    """A proportion `events / trials` with its 95% Wilson interval."""

    prefix: str
    events: str
    trials: str
    words: str

    @property
    def columns(self) -> tuple[str, str, str]:
        return (f"{self.prefix}_rate", f"{self.prefix}_rate_ci_low", f"{self.prefix}_rate_ci_high")


@dataclass(frozen=True)
class Comparison:
    """One measure of the engine (measures/) per row: the figures behind its flag."""

    measure: str
    prefix: str
    counts: tuple[str, ...]
    words: str
    ratio: str = "oe"
    expected: bool = True
    # Model-based figures hidden only where one of `counts` is small (access.roles `robust`).
    robust: bool = False

    @property
    def columns(self) -> dict[str, str]:
        """Output column -> flags column."""
        r = f"{self.prefix}_{self.ratio}"
        out = {f"{self.prefix}_expected": "expected"} if self.expected else {}
        return {
            **out, r: "ratio", f"{r}_ci_low": "ci_low", f"{r}_ci_high": "ci_high",
            f"{r}_shrunken": "shrunken_ratio", f"{self.prefix}_p": "p_value",
            f"{self.prefix}_q": "q_value", f"{self.prefix}_flagged": "flagged",
        }


Item = Count | Value | Rate | Comparison


def _dictionary(layout: Sequence[Item]) -> dict[str, str]:
    out = {}
    for item in layout:
        if isinstance(item, Count | Value):
            out[item.name] = item.words
        elif isinstance(item, Rate):
            rate, low, high = item.columns
            out[rate] = f"{item.words}: {item.events} / {item.trials}"
            out[low] = f"Lower limit of the 95% Wilson interval of {rate}"
            out[high] = f"Upper limit of the 95% Wilson interval of {rate}"
        else:
            names = list(item.columns)
            ratio = names[1] if item.expected else names[0]
            if item.expected:
                out[names[0]] = f"{item.words}: expected count for the row's own cases"
            out[ratio] = f"{item.words}: {MEASURES[item.measure].ratio_label}"
            out[f"{ratio}_ci_low"] = f"Lower limit of the 95% interval of {ratio}"
            out[f"{ratio}_ci_high"] = f"Upper limit of the 95% interval of {ratio}"
            out[f"{ratio}_shrunken"] = (
                f"{ratio} shrunk towards 1 by empirical Bayes (small volumes move most)"
            )
            out[f"{item.prefix}_p"] = (
                f"One-sided p-value on the side {ratio} lies (above 1 or below 1), as the "
                "measure's method gives it (docs/methods.md)"
            )
            out[f"{item.prefix}_q"] = "Benjamini-Hochberg q-value across units of minimum volume"
            out[f"{item.prefix}_flagged"] = (
                f"True when q is below the threshold (0.05) on the side {ratio} lies (above 1 "
                "or below 1), with at least the minimum volume (30): a reason to look, not a "
                "verdict"
            )
    return out


def _derived(layout: Sequence[Item]) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for item in layout:
        if isinstance(item, Value) and item.sources:
            out[item.name] = item.sources
        elif isinstance(item, Rate):
            out.update(dict.fromkeys(item.columns, (item.events, item.trials)))
        elif isinstance(item, Comparison):
            out.update(dict.fromkeys(item.columns, item.counts))
    return out


def _layout_columns(
    layout: Sequence[Item], counts: pd.DataFrame, flags: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The table's columns in layout order: counts and values read, rates and flags added.

    `flags` is the engine's output for the rows, indexed like `counts`, one column block per
    measure (a MultiIndex of measure and flags column); rows without a figure stay missing.
    """
    out = {}
    for item in layout:
        if isinstance(item, Count | Value):
            out[item.name] = counts[item.name]
        elif isinstance(item, Rate):
            k = counts[item.events].astype("Float64").fillna(0).to_numpy(dtype=float)
            n = counts[item.trials].astype("Float64").fillna(0).to_numpy(dtype=float)
            ci = wilson_interval(k, n)
            for col, values in zip(item.columns, (ci.estimate, ci.low, ci.high), strict=True):
                out[col] = pd.Series(values, index=counts.index, dtype="float64")
        else:
            block = (
                flags[item.measure] if flags is not None and item.measure in flags
                else pd.DataFrame(index=counts.index)
            )
            for col, source in item.columns.items():
                values = block[source] if source in block else pd.Series(np.nan, index=counts.index)
                dtype = "boolean" if source == "flagged" else "float64"
                out[col] = values.reindex(counts.index).astype(dtype)
    return pd.DataFrame(out, index=counts.index)


@dataclass(frozen=True)
class Aggregate:
    """A table read under one scope, indexed by row label, with its margins (totals last)."""

    frame: pd.DataFrame
    margins: tuple[Margin, ...] = ()

    @property
    def total_label(self) -> object:
        """The label of the grand total row: the last margin's."""
        return self.margins[-1][0]


Reader = Callable[[duckdb.DuckDBPyConnection, Scope, Filters, FlagSettings, bool], Aggregate]


@dataclass(frozen=True)
class ExportTable:
    """One exportable table: what it is, how to read it, and what its numbers are built on.

    ``market`` says what an insurer gets beside its own rows: "rows" (the same rows over all
    insurers), "total" (the grand total over all insurers only, as the rows name examiners
    or insurers), or "only" (the table is market data and has no own rows).
    """

    name: str
    description: str
    grain: str
    layout: tuple[Item, ...]
    relations: tuple[Relation, ...]
    read: Reader
    market: str
    id_columns: tuple[str, ...] = ()
    prefer: tuple[str, ...] = ()

    @property
    def count_cols(self) -> list[str]:
        return [item.name for item in self.layout if isinstance(item, Count)]

    @property
    def derived(self) -> dict[str, tuple[str, ...]]:
        return _derived(self.layout)

    @property
    def robust(self) -> list[str]:
        """Derived columns hidden only where a count they rest on is small (access.roles)."""
        return [
            col for item in self.layout
            if isinstance(item, Comparison) and item.robust for col in item.columns
        ]

    @property
    def dictionary(self) -> dict[str, str]:
        return {**_dictionary(self.layout), **COMMON_DICTIONARY}

    def rates(self, counts: pd.DataFrame) -> pd.DataFrame:
        """Rate and interval columns rebuilt from `counts` (for_role passes rounded ones)."""
        return _layout_columns([item for item in self.layout if isinstance(item, Rate)], counts)


# ---------------------------------------------------------------------------------------------
# Rates of docs/methods.md (per insurer, per month): the counts of the rates_by_* queries.
# ---------------------------------------------------------------------------------------------

# The three opinions beside the adverse one, each with its own denominator (docs/methods.md).
OPINION_RATES: tuple[Item, ...] = (
    Count("n_causation", "Exams with a causation opinion other than undetermined"),
    Count("n_not_related", "Exams finding the condition not related"),
    Rate("not_related", "n_not_related", "n_causation", "Not-related rate"),
    Count("n_treatment_opinion", "Exams with a further-treatment opinion"),
    Count("n_no_treatment", "Exams recommending no further treatment"),
    Rate("no_treatment", "n_no_treatment", "n_treatment_opinion", "No-treatment rate"),
    Count("n_capacity_opinion", "Exams with a work-capacity opinion"),
    Count("n_full_duty", "Exams finding full duty"),
    Rate("full_duty", "n_full_duty", "n_capacity_opinion", "Full-duty rate"),
)

RATES_LAYOUT: tuple[Item, ...] = (
    Count("n_exams", "Exams"),
    Count("n_adverse", "Exams with an adverse opinion (not related, no further treatment, or "
                       "MMI reached at 0% WPI)"),
    Rate("adverse", "n_adverse", "n_exams", "Adverse-opinion rate"),
    *OPINION_RATES,
    Count("n_rated", "Exams with an impairment rating (wpi_percent)"),
    Count("n_zero_wpi", "Rated exams at 0% whole-person impairment"),
    Rate("zero_wpi", "n_zero_wpi", "n_rated", "Zero-impairment rate"),
    Count("n_with_decision", "Exams followed by a decision on the claim (within 90 days of "
                             "the report, or naming the exam)"),
    Count("n_denied", "Exams followed by a denial or termination"),
    Rate("denial", "n_denied", "n_with_decision", "Post-exam denial rate"),
    Count("n_partially_denied", "Exams followed by a partial denial or a reduction"),
    Rate("partial_denial", "n_partially_denied", "n_with_decision",
         "Post-exam partial-denial rate"),
)
RATES_RELATIONS: tuple[Relation, ...] = (
    ("n_exams", ["n_adverse"]),
    ("n_exams", ["n_causation"]),
    ("n_causation", ["n_not_related"]),
    ("n_exams", ["n_treatment_opinion"]),
    ("n_treatment_opinion", ["n_no_treatment"]),
    ("n_exams", ["n_capacity_opinion"]),
    ("n_capacity_opinion", ["n_full_duty"]),
    ("n_exams", ["n_rated"]),
    ("n_rated", ["n_zero_wpi"]),
    ("n_exams", ["n_with_decision"]),
    ("n_with_decision", ["n_denied", "n_partially_denied"]),
    # Not related and no treatment are adverse by definition: the rest is readable.
    ("n_adverse", ["n_not_related"]),
    ("n_adverse", ["n_no_treatment"]),
)


def _with_total(rows: pd.DataFrame, label_col: str, label: str) -> Aggregate:
    """Rows indexed by their label, then a total row of every count column."""
    rows = rows.set_index(rows[label_col].astype(str), drop=False)
    numeric = [c for c in rows.columns if c.startswith("n_")]
    total = pd.DataFrame(
        {label_col: [label], **{c: [rows[c].sum()] for c in numeric}}, index=[label]
    )
    frame = pd.concat([rows, total.astype(rows[numeric].dtypes.to_dict())])
    return Aggregate(frame, ((label, tuple(rows.index)),))


def _read_insurer_rates(con, scope, filters, settings, with_flags) -> Aggregate:
    rows = queries.run(con, "rates_by_group", scope, filters, dimension="insurer_id")
    agg = _with_total(rows.rename(columns={"group_value": "insurer_id"}), "insurer_id", "total")
    return Aggregate(_layout_columns(INSURER_RATES_LAYOUT, agg.frame), agg.margins)


def _read_monthly_rates(con, scope, filters, settings, with_flags) -> Aggregate:
    rows = queries.run(con, "rates_by_month", scope, filters)
    rows.insert(0, "month", pd.to_datetime(rows.pop("exam_month")).dt.strftime("%Y-%m"))
    agg = _with_total(rows, "month", "all months")
    return Aggregate(_layout_columns(MONTHLY_LAYOUT, agg.frame), agg.margins)


INSURER_RATES_LAYOUT = (Value("insurer_id", "Insurer (claim holder); 'total' on the "
                                            "total row"), *RATES_LAYOUT)
MONTHLY_LAYOUT = (Value("month", "Calendar month of the exam date (YYYY-MM); 'all months' on "
                                 "the total row"), *RATES_LAYOUT)


# ---------------------------------------------------------------------------------------------
# Examiner rates: counts, rates and every comparison of the measure engine.
# ---------------------------------------------------------------------------------------------

def comparison(name: str) -> Comparison:
    """The columns of one measure of the registry in the examiner_rates export."""
    m = MEASURES[name]
    odds = m.chart == "odds_ratio"
    return Comparison(
        name, m.export_prefix, m.disclosure_counts or m.export_counts, f"{m.label}: {m.method}",
        ratio="ratio" if odds else "oe", expected=not odds, robust=bool(m.disclosure_counts),
    )


_EXAMINER_ITEMS: tuple[Item, ...] = (
    Value("examiner_id", "Examiner id; 'all examiners' on the total row"),
    Value("examiner_name", "Examiner name (regulators only)"),
    Value("specialty", "Examiner specialty: the peer group of the comparisons"),
    Count("n_exams", "Exams"),
    Count("n_adverse", "Exams with an adverse opinion (not related, no further treatment, or "
                       "MMI reached at 0% WPI)"),
    Rate("adverse", "n_adverse", "n_exams", "Adverse-opinion rate"),
    comparison("adverse_opinion"),
    Count("n_with_decision", "Exams followed by a decision on the claim"),
    Count("n_denied", "Exams followed by a denial or termination"),
    Rate("denial", "n_denied", "n_with_decision", "Post-exam denial rate"),
    comparison("denial"),
    Count("n_partially_denied", "Exams followed by a partial denial or a reduction"),
    Rate("partial_denial", "n_partially_denied", "n_with_decision", "Partial-denial rate"),
    Count("n_rated", "Exams with an impairment rating"),
    Count("n_zero_wpi", "Rated exams at 0% whole-person impairment"),
    Rate("zero_wpi", "n_zero_wpi", "n_rated", "Zero-impairment rate"),
    comparison("zero_impairment"),
    Count("n_mmi_opinion", "Exams with an MMI opinion"),
    Count("n_mmi_reached", "Exams declaring MMI reached"),
    Rate("mmi_reached", "n_mmi_reached", "n_mmi_opinion", "Share declaring MMI"),
    comparison("early_mmi"),
    Count("n_insurer_side", "Exams retained by an insurer or employer"),
    Count("n_adverse_insurer_side", "Adverse opinions in exams retained by an insurer or employer"),
    Rate("insurer_side_adverse", "n_adverse_insurer_side", "n_insurer_side",
         "Adverse rate when retained by an insurer or employer"),
    Count("n_neutral_side", "Exams retained by the claimant or a neutral (board, panel, agreed)"),
    Count("n_adverse_neutral_side", "Adverse opinions in exams retained by the claimant or a "
                                    "neutral"),
    Rate("neutral_side_adverse", "n_adverse_neutral_side", "n_neutral_side",
         "Adverse rate when retained by the claimant or a neutral"),
    comparison("allegiance"),
    Count("drift_n_later", "Drift: exams after the examiner's own baseline (missing when the "
                           "examiner has too few exams for the drift chart)"),
    Count("drift_adverse_later", "Drift: adverse opinions among those later exams"),
    comparison("drift"),
    Value("drift_cusum_over_threshold", "Drift: highest CUSUM value over the panel threshold "
                                        "(1 or more is a signal)",
          ("drift_n_later", "drift_adverse_later")),
    *OPINION_RATES,
    Count("n_with_ruling", "Exams with a later ruling by a judge or board"),
    Count("n_report_rejected", "Exams whose report a ruling rejected"),
    Rate("report_rejected", "n_report_rejected", "n_with_ruling", "Report-rejected rate"),
    Count("n_decision_reversed", "Exams whose decision a ruling reversed"),
    Rate("decision_reversed", "n_decision_reversed", "n_with_ruling", "Decision-reversed rate"),
    Count("n_paired", "Rated exams with a treating rating of the same case"),
    Value("gap_mean_wpi_points", "Mean gap to the nearest treating rating (IME minus treating, "
                                 "WPI points; negative: the IME rates lower)", ("n_paired",)),
)
# A measure of case rows that the items above do not place comes last, so a measure added to
# the registry is exported without touching this file.
EXAMINER_LAYOUT: tuple[Item, ...] = _EXAMINER_ITEMS + tuple(
    comparison(name)
    for name, m in MEASURES.items()
    if m.needs_exams
    and name not in {i.measure for i in _EXAMINER_ITEMS if isinstance(i, Comparison)}
)
EXAMINER_RELATIONS: tuple[Relation, ...] = (
    ("n_exams", ["n_adverse"]),
    ("n_exams", ["n_with_decision"]),
    ("n_with_decision", ["n_denied", "n_partially_denied"]),
    ("n_exams", ["n_rated"]),
    ("n_rated", ["n_zero_wpi"]),
    ("n_rated", ["n_paired"]),
    ("n_exams", ["n_mmi_opinion"]),
    ("n_mmi_opinion", ["n_mmi_reached"]),
    ("n_exams", ["n_insurer_side", "n_neutral_side"]),
    ("n_insurer_side", ["n_adverse_insurer_side"]),
    ("n_neutral_side", ["n_adverse_neutral_side"]),
    ("n_adverse", ["n_adverse_insurer_side", "n_adverse_neutral_side"]),
    ("n_exams", ["drift_n_later"]),
    ("drift_n_later", ["drift_adverse_later"]),
    ("n_adverse", ["drift_adverse_later"]),
    ("n_exams", ["n_causation"]),
    ("n_causation", ["n_not_related"]),
    ("n_adverse", ["n_not_related"]),
    ("n_exams", ["n_treatment_opinion"]),
    ("n_treatment_opinion", ["n_no_treatment"]),
    ("n_adverse", ["n_no_treatment"]),
    ("n_exams", ["n_capacity_opinion"]),
    ("n_capacity_opinion", ["n_full_duty"]),
    ("n_exams", ["n_with_ruling"]),
    ("n_with_ruling", ["n_report_rejected"]),
    ("n_with_ruling", ["n_decision_reversed"]),
)
ALL_EXAMINERS = "all examiners"
# The denominators and events of the main comparisons: kept visible where a choice exists.
MAIN_COUNTS = ("n_exams", "n_adverse", "n_with_decision", "n_denied", "n_rated", "n_zero_wpi")


def examiner_figures(
    con: duckdb.DuckDBPyConnection,
    scope: Scope,
    filters: Filters = NO_FILTERS,
    settings: FlagSettings = DEFAULT_SETTINGS,
    flags: pd.DataFrame | None = None,
    *,
    period: bool = False,
) -> pd.DataFrame:
    """Per examiner: counts, rates and comparisons, indexed by examiner_id, then a total row.

    `flags` may pass the engine's output already computed for the same scope and filters
    (an empty frame leaves the comparisons out). The total row (label ``ALL_EXAMINERS``)
    sums the counts over examiners; its drift counts are missing, as the later exams of
    different examiners' own baselines do not add up to a figure of any meaning. With
    `period`, the dates of the first and last exam follow (for reports; exports leave them
    out, as dates of activity would help to re-identify a pseudonymous examiner).
    """
    counts = queries.run(con, "examiner_counts", scope, filters)
    counts = counts.set_index("examiner_id", drop=False)
    names = queries.run(con, "examiner_names", scope, filters).set_index("examiner_id")
    counts["examiner_name"] = names["examiner_name"].reindex(counts.index)
    if flags is None:
        flags = flags_for_view(con, scope, filters, settings)
    # Published decision counts name makers, not examiners: they have a table of their own.
    measures = {item.measure for item in EXAMINER_LAYOUT if isinstance(item, Comparison)}
    flags = flags[flags["measure"].isin(measures)]
    counts = _add_drift_counts(counts, flags, settings)
    count_cols = [i.name for i in EXAMINER_LAYOUT if isinstance(i, Count)]
    paired = counts["n_paired"].sum()
    gap = (counts["gap_mean_wpi_points"] * counts["n_paired"]).sum() / paired if paired else np.nan
    total = {c: counts[c].sum() for c in count_cols} | {
        "examiner_id": ALL_EXAMINERS,
        "specialty": "all",
        "drift_n_later": pd.NA,
        "drift_adverse_later": pd.NA,
        "gap_mean_wpi_points": gap,
    }
    total_row = pd.DataFrame([total], index=[ALL_EXAMINERS]).reindex(columns=counts.columns)
    counts = pd.concat([counts, total_row.astype(counts.dtypes.to_dict())])
    figures = _layout_columns(EXAMINER_LAYOUT, counts, _flags_by_measure(flags))
    if period:
        figures[["first_exam_on", "last_exam_on"]] = counts[["first_exam_on", "last_exam_on"]]
    return figures


def _flags_by_measure(flags: pd.DataFrame) -> pd.DataFrame:
    """Flags pivoted to one row per unit and a (measure, column) block per measure."""
    if flags.empty:
        return pd.DataFrame()
    return flags.pivot(index="examiner_id", columns="measure").swaplevel(axis=1).sort_index(axis=1)


def _add_drift_counts(
    counts: pd.DataFrame, flags: pd.DataFrame, settings: FlagSettings
) -> pd.DataFrame:
    """The counts behind the drift ratio: exams after the baseline, and their adverse opinions.

    The baseline is the examiner's first max(minimum volume, share x exams) exams, as in
    `measures.drift.drift_charts`; the later exams' adverse opinions are the measure's observed.
    Examiners without a drift chart get missing counts.
    """
    drift = flags[flags["measure"] == "drift"].set_index("examiner_id")
    n = drift["n"].astype("int64")
    baseline = np.maximum(settings.min_volume, (n * settings.drift_baseline_share).astype("int64"))
    return counts.assign(
        drift_n_later=(n - baseline).reindex(counts.index).astype("Int64"),
        drift_adverse_later=drift["observed"].round().reindex(counts.index).astype("Int64"),
        # For drift, the engine keeps the CUSUM's peak over the panel threshold in z_adjusted.
        drift_cusum_over_threshold=drift["z_adjusted"].reindex(counts.index).astype("float64"),
    )


NO_FLAGS = pd.DataFrame({
    "examiner_id": pd.Series(dtype="str"), "measure": pd.Series(dtype="str"),
    "n": pd.Series(dtype="int64"), "observed": pd.Series(dtype="float64"),
    "z_adjusted": pd.Series(dtype="float64"),
})


def _read_examiner_rates(con, scope, filters, settings, with_flags) -> Aggregate:
    rows = examiner_figures(con, scope, filters, settings, None if with_flags else NO_FLAGS)
    return Aggregate(rows, ((ALL_EXAMINERS, tuple(rows.index[:-1])),))


# ---------------------------------------------------------------------------------------------
# Time to MMI: Kaplan-Meier per group of several features.
# ---------------------------------------------------------------------------------------------

MMI_GROUPINGS = (
    "body_part", "claim_type", "jurisdiction", "specialty", "requested_by", "represented",
)
MMI_COUNTS = ("n_exams", "n_mmi_reached", "n_not_reached")
MMI_LAYOUT: tuple[Item, ...] = (
    Value("grouping", "Case feature the rows group by ('all' on the total row)"),
    Value("group", "Value of that feature ('unknown' when missing)"),
    Count("n_exams", "Exams with an MMI opinion and a time from injury"),
    Count("n_mmi_reached", "Exams declaring MMI reached (events)"),
    Count("n_not_reached", "Exams finding MMI not yet reached (censored at the exam date)"),
    Value("median_days_to_mmi", "Kaplan-Meier median days from injury to MMI (missing when "
                                "the curve does not reach one half)",
          MMI_COUNTS),
    Value("median_ci_low", "Lower limit of the 95% interval of the median (Brookmeyer-Crowley)",
          MMI_COUNTS),
    Value("median_ci_high", "Upper limit of the 95% interval of the median (missing: not "
                            "reached)", MMI_COUNTS),
    Value("logrank_chi2", "Log-rank chi-square comparing the groups of this feature (same on "
                          "each of its rows)", MMI_COUNTS),
    Value("logrank_df", "Degrees of freedom of the log-rank test",
          MMI_COUNTS),
    Value("logrank_p", "p-value of the log-rank test", MMI_COUNTS),
)


def _read_mmi_summary(con, scope, filters, settings, with_flags) -> Aggregate:
    rows, margins = [], []
    for grouping in ("all", *MMI_GROUPINGS):
        counts = queries.run(con, "mmi_counts", scope, filters, group_by=grouping)
        counts = counts[(counts["n_event"] + counts["n_censored"]) > 0]
        test = None
        if grouping != "all" and counts["group_value"].nunique() >= 2 and counts["n_event"].sum():
            test = logrank_from_counts(counts["group_value"], counts["days_injury_to_mmi"],
                                       counts["n_event"], counts["n_censored"])
        labels = []
        for group, part in counts.groupby("group_value", sort=True):
            km = kaplan_meier_from_counts(
                part["days_injury_to_mmi"], part["n_event"], part["n_censored"]
            )
            label = "all|all" if grouping == "all" else f"{grouping}|{group}"
            labels.append(label)
            rows.append({
                "label": label,
                "grouping": grouping,
                "group": "all" if grouping == "all" else group,
                "n_exams": int(part["n_event"].sum() + part["n_censored"].sum()),
                "n_mmi_reached": int(part["n_event"].sum()),
                "n_not_reached": int(part["n_censored"].sum()),
                "median_days_to_mmi": km.median.estimate,
                "median_ci_low": km.median.ci_low,
                "median_ci_high": km.median.ci_high,
                "logrank_chi2": test.statistic if test else np.nan,
                "logrank_df": float(test.df) if test else np.nan,
                "logrank_p": test.p_value if test else np.nan,
            })
        if grouping != "all" and labels:
            margins.append(("all|all", tuple(labels)))
    columns = [i.name for i in MMI_LAYOUT]
    frame = pd.DataFrame(rows, columns=["label", *columns]).set_index("label")
    if frame.empty:
        return Aggregate(frame.astype({"n_exams": "int64", "n_mmi_reached": "int64",
                                       "n_not_reached": "int64"}), ())
    # The total row last, as in every other table.
    frame = pd.concat([frame.drop(index="all|all"), frame.loc[["all|all"]]])
    return Aggregate(frame, tuple(margins))


# ---------------------------------------------------------------------------------------------
# Impairment distribution by body part and guides edition.
# ---------------------------------------------------------------------------------------------

BANDS = (
    "n_wpi_zero", "n_wpi_over_0_to_5", "n_wpi_over_5_to_10", "n_wpi_over_10_to_20",
    "n_wpi_over_20",
)
IMPAIRMENT_LAYOUT: tuple[Item, ...] = (
    Value("body_part", "Body part; 'all' on the grand total row"),
    Value("guides_edition", "Edition of the impairment guides; 'all' on a body part's subtotal"),
    Count("n_rated", "Rated exams (with a wpi_percent)"),
    Count("n_wpi_zero", "Rated exams at 0% WPI"),
    Rate("zero_wpi", "n_wpi_zero", "n_rated", "Zero-rating share"),
    Count("n_wpi_over_0_to_5", "Rated exams above 0% and at most 5% WPI"),
    Count("n_wpi_over_5_to_10", "Rated exams above 5% and at most 10% WPI"),
    Count("n_wpi_over_10_to_20", "Rated exams above 10% and at most 20% WPI"),
    Count("n_wpi_over_20", "Rated exams above 20% WPI"),
    Value("wpi_mean", "Mean WPI percent", ("n_rated",)),
    Value("wpi_p25", "First quartile of WPI percent", ("n_rated",)),
    Value("wpi_median", "Median WPI percent", ("n_rated",)),
    Value("wpi_p75", "Third quartile of WPI percent", ("n_rated",)),
    Count("n_paired", "Rated exams with a treating rating of the same case"),
    Value("gap_mean_wpi_points", "Mean gap to the nearest treating rating (IME minus treating, "
                                 "WPI points)", ("n_paired",)),
    Value("gap_median_wpi_points", "Median of that gap", ("n_paired",)),
)


def _read_impairment(con, scope, filters, settings, with_flags) -> Aggregate:
    rows = queries.run(con, "impairment_distribution", scope, filters)
    rows.index = rows["body_part"] + "|" + rows["guides_edition"]
    detail = rows[(rows["body_part"] != "all") & (rows["guides_edition"] != "all")]
    subtotals = rows[(rows["body_part"] != "all") & (rows["guides_edition"] == "all")]
    margins = [
        (f"{body_part}|all", tuple(part.index))
        for body_part, part in detail.groupby("body_part", sort=True)
    ]
    if len(subtotals):
        margins.append(("all|all", tuple(subtotals.index)))
    order = [label for total, parts in margins[:-1] for label in (*parts, total)] + ["all|all"]
    frame = rows.loc[order] if len(subtotals) else rows.iloc[0:0]
    return Aggregate(_layout_columns(IMPAIRMENT_LAYOUT, frame), tuple(margins))


# ---------------------------------------------------------------------------------------------
# Published decision counts per decision-maker.
# ---------------------------------------------------------------------------------------------

DECISION_COUNTS_LAYOUT: tuple[Item, ...] = (
    Value("source", "Published series the counts come from"),
    Value("maker_id", "Decision-maker (examiner, judge, office); 'all' on a series' total row"),
    Value("group_name", "Group compared within (office, specialty, region)"),
    Value("n_periods", "Periods summed (missing on a total row)"),
    Count("n_decisions", "Decisions"),
    Count("n_adverse", "Adverse decisions"),
    Rate("adverse", "n_adverse", "n_decisions", "Adverse-decision rate"),
    Value("n_expected_supplied", "Expected adverse decisions as supplied with the counts",
          ("n_decisions",)),
    Comparison("decision_counts", "adverse", ("n_adverse", "n_decisions"),
               "Adverse decisions against the series' pooled rate (or the supplied "
               "expectation), allowing for over-dispersion"),
)


def _read_decision_counts(con, scope, filters, settings, with_flags) -> Aggregate:
    units = queries.run(con, "decision_counts_units", scope, filters)
    units = units.rename(columns={"n_expected": "n_expected_supplied"})
    units["n_decisions"] = units["n_decisions"].astype("int64")
    units["n_adverse"] = units["n_adverse"].astype("int64")
    units["n_periods"] = units["n_periods"].astype("Int64")
    units.index = units["source"] + "|" + units["maker_id"] + "|" + units["group_name"]
    flags = compute_flags(con, scope, filters, ("decision_counts",), settings)
    if len(flags):
        # The engine names a unit "maker @ group" within its series (peer_group).
        unit = flags["examiner_id"].str.replace(" @ ", "|", n=1, regex=False)
        flags = flags.assign(examiner_id=flags["peer_group"] + "|" + unit)
    frames, margins = [], []
    for source, part in units.groupby("source", sort=True):
        label = f"{source}|all"
        total = pd.DataFrame({
            "source": [source], "maker_id": ["all"], "group_name": ["all"],
            "n_periods": pd.array([pd.NA], dtype="Int64"),
            "n_decisions": [part["n_decisions"].sum()], "n_adverse": [part["n_adverse"].sum()],
            "n_expected_supplied": [part["n_expected_supplied"].sum(min_count=len(part))],
        }, index=[label])
        frames += [part, total]
        margins.append((label, tuple(part.index)))
    frame = pd.concat(frames) if frames else units
    columns = _layout_columns(DECISION_COUNTS_LAYOUT, frame, _flags_by_measure(flags))
    return Aggregate(columns, tuple(margins))


# ---------------------------------------------------------------------------------------------
# Cross-tabulation: the rates of docs/methods.md per pair of values of two features.
# ---------------------------------------------------------------------------------------------

# The features a cross-tab may pair: a fixed list, never a user's string in SQL (the
# rates_by_crosstab query maps the same names).
CROSSTAB_DIMENSIONS = {
    "jurisdiction": "Jurisdiction",
    "claim_type": "Claim type",
    "body_part": "Body part",
    "specialty": "Examiner specialty",
    "requested_by": "Who requested the exam",
    "year": "Calendar year of the exam",
    "quarter": "Calendar quarter of the exam (YYYY-Qn)",
}
CROSSTAB_TOTAL = "total"


def check_crosstab(by: Sequence[str]) -> tuple[str, str]:
    """The two features of a cross-tab, if they are two different ones of the fixed list."""
    by = tuple(by)
    unknown = [b for b in by if b not in CROSSTAB_DIMENSIONS]
    if len(by) != 2 or unknown or by[0] == by[1]:
        raise ValueError(
            "a cross-tab pairs two different features (--by A --by B), each one of "
            f"{', '.join(CROSSTAB_DIMENSIONS)}; got {', '.join(by) or 'none'}"
        )
    return by


def crosstab_table(by: Sequence[str]) -> ExportTable:
    """The cross-tab of the two features `by` as an export table."""
    first, second = check_crosstab(by)

    def read(con, scope, filters, settings, with_flags) -> Aggregate:
        rows = queries.run(con, "rates_by_crosstab", scope, filters, first=first, second=second)
        rows = rows.rename(columns={"first_value": first, "second_value": second})
        rows.index = rows[first] + "|" + rows[second]
        total = pd.DataFrame(
            {first: [CROSSTAB_TOTAL], second: [CROSSTAB_TOTAL],
             **{c: [rows[c].sum()] for c in rows.columns if c.startswith("n_")}},
            index=[CROSSTAB_TOTAL],
        )
        frame = pd.concat([rows, total.astype(rows[[c for c in rows if c.startswith("n_")]]
                                                  .dtypes.to_dict())])
        return Aggregate(_layout_columns(layout, frame), ((CROSSTAB_TOTAL, tuple(rows.index)),))

    layout = (
        Value(first, f"{CROSSTAB_DIMENSIONS[first]} ('{CROSSTAB_TOTAL}' on the total row; "
                     "'unknown' where missing)"),
        Value(second, f"{CROSSTAB_DIMENSIONS[second]} ('{CROSSTAB_TOTAL}' on the total row)"),
        *RATES_LAYOUT,
    )
    return ExportTable(
        "crosstab",
        f"Cross-tabulation of {CROSSTAB_DIMENSIONS[first].lower()} by "
        f"{CROSSTAB_DIMENSIONS[second].lower()}: the opinion and post-exam decision rates of "
        "SPEC 2 with 95% Wilson intervals per pair of values.",
        f"one row per {first} and {second} pair, then a total row",
        layout, RATES_RELATIONS, read, market="rows", prefer=MAIN_COUNTS,
    )


TABLES: dict[str, ExportTable] = {
    t.name: t
    for t in (
        ExportTable(
            "examiner_rates",
            "Per examiner: volumes, opinion and decision rates with 95% intervals, and every "
            "examiner comparison (case-mix adjusted O/E with interval, shrunken estimate, "
            "p, FDR q-value, flag).",
            "one row per examiner, then a total row",
            EXAMINER_LAYOUT, EXAMINER_RELATIONS, _read_examiner_rates, market="total",
            id_columns=("examiner_id",), prefer=MAIN_COUNTS,
        ),
        ExportTable(
            "insurer_rates",
            "Per insurer: the opinion and post-exam decision rates of SPEC 2 with 95% Wilson "
            "intervals.",
            "one row per insurer_id, then a total row",
            INSURER_RATES_LAYOUT, RATES_RELATIONS, _read_insurer_rates, market="total",
            prefer=MAIN_COUNTS,
        ),
        ExportTable(
            "monthly_rates",
            "Per calendar month of the exam: the opinion and post-exam decision rates with "
            "95% Wilson intervals.",
            "one row per month, then a total row",
            MONTHLY_LAYOUT, RATES_RELATIONS, _read_monthly_rates, market="rows",
            prefer=MAIN_COUNTS,
        ),
        ExportTable(
            "mmi_summary",
            "Time from injury to MMI per group of several case features: Kaplan-Meier median "
            "days with 95% interval (exams without MMI censored at the exam date), and the "
            "log-rank test across the groups of each feature.",
            "one row per feature and value, then a total row",
            MMI_LAYOUT, (("n_exams", ["n_mmi_reached", "n_not_reached"]),), _read_mmi_summary,
            market="rows",
        ),
        ExportTable(
            "impairment_distribution",
            "Whole-person impairment among rated exams by body part and guides edition: bands, "
            "zero-rating share with 95% interval, mean and quartiles, and the gap to the "
            "nearest treating rating of the same case.",
            "one row per body part and edition, a subtotal per body part, then a total row",
            IMPAIRMENT_LAYOUT, (("n_rated", list(BANDS)), ("n_rated", ["n_paired"])),
            _read_impairment, market="rows",
        ),
        ExportTable(
            "decision_counts_flags",
            "Published decision counts per decision-maker, summed over periods, compared "
            "within each series on a funnel with over-dispersion and FDR-controlled flags.",
            "one row per series, maker and group, then a total row per series",
            DECISION_COUNTS_LAYOUT, (("n_decisions", ["n_adverse"]),), _read_decision_counts,
            market="only", id_columns=("maker_id",),
        ),
    )
}
# The cross-tab is built per pair of features (`crosstab_table`), the rest are fixed.
assert (*TABLES, "crosstab") == EXPORTABLE_TABLES, "access.roles lists the exportable tables"


def table_for(what: str, by: Sequence[str] = ()) -> ExportTable:
    """The export table `what` (for the cross-tab, of the features `by`)."""
    check_exportable(what)
    return crosstab_table(by) if what == "crosstab" else TABLES[what]


def _market_filters(filters: Filters) -> Filters:
    """The market is every insurer: an insurer filter would narrow it to the insurer itself."""
    return dataclasses.replace(filters, insurer_id=())


def present(
    con: duckdb.DuckDBPyConnection,
    what: str,
    scope: Scope,
    filters: Filters = NO_FILTERS,
    k: int = DEFAULT_K,
    settings: FlagSettings = DEFAULT_SETTINGS,
    by: Sequence[str] = (),
) -> Presented:
    """One export table as `scope` may see it (for `ime export` and the Exports page).

    `by` names the two features of the cross-tab (CROSSTAB_DIMENSIONS); other tables take none.
    """
    table = table_for(what, by)
    filters = check_known(con, scope, check_filters(scope, filters))
    own = table.read(con, scope, filters, settings, True)
    market = None
    if scope.role == "insurer":
        full = table.read(con, FULL_ACCESS, _market_filters(filters), settings, False)
        if table.market == "total" and full.margins:
            # The grand total alone: a total whose parts (examiners, insurers) are not shown.
            full = Aggregate(full.frame.loc[[full.total_label]], ((full.total_label, ()),))
        elif table.market == "total":
            full = Aggregate(full.frame.iloc[0:0], ())
        market = full
        if table.market == "only":
            own = Aggregate(own.frame.iloc[0:0], ())
    presented = for_role(
        own.frame, scope,
        count_cols=table.count_cols, derived=table.derived, k=k, id_columns=table.id_columns,
        relations=table.relations, margins=own.margins, prefer=table.prefer,
        recompute=table.rates, robust=table.robust,
        market=None if market is None else market.frame,
        market_margins=() if market is None else market.margins,
    )
    # Every number a person reads goes through the one display rule (outputs.rounding).
    return dataclasses.replace(
        presented, display=tidy(presented.display), typed=tidy(presented.typed)
    )


def database_file(con: duckdb.DuckDBPyConnection) -> Path:
    """The file of the connection's database, whose hash identifies the data exported."""
    row = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    if not row or not row[0]:
        raise ValueError("the database is in memory: an export needs a database file to cite")
    return Path(row[0])


def _filters_used(filters: Filters) -> dict[str, object]:
    return {
        name: list(value) if isinstance(value, tuple) else value
        for name, value in dataclasses.asdict(filters).items()
        if value not in ((), None)
    }


def export(
    con: duckdb.DuckDBPyConnection,
    what: str,
    scope: Scope,
    out: Path,
    fmt: str,
    *,
    username: str,
    filters: Filters = NO_FILTERS,
    k: int = DEFAULT_K,
    settings: FlagSettings = DEFAULT_SETTINGS,
    by: Sequence[str] = (),
) -> ExportFiles:
    """Write one table as `scope` may see it, with dictionary and metadata, and audit it.

    Parameters
    ----------
    con : DuckDBPyConnection
        A connection to a database file (its hash goes into the metadata).
    what : str
        One of `access.roles.EXPORTABLE_TABLES`.
    scope : Scope
        The role (and insurer ids) the table is exported for.
    out : Path
        The table file; ``<stem>.dictionary.csv`` and ``<stem>.metadata.json`` go beside it.
    fmt : {"csv", "parquet", "xlsx"}
        The table's format.
    username : str
        Who exports, for the audit log.
    filters : Filters
        Filters applied before aggregation (recorded in the metadata).
    k : int, default 11
        Suppression threshold (at least 11).
    settings : FlagSettings
        Flag settings (recorded in the metadata).
    by : sequence of str
        For the cross-tab, its two features (recorded in the metadata).

    Returns
    -------
    ExportFiles
        The three files written.
    """
    table = table_for(what, by)
    presented = present(con, what, scope, filters, k, settings, by)
    snapshot = snapshot_hash(database_file(con))
    metadata = {
        "table": what,
        **({"crosstab_by": list(by)} if what == "crosstab" else {}),
        "description": table.description,
        "grain": table.grain,
        "role": scope.role,
        "insurer_ids": list(scope.insurer_ids),
        "filters": _filters_used(filters),
        "suppression": presented.suppression,
        "snapshot_sha256": snapshot,
        "method_versions": METHOD_VERSIONS,
        "flag_settings": dataclasses.asdict(settings),
        "claimant_identifiers": "none: never exported",
        **provenance.facts(con, scope, filters, what, snapshot),
    }
    files = write_export(presented.for_format(fmt), Path(out), fmt, table.dictionary, metadata)
    audit.record("export", username, scope, {
        "table": what,
        "format": fmt,
        "file": str(files.data.resolve()),
        "rows": len(presented.display),
        "filters": metadata["filters"],
        "suppression_k": presented.suppression.get("k"),
        "cells_suppressed": presented.suppression.get("cells_suppressed"),
        "snapshot_sha256": snapshot,
    })
    return files
