"""Build the stg_/dim_/fct_ models after a load, and run the data-contract checks."""

from __future__ import annotations

import re
from graphlib import TopologicalSorter

import duckdb

from queries.sqlfile import SqlFile, folder

CONTRACT_SAMPLE_ROWS = 5


def model_order(models: dict[str, SqlFile]) -> list[str]:
    """Models in an order where each comes after the models its SQL reads."""
    graph = {
        name: {other for other in models if other != name and re.search(rf"\b{other}\b", m.sql)}
        for name, m in models.items()
    }
    return list(TopologicalSorter(graph).static_order())


def build_models(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)create every model from queries/models as its header's `materialized` says."""
    models = folder("models")
    for name in model_order(models):
        kind = models[name].header.get("materialized", "view").upper()
        con.execute(f"CREATE OR REPLACE {kind} {name} AS {models[name].sql}")


def run_contracts(con: duckdb.DuckDBPyConnection, load_id: int) -> dict[str, int]:
    """Run every check in queries/contracts; store and return violations per check."""
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
