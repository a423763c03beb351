"""Sign-in, demo mode and what each role sees in the app."""

from __future__ import annotations

from apphelp import APP, metric, no_exception
from streamlit.testing.v1 import AppTest

from access import audit, auth

PASSWORD = "correct horse battery staple"


def open_as(page_file: str, user: auth.User | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120)
    if user is not None:
        at.session_state["signed_in_user"] = user
    at.switch_page(f"views/{page_file}")
    return at.run()


def test_demo_mode_says_so_on_every_page(use_db):
    for page in ("overview.py", "denials.py", "exports.py"):
        at = open_as(page)
        no_exception(at)
        assert any("Demo mode" in i.value for i in at.info), page


def test_with_users_configured_nothing_shows_before_sign_in(use_db, no_configured_users):
    auth.add_user("reg", "regulator", password=PASSWORD, path=no_configured_users)
    at = open_as("overview.py")
    no_exception(at)
    assert not at.metric and not any("Demo mode" in i.value for i in at.info)
    at.text_input[0].input("reg")
    at.text_input[1].input("a wrong password of some length")
    at.button[0].click().run()
    assert any("Wrong username or password" in e.value for e in at.error)
    assert not at.metric
    at.text_input[1].input(PASSWORD)
    at.button[0].click().run()
    no_exception(at)
    assert metric(at, "Exams")
    events = audit.read(10)["event"].tolist()
    assert events[:2] == ["sign_in", "sign_in_failed"]


def test_an_insurer_sees_only_its_own_exams(use_db, truth, no_configured_users):
    insurer = truth.execute(
        "SELECT insurer_id FROM fct_exams GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
    ).fetchone()[0]
    own = truth.execute(
        "SELECT count(*) FROM fct_exams WHERE insurer_id = ?", [insurer]
    ).fetchone()[0]
    total = truth.execute("SELECT count(*) FROM fct_exams").fetchone()[0]
    user = auth.add_user("ins", "insurer", (insurer,), password=PASSWORD, path=no_configured_users)
    at = open_as("overview.py", user)
    no_exception(at)
    assert metric(at, "Exams") == f"{own:,}" and own < total
    # A URL filter naming another insurer cannot widen the scope.
    other = AppTest.from_file(str(APP), default_timeout=120)
    other.session_state["signed_in_user"] = user
    other.query_params["insurer_id"] = ["SOMEONE_ELSE"]
    other.switch_page("views/overview.py")
    other.run()
    assert metric(other, "Exams") in ("0", f"{own:,}")


def test_a_researcher_sees_only_suppressed_aggregates(use_db, no_configured_users):
    user = auth.add_user("res", "researcher", password=PASSWORD, path=no_configured_users)
    pages = ("overview.py", "denials.py", "examiners.py", "examiner_profile.py", "audit_log.py")
    for page in pages:
        at = open_as(page, user)
        no_exception(at)
        assert any("aggregates only" in i.value for i in at.info), page
        assert not at.dataframe and not at.metric, page


def test_researcher_export_preview_has_pseudonyms_and_suppression(
    use_db, truth, no_configured_users
):
    user = auth.add_user("res", "researcher", password=PASSWORD, path=no_configured_users)
    at = open_as("exports.py", user)
    no_exception(at)
    table = at.dataframe[0].value
    ids = {r[0] for r in truth.execute("SELECT examiner_id FROM examiners").fetchall()}
    shown = set(table.astype(str).to_numpy().ravel())
    assert not ids & shown
    assert "examiner_name" not in table.columns
    counts = [c for c in table.columns if c.startswith("n_")]
    for column in counts:
        numbers = [v for v in table[column] if v != "suppressed"]
        assert all(not (1 <= float(v) <= 10) for v in numbers), column


def test_the_audit_log_page_is_for_regulators(use_db, no_configured_users):
    audit.record("export", "someone", None, {"table": "insurer_rates"})
    regulator = auth.add_user("reg", "regulator", password=PASSWORD, path=no_configured_users)
    at = open_as("audit_log.py", regulator)
    no_exception(at)
    assert "export" in set(at.dataframe[0].value["event"])
    assert any("hash chain is intact" in s.value for s in at.success)
    insurer = auth.add_user(
        "ins", "insurer", ("INS001",), password=PASSWORD, path=no_configured_users
    )
    at = open_as("audit_log.py", insurer)
    assert not at.dataframe and any("for regulators" in i.value for i in at.info)
