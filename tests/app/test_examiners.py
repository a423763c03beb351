"""Examiners page: every examiner on a measure, the funnel plot, and the way to a profile."""

from __future__ import annotations

import numpy as np
import pytest
from apphelp import figures, frame_with, metric, no_exception, open_page
from expected_figures import array

from measures.engine import compute_flags


@pytest.fixture(scope="module")
def adverse_flags(flagged_truth):
    """The engine's adverse-opinion figures, computed afresh (the page reads the stored ones)."""
    return compute_flags(flagged_truth, measures=("adverse_opinion",)).set_index("examiner_id")


def test_every_examiner_with_the_engines_figures(use_flagged_db, flagged_truth, adverse_flags):
    at = open_page("examiners.py")
    no_exception(at)
    table = frame_with(at, "flagged_on").set_index("examiner_id")
    volumes = dict(
        flagged_truth.execute("SELECT examiner_id, count(*) FROM fct_exams GROUP BY 1").fetchall()
    )
    assert set(table.index) == set(volumes)
    assert metric(at, "Examiners") == f"{len(volumes):,}"
    flagged = adverse_flags[adverse_flags["flagged"]]
    assert len(flagged) >= 2, "the 20,000-exam demo should flag planted examiners"
    assert metric(at, "Flagged on adverse opinions") == f"{len(flagged):,}"
    for examiner, row in flagged.iterrows():
        shown = table.loc[examiner]
        adverse = flagged_truth.execute(
            "SELECT count(*) FILTER (is_adverse) FROM fct_exams WHERE examiner_id = $e",
            {"e": examiner},
        ).fetchone()[0]
        assert shown["n"] == volumes[examiner]
        assert shown["observed"] == adverse
        assert shown["ratio"] == pytest.approx(adverse / row["expected"], rel=1e-9)
        assert shown["ratio"] == pytest.approx(row["ratio"], rel=1e-9)
        assert shown["q_value"] == pytest.approx(row["q_value"], rel=1e-9)
        assert (shown["ci_low"], shown["ci_high"]) == pytest.approx((row["ci_low"], row["ci_high"]))
        assert shown["status"] == f"flagged {row['direction']}"
        assert "adverse opinions" in shown["flagged_on"]
    small = [e for e, n in volumes.items() if n < 30]
    assert small, "some demo examiners should be below the minimum volume"
    for examiner in small:
        assert table.loc[examiner, "status"].startswith("below minimum volume")


def test_funnel_labels_flagged_examiners_and_marks_small_ones(
    use_flagged_db, flagged_truth, adverse_flags
):
    at = open_page("examiners.py")
    funnel = figures(at)[0]
    points = {t["name"].split(" (")[0]: t for t in funnel["data"] if t["mode"] != "lines"}
    flagged = set(adverse_flags.index[adverse_flags["flagged"]])
    assert set(points["flagged"]["customdata"]) == flagged
    # Labels never overlap (charts.funnel_labels): the flagged examiner with the smallest q is
    # always labelled, every label names a flagged examiner, and one left unlabelled because
    # its label would overlap keeps its id in the hover text.
    labels = {t for t in points["flagged"]["text"] if t}
    assert labels <= flagged
    assert adverse_flags.loc[sorted(flagged), "q_value"].idxmin() in labels
    hover = dict(zip(points["flagged"]["customdata"], points["flagged"]["hovertext"]))
    assert all(e in hover[e] for e in flagged - labels)
    small = {
        e
        for (e,) in flagged_truth.execute(
            "SELECT examiner_id FROM fct_exams GROUP BY 1 HAVING count(*) < 30"
        ).fetchall()
    }
    assert set(points["below minimum volume"]["customdata"]) == small
    # Points sit at (expected, O/E); hover gives the counts behind them.
    first = points["flagged"]
    examiner = first["customdata"][0]
    x, y = array(first["x"])[0], array(first["y"])[0]
    assert x == pytest.approx(adverse_flags.loc[examiner, "expected"])
    assert y == pytest.approx(adverse_flags.loc[examiner, "ratio"])
    assert f"{int(adverse_flags.loc[examiner, 'n']):,} exams" in first["hovertext"][0]
    names = {t["name"] for t in funnel["data"] if t["mode"] == "lines"}
    assert any("99.8%" in n and "over-dispersion allowed" in n for n in names)
    assert any("99.8%" in n and "exact Poisson" in n for n in names)


def test_measure_and_peer_group_change_the_table_and_the_url(use_flagged_db, flagged_truth):
    at = open_page("examiners.py")
    at.selectbox(key="choice_measure").set_value("zero_impairment").run()
    no_exception(at)
    rated = dict(
        flagged_truth.execute(
            "SELECT examiner_id, count(wpi_percent) FROM fct_exams GROUP BY 1"
        ).fetchall()
    )
    table = frame_with(at, "flagged_on").set_index("examiner_id")
    assert table["n"].to_dict() == rated
    assert at.query_params["measure"] == "zero_impairment"

    specialty = "psychology"
    at.selectbox(key="choice_peer").set_value(specialty).run()
    no_exception(at)
    mine = {
        e
        for (e,) in flagged_truth.execute(
            "SELECT DISTINCT examiner_id FROM fct_exams WHERE specialty = $s", {"s": specialty}
        ).fetchall()
    }
    table = frame_with(at, "flagged_on")
    assert set(table["examiner_id"]) == mine
    assert metric(at, "Examiners") == f"{len(mine):,}"
    assert at.query_params["peer"] == specialty


def test_allegiance_has_no_funnel_but_a_ratio_per_examiner(use_flagged_db):
    at = open_page("examiners.py", {"measure": "allegiance"})
    no_exception(at)
    table = frame_with(at, "flagged_on")
    forest = next(t for t in figures(at)[0]["data"] if t["name"] == "odds ratio with 95% CI")
    # Drawn: the flagged and the 25 largest others at the minimum volume at least, each with
    # a ratio; the rest are counted under the chart.
    rated = table[np.isfinite(table["ratio"]) & (table["n"] > 0) & table["eligible"]]
    n_flagged = int(rated["flagged"].sum())
    assert len(forest["y"]) == n_flagged + min(25, len(rated) - n_flagged)
    assert all(" · Dr. " in label for label in forest["y"])  # the regulator sees names
    assert any("Not a funnel plot" in c.value for c in at.caption)


def test_a_sidebar_filter_changes_the_figures(use_db, truth):
    jurisdiction = truth.execute(
        "SELECT jurisdiction FROM fct_exams GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    ).fetchone()[0]
    at = open_page("examiners.py")
    before = frame_with(at, "flagged_on").set_index("examiner_id")["n"]
    at.multiselect(key="filter_jurisdiction").set_value([jurisdiction]).run()
    no_exception(at)
    assert not at.warning, [w.value for w in at.warning]
    volumes = dict(
        truth.execute(
            "SELECT examiner_id, count(*) FROM fct_exams WHERE jurisdiction = $j GROUP BY 1",
            {"j": jurisdiction},
        ).fetchall()
    )
    after = frame_with(at, "flagged_on").set_index("examiner_id")["n"]
    assert after.to_dict() == volumes
    assert not after.equals(before)
    assert at.query_params["jurisdiction"] == jurisdiction


def test_the_profile_link_carries_the_examiner_and_the_filters(use_db, truth):
    jurisdiction = truth.execute(
        "SELECT jurisdiction FROM fct_exams GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    ).fetchone()[0]
    at = open_page("examiners.py", {"jurisdiction": jurisdiction})
    table = frame_with(at, "flagged_on")
    examiner = table["examiner_id"].iloc[-1]
    at.selectbox(key="open_examiner").set_value(examiner).run()
    (link,) = at.get("page_link")
    assert link.proto.page == "examiner_profile"
    assert link.proto.query_string == f"examiner={examiner}&jurisdiction={jurisdiction}"


def test_allegiance_is_read_as_an_odds_ratio_not_observed_over_expected(use_flagged_db,
                                                                         flagged_truth):
    """Allegiance is an odds ratio (insurer or employer against claimant or neutral): its
    chart's title, axis, legend and hovers say so, with the interval, against a line at 1."""
    at = open_page("examiners.py", {"measure": "allegiance"})
    no_exception(at)
    words = "odds ratio (insurer/employer vs claimant/neutral)"
    assert any(h.value == f"Allegiance: {words} with its 95% interval per examiner"
               for h in at.subheader)
    chart = figures(at)[0]
    axis = chart["layout"]["xaxis"]["title"]["text"]
    assert axis == f"{words} (95% CI; 1 = no difference)"
    names = [t["name"] for t in chart["data"]]
    assert "odds ratio with 95% CI" in names and not [n for n in names if "O/E" in n]
    assert [(s["x0"], s["x1"]) for s in chart["layout"]["shapes"]] == [(1, 1)]
    # Each hover gives the stored odds ratio and its interval, named as one.
    stored = {
        e: (r, lo, hi) for e, r, lo, hi in flagged_truth.execute(
            "SELECT examiner_id, ratio, ci_low, ci_high FROM examiner_flags "
            "WHERE measure = 'allegiance'"
        ).fetchall()
    }
    forest = next(t for t in chart["data"] if t["name"] == "odds ratio with 95% CI")
    for label, hover in zip(forest["y"], forest["hovertext"], strict=True):
        ratio, low, high = stored[label.split(" ")[0]]
        assert f"odds ratio {ratio:.2f} (95% CI {low:.2f}–{high:.2f})" in hover
        assert "O/E" not in hover
    assert not [c.value for c in at.caption if "observed/expected" in c.value]
