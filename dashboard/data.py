"""The dashboard's only way to the database: a cached connection and cached report queries.

The connection is cached per database *snapshot* (the file's inode, modification time and
size). A load builds a new file and renames it over the old one, so a new snapshot means a
new key: the next rerun opens the new file, and the connection to the replaced file is
closed when it drops out of the cache. Query results are cached per snapshot, scope,
filters and parameters, so a new load never serves stale figures.

The access scope is decided here, in one place (`current_scope`), and passed to every
query; no page builds its own.
"""

from __future__ import annotations

import os
from dataclasses import astuple, dataclass, fields
from pathlib import Path

import duckdb
import pandas as pd
import streamlit as st

from ime.config import database_path
from queries import FULL_ACCESS, Filters, Scope, connect, run

# Results stay cached for an hour at most; a new load changes the key anyway.
RESULT_TTL_SECONDS = 3600
RESULT_MAX_ENTRIES = 512

# Bookkeeping reports (loads, quarantine, contracts) describe every source row, whoever it
# belongs to: only a reader with the regulator role may see them.
BOOKKEEPING_PREFIX = "dq_"

CREATE_HINT = (
    "Create a demo database with `ime demo` then `ime load data/demo`, "
    "or load your own files with `ime load PATH`."
)


class NoDatabase(RuntimeError):
    """There is no database file at the configured path yet."""


@dataclass(frozen=True)
class Snapshot:
    """Identity of the database file as it is now; a load that swaps the file changes it."""

    path: str
    inode: int
    mtime_ns: int
    size: int


def db_path() -> Path:
    """$IME_DB, else data/ime.duckdb (read at every rerun, so tests can point elsewhere)."""
    return database_path()


def snapshot() -> Snapshot | None:
    """The current snapshot, or None when no database exists yet."""
    path = db_path()
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return Snapshot(str(path.resolve()), stat.st_ino, stat.st_mtime_ns, stat.st_size)


def current_scope() -> Scope:
    """Who is reading. Full access until sign-in and roles arrive; every query gets it here."""
    return FULL_ACCESS


def _close(con: duckdb.DuckDBPyConnection) -> None:
    con.close()


@st.cache_resource(max_entries=2, on_release=_close, show_spinner=False)
def _connection(snap: Snapshot) -> duckdb.DuckDBPyConnection:
    return connect(Path(snap.path))


def require_snapshot() -> Snapshot:
    """The current snapshot; raises NoDatabase (with how to create one) when there is none."""
    snap = snapshot()
    if snap is None:
        raise NoDatabase(f"No database at {db_path()}. {CREATE_HINT}")
    return snap


def _filters_key(filters: Filters) -> tuple:
    return astuple(filters)


def _filters_from_key(key: tuple) -> Filters:
    return Filters(*key)


@st.cache_data(ttl=RESULT_TTL_SECONDS, max_entries=RESULT_MAX_ENTRIES, show_spinner=False)
def _cached_run(
    snap: Snapshot, scope_key: tuple, filters_key: tuple, name: str, params_key: tuple
) -> pd.DataFrame:
    scope = Scope(scope_key[0], tuple(scope_key[1]))
    return run(_connection(snap), name, scope, _filters_from_key(filters_key), **dict(params_key))


def query(name: str, filters: Filters | None = None, **params: object) -> pd.DataFrame:
    """Run report query `name` for the current reader under `filters`, cached per snapshot."""
    scope = current_scope()
    if name.startswith(BOOKKEEPING_PREFIX) and scope.role != "regulator":
        raise PermissionError(f"{name}: load bookkeeping is shown to regulators only")
    snap = require_snapshot()
    return _cached_run(
        snap,
        (scope.role, scope.insurer_ids),
        _filters_key(filters or Filters()),
        name,
        tuple(sorted(params.items())),
    )


def filter_options() -> dict[str, list[str]]:
    """Values each sidebar filter can take in the data the reader may see (most used first)."""
    values = query("filter_values")
    names = [f.name for f in fields(Filters) if f.name not in ("start", "end")]
    out: dict[str, list[str]] = {name: [] for name in names}
    for name, group in values.groupby("filter", sort=False):
        out[str(name)] = group.sort_values("value")["value"].astype(str).tolist()
    return out


def exam_window() -> tuple[object, object]:
    """First and last exam date the reader may see (None, None when there are no exams)."""
    row = query("exam_window").iloc[0]
    if row["n_exams"] == 0:
        return None, None
    return row["first_exam_on"].date(), row["last_exam_on"].date()
