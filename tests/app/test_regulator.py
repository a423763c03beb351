"""What the regulator sees that no other role does: examiner names, search by name or id, flags
on both sides, and a profile that records a view only of an examiner someone chose."""

from __future__ import annotations

import pytest
from apphelp import APP, no_exception, open_page
from streamlit.testing.v1 import AppTest

from access import audit, auth


def _examiner_table(at: AppTest):
    tables = [d.value for d in at.dataframe if "flagged_on" in d.value.columns]
    assert tables, "no examiner table on the page"
    return tables[0]


@pytest.fixture
def names(truth):
    return dict(truth.execute("SELECT examiner_id, examiner_name FROM dim_examiners").fetchall())


def test_the_regulator_sees_names_beside_ids(use_db, audit_db, names):
    at = open_page("examiners.py")
    no_exception(at)
    table = _examiner_table(at)
    assert "examiner_name" in table.columns
    assert all(table["examiner_name"] == table["examiner_id"].map(names))
    picker = at.selectbox(key="open_examiner")
    first = picker.options[0]
    assert names[first.split(" · ")[0]] in first


def test_search_by_surname_or_id(use_db, audit_db, names, truth):
    in_view = {e for (e,) in truth.execute("SELECT DISTINCT examiner_id FROM fct_exams").fetchall()}
    surname = sorted(names[e] for e in in_view)[0].split()[-1]
    at = open_page("examiners.py")
    at.text_input(key="examiner_search").input(surname.lower()).run()
    no_exception(at)
    found = set(_examiner_table(at)["examiner_id"])
    # Independently: every examiner in view whose name holds the surname, any case.
    assert found == {e for e in in_view if surname.lower() in names[e].lower()}
    some_id = sorted(in_view)[3]
    at.text_input(key="examiner_search").input(some_id).run()
    assert set(_examiner_table(at)["examiner_id"]) == {some_id}


def test_the_side_filter_shows_one_side(use_db, audit_db):
    at = open_page("examiners.py", {"side": "low"})
    no_exception(at)
    assert set(_examiner_table(at)["direction"].dropna()) <= {"low"}
    at = open_page("examiners.py", {"side": "high"})
    assert set(_examiner_table(at)["direction"].dropna()) <= {"high"}


def test_an_insurer_never_sees_a_name(use_db, audit_db, truth, no_configured_users, names):
    insurer = truth.execute(
        "SELECT insurer_id FROM fct_exams GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
    ).fetchone()[0]
    user = auth.add_user("ins", "insurer", (insurer,), password="x" * 16, path=no_configured_users)
    for page in ("examiners.py", "overview.py"):
        at = AppTest.from_file(str(APP), default_timeout=120)
        at.session_state["signed_in_user"] = user
        at.switch_page(f"views/{page}")
        at.run()
        no_exception(at)
        shown = "\n".join(
            [str(d.value.to_dict()) for d in at.dataframe]
            + [str(s.options) for s in at.selectbox]
        )
        assert not any(name in shown for name in names.values()), page
        assert all("examiner_name" not in d.value.columns for d in at.dataframe)


def test_opening_the_profile_logs_no_view_until_one_is_chosen(use_db, audit_db, truth):
    at = open_page("examiner_profile.py")
    no_exception(at)
    assert any("Choose an examiner" in i.value for i in at.info)
    assert audit.read(path=audit_db, event="view_examiner").empty
    examiner = truth.execute("SELECT min(examiner_id) FROM fct_exams").fetchone()[0]
    at.selectbox(key="choice_examiner").set_value(examiner).run()
    no_exception(at)
    log = audit.read(path=audit_db, event="view_examiner")
    assert len(log) == 1 and examiner in str(log["detail"].iloc[0])


def test_the_forest_draws_the_flagged_and_the_largest_and_counts_the_rest():
    import numpy as np
    import pandas as pd

    from dashboard import examiner_figures as examiners

    # 40 examiners at or above the minimum volume (volume 100 + i), of whom 3 flagged; 5
    # below it; 2 with no exam for the measure; 1 of them with no ratio.
    n = [100 + i for i in range(40)] + [11, 12, 13, 14, 15] + [0, 0]
    table = pd.DataFrame(
        {
            "examiner_id": [f"E{i:02d}" for i in range(len(n))],
            "n": n,
            "ratio": [1.0] * 39 + [np.nan] + [9.0] * 5 + [np.nan, np.nan],
            "eligible": [v >= 30 for v in n],
            "flagged": [i in (0, 1, 2) for i in range(len(n))],
        }
    )
    drawn = examiners.forest_rows(table, top=10)
    # Flagged E00-E02, then the 10 largest others with a ratio: E29 to E38 (E39 has none).
    assert set(drawn.shown["examiner_id"]) == {"E00", "E01", "E02"} | {
        f"E{i}" for i in range(29, 39)
    }
    assert drawn.below_minimum == 5
    assert drawn.not_drawn == 39 - 13  # at or above the minimum with a ratio, not drawn
