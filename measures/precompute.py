"""What `ime load` computes once per load, so the default view opens without scanning every exam."""

from __future__ import annotations

import duckdb

import queries
from measures.engine import store_flags


def after_load(con: duckdb.DuckDBPyConnection) -> None:
    """Store the flags and case-mix models, then the pages' aggregates, of the default view."""
    store_flags(con)
    queries.store_default_view(con)
