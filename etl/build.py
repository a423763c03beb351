"""Build the stg_/dim_/fct_ models after a load, and run the data-contract checks."""

from __future__ import annotations

import re
from graphlib import TopologicalSorter

import duckdb

from etl import identifiers, increment
from etl.errors import LoadError
from etl.schema import ENTITIES
from etl.sql import quote_ident
from queries import table_columns, table_exists
from queries.sqlfile import SqlFile, folder

CONTRACT_SAMPLE_ROWS = 5
# Contracts whose violation means a claimant identifier would be stored: the load is refused
# (the database is left as it was) instead of reported as failing a check.
PRIVACY_CONTRACTS = ("cases_claimant_id_pseudonymised", "extra_has_no_claimant_identifier")


def model_order(models: dict[str, SqlFile]) -> list[str]:
    """Models in an order where each comes after the models its SQL reads."""
    graph = {
        name: {other for other in models if other != name and re.search(rf"\b{other}\b", m.sql)}
        for name, m in models.items()
    }
    return list(TopologicalSorter(graph).static_order())


# The model the case-mix models score (measures.casemix.store_models adds each exam's
# expectations to it). A load builds it in an in-memory database first, read through a view of
# the same name, so that the scorer writes every exam to the database file once, expectations
# included, instead of writing the exams and then updating each of them. (An attached database,
# not a temporary table: the queries that fit the models read it through cursors, which do not
# see their connection's temporary tables.)
SCORED_MODEL = "fct_exams"
STAGING_DATABASE = "load_staging"
STAGED_SCORED_MODEL = f"{STAGING_DATABASE}.main.{SCORED_MODEL}"
SCORED_DELTA = f"{STAGING_DATABASE}.main.{increment.DELTA_TABLE}"
# fct_exams.sql's ORDER BY: the order a whole build writes, and a refit writes again.
PAGE_ORDER = "specialty, examiner_id"


def build_models(
    con: duckdb.DuckDBPyConnection, stage_scored: bool = False, load_id: int | None = None
) -> int | None:
    """(Re)create every model from queries/models as its header's `materialized` says.

    `stage_scored`: build SCORED_MODEL in the in-memory STAGING_DATABASE, under a view of its
    name that every later model and query reads, to be written by the scorer or by
    `publish_scored_model`. With `load_id` as well, a load whose changes reach few cases
    rebuilds the merged models (etl.increment) for those cases only and merges them (their
    rebuilt fct_exams rows stay staged, SCORED_DELTA, for the scorer), and the number of those
    cases is returned; None when every model was rebuilt whole.
    """
    models = folder("models")
    merged = None
    if stage_scored and load_id is not None and increment.mergeable(con, models):
        touched = increment.touched_cases(con, load_id)
        if touched <= increment.MERGE_SHARE * _stored_cases(con):
            merged = touched
    if stage_scored:
        con.execute(f"ATTACH ':memory:' AS {STAGING_DATABASE}")
    for name in model_order(models):
        kind = models[name].header.get("materialized", "view").upper()
        if merged is not None and name in increment.MERGED_MODELS:
            if name == SCORED_MODEL:
                increment.merge_models(con, models, STAGING_DATABASE)
            continue
        if stage_scored and name == SCORED_MODEL:
            con.execute(f"CREATE TABLE {STAGED_SCORED_MODEL} AS {models[name].sql}")
            con.execute(f"DROP TABLE IF EXISTS {name}")
            con.execute(f"CREATE VIEW {name} AS FROM {STAGED_SCORED_MODEL}")
            continue
        con.execute(f"CREATE OR REPLACE {kind} {name} AS {models[name].sql}")
    if load_id is not None:
        increment.record_build(con, models, load_id)
    return merged


def _stored_cases(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute("SELECT count(*) FROM cases").fetchall()[0][0]


def staged_scored_model(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether SCORED_MODEL was staged whole by this load and is not written yet."""
    return table_exists(con, SCORED_MODEL, database=STAGING_DATABASE)


def scored_delta(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether this load merged SCORED_MODEL and its rebuilt rows (SCORED_DELTA) await the
    scorer."""
    return table_exists(con, increment.DELTA_TABLE, database=STAGING_DATABASE)


def write_scored_model(
    con: duckdb.DuckDBPyConnection, select: str, params: dict[str, object] | None = None
) -> None:
    """Store SCORED_MODEL in the database file as `select` (a query over STAGED_SCORED_MODEL,
    with its bound `params`) and drop the staged copy."""
    con.execute(f"DROP VIEW {SCORED_MODEL}")
    con.execute(f"CREATE TABLE {SCORED_MODEL} AS {select}", params or {})
    _unstage(con)


def merge_scored_delta(
    con: duckdb.DuckDBPyConnection, select: str, params: dict[str, object] | None = None
) -> None:
    """Fill the scorer's columns of the rows a merging load rebuilt (merge_models stored them
    with those columns empty) from `select` (a query over SCORED_DELTA with their expectations,
    and its bound `params`), and drop the staged copy. The rest of each row is written once:
    an update of a few columns, not the rows deleted and written whole again."""
    params = params or {}
    built = set(_staged_columns(con))
    given = [d[0] for d in con.execute(f"SELECT * FROM ({select}) LIMIT 0", params).description]
    # Column names from the staged table and the scorer's query, never from data.
    scored = ", ".join(f"{c} = s.{c}" for c in given if c not in built)
    if scored:
        con.execute(
            f"UPDATE {SCORED_MODEL} SET {scored} FROM ({select}) AS s "
            f"WHERE {SCORED_MODEL}.exam_id = s.exam_id",
            params,
        )
    _unstage(con)


def _unstage(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the in-memory STAGING_DATABASE with what it held, once that is written."""
    con.execute(f"DETACH {STAGING_DATABASE}")


def _staged_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The columns of the rebuilt rows (SCORED_DELTA): those fct_exams.sql gives, in order."""
    return table_columns(con, increment.DELTA_TABLE, database=STAGING_DATABASE)


def rewrite_scored_model(
    con: duckdb.DuckDBPyConnection, select: str, params: dict[str, object] | None = None
) -> None:
    """Store SCORED_MODEL again, whole, as `select` (a query over MERGED_EXAMS in their page
    order, with its bound `params`): a merging load whose models were refitted rescores
    every exam, and the merged rows, appended at the end, regain their place."""
    con.execute(f"CREATE TABLE {SCORED_MODEL}_rescored AS {select}", params or {})
    con.execute(f"DROP TABLE {SCORED_MODEL}")
    con.execute(f"ALTER TABLE {SCORED_MODEL}_rescored RENAME TO {SCORED_MODEL}")
    _unstage(con)


def merged_exams_in_order(con: duckdb.DuckDBPyConnection) -> str:
    """A query of every stored exam in the columns fct_exams.sql gives (the scorer's dropped),
    in the order fct_exams.sql writes them."""
    # Column names from the staged table, which fct_exams.sql made.
    return (
        f"(SELECT {', '.join(_staged_columns(con))} FROM {SCORED_MODEL} "  # noqa: S608
        f"ORDER BY {PAGE_ORDER})"
    )


def publish_scored_model(con: duckdb.DuckDBPyConnection) -> None:
    """Write the staged SCORED_MODEL to the database as built, if no scorer wrote it (a merged
    load's rows are stored already, without expectations)."""
    if staged_scored_model(con):
        write_scored_model(con, f"FROM {STAGED_SCORED_MODEL}")
    elif scored_delta(con):
        _unstage(con)


def run_contracts(
    con: duckdb.DuckDBPyConnection, load_id: int, merged: bool = False
) -> dict[str, int]:
    """Run every check in queries/contracts; store and return violations per check.

    The identifier rule the loader drops columns by is registered first, for the contract
    that checks stored `extra` keys against it.

    `merged` (the load rebuilt only the cases it touched, etl.increment): a check whose
    violations are rows of the tables its header names (`checks`) reads only the rows this
    load wrote there, when the previous load found it had none. The database changes only
    through loads, and a row no load touched, or a row it reads elsewhere (a case a decision
    refers to; loads never delete), is as it was when that check passed, so the count is the
    whole database's. The PRIVACY_CONTRACTS read every row, always: a claimant identifier left
    by an older loader or a hand edit must stop the load.
    """
    identifiers.register(con)
    previous = dict(
        con.execute(
            "SELECT contract, n_violations FROM contract_results WHERE load_id = "
            "(SELECT max(load_id) FROM contract_results WHERE load_id < $load_id)",
            {"load_id": load_id},
        ).fetchall()
    )
    results = {}
    for name, check in folder("contracts").items():
        checked = [t.strip() for t in check.header.get("checks", "").split(",") if t.strip()]
        narrow = merged and previous.get(name) == 0 and name not in PRIVACY_CONTRACTS
        narrowed = checked if narrow else []
        n, sample = 0, None
        try:
            written = _shadow_with_rows_of_load(con, narrowed, load_id)
            # Narrowed to the rows this load wrote, and it wrote none there: the check has no
            # row to find (its violations are rows of those tables), and is not run. Its
            # subqueries would still read whole tables (every case, every exam).
            if not narrowed or written:
                # A check reads whole entity tables: it runs once, and the count and the
                # sample are taken from its violations (usually none).
                con.execute(f"CREATE OR REPLACE TEMP TABLE contract_violations AS {check.sql}")
                n = con.execute("SELECT count(*) FROM contract_violations").fetchall()[0][0]
                sample = con.execute(
                    "SELECT to_json(list(s)) "
                    f"FROM (SELECT * FROM contract_violations LIMIT {CONTRACT_SAMPLE_ROWS}) s"
                ).fetchall()[0][0]
        finally:
            for table in narrowed:
                con.execute(f"DROP TABLE IF EXISTS temp.main.{table}")
        con.execute(
            "INSERT INTO contract_results VALUES ($load_id, $name, $description, $n, $sample)",
            {
                "load_id": load_id,
                "name": name,
                "description": check.description,
                "n": n,
                "sample": sample,
            },
        )
        results[name] = n
    con.execute("DROP TABLE IF EXISTS contract_violations")
    return results


def _shadow_with_rows_of_load(
    con: duckdb.DuckDBPyConnection, tables: list[str], load_id: int
) -> int:
    """A temporary table in place of each of `tables`, holding the rows load `load_id` wrote
    there: fct_exams' rebuilt rows (SCORED_DELTA), the quarantine's rows of the load, an entity
    table's rows of the load (`_load_id`). Returns how many rows they hold in all."""
    catalog = con.execute("SELECT current_database()").fetchall()[0][0]
    written = 0
    for table in tables:
        # Table names from the contracts' headers, checked against the known ones.
        if table == SCORED_MODEL:
            rows = f"FROM {SCORED_DELTA}"
        elif table == "quarantine":
            rows = f"FROM {quote_ident(catalog)}.main.quarantine WHERE load_id = $load_id"
        elif table in ENTITIES:
            rows = f"FROM {quote_ident(catalog)}.main.{table} WHERE _load_id = $load_id"
        else:
            raise ValueError(f"a contract checks {table!r}, which is no table a load writes")
        params = {} if table == SCORED_MODEL else {"load_id": load_id}
        written += con.execute(f"CREATE TEMP TABLE {table} AS {rows}", params).fetchall()[0][0]
    return written


def refuse_privacy_breaches(
    con: duckdb.DuckDBPyConnection, load_id: int, results: dict[str, int]
) -> None:
    """Raise LoadError, naming the contract and a sample, if a privacy contract has violations."""
    failing = [name for name in PRIVACY_CONTRACTS if results.get(name)]
    if not failing:
        return
    samples = dict(
        con.execute(
            "SELECT contract, sample FROM contract_results "
            "WHERE load_id = $load_id AND list_contains($names, contract)",
            {"load_id": load_id, "names": failing},
        ).fetchall()
    )
    found = "; ".join(
        f"{name}: {results[name]:,} violation(s), e.g. {samples[name]}" for name in failing
    )
    raise LoadError(
        f"the database would hold claimant identifiers ({found}); nothing was loaded. A load "
        "drops such columns from what it reads, so these rows were stored before (by an older "
        "loader or by hand): remove those values, or rebuild the database from the source "
        "files, and load again"
    )
