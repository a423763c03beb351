"""Every report query's header tells the truth: name, parameters, and result columns and types.

The sweep runs each queries/reports/*.sql on an empty database built by the ETL, through the
same scoped cursor the runner uses, so a query that reads a table other than the view macros
(or the bookkeeping tables) or declares a wrong column fails here.
"""

from __future__ import annotations

import duckdb
import pytest

from etl.build import build_models
from etl.database import ensure_schema
from queries import FULL_ACCESS, Filters, scoped_cursor
from queries.sqlfile import folder

REPORTS = folder("reports")


@pytest.fixture(scope="module")
def empty_db():
    con = duckdb.connect(":memory:")
    ensure_schema(con)
    build_models(con)
    yield con
    con.close()


@pytest.mark.parametrize("query", REPORTS.values(), ids=list(REPORTS))
def test_header_name_is_file_name(query):
    assert query.header.get("name") == query.path.stem


@pytest.mark.parametrize("query", REPORTS.values(), ids=list(REPORTS))
def test_header_has_description_grain_and_source(query):
    assert query.description, f"{query.name}: no description line in the header"
    assert query.header.get("grain"), f"{query.name}: no '-- grain:' line"
    assert query.header.get("source"), f"{query.name}: no '-- source:' line"


@pytest.mark.parametrize("query", REPORTS.values(), ids=list(REPORTS))
def test_declared_params_are_the_named_parameters(query):
    statements = duckdb.extract_statements(query.sql)
    assert len(statements) == 1, f"{query.name}: one statement per file"
    assert set(query.declared_params) == set(statements[0].named_parameters)


@pytest.mark.parametrize("query", REPORTS.values(), ids=list(REPORTS))
def test_columns_and_types_match_header_on_empty_database(query, empty_db):
    # With only the macros the query calls, as queries.run creates them.
    cur = scoped_cursor(empty_db, FULL_ACCESS, Filters(), query.sql)
    try:
        params = dict.fromkeys(query.declared_params)
        described = cur.execute(f"DESCRIBE {query.sql}", params).fetchall()
        rows = cur.execute(query.sql, params).fetchall()
    finally:
        cur.close()
    actual = {name: kind for name, kind, *_ in described}
    assert list(actual) == list(query.declared_columns), (
        f"{query.name}: column names or order differ"
    )
    assert actual == query.declared_columns, f"{query.name}: column types differ"
    assert len(rows) <= 1, f"{query.name}: an empty database gives at most one (summary) row"
