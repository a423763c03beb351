"""Chart layout: labels that never touch, checked on figures built from hand-made frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboard import charts

LABELS = {"denied": "Denied", "adverse": "Adverse", "not_related": "Not related"}


def _rates(highs: dict[str, float]) -> pd.DataFrame:
    """Two groups per measure; each measure's largest interval end is `highs[measure]`."""
    rows = []
    for measure, high in highs.items():
        for group, share in (("A", 1.0), ("B", 0.5)):
            rows.append(
                dict(
                    group=group,
                    measure=measure,
                    k=10,
                    n=100,
                    rate=0.6 * high * share,
                    ci_low=0.3 * high * share,
                    ci_high=high * share,
                )
            )
    return pd.DataFrame(rows)


def test_small_multiple_ticks_stop_short_of_the_panel_edge_and_never_repeat():
    # 0.23 is the case that drew "20%0%": a "20%" tick at the right edge beside the next "0%".
    highs = {"denied": 0.23, "adverse": 0.019, "not_related": 0.004}
    fig = charts.rate_dots(_rates(highs), "group", list(highs), LABELS)
    axes = [fig.layout[name] for name in ("xaxis", "xaxis2", "xaxis3")]
    expected_text = {  # worked by hand: steps of 10/20%, 1% and 0.2%
        "denied": ["0%", "20%"],
        "adverse": ["0%", "1%"],
        "not_related": ["0.0%", "0.2%", "0.4%"],
    }
    for axis, measure in zip(axes, highs, strict=True):
        start, end = axis.range
        assert start == 0
        assert end >= highs[measure]  # every interval is inside the panel
        assert list(axis.ticktext) == expected_text[measure]
        assert len(set(axis.ticktext)) == len(axis.ticktext) <= 3
        # The last label is centred at least 15% of the panel width from its right edge,
        # so it cannot reach the next panel's first label.
        assert max(axis.tickvals) <= end - 0.15 * (end - start)
    # Panels are separated by a gap, not drawn edge to edge.
    for left, right in zip(axes, axes[1:], strict=False):
        assert right.domain[0] - left.domain[1] >= 0.02


def _km_frames(n_groups: int, times: list[float], start: int):
    """Straight-line survival for each group, and at-risk counts falling from `start`."""
    curves, risk = [], []
    for g in range(n_groups):
        group = f"group {g}"
        for t in range(30, int(times[-1]) + 1, 30):
            s = max(0.0, 1 - t / (1.2 * times[-1]))
            curves.append(
                dict(
                    group=group,
                    time=float(t),
                    survival=s,
                    ci_low=s * 0.9,
                    ci_high=min(1.0, s * 1.1),
                    n_at_risk=start,
                    n_event=1,
                    n_censored=0,
                )
            )
        for i, t in enumerate(times):
            risk.append(dict(group=group, time=t, n_at_risk=start - 37 * i))
    return pd.DataFrame(curves), pd.DataFrame(risk)


def test_at_risk_table_numbers_never_touch_across_or_down():
    times = [60.0 * i for i in range(31)]  # 0 to 1,800 days every 60: 31 columns asked for
    curves, risk = _km_frames(8, times, start=12_345)
    fig = charts.km_curves(curves, risk)
    table = [t for t in fig.data if t.mode == "text"]
    assert len(table) == 8
    # Across: on a 600 px plot (the narrowest the page draws) the axis spans 106% of 1,800
    # days; "12,345" is 6 characters, about 0.6 em each at 11 px = 39.6 px wide.
    px_per_day = 600 / (1.06 * 1_800)
    for row in table:
        x = list(row.x)
        assert 2 <= len(x) < len(times)
        assert min(b - a for a, b in zip(x, x[1:], strict=False)) * px_per_day >= 6 * 0.6 * 11
        assert x[0] == 0 and row.text[0] == "12,345"  # the table starts with everyone at risk
        assert list(fig.layout.xaxis.tickvals) == x  # each column sits under a tick
    # Down: each group's row is at least 1.5 times the font tall.
    plot_px = fig.layout.height - fig.layout.margin.t - fig.layout.margin.b
    rows = fig.layout.yaxis2.domain
    assert (rows[1] - rows[0]) * plot_px / 8 >= 1.5 * 11
    # The curves' tick labels (13 px) fit in the gap between the curves and the table.
    assert (fig.layout.yaxis.domain[0] - rows[1]) * plot_px >= 2 * 13


def test_at_risk_table_keeps_every_column_when_there_is_room():
    times = [0.0, 180.0, 360.0, 540.0, 720.0]
    curves, risk = _km_frames(2, times, start=95)
    fig = charts.km_curves(curves, risk)
    for row in (t for t in fig.data if t.mode == "text"):
        assert list(row.x) == times


def _funnel_units(expected: list[float], ratio: list[float]) -> pd.DataFrame:
    n = len(expected)
    return pd.DataFrame(
        dict(
            examiner_id=[f"EX{i:04d}" for i in range(n)],
            n=[int(10 * e) for e in expected],
            expected=expected,
            observed=[e * r for e, r in zip(expected, ratio, strict=True)],
            ratio=ratio,
            ci_low=0.5,
            ci_high=1.5,
            shrunken_ratio=1.0,
            raw_rate=0.3,
            peer_rate=0.3,
            q_value=[0.001 * (i + 1) for i in range(n)],
            flagged=True,
            eligible=True,
        )
    )


def test_funnel_labels_keep_a_label_apart_and_send_the_rest_to_hover():
    # Twelve flagged units crowded at E = 20-24, O/E = 1.8-1.9, and two far apart.
    expected = [20 + 0.35 * i for i in range(12)] + [3.0, 150.0]
    ratio = [1.8 + 0.01 * i for i in range(12)] + [2.5, 1.5]
    units = _funnel_units(expected, ratio)
    limits = pd.DataFrame(
        dict(
            expected=[1.0, 300.0] * 2,
            level=0.95,
            kind=["exact"] * 4,
            lower=[0.0, 0.8, 0.0, 0.8],
            upper=[3.7, 1.2, 3.7, 1.2],
        )
    )
    fig = charts.funnel(units, limits, max_labels=10, height=520)
    trace = next(t for t in fig.data if t.name.startswith("flagged"))
    shown = [(x, y, t) for x, y, t in zip(trace.x, trace.y, trace.text, strict=True) if t]
    # The smallest q, and the two units far from the crowd.
    assert {t for _, _, t in shown} >= {"EX0000", "EX0012", "EX0013"}
    assert len(shown) < 10  # the crowd does not all get labels
    # In pixels on a 600 px wide plot whose height is the figure less 130 px, with the axis
    # ranges the figure states: no two "EX0000"-sized labels (7 characters, about 46 px wide
    # at 11 px, 14 px tall) may overlap.
    (x0, x1), (y0, y1) = fig.layout.xaxis.range, fig.layout.yaxis.range
    px = [
        ((np.log10(x) - x0) / (x1 - x0) * 600, (y - y0) / (y1 - y0) * (520 - 130))
        for x, y, _ in shown
    ]
    for i, (xa, ya) in enumerate(px):
        for xb, yb in px[i + 1 :]:
            assert abs(xa - xb) >= 7 * 0.6 * 11 or abs(ya - yb) >= 14
    # Every unit keeps its name in the hover text, labelled or not.
    for name, hover in zip(trace.customdata, trace.hovertext, strict=True):
        assert f"<b>{name}</b>" in hover
    # Every point is inside the plotted range.
    assert x0 < np.log10(min(expected)) and np.log10(max(expected)) < x1


def test_small_multiple_axis_holds_the_overall_reference_line():
    rates = _rates({"denied": 0.1})
    overall = pd.DataFrame(
        [dict(measure="denied", k=45, n=100, rate=0.45, ci_low=0.35, ci_high=0.55)]
    )
    fig = charts.rate_dots(rates, "group", ["denied"], LABELS, overall=overall)
    assert fig.layout.xaxis.range[1] >= 0.45
    assert [shape.x0 for shape in fig.layout.shapes] == [0.45]


def test_a_short_trend_draws_its_band_without_corner_markers():
    # Five yearly points: plotly marks every point of a trace under 20 points unless told
    # otherwise, which would scatter dots over the band's corners.
    years = pd.to_datetime([f"{y}-01-01" for y in range(2020, 2025)])
    rates = pd.DataFrame(
        {"period": years, "measure": "denied", "k": 10, "n": 40, "rate": 0.25,
         "ci_low": 0.14, "ci_high": 0.40, "thin": [True, False, False, False, False]}
    )
    fig = charts.rate_trend(rates, "period", ["denied"], LABELS, grain="year")
    bands = [t for t in fig.data if t.fill == "toself"]
    assert bands and all(t.mode == "lines" for t in bands)
    # The thin year is a grey open dot, off the line.
    thin = [t for t in fig.data if t.name == "Denied: too few exams"]
    # Dates go to plotly as the ISO text its encoder would write (charts._as_sent).
    assert len(thin) == 1 and list(pd.to_datetime(thin[0].x)) == [years[0]]


# The profile's charts set their layout in one step (charts._layout) where they had called
# update_layout, update_xaxes, make_subplots and add_hline: what those drew, checked by hand.


def test_cusum_draws_two_rows_on_one_time_axis_with_the_threshold_on_the_top_row():
    days = pd.to_datetime(["2024-01-31", "2024-02-29", "2024-03-31"])
    path = pd.DataFrame({
        "exam_date": days, "cusum": [1.0, 3.0, 2.0], "observed_cumulative": [4.0, 9.0, 12.0],
        "expected_cumulative": [3.0, 6.0, 9.5], "signal": [False, True, False],
    })
    fig = charts.cusum(path, threshold=2.5, name="EX1")
    axes = {(t.name, t.xaxis, t.yaxis) for t in fig.data}
    assert axes == {
        ("CUSUM", "x", "y"), ("signal (crossed the threshold)", "x", "y"),
        ("adverse opinions, cumulative", "x2", "y2"), ("expected from own baseline", "x2", "y2"),
    }
    (signal,) = [t for t in fig.data if t.mode == "markers"]
    assert list(signal.y) == [3.0]
    top, bottom = fig.layout.yaxis, fig.layout.yaxis2
    # 6% between the rows, the rest split 62:38.
    assert bottom.domain == pytest.approx((0.0, 0.38 * 0.94))
    assert top.domain == pytest.approx((0.38 * 0.94 + 0.06, 1.0))
    assert top.range == pytest.approx((0, 3.0 * 1.15))
    assert (top.title.text, bottom.title.text, bottom.rangemode) == ("CUSUM", "count", "tozero")
    assert fig.layout.xaxis.matches == "x2" and fig.layout.xaxis.showticklabels is False
    (line,) = fig.layout.shapes
    assert (line.y0, line.y1, line.yref, line.xref, line.x0, line.x1) == (
        2.5, 2.5, "y", "x domain", 0, 1)
    (note,) = fig.layout.annotations
    assert (note.text, note.y, note.yref, note.x, note.xanchor) == (
        "threshold 2.50", 2.5, "y", 0, "left")
    assert fig.layout.title.text == "EX1"
    assert fig.layout.height == 460 and fig.layout.font.size == charts.FONT["size"]


def test_cohort_rates_draw_each_cohorts_overall_rate_as_a_dotted_line_in_its_colour():
    rates = pd.DataFrame({
        "group": ["side A", "side A", "side B"], "measure": ["examiner", "peers", "examiner"],
        "k": [3, 30, 5], "n": [10, 100, 20], "rate": [0.3, 0.3, 0.25],
        "ci_low": [0.1, 0.22, 0.1], "ci_high": [0.6, 0.4, 0.47],
    })
    overall = pd.DataFrame({"measure": ["examiner", "peers"], "rate": [0.27, 0.3]})
    fig = charts.cohort_rates(rates, overall=overall)
    lines = [(s.x0, s.line.color, s.line.dash) for s in fig.layout.shapes]
    assert lines == [(0.27, charts.colour(0), "dot"), (0.3, charts.colour(1), "dot")]
    assert list(fig.layout.yaxis.categoryarray) == ["side B", "side A"]  # first group on top
    assert fig.layout.xaxis.tickformat == ".0%"
    assert fig.layout.height == 200  # 110 + 34 a group, at least 200
    assert fig.layout.scattermode == "group"


def test_forest_marks_a_ratio_of_one_with_a_dotted_line():
    rows = pd.DataFrame({
        "label": ["A"], "ratio": [1.5], "ci_low": [1.1], "ci_high": [3.0],
        "shrunken_ratio": [1.3], "flagged": [True], "eligible": [True], "n": [200],
        "observed": [60.0], "expected": [40.0], "q_value": [0.01], "raw_rate": [0.3],
        "peer_rate": [0.2],
    })
    fig = charts.forest(rows, measure="adverse_opinion")
    (line,) = fig.layout.shapes
    assert (line.x0, line.x1, line.xref, line.yref) == (1, 1, "x", "y domain")
    assert line.line.dash == "dot"
    assert fig.layout.xaxis.range == pytest.approx((0, 1.05 * 3.0))
    assert fig.layout.legend.orientation == "h" and fig.layout.margin.t == 40


def test_small_multiples_share_one_category_axis_each_panel_titled_with_its_own_line():
    rates = _rates({"denied": 0.2, "adverse": 0.4})
    overall = pd.DataFrame([
        dict(measure="denied", k=1, n=10, rate=0.1, ci_low=0.0, ci_high=0.4),
        dict(measure="adverse", k=3, n=10, rate=0.3, ci_low=0.1, ci_high=0.6),
    ])
    fig = charts.rate_dots(rates, "group", ["denied", "adverse"], LABELS, overall=overall)
    assert [(t.xaxis, t.yaxis, t.name) for t in fig.data] == [
        ("x", "y", "Denied"), ("x2", "y2", "Adverse")]
    assert [a.text for a in fig.layout.annotations] == ["Denied", "Adverse"]
    # Each title centred over its panel: two panels 3% apart, each 48.5% wide.
    assert [a.x for a in fig.layout.annotations] == pytest.approx([0.2425, 0.7575])
    assert fig.layout.xaxis.domain == pytest.approx((0, 0.485))
    assert fig.layout.xaxis2.domain == pytest.approx((0.515, 1))
    assert fig.layout.yaxis2.matches == "y" and fig.layout.yaxis2.showticklabels is False
    assert list(fig.layout.yaxis.categoryarray) == list(fig.layout.yaxis2.categoryarray) == [
        "B", "A"]
    lines = [(s.x0, s.xref, s.yref) for s in fig.layout.shapes]
    assert lines == [(0.1, "x", "y domain"), (0.3, "x2", "y2 domain")]


def test_violins_stand_one_per_group_at_its_place_on_the_axis():
    values = pd.DataFrame({"examiner": ["E1"] * 3 + ["E2"] * 2, "wpi": [0, 5, 10, 2, 4]})
    fig = charts.violins(values, "examiner", "wpi", highlight="E2")
    assert [(t.x0, list(t.y)) for t in fig.data] == [("E1", [0, 5, 10]), ("E2", [2, 4])]
    assert fig.data[1].line.color == charts.OKABE_ITO["vermillion"]
    assert fig.layout.xaxis.type == "category" and fig.layout.yaxis.title.text == "WPI %"
