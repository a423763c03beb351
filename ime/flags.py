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
from scipy import special, stats
from statsmodels.tools.sm_exceptions import ConvergenceWarning

import queries
from imestats.casemix import MISSING_LEVEL, fit_casemix
from imestats.cusum import (
    baseline_log_odds_ratios,
    batch_log_terms,
    batched_cusum,
    recalibrate_risks,
    threshold_for_batched_panel,
)
from imestats.funnel import score_units
from imestats.multiplicity import bh_qvalues, flag_units
from imestats.proportions import oe_ratio_interval
from imestats.rates import poisson_rate_ratio
from imestats.shrinkage import gamma_poisson_shrinkage
from imestats.survival import cox_ph

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
    "cusum_threshold",
]
INSURER_SIDE = ("insurer", "employer")
NEUTRAL_OR_CLAIMANT_SIDE = ("claimant", "board", "panel", "agreed")


@dataclass(frozen=True)
class BinaryMeasure:
    """A per-exam yes/no outcome compared as observed/expected adverse events.

    `trials`, `events`, `expected` and `variance` name its columns in the examiner_expected
    query; `term` names its model's column in the case-mix terms.
    """

    name: str
    trials: str
    events: str
    expected: str
    variance: str
    term: str
    extra_features: tuple[str, ...] = ()
    description: str = ""


BINARY_MEASURES = {
    m.name: m
    for m in (
        BinaryMeasure(
            "adverse_opinion",
            "n_exams",
            "n_adverse",
            "e_adverse",
            "v_adverse",
            "adverse",
            description="adverse opinions (not related, no further treatment, or MMI at 0% WPI)",
        ),
        BinaryMeasure(
            "denial",
            "n_with_decision",
            "n_denied",
            "e_denied",
            "v_denied",
            "denial",
            description=(
                "denials or terminations after the exam, among exams followed by a decision"
            ),
        ),
        BinaryMeasure(
            "zero_impairment",
            "n_rated",
            "n_zero_wpi",
            "e_zero_wpi",
            "v_zero_wpi",
            "zero_impairment",
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
    # The case-mix models are fitted on a fixed hash sample of about this many exams (every
    # exam of a smaller view), then score every exam in the database. Past a few hundred
    # thousand exams more data barely moves some 70 coefficients, while the fit's cost grows
    # with the distinct covariate patterns, which are nearly as many as the exams.
    casemix_sample: int = 250_000
    # Early MMI: the Cox model is fitted on about this many exams, a hash sample independent of
    # outcome and time, then every exam is scored (sampling on covariates leaves the hazard
    # model unbiased).
    cox_sample: int = 25_000
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


def compute_flags(
    con: duckdb.DuckDBPyConnection,
    scope: queries.Scope = queries.FULL_ACCESS,
    filters: queries.Filters = queries.NO_FILTERS,
    measures: tuple[str, ...] = MEASURES,
    settings: FlagSettings = DEFAULT_SETTINGS,
    case_mix: CaseMix | None = None,
) -> pd.DataFrame:
    """Flags for every examiner and measure, with the detail columns the dashboard shows.

    The case-mix models are the view's (case_mix_for_view) unless `case_mix` (fitted on the
    same view) is given; the exams are scored in DuckDB, so only per-examiner sums reach
    Python.
    """
    unknown = set(measures) - set(MEASURES)
    if unknown:
        raise ValueError(f"unknown measure(s) {sorted(unknown)}; known: {', '.join(MEASURES)}")
    if case_mix is None and set(measures) - {"decision_counts"}:
        case_mix = case_mix_for_view(con, scope, filters, settings)
    frames = []
    expected = None
    if set(measures) & {*BINARY_MEASURES, "allegiance"} and case_mix.terms:
        expected = queries.run(
            con,
            "examiner_expected",
            scope,
            filters,
            terms=case_mix.terms,
            insurer_side=list(INSURER_SIDE),
            neutral_side=list(NEUTRAL_OR_CLAIMANT_SIDE),
        )
    for name in measures:
        if name in BINARY_MEASURES and expected is not None:
            frames.append(binary_measure(expected, BINARY_MEASURES[name], settings))
        elif name == "allegiance" and expected is not None:
            frames.append(allegiance(expected, settings))
        elif name == "early_mmi" and case_mix.mmi_hazard:
            mmi = queries.run(
                con,
                "examiner_mmi_expected",
                scope,
                filters,
                terms=case_mix.terms,
                hazard=case_mix.mmi_hazard,
            )
            frames.append(early_mmi(mmi, settings))
        elif name == "drift" and case_mix.terms:
            risks = queries.run_exams(
                con,
                "examiner_adverse_risks",
                scope,
                filters,
                terms=case_mix.terms,
                examiner_id=None,
            )
            frames.append(drift(risks, settings))
        elif name == "decision_counts":
            frames.append(
                decision_counts(queries.run(con, "decision_counts_units", scope, filters), settings)
            )
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=OUTPUT_COLUMNS + DETAIL_COLUMNS)
    return pd.concat(frames, ignore_index=True)


def store_flags(con: duckdb.DuckDBPyConnection) -> None:
    """Fit the case-mix models and compute the flags of the unfiltered view once per load.

    Into the tables casemix_terms, casemix_hazard and examiner_flags, which the default view
    then reads.
    """
    case_mix = fit_case_mix(con, queries.FULL_ACCESS, queries.NO_FILTERS, DEFAULT_SETTINGS)
    _replace_table(con, "casemix_terms", pd.DataFrame(case_mix.terms, columns=TERM_COLUMNS))
    _replace_table(
        con, "casemix_hazard", pd.DataFrame(case_mix.mmi_hazard, columns=HAZARD_COLUMNS)
    )
    flags = compute_flags(con, case_mix=case_mix)
    _replace_table(con, "examiner_flags", flags[OUTPUT_COLUMNS + DETAIL_COLUMNS])


_STORED_TABLES = ("casemix_terms", "casemix_hazard", "examiner_flags")


def _replace_table(con: duckdb.DuckDBPyConnection, table: str, rows: pd.DataFrame) -> None:
    if table not in _STORED_TABLES:
        raise ValueError(f"{table!r} is not a table the flags engine stores")
    con.register("computed_rows", rows)
    try:
        con.execute(f"DELETE FROM {table}")  # noqa: S608 - a name from _STORED_TABLES
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM computed_rows")  # noqa: S608
    finally:
        con.unregister("computed_rows")


def _is_default_view(
    scope: queries.Scope, filters: queries.Filters, settings: FlagSettings
) -> bool:
    """The view whose flags and models `ime load` stored: no filters, every insurer."""
    unfiltered = filters == queries.NO_FILTERS and scope.role != "insurer"
    return unfiltered and settings == DEFAULT_SETTINGS


@dataclass(frozen=True)
class CaseMix:
    """The case-mix models of one view, in the form DuckDB scores exams with.

    `terms`: one dict per feature and level (TERM_COLUMNS) with the log-odds terms of the
    three logistic models (adverse, denial, zero_impairment) and the log relative hazard of
    the Cox model of time to MMI (early_mmi), intercepts under the feature '(intercept)'; 0
    for a model that could not be fitted. `mmi_hazard`: the Cox model's baseline cumulative
    hazard as dicts of days and cumulative_hazard; empty without a Cox model.
    """

    terms: list[dict]
    mmi_hazard: list[dict]


TERM_COLUMNS = [
    "feature",
    "level",
    *(m.term for m in BINARY_MEASURES.values()),
    "early_mmi",
]
HAZARD_COLUMNS = ["days", "cumulative_hazard"]


def fit_case_mix(
    con: duckdb.DuckDBPyConnection,
    scope: queries.Scope,
    filters: queries.Filters,
    settings: FlagSettings,
) -> CaseMix:
    """Fit the case-mix models of a view on samples of it (see FlagSettings).

    One logistic model per binary measure on covariate patterns, with specialty among the
    features, and a Cox model of time to MMI. A measure that never or always happens in the
    view, or a view too thin for the Cox model, gets no model (and no comparison).
    """
    patterns = queries.run(
        con, "casemix_patterns", scope, filters, sample_size=settings.casemix_sample
    )
    columns = {}
    for measure in BINARY_MEASURES.values():
        data = patterns[patterns[measure.trials] > 0]
        if not _comparable(data[measure.trials], data[measure.events]):
            continue
        features = [*CASE_FEATURES, *measure.extra_features, "specialty"]
        counts = data.groupby(features, dropna=False, as_index=False)[
            [measure.trials, measure.events]
        ].sum()
        model = fit_casemix(counts, features, measure.trials, measure.events)
        columns[measure.term] = model.level_terms().set_index(["covariate", "level"])["term"]
    sample = queries.run(con, "mmi_sample", scope, filters, sample_size=settings.cox_sample)
    mmi_terms, mmi_hazard = fit_mmi_model(sample)
    if mmi_hazard:
        columns["early_mmi"] = mmi_terms
    if not columns:
        return CaseMix([], [])
    table = pd.DataFrame(columns).reindex(columns=TERM_COLUMNS[2:]).fillna(0.0)
    table.index.names = ["feature", "level"]
    return CaseMix(table.reset_index().to_dict("records"), mmi_hazard)


# Separates feature and level in the indicator columns of the Cox design.
_LEVEL_SEPARATOR = "\x1f"


def fit_mmi_model(sample: pd.DataFrame) -> tuple[pd.Series, list[dict]]:
    """The Cox model of time to MMI given the case features, as terms and baseline hazard.

    Exams without MMI are censored at the exam date. Returns the log relative hazard per
    (feature, level), centred at the sample's means through the intercept term, and the
    Breslow baseline cumulative hazard; empty when the sample is too thin for the model.
    """
    none = (pd.Series(dtype=float), [])
    if not _comparable(pd.Series(len(sample)), sample["mmi_reached"].astype(int)):
        return none
    design = pd.get_dummies(
        sample[list(CASE_FEATURES)].fillna(MISSING_LEVEL).astype(str),
        prefix_sep=_LEVEL_SEPARATOR,
        drop_first=True,
        dtype=float,
    )
    event = sample["mmi_reached"].astype(float).to_numpy()
    # A feature level needs exams with and without MMI declared, or its hazard ratio runs off
    # to infinity (the fit then fails to converge).
    events = design.mul(event, axis=0).sum()
    design = design.loc[:, (design.sum() >= 20) & (events >= 5) & (design.sum() - events >= 5)]
    covariates = list(design.columns)
    if not covariates:
        # Too few exams for any case feature to be estimated: no case-mix expectation.
        return none
    frame = design.assign(days=sample["days_injury_to_mmi"].to_numpy(), event=event)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        warnings.simplefilter("error", RuntimeWarning)
        try:
            model = cox_ph(frame, "days", "event", covariates)
        except (ConvergenceWarning, RuntimeWarning, np.linalg.LinAlgError):
            # Some filtered views are too thin for the survival model: no early-MMI figures.
            return none
    coef = model.table["coef"]
    names = [tuple(c.split(_LEVEL_SEPARATOR, 1)) for c in covariates]
    terms = pd.Series(coef.to_numpy(), index=pd.MultiIndex.from_tuples(names))
    centre = float(model.covariate_means.to_numpy() @ coef.to_numpy())
    terms[("(intercept)", "(intercept)")] = -centre
    hazard = [
        {"days": float(t), "cumulative_hazard": float(h)}
        for t, h in zip(model.baseline_time, model.baseline_cumulative_hazard, strict=True)
    ]
    return terms, hazard


def case_mix_for_view(
    con: duckdb.DuckDBPyConnection,
    scope: queries.Scope = queries.FULL_ACCESS,
    filters: queries.Filters = queries.NO_FILTERS,
    settings: FlagSettings = DEFAULT_SETTINGS,
) -> CaseMix:
    """The case-mix models of a view: the ones stored at load for the default view, else fitted."""
    if _is_default_view(scope, filters, settings):
        terms = queries.run(con, "stored_casemix_terms", scope, filters)
        if not terms.empty:
            hazard = queries.run(con, "stored_casemix_hazard", scope, filters)
            return CaseMix(terms.to_dict("records"), hazard.to_dict("records"))
    return fit_case_mix(con, scope, filters, settings)


def flags_for_view(
    con: duckdb.DuckDBPyConnection,
    scope: queries.Scope = queries.FULL_ACCESS,
    filters: queries.Filters = queries.NO_FILTERS,
    settings: FlagSettings = DEFAULT_SETTINGS,
    case_mix: CaseMix | None = None,
) -> pd.DataFrame:
    """Flags for a view: the ones stored at load when the view is the default, else computed.

    `case_mix`: the view's models (case_mix_for_view), for a caller that needs them anyway
    (a drift chart), so that a filtered view fits them once.
    """
    stored = stored_flags(con, scope, filters, settings)
    if stored is not None:
        return stored
    return compute_flags(con, scope, filters, settings=settings, case_mix=case_mix)


def stored_flags(
    con: duckdb.DuckDBPyConnection,
    scope: queries.Scope,
    filters: queries.Filters,
    settings: FlagSettings = DEFAULT_SETTINGS,
) -> pd.DataFrame | None:
    """The flags `ime load` stored, when the view is the default and they exist; else None."""
    if _is_default_view(scope, filters, settings):
        stored = queries.run(con, "stored_flags", scope, filters)
        if not stored.empty:
            return stored
    return None


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
    # Columns a measure has no use for (the CUSUM threshold outside drift) are left empty.
    return rows.reindex(columns=OUTPUT_COLUMNS + DETAIL_COLUMNS).sort_values(
        ["measure", "examiner_id"], ignore_index=True
    )


def _comparable(trials: pd.Series, events: pd.Series) -> bool:
    """An outcome that never or always happens leaves nothing to compare examiners on."""
    return 0 < events.sum() < trials.sum()


def binary_measure(
    expected: pd.DataFrame, measure: BinaryMeasure, settings: FlagSettings
) -> pd.DataFrame:
    """Case-mix adjusted O/E of a yes/no outcome per examiner, against same-specialty peers.

    `expected` is the examiner_expected query: observed, expected and variance per examiner
    and side, the expected count from one model for all examiners with specialty among the
    features (what an average examiner of the same specialty would give for these cases).
    Fitting each specialty alone was tried and rejected: with a dozen examiners in a
    specialty, one high-volume examiner's own habits leak into the "case mix" and hide them.
    """
    oe = (
        expected.groupby("examiner_id", sort=True)
        .agg(
            peer_group=("specialty", "first"),
            n=(measure.trials, "sum"),
            observed=(measure.events, "sum"),
            expected=(measure.expected, "sum"),
            variance=(measure.variance, "sum"),
        )
        .reset_index()
    )
    oe = oe[oe["n"] > 0].reset_index(drop=True)
    if not _comparable(oe["n"], oe["observed"]):
        return pd.DataFrame()
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


def allegiance(expected: pd.DataFrame, settings: FlagSettings) -> pd.DataFrame:
    """Within each examiner: adverse O/E when retained by insurer or employer vs by others.

    The case-mix model of adverse opinions (requested_by among its features) gives each side
    its expected count, so the comparison allows for the cases each side sends; the exact
    conditional Poisson test compares the two O/E ratios of the same examiner.
    """
    if not _comparable(expected["n_exams"], expected["n_adverse"]):
        return pd.DataFrame()
    sides = expected[expected["side"] != "other"]
    wide = sides.pivot(
        index="examiner_id", columns="side", values=["n_exams", "n_adverse", "e_adverse"]
    ).fillna(0)
    if "insurer" not in wide["n_exams"] or "neutral" not in wide["n_exams"]:
        return pd.DataFrame()
    o1, e1 = wide[("n_adverse", "insurer")], wide[("e_adverse", "insurer")]
    o2, e2 = wide[("n_adverse", "neutral")], wide[("e_adverse", "neutral")]
    test = poisson_rate_ratio(o1.to_numpy(), e1.to_numpy(), o2.to_numpy(), e2.to_numpy())
    n_insurer, n_neutral = wide[("n_exams", "insurer")], wide[("n_exams", "neutral")]
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


def early_mmi(mmi: pd.DataFrame, settings: FlagSettings) -> pd.DataFrame:
    """Examiners who declare MMI sooner than case mix predicts: Cox O/E of MMI declarations.

    `mmi` is the examiner_mmi_expected query: exams, observed and Cox-expected declarations.
    """
    mmi = mmi[mmi["n_exams"] > 0]
    observed = mmi["observed"].to_numpy(dtype=float)
    expected = mmi["expected"].to_numpy(dtype=float)
    # Poisson variance: the expected count is a sum of cumulative hazards, not of risks.
    scores = score_units(observed, expected, expected, settings.adjustment).units
    interval = oe_ratio_interval(observed, expected)
    with np.errstate(divide="ignore", invalid="ignore"):
        rows = pd.DataFrame(
            {
                "examiner_id": mmi["examiner_id"].to_numpy(),
                "peer_group": "all examiners, case mix by Cox model",
                "n": mmi["n_exams"].astype(int).to_numpy(),
                "observed": observed,
                "expected": expected,
                "ratio": interval.estimate,
                "ci_low": interval.low,
                "ci_high": interval.high,
                "raw_rate": observed / mmi["n_exams"].to_numpy(),
                "peer_rate": observed.sum() / mmi["n_exams"].sum(),
                "z": scores["z"].to_numpy(),
                "z_adjusted": scores["z_adjusted"].to_numpy(),
                "p_value": scores["p_one_sided"].to_numpy(),
            }
        )
    return _finish(rows, "early_mmi", settings)


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

    `risks` is the examiner_adverse_risks query (each examiner's exams together, in date
    order, with the case-mix log odds of an adverse opinion). Every examiner is handled at
    once, in arrays over all exams, and then cut into one chart each.
    """
    if not _comparable(pd.Series(len(risks)), risks["is_adverse"].astype(int)):
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


def drift(risks: pd.DataFrame, settings: FlagSettings) -> pd.DataFrame:
    """A change in an examiner's own adverse-opinion rate: risk-adjusted CUSUM on own baseline."""
    charts = drift_charts(risks, settings)
    if not charts:
        return pd.DataFrame()
    panel = threshold_for_batched_panel(
        [c.trials for c in charts],
        [c.risk for c in charts],
        [c.log_terms for c in charts],
        settings.drift_false_alarm,
        settings.drift_odds_ratio,
        n_sim=settings.drift_simulations,
        rng=settings.seed,
    )
    observed = np.array([c.adverse.sum() for c in charts])
    expected = np.array([(c.trials * c.risk).sum() for c in charts])
    later = np.array([c.trials.sum() for c in charts])
    peak = np.array(
        [
            batched_cusum(
                c.adverse, c.log_terms, panel.threshold, settings.drift_odds_ratio
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
            "cusum_threshold": panel.threshold,
            # Poisson tail of the later exams against the own-baseline expectation.
            "p_value": stats.poisson.sf(observed - 1, expected),
        }
    )
    return _finish(rows, "drift", settings, signal=peak >= panel.threshold)


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
        "specialty, fitted on all examiners (a fixed sample of about 250,000 exams when there are "
        "more) without any examiner term: the expected count is what an average examiner of the "
        "same specialty would give for these cases."
    ),
    "denial": (
        "Denials or terminations that followed the exam within 90 days (or that name the exam), "
        "against the number expected for the examiner's cases, by the same kind of model."
    ),
    "zero_impairment": (
        "0% whole-person impairment ratings among rated exams, against the number expected for "
        "the examiner's cases (the model adds the AMA Guides edition)."
    ),
    "early_mmi": (
        "MMI declarations against the number expected from a Cox model of time from injury to MMI "
        "given the case features (exams without MMI are censored at the exam date), fitted on a "
        "fixed sample of about 25,000 exams; a ratio above 1 means MMI is declared sooner than "
        "the case mix predicts."
    ),
    "allegiance": (
        "Within the examiner's own exams: adverse opinions when retained by an insurer or "
        "employer, against what the examiner's own rate with claimant-retained or neutral "
        "(board, panel, agreed) exams predicts for those cases; exact conditional Poisson test "
        "of the two rates."
    ),
    "drift": (
        "A risk-adjusted CUSUM of adverse opinions against the examiner's own earlier baseline "
        "(Steiner 2000), signalling a lasting doubling of the odds; it steps a calendar quarter of "
        "exams at a time, and the threshold is set by simulation so that at most 5% of examiners "
        "with no change would signal across the panel."
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
        crossed = "crossed" if r.flagged else "did not cross"
        return (
            f"The CUSUM reached {r.z:.2f} and {crossed} the panel threshold "
            f"{r.cusum_threshold:.2f}."
        )
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
