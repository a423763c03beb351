"""Overview page: headline figures equal those computed from the tables; filters change them."""

from __future__ import annotations

from apphelp import captions, markdown_text, metric, no_exception, open_page, pct
from expected_figures import counts, km_median, wilson_caption
from expected_flags import adverse_opinion_flags


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


def test_overview_lists_the_examiners_a_second_implementation_flags(use_flagged_db,
                                                                   flagged_truth):
    # 20,000 exams with planted examiners: the adverse-opinion flags recomputed from fct_exams
    # (tests/expected_flags.py) are the adverse-opinion rows of the page's table.
    by_hand = adverse_opinion_flags(flagged_truth)
    expected = sorted(by_hand.loc[by_hand["flagged"], "examiner_id"])
    assert expected, "the planted data should flag someone on adverse opinions"
    at = open_page("overview.py")
    no_exception(at)
    assert "Examiners currently flagged" in [s.value for s in at.subheader]
    assert not any("No examiner is flagged" in s.value for s in at.success)
    (table,) = [f.value for f in at.dataframe if "q_value" in f.value.columns]
    # The measure by its label (measures/adverse_opinion.py), not its code.
    shown = table.loc[table["measure"] == "Adverse opinions", "examiner_id"]
    assert sorted(shown) == expected


def test_overview_says_no_examiner_is_flagged_when_all_are_below_minimum_volume(use_db, truth):
    # One month of 4,000 exams: every examiner has fewer than 30 exams (checked here), and an
    # examiner below the minimum volume is never flagged.
    window = {"start": "2023-03-01", "end": "2023-03-31"}
    by_hand = adverse_opinion_flags(truth, "exam_date BETWEEN $start AND $end", window)
    assert 0 < by_hand["n"].max() < 30
    at = open_page("overview.py", {"from": window["start"], "to": window["end"]})
    no_exception(at)
    assert [s.value for s in at.success] == ["No examiner is flagged under these filters."]
    assert not any("q_value" in f.value.columns for f in at.dataframe)
    assert (
        f"{len(by_hand):,} examiners have fewer exams than the minimum volume: their figures "
        "are shown on the other pages, but they are never flagged."
    ) in captions(at)


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
