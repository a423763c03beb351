"""Tables derived from fct_exams filter on their own copy of the exam's columns: the same rows
as filtering the exams themselves, under every scope and filter."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb
import pytest

import queries
from devtools.demo import generate
from etl.load import load

MACROS = Path(queries.__file__).parent / "macros"
MACRO_FILES = sorted(MACROS.glob("*.sql"))


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    root = tmp_path_factory.mktemp("view_macros")
    generate(root / "demo", n_exams=3_000, seed=5)
    load([root / "demo"], root / "ime.duckdb")
    con = queries.connect(root / "ime.duckdb")
    yield con
    con.close()


def _views(con):
    insurer = con.execute("SELECT min(insurer_id) FROM fct_exams").fetchall()[0][0]
    return [
        (queries.FULL_ACCESS, queries.NO_FILTERS),
        (queries.Scope("insurer", (insurer,)), queries.NO_FILTERS),
        (queries.FULL_ACCESS, queries.Filters(jurisdiction=("CA",), requested_by=("insurer",))),
    ]


def _exam_ids(con, scope, filters, sql) -> list[str]:
    cur = queries.scoped_cursor(con, scope, filters)
    try:
        return sorted(r[0] for r in cur.execute(sql).fetchall())
    finally:
        cur.close()


def test_rating_pairs_in_view_are_the_pairs_of_exams_in_view(con):
    for scope, filters in _views(con):
        got = _exam_ids(con, scope, filters, "SELECT exam_id FROM rating_pairs_in_view()")
        want = _exam_ids(
            con, scope, filters,
            "SELECT exam_id FROM fct_rating_pairs SEMI JOIN exams_in_view() USING (exam_id)",
        )
        assert got == want and got


def test_shared_exams_in_view_are_the_exams_in_view_of_cases_with_two_examiners(con):
    for scope, filters in _views(con):
        got = _exam_ids(con, scope, filters, "SELECT exam_id FROM shared_exams_in_view()")
        # Whether a case counts as shared is decided on every exam, before any filter.
        want = _exam_ids(
            con, scope, filters,
            "SELECT exam_id FROM exams_in_view() WHERE examiner_id IS NOT NULL AND case_id IN "
            "(SELECT case_id FROM fct_exams "
            "GROUP BY case_id HAVING count(DISTINCT examiner_id) > 1)",
        )
        assert got == want and got


def test_a_query_gets_the_macros_it_calls_and_theirs():
    def names(sql):
        return [m.split("MACRO ", 1)[1].split("(", 1)[0] for m in queries._macros_called_by(sql)]

    assert names("SELECT count(*) FROM rating_pairs_in_view()") == [
        "row_in_view",
        "rating_pairs_in_view",
    ]
    # case_features_in_view calls exams_in_view, which calls row_in_view: each after those
    # it calls, as DuckDB needs them.
    assert names("SELECT * FROM case_features_in_view()") == [
        "row_in_view",
        "exams_in_view",
        "case_features_in_view",
    ]
    # Every macro, e.g. for a test's cursor: one per file of queries/macros/.
    assert sorted(names(None)) == sorted(p.stem for p in MACRO_FILES)


def test_every_view_macro_is_a_sql_file_named_as_its_macro():
    for path in MACRO_FILES:
        assert re.search(rf"CREATE OR REPLACE TEMP MACRO {path.stem}\(", path.read_text()), path


def test_row_in_view_takes_the_exam_date_and_every_filter_column():
    text = (MACROS / "row_in_view.sql").read_text()
    declared = re.search(r"MACRO row_in_view\(([^)]*)\)", text).group(1)
    assert [p.strip() for p in declared.split(",")] == ["exam_date", *queries.FILTER_COLUMNS]


@pytest.mark.parametrize("column", queries.FILTER_COLUMNS)
def test_a_filter_on_one_column_keeps_the_exams_with_its_values(con, column):
    # The two most common values of the column, and the exams that have them, by hand.
    values = [r[0] for r in con.execute(
        f"SELECT {column} FROM fct_exams WHERE {column} IS NOT NULL "
        "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 2"
    ).fetchall()]
    want = sorted(r[0] for r in con.execute(
        f"SELECT exam_id FROM fct_exams WHERE {column} IN (SELECT unnest($v))", {"v": values}
    ).fetchall())
    filters = queries.Filters(**{column: tuple(values)})
    got = _exam_ids(con, queries.FULL_ACCESS, filters, "SELECT exam_id FROM exams_in_view()")
    n_exams = con.execute("SELECT count(*) FROM fct_exams").fetchall()[0][0]
    assert got == want and 0 < len(got) < n_exams


def test_a_date_window_keeps_the_exams_inside_it_both_ends_included(con):
    start, end = dt.date(2021, 1, 1), dt.date(2021, 6, 30)
    want = sorted(r[0] for r in con.execute(
        "SELECT exam_id FROM fct_exams WHERE exam_date BETWEEN $s AND $e", {"s": start, "e": end}
    ).fetchall())
    got = _exam_ids(con, queries.FULL_ACCESS, queries.Filters(start=start, end=end),
                    "SELECT exam_id FROM exams_in_view()")
    assert got == want and got



def test_count_true_counts_the_true_conditions_as_a_filtered_count_does():
    # A hand-built table: group 1 has only NULL conditions, group 2 one true of three, group 3
    # only false; count(*) FILTER gives 0, 1, 0 (and 0 over no rows), each a BIGINT.
    con = duckdb.connect()
    try:
        cur = queries.scoped_cursor(con, queries.FULL_ACCESS, queries.NO_FILTERS, "count_true(")
        rows = cur.execute(
            "SELECT g, count_true(x), typeof(count_true(x)) FROM (VALUES (1, NULL::BOOLEAN), "
            "(1, NULL), (2, true), (2, false), (2, NULL), (3, false)) t(g, x) GROUP BY g ORDER BY g"
        ).fetchall()
        assert rows == [(1, 0, "BIGINT"), (2, 1, "BIGINT"), (3, 0, "BIGINT")]
        assert cur.execute("SELECT count_true(true) WHERE false").fetchall() == [(0,)]
    finally:
        con.close()
