"""Time to MMI page: Kaplan-Meier medians and log-rank against statsmodels, censoring drawn."""

from __future__ import annotations

from apphelp import figures, markdown_text, no_exception, open_page
from expected_figures import km_median, logrank_chi2


def test_medians_by_body_part_are_the_kaplan_meier_medians(use_db, truth):
    at = open_page("mmi.py", {"group": "body_part"})
    no_exception(at)
    table = at.dataframe[0].value.set_index("group")
    parts = truth.execute(
        "SELECT DISTINCT body_part FROM fct_exams WHERE mmi_reached IS NOT NULL ORDER BY 1"
    ).fetchall()
    # The table names each body part in words (measures.labels), the stored code in the data.
    words = {"upper_extremity": "upper extremity", "lower_extremity": "lower extremity"}
    assert set(table.index) == {words.get(p, p) for (p,) in parts}
    for (part,) in parts:
        median = km_median(truth, "body_part = $p", {"p": part})
        assert table.loc[words.get(part, part), "median_days"] == median
    n_events, n_censored = truth.execute(
        "SELECT count(*) FILTER (mmi_reached), count(*) FILTER (NOT mmi_reached) FROM fct_exams "
        "WHERE body_part = 'spine' AND days_injury_to_mmi IS NOT NULL"
    ).fetchone()
    assert table.loc["spine", "n_event"] == n_events
    assert table.loc["spine", "n_censored"] == n_censored


def test_logrank_result_is_stated_in_words(use_db, truth):
    at = open_page("mmi.py", {"group": "body_part"})
    text = markdown_text(at)
    assert (
        f"log-rank chi-square {logrank_chi2(truth, 'body_part'):.1f} on 6 degrees of freedom"
        in text
    )


def test_curves_have_bands_censoring_marks_and_numbers_at_risk(use_db, truth):
    at = open_page("mmi.py", {"group": "retained_by"})
    fig = figures(at)[0]
    groups = [
        g
        for (g,) in truth.execute(
            "SELECT DISTINCT retained_by FROM fct_exams WHERE mmi_reached IS NOT NULL ORDER BY 1"
        ).fetchall()
    ]
    # Each curve is named in words (measures.labels), not by the stored code.
    words = {
        "insurer_or_employer": "insurer or employer",
        "claimant_or_neutral": "claimant or neutral",
    }
    groups = [words.get(g, g) for g in groups]
    curves = [t for t in fig["data"] if t.get("mode") == "lines" and t.get("name") in groups]
    bands = [t for t in fig["data"] if t.get("fill") == "toself"]
    marks = [t for t in fig["data"] if t.get("marker", {}).get("symbol") == "line-ns-open"]
    at_risk = [t for t in fig["data"] if t.get("mode") == "text"]
    assert len(curves) == len(bands) == len(marks) == len(at_risk) == len(groups)
    n_group = {
        words.get(g, g): n
        for g, n in truth.execute(
            "SELECT retained_by, count(*) FROM fct_exams WHERE days_injury_to_mmi IS NOT NULL "
            "AND mmi_reached IS NOT NULL GROUP BY 1"
        ).fetchall()
    }
    for row in at_risk:
        assert row["text"][0] == f"{n_group[row['y'][0]]:,}"


def test_a_filter_changes_the_median(use_db, truth):
    at = open_page("mmi.py")
    everyone = at.dataframe[0].value["median_days"].iloc[0]
    assert everyone == km_median(truth)
    at.multiselect(key="filter_body_part").set_value(["psychiatric"]).run()
    no_exception(at)
    psychiatric = at.dataframe[0].value["median_days"].iloc[0]
    assert psychiatric == km_median(truth, "body_part = 'psychiatric'")
    assert psychiatric != everyone


def test_unknown_group_by_in_the_url_falls_back_to_no_grouping(use_db):
    at = open_page("mmi.py", {"group": "exam_id"})
    no_exception(at)
    assert at.selectbox(key="choice_group").value == "all"
    assert list(at.dataframe[0].value["group"]) == ["all"]
