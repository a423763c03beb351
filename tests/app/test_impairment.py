"""Impairment page: an examiner against same-specialty peers, and the gap to treating ratings."""

from __future__ import annotations

import numpy as np
from apphelp import figures, markdown_text, metric, no_exception, open_page, pct
from scipy import stats


def _busiest(truth, where: str = "true", params: dict | None = None) -> tuple[str, str]:
    return truth.execute(
        "SELECT examiner_id, any_value(specialty) FROM fct_exams "  # noqa: S608
        f"WHERE wpi_percent IS NOT NULL AND {where} GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1",
        params or {},
    ).fetchone()


def _ratings(truth, examiner: str, specialty: str, where: str = "true", params: dict | None = None):
    rows = truth.execute(
        "SELECT examiner_id = $e AS mine, wpi_percent FROM fct_exams "  # noqa: S608
        f"WHERE wpi_percent IS NOT NULL AND specialty = $s AND {where}",
        {"e": examiner, "s": specialty, **(params or {})},
    ).df()
    return rows.loc[rows["mine"], "wpi_percent"].to_numpy(), rows.loc[
        ~rows["mine"], "wpi_percent"
    ].to_numpy()


def test_zero_share_of_the_examiner_and_of_peers(use_db, truth):
    at = open_page("impairment.py")
    no_exception(at)
    examiner, specialty = _busiest(truth)
    assert at.selectbox(key="choice_examiner").value == examiner
    mine, peers = _ratings(truth, examiner, specialty)
    assert metric(at, f"Zero ratings, {examiner}") == pct((mine == 0).sum(), len(mine))
    label = f"Zero ratings, peers ({specialty.replace('_', ' ')})"
    assert metric(at, label) == pct((peers == 0).sum(), len(peers))


def test_location_test_is_mann_whitney_against_peers(use_db, truth):
    at = open_page("impairment.py")
    examiner, specialty = _busiest(truth)
    mine, peers = _ratings(truth, examiner, specialty)
    expected = stats.mannwhitneyu(mine, peers, alternative="two-sided")
    r = 2 * expected.statistic / (len(mine) * len(peers)) - 1
    text = markdown_text(at)
    p = "p < 0.001" if expected.pvalue < 0.001 else f"p = {expected.pvalue:.3f}"
    assert f"Mann-Whitney {p}; rank-biserial r = {r:+.2f}" in text


def test_distribution_charts_and_examiners_below_minimum_volume(use_db, truth):
    at = open_page("impairment.py")
    examiner, specialty = _busiest(truth)
    figs = figures(at)
    ecdf = figs[0]
    assert {t["name"].split(" (n=")[0] for t in ecdf["data"]} == {
        examiner,
        f"peers ({specialty.replace('_', ' ')})",
    }
    volumes = truth.execute(
        "SELECT examiner_id, count(*) AS n FROM fct_exams WHERE wpi_percent IS NOT NULL "
        "AND specialty = $s GROUP BY 1",
        {"s": specialty},
    ).fetchall()
    dots = figs[3]["data"][0]
    expected = {f"{e} (below minimum volume)" if n < 30 else e for e, n in volumes}
    assert set(dots["y"]) == expected


def test_bland_altman_gap_to_treating_rating(use_db, truth):
    at = open_page("impairment.py")
    examiner, _ = _busiest(truth)
    gaps = truth.execute(
        "SELECT gap_wpi_points FROM fct_rating_pairs WHERE examiner_id = $e", {"e": examiner}
    ).fetchnumpy()["gap_wpi_points"]
    text = markdown_text(at)
    assert f"{len(gaps):,} exams with a treating rating of the same case" in text
    assert f"Mean gap (IME minus treating) {np.mean(gaps):+.1f} points" in text
    sd = np.std(gaps, ddof=1)
    assert (
        f"Limits of agreement {np.mean(gaps) - 1.96 * sd:+.1f} to {np.mean(gaps) + 1.96 * sd:+.1f}"
        in text
    )
    at.radio(key="gap_scope").set_value("all examiners in view").run()
    n_all = truth.execute("SELECT count(*) FROM fct_rating_pairs").fetchone()[0]
    assert f"{n_all:,} exams with a treating rating of the same case" in markdown_text(at)


def test_sidebar_filter_and_edition_change_the_comparison(use_db, truth):
    examiner, specialty = _busiest(truth, "body_part = 'spine'")
    at = open_page("impairment.py", {"examiner": examiner})
    assert at.selectbox(key="choice_examiner").value == examiner
    at.multiselect(key="filter_body_part").set_value(["spine"]).run()
    no_exception(at)
    assert at.selectbox(key="choice_examiner").value == examiner
    mine, _ = _ratings(truth, examiner, specialty, "body_part = 'spine'")
    assert metric(at, f"Zero ratings, {examiner}") == pct((mine == 0).sum(), len(mine))
    edition = truth.execute(
        "SELECT guides_edition FROM fct_exams WHERE examiner_id = $e AND body_part = 'spine' "
        "AND guides_edition IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1",
        {"e": examiner},
    ).fetchone()[0]
    at.selectbox(key="choice_edition").set_value(edition).run()
    no_exception(at)
    mine, _ = _ratings(
        truth, examiner, specialty, "body_part = 'spine' AND guides_edition = $g", {"g": edition}
    )
    assert metric(at, f"Zero ratings, {examiner}") == pct((mine == 0).sum(), len(mine))
    assert at.query_params["edition"] == edition
