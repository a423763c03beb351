"""Charts as pure functions: DataFrame in, plotly Figure out, one visual language.

Colours come from the Okabe-Ito palette (safe for the common colour-vision deficiencies);
every estimate is drawn with its interval, and hover text gives the counts behind it.
"""

from __future__ import annotations

import copy
import functools
import json
import textwrap
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from dashboard import analysis, periods
from measures.registry import MEASURES, ratio_label, ratio_short

# Okabe M, Ito K. Color Universal Design (2008): eight colours distinguishable by most readers.
OKABE_ITO = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "vermillion": "#D55E00",
    "green": "#009E73",
    "sky": "#56B4E9",
    "purple": "#CC79A7",
    "yellow": "#F0E442",
    "black": "#000000",
}
GREY = "#999999"
# The market beside an insurer's own line: darker than GREY, so a dashed line stays visible.
MARKET_LINE = "#555555"
SEQUENCE = [
    OKABE_ITO[c]
    for c in ("blue", "orange", "green", "vermillion", "sky", "purple", "black", "yellow")
]

# One colour per measure, the same on every page.
MEASURE_COLOURS = {
    "adverse": OKABE_ITO["vermillion"],
    "not_related": OKABE_ITO["orange"],
    "zero_wpi": OKABE_ITO["purple"],
    "no_treatment": OKABE_ITO["sky"],
    "full_duty": OKABE_ITO["green"],
    "denied": OKABE_ITO["blue"],
    "partially_denied": OKABE_ITO["black"],
}
FONT = dict(family="Source Sans Pro, Arial, sans-serif", size=13)


def rgba(hex_colour: str, alpha: float) -> str:
    """'#0072B2', 0.2 -> 'rgba(0,114,178,0.2)' for interval bands."""
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def colour(i: int) -> str:
    return SEQUENCE[i % len(SEQUENCE)]


# Every chart's template. Set as the default, which a new figure takes without validating it:
# `template=` in update_layout validates and copies the whole template on every figure (about
# 70 ms of Python each, several per page, under the GIL every session shares).
pio.templates.default = "plotly_white"


class _FrozenFigure(go.Figure):
    """A figure whose `to_dict` is the dict of its JSON, made once (see `freeze`)."""

    _sent: dict

    def to_dict(self) -> dict:
        return self._sent


def freeze(figure: go.Figure) -> go.Figure:
    """`figure`, finished, made cheap to draw again and again: for a figure many sessions draw.

    st.plotly_chart turns a figure into a dict (`to_dict`, a deep copy of every trace) and that
    into JSON (a Python call per date, array and non-ASCII text) on every call: for a figure
    cached for every session, most of what drawing it costs, under the GIL they all share. A
    frozen figure's `to_dict` gives the dict of its JSON, made here once, so a call only writes
    it out again: the same JSON, without the copy or the conversions. The figure is frozen in
    place (building a new one would validate every trace again); change nothing on it after.
    """
    sent = json.loads(pio.to_json(figure, validate=False))
    figure.__class__ = _FrozenFigure
    figure._sent = sent
    return figure


# Every chart's frame: its font, margins, hover labels and legend (laid out by _layout).
HOUSE_LAYOUT = dict(
    font=FONT,
    margin=dict(l=10, r=10, t=40, b=10),
    hoverlabel=dict(font=dict(size=12)),
    legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0),
)


def _set_layout(fig: go.Figure, **props) -> go.Figure:
    """Set layout properties of `fig` outright, each replacing what was there.

    For a property the figure has not set, this is what update_layout, update_xaxes and
    add_hline do, for a fraction of the Python: they run every key through Plotly's relayout
    machinery, about 3 ms a key and a tenth of a second for a chart of an examiner's profile,
    under the GIL every session of the server shares. Use it for such properties only: a nested
    dict here replaces the property's whole value, where an update merges into it.
    """
    for key, value in props.items():
        fig.layout[key] = value
    return fig


def _vline(x: float, line: dict, axis: str = "") -> dict:
    """The shape add_vline draws: a line at `x` across the height of the panel whose axes are
    x{axis} and y{axis} (the first panel by default), styled by `line`."""
    return dict(type="line", x0=x, x1=x, xref=f"x{axis}", y0=0, y1=1, yref=f"y{axis} domain",
                line=line)


def _hline(y: float, line: dict) -> dict:
    """The shape add_hline draws: a line at `y` across the width of the first panel."""
    return dict(type="line", x0=0, x1=1, xref="x domain", y0=y, y1=y, yref="y", line=line)


def _layout(fig: go.Figure, height: int, **kwargs) -> go.Figure:
    """The house layout (HOUSE_LAYOUT), the height and `kwargs` (which may replace a house
    key), on a figure that has set none of them (every chart calls it once, as it finishes)."""
    return _set_layout(fig, **{**HOUSE_LAYOUT, "height": height, **kwargs})


def percent(x: float) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{100 * x:.1f}%"


def rate_text(rate: float, low: float, high: float, k: int, n: int) -> str:
    """'23.4% (95% CI 21.0–25.9%), 120 of 512' for hover text and captions."""
    if n == 0:
        return "no exams"
    return f"{percent(rate)} (95% CI {100 * low:.1f}–{100 * high:.1f}%), {k:,} of {n:,}"


def empty(message: str, height: int = 240) -> go.Figure:
    """A blank chart that says why it is blank."""
    fig = go.Figure()
    fig.add_annotation(
        text=message,
        showarrow=False,
        font=dict(size=15, color=GREY),
        xref="paper",
        yref="paper",
        x=0.5,
        y=0.5,
    )
    return _layout(fig, height, xaxis=dict(visible=False), yaxis=dict(visible=False))


def _hover(frame: pd.DataFrame, name_col: str) -> list[str]:
    return [
        f"<b>{name}</b><br>{rate_text(r, lo, hi, int(k), int(n))}"
        for name, r, lo, hi, k, n in zip(
            frame[name_col],
            frame["rate"],
            frame["ci_low"],
            frame["ci_high"],
            frame["k"],
            frame["n"],
            strict=True,
        )
    ]


def rate_ticks(highest: float, max_ticks: int = 3) -> tuple[list[float], float, int]:
    """Tick values, axis end and decimals for a rate axis that starts at 0.

    Side-by-side panels put one panel's last label next to the next panel's "0%", so the
    last tick stays at least 0.6 of a step short of the axis end ("20%0%" never touches), the
    steps are 1, 2 or 5 times a power of ten (at most `max_ticks` labels), and the decimals
    follow the step so no two labels read the same ("1%, 1%, 2%").
    """
    highest = float(highest) if np.isfinite(highest) and highest > 0 else 0.01
    magnitude = 10.0 ** np.floor(np.log10(highest / (max_ticks - 1)))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude * (max_ticks - 1) >= highest)
    count = min(max_ticks, int(np.floor(highest / step + 1e-9)) + 1)
    ticks = [round(float(i * step), 12) for i in range(count)]
    top = float(max(1.05 * highest, ticks[-1] + 0.6 * step))
    decimals = max(0, int(-np.floor(np.log10(100 * step) + 1e-9)))
    return ticks, top, decimals


@functools.lru_cache(maxsize=64)
def _subplot_skeleton(rows: int, cols: int, n_titles: int, options: tuple) -> tuple[dict, list]:
    layout = make_subplots(
        rows=rows, cols=cols, subplot_titles=[str(i) for i in range(n_titles)] or None,
        **{key: list(v) if isinstance(v, tuple) else v for key, v in options},
    ).layout.to_plotly_json()
    axes = {k: v for k, v in layout.items() if k.startswith(("xaxis", "yaxis"))}
    return axes, layout.get("annotations", [])


def _subplots(rows: int, cols: int, n_titles: int = 0, **options) -> tuple[dict, list[dict]]:
    """What make_subplots lays out for these arguments (lists as tuples): its axes by name
    (xaxis, yaxis2, ...) and its `n_titles` title annotations, whose text the caller fills.
    Traces then name their axes (xaxis="x2"). Made once per set of arguments: make_subplots
    builds a figure through Plotly's update machinery, a tenth of a second for the seven
    panels of the Denials page, on every chart."""
    axes, titles = _subplot_skeleton(rows, cols, n_titles, tuple(sorted(options.items())))
    return copy.deepcopy(axes), copy.deepcopy(titles)


def rate_dots(
    rates: pd.DataFrame,
    group_col: str,
    measures: Sequence[str],
    labels: dict[str, str],
    overall: pd.DataFrame | None = None,
    group_labels: dict[str, str] | None = None,
    muted: Sequence[str] = (),
) -> go.Figure:
    """Dot-and-whisker rates, one panel per measure, one row per group.

    `rates` is long: group_col, measure, k, n, rate, ci_low, ci_high. `overall` (one row per
    measure, same columns) draws each measure's overall rate as a dotted reference line.
    Groups in `muted` (an insurer's market rows beside its own) are drawn as grey open dots.
    """
    measures = [m for m in measures if m in set(rates["measure"])]
    if rates.empty or not measures:
        return empty("No exams match these filters")
    groups = list(dict.fromkeys(rates[group_col]))
    shown = [group_labels.get(g, g) if group_labels else g for g in groups]
    axes, titles = _subplots(
        1, len(measures), len(measures), shared_yaxes=True, horizontal_spacing=0.03
    )
    for name, axis in axes.items():
        if name.startswith("yaxis"):
            axis.update(categoryorder="array", categoryarray=shown[::-1], type="category")
    reference_lines = []
    fig = go.Figure()
    for col, measure in enumerate(measures, start=1):
        suffix = "" if col == 1 else str(col)
        part = rates[rates["measure"] == measure].set_index(group_col).reindex(groups).reset_index()
        part = part[part["n"].fillna(0) > 0]
        grey = part[group_col].isin(list(muted))
        for dots, c, symbol in (
            (part[~grey], MEASURE_COLOURS.get(measure, colour(col - 1)), "circle"),
            (part[grey], GREY, "circle-open"),
        ):
            if dots.empty:
                continue
            y = [group_labels.get(g, g) if group_labels else g for g in dots[group_col]]
            fig.add_trace(
                go.Scatter(
                    xaxis=f"x{suffix}",
                    yaxis=f"y{suffix}",
                    x=dots["rate"],
                    y=y,
                    mode="markers",
                    name=labels[measure],
                    showlegend=False,
                    marker=dict(color=c, size=9, symbol=symbol, line=dict(width=2, color=c)),
                    error_x=dict(
                        type="data",
                        symmetric=False,
                        array=dots["ci_high"] - dots["rate"],
                        arrayminus=dots["rate"] - dots["ci_low"],
                        color=c,
                        thickness=1.5,
                        width=4,
                    ),
                    hovertext=_hover(dots.assign(_name=y), "_name"),
                    hoverinfo="text",
                )
            )
        ref = overall[overall["measure"] == measure] if overall is not None else None
        reference = []
        if ref is not None and not ref.empty and ref["n"].iloc[0] > 0:
            reference = [float(ref["rate"].iloc[0])]
            reference_lines.append(_vline(reference[0], dict(color=GREY, dash="dot"), suffix))
        ticks, top, decimals = rate_ticks(max([*part["ci_high"].dropna(), *reference], default=0))
        axes[f"xaxis{suffix}"].update(
            range=[0, top],
            tickvals=ticks,
            ticktext=[f"{100 * t:.{decimals}f}%" for t in ticks],
            tickangle=0,
        )
    height = 120 + 26 * len(groups)
    return _layout(
        fig,
        max(height, 260),
        showlegend=False,
        annotations=[
            {**title, "text": labels[m]} for title, m in zip(titles, measures, strict=True)
        ],
        shapes=reference_lines,
        **axes,
    )


def _readable(part: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The periods a line goes through, and the thin ones (dashboard.periods) drawn apart."""
    if "thin" not in part:
        return part, part.iloc[0:0]
    thin = part["thin"].astype(bool)
    return part[~thin], part[thin]


def _as_sent(values: pd.Series) -> list:
    """A trend's x values as plotly sends them to the browser: dates as ISO text.

    Plotly's encoder writes a Timestamp the same way, but with a Python call per point, on
    every run of every session that draws the (cached) chart, under the GIL they all share.
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        return list(values.dt.strftime("%Y-%m-%dT%H:%M:%S"))
    return list(values)


def _named(name: str, period: str) -> str:
    return f"{name}, {period}" if name else period


def _band_and_line(
    fig: go.Figure,
    part: pd.DataFrame,
    x_col: str,
    name: str,
    c: str,
    grain: str,
    *,
    dash: str = "solid",
    band_alpha: float = 0.15,
    markers: bool = True,
    width: float = 2,
    legend: bool = True,
) -> None:
    """One rate's line through its readable periods, its 95% band, and its thin periods as
    grey dots (hover gives their counts; the line never joins them)."""
    line, thin = _readable(part)
    if not line.empty:
        x = _as_sent(line[x_col])
        fig.add_trace(
            go.Scatter(
                x=x + x[::-1],
                y=list(line["ci_high"]) + list(line["ci_low"])[::-1],
                # Lines only: below 20 points plotly's default would mark every band corner.
                mode="lines",
                fill="toself",
                fillcolor=rgba(c, band_alpha),
                line=dict(width=0),
                hoverinfo="skip",
                showlegend=False,
                legendgroup=name,
                name=f"{name} 95% CI",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=line["rate"],
                mode="lines+markers" if markers else "lines",
                name=name,
                legendgroup=name,
                showlegend=legend,
                line=dict(color=c, width=width, dash=dash),
                marker=dict(size=4),
                hovertext=_hover(
                    line.assign(_name=[_named(name, period_label(v, grain)) for v in line[x_col]]),
                    "_name",
                ),
                hoverinfo="text",
            )
        )
    if not thin.empty:
        fig.add_trace(
            go.Scatter(
                x=_as_sent(thin[x_col]),
                y=thin["rate"],
                mode="markers",
                name=f"{name}: too few exams",
                legendgroup=name,
                showlegend=False,
                marker=dict(color=GREY, size=5, symbol="circle-open"),
                hovertext=_hover(
                    thin.assign(
                        _name=[
                            _named(name, f"{period_label(v, grain)} (too few exams)")
                            for v in thin[x_col]
                        ]
                    ),
                    "_name",
                ),
                hoverinfo="text",
            )
        )


def rate_trend(
    rates: pd.DataFrame,
    x_col: str,
    measures: Sequence[str],
    labels: dict[str, str],
    height: int = 380,
    *,
    grain: str = "month",
    market: pd.DataFrame | None = None,
) -> go.Figure:
    """Rates over time: a line per measure with its 95% interval as a band.

    Thin periods (a `thin` column, dashboard.periods) are grey dots off the line. `market`
    (same long format; an insurer's benchmark over all insurers) is drawn dashed in the
    measure's colour beside the insurer's own solid line.
    """
    if rates.empty:
        return empty("No exams match these filters")
    fig = go.Figure()
    for measure in measures:
        c = MEASURE_COLOURS.get(measure, GREY)
        part = rates[(rates["measure"] == measure) & (rates["n"] > 0)].sort_values(x_col)
        own = f"{labels[measure]} (own)" if market is not None else labels[measure]
        if not part.empty:
            _band_and_line(fig, part, x_col, own, c, grain)
        if market is not None:
            theirs = market[(market["measure"] == measure) & (market["n"] > 0)]
            if not theirs.empty:
                _band_and_line(
                    fig, theirs.sort_values(x_col), x_col, f"{labels[measure]} (market)", c,
                    grain, dash="dash", band_alpha=0.07, markers=False,
                )
    y_axis = dict(tickformat=".0%", rangemode="tozero", title="rate (95% CI band)")
    # The axis fits the readable periods: a thin period's dot (0% or 100% of a handful of
    # exams) must not squash the lines; one beyond the axis is off the chart, as it is off
    # the line.
    readable = _readable(rates[rates["measure"].isin(list(measures)) & (rates["n"] > 0)])[0]
    if "thin" in rates and not readable.empty:
        top = float(readable["ci_high"].max())
        y_axis["range"] = [0, min(1.0, top * 1.1 + 0.01)]
    return _layout(fig, height, yaxis=y_axis)


def period_label(value, grain: str = "month") -> str:
    """A period as a reader names it ('Mar 2021', '2021 Q1', '2021'); other values as text."""
    return periods.label(value, grain) if hasattr(value, "strftime") else str(value)


def sparkline(
    rates: pd.DataFrame,
    x_col: str,
    measure: str,
    *,
    grain: str = "month",
    market: pd.DataFrame | None = None,
) -> go.Figure:
    """A small trend of one rate with its band, no axes: beside a headline number.

    `market` (an insurer's benchmark) is a dashed grey line with a faint band.
    """
    measured = rates[(rates["measure"] == measure) & (rates["n"] > 0)]
    part = _readable(measured)[0].sort_values(x_col)
    if part.empty:
        return empty("too few exams per period" if len(measured) else "no data", height=90)
    c = MEASURE_COLOURS.get(measure, OKABE_ITO["blue"])
    fig = go.Figure()
    if market is not None:
        # Too small a chart for thin periods' dots: they would only stretch its axis.
        theirs = _readable(market[(market["measure"] == measure) & (market["n"] > 0)])[0]
        if not theirs.empty:
            _band_and_line(fig, theirs.sort_values(x_col), x_col, "market", MARKET_LINE, grain,
                           dash="dash", band_alpha=0.10, markers=False, width=1.5,
                           legend=False)
    _band_and_line(fig, part, x_col, "own" if market is not None else "", c, grain,
                   band_alpha=0.18, markers=False, width=1.5, legend=False)
    return _set_layout(
        fig,
        xaxis=dict(visible=False),
        yaxis=dict(visible=False, rangemode="tozero"),
        height=90,
        margin=dict(l=0, r=0, t=0, b=0),
        showlegend=False,
    )


def volume_trend(
    monthly: pd.DataFrame, x_col: str = "exam_month", grain: str = "month"
) -> go.Figure:
    """Exams per period as a small bar sparkline; thin periods (dashboard.periods) in grey."""
    if monthly.empty:
        return empty("no data", height=90)
    fig = go.Figure(
        go.Bar(
            x=monthly[x_col],
            y=monthly["n_exams"],
            marker_color=(
                [GREY if t else OKABE_ITO["blue"] for t in monthly["thin"]]
                if "thin" in monthly
                else OKABE_ITO["blue"]
            ),
            hovertext=[
                f"{period_label(m, grain)}: {n:,} exams"
                for m, n in zip(monthly[x_col], monthly["n_exams"], strict=True)
            ],
            hoverinfo="text",
        )
    )
    return _set_layout(
        fig,
        xaxis=dict(visible=False),
        yaxis=dict(visible=False),
        height=90,
        margin=dict(l=0, r=0, t=0, b=0),
        showlegend=False,
        bargap=0.1,
    )


# The at-risk table's geometry. Numbers at 11 px are about 0.6 em wide per character; a column
# needs its widest number plus a gap, on the narrowest plot the page draws (a 700 px window).
AT_RISK_FONT_PX = 11
AT_RISK_ROW_PX = 20
AT_RISK_MIN_PLOT_WIDTH_PX = 600
KM_PLOT_PX = 400
KM_GAP_PX = 40
KM_MARGIN = dict(t=40, b=60)  # legend above; the x-axis title under the table


def at_risk_text_px(text: str) -> float:
    """Width of an at-risk number as drawn, estimated as 0.6 em per character."""
    return 0.6 * AT_RISK_FONT_PX * len(text)


def _risk_columns(risk: pd.DataFrame, end: float) -> list[float]:
    """Tick times for the at-risk table: every k-th time, so the widest numbers never touch.

    `end` is the last time on the curves; the x axis runs from -4% to 102% of it.
    """
    times = sorted(set(risk["time"]))
    if len(times) < 2:
        return times
    widest = max(at_risk_text_px(f"{int(n):,}") for n in risk["n_at_risk"]) + 8
    for every in range(1, len(times)):
        kept = times[::every]  # always two or more times
        gap = min(b - a for a, b in zip(kept, kept[1:], strict=False))
        if gap / (1.06 * end) * AT_RISK_MIN_PLOT_WIDTH_PX >= widest:
            return kept
    return times[:1]


def km_curves(
    curves: pd.DataFrame,
    risk: pd.DataFrame,
    medians: pd.DataFrame | None = None,
    x_title: str = "days from injury",
) -> go.Figure:
    """Kaplan-Meier step curves with pointwise bands, censoring marks and numbers at risk.

    `curves`: group, time, survival, ci_low, ci_high, n_at_risk, n_event, n_censored (one row
    per distinct time, as imestats.survival returns it, plus the group). `risk`: group, time,
    n_at_risk at the tick times, drawn as a table under the chart. `medians`: group, median,
    median_ci_low, median_ci_high, drawn as dotted drop lines.
    """
    if curves.empty:
        return empty("No exams with an MMI opinion match these filters")
    groups = list(dict.fromkeys(curves["group"]))
    end = float(curves["time"].max())
    risk = risk[risk["time"].isin(_risk_columns(risk, end))]
    # Heights in pixels: one table row per group, and a gap that holds the curves' tick labels.
    table = AT_RISK_ROW_PX * len(groups)
    plot = KM_PLOT_PX + KM_GAP_PX + table
    axes, _ = _subplots(
        2,
        1,
        shared_xaxes=True,
        row_heights=(KM_PLOT_PX / (plot - KM_GAP_PX), table / (plot - KM_GAP_PX)),
        vertical_spacing=KM_GAP_PX / plot,
    )
    fig = go.Figure()
    for i, group in enumerate(groups):
        c = colour(i)
        part = curves[curves["group"] == group].sort_values("time")
        # The curve starts at 1 at time 0.
        t = np.concatenate([[0.0], part["time"].to_numpy(float)])
        s = np.concatenate([[1.0], part["survival"].to_numpy(float)])
        lo = np.concatenate([[1.0], part["ci_low"].to_numpy(float)])
        hi = np.concatenate([[1.0], part["ci_high"].to_numpy(float)])
        ok = np.isfinite(lo) & np.isfinite(hi)
        fig.add_trace(
            go.Scatter(
                xaxis="x",
                yaxis="y",
                x=np.concatenate([t[ok], t[ok][::-1]]),
                y=np.concatenate([hi[ok], lo[ok][::-1]]),
                fill="toself",
                fillcolor=rgba(c, 0.15),
                line=dict(width=0, shape="hv"),
                hoverinfo="skip",
                showlegend=False,
                legendgroup=str(group),
            )
        )
        at_risk = np.concatenate([[part["n_at_risk"].iloc[0]], part["n_at_risk"].to_numpy()])
        events = np.concatenate([[0], part["n_event"].to_numpy()])
        fig.add_trace(
            go.Scatter(
                xaxis="x",
                yaxis="y",
                x=t,
                y=s,
                mode="lines",
                line=dict(color=c, width=2, shape="hv"),
                name=str(group),
                legendgroup=str(group),
                hovertext=[
                    f"<b>{group}</b>, day {int(ti):,}: {100 * si:.1f}% not yet at MMI "
                    f"(95% CI {100 * li:.1f}–{100 * hi_:.1f}%); "
                    f"{int(r):,} at risk, {int(e):,} reached MMI"
                    for ti, si, li, hi_, r, e in zip(t, s, lo, hi, at_risk, events, strict=True)
                ],
                hoverinfo="text",
            )
        )
        cens = part[part["n_censored"] > 0]
        fig.add_trace(
            go.Scatter(
                xaxis="x",
                yaxis="y",
                x=cens["time"],
                y=cens["survival"],
                mode="markers",
                marker=dict(symbol="line-ns-open", size=7, color=c, line=dict(width=1)),
                showlegend=False,
                legendgroup=str(group),
                hovertext=[
                    f"{group}: {int(n):,} censored (examined before MMI) on day {int(x):,}"
                    for n, x in zip(cens["n_censored"], cens["time"], strict=True)
                ],
                hoverinfo="text",
            )
        )
        if medians is not None:
            m = medians[medians["group"] == group]
            if not m.empty and np.isfinite(m["median"].iloc[0]):
                fig.add_trace(
                    go.Scatter(
                        xaxis="x",
                        yaxis="y",
                        x=[m["median"].iloc[0]] * 2,
                        y=[0, 0.5],
                        mode="lines",
                        line=dict(color=c, width=1, dash="dot"),
                        showlegend=False,
                        hoverinfo="skip",
                    )
                )
        r = risk[risk["group"] == group]
        fig.add_trace(
            go.Scatter(
                xaxis="x2",
                yaxis="y2",
                x=r["time"],
                y=[str(group)] * len(r),
                mode="text",
                text=[f"{int(n):,}" for n in r["n_at_risk"]],
                textfont=dict(color=c, size=AT_RISK_FONT_PX),
                showlegend=False,
                hoverinfo="skip",
            )
        )
    # The at-risk table sits under the chart's own ticks; pad the left so its first column shows.
    ticks = sorted(set(risk["time"])) if len(risk) else None
    axes["xaxis"].update(range=[-0.04 * end, 1.02 * end], tickvals=ticks, showticklabels=True,
                         tickformat=",")
    axes["xaxis2"].update(title=x_title, showticklabels=False, showgrid=False)
    axes["yaxis"].update(title="share not yet at MMI", tickformat=".0%", range=[0, 1.02])
    axes["yaxis2"].update(title="at risk", type="category", categoryarray=groups[::-1],
                          showgrid=False)
    return _layout(
        fig,
        plot + KM_MARGIN["t"] + KM_MARGIN["b"],
        **axes,
        shapes=[_hline(0.5, dict(color=GREY, dash="dot"))],  # half not yet at MMI
        margin={**HOUSE_LAYOUT["margin"], **KM_MARGIN},
    )


def ecdf(
    counts: pd.DataFrame, value_col: str, cohort_col: str = "cohort", x_title: str = "WPI %"
) -> go.Figure:
    """Empirical cumulative distributions from counts per distinct value, one line per cohort."""
    if counts.empty:
        return empty("No rated exams match these choices")
    fig = go.Figure()
    for i, (cohort, part) in enumerate(counts.groupby(cohort_col, sort=False)):
        part = part.groupby(value_col, as_index=False)["n"].sum().sort_values(value_col)
        total = part["n"].sum()
        share = part["n"].cumsum() / total
        fig.add_trace(
            go.Scatter(
                x=part[value_col],
                y=share,
                mode="lines",
                line=dict(shape="hv", color=colour(i), width=2),
                name=f"{cohort} (n={total:,})",
                hovertext=[
                    f"{cohort}: {100 * s:.1f}% rated ≤ {v:g}% ({int(c):,} of {total:,})"
                    for v, s, c in zip(part[value_col], share, part["n"].cumsum(), strict=True)
                ],
                hoverinfo="text",
            )
        )
    return _layout(
        fig,
        360,
        xaxis=dict(title=x_title, rangemode="tozero"),
        yaxis=dict(title="share of rated exams at or below", tickformat=".0%", range=[0, 1.02]),
    )


def share_histogram(
    counts: pd.DataFrame, value_col: str, cohort_col: str = "cohort", x_title: str = "WPI %"
) -> go.Figure:
    """Share of each cohort's rated exams at each value, cohorts side by side."""
    if counts.empty:
        return empty("No rated exams match these choices")
    fig = go.Figure()
    for i, (cohort, part) in enumerate(counts.groupby(cohort_col, sort=False)):
        part = part.groupby(value_col, as_index=False)["n"].sum().sort_values(value_col)
        total = part["n"].sum()
        fig.add_trace(
            go.Bar(
                x=part[value_col],
                y=part["n"] / total,
                name=f"{cohort} (n={total:,})",
                marker_color=colour(i),
                hovertext=[
                    f"{cohort}: {int(c):,} of {total:,} rated {v:g}%"
                    for v, c in zip(part[value_col], part["n"], strict=True)
                ],
                hoverinfo="text",
            )
        )
    return _layout(
        fig,
        340,
        barmode="group",
        bargap=0.15,
        xaxis=dict(title=x_title),
        yaxis=dict(title="share of rated exams", tickformat=".0%"),
    )


def violins(
    values: pd.DataFrame,
    group_col: str,
    value_col: str,
    highlight: str | None,
    y_title: str = "WPI %",
) -> go.Figure:
    """One violin per group (box and mean inside), the highlighted group in colour."""
    if values.empty:
        return empty("No rated exams match these choices")
    fig = go.Figure()
    for group, part in values.groupby(group_col, sort=False):
        c = OKABE_ITO["vermillion"] if group == highlight else OKABE_ITO["blue"]
        fig.add_trace(
            go.Violin(
                # The group's place on the axis, once: a list of it per value took most of the
                # chart's time, Plotly checking each element, and was sent to the browser.
                x0=str(group),
                y=part[value_col].to_numpy(float, na_value=np.nan),
                name=str(group),
                line_color=c,
                fillcolor=rgba(c, 0.25),
                box_visible=True,
                meanline_visible=True,
                points=False,
                spanmode="hard",
                hoveron="violins",
                scalemode="width",
                hovertext=f"{group}: {len(part):,} rated exams",
                hoverinfo="text+y",
            )
        )
    return _layout(
        fig,
        380,
        showlegend=False,
        xaxis=dict(type="category"),
        yaxis=dict(title=y_title, rangemode="tozero"),
    )


def bland_altman(pairs: pd.DataFrame, result) -> go.Figure:
    """Bland-Altman plot from counts per (IME, treating) pair: difference against mean.

    `pairs`: ime_wpi_percent, treating_wpi_percent, n_pairs. `result`: an imestats
    BlandAltmanResult (bias, limits of agreement, and their intervals), drawn as lines with
    their intervals as shaded bands. Marker area grows with the number of identical pairs.
    """
    if pairs.empty or result is None:
        return empty("Too few exams with a treating rating of the same case (need 3)")
    mean = (pairs["ime_wpi_percent"] + pairs["treating_wpi_percent"]) / 2
    diff = pairs["ime_wpi_percent"] - pairs["treating_wpi_percent"]
    size = 5 + 12 * np.sqrt(pairs["n_pairs"] / pairs["n_pairs"].max())
    fig = go.Figure(
        go.Scatter(
            x=mean,
            y=diff,
            mode="markers",
            name="pairs",
            marker=dict(size=size, color=rgba(OKABE_ITO["blue"], 0.55), line=dict(width=0)),
            hovertext=[
                f"IME {i:g}% vs treating {t:g}%: difference {d:+g} points, {int(n):,} exams"
                for i, t, d, n in zip(
                    pairs["ime_wpi_percent"],
                    pairs["treating_wpi_percent"],
                    diff,
                    pairs["n_pairs"],
                    strict=True,
                )
            ],
            hoverinfo="text",
            showlegend=False,
        )
    )
    lines = (
        (
            "bias",
            result.bias,
            result.bias_ci_low,
            result.bias_ci_high,
            OKABE_ITO["vermillion"],
            "solid",
        ),
        (
            "lower limit",
            result.loa_low,
            result.loa_low_ci_low,
            result.loa_low_ci_high,
            OKABE_ITO["black"],
            "dash",
        ),
        (
            "upper limit",
            result.loa_high,
            result.loa_high_ci_low,
            result.loa_high_ci_high,
            OKABE_ITO["black"],
            "dash",
        ),
    )
    # The shapes add_hrect and add_hline would make, added in one update: each of those calls
    # validates every shape and annotation already there again (most of this chart's time).
    shapes, notes = [], []
    for name, value, low, high, c, dash in lines:
        shapes.append(dict(type="rect", xref="x domain", x0=0, x1=1, yref="y", y0=low, y1=high,
                           fillcolor=rgba(c, 0.12), line=dict(width=0)))
        shapes.append(_hline(value, dict(color=c, dash=dash)))
        notes.append(dict(text=f"{name} {value:+.1f} ({low:+.1f} to {high:+.1f})",
                          showarrow=False, xref="x domain", x=1, xanchor="right", yref="y",
                          y=value, yanchor="bottom", font=dict(size=11)))
    shapes.append(_hline(0, dict(color=GREY, width=1)))
    return _layout(
        fig,
        420,
        shapes=shapes,
        annotations=notes,
        xaxis=dict(title="mean of IME and treating rating (WPI %)"),
        yaxis=dict(title="IME minus treating (WPI points)"),
    )


def load_history(history: pd.DataFrame) -> go.Figure:
    """Rows per load: new, replaced, unchanged and quarantined, stacked."""
    if history.empty:
        return empty("No loads yet")
    h = history.sort_values("load_id")
    x = [f"load {i}" for i in h["load_id"]]
    fig = go.Figure()
    for col, name, c in (
        ("n_inserted", "new", OKABE_ITO["blue"]),
        ("n_replaced", "replaced", OKABE_ITO["sky"]),
        ("n_unchanged", "unchanged", GREY),
        ("n_quarantined", "quarantined", OKABE_ITO["vermillion"]),
    ):
        fig.add_trace(
            go.Bar(
                x=x,
                y=h[col],
                name=name,
                marker_color=c,
                hovertext=[
                    f"{xi}: {int(v):,} rows {name} (of {int(r):,} read)"
                    for xi, v, r in zip(x, h[col], h["n_read"], strict=True)
                ],
                hoverinfo="text",
            )
        )
    return _layout(
        fig, 320, barmode="stack", xaxis=dict(type="category"), yaxis=dict(title="rows")
    )


# A quarantine bar's label: the rule's words wrapped at this many characters, so that a long
# one takes two lines rather than half the chart's width.
RULE_LABEL_CHARS = 48


def quarantine_bars(summary: pd.DataFrame) -> go.Figure:
    """Quarantined rows per file, column and rule, as horizontal bars.

    A bar is labelled with the rule's words (`message`: what etl.validate.rule_message gave at
    load from where the rule is defined), never its code; the code is in the hover.
    """
    if summary.empty:
        return empty("Nothing quarantined")
    s = summary.assign(file=summary["file"].map(lambda f: str(f).rsplit("/", 1)[-1]))
    s = (
        s.groupby(["file", "column_name", "rule"], as_index=False)
        .agg(message=("message", "first"), n_rows=("n_rows", "sum"))
        .sort_values(["n_rows", "file", "column_name", "rule"], ascending=[True, False, False,
                                                                            False])
    )
    labels = [
        f"{f} · {c}<br>" + "<br>".join(textwrap.wrap(str(m), RULE_LABEL_CHARS))
        for f, c, m in zip(s["file"], s["column_name"], s["message"], strict=True)
    ]
    fig = go.Figure(
        go.Bar(
            x=s["n_rows"],
            y=labels,
            orientation="h",
            marker_color=OKABE_ITO["vermillion"],
            hovertext=[
                f"{f} · {c}: {m} (rule {r}): {int(n):,} rows"
                for f, c, m, r, n in zip(s["file"], s["column_name"], s["message"], s["rule"],
                                         s["n_rows"], strict=True)
            ],
            hoverinfo="text",
        )
    )
    n_lines = sum(label.count("<br>") + 1 for label in labels)
    return _layout(
        fig,
        140 + 15 * n_lines + 8 * len(labels),
        xaxis=dict(title="rows"),
        yaxis=dict(type="category", tickfont=dict(size=11)),
    )


# ---------------------------------------------------------------------------------------------
# Examiner comparison: funnel, forest, CUSUM, shares
# ---------------------------------------------------------------------------------------------

LEVEL_COLOURS = {0.95: OKABE_ITO["orange"], 0.998: OKABE_ITO["purple"]}
LIMIT_NAMES = {
    "tau2": "{level} limits, over-dispersion allowed (used for flags)",
    "exact": "{level} limits, {null} without over-dispersion",
}


def _ratio_text(row, ratio: str = "O/E") -> str:
    """The row's ratio with its interval, named `ratio` (a measure's ratio_short)."""
    if not np.isfinite(row.ratio):
        return f"{ratio} not defined (no expected events)"
    text = f"{ratio} {row.ratio:.2f} (95% CI {row.ci_low:.2f}–{row.ci_high:.2f})"
    if np.isfinite(getattr(row, "shrunken_ratio", np.nan)):
        text += f", shrunken {row.shrunken_ratio:.2f}"
    return text


# What a unit's hover text reads (_unit_hover): itertuples over these alone, not over every
# column of the flags table, whose text columns it would read one Arrow string at a time
# (a third of a funnel's time for 4,000 examiners).
UNIT_HOVER_COLUMNS = [
    "flagged", "eligible", "q_value", "n", "observed", "expected", "ratio", "ci_low", "ci_high",
    "shrunken_ratio", "raw_rate", "peer_rate",
]


def _unit_hover(row, name: str, volume: str, ratio: str = "O/E") -> str:
    status = (
        "flagged"
        if row.flagged
        else ("below minimum volume: never flagged" if not row.eligible else "not flagged")
    )
    q = f"q = {row.q_value:.3g}" if np.isfinite(row.q_value) else "q not computed"
    return (
        f"<b>{name}</b> ({status})<br>{int(row.n):,} {volume}; {row.observed:,.0f} observed vs "
        f"{row.expected:,.1f} expected<br>{_ratio_text(row, ratio)}<br>raw rate "
        f"{percent(row.raw_rate)} vs {percent(row.peer_rate)} comparison<br>{q}"
    )


# Funnel labels: 11 px text about 0.6 em wide per character and 14 px tall, placed on the
# narrowest plot the page draws (600 px wide) and the height left after title and legend.
FUNNEL_FONT_PX = 11
FUNNEL_LABEL_HEIGHT_PX = 14
FUNNEL_MIN_PLOT_WIDTH_PX = 600
FUNNEL_LEGEND_PX = 130  # margins, x-axis title and the legend below the plot


def _log_range(values: pd.Series) -> list[float]:
    """A log axis range (in log10 units) covering the positive values, with 4% padding."""
    logs = np.log10(values[np.isfinite(values) & (values > 0)].to_numpy(float))
    low, high = (float(logs.min()), float(logs.max())) if len(logs) else (0.0, 1.0)
    pad = 0.04 * max(high - low, 0.5)
    return [low - pad, high + pad]


def funnel_labels(
    flagged: pd.DataFrame,
    label_col: str,
    text_col: str,
    x_range: Sequence[float],
    y_range: Sequence[float],
    height: int,
    max_labels: int,
) -> set:
    """Which flagged units get a written label: smallest q first, skipping any whose label
    would overlap one already placed (the rest keep their name in the hover text)."""
    width_px = FUNNEL_MIN_PLOT_WIDTH_PX
    height_px = height - FUNNEL_LEGEND_PX
    placed: list[tuple[float, float, float]] = []  # centre x, y and half width, in pixels
    chosen = set()
    for row in flagged.sort_values("q_value", kind="stable").itertuples():
        if len(chosen) >= max_labels:
            break
        x = (np.log10(row.expected) - x_range[0]) / (x_range[1] - x_range[0]) * width_px
        y = (row.ratio - y_range[0]) / (y_range[1] - y_range[0]) * height_px
        half = 0.3 * FUNNEL_FONT_PX * len(str(getattr(row, text_col)))
        if not np.isfinite(y) or any(
            abs(x - px) < half + ph + 4 and abs(y - py) < FUNNEL_LABEL_HEIGHT_PX + 2
            for px, py, ph in placed
        ):
            continue
        placed.append((x, y, half))
        chosen.add(getattr(row, label_col))
    return chosen


def funnel(
    points: pd.DataFrame,
    limits: pd.DataFrame,
    label_col: str = "examiner_id",
    *,
    text_col: str | None = None,
    volume: str = "exams",
    null_name: str = "exact Poisson",
    max_labels: int = 25,
    height: int = 520,
) -> go.Figure:
    """Funnel plot: O/E against the expected count, with 95% and 99.8% limits around 1.

    `points`: one row per unit with label_col, n, observed, expected, ratio, ci_low, ci_high,
    shrunken_ratio, raw_rate, peer_rate, q_value, flagged, eligible (the flags table).
    `limits`: expected, level, kind ('tau2' or 'exact'), lower, upper. Flagged units are drawn
    in vermillion and labelled (up to `max_labels`, smallest q first, none overlapping another:
    see funnel_labels), units below the minimum volume as open grey circles. Each point
    carries its label as customdata, for selection;
    `text_col` (default: label_col) is the shorter text written beside flagged points.
    """
    text_col = text_col or label_col
    pts = points[np.isfinite(points["expected"]) & (points["expected"] > 0)]
    if pts.empty:
        return empty("No units with an expected count to plot")
    fig = go.Figure()
    for (kind, level), part in limits.groupby(["kind", "level"], sort=False):
        part = part.sort_values("expected")
        name = LIMIT_NAMES[kind].format(level=f"{100 * level:g}%", null=null_name)
        style = dict(
            color=LEVEL_COLOURS.get(level, GREY),
            width=2 if kind == "tau2" else 1.2,
            dash="solid" if kind == "tau2" else "dot",
        )
        for side, show in (("upper", True), ("lower", False)):
            fig.add_trace(
                go.Scatter(
                    x=part["expected"],
                    y=part[side],
                    mode="lines",
                    line=style,
                    name=name,
                    legendgroup=name,
                    showlegend=show,
                    hoverinfo="skip",
                )
            )
    flagged = pts["flagged"].astype(bool)
    eligible = pts["eligible"].astype(bool)
    groups = (
        ("below minimum volume (never flagged)", ~eligible & ~flagged, GREY, "circle-open"),
        ("not flagged", eligible & ~flagged, OKABE_ITO["blue"], "circle"),
        ("flagged", flagged, OKABE_ITO["vermillion"], "circle"),
    )
    top = float(np.nanmax(pts["ratio"])) if np.isfinite(pts["ratio"]).any() else 2.0
    y_range = [0.0, max(2.0, 1.1 * top)]
    x_range = _log_range(pd.concat([pts["expected"], limits["expected"]]))
    labelled = funnel_labels(
        pts[flagged], label_col, text_col, x_range, y_range, height, max_labels
    )
    for name, mask, c, symbol in groups:
        part = pts[mask].sort_values("expected")
        if part.empty:
            continue
        text = [
            str(t) if v in labelled else ""
            for v, t in zip(part[label_col], part[text_col], strict=True)
        ]
        fig.add_trace(
            go.Scatter(
                x=part["expected"],
                y=part["ratio"],
                mode="markers+text" if name == "flagged" else "markers",
                name=f"{name} ({len(part):,})",
                text=text if name == "flagged" else None,
                textposition="top center",
                textfont=dict(size=FUNNEL_FONT_PX, color=c),
                marker=dict(
                    color=c,
                    size=9 if name == "flagged" else 7,
                    symbol=symbol,
                    line=dict(color=c, width=1.2),
                    opacity=0.85,
                ),
                customdata=part[label_col].astype(str).to_numpy(),
                hovertext=[
                    _unit_hover(r, str(label), volume)
                    for r, label in zip(
                        part[[c for c in UNIT_HOVER_COLUMNS if c in part]].itertuples(),
                        part[label_col].tolist(),
                        strict=True,
                    )
                ],
                hoverinfo="text",
            )
        )
    return _layout(
        fig,
        height,
        shapes=[_hline(1, dict(color=GREY, width=1))],  # a ratio of 1
        xaxis=dict(title="expected count (log scale)", type="log", range=x_range),
        yaxis=dict(title="observed / expected", range=y_range, zeroline=False),
        legend={**HOUSE_LAYOUT["legend"], "yanchor": "top", "y": -0.14},
    )


def forest(
    rows: pd.DataFrame,
    label_col: str = "label",
    height: int | None = None,
    x_max: float | None = None,
    measure: str | None = None,
) -> go.Figure:
    """Forest plot: each row's ratio with its 95% interval, shrunken estimate beside it.

    `rows`: label_col, ratio, ci_low, ci_high, shrunken_ratio, flagged, eligible, n, observed,
    expected, q_value, raw_rate, peer_rate, and `measure` unless every row is of `measure`.
    The ratio is named as its measure's registry entry names it (O/E, or allegiance's odds
    ratio) on the axis, the legend and each hover. Flagged rows in vermillion; the shrunken
    (empirical Bayes) estimate is a hollow diamond; the dotted line is a ratio of 1. `x_max`
    caps the axis: an interval reaching past it is cut at the edge (its hover gives the figures).
    """
    rows = rows[np.isfinite(rows["ratio"])]
    if rows.empty:
        return empty("No measure with a ratio")
    measures = [measure] * len(rows) if measure is not None else list(rows["measure"])
    shorts = [MEASURES[m].ratio_short for m in measures]
    short = ratio_short(measures)
    labels = [str(v) for v in rows[label_col]]
    colours = [
        OKABE_ITO["vermillion"] if f else (OKABE_ITO["blue"] if e else GREY)
        for f, e in zip(rows["flagged"], rows["eligible"], strict=True)
    ]
    fig = go.Figure()
    if "shrunken_ratio" in rows:
        fig.add_trace(
            go.Scatter(
                x=rows["shrunken_ratio"],
                y=labels,
                mode="markers",
                name="shrunken (empirical Bayes)",
                marker=dict(symbol="diamond-open", size=11, color=OKABE_ITO["black"]),
                hovertext=[f"{lab}: shrunken {r} {s:.2f}" for lab, r, s in
                           zip(labels, shorts, rows["shrunken_ratio"], strict=True)],
                hoverinfo="text",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=rows["ratio"],
            y=labels,
            mode="markers",
            name=f"{short} with 95% CI",
            marker=dict(color=colours, size=10),
            error_x=dict(
                type="data",
                symmetric=False,
                array=rows["ci_high"] - rows["ratio"],
                arrayminus=rows["ratio"] - rows["ci_low"],
                color=GREY,
                thickness=1.5,
                width=5,
            ),
            hovertext=[_unit_hover(r, lab, "in the measure", ratio) for r, lab, ratio in
                       zip(rows.itertuples(), labels, shorts, strict=True)],
            hoverinfo="text",
        )
    )
    high = float(np.nanmax(rows["ci_high"].replace(np.inf, np.nan)))
    right = max(2.0, 1.05 * high) if x_max is None else min(max(2.0, 1.05 * high), x_max)
    return _layout(
        fig,
        height or max(220, 90 + 34 * len(rows)),
        shapes=[_vline(1, dict(color=GREY, dash="dot"))],  # a ratio of 1
        xaxis=dict(title=f"{ratio_label(measures)} (95% CI; 1 = no difference)",
                   range=[0, right]),
        yaxis=dict(type="category", categoryorder="array", categoryarray=labels[::-1]),
    )


def cusum(path: pd.DataFrame, threshold: float, name: str = "") -> go.Figure:
    """Risk-adjusted CUSUM over time with its threshold; cumulative observed and expected below.

    `path` is measures.drift.drift_path: exam_date, cusum, observed_cumulative,
    expected_cumulative, signal.
    """
    if path.empty:
        return empty("Too few exams after the baseline for a CUSUM")
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            xaxis="x",
            yaxis="y",
            x=path["exam_date"],
            y=path["cusum"],
            mode="lines",
            line=dict(color=OKABE_ITO["blue"], width=2, shape="hv"),
            name="CUSUM",
            hovertext=[
                f"{_day(d)}: CUSUM {c:.2f} (threshold {threshold:.2f}); {o:,.0f} adverse vs "
                f"{e:,.1f} expected so far"
                for d, c, o, e in zip(
                    path["exam_date"],
                    path["cusum"],
                    path["observed_cumulative"],
                    path["expected_cumulative"],
                    strict=True,
                )
            ],
            hoverinfo="text",
        )
    )
    signals = path[path["signal"].astype(bool)]
    if not signals.empty:
        fig.add_trace(
            go.Scatter(
                xaxis="x",
                yaxis="y",
                x=signals["exam_date"],
                y=signals["cusum"],
                mode="markers",
                marker=dict(color=OKABE_ITO["vermillion"], size=9, symbol="x"),
                name="signal (crossed the threshold)",
                hovertext=[f"{_day(d)}: signal" for d in signals["exam_date"]],
                hoverinfo="text",
            )
        )
    for col, label, c in (
        ("observed_cumulative", "adverse opinions, cumulative", OKABE_ITO["vermillion"]),
        ("expected_cumulative", "expected from own baseline", OKABE_ITO["black"]),
    ):
        fig.add_trace(
            go.Scatter(
                xaxis="x2",
                yaxis="y2",
                x=path["exam_date"],
                y=path[col],
                mode="lines",
                line=dict(color=c, width=1.5, dash="solid" if col.startswith("obs") else "dot"),
                name=label,
                hovertext=[f"{_day(d)}: {v:,.1f} {label}" for d, v in
                           zip(path["exam_date"], path[col], strict=True)],
                hoverinfo="text",
            )
        )
    top = max(float(path["cusum"].max()), threshold) * 1.15
    # Two rows sharing the time axis; the threshold labelled at its top left.
    axes, _ = _subplots(
        2, 1, shared_xaxes=True, row_heights=(0.62, 0.38), vertical_spacing=0.06
    )
    axes["yaxis"].update(title="CUSUM", range=[0, top])
    axes["yaxis2"].update(title="count", rangemode="tozero")
    return _layout(
        fig,
        460,
        **axes,
        shapes=[_hline(threshold, dict(color=OKABE_ITO["vermillion"], dash="dash"))],
        annotations=[dict(text=f"threshold {threshold:.2f}", showarrow=False, x=0,
                          xanchor="left", xref="x domain", y=threshold, yanchor="bottom",
                          yref="y")],
        **({"title": dict(text=name, font=dict(size=14))} if name else {}),
    )


def _day(value) -> str:
    return f"{value:%Y-%m-%d}" if hasattr(value, "strftime") else str(value)


def share_bars(
    shares: pd.DataFrame,
    label_col: str,
    count_col: str = "n_exams",
    highlight_col: str = "top",
    max_bars: int = analysis.TOP_N,
) -> go.Figure:
    """Horizontal bars of each category's share of the total, the highlighted one in colour.

    Categories beyond the `max_bars` - 1 largest are combined into one bar ('N others').
    """
    if shares.empty:
        return empty("No exams")
    s = shares.sort_values([count_col, label_col], ascending=[False, True])
    s = analysis.top_n(s, label_col, count_col, max_bars)
    s = s.assign(**{highlight_col: s[highlight_col].fillna(False).astype(bool)}).iloc[::-1]
    total = s[count_col].sum()
    fig = go.Figure(
        go.Bar(
            x=s[count_col] / total,
            y=s[label_col].astype(str),
            orientation="h",
            marker_color=[
                OKABE_ITO["vermillion"] if h else OKABE_ITO["blue"] for h in s[highlight_col]
            ],
            hovertext=[
                f"{lab}: {int(n):,} of {int(total):,} exams ({percent(n / total)})"
                for lab, n in zip(s[label_col], s[count_col], strict=True)
            ],
            hoverinfo="text",
            text=[f"{int(n):,}" for n in s[count_col]],
            textposition="outside",
        )
    )
    return _layout(
        fig,
        120 + 22 * len(s),
        showlegend=False,
        xaxis=dict(title="share of the examiner's exams", tickformat=".0%", rangemode="tozero"),
        yaxis=dict(type="category"),
    )


def cohort_rates(
    rates: pd.DataFrame,
    group_col: str = "group",
    cohort_col: str = "measure",
    overall: pd.DataFrame | None = None,
) -> go.Figure:
    """Rates of two or more cohorts side by side on one axis, one row per group.

    `rates` is long: group_col, cohort_col, k, n, rate, ci_low, ci_high (rows without exams are
    left out). Each cohort has its colour and sits beside the others in every row, so an
    examiner and their peers read against the same scale. `overall` (cohort_col, rate) draws
    each cohort's overall rate as a dotted line in its colour.
    """
    rates = rates[rates["n"] > 0]
    if rates.empty:
        return empty("No exams")
    groups = list(dict.fromkeys(rates[group_col]))
    fig = go.Figure()
    overall_lines = []
    for i, (cohort, part) in enumerate(rates.groupby(cohort_col, sort=False)):
        c = colour(i)
        fig.add_trace(
            go.Scatter(
                x=part["rate"],
                y=part[group_col],
                orientation="h",
                mode="markers",
                name=str(cohort),
                marker=dict(color=c, size=9),
                error_x=dict(
                    type="data",
                    symmetric=False,
                    array=part["ci_high"] - part["rate"],
                    arrayminus=part["rate"] - part["ci_low"],
                    color=c,
                    thickness=1.5,
                    width=4,
                ),
                hovertext=_hover(part.assign(_name=[f"{cohort}, {g}" for g in part[group_col]]),
                                 "_name"),
                hoverinfo="text",
            )
        )
        if overall is not None:
            ref = overall[overall[cohort_col] == cohort]
            if not ref.empty and np.isfinite(ref["rate"].iloc[0]):
                x = float(ref["rate"].iloc[0])
                overall_lines.append(_vline(x, dict(color=c, dash="dot")))
    return _layout(
        fig,
        max(200, 110 + 34 * len(groups)),
        shapes=overall_lines,
        xaxis=dict(tickformat=".0%", rangemode="tozero", title="rate (95% CI)"),
        yaxis=dict(type="category", categoryorder="array", categoryarray=groups[::-1]),
        scattermode="group",
        scattergap=0.45,
    )
