"""Glue between report queries and imestats: shapes query results for the statistics and charts.

No statistic is computed here; each comes from imestats. What lives here is bookkeeping:
which counts make which rate, which groups to show, counts expanded to values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from imestats import agreement, distributions, proportions, survival
from measures.labels import human


@dataclass(frozen=True)
class Measure:
    """A rate of docs/methods.md: numerator and denominator columns of the rates_* queries."""

    key: str
    label: str
    k: str
    n: str
    denominator: str
    short: str = ""


MEASURES = {
    m.key: m
    for m in (
        Measure("adverse", "Adverse opinion", "n_adverse", "n_exams", "all exams", "Adverse"),
        Measure(
            "not_related",
            "Not related",
            "n_not_related",
            "n_causation",
            "exams with a causation opinion (undetermined excluded)",
            "Not related",
        ),
        Measure("zero_wpi", "Zero impairment", "n_zero_wpi", "n_rated", "rated exams", "Zero WPI"),
        Measure(
            "no_treatment",
            "No further treatment",
            "n_no_treatment",
            "n_treatment_opinion",
            "exams with a treatment opinion",
            "No treatment",
        ),
        Measure(
            "full_duty",
            "Full duty",
            "n_full_duty",
            "n_capacity_opinion",
            "exams with a work-capacity opinion",
            "Full duty",
        ),
        Measure(
            "denied",
            "Denied after exam",
            "n_denied",
            "n_with_decision",
            "exams followed by a decision",
            "Denied",
        ),
        Measure(
            "partially_denied",
            "Partially denied",
            "n_partially_denied",
            "n_with_decision",
            "exams followed by a decision",
            "Partial denial",
        ),
    )
}
LABELS = {key: m.label for key, m in MEASURES.items()}
SHORT_LABELS = {key: m.short or m.label for key, m in MEASURES.items()}
OPINION_MEASURES = ("not_related", "zero_wpi", "no_treatment", "full_duty", "adverse")
DECISION_MEASURES = ("denied", "partially_denied")


def wilson(
    k: np.ndarray | pd.Series, n: np.ndarray | pd.Series
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rate and 95% Wilson interval for counts; NaN where n = 0."""
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    rate = np.full_like(n, np.nan)
    low = np.full_like(n, np.nan)
    high = np.full_like(n, np.nan)
    some = n > 0
    if some.any():
        ci = proportions.wilson_interval(k[some], n[some])
        rate[some] = np.asarray(ci.estimate, dtype=float)
        low[some] = np.asarray(ci.low, dtype=float)
        high[some] = np.asarray(ci.high, dtype=float)
    return rate, low, high


def rates_long(counts: pd.DataFrame, id_cols: list[str], measures=tuple(MEASURES)) -> pd.DataFrame:
    """One row per (id, measure): k, n, rate, ci_low, ci_high, from a rates_* query result."""
    frames = []
    for key in measures:
        m = MEASURES[key]
        part = counts[id_cols].copy()
        part["measure"] = key
        part["k"] = counts[m.k].to_numpy(dtype=np.int64)
        part["n"] = counts[m.n].to_numpy(dtype=np.int64)
        part["rate"], part["ci_low"], part["ci_high"] = wilson(part["k"], part["n"])
        frames.append(part)
    if not frames:
        return pd.DataFrame(columns=[*id_cols, "measure", "k", "n", "rate", "ci_low", "ci_high"])
    return pd.concat(frames, ignore_index=True)


# Rows of a categorical chart: more than a screen's worth (200 examiners, 60 insurers) cannot be
# read, so the largest groups are drawn and the rest summed into one row.
TOP_N = 12


def top_n_groups(sizes: pd.Series, n: int = TOP_N, keep=()) -> tuple[list, list]:
    """(shown, rest): at most `n` groups of `sizes` (group -> size) when the rest fold into one
    row, the largest first (the groups in `keep` always shown), and the groups left out.

    All groups are shown when there are `n` or fewer; otherwise n - 1 are, leaving a row for
    the rest. Ties in size are broken by the group's name, so the choice is stable.
    """
    order = sizes.rename("size").rename_axis("group").reset_index()
    order["kept"] = order["group"].isin(list(keep))
    order["name"] = order["group"].astype(str)
    order = order.sort_values(["kept", "size", "name"], ascending=[False, False, True])
    groups = list(order["group"])
    if len(groups) <= n:
        return groups, []
    cut = max(n - 1, int(order["kept"].sum()))
    return groups[:cut], groups[cut:]


def others_label(rest: list) -> str:
    """The name of the row summing the groups a chart leaves out."""
    return f"{len(rest)} others"


def top_n(
    frame: pd.DataFrame, group_col: str, size_col: str = "n_exams", n: int = TOP_N, keep=()
) -> pd.DataFrame:
    """One row per group (counts), at most `n` rows: the largest groups (see top_n_groups), in
    their order in `frame`, then one row named '<k> others' whose count columns (`n_*` and
    `size_col`) are the totals of the groups left out, so its rate is their pooled rate.
    """
    shown, rest = top_n_groups(frame.set_index(group_col)[size_col], n, keep)
    if not rest:
        return frame
    counts = [c for c in frame.columns if c.startswith("n_") or c == size_col]
    others = frame[frame[group_col].isin(rest)][counts].sum().to_frame().T
    others[group_col] = others_label(rest)
    kept = frame[frame[group_col].isin(shown)]
    return pd.concat([kept, others.astype(kept[counts].dtypes.to_dict())], ignore_index=True)


def overall_counts(counts: pd.DataFrame) -> pd.DataFrame:
    """Sum a rates_* result over its groups (one row): the overall counts."""
    numeric = [c for c in counts.columns if c.startswith("n_")]
    return counts[numeric].sum().to_frame().T.astype("int64")


# ---------------------------------------------------------------------------------------------
# Time to MMI
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MmiSummary:
    """Kaplan-Meier curves per shown group, their medians, numbers at risk and the log-rank test."""

    curves: pd.DataFrame
    medians: pd.DataFrame
    risk: pd.DataFrame
    logrank: survival.LogRankResult | None
    hidden_groups: list[str]


def risk_ticks(max_time: float, n_ticks: int = 8) -> np.ndarray:
    """Round tick times (0, 180, 360, ...) covering [0, max_time] for the at-risk table."""
    if max_time <= 0:
        return np.array([0.0])
    raw = max_time / n_ticks
    step = min((s for s in (30, 60, 90, 180, 365, 730, 1095) if s >= raw), default=1825)
    return np.arange(0, max_time + 1, step, dtype=float)


def kaplan_meier_by_group(counts: pd.DataFrame, max_groups: int = 8) -> MmiSummary:
    """KM curve, median and at-risk counts per group, at most `max_groups` curves: beyond
    them the smaller groups are pooled into one curve ('N others', see top_n_groups).

    `counts` is the mmi_counts query result: group_value, days_injury_to_mmi, n_event,
    n_censored. The log-rank test compares the curves drawn (when there are two or more).
    """
    counts = counts[(counts["n_event"] + counts["n_censored"]) > 0]
    sizes = counts.groupby("group_value")["n_event"].sum() + counts.groupby("group_value")[
        "n_censored"
    ].sum()
    shown, hidden = top_n_groups(sizes, max_groups)
    if hidden:
        pooled = others_label(hidden)
        counts = (
            counts.assign(group_value=counts["group_value"].where(
                counts["group_value"].isin(shown), pooled))
            .groupby(["group_value", "days_injury_to_mmi"], as_index=False, sort=False)[
                ["n_event", "n_censored"]
            ]
            .sum()
        )
        shown = [*shown, pooled]
    curves, medians, risk = [], [], []
    max_time = float(counts["days_injury_to_mmi"].max()) if len(counts) else 0.0
    ticks = risk_ticks(max_time)
    for group in shown:
        part = counts[counts["group_value"] == group]
        km = survival.kaplan_meier_from_counts(
            part["days_injury_to_mmi"], part["n_event"], part["n_censored"]
        )
        table = km.table.assign(group=group)
        curves.append(table)
        medians.append(
            {
                "group": group,
                "n": int(part["n_event"].sum() + part["n_censored"].sum()),
                "n_event": int(part["n_event"].sum()),
                "n_censored": int(part["n_censored"].sum()),
                "median": km.median.estimate,
                "median_ci_low": km.median.ci_low,
                "median_ci_high": km.median.ci_high,
            }
        )
        # At risk at t: everyone whose time is t or later.
        times = table["time"].to_numpy(float)
        leaving = (table["n_event"] + table["n_censored"]).to_numpy(float)
        at_risk = [leaving[times >= t].sum() for t in ticks]
        risk.append(pd.DataFrame({"group": group, "time": ticks, "n_at_risk": at_risk}))
    logrank = None
    kept = counts[counts["group_value"].isin(shown)]
    if len(shown) >= 2 and kept["n_event"].sum() > 0:
        try:
            logrank = survival.logrank_from_counts(
                kept["group_value"], kept["days_injury_to_mmi"], kept["n_event"], kept["n_censored"]
            )
        except ValueError:
            logrank = None
    empty_curves = pd.DataFrame(
        columns=[
            "group",
            "time",
            "n_at_risk",
            "n_event",
            "n_censored",
            "survival",
            "std_err",
            "ci_low",
            "ci_high",
        ]
    )
    return MmiSummary(
        curves=pd.concat(curves, ignore_index=True) if curves else empty_curves,
        medians=pd.DataFrame(
            medians,
            columns=[
                "group",
                "n",
                "n_event",
                "n_censored",
                "median",
                "median_ci_low",
                "median_ci_high",
            ],
        ),
        risk=pd.concat(risk, ignore_index=True)
        if risk
        else pd.DataFrame(columns=["group", "time", "n_at_risk"]),
        logrank=logrank,
        hidden_groups=[str(g) for g in hidden],
    )


def logrank_in_words(result: survival.LogRankResult | None, n_groups: int) -> str:
    """The log-rank test as a sentence a claims manager can read."""
    if result is None:
        return (
            "The log-rank test needs at least two groups with someone reaching MMI; "
            "it is not shown for this choice."
        )
    p = result.p_value
    p_text = "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
    verdict = (
        "The groups differ in how soon the examiners found MMI more than chance would explain"
        if p < 0.05
        else "The differences between the groups are within what chance would produce"
    )
    return (
        f"{verdict} (log-rank chi-square {result.statistic:.1f} on {result.df} degrees of "
        f"freedom, {p_text}, {n_groups} groups). The test compares whole curves, not medians, "
        "and does not adjust for case mix."
    )


# ---------------------------------------------------------------------------------------------
# Impairment
# ---------------------------------------------------------------------------------------------


def expand(values: pd.Series, counts: pd.Series) -> np.ndarray:
    """Counts per distinct value back to one value per exam (for tests that need samples)."""
    return np.repeat(values.to_numpy(float), counts.to_numpy(np.int64))


@dataclass(frozen=True)
class WpiComparison:
    """An examiner's impairment ratings against peers of the same specialty."""

    specialty: str | None
    cohorts: pd.DataFrame  # cohort, wpi_percent, n
    zero_shares: pd.DataFrame  # cohort, k, n, rate, ci_low, ci_high
    zero_test: distributions.ZeroShareResult | None
    location_test: distributions.MannWhitneyResult | None
    by_examiner: pd.DataFrame  # examiner_id, n_rated, n_zero, zero rate with interval, median


def compare_wpi(counts: pd.DataFrame, examiner_id: str) -> WpiComparison:
    """Examiner vs peers from wpi_counts rows: distributions, zero shares and tests."""
    if counts.empty:
        empty = pd.DataFrame(columns=["cohort", "wpi_percent", "n"])
        return WpiComparison(None, empty, pd.DataFrame(), None, None, pd.DataFrame())
    specialty = str(counts["specialty"].iloc[0])
    is_target = counts["examiner_id"] == examiner_id
    cohort = np.where(is_target, f"{examiner_id}", f"peers ({human(specialty)})")
    cohorts = (
        counts.assign(cohort=cohort)
        .groupby(["cohort", "wpi_percent"], as_index=False, sort=False)["n_exams"]
        .sum()
        .rename(columns={"n_exams": "n"})
    )
    # The examiner first, then peers.
    cohorts = (
        cohorts.assign(_peer=cohorts["cohort"] != examiner_id)
        .sort_values(["_peer", "wpi_percent"], kind="stable")
        .drop(columns="_peer")
        .reset_index(drop=True)
    )
    zero = (
        cohorts.assign(k=np.where(cohorts["wpi_percent"] == 0, cohorts["n"], 0))
        .groupby("cohort", sort=False, as_index=False)
        .agg(k=("k", "sum"), n=("n", "sum"))
    )
    zero["rate"], zero["ci_low"], zero["ci_high"] = wilson(zero["k"], zero["n"])
    mine = counts[is_target]
    peers = counts[~is_target]
    x = expand(mine["wpi_percent"], mine["n_exams"])
    y = expand(peers["wpi_percent"], peers["n_exams"])
    zero_test = location = None
    if len(x) and len(y):
        zero_test = distributions.zero_share_test(x, y)
        location = distributions.mann_whitney(x, y)
    per = counts.assign(
        zero=np.where(counts["wpi_percent"] == 0, counts["n_exams"], 0),
        weighted=counts["wpi_percent"] * counts["n_exams"],
    )
    by_examiner = per.groupby("examiner_id", as_index=False).agg(
        n_rated=("n_exams", "sum"), n_zero=("zero", "sum"), total=("weighted", "sum")
    )
    by_examiner["mean_wpi"] = by_examiner["total"] / by_examiner["n_rated"]
    by_examiner["zero_rate"], by_examiner["ci_low"], by_examiner["ci_high"] = wilson(
        by_examiner["n_zero"], by_examiner["n_rated"]
    )
    return WpiComparison(
        specialty, cohorts, zero, zero_test, location, by_examiner.drop(columns="total")
    )


def violin_values(
    counts: pd.DataFrame, examiner_id: str, max_examiners: int = TOP_N
) -> pd.DataFrame:
    """One row per rated exam for the chosen examiner and the busiest peers (for violins), the
    other peers' exams under one name ('N others', see top_n_groups)."""
    volume = counts.groupby("examiner_id")["n_exams"].sum()
    shown, rest = top_n_groups(volume, max_examiners, keep=[examiner_id])
    names = {e: e for e in shown} | dict.fromkeys(rest, others_label(rest))
    order = {e: i for i, e in enumerate(shown)}  # the others' violin last
    part = counts.assign(examiner_id=counts["examiner_id"].map(names))
    part = part.sort_values("examiner_id", key=lambda s: s.map(order).fillna(len(order)),
                            kind="stable")
    return pd.DataFrame(
        {
            "examiner_id": np.repeat(
                part["examiner_id"].to_numpy(), part["n_exams"].to_numpy(np.int64)
            ),
            "wpi_percent": expand(part["wpi_percent"], part["n_exams"]),
        }
    )


@dataclass(frozen=True)
class GapSummary:
    """IME against treating ratings of the same case: Bland-Altman and the paired gap test."""

    n_pairs: int
    bland_altman: agreement.BlandAltmanResult | None
    paired: distributions.PairedGapResult | None


def rating_gap(pairs: pd.DataFrame) -> GapSummary:
    """Bland-Altman limits and the Wilcoxon paired gap from rating_pair_counts rows."""
    ime = expand(pairs["ime_wpi_percent"], pairs["n_pairs"])
    treating = expand(pairs["treating_wpi_percent"], pairs["n_pairs"])
    if len(ime) < 3:
        return GapSummary(len(ime), None, None)
    return GapSummary(
        len(ime), agreement.bland_altman(ime, treating), distributions.paired_gap(ime, treating)
    )


def p_text(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


# ---------------------------------------------------------------------------------------------
# Fixed lists of the columns a reader may group by (the SQL's CASE lists the same names).
# ---------------------------------------------------------------------------------------------

RATE_DIMENSIONS = {
    "insurer_id": "Insurer",
    "jurisdiction": "Jurisdiction",
    "claim_type": "Claim type",
    "body_part": "Body part",
    "specialty": "Examiner specialty",
    "requested_by": "Requested by",
    "retained_by": "Retained by",
    "exam_type": "Exam type",
    "exam_year": "Exam year",
}

MMI_GROUPINGS = {
    "all": "No grouping (all exams)",
    "body_part": "Body part",
    "claim_type": "Claim type",
    "jurisdiction": "Jurisdiction",
    "specialty": "Examiner specialty",
    "requested_by": "Requested by",
    "retained_by": "Retained by",
    "exam_type": "Exam type",
    "represented": "Claimant represented",
    "age_band": "Age band",
    "claimant_sex": "Claimant sex",
    "guides_edition": "Guides edition",
    "insurer_id": "Insurer",
}
