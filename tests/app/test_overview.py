"""Overview page: headline figures equal those computed from the tables; filters change them."""

from __future__ import annotations

from apphelp import captions, markdown_text, metric, no_exception, open_page, pct
from expected_figures import counts, km_median, wilson_caption


def test_overview_headline_rates_match_the_tables(use_db, truth):
    at = open_page("overview.py")
    no_exception(at)
    c = counts(truth)
    assert metric(at, "Exams") == f"{c['n']:,}"
    assert f"by {c['examiners']:,} examiners" in captions(at)
    assert metric(at, "Adverse opinion rate") == pct(c["adverse"], c["n"])
    assert wilson_caption(c["adverse"], c["n"]) in captions(at)
    assert metric(at, "Denied after exam") == pct(c["denied"], c["with_decision"])
    assert wilson_caption(c["denied"], c["with_decision"]) in captions(at)
    assert metric(at, "Zero impairment") == pct(c["zero"], c["rated"])
    assert wilson_caption(c["zero"], c["rated"]) in captions(at)


def test_overview_median_time_to_mmi_is_the_kaplan_meier_median(use_db, truth):
    at = open_page("overview.py")
    assert metric(at, "Median days to MMI") == f"{km_median(truth):,.0f}"


def test_overview_draws_volume_and_rate_sparklines(use_db):
    at = open_page("overview.py")
    assert len(at.get("plotly_chart")) == 4


def test_overview_says_what_the_last_load_changed(use_db, truth):
    load_id, n_inserted, n_quarantined = truth.execute(
        "SELECT load_id, n_inserted, n_quarantined FROM load_history ORDER BY load_id DESC LIMIT 1"
    ).fetchone()
    text = markdown_text(open_page("overview.py"))
    assert f"Load **{load_id}** finished" in text
    assert f"**{n_inserted:,} new**" in text
    assert f"**{n_quarantined:,} quarantined**" in text


def test_overview_has_a_place_for_flagged_examiners(use_db):
    at = open_page("overview.py")
    no_exception(at)
    assert "Examiners currently flagged" in [s.value for s in at.subheader]
    # The engine's table, or a clear "none flagged".
    assert any(
        "examiner_id" in f.value.columns and "q_value" in f.value.columns for f in at.dataframe
    ) or any("No examiner is flagged" in s.value for s in at.success)


def test_a_sidebar_filter_changes_the_figures_and_the_url(use_db, truth):
    at = open_page("overview.py")
    jurisdiction = truth.execute(
        "SELECT jurisdiction FROM fct_exams GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
    ).fetchone()[0]
    at.multiselect(key="filter_jurisdiction").set_value([jurisdiction]).run()
    no_exception(at)
    c = counts(truth, "jurisdiction = $j", {"j": jurisdiction})
    assert c["n"] < counts(truth)["n"]
    assert metric(at, "Exams") == f"{c['n']:,}"
    assert metric(at, "Adverse opinion rate") == pct(c["adverse"], c["n"])
    assert (
        metric(at, "Median days to MMI")
        == f"{km_median(truth, 'jurisdiction = $j', {'j': jurisdiction}):,.0f}"
    )
    assert at.query_params["jurisdiction"] == jurisdiction


def test_a_link_with_filters_reproduces_the_view(use_db, truth):
    claim_type = truth.execute(
        "SELECT claim_type FROM fct_exams GROUP BY 1 ORDER BY count(*) ASC, 1 LIMIT 1"
    ).fetchone()[0]
    at = open_page("overview.py", {"claim_type": claim_type, "from": "2019-01-01"})
    no_exception(at)
    c = counts(truth, "claim_type = $c AND exam_date >= DATE '2019-01-01'", {"c": claim_type})
    assert metric(at, "Exams") == f"{c['n']:,}"
    assert at.multiselect(key="filter_claim_type").value == [claim_type]
    assert str(at.date_input(key="filter_start").value) == "2019-01-01"


def test_unknown_filter_values_in_a_link_are_ignored(use_db, truth):
    at = open_page("overview.py", {"jurisdiction": ["'; DROP TABLE exams; --", "XX"]})
    no_exception(at)
    assert metric(at, "Exams") == f"{counts(truth)['n']:,}"
    assert at.multiselect(key="filter_jurisdiction").value == []
