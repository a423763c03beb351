"""The case-mix models: fitted once per load, and each exam's expectations stored with it.

At load, one logistic model per measure with a LogisticModel (case features and specialty,
never the examiner) is fitted on covariate patterns of a fixed hash sample of exams; then
every exam is scored once, inside DuckDB, and its expectations are stored in fct_exams
(expected_<measure>, and the measures' `stored` columns). Every view, default or filtered, of
any role, sums those columns over its exams: nothing is refitted for a filter, as in provider
profiling (one risk model, expectations summed over any subset).
"""

from __future__ import annotations

import duckdb
import pandas as pd

import queries
from imestats.casemix import MISSING_LEVEL, fit_casemix
from measures.base import FlagSettings, LogisticModel, Measure, comparable
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


def fit_models(con: duckdb.DuckDBPyConnection, settings: FlagSettings) -> pd.DataFrame:
    """Fit every measure's model on a sample of the whole database.

    Returns the terms: one row per feature and level, a column per fitted model, the
    intercepts under the feature '(intercept)', 0 where a model does not use a level. A
    measure whose outcome never or always happens gets no model (no column).
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
    if not columns:
        return pd.DataFrame(columns=["feature", "level"])
    table = pd.DataFrame(columns).fillna(0.0)
    table.index.names = ["feature", "level"]
    return table.reset_index()


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
        "SELECT x.exam_id,\n    "
        + ",\n    ".join(columns)
        + "\nFROM fct_exams AS x\n"
        + f"CROSS JOIN (SELECT * FROM casemix_terms WHERE feature = '{INTERCEPT}') AS i\n"
        + joins
    )


def store_models(con: duckdb.DuckDBPyConnection, settings: FlagSettings) -> None:
    """Fit the models, keep them (casemix_terms) and store every exam's expectations and the
    measures' stored columns in fct_exams."""
    terms = fit_models(con, settings)
    con.register("fitted_terms", terms)
    try:
        con.execute("CREATE OR REPLACE TABLE casemix_terms AS FROM fitted_terms").fetchall()
    finally:
        con.unregister("fitted_terms")
    fitted = [c for c in terms.columns if c not in ("feature", "level")]
    outputs = {}
    for m in MEASURES.values():
        if isinstance(m.model, LogisticModel):
            outputs[m.expected_column] = (
                f"1 / (1 + exp(-eta_{m.name}))" if m.name in fitted else "NULL"
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
    con.execute(
        f"""
        UPDATE fct_exams SET {assignments}
        FROM (
            WITH scored AS ({_scoring_sql(fitted)})
            SELECT exam_id,
                {selected}
            FROM scored
        ) AS s
        WHERE fct_exams.exam_id = s.exam_id
        """
    ).fetchall()
