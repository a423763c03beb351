"""The one query runner: every report query goes through `run`, which applies filters and scope.

Report queries (queries/reports/*.sql) never read fct_ tables directly: they read the table
macros of queries/macros/ (`exams_in_view()`, `rating_pairs_in_view()`,
`shared_exams_in_view()`, `decision_counts_in_view()`, `case_features_in_view()`, ...), which
apply the sidebar filters and the access scope (`row_in_view`) from DuckDB variables that only
`run` sets. `run_sql` is `run` for the queries the measure engine composes from its measures'
SQL. A query therefore cannot see rows outside the scope, whatever its parameters.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from etl.sql import quote_ident
from queries.sqlfile import SqlFile, folder

ROLES = ("regulator", "insurer", "researcher")
# An examiner (SPEC section 3) signs in to read its own figures and reviews. It never reads
# through `run`: scoped_cursor refuses its scope, and dashboard.data serves it its own rows.
EXAMINER = "examiner"
USER_ROLES = ROLES + (EXAMINER,)

# The filterable columns of fct_exams (docs/methods.md: "Every figure can be filtered by ...").
FILTER_COLUMNS = (
    "jurisdiction",
    "claim_type",
    "body_part",
    "insurer_id",
    "specialty",
    "requested_by",
    "exam_type",
)


@dataclass(frozen=True)
class Filters:
    """The sidebar filters: a date window on exam_date and value lists (empty = all)."""

    start: dt.date | None = None
    end: dt.date | None = None
    jurisdiction: tuple[str, ...] = ()
    claim_type: tuple[str, ...] = ()
    body_part: tuple[str, ...] = ()
    insurer_id: tuple[str, ...] = ()
    specialty: tuple[str, ...] = ()
    requested_by: tuple[str, ...] = ()
    exam_type: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scope:
    """Who is reading: the role and, for an insurer, the insurer_ids it may see."""

    role: str = "regulator"
    insurer_ids: tuple[str, ...] = ()
    examiner_id: str | None = None

    def __post_init__(self) -> None:
        if self.role not in USER_ROLES:
            raise ValueError(f"unknown role {self.role!r}: use one of {', '.join(USER_ROLES)}")
        if self.role == "insurer" and not self.insurer_ids:
            raise ValueError("an insurer scope needs at least one insurer_id")
        if (self.role == EXAMINER) != bool(self.examiner_id):
            raise ValueError("an examiner scope needs its examiner_id, and only an examiner "
                             "scope has one")


FULL_ACCESS = Scope()
NO_FILTERS = Filters()


def table_exists(
    con: duckdb.DuckDBPyConnection,
    table: str,
    schema: str = "main",
    database: str | None = None,
    temporary: bool = False,
) -> bool:
    """Whether `table` is a table of `schema` in `database` (the connection's own when None),
    or with `temporary` one of the connection's temporary tables: the one check of a table
    that older databases, or a load that has not reached it yet, may lack."""
    return bool(
        con.execute(
            "SELECT 1 FROM duckdb_tables() WHERE table_name = $table AND schema_name = $schema "
            "AND temporary = $temporary AND database_name = CASE WHEN $temporary THEN 'temp' "
            "ELSE coalesce($database, current_database()) END",
            {"table": table, "schema": schema, "database": database, "temporary": temporary},
        ).fetchall()
    )


def table_columns(
    con: duckdb.DuckDBPyConnection, table: str, database: str | None = None
) -> list[str]:
    """The columns of `table` (schema main) in `database` (the connection's own when None), in
    their order; none when there is no such table."""
    return [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = $table "
            "AND schema_name = 'main' AND NOT internal "
            "AND database_name = coalesce($database, current_database()) ORDER BY column_index",
            {"table": table, "database": database},
        ).fetchall()
    ]


def connect(db_path: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to a database a load has written."""
    if not db_path.exists():
        raise FileNotFoundError(
            f"{db_path}: no database yet. Create one with `ime demo` then `ime load data/demo`, "
            "or load your own files with `ime load PATH`."
        )
    return duckdb.connect(str(db_path), read_only=True)


def scoped_cursor(
    con: duckdb.DuckDBPyConnection, scope: Scope, filters: Filters, sql: str | None = None
) -> duckdb.DuckDBPyConnection:
    """A cursor whose view macros show only what `scope` and `filters` allow.

    With `sql`, only the macros it calls (and the macros those call) are created: each takes
    a few milliseconds, which a page of a dozen queries would otherwise pay for every one.
    """
    if scope.role == EXAMINER:
        raise PermissionError("an examiner reads its own figures only (dashboard.data."
                              "own_profile), never a report query")
    cur = con.cursor()
    variables = {
        "scope_insurers": list(scope.insurer_ids) if scope.role == "insurer" else None,
        "filter_start": filters.start,
        "filter_end": filters.end,
    }
    for f in fields(Filters):
        if f.name in FILTER_COLUMNS:
            values = getattr(filters, f.name)
            variables[f"filter_{f.name}"] = list(values) if values else None
    for name, value in variables.items():
        # A new cursor reads an unset variable as NULL (no filter): only the filters in force
        # are set, a statement each, which most queries of a page would otherwise pay nine of.
        if value is not None:
            # Variable names come from the fixed list above; values are bound.
            cur.execute(f"SET VARIABLE {name} = $value", {"value": value})
    for macro in _macros_called_by(sql):
        cur.execute(macro)
    return cur


@cache
def _every_macro() -> dict[str, str]:
    """The macros of queries/macros/ by name, each after the macros it calls: DuckDB checks
    that a macro's functions exist when the macro is created."""
    texts = {name: macro.sql for name, macro in folder("macros").items()}
    ordered: dict[str, str] = {}

    def add(name: str) -> None:
        if name in ordered:
            return
        for other in texts:
            if other != name and re.search(rf"\b{other}\(", texts[name]):
                add(other)
        ordered[name] = texts[name]

    for name in texts:
        add(name)
    return ordered


@cache
def _macros_called_by(sql: str | None) -> tuple[str, ...]:
    """Every macro, or with `sql` only those it calls directly or through another.

    Cached: the report texts are a fixed set, and the search (about 1 ms) would otherwise run
    on every page query.
    """
    every = _every_macro()
    if sql is None:
        return tuple(every.values())
    called, texts = set(), [sql]
    while texts:
        text = texts.pop()
        for name, macro in every.items():
            if name not in called and re.search(rf"\b{name}\(", text):
                called.add(name)
                texts.append(macro)
    return tuple(macro for name, macro in every.items() if name in called)


# The values rates_by_group's $dimension and mmi_counts's $group_by accept ('all': no grouping).
RATE_DIMENSIONS = (
    "all",
    "insurer_id",
    "jurisdiction",
    "claim_type",
    "body_part",
    "specialty",
    "requested_by",
    "retained_by",
    "exam_type",
    "exam_year",
)
MMI_GROUPINGS = (
    "all",
    "insurer_id",
    "body_part",
    "claim_type",
    "jurisdiction",
    "specialty",
    "requested_by",
    "retained_by",
    "exam_type",
    "represented",
    "age_band",
    "claimant_sex",
    "guides_edition",
)
# Queries whose default view (no filters, every insurer) `ime load` computes once and stores
# (store_default_view), with every parameter set a page asks for in that view: the pages'
# aggregates then open without scanning every exam. Other parameters, any filter and an
# insurer's scope run live.
STORED_DEFAULT_VIEW: dict[str, tuple[dict[str, object], ...]] = {
    "overview_totals": ({},),
    "exam_window": ({},),
    "filter_values": ({},),
    "rates_by_month": ({},),
    "rates_by_group": tuple({"dimension": d} for d in RATE_DIMENSIONS),
    "mmi_counts": tuple({"group_by": g} for g in MMI_GROUPINGS),
    "impairment_distribution": ({},),
    "wpi_editions": ({},),
    "rating_pair_counts": ({"examiner_id": None, "body_part": None, "guides_edition": None},),
    "causation_pair_counts": ({"examiner_id": None},),
    "examiner_counts": ({},),
    "examiner_volumes": ({},),
    "examiner_names": ({},),
    "examiner_insurer_counts": ({},),
    "examiner_rulings": ({},),
}
DEFAULT_VIEW_SCHEMA = "default_view"
# Which load stored each table of the default view, and from which SQL (the query's, the macros
# it calls and its parameters): a load merges a stored table only if the load before it stored
# the table from the SQL of now.
DEFAULT_VIEW_BUILDS = "default_view_builds"
# What a merging load (etl.increment.merge_models) changed in fct_exams, kept until the load
# ends in an attached in-memory database that the default view's cursors read: the exams it
# rebuilt, old version and new, in fct_exams.sql's columns (not the scorer's: a query that
# declares its `counts` reads none of them).
CHANGES_DATABASE = "load_changes"
REPLACED_EXAMS = "replaced_exams"
REBUILT_EXAMS = "rebuilt_exams"


def _stored_table(name: str, scope: Scope, filters: Filters, params: dict) -> str | None:
    """The table holding this query's stored default view, if it is one; else None."""
    # An examiner falls through to scoped_cursor, which refuses it.
    if scope.role in ("insurer", EXAMINER) or filters != NO_FILTERS:
        return None
    for i, stored_params in enumerate(STORED_DEFAULT_VIEW.get(name, ())):
        if stored_params == params:
            return f"{name}__{i}"
    return None


def store_default_view(con: duckdb.DuckDBPyConnection) -> None:
    """Compute and store the default view of the STORED_DEFAULT_VIEW queries (once per load).

    After a merging load, a query whose header declares its `counts` (columns counting rows of
    exams_in_view(), the others group keys it is ordered by) is not run over every exam: its
    stored counts are merged with its counts over the exams the load rebuilt, less its counts
    over their old version; a group stays while one of its counts is not 0. Counts are
    integers: the merged table is the one a run over every exam gives, row for row.
    """
    reports = folder("reports")
    load_id = con.execute("SELECT currval('load_id_seq')").fetchall()[0][0]
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {DEFAULT_VIEW_SCHEMA}")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {DEFAULT_VIEW_BUILDS} "
        "(load_id BIGINT NOT NULL, stored_table VARCHAR NOT NULL, sql_sha256 VARCHAR NOT NULL)"
    )
    mergeable: dict[str, str] = {}
    shadows: dict[str, duckdb.DuckDBPyConnection] = {}
    if table_exists(con, REPLACED_EXAMS, database=CHANGES_DATABASE):
        mergeable = dict(
            con.execute(
                f"SELECT stored_table, sql_sha256 FROM {DEFAULT_VIEW_BUILDS} "  # noqa: S608
                "WHERE load_id = (SELECT max(load_id) FROM load_history)"
            ).fetchall()
        )
        changes = f"{CHANGES_DATABASE}.main"
        for part, exams in (("rebuilt", REBUILT_EXAMS), ("replaced", REPLACED_EXAMS)):
            shadows[part] = scoped_cursor(con, FULL_ACCESS, NO_FILTERS)
            # A temporary view of these exams only shadows fct_exams for this cursor: the view
            # macros, and so every query it runs, read them instead of every exam.
            shadows[part].execute(f"CREATE TEMP VIEW fct_exams AS FROM {changes}.{exams}")
    built: dict[str, str] = {}
    cur = scoped_cursor(con, FULL_ACCESS, NO_FILTERS)
    try:
        for name, parameter_sets in STORED_DEFAULT_VIEW.items():
            report = reports[name]
            counts = [c.strip() for c in report.header.get("counts", "").split(",") if c.strip()]
            for params in parameter_sets:
                table = _stored_table(name, FULL_ACCESS, NO_FILTERS, params)
                built[table] = _sql_sha256(report.sql, params)
                if counts and mergeable.get(table) == built[table]:
                    _merge_counts(con, shadows, table, report, params, counts)
                    continue
                # Table names come from the fixed STORED_DEFAULT_VIEW; values are bound.
                cur.execute(
                    f"CREATE OR REPLACE TABLE {DEFAULT_VIEW_SCHEMA}.{table} AS {report.sql}",
                    params,
                )
    finally:
        for cursor in (cur, *shadows.values()):
            cursor.close()
    for (table,) in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = $schema "
        "AND database_name = current_database()",
        {"schema": DEFAULT_VIEW_SCHEMA},
    ).fetchall():
        if table not in built:  # a query or parameter set no longer stored
            con.execute(f"DROP TABLE {DEFAULT_VIEW_SCHEMA}.{quote_ident(table)}")
    con.execute(f"DELETE FROM {DEFAULT_VIEW_BUILDS}")  # noqa: S608
    con.execute(
        f"INSERT INTO {DEFAULT_VIEW_BUILDS} SELECT $load_id, unnest($tables), unnest($sha)",
        {"load_id": load_id, "tables": list(built), "sha": list(built.values())},
    )


def _sql_sha256(sql: str, params: dict[str, object]) -> str:
    """The fingerprint of a stored table's SQL: the query, the macros it calls, its parameters."""
    text = "\n".join([sql, *_macros_called_by(sql), repr(sorted(params.items()))])
    return hashlib.sha256(text.encode()).hexdigest()


def _merge_counts(
    con: duckdb.DuckDBPyConnection,
    shadows: dict[str, duckdb.DuckDBPyConnection],
    table: str,
    report: SqlFile,
    params: dict[str, object],
    counts: list[str],
) -> None:
    """Store again the default view's `table` of `report` (whose `counts` are counts of
    exams_in_view() rows) as its stored counts, plus those over the exams this load rebuilt,
    less those over their old version (CHANGES_DATABASE): each counted by its cursor of
    `shadows`, whose fct_exams are those exams."""
    changes = f"{CHANGES_DATABASE}.main"
    for part, shadow in shadows.items():
        shadow.execute(f"CREATE OR REPLACE TABLE {changes}.{part} AS {report.sql}", params)
    columns = list(report.declared_columns)
    keys = ", ".join(c for c in columns if c not in counts)
    # Column names from the query's header; the table name from STORED_DEFAULT_VIEW.
    summed = ", ".join(f"CAST(sum({c}) AS BIGINT) AS {c}" if c in counts else c for c in columns)
    negated = ", ".join(f"-{c} AS {c}" if c in counts else c for c in columns)
    stored = f"{DEFAULT_VIEW_SCHEMA}.{table}"
    con.execute(
        f"""
        CREATE OR REPLACE TABLE {stored} AS
        SELECT {summed}
        FROM (
            SELECT {', '.join(columns)} FROM {stored}
            UNION ALL SELECT {', '.join(columns)} FROM {changes}.rebuilt
            UNION ALL SELECT {negated} FROM {changes}.replaced
        )
        GROUP BY {keys}
        HAVING {' OR '.join(f'sum({c}) <> 0' for c in counts)}
        ORDER BY {keys}
        """  # noqa: S608
    )


def run(
    con: duckdb.DuckDBPyConnection,
    name: str,
    scope: Scope = FULL_ACCESS,
    filters: Filters = NO_FILTERS,
    **params: object,
) -> pd.DataFrame:
    """Run queries/reports/<name>.sql with bound `params` under `scope` and `filters`.

    The default view of a query `ime load` stored is read from its table instead.
    """
    report = _report(name)
    table = _stored_table(name, scope, filters, params)
    if table is not None:
        cur = con.cursor()
        try:
            if table_exists(cur, table, schema=DEFAULT_VIEW_SCHEMA):
                # A name made by _stored_table from the fixed STORED_DEFAULT_VIEW.
                sql = f"SELECT * FROM {DEFAULT_VIEW_SCHEMA}.{table}"  # noqa: S608
                return _frame(cur.sql(sql).to_arrow_table())
        finally:
            cur.close()
    cur = scoped_cursor(con, scope, filters, report.sql)
    try:
        return cur.execute(report.sql, params).df()
    finally:
        cur.close()


def run_sql(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    scope: Scope = FULL_ACCESS,
    filters: Filters = NO_FILTERS,
    per_exam: bool = False,
    **params: object,
) -> pd.DataFrame:
    """As `run`, for a query the measure engine composes from its measures' SQL (measures/):
    text written in the code, never from data or a reader; values still bound. `per_exam`:
    a result of a row per exam (millions of rows), read through Arrow (`_frame`)."""
    cur = scoped_cursor(con, scope, filters, sql)
    try:
        if per_exam:
            return _frame(cur.sql(sql, params=params).to_arrow_table())
        return cur.execute(sql, params).df()
    finally:
        cur.close()


def _frame(table: pa.Table) -> pd.DataFrame:
    """A result as DuckDB's own .df() gives it, through Arrow: for large results, and above all
    text, many times faster. Decimals (sums of integers) become floats and dates datetime64,
    as .df() makes them."""
    as_df = [
        pa.float64() if pa.types.is_decimal(f.type)
        else pa.timestamp("us") if pa.types.is_date(f.type)
        else f.type
        for f in table.schema
    ]
    return table.cast(pa.schema(list(zip(table.schema.names, as_df, strict=True)))).to_pandas()


def _report(name: str):
    reports = folder("reports")
    if name not in reports:
        raise KeyError(f"no report query {name!r}; known: {', '.join(reports)}")
    return reports[name]
