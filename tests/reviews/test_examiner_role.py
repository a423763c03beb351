"""The examiner role: users file rules, sign-in scope, what the one page shows and refuses,
the reply form (AppTest), and the regulator's Reviews page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import dashboard
import queries
from access import auth, reviews
from outputs import report
from queries import EXAMINER, Scope

APP = Path(dashboard.__file__).parent / "app.py"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def users(no_configured_users, review_db, monkeypatch):
    monkeypatch.setenv("IME_DB", str(review_db))
    return no_configured_users


def _app(user: auth.User, page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=180)
    at.session_state["signed_in_user"] = user
    if page:
        at.switch_page(page)
    return at.run()


def _everything_shown(at: AppTest) -> str:
    """All text the page shows: titles, text, captions, metrics, and every table cell."""
    parts = [e.value for kind in ("title", "header", "subheader", "markdown", "caption", "text",
                                  "info", "success", "error", "warning")
             for e in getattr(at, kind)]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    parts += [frame.value.to_csv() for frame in at.dataframe]
    parts += [json for json in (el.proto.spec for el in at.get("plotly_chart"))]
    return "\n".join(str(p) for p in parts)


def test_an_examiner_user_needs_its_examiner_id_and_only_it_has_one(users):
    with pytest.raises(ValueError, match="an examiner needs its examiner_id"):
        auth.add_user("ex", "examiner", (), PASSWORD, path=users)
    with pytest.raises(ValueError, match="only an examiner has one"):
        auth.add_user("reg", "regulator", (), PASSWORD, examiner_id="EX0001", path=users)
    user = auth.add_user("ex", "examiner", (), PASSWORD, examiner_id="EX0001", path=users)
    assert auth.list_users(path=users) == [user]
    signed = auth.verify("ex", PASSWORD, path=users)
    assert signed.ok and auth.scope_for(signed.user) == Scope(EXAMINER, (), "EX0001")


def test_no_report_query_runs_under_an_examiner_scope(con):
    scope = Scope(EXAMINER, examiner_id="EX0001")
    # examiner_volumes is stored at load for the default view: the stored table is refused too.
    for name in ("examiner_volumes", "overview_totals", "stored_flags"):
        with pytest.raises(PermissionError, match="examiner reads its own figures only"):
            queries.run(con, name, scope)


def test_the_examiner_sees_their_reviews_and_figures_and_nobody_else(users, con, busiest):
    mine, other = busiest[0], busiest[1]
    report.open_review(con, mine, "cli:alice")
    report.open_review(con, other, "cli:alice")
    user = auth.add_user("ex", "examiner", (), PASSWORD, examiner_id=mine, path=users)
    insurers = [r[0] for r in con.execute("SELECT DISTINCT insurer_id FROM fct_exams").fetchall()]
    names = [r[0] for r in con.execute(
        "SELECT examiner_name FROM dim_examiners WHERE examiner_id <> $e AND examiner_name "
        "IS NOT NULL", {"e": mine}).fetchall()]
    # Every page of the app, asked for by URL, shows the examiner's own page instead.
    for page in (None, "views/examiners.py", "views/examiner_profile.py", "views/reviews.py",
                 "views/exports.py", "views/audit_log.py"):
        at = _app(user, page)
        assert not at.exception, [e.message for e in at.exception]
        assert [t.value for t in at.title] == ["Your figures and reviews"]
        shown = _everything_shown(at)
        assert mine in shown
        assert not [e for e in busiest if e != mine and re.search(rf"\b{e}\b", shown)]
        assert not [i for i in insurers if re.search(rf"\b{i}\b", shown)]
        assert not [n for n in names if n in shown]
        assert "claimant_id" not in shown
    # Their one review with its frozen figures, and their figures now, against counted peers.
    assert [s.value for s in at.subheader] == ["Review 1: open"]
    frozen = reviews.latest(mine).figures
    tables = [f.value for f in at.dataframe]
    assert tables[0]["ratio"].tolist() == pytest.approx(frozen["ratio"].tolist())
    assert (tables[1]["n_peers"] > 0).all()
    # The specialty written out in a caption (a metric's value cut a long one short).
    [(specialty,)] = con.execute(
        "SELECT specialty FROM dim_examiners WHERE examiner_id = $e", {"e": mine}
    ).fetchall()
    assert f"specialty: {specialty.replace('_', ' ')}" in [c.value for c in at.caption]


def test_the_examiner_replies_from_the_form(users, con, busiest):
    mine = busiest[2]
    report.open_review(con, mine, "cli:alice")
    user = auth.add_user("ex", "examiner", (), PASSWORD, examiner_id=mine, path=users)
    at = _app(user)
    at.text_area[0].input("The 2024 cases were referred after surgery.")
    next(b for b in at.button if b.label == "Send the reply").click().run()
    assert not at.exception
    reply = reviews.latest(mine).reply
    assert reply.text == "The 2024 cases were referred after surgery."
    assert reply.channel == "dashboard" and reply.received_by == "ex"
    assert "The 2024 cases were referred after surgery." in [t.value for t in at.text]


def test_the_regulator_reads_replies_and_closes_on_the_reviews_page(users, con, busiest):
    examiner = busiest[3]
    report.open_review(con, examiner, "cli:alice", days=20)
    reviews.reply(examiner, "Reply by post.", "cli:alice", channel="mail")
    auth.add_user("ex", "examiner", (), PASSWORD, examiner_id=examiner, path=users)
    regulator = auth.add_user("reg", "regulator", (), PASSWORD, path=users)
    at = _app(regulator, "views/reviews.py")
    assert not at.exception
    table = at.dataframe[0].value
    assert table["Examiner"].tolist() == [examiner] and table["Status"].tolist() == ["replied"]
    assert table["Days left"].tolist() == [20]
    assert "Reply by post." in [t.value for t in at.text]
    at.button(key="close-1").click().run()
    assert reviews.latest(examiner).status() == "closed"
    assert reviews.latest(examiner).closed_by == "reg"
    # An insurer is shown neither the page in the menu nor its content.
    insurer = auth.add_user("ins", "insurer", ("INS001",), PASSWORD, path=users)
    at = _app(insurer, "views/reviews.py")
    assert "Reply by post." not in [t.value for t in at.text]
