"""Denials and opinions: every rate by a chosen feature and by month, with intervals and counts."""

from __future__ import annotations

import streamlit as st

from dashboard import analysis, charts, data, filters, layout

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

st.subheader(f"By {analysis.RATE_DIMENSIONS[by].lower()}")
st.plotly_chart(
    charts.rate_dots(
        rates,
        "group_value",
        ORDER,
        analysis.SHORT_LABELS,
        overall,
        group_labels={g: filters.pretty(g) for g in counts["group_value"]},
    ),
    width="stretch",
)
st.caption(
    "Dots are rates, whiskers 95% Wilson intervals, the dotted line the overall rate. "
    "Hover for counts. Differences between groups are not adjusted for case mix."
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
        table.rename(columns={"group_value": analysis.RATE_DIMENSIONS[by], "n_exams": "exams"}),
        hide_index=True,
        width="stretch",
    )

st.subheader("By month")
monthly = data.query("rates_by_month", flt)
trend = analysis.rates_long(monthly, ["exam_month"], ORDER)
left, right = st.columns(2)
with left:
    st.markdown("**Post-exam decisions**")
    st.plotly_chart(
        charts.rate_trend(trend, "exam_month", ("denied", "partially_denied"), analysis.LABELS),
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
    st.plotly_chart(charts.rate_trend(trend, "exam_month", shown, analysis.LABELS), width="stretch")
st.caption(
    "Bands are 95% Wilson intervals of each month's rate; months with few exams have wide bands."
)
