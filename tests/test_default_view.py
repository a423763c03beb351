"""The default view `ime load` stores: the same rows the live queries give, and only for it."""

from __future__ import annotations

import pandas as pd
import pytest

import queries
from dashboard import analysis
from devtools.demo import generate
from etl.load import load
from measures.precompute import after_load
from queries.sqlfile import folder

STORED = [(name, params) for name, sets in queries.STORED_DEFAULT_VIEW.items() for params in sets]


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    root = tmp_path_factory.mktemp("default_view")
    generate(root / "demo", n_exams=3_000, seed=3)
    load([root / "demo"], root / "ime.duckdb", after_build=after_load)
    con = queries.connect(root / "ime.duckdb")
    yield con
    con.close()


def _live(con, name, scope, filters, params) -> pd.DataFrame:
    cur = queries.scoped_cursor(con, scope, filters)
    try:
        return cur.execute(folder("reports")[name].sql, params).df()
    finally:
        cur.close()


@pytest.mark.parametrize(("name", "params"), STORED, ids=[f"{n}-{p}" for n, p in STORED])
def test_stored_default_view_equals_the_live_query(con, name, params):
    table = queries.DEFAULT_VIEW_SCHEMA
    stored_tables = {
        t
        for (t,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = $s", {"s": table}
        ).fetchall()
    }
    assert len(stored_tables) == len(STORED)
    stored = queries.run(con, name, **params)
    live = _live(con, name, queries.FULL_ACCESS, queries.NO_FILTERS, params)
    pd.testing.assert_frame_equal(stored, live)


def test_filtered_views_and_insurers_run_live(con):
    insurer = con.execute("SELECT min(insurer_id) FROM fct_exams").fetchall()[0][0]
    scope = queries.Scope("insurer", (insurer,))
    filtered = queries.Filters(jurisdiction=("CA",))
    everything = queries.run(con, "overview_totals")
    for scope_, filters in ((scope, queries.NO_FILTERS), (queries.FULL_ACCESS, filtered)):
        got = queries.run(con, "overview_totals", scope_, filters)
        pd.testing.assert_frame_equal(got, _live(con, "overview_totals", scope_, filters, {}))
        assert got["n_exams"].iloc[0] < everything["n_exams"].iloc[0]


def test_the_pages_choices_are_the_stored_parameter_values():
    assert set(analysis.RATE_DIMENSIONS) | {"all"} == set(queries.RATE_DIMENSIONS)
    assert set(analysis.MMI_GROUPINGS) == set(queries.MMI_GROUPINGS)
