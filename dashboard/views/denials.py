"""Denials and opinions: every rate by a chosen feature and by month, with intervals and counts."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import analysis, charts, data, filters, layout, market, periods
from measures.labels import human

# Post-exam decisions first, partial denials beside denials, then the opinion rates.
ORDER = (
    "denied",
    "partially_denied",
    "adverse",
    "not_related",
    "zero_wpi",
    "no_treatment",
    "full_duty",
)

st.title("Denials and opinions")
flt = layout.require_database()
by = filters.choice("Break down by", analysis.RATE_DIMENSIONS, key="by", default="insurer_id")
counts = data.query("rates_by_group", flt, dimension=by)
layout.stop_if_empty(int(counts["n_exams"].sum()), flt)
layout.scope_caption(flt)

rates = analysis.rates_long(counts, ["group_value"], ORDER)
overall = analysis.rates_long(analysis.overall_counts(counts), [], ORDER)
# The chart draws the largest groups and pools the rest ('N others'); the table lists them all.
chart_counts = analysis.top_n(counts, "group_value")
chart_rates = analysis.rates_long(chart_counts, ["group_value"], ORDER)
# An insurer sees the market (every insurer, suppressed and rounded) beside its own figures:
# per group of the same feature, and for "insurer" the market as a whole.
benchmark = market.benchmark(flt, by=by) if market.shown() else None
market_total = benchmark.total("market", ORDER) if benchmark is not None else None
MARKET_SUFFIX = " · market"
market_rows = []
if benchmark is not None:
    theirs = benchmark.rates("market", ORDER)
    theirs = theirs[theirs["label"] != market.TOTAL] if by not in market.TOTAL_ONLY else theirs
    shown_groups = set(chart_counts["group_value"]) | {market.TOTAL}
    theirs = theirs[theirs["label"].isin(shown_groups)]
    theirs = theirs.assign(
        group_value=[
            market.LABEL if label == market.TOTAL else f"{label}{MARKET_SUFFIX}"
            for label in theirs["label"]
        ]
    )
    market_rows = list(dict.fromkeys(theirs["group_value"]))

columns = st.columns(len(ORDER))
for column, measure in zip(columns, ORDER, strict=True):
    row = overall[overall["measure"] == measure].iloc[0]
    m = analysis.MEASURES[measure]
    column.metric(
        m.short, charts.percent(row["rate"]), help=f"{m.label}: share of {m.denominator}."
    )
    column.caption(
        f"95% CI {100 * row['ci_low']:.1f}–{100 * row['ci_high']:.1f}% · "
        f"{int(row['k']):,} of {int(row['n']):,}"
        if row["n"] > 0
        else "no exams with this opinion"
    )
    if market_total is not None:
        column.caption(f"Market: {market.rate_words(market_total.loc[measure])}")

st.subheader(f"By {analysis.RATE_DIMENSIONS[by].lower()}")
if benchmark is not None:
    # Each group's own row, then the market's for the same group (grey), or the market as a
    # whole after the insurer's own row.
    shown = pd.concat([chart_rates, theirs[chart_rates.columns]], ignore_index=True)
    order = [
        g for value in chart_counts["group_value"] for g in (value, f"{value}{MARKET_SUFFIX}")
    ] + [market.LABEL]
    shown["_order"] = shown["group_value"].map({g: i for i, g in enumerate(order)})
    shown = shown.sort_values(["_order", "measure"]).drop(columns="_order")
else:
    shown = chart_rates
st.plotly_chart(
    charts.rate_dots(
        shown,
        "group_value",
        ORDER,
        analysis.SHORT_LABELS,
        overall,
        group_labels={g: human(g) for g in shown["group_value"]},
        muted=market_rows,
    ),
    width="stretch",
)
st.caption(
    "Dots are rates, whiskers 95% Wilson intervals, the dotted line the overall rate. "
    "Hover for counts. Differences between groups are not adjusted for case mix."
    + (
        f" The {analysis.TOP_N - 1} groups with the most exams are drawn; the other "
        f"{len(counts) - len(chart_counts) + 1} are pooled into one row "
        f"('{chart_counts['group_value'].iloc[-1]}'), and the table below lists every group."
        if len(chart_counts) < len(counts)
        else ""
    )
    + (
        " Grey open dots: the market (every insurer), where disclosure allows it: market "
        "counts below 11, or whose other-insurer part is, are suppressed, and market counts "
        "are rounded to multiples of 11."
        if benchmark is not None
        else ""
    )
)

table = counts[["group_value", "n_exams"]].copy()
for measure in ORDER:
    part = rates[rates["measure"] == measure].set_index("group_value").loc[table["group_value"]]
    table[analysis.LABELS[measure]] = [
        charts.rate_text(r, lo, hi, int(k), int(n))
        for r, lo, hi, k, n in zip(
            part["rate"], part["ci_low"], part["ci_high"], part["k"], part["n"], strict=True
        )
    ]
with st.expander("Table: every rate with its interval and count"):
    st.dataframe(
        table.assign(group_value=table["group_value"].map(human)).rename(
            columns={"group_value": analysis.RATE_DIMENSIONS[by], "n_exams": "exams"}
        ),
        hide_index=True,
        width="stretch",
    )

monthly = data.query("rates_by_month", flt)
grain = periods.choose_grain(monthly)
st.subheader(f"By {grain}")
trend = analysis.rates_long(periods.aggregate(monthly, grain), ["period", "thin"], ORDER)
market_trend = (
    market.with_periods(market.benchmark(flt, grain=grain).rates("market", ORDER))
    if benchmark is not None
    else None
)
left, right = st.columns(2)
with left:
    st.markdown("**Post-exam decisions**")
    st.plotly_chart(
        charts.rate_trend(
            trend, "period", ("denied", "partially_denied"), analysis.LABELS,
            grain=grain, market=market_trend,
        ),
        width="stretch",
    )
with right:
    st.markdown("**Opinions**")
    shown = st.multiselect(
        "Opinion rates",
        analysis.OPINION_MEASURES,
        default=["adverse", "not_related"],
        format_func=analysis.LABELS.get,
        key="trend_measures",
    )
    st.plotly_chart(
        charts.rate_trend(trend, "period", shown, analysis.LABELS, grain=grain,
                          market=market_trend),
        width="stretch",
    )
st.caption(
    f"Bands are 95% Wilson intervals of each {grain}'s rate. " + periods.caption(grain)
    + (" Dashed lines: the market (every insurer)." if market_trend is not None else "")
)
