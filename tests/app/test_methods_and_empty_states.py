"""Methods page, and what every page says when there is no database or no matching exam."""

from __future__ import annotations

import pytest
from apphelp import no_exception, open_page

from dashboard.navigation import PAGES
from etl.load import load


def test_methods_explains_the_figures_with_references(use_db):
    at = open_page("methods.py")
    no_exception(at)
    text = "\n".join(m.value for m in at.markdown)
    assert "A flag is a reason to look, not a verdict" in text
    for reference in (
        "Wilson EB",
        "Spiegelhalter DJ",
        "Benjamini Y, Hochberg Y",
        "Kaplan EL",
        "Greenwood M",
        "Steiner SH",
        "Bland JM",
        "Shrout PE",
    ):
        assert reference in text


@pytest.mark.parametrize("spec", PAGES, ids=[p.url_path for p in PAGES])
def test_without_a_database_every_page_says_how_to_create_one(spec, tmp_path, monkeypatch):
    monkeypatch.setenv("IME_DB", str(tmp_path / "missing.duckdb"))
    at = open_page(spec.file)
    no_exception(at)
    if spec.file in ("methods.py", "audit_log.py"):
        return  # the methods need no data; the audit log has its own database
    assert any("no database" in i.value for i in at.info)
    assert [c.value for c in at.code] == ["ime demo\nime load data/demo"]


EXAM_PAGES = [
    "overview.py",
    "denials.py",
    "mmi.py",
    "impairment.py",
    "examiners.py",
    "examiner_profile.py",
]


@pytest.mark.parametrize("page", EXAM_PAGES)
def test_filters_without_exams_say_so(page, use_db, truth):
    # A day inside the data's window on which nobody was examined.
    day = truth.execute(
        "SELECT d::DATE FROM range((SELECT min(exam_date) FROM fct_exams), "
        "(SELECT max(exam_date) FROM fct_exams), INTERVAL 1 DAY) t(d) "
        "WHERE d::DATE NOT IN (SELECT exam_date FROM fct_exams) ORDER BY d LIMIT 1"
    ).fetchone()[0]
    at = open_page(page, {"from": day.isoformat(), "to": day.isoformat()})
    no_exception(at)
    assert any("No exams match these filters" in w.value for w in at.warning)


@pytest.fixture(scope="module")
def aggregate_only_db(tmp_path_factory):
    """A database loaded from published counts only: no exam rows at all."""
    root = tmp_path_factory.mktemp("aggregate_only")
    (root / "in").mkdir()
    (root / "in" / "decision_counts.csv").write_text(
        "maker_id,group_name,period,n_decisions,n_adverse\nJ1,north,FY2025,120,30\n"
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IME_KEY_FILE", str(root / "pseudonym.key"))
        load([root / "in"], root / "ime.duckdb", progress=False)
    return root / "ime.duckdb"


@pytest.mark.parametrize("page", EXAM_PAGES)
def test_a_database_without_exams_says_so(page, aggregate_only_db, monkeypatch):
    monkeypatch.setenv("IME_DB", str(aggregate_only_db))
    at = open_page(page)
    no_exception(at)
    assert any("holds no exams yet" in i.value for i in at.info)


def test_the_aggregate_audit_needs_no_exams(aggregate_only_db, monkeypatch):
    monkeypatch.setenv("IME_DB", str(aggregate_only_db))
    at = open_page("aggregate_audit.py")
    no_exception(at)
    # One decision-maker has no peers to be compared with: no flags, the counts show.
    assert any("only the counts are shown" in w.value for w in at.warning)
    table = at.dataframe[0].value
    assert table[["maker_id", "n_decisions", "n_adverse"]].values.tolist() == [["J1", 120, 30]]
    assert table["rate"].tolist() == [0.25]


def test_the_aggregate_audit_says_when_there_are_no_published_counts(use_db):
    at = open_page("aggregate_audit.py")
    no_exception(at)
    assert any("holds no published decision counts" in i.value for i in at.info)
