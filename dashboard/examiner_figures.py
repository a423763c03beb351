"""Glue for the examiner pages: shapes the flags table and report queries for charts and tables.

No statistic is computed here: intervals, funnel limits, agreement and concentration come from
imestats, the flags (O/E, q-values, shrinkage, CUSUM, the over-dispersion allowed for) from the
measure engine (measures/). What lives here is bookkeeping: which rows belong to a measure or
an examiner, and the shapes the charts take.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dashboard.analysis import expand, wilson
from imestats import agreement, concentration, distributions, funnel
from measures import registry
from measures.base import DEFAULT_SETTINGS as SETTINGS
from measures.engine import explain, funnel_dispersion
from measures.labels import human
from measures.registry import MEASURES

MIN_VOLUME = SETTINGS.min_volume
LEVELS = (0.95, 0.998)


# The measures of case rows, in the registry's order, and their labels: defined once, in
# measures/ (one module per measure).
EXAMINER_MEASURES = {name: MEASURES[name] for name in registry.EXAMINER_MEASURES}
MEASURE_LABELS = {key: m.label for key, m in EXAMINER_MEASURES.items()}


# ---------------------------------------------------------------------------------------------
# Examiners table
# ---------------------------------------------------------------------------------------------


# How the examiner pages' tables show each figure (st.column_config.NumberColumn formats:
# printf, or "percent" for a rate); a missing one reads as a dash (layout.with_formats).
FIGURE_FORMATS = {
    "n": "%,d",
    "ratio": "%.2f",
    "ci_low": "%.2f",
    "ci_high": "%.2f",
    "shrunken_ratio": "%.2f",
    # Three significant figures: a q of 0.00002 reads as such, not as 0.0000.
    "q_value": "%.3g",
    "raw_rate": "percent",
    "adjusted_rate": "percent",
    "peer_rate": "percent",
    "observed": "%.0f",
    "expected": "%.1f",
}


SIDES_SHOWN = {
    "both": "both sides",
    "high": "high (more than expected)",
    "low": "low (fewer than expected)",
}


def flagged_on(flags: pd.DataFrame) -> pd.Series:
    """Per examiner, the measures it is flagged on with the side, in words ('' when none)."""
    rows = flags[flags["measure"].isin(EXAMINER_MEASURES) & flags["flagged"].fillna(False)]
    order = {m: i for i, m in enumerate(EXAMINER_MEASURES)}
    rows = rows.assign(_o=rows["measure"].map(order)).sort_values(["examiner_id", "_o"])
    words = [
        f"{MEASURE_LABELS[m].lower()} ({d})"
        for m, d in zip(rows["measure"], rows["direction"], strict=True)
    ]
    return rows.assign(_words=words).groupby("examiner_id")["_words"].agg(", ".join)


def with_names(table: pd.DataFrame, names: pd.Series) -> pd.DataFrame:
    """The table with an examiner_name column after examiner_id when `names` has any (a
    regulator's; data.examiner_names is empty for every other role), else as it is."""
    if names.empty:
        return table
    at = table.columns.get_loc("examiner_id") + 1
    out = table.copy()
    out.insert(at, "examiner_name", table["examiner_id"].map(names))
    return out


def search(table: pd.DataFrame, text: str) -> pd.DataFrame:
    """Rows whose id, or name where the table has one, contains `text` (any case)."""
    text = text.strip().lower()
    if not text:
        return table
    hit = table["examiner_id"].str.lower().str.contains(text, regex=False)
    if "examiner_name" in table:
        hit |= table["examiner_name"].fillna("").str.lower().str.contains(text, regex=False)
    return table[hit.to_numpy(dtype=bool)]


def on_side(table: pd.DataFrame, side: str) -> pd.DataFrame:
    """The rows whose figure lies on `side` ('high' or 'low'), or every row for 'both'."""
    if side == "both":
        return table
    return table[(table["direction"] == side).to_numpy(dtype=bool)]


def label(examiner_id: str, names: Mapping[str, str]) -> str:
    """How pickers name an examiner: the id, and the name beside it where the reader may see it.

    `names` by id: data.examiner_names, or its dict for a picker of thousands (a dict's look-up
    is about a hundred times faster than a Series's).
    """
    name = names.get(examiner_id)
    return f"{examiner_id} · {name}" if isinstance(name, str) else examiner_id


def examiner_table(
    flags: pd.DataFrame, volumes: pd.DataFrame, measure: str, specialty: str | None = None
) -> pd.DataFrame:
    """One row per examiner in view for one measure: volume, rates, O/E, interval, q, flags.

    `volumes` is the examiner_volumes query (examiner_id, specialty, n_exams). Examiners with no
    row for the measure (no exam that counts for it) are listed with n = 0. The adjusted rate
    is the indirectly standardised rate, O/E times the comparison group's rate.
    """
    rows = flags[flags["measure"] == measure].drop(columns=["measure"])
    table = volumes[["examiner_id", "specialty", "n_exams"]].merge(
        rows, on="examiner_id", how="left"
    )
    if specialty is not None:
        table = table[table["specialty"] == specialty]
    table["n"] = table["n"].fillna(0).astype(int)
    table["flagged"] = table["flagged"].fillna(False).astype(bool)
    table["eligible"] = table["eligible"].fillna(False).astype(bool)
    if EXAMINER_MEASURES[measure].chart == "funnel":
        table["adjusted_rate"] = table["ratio"] * table["peer_rate"]
    else:
        table["adjusted_rate"] = np.nan
    table["status"] = np.select(
        [
            table["flagged"] & (table["direction"] == "high"),
            table["flagged"] & (table["direction"] == "low"),
            table["n"] == 0,
            ~table["eligible"],
        ],
        [
            "flagged high",
            "flagged low",
            "no exams for this measure",
            f"below minimum volume ({MIN_VOLUME})",
        ],
        "",
    )
    labels = flagged_on(flags).to_dict()
    table["flagged_on"] = [labels.get(e, "") for e in table["examiner_id"]]
    return table.sort_values(
        ["flagged", "q_value", "n", "examiner_id"],
        ascending=[False, True, False, True],
        na_position="last",
        kind="stable",
    ).reset_index(drop=True)


# How many examiners a forest of own-exam ratios draws besides the flagged ones; the rest are
# summarised under it and all are in the table.
FOREST_TOP = 25


@dataclass(frozen=True)
class ForestRows:
    """The rows a forest draws and what it leaves to the table."""

    shown: pd.DataFrame
    below_minimum: int  # examiners with exams for the measure but under the minimum volume
    not_drawn: int  # examiners at or above it, neither flagged nor among the largest


def forest_rows(table: pd.DataFrame, top: int = FOREST_TOP) -> ForestRows:
    """Flagged examiners, then the largest others up to `top`, each at the minimum volume at
    least: below it a ratio is too uncertain to draw (it is never flagged either), and one
    examiner of 11 exams would stretch the axis for everyone."""
    below = int(((table["n"] > 0) & ~table["eligible"]).sum())
    rated = table[(table["n"] > 0) & np.isfinite(table["ratio"].astype(float))]
    eligible = rated[rated["eligible"]]
    flagged = eligible[eligible["flagged"]]
    others = eligible[~eligible["flagged"]].sort_values(
        ["n", "examiner_id"], ascending=[False, True]
    ).head(top)
    shown = pd.concat([flagged, others]).sort_values("ratio", ascending=False)
    return ForestRows(shown, below, len(eligible) - len(shown))


# ---------------------------------------------------------------------------------------------
# Funnel plot
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunnelGeometry:
    """The limits a funnel plot draws, with the over-dispersion they allow for."""

    tau2: float  # additive between-unit variance on the O/E scale, as the flags used it
    variance_scale: float  # c in var(O/E) = c / E under no over-dispersion (1 for Poisson)
    null: str  # 'poisson' or 'binomial': the exact limits without over-dispersion
    limits: pd.DataFrame  # expected, level, kind ('exact' or 'tau2'), lower, upper


def funnel_geometry(
    rows: pd.DataFrame, null: str = "poisson", theta0: float | None = None, n_grid: int = 160
) -> FunnelGeometry:
    """95% and 99.8% limits around O/E = 1 over the range of expected counts in `rows`.

    'exact': exact Poisson limits (or exact binomial ones at target rate theta0, on the O/E
    scale) with no over-dispersion; 'tau2': normal limits with the additive between-unit
    variance the flags allowed for (Spiegelhalter 2005). Limits are clipped at 0 for display.
    """
    tau2, scale = funnel_dispersion(rows)
    e = rows["expected"].to_numpy(float)
    e = e[np.isfinite(e) & (e > 0)]
    if e.size == 0:
        empty = pd.DataFrame(columns=["expected", "level", "kind", "lower", "upper"])
        return FunnelGeometry(tau2, scale, null, empty)
    grid = np.geomspace(max(e.min() * 0.8, 0.2), e.max() * 1.15, n_grid)
    if null == "binomial":
        if theta0 is None or not 0 < theta0 < 1:
            raise ValueError(f"binomial limits need a target rate in (0, 1), got {theta0!r}")
        n = np.unique(np.maximum(np.round(grid / theta0), 1.0))
        exact_x = n * theta0
    frames = []
    for level in LEVELS:
        if null == "binomial":
            lim = funnel.exact_binomial_limits(n, theta0, level)
            lower, upper = lim.lower / theta0, lim.upper / theta0
        else:
            exact_x = grid
            lim = funnel.exact_poisson_ratio_limits(grid, level)
            lower, upper = lim.lower, lim.upper
        frames.append(
            pd.DataFrame(
                {
                    "expected": exact_x,
                    "level": level,
                    "kind": "exact",
                    "lower": np.clip(lower, 0, None),
                    "upper": upper,
                }
            )
        )
        adj = funnel.clip_limits(
            funnel.tau2_additive_limits(1.0, np.sqrt(scale / grid), tau2, level),
            0.0,
            np.inf,
        )
        frames.append(
            pd.DataFrame(
                {
                    "expected": grid,
                    "level": level,
                    "kind": "tau2",
                    "lower": adj.lower,
                    "upper": adj.upper,
                }
            )
        )
    return FunnelGeometry(tau2, scale, null, pd.concat(frames, ignore_index=True))


# ---------------------------------------------------------------------------------------------
# One examiner
# ---------------------------------------------------------------------------------------------


def examiner_measures(flags: pd.DataFrame, examiner_id: str) -> pd.DataFrame:
    """The examiner's rows of the flags table, in the pages' measure order, with labels."""
    rows = flags[
        (flags["examiner_id"] == examiner_id) & flags["measure"].isin(EXAMINER_MEASURES)
    ].copy()
    order = {m: i for i, m in enumerate(EXAMINER_MEASURES)}
    rows["label"] = rows["measure"].map(MEASURE_LABELS)
    rows["flagged"] = rows["flagged"].fillna(False).astype(bool)
    return rows.sort_values("measure", key=lambda s: s.map(order)).reset_index(drop=True)


@dataclass(frozen=True)
class Explanation:
    """One measure's figures and method in words, from measures.engine.explain."""

    measure: str
    flagged: bool
    direction: str
    lines: list[str]


def explanations(mine: pd.DataFrame, examiner_id: str) -> tuple[list[Explanation], str]:
    """Each measure's explanation for the examiner, and the words common to all measures.

    `mine` is the examiner's rows (examiner_measures). measures.engine.explain writes a
    heading, one block per row in their order and a closing paragraph, separated by blank
    lines; the page shows each measure's block on its own.
    """
    blocks = explain(mine, examiner_id, SETTINGS).split("\n\n")
    out = [
        Explanation(row.measure, bool(row.flagged), str(row.direction),
                    [s.strip() for s in block.splitlines()[1:]])
        for row, block in zip(mine.itertuples(), blocks[1:-1], strict=True)
    ]
    return out, blocks[-1]


SIDES = {
    **{
        side: f"Retained by {human(side)}"
        for side in ("insurer_or_employer", "claimant_or_neutral")
    },
    "other": "Other or not stated",
}


def allegiance_rates(counts: pd.DataFrame, specialty: str) -> pd.DataFrame:
    """Adverse rates by who retained the examiner, for the examiner and for peers.

    `counts` is the examiner_adverse_by_requester query. Returns the long format of
    charts.rate_dots: group (each side, then each requester under it), measure (the cohort:
    'examiner' or 'peers'), k, n, rate, ci_low, ci_high.
    """
    # Summed in Python over the query's few rows (one per cohort and requester): a pandas
    # group-by per side cost tens of milliseconds for each examiner's profile.
    place = {side: i for i, side in enumerate(SIDES)}
    sums: dict[tuple, list[int]] = {}
    for side, requester, cohort, k, n in zip(
        counts["retained_by"], counts["requested_by"], counts["cohort"],
        counts["n_adverse"], counts["n_exams"], strict=True,
    ):
        if side in place:
            # Each side's row (its requesters summed), then one row per requester under it.
            for key in ((place[side], "", cohort), (place[side], requester, cohort)):
                total = sums.setdefault(key, [0, 0])
                total[0] += int(k)
                total[1] += int(n)
    sides = list(SIDES.values())
    out = pd.DataFrame(
        [
            (f"· {human(requester)}" if requester else sides[side], cohort, k, n)
            for (side, requester, cohort), (k, n) in sorted(sums.items())
        ],
        columns=["group", "measure", "k", "n"],
    )
    out["rate"], out["ci_low"], out["ci_high"] = wilson(out["k"], out["n"])
    out["measure"] = out["measure"].map(
        {"examiner": "examiner", "peers": f"peers ({human(specialty)})"}
    )
    return out


def cohort_totals(rates: pd.DataFrame, groups: list[str]) -> pd.DataFrame:
    """Per cohort (measure), the rate over `groups` with its interval: the reference line."""
    part = rates[rates["group"].isin(groups)].groupby("measure", as_index=False)[["k", "n"]].sum()
    part["rate"], part["ci_low"], part["ci_high"] = wilson(part["k"], part["n"])
    return part


@dataclass(frozen=True)
class Referrals:
    """Referral dependence of one examiner against the peers of the same specialty."""

    shares: pd.DataFrame  # insurer_id, n_exams, share, top
    summary: concentration.Concentration
    top_insurer: str
    top_ci_low: float
    top_ci_high: float
    by_examiner: pd.DataFrame  # examiner_id, specialty, n_exams, top_share, hhi


def concentration_by_examiner(counts: pd.DataFrame) -> pd.DataFrame:
    """Top-insurer share and Herfindahl index per examiner from examiner_insurer_counts."""
    return concentration.concentration_by_group(
        counts, ["examiner_id", "specialty"], "n_exams"
    ).rename(columns={"n_total": "n_exams", "n_categories": "n_insurers"})


def referrals(
    counts: pd.DataFrame, examiner_id: str, peers: pd.DataFrame | None = None
) -> Referrals | None:
    """The examiner's shares by insurer, top share (Wilson interval), HHI, and peers' figures.

    `peers`: concentration_by_examiner of the examiner's specialty, when the caller keeps it
    (the same for every examiner of the specialty in a view); computed here otherwise.
    """
    mine = counts[counts["examiner_id"] == examiner_id].sort_values(
        ["n_exams", "insurer_id"], ascending=[False, True]
    )
    if mine.empty:
        return None
    summary = concentration.concentration(mine["n_exams"].to_numpy())
    top = str(mine["insurer_id"].iloc[summary.top_position])
    _, low, high = wilson([summary.top_count], [summary.n_total])
    shares = mine[["insurer_id", "n_exams"]].assign(
        share=mine["n_exams"] / summary.n_total, top=mine["insurer_id"] == top
    )
    if peers is None:
        specialty = mine["specialty"].iloc[0]
        peers = concentration_by_examiner(counts[counts["specialty"] == specialty])
    return Referrals(shares.reset_index(drop=True), summary, top, low[0], high[0], peers)


@dataclass(frozen=True)
class CausationAgreement:
    """Cohen's kappa on causation between the examiner and other examiners of the same cases."""

    n_pairs: int
    n_other_examiners: int
    table: pd.DataFrame  # cross-tabulation: examiner's opinion (rows) by the other's (columns)
    kappa: agreement.KappaResult | None


CAUSATION_ORDER = ("related", "partially_related", "not_related", "undetermined")


def causation_agreement(counts: pd.DataFrame, min_pairs: int = 10) -> CausationAgreement:
    """Kappa from the causation_pair_counts query (pairs of opinions on the same case)."""
    seen = set(counts["causation"]) | set(counts["other_causation"])
    cats = [c for c in CAUSATION_ORDER if c in seen] + sorted(seen - set(CAUSATION_ORDER))
    table = (
        counts.pivot_table(
            index="causation", columns="other_causation", values="n_pairs", aggfunc="sum"
        )
        .reindex(index=cats, columns=cats)
        .fillna(0)
        .astype("int64")
    )
    table.index.name, table.columns.name = "this examiner", "other examiner"
    n_pairs = int(counts["n_pairs"].sum())
    result = None
    if n_pairs >= min_pairs and len(cats) >= 2:
        try:
            result = agreement.cohens_kappa(table.to_numpy())
        except (ValueError, ZeroDivisionError, FloatingPointError):
            result = None
        if result is not None and not np.isfinite(result.kappa):
            result = None
    n_other = int(counts["n_other_examiners"].iloc[0]) if len(counts) else 0
    return CausationAgreement(n_pairs, n_other, table, result)


@dataclass(frozen=True)
class TreatingAgreement:
    """The examiner's WPI ratings against treating ratings of the same cases."""

    n_pairs: int
    icc: agreement.IccOneWayResult | None
    bland_altman: agreement.BlandAltmanResult | None
    paired: distributions.PairedGapResult | None


def treating_agreement(pairs: pd.DataFrame) -> TreatingAgreement:
    """ICC (one-way, each case a target rated twice), Bland-Altman and the mean gap.

    `pairs` is the rating_pair_counts query (counts per distinct IME and treating rating).
    """
    ime = expand(pairs["ime_wpi_percent"], pairs["n_pairs"])
    treating = expand(pairs["treating_wpi_percent"], pairs["n_pairs"])
    n = len(ime)
    if n < 3 or np.ptp(np.concatenate([ime, treating])) == 0:
        return TreatingAgreement(n, None, None, None)
    cases = np.arange(n)
    icc = agreement.icc_oneway_unbalanced(
        np.concatenate([ime, treating]), np.concatenate([cases, cases])
    )
    return TreatingAgreement(
        n, icc, agreement.bland_altman(ime, treating), distributions.paired_gap(ime, treating)
    )


RULINGS = {
    "report_rejected": ("Report rejected", "n_report_rejected"),
    "decision_reversed": ("Decision reversed", "n_decision_reversed"),
}


def rulings_rates(counts: pd.DataFrame, examiner_id: str) -> pd.DataFrame:
    """Among exams a later ruling names, the shares rejected or reversed: the examiner's and
    same-specialty peers' (the denominator of the rulings measure, measures/rulings.py).

    `counts` is the examiner_rulings query. Long format for charts.rate_dots: group (the
    ruling), measure (cohort), k, n, rate, ci_low, ci_high, plus n_ruled.
    """
    mine = counts[counts["examiner_id"] == examiner_id]
    if mine.empty:
        return pd.DataFrame(columns=["group", "measure", "k", "n", "rate", "ci_low", "ci_high"])
    specialty = mine["specialty"].iloc[0]
    peers = counts[(counts["specialty"] == specialty) & (counts["examiner_id"] != examiner_id)]
    rows = []
    for cohort, part in (
        ("examiner", mine),
        (f"peers ({human(specialty)})", peers),
    ):
        for label, column in RULINGS.values():
            rows.append(
                (label, cohort, part[column].sum(), part["n_ruled"].sum(), part["n_ruled"].sum())
            )
    out = pd.DataFrame(rows, columns=["group", "measure", "k", "n", "n_ruled"])
    out["rate"], out["ci_low"], out["ci_high"] = wilson(out["k"], out["n"])
    return out


# ---------------------------------------------------------------------------------------------
# Aggregate audit (published decision counts)
# ---------------------------------------------------------------------------------------------


def decision_makers(flags: pd.DataFrame, units: pd.DataFrame, source: str) -> pd.DataFrame:
    """The decision_counts flags of one source beside the published units they come from.

    `units` is the decision_counts_units query; the engine names a unit 'maker @ group'.
    """
    part = units[units["source"] == source].assign(
        examiner_id=lambda u: u["maker_id"] + " @ " + u["group_name"]
    )
    rows = flags[(flags["measure"] == "decision_counts") & (flags["peer_group"] == source)]
    out = part[["maker_id", "group_name", "examiner_id", "n_periods"]].merge(
        rows.drop(columns=["measure"]), on="examiner_id", how="inner"
    )
    out["flagged"] = out["flagged"].fillna(False).astype(bool)
    out["eligible"] = out["eligible"].fillna(False).astype(bool)
    return out.sort_values(
        ["flagged", "q_value", "n"], ascending=[False, True, False], na_position="last"
    ).reset_index(drop=True)
