"""The case-mix models: fitted on a schedule at load, and each exam's expectations stored with it.

One logistic model per measure with a LogisticModel (case features and specialty, never the
examiner) is fitted on covariate patterns of a fixed hash sample of exams and kept
(casemix_terms, with the fit recorded in casemix_fits). Each load scores every exam with the
stored coefficients, inside DuckDB, in the pass that writes fct_exams, and stores its
expectations there (expected_<measure>, and the measures' `stored` columns). A load refits the
models only when there are none, when asked (`ime load --refit`), or when the exams added since
the last fit exceed REFIT_SHARE of those it saw (docs/methods.md says why). Every view,
default or filtered, of any role, sums those columns over its exams: nothing is refitted for a
filter, as in provider profiling (one risk model, expectations summed over any subset).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import duckdb
import pandas as pd

import queries
from etl.build import (
    SCORED_DELTA,
    STAGED_SCORED_MODEL,
    merge_scored_delta,
    merged_exams_in_order,
    rewrite_scored_model,
    scored_delta,
    staged_scored_model,
    write_scored_model,
)
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
# docs/methods.md, "When the models are refitted": a load whose exams added since the last fit
# exceed this share of the exams that fit saw refits the models; a smaller one is scored with
# the stored coefficients, which a few percent more exams of the same population barely move,
# so that a small load costs its own rows and not a refit over the whole history.
REFIT_SHARE = 0.10


@dataclass(frozen=True)
class ModelFit:
    """The fit a load's expectations come from, and whether this load made it."""

    refitted: bool
    reason: str  # why the models were refitted, or why the stored ones were kept
    load_id: int  # the load that fitted them
    fitted_at: str
    n_exams: int  # exams in the database when they were fitted
    n_added: int  # exams added since

    def to_dict(self) -> dict:
        return asdict(self)

    def to_text(self) -> str:
        if self.refitted:
            return f"Case-mix models refitted on {self.n_exams:,} exams: {self.reason}"
        return (
            f"Case-mix models of load {self.load_id} kept ({self.fitted_at}, fitted on "
            f"{self.n_exams:,} exams): {self.reason}"
        )


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


def _scoring(
    con: duckdb.DuckDBPyConnection, models: list[str], exams: str = "fct_exams"
) -> tuple[str, dict[str, object]]:
    """A query of every exam of the table `exams`, with its feature terms
    (term_<feature>_<model>) and its linear predictor (eta_<model>) under every stored model
    (casemix_terms), and its parameters; a level the models never saw (rarer than their
    sample could show) scores as the reference level.

    The terms are looked up in maps bound as parameters, not joined: the query is a projection
    of `exams`, which keeps its rows in their order, so the exams are written scored in one
    pass without a join on exam_id or a sort of the scored rows."""
    terms = con.execute("SELECT * FROM casemix_terms").df()
    params: dict[str, object] = {}
    columns, etas = [], []
    for f in MODEL_FEATURES:
        of_feature = terms[terms["feature"] == f]
        params[f"levels_{f}"] = of_feature["level"].tolist()
        level = f"coalesce(CAST(x.{f} AS VARCHAR), '{MISSING_LEVEL}')"
        for m in models:
            params[f"terms_{f}_{m}"] = of_feature[m].astype(float).tolist()
            columns.append(
                f"coalesce(map($levels_{f}, $terms_{f}_{m})[{level}], 0) AS term_{f}_{m}"
            )
    for m in models:
        params[f"intercept_{m}"] = float(terms.loc[terms["feature"] == INTERCEPT, m].iloc[0])
        etas.append(
            f"$intercept_{m} + "
            + " + ".join(f"term_{f}_{m}" for f in MODEL_FEATURES)
            + f" AS eta_{m}"
        )
    sql = f"SELECT *, {', '.join(etas)} FROM (SELECT x.*, {', '.join(columns)} FROM {exams} AS x)"
    return sql, params


def _last_fit(con: duckdb.DuckDBPyConnection) -> tuple[int, str, int] | None:
    """The load id, time and exam count of the fit whose terms are stored, if any."""
    if not queries.table_exists(con, "casemix_terms"):
        return None
    last = con.execute(
        "SELECT load_id, strftime(fitted_at, '%Y-%m-%d %H:%M:%S'), n_exams "
        "FROM casemix_fits ORDER BY load_id DESC LIMIT 1"
    ).fetchall()
    return last[0] if last else None


def refit_reason(con: duckdb.DuckDBPyConnection, n_exams: int, asked: bool) -> str | None:
    """Why this load must refit the models of a database of `n_exams` exams, or None."""
    if asked:
        return "asked for (ime load --refit)"
    last = _last_fit(con)
    if last is None:
        return "no models were stored"
    n_fit = last[2]
    added = n_exams - n_fit
    if added > REFIT_SHARE * n_fit:
        return (
            f"{added:,} exams added since the last fit, more than {REFIT_SHARE:.0%} of the "
            f"{n_fit:,} it was fitted on"
        )
    return None


def _keep_terms(con: duckdb.DuckDBPyConnection, terms: pd.DataFrame) -> None:
    con.register("fitted_terms", terms)
    try:
        con.execute("CREATE OR REPLACE TABLE casemix_terms AS FROM fitted_terms").fetchall()
    finally:
        con.unregister("fitted_terms")


def store_models(
    con: duckdb.DuckDBPyConnection, settings: FlagSettings, refit: bool = False
) -> ModelFit:
    """Refit the models if due (refit_reason; `refit` asks for it), keeping them in
    casemix_terms and the fit in casemix_fits; then store every exam's expectations under the
    stored models, and the measures' stored columns, in fct_exams."""
    n_exams = con.execute("SELECT count(*) FROM fct_exams").fetchall()[0][0]
    load_id = con.execute("SELECT currval('load_id_seq')").fetchall()[0][0]
    reason = refit_reason(con, n_exams, refit)
    if reason is not None:
        _keep_terms(con, fit_models(con, settings))
        con.execute(
            "INSERT INTO casemix_fits VALUES ($load_id, now(), $n, $reason)",
            {"load_id": load_id, "n": n_exams, "reason": reason},
        ).fetchall()
    fit_load, fitted_at, n_fit = _last_fit(con)
    fit = ModelFit(
        refitted=reason is not None,
        reason=reason
        or (
            f"{n_exams - n_fit:,} exams added since ({(n_exams - n_fit) / max(n_fit, 1):.1%}), "
            f"within the {REFIT_SHARE:.0%} that refits them"
        ),
        load_id=fit_load,
        fitted_at=fitted_at,
        n_exams=n_fit,
        n_added=n_exams - n_fit,
    )
    fitted = [
        c for c in queries.table_columns(con, "casemix_terms") if c not in ("feature", "level")
    ]
    outputs = {}
    for m in MEASURES.values():
        if isinstance(m.model, LogisticModel):
            outputs[m.expected_column] = (
                f"1 / (1 + exp(-eta_{m.name}))" if m.name in fitted else "NULL"
            )
        for column, sql in m.stored:
            outputs[column] = (
                sql
                if all(f"eta_{model}" not in sql or model in fitted for model in MEASURES)
                else "NULL"
            )
    if staged_scored_model(con):
        _write_scored_exams(con, fitted, outputs)
        return fit
    if scored_delta(con):
        # A merging load (etl.increment): the rows it rebuilt are scored under the kept
        # models; models refitted (or columns not stored yet) rescore every exam.
        stored = set(outputs) <= set(queries.table_columns(con, "fct_exams"))
        if reason is None and stored:
            merge_scored_delta(con, *_expectations(con, fitted, outputs, SCORED_DELTA))
        else:
            rewrite_scored_model(
                con, *_expectations(con, fitted, outputs, merged_exams_in_order(con))
            )
        return fit
    for column in outputs:
        # Column names from the registry's code, never from data.
        con.execute(f"ALTER TABLE fct_exams ADD COLUMN IF NOT EXISTS {column} DOUBLE").fetchall()
    if not fitted:
        return fit
    assignments = ", ".join(f"{c} = s.{c}" for c in outputs)
    sql, params = _expectations(con, fitted, outputs, columns="exam_id")
    con.execute(
        f"UPDATE fct_exams SET {assignments} FROM ({sql}) AS s WHERE fct_exams.exam_id = s.exam_id",
        params,
    ).fetchall()
    return fit


def _expectations(
    con: duckdb.DuckDBPyConnection,
    fitted: list[str],
    outputs: dict[str, str],
    exams: str = "fct_exams",
    columns: str | None = None,
) -> tuple[str, dict[str, object]]:
    """Every exam of the table `exams`, its `columns` (all by default) and its `outputs`
    (column: SQL over the scored exam) under the models, in the table's order; and the
    query's parameters."""
    selected = ", ".join(f"CAST({sql} AS DOUBLE) AS {c}" for c, sql in outputs.items())
    if not fitted:
        return f"SELECT {columns or '*'}, {selected} FROM {exams}", {}
    sql, params = _scoring(con, fitted, exams)
    scoring = [f"term_{f}_{m}" for m in fitted for f in MODEL_FEATURES]
    scoring += [f"eta_{m}" for m in fitted]
    kept = columns or f"* EXCLUDE ({', '.join(scoring)})"
    return f"SELECT {kept}, {selected} FROM ({sql})", params


def _write_scored_exams(
    con: duckdb.DuckDBPyConnection, fitted: list[str], outputs: dict[str, str]
) -> None:
    """Write the exams a load staged (etl.build.SCORED_MODEL) to the database with their
    expectations, in one statement: each exam is written once, in the staged table's order
    (by specialty and examiner, fct_exams.sql says why)."""
    write_scored_model(con, *_expectations(con, fitted, outputs, STAGED_SCORED_MODEL))
