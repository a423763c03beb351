"""Examiner profile: every measure against peers, allegiance, referrals, drift, agreement,
rulings and each flag in words; every view of a profile goes to the audit log."""

from __future__ import annotations

import json

import numpy as np
import pytest
import streamlit as st
from apphelp import figures, frame_with, metric, no_exception, open_page, pct
from expected_figures import array
from statsmodels.stats.proportion import proportion_confint

from access import audit
from measures import casemix
from measures.engine import compute_flags


@pytest.fixture(scope="module")
def drifter(flagged_truth) -> str:
    """The examiner flagged on drift with the most flags in all."""
    return flagged_truth.execute(
        "SELECT examiner_id FROM examiner_flags WHERE flagged GROUP BY 1 "
        "HAVING bool_or(measure = 'drift') ORDER BY count(*) DESC, 1 LIMIT 1"
    ).fetchone()[0]


@pytest.fixture(scope="module")
def profile(flagged_db, drifter, tmp_path_factory):
    """The drifter's profile, opened once for the read-only checks of this module."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IME_DB", str(flagged_db))
        mp.setenv("IME_AUDIT_DB", str(tmp_path_factory.mktemp("audit") / "audit.duckdb"))
        at = open_page("examiner_profile.py", {"examiner": drifter})
    no_exception(at)
    return at


def _trace(at, name: str, row: str) -> dict:
    """The trace called `name` that has a row (y value) `row`."""
    for fig in figures(at):
        for t in fig["data"]:
            if t.get("name") == name and row in list(t.get("y", ())):
                return t
    raise AssertionError(f"no trace {name!r} with a row {row!r}")


def _figure(at, trace_name: str) -> dict:
    for fig in figures(at):
        if any(t.get("name") == trace_name for t in fig["data"]):
            return fig
    raise AssertionError(f"no chart with a trace {trace_name!r}")


def test_every_measure_against_peers_with_the_engines_figures(profile, drifter, flagged_truth):
    n = flagged_truth.execute(
        "SELECT count(*) FROM fct_exams WHERE examiner_id = $e", {"e": drifter}
    ).fetchone()[0]
    assert metric(profile, "Exams") == f"{n:,}"
    expected = compute_flags(
        flagged_truth, measures=("adverse_opinion", "denial", "zero_impairment", "allegiance")
    ).query("examiner_id == @drifter")
    table = frame_with(profile, "peer_group").set_index("label")
    forest = next(
        t for t in _figure(profile, "ratio with 95% CI")["data"]
        if t["name"] == "ratio with 95% CI"
    )
    ratios = dict(zip(forest["y"], array(forest["x"]), strict=True))
    labels = {
        "adverse_opinion": "Adverse opinions",
        "denial": "Denials after the exam",
        "zero_impairment": "Zero impairment ratings",
        "allegiance": "Allegiance",
    }
    for row in expected.itertuples():
        label = labels[row.measure]
        assert table.loc[label, "ratio"] == pytest.approx(row.ratio, rel=1e-9)
        assert table.loc[label, "q_value"] == pytest.approx(row.q_value, rel=1e-9, nan_ok=True)
        assert table.loc[label, "flagged"] == row.flagged
        assert ratios[label] == pytest.approx(row.ratio, rel=1e-9)
    # Both kinds of ratio on one axis, each named: the hover of allegiance says odds ratio.
    axis = _figure(profile, "ratio with 95% CI")["layout"]["xaxis"]["title"]["text"]
    assert axis.startswith("observed / expected; allegiance: odds ratio (insurer/employer vs "
                           "claimant/neutral)")
    hovers = dict(zip(forest["y"], forest["hovertext"], strict=True))
    assert "odds ratio " in hovers["Allegiance"] and "O/E" not in hovers["Allegiance"]
    assert "O/E " in hovers["Adverse opinions"]
    n_flagged = flagged_truth.execute(
        "SELECT count(*) FILTER (flagged), count(*) FROM examiner_flags "
        "WHERE examiner_id = $e AND measure <> 'decision_counts'",
        {"e": drifter},
    ).fetchone()
    assert metric(profile, "Flagged measures") == f"{n_flagged[0]} of {n_flagged[1]}"


def test_the_specialty_is_written_out_under_the_count_of_peers(profile, drifter, flagged_truth):
    """The specialty is a caption, which wraps, not a metric's value, which a long name
    ("occupational medicine") overflows; the metric is the number of same-specialty peers."""
    [(specialty, n_peers)] = flagged_truth.execute(
        "SELECT specialty, (SELECT count(*) FROM dim_examiners AS p "
        "  WHERE p.specialty = x.specialty AND p.examiner_id <> x.examiner_id "
        "  AND p.examiner_id IN (SELECT examiner_id FROM fct_exams)) "
        "FROM dim_examiners AS x WHERE examiner_id = $e", {"e": drifter}
    ).fetchall()
    assert metric(profile, "Same-specialty peers") == f"{n_peers:,}"
    assert f"specialty: {specialty.replace('_', ' ')}" in [c.value for c in profile.caption]
    assert not [m for m in profile.metric if m.label == "Specialty"]


def test_each_flag_is_explained_in_words_with_its_method(profile):
    labels = [e.label for e in profile.expander]
    assert "Drift over time: flagged high" in labels
    text = "\n".join(m.value for m in profile.markdown)
    assert "risk-adjusted CUSUM" in text
    assert "How: Observed adverse opinions against the number expected" in text
    assert any("Benjamini-Hochberg" in c.value for c in profile.caption)


def test_referral_dependence_matches_a_direct_query(profile, drifter, flagged_truth):
    top, k, n, hhi = flagged_truth.execute(
        "WITH c AS (SELECT coalesce(insurer_id, 'unknown') AS insurer_id, count(*) AS k "
        "FROM fct_exams WHERE examiner_id = $e GROUP BY 1) "
        "SELECT arg_max(insurer_id, k), max(k), sum(k), sum((k / (SELECT sum(k) FROM c)) ^ 2) "
        "FROM c",
        {"e": drifter},
    ).fetchone()
    assert metric(profile, "Top insurer share") == pct(k, n)
    assert metric(profile, "Herfindahl index") == f"{hhi:.3f}"
    low, high = proportion_confint(k, n, method="wilson")
    caption = f"{top}: {k:,} of {n:,} exams (95% CI {100 * low:.1f}–{100 * high:.1f}%)"
    assert any(c.value.startswith(caption) for c in profile.caption)


def test_allegiance_rates_by_who_retained_the_examiner(profile, drifter, flagged_truth):
    k, n = flagged_truth.execute(
        "SELECT count(*) FILTER (is_adverse), count(*) FROM fct_exams "
        "WHERE examiner_id = $e AND requested_by IN ('insurer', 'employer')",
        {"e": drifter},
    ).fetchone()
    trace = _trace(profile, "examiner", "Retained by insurer or employer")
    rates = dict(zip(trace["y"], array(trace["x"]), strict=True))
    assert rates["Retained by insurer or employer"] == pytest.approx(k / n)


def test_drift_chart_peaks_where_the_engine_says(profile, drifter, flagged_truth):
    peak, threshold = flagged_truth.execute(
        "SELECT z, cusum_threshold FROM examiner_flags WHERE examiner_id = $e "
        "AND measure = 'drift'",
        {"e": drifter},
    ).fetchone()
    (n_thresholds,) = flagged_truth.execute(
        "SELECT count(DISTINCT cusum_threshold) FROM examiner_flags WHERE measure = 'drift'"
    ).fetchone()
    assert n_thresholds == 1  # one panel threshold for every examiner
    chart = _figure(profile, "CUSUM")
    path = array(next(t for t in chart["data"] if t["name"] == "CUSUM")["y"])
    assert path.max() == pytest.approx(peak, rel=1e-9)
    lines = [s for s in chart["layout"]["shapes"] if s.get("type") == "line"]
    assert any(s["y0"] == pytest.approx(threshold) for s in lines)
    assert any(t["name"].startswith("signal") for t in chart["data"])


def _kappa_by_hand(pairs) -> float:
    a, b = np.array(pairs).T
    cats = sorted(set(a) | set(b))
    p_o = np.mean(a == b)
    p_e = sum(np.mean(a == c) * np.mean(b == c) for c in cats)
    return (p_o - p_e) / (1 - p_e)  # Cohen 1960


def test_kappa_against_other_examiners_of_the_same_cases(profile, drifter, flagged_truth):
    pair_sql = (
        "SELECT a.causation, b.causation, b.examiner_id FROM fct_exams a JOIN fct_exams b "
        "ON a.case_id = b.case_id AND a.examiner_id <> b.examiner_id "
        "WHERE a.causation IS NOT NULL AND b.causation IS NOT NULL AND "
    )
    pairs = flagged_truth.execute(pair_sql + "a.examiner_id = $e", {"e": drifter}).fetchall()
    panel = flagged_truth.execute(pair_sql + "a.exam_id < b.exam_id").fetchall()
    kappa = _kappa_by_hand([p[:2] for p in pairs])
    assert metric(profile, "Kappa on causation") == f"{kappa:.2f}"
    n_others = len({p[2] for p in pairs})
    said = f"{len(pairs):,} pairs of exams of the same case with {n_others} other examiners"
    panel_said = f"All pairs of examiners in view: {_kappa_by_hand([p[:2] for p in panel]):.2f} "
    panel_said += f"({len(panel):,} pairs)"
    assert any(said in c.value and panel_said in c.value for c in profile.caption)


def test_icc_and_gap_against_treating_ratings(profile, drifter, flagged_truth):
    rows = np.array(
        flagged_truth.execute(
            "SELECT ime_wpi_percent, treating_wpi_percent FROM fct_rating_pairs "
            "WHERE examiner_id = $e",
            {"e": drifter},
        ).fetchall(),
        dtype=float,
    )
    # One-way ICC with two ratings per case (Shrout & Fleiss 1979, ICC(1,1)), by hand.
    n = len(rows)
    means = rows.mean(axis=1)
    msb = 2 * ((means - rows.mean()) ** 2).sum() / (n - 1)
    msw = ((rows - means[:, None]) ** 2).sum() / n
    icc = (msb - msw) / (msb + msw)
    assert metric(profile, "ICC") == f"{icc:.2f}"
    gap = rows[:, 0] - rows[:, 1]
    assert metric(profile, "Mean gap to treating") == f"{gap.mean():+.1f} points"


def test_later_rulings_against_peers(profile, drifter, flagged_truth):
    # The rulings rate's one denominator: the examiner's exams that a ruling names.
    k, n = flagged_truth.execute(
        "SELECT count(*) FILTER (is_report_rejected), count(*) FILTER (n_rulings > 0) "
        "FROM fct_exams WHERE examiner_id = $e",
        {"e": drifter},
    ).fetchone()
    trace = _trace(profile, "examiner", "Report rejected")
    rates = dict(zip(trace["y"], array(trace["x"]), strict=True))
    assert rates["Report rejected"] == pytest.approx(k / n)


def test_changing_the_examiner_changes_the_figures_and_audits_each_view(
    use_flagged_db, drifter, flagged_truth, audit_db
):
    at = open_page("examiner_profile.py", {"examiner": drifter})
    other, n_other = flagged_truth.execute(
        "SELECT examiner_id, count(*) FROM fct_exams WHERE examiner_id <> $e "
        "GROUP BY 1 ORDER BY 2 LIMIT 1",
        {"e": drifter},
    ).fetchone()
    at.selectbox(key="choice_examiner").set_value(other).run()
    no_exception(at)
    assert metric(at, "Exams") == f"{n_other:,}"
    assert at.query_params["examiner"] == other
    assert any("below the minimum volume" in c.value for c in at.caption) == (n_other < 30)
    at.run()  # a rerun showing the same examiner is not a new view
    log = audit.read(path=audit_db, event="view_examiner")
    assert [json.loads(d)["examiner_id"] for d in log["detail"]] == [other, drifter]
    assert set(log["username"]) == {"demo"}
    assert audit.verify(path=audit_db).ok


@pytest.fixture(scope="module")
def busiest(truth) -> tuple[str, str]:
    """The examiner and jurisdiction with the most exams together."""
    return truth.execute(
        "SELECT examiner_id, jurisdiction FROM fct_exams GROUP BY ALL "
        "ORDER BY count(*) DESC LIMIT 1"
    ).fetchone()


def test_a_sidebar_filter_changes_the_profile(use_db, truth, busiest):
    examiner, jurisdiction = busiest
    at = open_page("examiner_profile.py", {"examiner": examiner})
    no_exception(at)
    top_before = metric(at, "Top insurer share")
    at.multiselect(key="filter_jurisdiction").set_value([jurisdiction]).run()
    no_exception(at)
    assert not at.warning, [w.value for w in at.warning]
    k, n = truth.execute(
        "SELECT max(k), sum(k) FROM (SELECT count(*) AS k FROM fct_exams "
        "WHERE examiner_id = $e AND jurisdiction = $j GROUP BY insurer_id)",
        {"e": examiner, "j": jurisdiction},
    ).fetchone()
    assert metric(at, "Exams") == f"{n:,}"
    assert metric(at, "Top insurer share") == pct(k, n)
    assert metric(at, "Top insurer share") != top_before or n == 0
    assert at.query_params["examiner"] == examiner


def test_a_filtered_view_never_fits_a_case_mix_model(use_db, busiest, monkeypatch):
    # The models are fitted once, at load; a filtered view sums the expectations stored per
    # exam (the real fit_models wrapped with a counter).
    st.cache_data.clear()
    fitted = []
    fit = casemix.fit_models

    def counted(con, settings):
        fitted.append(settings)
        return fit(con, settings)

    monkeypatch.setattr(casemix, "fit_models", counted)
    examiner, jurisdiction = busiest
    at = open_page("examiner_profile.py", {"examiner": examiner})
    no_exception(at)
    assert fitted == []
    at.multiselect(key="filter_jurisdiction").set_value([jurisdiction]).run()
    no_exception(at)
    assert fitted == []
    assert _figure(at, "CUSUM")  # the drift chart is drawn from the stored expectations
