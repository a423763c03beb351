"""The case-mix models: fitted once per load, and each exam's expectations stored with it.

At load, one logistic model per measure with a LogisticModel (case features and specialty,
never the examiner) is fitted on covariate patterns of a fixed hash sample of exams, and the
Cox model of time to MMI on a smaller one; then every exam is scored once, inside DuckDB, and
its expectations are stored in fct_exams (expected_<measure>, and the measures' `stored`
columns). Every view, default or filtered, of any role, sums those columns over its exams:
nothing is refitted for a filter, as in provider profiling (one risk model, expectations
summed over any subset).
"""

from __future__ import annotations

import warnings

import duckdb
import numpy as np
import pandas as pd
from statsmodels.tools.sm_exceptions import ConvergenceWarning

import queries
from imestats.casemix import MISSING_LEVEL, fit_casemix
from imestats.survival import cox_ph
from measures.base import CoxModel, FlagSettings, LogisticModel, Measure, comparable
from measures.registry import MEASURES

# docs/methods.md: the case features of the expected count; never the examiner.
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
# Every feature some model reads: the case features, the specialty (peers are the same
# specialty) and the measures' extra features. Identifiers from this code, never from data.
MODEL_FEATURES = tuple(
    dict.fromkeys(
        [
            *CASE_FEATURES,
            "specialty",
            *(
                f
                for m in MEASURES.values()
                if isinstance(m.model, LogisticModel)
                for f in m.model.extra_features
            ),
        ]
    )
)
INTERCEPT = "(intercept)"


def logistic_measures() -> list[Measure]:
    return [m for m in MEASURES.values() if isinstance(m.model, LogisticModel)]


def cox_measures() -> list[Measure]:
    return [m for m in MEASURES.values() if isinstance(m.model, CoxModel)]


def _patterns_sql() -> str:
    """Exam and outcome counts per covariate pattern in a fixed hash sample of about
    $sample_size exams (every exam of a smaller database): what the logistic models are
    fitted on. The sample is chosen by a hash of exam_id, so a database always gets the same
    models."""
    features = ",\n    ".join(f"CAST({f} AS VARCHAR) AS {f}" for f in MODEL_FEATURES)
    counts = ",\n    ".join(
        f"count({m.model.outcome}) AS n_{m.name},\n    "
        f"count(*) FILTER ({m.model.outcome}) AS y_{m.name}"
        for m in logistic_measures()
    )
    return (
        f"SELECT\n    {features},\n    {counts}\nFROM exams_in_view()\n"
        "WHERE hash(exam_id) % 1000000\n"
        "    < 1000000 * CAST($sample_size AS BIGINT) / greatest((SELECT count(*) FROM "
        "exams_in_view()), 1)\nGROUP BY ALL"
    )


def fit_models(
    con: duckdb.DuckDBPyConnection, settings: FlagSettings
) -> tuple[pd.DataFrame, list[dict]]:
    """Fit every measure's model on samples of the whole database.

    Returns the terms (one row per feature and level, a column per fitted model, the
    intercepts under the feature '(intercept)', 0 where a model does not use a level) and the
    Cox model's baseline cumulative hazard (dicts of days and cumulative_hazard; empty without
    a Cox model). A measure whose outcome never or always happens gets no model (no column).
    """
    patterns = queries.run_sql(con, _patterns_sql(), sample_size=settings.casemix_sample)
    columns = {}
    for measure in logistic_measures():
        trials, events = f"n_{measure.name}", f"y_{measure.name}"
        data = patterns[patterns[trials] > 0]
        if not comparable(data[trials], data[events]):
            continue
        features = [*CASE_FEATURES, *measure.model.extra_features, "specialty"]
        counts = data.groupby(features, dropna=False, as_index=False)[[trials, events]].sum()
        model = fit_casemix(counts, features, trials, events)
        columns[measure.name] = model.level_terms().set_index(["covariate", "level"])["term"]
    hazard = []
    for measure in cox_measures():
        sample = queries.run(con, "mmi_sample", sample_size=settings.cox_sample)
        terms, hazard = fit_mmi_model(sample)
        if hazard:
            columns[measure.name] = terms
    if not columns:
        return pd.DataFrame(columns=["feature", "level"]), []
    table = pd.DataFrame(columns).fillna(0.0)
    table.index.names = ["feature", "level"]
    return table.reset_index(), hazard


# Separates feature and level in the indicator columns of the Cox design.
_LEVEL_SEPARATOR = "\x1f"


def fit_mmi_model(sample: pd.DataFrame) -> tuple[pd.Series, list[dict]]:
    """The Cox model of time to MMI given the case features, as terms and baseline hazard.

    Exams without MMI are censored at the exam date. Returns the log relative hazard per
    (feature, level), centred at the sample's means through the intercept term, and the
    Breslow baseline cumulative hazard; empty when the sample is too thin for the model.
    """
    none = (pd.Series(dtype=float), [])
    if not comparable(len(sample), sample["mmi_reached"].astype(int)):
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



def _scoring_sql(models: list[str]) -> str:
    """Each exam's linear predictor under every fitted model (eta_<model>) and its feature
    terms (term_<feature>_<model>), from the terms table `casemix_terms`; a level the models
    never saw (rarer than their sample could show) scores as the reference level."""
    joins = "\n".join(
        f"LEFT JOIN casemix_terms AS t_{f} ON t_{f}.feature = '{f}' "
        f"AND t_{f}.level = coalesce(CAST(x.{f} AS VARCHAR), '{MISSING_LEVEL}')"
        for f in MODEL_FEATURES
    )
    columns = []
    for m in models:
        terms = [f"coalesce(t_{f}.{m}, 0)" for f in MODEL_FEATURES]
        columns.append(f"i.{m} + " + " + ".join(terms) + f" AS eta_{m}")
        columns += [f"coalesce(t_{f}.{m}, 0) AS term_{f}_{m}" for f in MODEL_FEATURES]
    return (
        "SELECT x.exam_id, x.mmi_reached, x.days_injury_to_mmi,\n    "
        + ",\n    ".join(columns)
        + "\nFROM fct_exams AS x\n"
        + f"CROSS JOIN (SELECT * FROM casemix_terms WHERE feature = '{INTERCEPT}') AS i\n"
        + joins
    )


def store_models(con: duckdb.DuckDBPyConnection, settings: FlagSettings) -> None:
    """Fit the models, keep them (casemix_terms, casemix_hazard) and store every exam's
    expectations and the measures' stored columns in fct_exams."""
    terms, hazard = fit_models(con, settings)
    con.register("fitted_terms", terms)
    con.register("fitted_hazard", pd.DataFrame(hazard, columns=["days", "cumulative_hazard"]))
    try:
        con.execute("CREATE OR REPLACE TABLE casemix_terms AS FROM fitted_terms").fetchall()
        con.execute("DELETE FROM casemix_hazard").fetchall()
        con.execute("INSERT INTO casemix_hazard BY NAME SELECT * FROM fitted_hazard").fetchall()
    finally:
        con.unregister("fitted_terms")
        con.unregister("fitted_hazard")
    fitted = [c for c in terms.columns if c not in ("feature", "level")]
    outputs = {}
    for m in MEASURES.values():
        if isinstance(m.model, LogisticModel):
            outputs[m.expected_column] = (
                f"1 / (1 + exp(-eta_{m.name}))" if m.name in fitted else "NULL"
            )
        elif isinstance(m.model, CoxModel):
            outputs[m.expected_column] = (
                f"CASE WHEN mmi_reached IS NOT NULL AND days_injury_to_mmi >= 0 THEN "
                f"coalesce(h.cumulative_hazard, 0) * exp(eta_{m.name}) END"
                if m.name in fitted
                else "NULL"
            )
        for column, sql in m.stored:
            outputs[column] = sql if all(
                f"eta_{model}" not in sql or model in fitted for model in MEASURES
            ) else "NULL"
    for column in outputs:
        # Column names from the registry's code, never from data.
        con.execute(f"ALTER TABLE fct_exams ADD COLUMN IF NOT EXISTS {column} DOUBLE").fetchall()
    if not fitted:
        return
    assignments = ", ".join(f"{c} = s.{c}" for c in outputs)
    selected = ",\n    ".join(f"{sql} AS {c}" for c, sql in outputs.items())
    # The Cox baseline read at every whole day of follow-up: a join on the day then finds each
    # exam's baseline, which is cheaper than an as-of join of every exam. Before the first
    # event time the baseline has not stepped: nothing is expected yet.
    con.execute(
        f"""
        UPDATE fct_exams SET {assignments}
        FROM (
            WITH scored AS ({_scoring_sql(fitted)}),
            by_day AS (
                SELECT d.day, h.cumulative_hazard
                FROM range(0, (SELECT coalesce(max(days_injury_to_mmi) + 1, 0) FROM fct_exams))
                    AS d(day)
                ASOF LEFT JOIN casemix_hazard AS h ON d.day >= h.days
            )
            SELECT exam_id,
                {selected}
            FROM scored
            LEFT JOIN by_day AS h ON h.day = scored.days_injury_to_mmi
        ) AS s
        WHERE fct_exams.exam_id = s.exam_id
        """
    ).fetchall()
