"""Does flagging find the planted examiners, and only them? `ime validate` writes
docs/validation.md.

Two kinds of seeded demo data sets (truth.csv names what each examiner was given):

- the default demo (devtools.demo.PATTERNS): per measure, the share of planted examiners found, the
  false flags among fair examiners and the flags of examiners whose hard case mix alone makes
  their raw rate high;
- power grids (devtools.demo.PowerGrid): per measure, examiners planted with odds ratios 1.5 to 4
  at volumes of 50 to 500 exams, so that detection can be read by effect size and by volume,
  and the false-flag rate among the fair examiners around them.

Each data set goes through the product's own path (`ime load`, then the measure engine), and
the product's flags are set beside the textbook per-examiner test of the same measure on the
same data, with the same false-discovery control and minimum volume (`textbook_flags`).
"""

from __future__ import annotations

import datetime as dt
import html
import multiprocessing as mp
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

import queries
from devtools import demo
from devtools.demo import PowerGrid, generate
from etl.load import load
from imestats.multiplicity import bh_qvalues
from imestats.proportions import wilson_interval
from measures.base import DEFAULT_SETTINGS, FlagSettings, View
from measures.engine import compute_flags
from measures.precompute import after_load
from measures.registry import EXAMINER_MEASURES, LABELS, MEASURES

# The measure each planted pattern should be found by; "fair" and "hard_case_mix" by none.
PATTERN_MEASURE = {m.planted_by: m.name for m in MEASURES.values() if m.planted_by}
# The measures a planted pattern tests, in the registry's order.
PLANTED_MEASURES = tuple(m for m in EXAMINER_MEASURES if m in PATTERN_MEASURE.values())
# The measures whose planted pattern has a claimant-favouring mirror in the default demo.
MIRRORED_MEASURES = tuple(
    m for m in PLANTED_MEASURES
    if any(PATTERN_MEASURE.get(of) == m for of in demo.MIRRORED.values())
)
METHODS = ("product", "textbook")
# flag_data_set's key for the textbook tests' low side (the claimant-favouring comparison).
TEXTBOOK_LOW = "textbook_low"
# Two examiners per cell and seed: one load then covers twice the trials at the same planted
# share (fitting the case-mix models on their fixed sample is a large part of a load).
POWER_GRID = PowerGrid(per_cell=2)
# The targets (issue 12, item 4).
TARGET_POWER = 0.80  # allegiance found at odds ratio >= 3 and volume >= 150
TARGET_POWER_ODDS_RATIO = 3.0
TARGET_POWER_VOLUME = 150
TARGET_FALSE_FLAGS = 0.05  # fair examiners flagged, every measure (strictly fewer)

# ---------------------------------------------------------------------------------------------
# The textbook per-examiner tests.
# ---------------------------------------------------------------------------------------------

SPECIALTY_SQL = """
SELECT examiner_id, any_value(specialty) AS specialty
FROM exams_in_view()
WHERE examiner_id IS NOT NULL
GROUP BY examiner_id
"""


def binomial_against_peers(n, events, group, alternative: str = "greater") -> np.ndarray:
    """One-sided exact binomial p-value of each unit's events against its peers' pooled rate.

    Parameters
    ----------
    n, events : array_like
        Trials and events per unit.
    group : array_like
        The peer group of each unit (its specialty); the peers are the group's other units.
    alternative : str
        "greater" (more events than the peers' rate) or "less" (fewer).

    Returns
    -------
    numpy.ndarray
        P(X >= events), or P(X <= events) for "less", for X ~ Binomial(n, pooled rate of the
        peers); NaN for a unit with no peer trials.

    References
    ----------
    Spiegelhalter DJ. Funnel plots for comparing institutional performance. Stat Med
    2005;24:1185-1202 (the exact binomial comparison of a unit with a target rate).
    """
    n = np.asarray(n, dtype=float)
    events = np.asarray(events, dtype=float)
    frame = pd.DataFrame({"n": n, "events": events, "group": np.asarray(group)})
    totals = frame.groupby("group")[["n", "events"]].transform("sum")
    peer_n = totals["n"].to_numpy() - n
    with np.errstate(divide="ignore", invalid="ignore"):
        peer_rate = (totals["events"].to_numpy() - events) / peer_n
    rate = np.where(peer_n > 0, peer_rate, 0.5)
    if alternative == "greater":
        p = stats.binom.sf(events - 1, n, rate)
    elif alternative == "less":
        p = stats.binom.cdf(events, n, rate)
    else:
        raise ValueError(f"alternative must be 'greater' or 'less', not {alternative!r}")
    return np.where(peer_n > 0, p, np.nan)


def fisher_one_sided(a, n1, c, n0, alternative: str = "greater") -> np.ndarray:
    """One-sided Fisher exact p-value that the events among the exposed (a of n1) are more
    ("greater") or less ("less") likely than among the unexposed (c of n0), per unit; NaN when
    a side is empty."""
    p = np.full(len(a), np.nan)
    for i, (ai, n1i, ci, n0i) in enumerate(zip(a, n1, c, n0, strict=True)):
        if n1i > 0 and n0i > 0:
            table = [[ai, n1i - ai], [ci, n0i - ci]]
            p[i] = stats.fisher_exact(table, alternative=alternative).pvalue
    return p


def two_proportion_greater(a, n1, c, n0) -> np.ndarray:
    """One-sided two-proportion z-test (pooled variance) that a/n1 exceeds c/n0, per unit;
    NaN when a side is empty or the pooled rate is 0 or 1."""
    a, n1, c, n0 = (np.asarray(x, dtype=float) for x in (a, n1, c, n0))
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = (a + c) / (n1 + n0)
        z = (a / n1 - c / n0) / np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    return np.where(np.isfinite(z), stats.norm.sf(z), np.nan)


def _bh_flags(measure: str, units: pd.DataFrame, settings: FlagSettings) -> pd.DataFrame:
    """Benjamini-Hochberg across the examiners of at least the minimum volume, as the product
    does (measures.base.finish): flagged when q <= settings.q."""
    eligible = units["n"].to_numpy() >= units["min_n"].to_numpy()
    p = np.where(eligible, units["p_value"].to_numpy(dtype=float), np.nan)
    q = bh_qvalues(p)
    return pd.DataFrame(
        {
            "examiner_id": units["examiner_id"].to_numpy(),
            "measure": measure,
            "n": units["n"].to_numpy(),
            "p_value": p,
            "q_value": q,
            "eligible": eligible,
            "flagged": (q <= settings.q) & eligible,
        }
    )


# The textbook tests' side: "high" looks for an excess (scipy's alternative "greater"), "low"
# for a shortfall ("less").
TEXTBOOK_ALTERNATIVE = {"high": "greater", "low": "less"}


def textbook_flags(
    con,
    flags: pd.DataFrame,
    settings: FlagSettings = DEFAULT_SETTINGS,
    side: str = "high",
    measures: tuple[str, ...] = EXAMINER_MEASURES,
) -> pd.DataFrame:
    """The textbook test of each examiner measure, on the data the product reads.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A loaded database.
    flags : pandas.DataFrame
        The product's flags of the same view (measures.engine.compute_flags): the funnel
        measures' trials and events per examiner are read from it, so both methods count the
        same exams.
    settings : FlagSettings
        The false discovery rate and minimum volume, as the product's.
    side : str
        "high" tests for an excess (the issue's one-sided tests), "low" for a shortfall (the
        claimant-favouring side; drift has no low side).
    measures : tuple of str
        The measures to test.

    Returns
    -------
    pandas.DataFrame
        One row per examiner and measure: examiner_id, measure, n, p_value, q_value,
        eligible (the minimum volume met), flagged, direction (the side tested).

    Notes
    -----
    - Funnel measures (adverse opinions, denials, zero ratings, rulings, early MMI): a
      one-sided exact binomial test of the examiner's raw rate against the pooled rate of the
      other examiners of the same specialty; no case-mix model, no over-dispersion.
    - Allegiance: a one-sided Fisher exact test of the examiner's 2x2 table, adverse opinion
      or not by retained by an insurer or employer or by the claimant or a neutral, over all
      of the examiner's exams (no case-mix allowance, addenda counted); volume is the smaller
      side, as the product's.
    - Drift: a one-sided two-proportion z-test of the adverse rate in the later half of the
      examiner's exams (date order) against the first half; examiners with fewer than twice
      the minimum volume are not tested, as the product charts none of them.
    Then Benjamini-Hochberg across the examiners of at least the minimum volume, flagged at
    q <= settings.q.

    References
    ----------
    Fisher RA. On the interpretation of chi-square from contingency tables, and the
    calculation of P. J R Stat Soc 1922;85:87-94.
    Benjamini Y, Hochberg Y. Controlling the false discovery rate: a practical and powerful
    approach to multiple testing. J R Stat Soc B 1995;57:289-300.
    """
    alternative = TEXTBOOK_ALTERNATIVE[side]
    view = View(con, queries.FULL_ACCESS, queries.NO_FILTERS)
    specialty = view.run_sql(SPECIALTY_SQL).set_index("examiner_id")["specialty"]
    parts = []
    for name in measures:
        chart = MEASURES[name].chart
        if chart == "funnel":
            rows = flags[flags["measure"] == name]
            n = rows["n"].to_numpy(dtype=float)
            p = binomial_against_peers(
                n,
                rows["observed"].to_numpy(),
                specialty.loc[rows["examiner_id"]].to_numpy(),
                alternative,
            )
            units = pd.DataFrame(
                {"examiner_id": rows["examiner_id"].to_numpy(), "n": n, "p_value": p}
            ).assign(min_n=settings.min_volume)
        elif chart == "odds_ratio":
            units = _allegiance_units(view, alternative).assign(min_n=settings.min_volume)
        elif chart == "cusum" and side == "high":
            units = _drift_units(view).assign(min_n=2 * settings.min_volume)
        else:
            raise ValueError(f"no textbook test for the {side} side of {name} ({chart})")
        parts.append(_bh_flags(name, units, settings).assign(direction=side))
    return pd.concat(parts, ignore_index=True)


# Per examiner: the 2x2 table of side by adverse opinion over all of the examiner's exams with
# a side (the textbook test takes every exam, addenda too).
ALLEGIANCE_TABLE_SQL = """
SELECT
    examiner_id,
    count(*) FILTER (retained_by = 'insurer_or_employer') AS n_insurer,
    count(*) FILTER (retained_by = 'insurer_or_employer' AND is_adverse) AS adverse_insurer,
    count(*) FILTER (retained_by = 'claimant_or_neutral') AS n_neutral,
    count(*) FILTER (retained_by = 'claimant_or_neutral' AND is_adverse) AS adverse_neutral
FROM exams_in_view()
WHERE retained_by <> 'other' AND is_adverse IS NOT NULL
GROUP BY examiner_id
ORDER BY examiner_id
"""


def _allegiance_units(view: View, alternative: str) -> pd.DataFrame:
    """Per examiner: Fisher's one-sided p-value of the 2x2 table of side by adverse opinion."""
    sides = view.run_sql(ALLEGIANCE_TABLE_SQL).set_index("examiner_id")
    p = fisher_one_sided(
        sides["adverse_insurer"].to_numpy(dtype=int),
        sides["n_insurer"].to_numpy(dtype=int),
        sides["adverse_neutral"].to_numpy(dtype=int),
        sides["n_neutral"].to_numpy(dtype=int),
        alternative,
    )
    n = sides[["n_insurer", "n_neutral"]].min(axis=1).to_numpy()
    return pd.DataFrame({"examiner_id": sides.index.to_numpy(), "n": n, "p_value": p})


# Per examiner: exams with an adverse-opinion outcome (and a stored case-mix risk, as the
# drift measure counts them) and adverse opinions in the first and the later half of the
# examiner's exams in date order.
HALVES_SQL = """
WITH numbered AS (
    SELECT
        examiner_id,
        is_adverse,
        row_number() OVER (PARTITION BY examiner_id ORDER BY exam_date, exam_id) - 1 AS position,
        count(*) OVER (PARTITION BY examiner_id) AS size
    FROM exams_in_view()
    WHERE is_adverse IS NOT NULL
        AND expected_adverse_opinion > 0 AND expected_adverse_opinion < 1
)
SELECT
    examiner_id,
    count(*) FILTER (position >= size / 2) AS n_later,
    count(*) FILTER (position >= size / 2 AND is_adverse) AS adverse_later,
    count(*) FILTER (position < size / 2) AS n_first,
    count(*) FILTER (position < size / 2 AND is_adverse) AS adverse_first
FROM numbered
GROUP BY examiner_id
ORDER BY examiner_id
"""


def _drift_units(view: View) -> pd.DataFrame:
    """Per examiner: adverse opinions in the later half of the exams against the first half."""
    halves = view.run_sql(HALVES_SQL).set_index("examiner_id")
    p = two_proportion_greater(
        halves["adverse_later"], halves["n_later"], halves["adverse_first"], halves["n_first"]
    )
    n = (halves["n_later"] + halves["n_first"]).to_numpy()
    return pd.DataFrame({"examiner_id": halves.index.to_numpy(), "n": n, "p_value": p})


# ---------------------------------------------------------------------------------------------
# One data set through the product, and the textbook test beside it.
# ---------------------------------------------------------------------------------------------


def flag_data_set(
    data: Path, db: Path, settings: FlagSettings = DEFAULT_SETTINGS
) -> dict[str, pd.DataFrame]:
    """Load a demo data set as `ime load` does and flag it by both methods.

    Returns the flags of each method (keys METHODS): examiner_id, measure, flagged and more;
    and under TEXTBOOK_LOW the textbook tests' low side of the measures with a
    claimant-favouring mirror.
    """
    load([data], db, progress=False, after_build=after_load)
    con = queries.connect(db)
    try:
        product = compute_flags(con, measures=EXAMINER_MEASURES, settings=settings)
        textbook = textbook_flags(con, product, settings)
        textbook_low = textbook_flags(con, product, settings, "low", MIRRORED_MEASURES)
    finally:
        con.close()
    return {"product": product, "textbook": textbook, TEXTBOOK_LOW: textbook_low}


# ---------------------------------------------------------------------------------------------
# The default demo: planted patterns found, fair and hard-case-mix examiners spared.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Detection:
    """What one method flagged on one data set, for one measure."""

    seed: int
    measure: str
    method: str
    planted: int
    planted_found: int
    fair: int
    fair_flagged: int
    hard_case_mix: int
    hard_case_mix_flagged: int


def score(
    flags: pd.DataFrame, truth: pd.DataFrame, seed: int, measure: str, method: str
) -> Detection:
    """Count planted examiners found, fair and hard-case-mix examiners flagged."""
    merged = _flagged_by_side(flags, truth)
    planted = merged["pattern"].map(PATTERN_MEASURE) == measure
    fair = merged["pattern"] == "fair"
    hard = merged["pattern"] == "hard_case_mix"
    return Detection(
        seed,
        measure,
        method,
        int(planted.sum()),
        # A biased examiner is found on the high side only.
        int((planted & merged["flagged_high"]).sum()),
        int(fair.sum()),
        int((fair & merged["flagged"]).sum()),
        int(hard.sum()),
        int((hard & merged["flagged"]).sum()),
    )


def _flagged_by_side(flags: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """truth.csv beside each examiner's flag: any side, high, low. The textbook tests are
    one-sided (an excess): their flags are high."""
    sides = flags.reindex(columns=["examiner_id", "flagged", "direction"]).reset_index(drop=True)
    merged = truth.merge(sides, on="examiner_id", how="left")
    merged["flagged"] = merged["flagged"].fillna(False).astype(bool)
    low = merged["direction"].eq("low").fillna(False).astype(bool)
    merged["flagged_high"] = merged["flagged"] & ~low
    merged["flagged_low"] = merged["flagged"] & low
    return merged


@dataclass(frozen=True)
class BothSides:
    """The flags of one measure on one data set, by side: biased examiners (planted to find on
    the high side) and claimant-favouring ones (their mirror image, devtools.demo MIRRORED),
    each found on its own side and flagged on the wrong one by the product, and found on its
    own side by the textbook test of that side."""

    seed: int
    measure: str
    biased: int
    biased_high: int
    biased_low: int
    favouring: int
    favouring_low: int
    favouring_high: int
    textbook_biased_high: int
    textbook_favouring_low: int


def both_sides(
    product: pd.DataFrame, textbook: pd.DataFrame, truth: pd.DataFrame, seed: int, measure: str
) -> BothSides:
    """Count each kind of planted examiner of `measure` found on each side: `product` holds
    the product's flags of the measure, `textbook` the textbook tests' of both sides (a row
    per examiner and side, `direction` naming the side)."""
    merged = _flagged_by_side(product, truth)
    biased = merged["pattern"].map(PATTERN_MEASURE) == measure
    mirrors = [m for m, of in demo.MIRRORED.items() if PATTERN_MEASURE.get(of) == measure]
    favouring = merged["pattern"].isin(mirrors)
    found = textbook[textbook["flagged"].astype(bool)]
    found_on = found.groupby("direction")["examiner_id"].agg(set)
    textbook_high = merged["examiner_id"].isin(found_on.get("high", set()))
    textbook_low = merged["examiner_id"].isin(found_on.get("low", set()))
    return BothSides(
        seed,
        measure,
        int(biased.sum()),
        int((biased & merged["flagged_high"]).sum()),
        int((biased & merged["flagged_low"]).sum()),
        int(favouring.sum()),
        int((favouring & merged["flagged_low"]).sum()),
        int((favouring & merged["flagged_high"]).sum()),
        int((biased & textbook_high).sum()),
        int((favouring & textbook_low).sum()),
    )


def validate_seed(
    seed: int, n_exams: int, workdir: Path, settings: FlagSettings = DEFAULT_SETTINGS
) -> tuple[list[Detection], list[BothSides]]:
    """Generate, load and flag one default demo data set; score both methods on every
    measure, and both sides on the measures with a claimant-favouring mirror."""
    data = workdir / f"demo-{seed}"
    generate(data, n_exams=n_exams, seed=seed)
    flags = flag_data_set(data, workdir / f"demo-{seed}.duckdb", settings)
    truth = pd.read_csv(data / "truth.csv")
    detections = [
        score(flags[method][flags[method]["measure"] == measure], truth, seed, measure, method)
        for measure in EXAMINER_MEASURES
        for method in METHODS
    ]
    product = flags["product"]
    textbook = pd.concat([flags["textbook"], flags[TEXTBOOK_LOW]], ignore_index=True)
    sides = [
        both_sides(
            product[product["measure"] == measure],
            textbook[textbook["measure"] == measure],
            truth,
            seed,
            measure,
        )
        for measure in MIRRORED_MEASURES
    ]
    return detections, sides


def both_sides_table(results: list[BothSides]) -> pd.DataFrame:
    """Totals over seeds per measure, with each kind's share found on its own side."""
    totals = pd.DataFrame([r.__dict__ for r in results]).groupby("measure", sort=False)[
        [
            "biased",
            "biased_high",
            "biased_low",
            "favouring",
            "favouring_low",
            "favouring_high",
            "textbook_biased_high",
            "textbook_favouring_low",
        ]
    ].sum()
    totals["biased_found_share"] = totals["biased_high"] / totals["biased"]
    totals["favouring_found_share"] = totals["favouring_low"] / totals["favouring"]
    return totals.reset_index()


def detection_table(results: list[Detection]) -> pd.DataFrame:
    """Totals over seeds per measure and method, with the shares the targets speak of."""
    df = pd.DataFrame([r.__dict__ for r in results])
    totals = df.groupby(["measure", "method"], sort=False)[
        [
            "planted",
            "planted_found",
            "fair",
            "fair_flagged",
            "hard_case_mix",
            "hard_case_mix_flagged",
        ]
    ].sum()
    totals["found_share"] = totals["planted_found"] / totals["planted"].where(totals["planted"] > 0)
    totals["fair_flagged_share"] = totals["fair_flagged"] / totals["fair"]
    return totals.reset_index()


# ---------------------------------------------------------------------------------------------
# Power: planted odds ratio by volume, one grid per seed.
# ---------------------------------------------------------------------------------------------


def power_outcomes(flags: dict[str, pd.DataFrame], truth: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Per examiner, measure and method of a power-grid data set: was it flagged?

    One row per (examiner, measure, method) with the examiner's pattern, planted odds ratio
    and volume (NaN for fair examiners), whether the method could flag the examiner at all
    (`eligible`: the minimum volume met) and whether the measure is the one its pattern
    should be found by (`target`).
    """
    parts = []
    for method in METHODS:
        found = flags[method][["examiner_id", "measure", "flagged", "eligible"]]
        for measure in EXAMINER_MEASURES:
            rows = truth[["examiner_id", "pattern", "odds_ratio", "volume"]].merge(
                found[found["measure"] == measure][["examiner_id", "flagged", "eligible"]],
                on="examiner_id",
                how="left",
            )
            parts.append(
                rows.assign(
                    seed=seed,
                    measure=measure,
                    method=method,
                    flagged=rows["flagged"].fillna(False).astype(bool),
                    eligible=rows["eligible"].fillna(False).astype(bool),
                    target=rows["pattern"].map(PATTERN_MEASURE) == measure,
                )
            )
    return pd.concat(parts, ignore_index=True)


def power_seed(
    seed: int,
    n_exams: int,
    workdir: Path,
    grid: PowerGrid = POWER_GRID,
    settings: FlagSettings = DEFAULT_SETTINGS,
) -> pd.DataFrame:
    """Generate a power-grid data set (clean: no broken rows), load it, flag it by both
    methods; return power_outcomes."""
    data = workdir / f"power-{seed}"
    generate(data, n_exams=n_exams, seed=seed, dirty_rate=0.0, power_grid=grid)
    flags = flag_data_set(data, workdir / f"power-{seed}.duckdb", settings)
    return power_outcomes(flags, pd.read_csv(data / "truth.csv"), seed)


def _share_table(rows: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Flagged out of examiners, per group, with the share and its Wilson 95% interval."""
    table = (
        rows.groupby(by, sort=True)["flagged"].agg(flagged="sum", examiners="size").reset_index()
    )
    interval = wilson_interval(table["flagged"].to_numpy(), table["examiners"].to_numpy())
    return table.assign(share=interval.estimate, low=interval.low, high=interval.high)


def detection_by(outcomes: pd.DataFrame, column: str) -> pd.DataFrame:
    """Planted examiners found per measure, method and planted `column` (odds_ratio, volume)."""
    return _share_table(outcomes[outcomes["target"]], ["measure", "method", column])


def false_flags(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Fair examiners flagged per measure and method, among those the method could flag (the
    minimum volume met): an examiner too small to be tested cannot lower the rate."""
    fair = outcomes[(outcomes["pattern"] == "fair") & outcomes["eligible"]]
    return _share_table(fair, ["measure", "method"])


@dataclass(frozen=True)
class PowerTargets:
    """The issue's targets on the power grids, with the figures behind each verdict."""

    allegiance_found: int  # by the product, at odds ratio and volume at least the target's
    allegiance_textbook_found: int
    allegiance_planted: int
    worst_false_flags: pd.Series  # per measure, the product's share of fair examiners flagged
    product_found: pd.Series  # per planted measure, planted examiners found over the grid
    textbook_found: pd.Series
    planted: pd.Series

    @property
    def allegiance_share(self) -> float:
        return self.allegiance_found / self.allegiance_planted

    @property
    def allegiance_met(self) -> bool:
        return self.allegiance_share >= TARGET_POWER

    @property
    def false_flags_met(self) -> bool:
        return bool((self.worst_false_flags < TARGET_FALSE_FLAGS).all())

    @property
    def less_powerful(self) -> list[str]:
        """Measures that found fewer planted examiners than the textbook test."""
        return [m for m in self.planted.index if self.product_found[m] < self.textbook_found[m]]


def power_targets(outcomes: pd.DataFrame) -> PowerTargets:
    """The verdicts on the issue's targets from the power outcomes."""
    strong = outcomes[
        outcomes["target"]
        & (outcomes["measure"] == "allegiance")
        & (outcomes["odds_ratio"] >= TARGET_POWER_ODDS_RATIO)
        & (outcomes["volume"] >= TARGET_POWER_VOLUME)
    ]
    strong_found = strong.groupby("method")["flagged"].agg(["sum", "size"])
    fair = false_flags(outcomes)
    found = (
        outcomes[outcomes["target"]].groupby(["method", "measure"])["flagged"].agg(["sum", "size"])
    )
    return PowerTargets(
        allegiance_found=int(strong_found.loc["product", "sum"]),
        allegiance_textbook_found=int(strong_found.loc["textbook", "sum"]),
        allegiance_planted=int(strong_found.loc["product", "size"]),
        worst_false_flags=fair[fair["method"] == "product"].set_index("measure")["share"],
        product_found=found.loc["product", "sum"],
        textbook_found=found.loc["textbook", "sum"],
        planted=found.loc["product", "size"],
    )


# ---------------------------------------------------------------------------------------------
# The chart: hand-written SVG (the environment has no static image exporter for plotly).
# ---------------------------------------------------------------------------------------------

# Okabe-Ito colours, safe for colour-blind readers; the textbook test dashed as well.
METHOD_STYLE = {
    "product": {"colour": "#0072B2", "dash": "", "label": "product"},
    "textbook": {"colour": "#D55E00", "dash": "6 4", "label": "textbook test"},
}
_PANEL_W, _PANEL_H, _GAP_X, _GAP_Y = 300, 130, 90, 70
_LEFT, _TOP = 70, 80


def _panel(
    x0: float,
    y0: float,
    title: str,
    ticks: list[str],
    series: dict[str, pd.DataFrame],
    reference: float | None = None,
    y_max: float = 1.0,
    width: float = _PANEL_W,
    connect: bool = True,
) -> list[str]:
    """One small panel: share found (or flagged) per category, with Wilson intervals;
    `connect` joins the points of an ordered axis."""
    out = [
        f'<text x="{x0}" y="{y0 - 10}" class="title">{html.escape(title)}</text>',
        f'<rect x="{x0}" y="{y0}" width="{width}" height="{_PANEL_H}" class="frame"/>',
    ]

    def y_of(v: float) -> float:
        return y0 + _PANEL_H * (1 - min(v, y_max) / y_max)

    ticks_y = np.linspace(0, y_max, 5)
    decimals = 0 if np.allclose(ticks_y * 100, np.round(ticks_y * 100)) else 1
    for v in ticks_y:
        y = y_of(v)
        out.append(f'<line x1="{x0}" x2="{x0 + width}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        out.append(
            f'<text x="{x0 - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">'
            f"{v:.{decimals}%}</text>"
        )
    if reference is not None:
        y = y_of(reference)
        out.append(f'<line x1="{x0}" x2="{x0 + width}" y1="{y:.1f}" y2="{y:.1f}" class="target"/>')
    step = width / len(ticks)
    xs = [x0 + step * (i + 0.5) for i in range(len(ticks))]
    for x, tick in zip(xs, ticks, strict=True):
        out.append(
            f'<text x="{x:.1f}" y="{y0 + _PANEL_H + 16}" class="tick" text-anchor="middle">'
            f"{html.escape(tick)}</text>"
        )
    for k, (method, data) in enumerate(series.items()):
        style = METHOD_STYLE[method]
        offset = (k - (len(series) - 1) / 2) * 8  # side by side, so intervals do not overlap
        points = []
        for x, r in zip(xs, data.itertuples(), strict=True):
            xk = x + offset
            points.append(f"{xk:.1f},{y_of(r.share):.1f}")
            out.append(
                f'<line x1="{xk:.1f}" x2="{xk:.1f}" y1="{y_of(r.low):.1f}" y2="{y_of(r.high):.1f}" '
                f'stroke="{style["colour"]}" stroke-width="1.5"/>'
            )
            out.append(
                f'<circle cx="{xk:.1f}" cy="{y_of(r.share):.1f}" r="3.5" fill="{style["colour"]}">'
                f"<title>{style['label']}: {r.flagged} of {r.examiners} ({r.share:.0%})</title>"
                "</circle>"
            )
        if connect and len(points) > 1:
            out.append(
                f'<polyline points="{" ".join(points)}" fill="none" stroke="{style["colour"]}" '
                f'stroke-width="2" stroke-dasharray="{style["dash"]}"/>'
            )
    return out


def power_chart_svg(
    by_odds: pd.DataFrame, by_volume: pd.DataFrame, fair: pd.DataFrame, seeds: int
) -> str:
    """Detection by odds ratio and by volume per planted measure, and false flags among fair
    examiners per measure, product beside the textbook test, as an SVG document."""
    measures = [m for m in PLANTED_MEASURES if m in set(by_odds["measure"])]
    width = _LEFT + 2 * _PANEL_W + _GAP_X + 40
    rows = len(measures) + 1
    height = _TOP + rows * (_PANEL_H + _GAP_Y) + 10
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif">',
        "<style>.title{font-size:13px;font-weight:bold}.tick{font-size:11px;fill:#333}"
        ".frame{fill:none;stroke:#999}.grid{stroke:#e5e5e5}"
        ".target{stroke:#555;stroke-dasharray:2 3}.head{font-size:15px;font-weight:bold}"
        ".note{font-size:11px;fill:#333}</style>",
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{_LEFT}" y="24" class="head">Planted examiners found, and fair examiners '
        f"flagged ({seeds} seeds)</text>",
    ]
    # Legend.
    for k, method in enumerate(METHODS):
        style = METHOD_STYLE[method]
        x = _LEFT + k * 170
        out.append(
            f'<line x1="{x}" x2="{x + 30}" y1="44" y2="44" stroke="{style["colour"]}" '
            f'stroke-width="2" stroke-dasharray="{style["dash"]}"/>'
            f'<circle cx="{x + 15}" cy="44" r="3.5" fill="{style["colour"]}"/>'
            f'<text x="{x + 38}" y="48" class="note">{style["label"]}</text>'
        )
    out.append(
        f'<text x="{_LEFT + 340}" y="48" class="note">bars: Wilson 95% intervals; '
        f"dotted line: the {TARGET_FALSE_FLAGS:.0%} target</text>"
    )
    odds = sorted(by_odds["odds_ratio"].unique())
    volumes = sorted(by_volume["volume"].unique())
    for i, measure in enumerate(measures):
        y0 = _TOP + i * (_PANEL_H + _GAP_Y)
        label = LABELS[measure]
        for j, (table, column, ticks, axis) in enumerate(
            (
                (by_odds, "odds_ratio", [f"OR {o:g}" for o in odds], "by odds ratio"),
                (by_volume, "volume", [f"{v:g} exams" for v in volumes], "by volume"),
            )
        ):
            series = {
                method: table[
                    (table["measure"] == measure) & (table["method"] == method)
                ].sort_values(column)
                for method in METHODS
            }
            out += _panel(
                _LEFT + j * (_PANEL_W + _GAP_X), y0, f"{label}: found, {axis}", ticks, series
            )
    # False flags: one panel as wide as two, every examiner measure.
    y0 = _TOP + len(measures) * (_PANEL_H + _GAP_Y)
    names = [m for m in EXAMINER_MEASURES if m in set(fair["measure"])]
    series = {
        method: fair[fair["method"] == method].set_index("measure").loc[names].reset_index()
        for method in METHODS
    }
    y_max = max(0.1, float(np.ceil(fair["high"].max() * 20) / 20))
    out += _panel(
        _LEFT,
        y0,
        "Fair examiners flagged (false flags), every measure",
        names,
        series,
        TARGET_FALSE_FLAGS,
        y_max,
        width=2 * _PANEL_W + _GAP_X,
        connect=False,
    )
    out.append("</svg>")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------
# Real data: the SSA judges' published counts.
# ---------------------------------------------------------------------------------------------


def decision_counts_comparison(
    db: Path, settings: FlagSettings = DEFAULT_SETTINGS
) -> dict[str, int]:
    """On a loaded decision_counts table: how many units each method flags.

    The textbook test: each decision-maker's adverse decisions against the pooled rate of the
    other decision-makers of the same published series (exact binomial, one-sided), then
    Benjamini-Hochberg across those of at least the minimum volume.
    """
    con = queries.connect(db)
    try:
        flags = compute_flags(con, measures=("decision_counts",), settings=settings)
        units = queries.run(con, "decision_counts_units")
    finally:
        con.close()
    units = units[units["n_decisions"] > 0]
    n = units["n_decisions"].to_numpy(dtype=float)
    p = binomial_against_peers(n, units["n_adverse"].to_numpy(dtype=float), units["source"])
    textbook = _bh_flags(
        "decision_counts",
        pd.DataFrame({"examiner_id": units["maker_id"].to_numpy(), "n": n, "p_value": p}).assign(
            min_n=settings.min_volume
        ),
        settings,
    )
    return {
        "units": len(units),
        "eligible": int(flags["eligible"].sum()),
        "product_flagged": int(flags["flagged"].sum()),
        "textbook_flagged": int(textbook["flagged"].sum()),
    }


# ---------------------------------------------------------------------------------------------
# The report.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Validation:
    """What `ime validate` computed: the default demo's detection table, the power tables
    (by odds ratio, by volume, every cell, fair examiners flagged) and the target verdicts."""

    detection: pd.DataFrame
    both_sides: pd.DataFrame
    by_odds: pd.DataFrame
    by_volume: pd.DataFrame
    by_cell: pd.DataFrame
    fair: pd.DataFrame
    targets: PowerTargets
    fair_examiners: int  # fair examiners of one power-grid data set
    seconds: float


def run_validation(
    seeds: tuple[int, ...],
    n_exams: int,
    power_seeds: tuple[int, ...],
    power_exams: int,
    workdir: Path,
    grid: PowerGrid = POWER_GRID,
    settings: FlagSettings = DEFAULT_SETTINGS,
    progress: bool = False,
    jobs: int = 1,
) -> Validation:
    """Both parts of the validation: the default demo's seeds and the power grids', each data
    set in its own process, `jobs` at a time (each is generated, loaded and flagged alone).

    The processes are spawned, so they import the calling script again: a script that calls
    this needs the `if __name__ == "__main__":` guard (`ime validate` has it)."""
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    started = time.perf_counter()
    # Spawned, not forked: a forked child would inherit the parent's threads and locks.
    with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as pool:
        demos = {
            pool.submit(validate_seed, seed, n_exams, workdir, settings): (
                f"default demo, seed {seed}"
            )
            for seed in seeds
        }
        grids = {
            pool.submit(power_seed, seed, power_exams, workdir, grid, settings): (
                f"power grid, seed {seed}"
            )
            for seed in power_seeds
        }
        if progress:
            print(
                f"{len(seeds)} default demo data sets of {n_exams:,} exams and "
                f"{len(power_seeds)} power grids of {power_exams:,}: generate, load, flag, "
                f"{jobs} at a time",
                flush=True,
            )
            for done in as_completed([*demos, *grids]):
                print(f"{(demos | grids)[done]}: done", flush=True)
        results = [d for run in demos for d in run.result()[0]]
        sides = [s for run in demos for s in run.result()[1]]
        outcomes = [run.result() for run in grids]
    power = pd.concat(outcomes, ignore_index=True)
    return Validation(
        detection=detection_table(results),
        both_sides=both_sides_table(sides),
        by_odds=detection_by(power, "odds_ratio"),
        by_volume=detection_by(power, "volume"),
        by_cell=_share_table(power[power["target"]], ["measure", "method", "volume", "odds_ratio"]),
        fair=false_flags(power),
        targets=power_targets(power),
        fair_examiners=int(
            (
                power[power["seed"] == power_seeds[0]].drop_duplicates("examiner_id")["pattern"]
                == "fair"
            ).sum()
        ),
        seconds=time.perf_counter() - started,
    )


def write_report(
    out: Path,
    seeds: tuple[int, ...],
    n_exams: int,
    power_seeds: tuple[int, ...],
    power_exams: int,
    realdata: Path | None = None,
    progress: bool = False,
    jobs: int = 1,
) -> Validation:
    """Run the validation and write the Markdown report and its chart (<out stem>-power.svg)."""
    with tempfile.TemporaryDirectory() as tmp:
        result = run_validation(
            seeds, n_exams, power_seeds, power_exams, Path(tmp), progress=progress, jobs=jobs
        )
        ssa = None
        alj = realdata / "ssa_alj_dispositions" if realdata else None
        if alj and alj.is_dir():
            db = Path(tmp) / "ssa.duckdb"
            profile = (
                Path(__file__).resolve().parents[1]
                / "data"
                / "profiles"
                / "ssa_alj_dispositions.toml"
            )
            load([alj], db, profile)
            ssa = decision_counts_comparison(db)
    out.parent.mkdir(parents=True, exist_ok=True)
    chart = out.with_name(f"{out.stem}-power.svg")
    chart.write_text(
        power_chart_svg(result.by_odds, result.by_volume, result.fair, len(power_seeds)),
        encoding="utf-8",
    )
    command = (
        f"ime validate --seeds {' '.join(map(str, seeds))} --exams {n_exams} "
        f"--power-seeds {' '.join(map(str, power_seeds))} --power-exams {power_exams}"
    )
    out.write_text(
        _markdown(result, command, seeds, n_exams, power_seeds, power_exams, chart.name, ssa),
        encoding="utf-8",
    )
    return result


def _both_sides_markdown(sides: pd.DataFrame) -> list[str]:
    """The low side beside the high side: claimant-favouring examiners against biased ones."""
    mirrors = ", ".join(f"{m} (the mirror of {of})" for m, of in demo.MIRRORED.items())
    lines = [
        "## Both sides: claimant-favouring examiners found on the low side",
        "",
        f"The same data sets also plant examiners who favour claimants: {mirrors}, with the "
        "biased pattern's effect negated (`MIRRORED` in `devtools/demo.py`). The product tests "
        "each measure both ways, as two one-sided families with Benjamini-Hochberg q-values at "
        "the same threshold (docs/methods.md, \"Both directions\"). A biased examiner should be "
        "found high and never low; a claimant-favouring one low and never high. The textbook "
        "columns make the same count with the textbook test of each side (`textbook_flags`: "
        "the exact binomial's lower tail for the adverse opinion rate, Fisher's test with the "
        "alternative 'less' for allegiance), with Benjamini-Hochberg across the examiners of "
        "each side: what the data allow a standard test to find on each side.",
        "",
        "A negated effect moves fewer opinions where the outcome is rarer than even. At the "
        "demo's adverse rate of about a third, allegiance's log odds ratio of +1.5 on the "
        "insurer side raises the examiner's adverse rate there to about two thirds, and -1.5 "
        "lowers it to about a tenth: some 30 opinions in 100 moved against some 20, so at the "
        "same volume a claimant-favouring examiner leaves less evidence than a biased one, "
        "whatever the test.",
        "",
        "| measure | biased found high | biased found high, textbook | biased flagged low "
        "| claimant-favouring found low | claimant-favouring found low, textbook "
        "| claimant-favouring flagged high |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in sides.itertuples():
        lines.append(
            f"| {r.measure} | {_count(r.biased_high, r.biased)} "
            f"| {_count(r.textbook_biased_high, r.biased)} | {r.biased_low} "
            f"| {_count(r.favouring_low, r.favouring)} "
            f"| {_count(r.textbook_favouring_low, r.favouring)} | {r.favouring_high} |"
        )
    return [*lines, ""]


def _count(flagged: int, total: int) -> str:
    return f"{flagged}/{total} ({flagged / total:.0%})" if total else "none"


def _wide(table: pd.DataFrame, column: str, label) -> list[str]:
    """Rows measure x method, one column per value of `column`: 'found/planted (share)'."""
    values = sorted(table[column].unique())
    lines = [
        "| measure | method | " + " | ".join(label(v) for v in values) + " |",
        "|---|---|" + "---|" * len(values),
    ]
    cells = table.set_index(["measure", "method", column])
    for measure in PLANTED_MEASURES:
        for method in METHODS:
            row = [
                _count(
                    int(cells.loc[(measure, method, v), "flagged"]),
                    int(cells.loc[(measure, method, v), "examiners"]),
                )
                if (measure, method, v) in cells.index
                else "-"
                for v in values
            ]
            lines.append(f"| {measure} | {method} | " + " | ".join(row) + " |")
    return lines


def _markdown(
    result: Validation,
    command: str,
    seeds: tuple[int, ...],
    n_exams: int,
    power_seeds: tuple[int, ...],
    power_exams: int,
    chart: str,
    ssa: dict | None,
) -> str:
    table, targets = result.detection, result.targets
    grid = POWER_GRID
    n_fair = result.fair_examiners
    lines = [
        "# Validation: planted examiners found, fair examiners spared",
        "",
        f"Regenerate with `{command}` (written {dt.date.today().isoformat()}; the run took "
        f"{result.seconds / 60:.1f} minutes on the development machine, 2 shared cores).",
        "",
        "Every data set below is synthetic (`devtools/demo.py`), seeded, and goes through the "
        "product's own path: `ime load` (which fits the case-mix models and scores every exam) "
        "and the measure engine's flags. Beside the product's flags stands the textbook "
        "per-examiner test of the same measure on the same exams, with the same false-discovery "
        "control (Benjamini-Hochberg, q < 0.05) and the same minimum volume (30):",
        "",
        "- adverse opinions, denials, zero ratings, rulings, early MMI: a one-sided exact "
        "binomial test of the examiner's raw rate against the pooled rate of the other "
        "examiners of the same specialty (no case-mix model, no allowance for over-dispersion);",
        "- allegiance: a one-sided Fisher exact test of the examiner's 2x2 table, adverse "
        "opinion or not by retained by an insurer or employer or by a claimant or neutral "
        "(no case-mix allowance);",
        "- drift: a one-sided two-proportion test of the adverse rate in the later half of the "
        "examiner's exams against the first half.",
        "",
        "## Planted patterns of the default demo",
        "",
        f"Demo data sets with seeds {', '.join(map(str, seeds))}, {n_exams:,} exams each, plant "
        "examiners with excess adverse opinions, allegiance to the retaining side, a change of "
        "behaviour at a date, excess zero ratings and early MMI, plus examiners whose hard case "
        "mix alone raises their raw rate (`truth.csv`).",
        "",
        "What this synthetic world holds (constants in `devtools/demo.py`): fair examiners "
        f"differ by "
        f"chance plus a real spread of sd {demo.EXAMINER_NOISE_SD} on the logit scale; planted "
        f"excess adverse examiners add {demo.EXCESS_EFFECT_RANGE[0]} to "
        f"{demo.EXCESS_EFFECT_RANGE[1]} (odds ratio {np.exp(demo.EXCESS_EFFECT_RANGE[0]):.1f} to "
        f"{np.exp(demo.EXCESS_EFFECT_RANGE[1]):.1f}), allegiance examiners "
        f"{demo.ALLEGIANCE_EFFECT} (odds ratio {np.exp(demo.ALLEGIANCE_EFFECT):.1f}) when "
        f"retained by an insurer or employer, drift examiners {demo.DRIFT_EFFECT} after their "
        "change date.",
        "",
        "| measure | method | planted found | fair flagged (of all fair) | hard case mix flagged |",
        "|---|---|---|---|---|",
    ]
    for r in table.itertuples():
        found = _count(r.planted_found, r.planted) if r.planted else "none planted"
        lines.append(
            f"| {r.measure} | {r.method} | {found} | {r.fair_flagged}/{r.fair} "
            f"({r.fair_flagged_share:.1%}) | {r.hard_case_mix_flagged}/{r.hard_case_mix} |"
        )
    product = table[table["method"] == "product"].set_index("measure")
    adverse = product.loc["adverse_opinion"]
    odds_text = ", ".join(f"{o:g}" for o in grid.odds_ratios)
    volume_text = ", ".join(f"{v}" for v in grid.volumes)
    lines += [
        "",
        f"- At least 90% of planted excess-adverse examiners found: {adverse.found_share:.0%} "
        f"({'met' if adverse.found_share >= 0.9 else 'missed'}).",
        f"- No hard-case-mix examiner flagged on adverse opinions: {adverse.hard_case_mix_flagged} "
        f"({'met' if adverse.hard_case_mix_flagged == 0 else 'missed'}).",
        "",
        *_both_sides_markdown(result.both_sides),
        "## Power: how large an effect, at what volume",
        "",
        f"One data set per seed ({', '.join(map(str, power_seeds))}; {power_exams:,} exams, "
        f"{n_fair} fair examiners and {len(grid.cells())} planted ones, no broken rows): for each "
        f"of the five planted patterns, {grid.per_cell} examiner{'s' if grid.per_cell > 1 else ''} "
        "in every cell of odds ratio "
        f"({odds_text}) by expected volume ({volume_text} exams), so each seed covers the whole "
        f"grid and each cell holds {grid.per_cell * len(power_seeds)} planted examiners over the "
        "seeds (`PowerGrid` in `devtools/demo.py`; `truth.csv` gives each one's odds ratio and "
        "volume). The odds ratio acts on the outcome the measure counts, given the case: every "
        "adverse opinion (adverse_opinion); adverse opinions when retained by an insurer or "
        "employer (allegiance); adverse opinions after a change date half-way through the "
        "examiner's activity (drift); a 0% rating among exams rated at MMI (zero_impairment; "
        "a 0% rating is an adverse opinion, so their adverse rate rises where the zeros "
        "demand it); declaring MMI at the exam, given the body part, injury nature and time "
        "since injury (early_mmi). The other examiners are fair, with the usual spread (sd "
        f"{demo.EXAMINER_NOISE_SD} on the logit). The adverse-opinion odds ratios are given the "
        "case's unmeasured severity as well, which no method sees, so the odds ratio visible in "
        "an examiner's counts is somewhat smaller than the one planted.",
        "",
        "Two limits follow from the product's rules, not from chance: allegiance needs the "
        "minimum volume of 30 exams on each side, which an examiner of about 50 exams split "
        "between the sides never reaches, and drift charts only examiners with at least twice "
        "the minimum volume (60 exams). The textbook tests keep the same rules.",
        "",
        "How to read the comparison. The textbook tests take every difference beyond chance as "
        "a finding. The product allows for the real variation between examiners that case mix "
        "does not explain (additive over-dispersion, estimated from the whole panel, planted "
        "examiners included): its limits stop narrowing as volume grows, so a high-volume "
        "examiner needs a larger ratio, not only more exams, to be flagged. That is what keeps "
        "case mix and ordinary variation from being flagged (the hard-case-mix examiners "
        "above), and it costs power where that variation is large. Early MMI is compared with "
        "a logistic model's expected findings of MMI given the case and the time since injury "
        "at the exam, the textbook test with the raw share of exams finding MMI reached; the "
        "false flags below are part of the comparison, since a test that flags more fair "
        "examiners finds more planted ones too.",
        "",
        f"![Detection by odds ratio and by volume, false flags among fair examiners]({chart})",
        "",
        "### Found, by planted odds ratio (all volumes together)",
        "",
        *_wide(result.by_odds, "odds_ratio", lambda v: f"OR {v:g}"),
        "",
        "### Found, by examiner volume (all odds ratios together)",
        "",
        *_wide(result.by_volume, "volume", lambda v: f"{v:g} exams"),
        "",
        "### Fair examiners flagged",
        "",
        "Among the fair examiners of every seed that the measure could flag (the minimum volume "
        "met; for allegiance, on each side).",
        "",
        "| measure | product | textbook test |",
        "|---|---|---|",
    ]
    fair = result.fair.set_index(["measure", "method"])
    for measure in EXAMINER_MEASURES:
        cells = [
            f"{int(fair.loc[(measure, m), 'flagged'])}/{int(fair.loc[(measure, m), 'examiners'])} "
            f"({fair.loc[(measure, m), 'share']:.2%})"
            for m in METHODS
        ]
        lines.append(f"| {measure} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "### Every cell: found, by volume and odds ratio",
        "",
        "| measure | method | volume | " + " | ".join(f"OR {o:g}" for o in grid.odds_ratios) + " |",
        "|---|---|---|" + "---|" * len(grid.odds_ratios),
    ]
    cell = result.by_cell.set_index(["measure", "method", "volume", "odds_ratio"])
    for measure in PLANTED_MEASURES:
        for method in METHODS:
            for volume in grid.volumes:
                row = [
                    _count(
                        int(cell.loc[(measure, method, volume, o), "flagged"]),
                        int(cell.loc[(measure, method, volume, o), "examiners"]),
                    )
                    for o in grid.odds_ratios
                ]
                lines.append(f"| {measure} | {method} | {volume} | " + " | ".join(row) + " |")
    worst = targets.worst_false_flags
    strong = result.by_cell[
        (result.by_cell["measure"] == "allegiance")
        & (result.by_cell["method"] == "product")
        & (result.by_cell["odds_ratio"] >= TARGET_POWER_ODDS_RATIO)
        & (result.by_cell["volume"] >= TARGET_POWER_VOLUME)
    ]
    strong_by_volume = ", ".join(
        f"at {volume:g} exams {int(r['flagged'])}/{int(r['examiners'])}"
        for volume, r in strong.groupby("volume")[["flagged", "examiners"]].sum().iterrows()
    )
    false_flags_met = (
        targets.false_flags_met and (product["fair_flagged_share"] < TARGET_FALSE_FLAGS).all()
    )
    default_worst = product["fair_flagged_share"]
    less = targets.less_powerful
    comparison = [
        f"  - {m}: {int(targets.product_found[m])} against {int(targets.textbook_found[m])} "
        f"({int(fair.loc[(m, 'product'), 'flagged'])} against "
        f"{int(fair.loc[(m, 'textbook'), 'flagged'])})"
        for m in targets.planted.index
    ]
    lines += [
        "",
        "## Targets",
        "",
        f"- Allegiance found in at least {TARGET_POWER:.0%} of planted examiners with odds ratio "
        f"at least {TARGET_POWER_ODDS_RATIO:g} and at least {TARGET_POWER_VOLUME} exams: "
        f"{_count(targets.allegiance_found, targets.allegiance_planted)} "
        f"({'met' if targets.allegiance_met else 'missed'}); {strong_by_volume}; the textbook "
        f"test found {targets.allegiance_textbook_found}.",
        f"- Fewer than {TARGET_FALSE_FLAGS:.0%} of fair examiners flagged, every measure: worst "
        f"{worst.max():.1%} ({worst.idxmax()}) on the power grids, {default_worst.max():.1%} "
        f"({default_worst.idxmax()}) on the default demo "
        f"({'met' if false_flags_met else 'missed'}).",
        "- Every measure at least as powerful as the textbook test on the same data: "
        + ("met." if not less else f"missed for {', '.join(less)}.")
        + " Planted examiners found over the whole grid, product against textbook (fair "
        "examiners flagged, product against textbook):",
        *comparison,
    ]
    if ssa:
        lines += [
            "",
            "## Real data: SSA administrative law judges, FY2025",
            "",
            f"{ssa['units']:,} judge-office rows ({ssa['eligible']:,} with at least 30 decisions). "
            f"The textbook test (exact binomial against the other judges' pooled rate, "
            f"Benjamini-Hochberg) flags {ssa['textbook_flagged']:,} judges as denying more than "
            f"their peers; allowing for over-dispersion as the product does, "
            f"{ssa['product_flagged']:,}. Judges differ far more than chance allows, so most "
            "textbook flags mark ordinary between-judge variation, not outliers.",
        ]
    return "\n".join(lines) + "\n"
