"""What `ime load` computes once per load, so the default view opens without scanning every exam."""

from __future__ import annotations

import duckdb

import queries
from measures.engine import store_flags


def after_load(con: duckdb.DuckDBPyConnection, refit: bool = False) -> dict:
    """Store the case-mix expectations (refitting the models if due, or if `refit`), the flags,
    then the pages' aggregates, of the default view; return what the load report says of the
    models (etl.load.LoadReport.precomputed)."""
    fit = store_flags(con, refit)
    queries.store_default_view(con)
    return {"casemix": {**fit.to_dict(), "summary": fit.to_text()}}
