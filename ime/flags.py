"""The examiner-comparison engine behind `ime flags`, the Examiners page and the exports.

Every measure yields one row per examiner (or decision-maker) with the same columns: volume,
observed and expected counts, their ratio with an interval, a p-value, a Benjamini-Hochberg
q-value across examiners, and the flag. A flag is a reason to look, not a verdict: it needs
q < 0.05 (default) after allowing for over-dispersion, a volume of at least 30 (default), and
an excess (ratio above 1). Data come through the one query runner, so the access scope holds.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.tools.sm_exceptions import ConvergenceWarning

import queries
from imestats.casemix import expected_by_unit, fit_casemix
from imestats.cusum import (
    baseline_log_odds_ratio,
    recalibrate_risks,
    risk_adjusted_cusum,
    threshold_for_panel,
)
from imestats.funnel import score_units
from imestats.multiplicity import bh_qvalues, flag_units
from imestats.proportions import oe_ratio_interval
from imestats.rates import poisson_rate_ratio
from imestats.shrinkage import gamma_poisson_shrinkage
from imestats.survival import cox_ph, observed_expected_by_examiner

# SPEC 2: the case features of the expected count; never the examiner.
CASE_FEATURES = (
    "claim_type",
    "jurisdiction",
    "body_part",
    "injury_nature",
    "age_band",
    "claimant_sex",
    "represented",
    "requested_by",
    "exam_year",
)
MEASURES = (
    "adverse_opinion",
    "denial",
    "zero_impairment",
    "early_mmi",
    "allegiance",
    "drift",
    "decision_counts",
)
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
]
DETAIL_COLUMNS = [
    "peer_group",
    "raw_rate",
    "peer_rate",
    "shrunken_ratio",
    "z",
    "z_adjusted",
    "eligible",
]
INSURER_SIDE = ("insurer", "employer")
NEUTRAL_OR_CLAIMANT_SIDE = ("claimant", "board", "panel", "agreed")


@dataclass(frozen=True)
class BinaryMeasure:
    """A per-exam yes/no outcome compared as observed/expected adverse events."""

    name: str
    trials: str
    events: str
    extra_features: tuple[str, ...] = ()
    description: str = ""


BINARY_MEASURES = {
    m.name: m
    for m in (
        BinaryMeasure(
            "adverse_opinion",
            "n_exams",
            "n_adverse",
            description="adverse opinions (not related, no further treatment, or MMI at 0% WPI)",
        ),
        BinaryMeasure(
            "denial",
            "n_with_decision",
            "n_denied",
            description="denials or terminations after the exam, among exams followed by a decision",
        ),
        BinaryMeasure(
            "zero_impairment",
            "n_rated",
            "n_zero_wpi",
            ("guides_edition",),
            description="0% whole-person impairment ratings among rated exams",
        ),
    )
}


@dataclass(frozen=True)
class FlagSettings:
    """The choices a reviewer may change; defaults as SPEC 2."""

    q: float = 0.05
    min_volume: int = 30
    adjustment: str = "tau2"
    # Early MMI: the Cox model is fitted on at most this many exams, a simple random sample,
    # then every exam is scored (sampling on covariates leaves the hazard model unbiased).
    cox_sample: int = 25_000
    # Drift: the first share of each examiner's exams is the baseline; the CUSUM looks for a
    # doubling of the odds (Steiner 2000) with a 5% panel-wide false-alarm probability.
    drift_baseline_share: float = 0.4
    drift_odds_ratio: float = 2.0
    drift_false_alarm: float = 0.05
    drift_simulations: int = 1000
    seed: int = 0


DEFAULT_SETTINGS = FlagSettings()


def compute_flags(
    con: duckdb.DuckDBPyConnection,
    scope: queries.Scope = queries.FULL_ACCESS,
    filters: queries.Filters = queries.NO_FILTERS,
    measures: tuple[str, ...] = MEASURES,
    settings: FlagSettings = DEFAULT_SETTINGS,
) -> pd.DataFrame:
    """Flags for every examiner and measure, with the detail columns the dashboard shows."""
    unknown = set(measures) - set(MEASURES)
    if unknown:
        raise ValueError(f"unknown measure(s) {sorted(unknown)}; known: {', '.join(MEASURES)}")
    frames = []
    needs_patterns = set(measures) & {*BINARY_MEASURES, "allegiance"}
    patterns = queries.run(con, "examiner_patterns", scope, filters) if needs_patterns else None
    for name in measures:
        if name in BINARY_MEASURES:
            frames.append(binary_measure(patterns, BINARY_MEASURES[name], settings))
        elif name == "allegiance":
            frames.append(allegiance(patterns, settings))
        elif name == "early_mmi":
            frames.append(
                early_mmi(queries.run(con, "examiner_exam_sequence", scope, filters), settings)
            )
        elif name == "drift":
            frames.append(
                drift(queries.run(con, "examiner_exam_sequence", scope, filters), settings)
            )
        elif name == "decision_counts":
            frames.append(
                decision_counts(queries.run(con, "decision_counts_units", scope, filters), settings)
            )
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=OUTPUT_COLUMNS + DETAIL_COLUMNS)
    return pd.concat(frames, ignore_index=True)


def store_flags(con: duckdb.DuckDBPyConnection) -> None:
    """Compute the flags of the unfiltered view once per load, into the table examiner_flags."""
    flags = compute_flags(con)[OUTPUT_COLUMNS + DETAIL_COLUMNS]
    con.register("computed_flags", flags)
    try:
        con.execute("DELETE FROM examiner_flags")
        con.execute("INSERT INTO examiner_flags BY NAME SELECT * FROM computed_flags")
    finally:
        con.unregister("computed_flags")


def flags_for_view(
    con: duckdb.DuckDBPyConnection,
    scope: queries.Scope = queries.FULL_ACCESS,
    filters: queries.Filters = queries.NO_FILTERS,
    settings: FlagSettings = DEFAULT_SETTINGS,
) -> pd.DataFrame:
    """Flags for a view: the ones stored at load when the view is the default, else computed."""
    default = (
        filters == queries.NO_FILTERS and scope.role != "insurer" and settings == DEFAULT_SETTINGS
    )
    if default:
        stored = queries.run(con, "stored_flags", scope, filters)
        if not stored.empty:
            return stored
    return compute_flags(con, scope, filters, settings=settings)


def _finish(
    rows: pd.DataFrame, measure: str, settings: FlagSettings, signal: np.ndarray | None = None
) -> pd.DataFrame:
    """q-values across examiners of at least the minimum volume, and the flag.

    The flag is q below settings.q with an excess (ratio above 1), or, for a monitoring
    measure, the chart's `signal`; either way only at or above the minimum volume.
    """
    rows = rows.copy()
    rows["measure"] = measure
    # Empirical Bayes beside the raw ratio: small examiners are pulled towards 1.
    usable = (rows["expected"] > 0).to_numpy()
    rows["shrunken_ratio"] = np.nan
    if usable.sum() >= 2:
        shrunk = gamma_poisson_shrinkage(rows["observed"][usable], rows["expected"][usable])
        rows.loc[usable, "shrunken_ratio"] = shrunk.posterior_mean
    rows["eligible"] = rows["n"] >= settings.min_volume
    p = rows["p_value"].where(rows["eligible"])
    rows["q_value"] = bh_qvalues(p.to_numpy(dtype=float))
    if signal is None:
        flagged = flag_units(
            rows["q_value"].to_numpy(dtype=float),
            rows["n"].to_numpy(),
            settings.q,
            settings.min_volume,
        )
        rows["flagged"] = flagged & (rows["ratio"].to_numpy(dtype=float) > 1)
    else:
        rows["flagged"] = signal & rows["eligible"].to_numpy()
    return rows[OUTPUT_COLUMNS + DETAIL_COLUMNS].sort_values(
        ["measure", "examiner_id"], ignore_index=True
    )


def _comparable(trials: pd.Series, events: pd.Series) -> bool:
    """An outcome that never or always happens leaves nothing to compare examiners on."""
    return 0 < events.sum() < trials.sum()


def binary_measure(
    patterns: pd.DataFrame, measure: BinaryMeasure, settings: FlagSettings
) -> pd.DataFrame:
    """Case-mix adjusted O/E of a yes/no outcome per examiner, against same-specialty peers."""
    data = patterns[patterns[measure.trials] > 0]
    if not _comparable(data[measure.trials], data[measure.events]):
        return pd.DataFrame()
    # One model for all examiners with specialty among the features: the expected count is
    # what an average examiner of the same specialty would give for these cases. Fitting each
    # specialty alone was tried and rejected: with a dozen examiners in a specialty, one
    # high-volume examiner's own habits leak into the "case mix" and hide that examiner.
    features = [*CASE_FEATURES, *measure.extra_features, "specialty"]
    pattern_counts = data.groupby(features, dropna=False, as_index=False)[
        [measure.trials, measure.events]
    ].sum()
    model = fit_casemix(pattern_counts, features, measure.trials, measure.events)
    oe = expected_by_unit(data, model, "examiner_id").reset_index()
    specialty = data.groupby("examiner_id")["specialty"].first()
    oe["peer_group"] = oe["examiner_id"].map(specialty).to_numpy()
    by_specialty = oe.groupby("peer_group")[["observed", "n"]].transform("sum")
    oe["peer_rate"] = by_specialty["observed"] / by_specialty["n"]
    # One over-dispersion estimate for the whole panel: a specialty's dozen or two examiners
    # are too few to estimate between-examiner variance on their own.
    scores = score_units(oe["observed"], oe["expected"], oe["variance"], settings.adjustment).units
    interval = oe_ratio_interval(oe["observed"].to_numpy(), oe["expected"].to_numpy())
    rows = pd.DataFrame(
        {
            "examiner_id": oe["examiner_id"],
            "peer_group": oe["peer_group"],
            "n": oe["n"].astype(int),
            "observed": oe["observed"],
            "expected": oe["expected"],
            "ratio": scores["ratio"],
            "ci_low": interval.low,
            "ci_high": interval.high,
            "raw_rate": oe["observed"] / oe["n"],
            "peer_rate": oe["peer_rate"],
            "z": scores["z"],
            "z_adjusted": scores["z_adjusted"],
            "p_value": scores["p_one_sided"],
        }
    )
    return _finish(rows, measure.name, settings)


def allegiance(patterns: pd.DataFrame, settings: FlagSettings) -> pd.DataFrame:
    """Within each examiner: adverse O/E when retained by insurer or employer vs by others.

    The case-mix model of adverse opinions (requested_by among its features) gives each side
    its expected count, so the comparison allows for the cases each side sends; the exact
    conditional Poisson test compares the two O/E ratios of the same examiner.
    """
    data = patterns[patterns["n_exams"] > 0]
    if not _comparable(data["n_exams"], data["n_adverse"]):
        return pd.DataFrame()
    model = fit_casemix(
        data.groupby(list(CASE_FEATURES), dropna=False, as_index=False)[
            ["n_exams", "n_adverse"]
        ].sum(),
        CASE_FEATURES,
        "n_exams",
        "n_adverse",
    )
    side = np.select(
        [
            data["requested_by"].isin(INSURER_SIDE),
            data["requested_by"].isin(NEUTRAL_OR_CLAIMANT_SIDE),
        ],
        ["insurer", "neutral"],
        "other",
    )
    data = data.assign(unit=data["examiner_id"] + "\x1f" + side)
    oe = expected_by_unit(data[side != "other"], model, "unit").reset_index()
    oe[["examiner_id", "side"]] = oe["unit"].str.split("\x1f", expand=True)
    wide = oe.pivot(
        index="examiner_id", columns="side", values=["n", "observed", "expected"]
    ).fillna(0)
    if "insurer" not in wide["n"] or "neutral" not in wide["n"]:
        return pd.DataFrame()
    o1, e1 = wide[("observed", "insurer")], wide[("expected", "insurer")]
    o2, e2 = wide[("observed", "neutral")], wide[("expected", "neutral")]
    test = poisson_rate_ratio(o1.to_numpy(), e1.to_numpy(), o2.to_numpy(), e2.to_numpy())
    n_insurer, n_neutral = wide[("n", "insurer")], wide[("n", "neutral")]
    with np.errstate(divide="ignore", invalid="ignore"):
        rows = pd.DataFrame(
            {
                "examiner_id": wide.index,
                "peer_group": "own exams retained by claimant or neutral",
                # Both sides need the volume: the smaller one limits what can be told apart.
                "n": np.minimum(n_insurer, n_neutral).astype(int).to_numpy(),
                "observed": o1.to_numpy(),
                # What the insurer-side exams would show at the examiner's own neutral-side O/E.
                "expected": (e1 * o2 / e2).to_numpy(),
                "ratio": test.ratio,
                "ci_low": test.ci_low,
                "ci_high": test.ci_high,
                "raw_rate": (o1 / n_insurer).to_numpy(),
                "peer_rate": (o2 / n_neutral).to_numpy(),
                "z": np.nan,
                "z_adjusted": np.nan,
                "p_value": test.p_value,
            }
        )
    return _finish(rows, "allegiance", settings)


def early_mmi(exams: pd.DataFrame, settings: FlagSettings) -> pd.DataFrame:
    """Examiners who declare MMI sooner than case mix predicts: Cox O/E of MMI declarations."""
    data = exams.dropna(subset=["mmi_reached", "days_injury_to_mmi"])
    data = data[data["days_injury_to_mmi"] >= 0]
    if not _comparable(pd.Series(len(data)), data["mmi_reached"].astype(int)):
        return pd.DataFrame()
    design = pd.get_dummies(
        data[list(CASE_FEATURES)].fillna("missing").astype(str), drop_first=True, dtype=float
    )
    # A feature level needs exams with and without MMI declared, or its hazard ratio runs off
    # to infinity (the fit then fails to converge).
    events = design.mul(data["mmi_reached"].astype(float).to_numpy(), axis=0).sum()
    design = design.loc[:, (design.sum() >= 20) & (events >= 5) & (design.sum() - events >= 5)]
    covariates = list(design.columns)
    if not covariates:
        # Too few exams for any case feature to be estimated: no case-mix expectation.
        return pd.DataFrame()
    frame = pd.concat(
        [
            design,
            data[["examiner_id", "specialty", "days_injury_to_mmi"]],
            data["mmi_reached"].astype(float).rename("event"),
        ],
        axis=1,
    )
    sample = frame.sample(n=min(len(frame), settings.cox_sample), random_state=settings.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        warnings.simplefilter("error", RuntimeWarning)
        try:
            model = cox_ph(sample, "days_injury_to_mmi", "event", covariates)
        except (ConvergenceWarning, RuntimeWarning, np.linalg.LinAlgError):
            # Some filtered views are too thin for the survival model: no early-MMI figures.
            return pd.DataFrame()
    oe = observed_expected_by_examiner(model, frame, "days_injury_to_mmi", "event", "examiner_id")
    scores = score_units(oe["observed"], oe["expected"], oe["expected"], settings.adjustment).units
    specialty = frame.groupby("examiner_id")["specialty"].first()
    rows = pd.DataFrame(
        {
            "examiner_id": oe["examiner"],
            "peer_group": "all examiners, case mix by Cox model",
            "n": oe["n_exams"].astype(int),
            "observed": oe["observed"],
            "expected": oe["expected"],
            "ratio": oe["o_e_ratio"],
            "ci_low": oe["ci_low"],
            "ci_high": oe["ci_high"],
            "raw_rate": (oe["observed"] / oe["n_exams"]).to_numpy(),
            "peer_rate": float(frame["event"].mean()),
            "z": scores["z"].to_numpy(),
            "z_adjusted": scores["z_adjusted"].to_numpy(),
            "p_value": scores["p_one_sided"].to_numpy(),
        }
    )
    rows["specialty"] = rows["examiner_id"].map(specialty)
    return _finish(rows.drop(columns="specialty"), "early_mmi", settings)


@dataclass(frozen=True)
class DriftChart:
    """One examiner's exams after the baseline, with their own-baseline risks, for the CUSUM."""

    examiner_id: str
    n_exams: int
    baseline_end_date: object
    exam_dates: np.ndarray
    adverse: np.ndarray
    risk: np.ndarray


def drift_charts(exams: pd.DataFrame, settings: FlagSettings) -> list[DriftChart]:
    """Per examiner with enough exams: later exams and their risks recalibrated to the baseline."""
    data = exams.dropna(subset=["is_adverse"])
    if not _comparable(pd.Series(len(data)), data["is_adverse"].astype(int)):
        return []
    features = [*CASE_FEATURES, "specialty"]
    counts = (
        data.assign(n=1, y=data["is_adverse"].astype(int))
        .groupby(features, dropna=False, as_index=False)[["n", "y"]]
        .sum()
    )
    risk = fit_casemix(counts, features, "n", "y").predict(data)
    adverse = data["is_adverse"].to_numpy(dtype=float)
    dates = data["exam_date"].to_numpy()
    charts = []
    for examiner, idx in data.groupby("examiner_id", sort=True).indices.items():
        if len(idx) < 2 * settings.min_volume:
            continue
        y, p = adverse[idx], risk[idx]
        baseline_end = max(settings.min_volume, int(len(idx) * settings.drift_baseline_share))
        delta = baseline_log_odds_ratio(y, p, baseline_end)
        charts.append(
            DriftChart(
                examiner,
                len(idx),
                dates[idx][baseline_end - 1],
                dates[idx][baseline_end:],
                y[baseline_end:],
                recalibrate_risks(p[baseline_end:], delta),
            )
        )
    return charts


def drift(exams: pd.DataFrame, settings: FlagSettings) -> pd.DataFrame:
    """A change in an examiner's own adverse-opinion rate: risk-adjusted CUSUM on own baseline."""
    charts = drift_charts(exams, settings)
    if not charts:
        return pd.DataFrame()
    panel = threshold_for_panel(
        [c.risk for c in charts],
        settings.drift_false_alarm,
        settings.drift_odds_ratio,
        n_sim=settings.drift_simulations,
        rng=settings.seed,
    )
    observed = np.array([c.adverse.sum() for c in charts])
    expected = np.array([c.risk.sum() for c in charts])
    later = np.array([len(c.adverse) for c in charts])
    peak = np.array(
        [
            risk_adjusted_cusum(
                c.adverse, c.risk, panel.threshold, settings.drift_odds_ratio
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
            "z_adjusted": peak / panel.threshold,
            # Poisson tail of the later exams against the own-baseline expectation.
            "p_value": stats.poisson.sf(observed - 1, expected),
        }
    )
    return _finish(rows, "drift", settings, signal=peak >= panel.threshold)


def drift_path(
    chart: DriftChart, threshold: float, settings: FlagSettings = DEFAULT_SETTINGS
) -> pd.DataFrame:
    """The CUSUM of one examiner over time, for the profile page: one row per later exam."""
    cusum = risk_adjusted_cusum(chart.adverse, chart.risk, threshold, settings.drift_odds_ratio)
    return pd.DataFrame(
        {
            "exam_date": chart.exam_dates,
            "cusum": cusum.path,
            "observed_cumulative": np.cumsum(chart.adverse),
            "expected_cumulative": np.cumsum(chart.risk),
            "signal": np.isin(np.arange(len(chart.adverse)), cusum.signal_indices),
        }
    )


def decision_counts(units: pd.DataFrame, settings: FlagSettings) -> pd.DataFrame:
    """Published counts per decision-maker: funnel with over-dispersion and FDR on counts alone.

    Each published series (`source`) is compared within itself against its pooled rate.
    """
    parts = []
    for source, data in units[units["n_decisions"] > 0].groupby("source"):
        if len(data) < 2:
            continue  # one decision-maker has no peers to be compared with
        n = data["n_decisions"].astype(float).to_numpy()
        r = data["n_adverse"].astype(float).to_numpy()
        theta0 = r.sum() / n.sum()
        has_expected = data["n_expected"].notna().to_numpy()
        expected = np.where(has_expected, data["n_expected"].astype(float).to_numpy(), n * theta0)
        variance = np.where(has_expected, expected * (1 - expected / n), n * theta0 * (1 - theta0))
        scores = score_units(r, expected, variance, settings.adjustment).units
        interval = oe_ratio_interval(r, expected)
        parts.append(
            pd.DataFrame(
                {
                    "examiner_id": (data["maker_id"] + " @ " + data["group_name"]).to_numpy(),
                    "peer_group": source,
                    "n": n.astype(int),
                    "observed": r,
                    "expected": expected,
                    "ratio": scores["ratio"].to_numpy(),
                    "ci_low": interval.low,
                    "ci_high": interval.high,
                    "raw_rate": r / n,
                    "peer_rate": theta0,
                    "z": scores["z"].to_numpy(),
                    "z_adjusted": scores["z_adjusted"].to_numpy(),
                    "p_value": scores["p_one_sided"].to_numpy(),
                }
            )
        )
    if not parts:
        return pd.DataFrame()
    return _finish(pd.concat(parts, ignore_index=True), "decision_counts", settings)


METHOD_WORDS = {
    "adverse_opinion": (
        "Observed adverse opinions against the number expected for the examiner's own cases, from "
        "a logistic model of case features (claim type, jurisdiction, body part, injury nature, "
        "age band, sex, representation, who requested the exam, year) and the examiner's "
        "specialty, fitted on all examiners without any examiner term: the expected count is "
        "what an average examiner of the same specialty would give for these cases."
    ),
    "denial": (
        "Denials or terminations that followed the exam within 90 days (or that name the exam), "
        "against the number expected for the examiner's cases, by the same kind of model."
    ),
    "zero_impairment": (
        "0% whole-person impairment ratings among rated exams, against the number expected for the "
        "examiner's cases (the model adds the AMA Guides edition)."
    ),
    "early_mmi": (
        "MMI declarations against the number expected from a Cox model of time from injury to MMI "
        "given the case features (exams without MMI are censored at the exam date); a ratio above "
        "1 means MMI is declared sooner than the case mix predicts."
    ),
    "allegiance": (
        "Within the examiner's own exams: adverse opinions when retained by an insurer or employer, "
        "against what the examiner's own rate with claimant-retained or neutral (board, panel, "
        "agreed) exams predicts for those cases; exact conditional Poisson test of the two rates."
    ),
    "drift": (
        "A risk-adjusted CUSUM of adverse opinions against the examiner's own earlier baseline "
        "(Steiner 2000), signalling a lasting doubling of the odds; the threshold is set by "
        "simulation so that at most 5% of examiners with no change would signal across the panel."
    ),
    "decision_counts": (
        "Published counts only: adverse decisions against the pooled rate of all decision-makers "
        "(or a supplied expected count), on a funnel plot."
    ),
}
COMMON_WORDS = (
    "The variation between examiners that case mix does not explain is allowed for (additive "
    "over-dispersion, Spiegelhalter 2005), p-values are one-sided (an excess), and q-values "
    "control the false discovery rate across examiners (Benjamini-Hochberg). Examiners below the "
    "minimum volume are shown but never flagged. A flag is a reason to look, not a verdict."
)


def _verdict(r, settings: FlagSettings) -> str:
    """Why a measure is flagged or not, for one row of the flags table."""
    if not r.eligible:
        return f"Below the minimum volume of {settings.min_volume}: shown, never flagged."
    if r.measure == "drift":
        threshold = r.z / r.z_adjusted
        crossed = "crossed" if r.flagged else "did not cross"
        return f"The CUSUM reached {r.z:.2f} and {crossed} the panel threshold {threshold:.2f}."
    figures = f"p = {r.p_value:.3g}, q = {r.q_value:.3g}"
    if r.flagged:
        return f"{figures}: below the false-discovery threshold {settings.q}, with an excess."
    if r.q_value <= settings.q:
        return f"{figures}: a significant deficit (fewer than expected), which is not flagged."
    return f"{figures}: not below the false-discovery threshold {settings.q}."


def explain(
    flags: pd.DataFrame, examiner_id: str, settings: FlagSettings = DEFAULT_SETTINGS
) -> str:
    """The reasoning behind one examiner's figures, in plain words."""
    rows = flags[flags["examiner_id"] == examiner_id]
    if rows.empty:
        return f"No figures for examiner {examiner_id} under the current filters."
    lines = [f"Examiner {examiner_id}"]
    for r in rows.itertuples():
        lines.append("")
        lines.append(f"{r.measure}: {'FLAGGED' if r.flagged else 'not flagged'}")
        lines.append(f"  How: {METHOD_WORDS[r.measure]}")
        lines.append(
            f"  Volume {r.n:,}; observed {r.observed:,.0f}, expected {r.expected:,.1f}; ratio "
            f"{r.ratio:.2f} (95% interval {r.ci_low:.2f} to {r.ci_high:.2f}); "
            f"shrunken ratio {r.shrunken_ratio:.2f}."
        )
        lines.append(
            f"  Raw rate {r.raw_rate:.1%} against {r.peer_rate:.1%} for the comparison group "
            f"({r.peer_group})."
        )
        lines.append(f"  {_verdict(r, settings)}")
    lines += ["", COMMON_WORDS]
    return "\n".join(lines)
