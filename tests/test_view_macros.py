"""Tables derived from fct_exams filter on their own copy of the exam's columns: the same rows
as filtering the exams themselves, under every scope and filter."""

from __future__ import annotations

import pytest

import queries
from devtools.demo import generate
from etl.load import load


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

    assert names("SELECT count(*) FROM rating_pairs_in_view()") == ["rating_pairs_in_view"]
    # case_features_in_view (queries/macros/) calls exams_in_view: both, in definition order.
    assert names("SELECT * FROM case_features_in_view()") == [
        "exams_in_view",
        "case_features_in_view",
    ]
    assert len(names(None)) == len(queries.MACROS) + 1  # every macro, e.g. for a test's cursor

