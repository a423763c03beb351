"""The Exports page for a researcher: whole calendar years and rounded counts (issue 13)."""

from __future__ import annotations

from apphelp import APP, no_exception
from streamlit.testing.v1 import AppTest

from access import auth

PASSWORD = "correct horse battery staple"


def test_researcher_window_is_widened_to_whole_years_and_counts_are_rounded(
    use_db, no_configured_users
):
    user = auth.add_user("res", "researcher", password=PASSWORD, path=no_configured_users)
    at = AppTest.from_file(str(APP), default_timeout=180)
    at.session_state["signed_in_user"] = user
    # A window of a few months, as a link could carry it: the export covers whole years.
    at.query_params.update({"from": "2019-03-01", "to": "2019-10-31"})
    at.switch_page("views/exports.py")
    at.run()
    no_exception(at)
    assert any("from 2019-01-01 to 2019-12-31" in i.value for i in at.info)
    table = at.dataframe[0].value
    for column in [c for c in table.columns if c.startswith("n_")]:
        shown = [float(v) for v in table[column] if v != "suppressed" and v == v]
        assert all(v % 11 == 0 for v in shown), column
