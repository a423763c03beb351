"""Build the stg_/dim_/fct_ models after a load, and run the data-contract checks."""

from __future__ import annotations

import re
from graphlib import TopologicalSorter

import duckdb

from etl import identifiers
from etl.errors import LoadError
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


def build_models(con: duckdb.DuckDBPyConnection, stage_scored: bool = False) -> None:
    """(Re)create every model from queries/models as its header's `materialized` says.

    `stage_scored`: build SCORED_MODEL in the in-memory STAGING_DATABASE, under a view of its
    name that every later model and query reads, to be written by the scorer or by
    `publish_scored_model`.
    """
    models = folder("models")
    for name in model_order(models):
        kind = models[name].header.get("materialized", "view").upper()
        if stage_scored and name == SCORED_MODEL:
            con.execute(f"ATTACH ':memory:' AS {STAGING_DATABASE}")
            con.execute(f"CREATE TABLE {STAGED_SCORED_MODEL} AS {models[name].sql}")
            con.execute(f"DROP TABLE IF EXISTS {name}")
            con.execute(f"CREATE VIEW {name} AS FROM {STAGED_SCORED_MODEL}")
            continue
        con.execute(f"CREATE OR REPLACE {kind} {name} AS {models[name].sql}")


def staged_scored_model(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether SCORED_MODEL was staged by this load and is not written yet."""
    return bool(
        con.execute(
            "SELECT 1 FROM duckdb_databases() WHERE database_name = $name",
            {"name": STAGING_DATABASE},
        ).fetchall()
    )


def write_scored_model(
    con: duckdb.DuckDBPyConnection, select: str, params: dict[str, object] | None = None
) -> None:
    """Store SCORED_MODEL in the database file as `select` (a query over STAGED_SCORED_MODEL,
    with its bound `params`) and drop the staged copy."""
    con.execute(f"DROP VIEW {SCORED_MODEL}")
    con.execute(f"CREATE TABLE {SCORED_MODEL} AS {select}", params or {})
    con.execute(f"DETACH {STAGING_DATABASE}")


def publish_scored_model(con: duckdb.DuckDBPyConnection) -> None:
    """Write the staged SCORED_MODEL to the database as built, if no scorer wrote it."""
    if staged_scored_model(con):
        write_scored_model(con, f"FROM {STAGED_SCORED_MODEL}")


def run_contracts(con: duckdb.DuckDBPyConnection, load_id: int) -> dict[str, int]:
    """Run every check in queries/contracts; store and return violations per check.

    The identifier rule the loader drops columns by is registered first, for the contract
    that checks stored `extra` keys against it.
    """
    identifiers.register(con)
    results = {}
    for name, check in folder("contracts").items():
        # A check reads whole entity tables: it runs once, and the count and the sample are
        # taken from its violations (usually none).
        con.execute(f"CREATE OR REPLACE TEMP TABLE contract_violations AS {check.sql}")
        n = con.execute("SELECT count(*) FROM contract_violations").fetchall()[0][0]
        sample = con.execute(
            "SELECT to_json(list(s)) "
            f"FROM (SELECT * FROM contract_violations LIMIT {CONTRACT_SAMPLE_ROWS}) s"
        ).fetchall()[0][0]
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
