"""Denials and opinions page: rates by group and month, with intervals and counts."""

from __future__ import annotations

import numpy as np
from apphelp import figures, metric, no_exception, open_page, pct
from expected_figures import array, counts, wilson_caption
from statsmodels.stats.proportion import proportion_confint


def _by(truth, column: str, where: str = "true", params: dict | None = None):
    return truth.execute(
        f"SELECT coalesce(CAST({column} AS VARCHAR), 'unknown') AS g, count(is_denied) AS n, "  # noqa: S608
        "count(*) FILTER (is_denied) AS k FROM fct_exams "
        f"WHERE {where} GROUP BY ALL ORDER BY g",
        params or {},
    ).df()


def _panel(fig: dict, name: str) -> dict:
    return next(t for t in fig["data"] if t.get("name") == name)


def test_overall_rates_sit_beside_each_other_with_intervals(use_db, truth):
    at = open_page("denials.py")
    no_exception(at)
    c = counts(truth)
    assert metric(at, "Denied") == pct(c["denied"], c["with_decision"])
    assert metric(at, "Partial denial") == pct(c["partially_denied"], c["with_decision"])
    assert metric(at, "Adverse") == pct(c["adverse"], c["n"])
    assert metric(at, "Not related") == pct(c["not_related"], c["causation"])
    assert metric(at, "Zero WPI") == pct(c["zero"], c["rated"])
    shown = [cap.value for cap in at.caption]
    assert wilson_caption(c["denied"], c["with_decision"]) in shown
    assert wilson_caption(c["not_related"], c["causation"]) in shown


def _top_insurers_and_others(truth, top: int, where: str = "true", params: dict | None = None):
    """The `top` insurers with the most exams (ties by id), by id, then the rest pooled."""
    rows = truth.execute(
        "WITH sized AS (SELECT insurer_id AS g, count(*) AS size, count(is_denied) AS n, "
        f"count(*) FILTER (is_denied) AS k FROM fct_exams WHERE {where} GROUP BY ALL), "  # noqa: S608
        "ranked AS (SELECT *, row_number() OVER (ORDER BY size DESC, g) AS r FROM sized) "
        "SELECT g, n, k, 0 AS rest FROM ranked WHERE r <= $top "
        "UNION ALL SELECT count(*) || ' others', sum(n), sum(k), 1 FROM ranked WHERE r > $top "
        "HAVING count(*) > 0 "
        "ORDER BY rest, g",
        {"top": top, **(params or {})},
    ).df()
    return rows.astype({"n": "int64", "k": "int64"})


def test_denial_rate_by_insurer_with_wilson_intervals(use_db, truth):
    at = open_page("denials.py")
    # The demo has 20 insurers: the chart draws the 11 with the most exams and pools the other
    # 9 into one row ('9 others'), its rate that of their exams together.
    assert truth.execute("SELECT count(DISTINCT insurer_id) FROM fct_exams").fetchall() == [(20,)]
    expected = _top_insurers_and_others(truth, 11)
    assert expected["g"].iloc[-1] == "9 others"
    panel = _panel(figures(at)[0], "Denied")
    assert list(panel["y"]) == list(expected["g"])
    rate = expected["k"] / expected["n"]
    np.testing.assert_allclose(array(panel["x"]), rate, rtol=1e-12)
    low, high = proportion_confint(expected["k"], expected["n"], method="wilson")
    np.testing.assert_allclose(array(panel["error_x"]["arrayminus"]), rate - low, atol=1e-12)
    np.testing.assert_allclose(array(panel["error_x"]["array"]), high - rate, atol=1e-12)
    first = expected.iloc[0]
    assert f"{int(first['k']):,} of {int(first['n']):,}" in panel["hovertext"][0]


def test_table_gives_every_rate_with_its_count(use_db, truth):
    at = open_page("denials.py", {"by": "claim_type"})
    table = at.dataframe[0].value
    expected = _by(truth, "claim_type")
    # Each claim type in words (measures.labels), in the order of the stored codes.
    words = {"workers_comp": "workers' compensation", "personal_injury": "personal injury"}
    assert list(table["Claim type"]) == [words.get(g, g) for g in expected["g"]]
    row = expected.iloc[0]
    low, high = proportion_confint(row["k"], row["n"], method="wilson")
    assert table["Denied after exam"].iloc[0] == (
        f"{100 * row['k'] / row['n']:.1f}% (95% CI {100 * low:.1f}–{100 * high:.1f}%), "
        f"{int(row['k']):,} of {int(row['n']):,}"
    )


def test_group_by_choice_changes_the_breakdown_and_the_url(use_db, truth):
    at = open_page("denials.py")
    at.selectbox(key="choice_by").set_value("jurisdiction").run()
    no_exception(at)
    assert at.query_params["by"] == "jurisdiction"
    panel = _panel(figures(at)[0], "Denied")
    assert list(panel["y"]) == list(_by(truth, "jurisdiction")["g"])


def test_group_by_from_a_link_is_checked_against_the_fixed_list(use_db, truth):
    at = open_page("denials.py", {"by": "claimant_id"})
    no_exception(at)
    assert at.selectbox(key="choice_by").value == "insurer_id"
    assert at.query_params["by"] == "insurer_id"


def test_filter_changes_the_rates(use_db, truth):
    at = open_page("denials.py")
    claim_type = truth.execute(
        "SELECT claim_type FROM fct_exams GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
    ).fetchone()[0]
    at.multiselect(key="filter_claim_type").set_value([claim_type]).run()
    c = counts(truth, "claim_type = $c", {"c": claim_type})
    assert c["with_decision"] < counts(truth)["with_decision"]
    assert metric(at, "Denied") == pct(c["denied"], c["with_decision"])
    panel = _panel(figures(at)[0], "Denied")
    assert list(panel["y"]) == list(
        _top_insurers_and_others(truth, 11, "claim_type = $c", {"c": claim_type})["g"]
    )


def test_monthly_trend_has_interval_bands(use_db, truth):
    at = open_page("denials.py")
    trend = figures(at)[1]
    bands = [t for t in trend["data"] if t.get("fill") == "toself"]
    lines = [t for t in trend["data"] if t.get("mode") == "lines+markers"]
    assert {t["name"] for t in lines} == {"Denied after exam", "Partially denied"}
    assert len(bands) == len(lines)
    # The grain (dashboard/periods.py): the finest of month, quarter and year whose median
    # period over the span holds 30 exams; periods under 30 exams are off the line.
    grain = None
    for unit in ("month", "quarter"):
        median = truth.execute(
            f"WITH p AS (SELECT date_trunc('{unit}', exam_date) AS p, count(*) AS n "  # noqa: S608
            "FROM fct_exams GROUP BY 1), span AS (SELECT unnest(generate_series(min(p), "
            f"max(p), INTERVAL 1 {unit})) AS p FROM p) "
            "SELECT median(coalesce(n, 0)) FROM span LEFT JOIN p USING (p)"
        ).fetchone()[0]
        if median >= 30:
            grain = unit
            break
    grain = grain or "year"
    assert f"By {grain}" in [s.value for s in at.subheader]
    n_periods = truth.execute(
        f"SELECT count(*) FROM (SELECT date_trunc('{grain}', exam_date) FROM fct_exams "  # noqa: S608
        "GROUP BY 1 HAVING count(*) >= 30 AND count(is_denied) > 0)"
    ).fetchone()[0]
    assert len(lines[0]["x"]) == n_periods
