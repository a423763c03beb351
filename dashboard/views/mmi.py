"""Time to MMI: Kaplan-Meier curves by a chosen group, medians with intervals, log-rank test."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import analysis, charts, data, filters, layout, market
from measures.labels import human

MAX_GROUPS = 8

st.title("Time to maximum medical improvement")
flt = layout.require_database()
group_by = filters.choice("Compare groups by", analysis.MMI_GROUPINGS, key="group", default="all")
counts = data.query("mmi_counts", flt, group_by=group_by)
layout.stop_if_empty(int(counts["n_event"].sum() + counts["n_censored"].sum()), flt)
st.caption(
    f"Showing {filters.describe(flt)}. Days from injury to the MMI date when the examiner found "
    "MMI; exams that found the claimant not yet at MMI are censored at the exam date (tick "
    "marks). Bands are pointwise 95% intervals."
)

# Curves, their legend and the tables name each group by its label, not its stored code.
counts = counts.assign(group_value=counts["group_value"].map(human))
summary = analysis.kaplan_meier_by_group(counts, max_groups=MAX_GROUPS)
st.plotly_chart(charts.km_curves(summary.curves, summary.risk, summary.medians), width="stretch")
if summary.hidden_groups:
    st.caption(
        f"The {MAX_GROUPS - 1} largest groups have a curve each; the other "
        f"{len(summary.hidden_groups)} are pooled into one ('"
        f"{analysis.others_label(summary.hidden_groups)}'): "
        f"{', '.join(summary.hidden_groups)}."
    )

st.subheader("Median time to MMI")
medians = summary.medians.assign(
    median_days=summary.medians["median"],
    ci=[
        f"{lo:,.0f} to {hi:,.0f}" if hi == hi else f"{lo:,.0f} to not reached"
        for lo, hi in zip(
            summary.medians["median_ci_low"], summary.medians["median_ci_high"], strict=True
        )
    ],
)
st.dataframe(
    medians[["group", "n", "n_event", "n_censored", "median_days", "ci"]],
    hide_index=True,
    width="stretch",
    column_config={
        "group": analysis.MMI_GROUPINGS[group_by],
        "n": st.column_config.NumberColumn("exams", format="%d"),
        "n_event": st.column_config.NumberColumn("reached MMI", format="%d"),
        "n_censored": st.column_config.NumberColumn("not yet at MMI (censored)", format="%d"),
        "median_days": st.column_config.NumberColumn("median days", format="%.0f"),
        "ci": "95% CI (days)",
    },
)
if market.shown():
    # The market's medians (every insurer; suppressed and rounded) for the same groups where
    # the export table has them (outputs.tables.MMI_GROUPINGS), else over all exams.
    from outputs.tables import MMI_GROUPINGS

    rows = market.export_rows("mmi_summary", flt)
    grouping = group_by if group_by in MMI_GROUPINGS else "all"
    rows = rows[rows["grouping"] == grouping]
    st.markdown("**Ours against the market (all insurers)**")
    shown = rows.assign(
        group=rows["group"].map(human),
        median=[
            "suppressed" if pd.isna(m) and pd.isna(n) else
            "not reached" if pd.isna(m) else f"{m:,.0f}"
            for m, n in zip(rows["median_days_to_mmi"], rows["n_exams"], strict=True)
        ],
        ci=[
            ""
            if pd.isna(lo)
            else f"{lo:,.0f} to " + ("not reached" if pd.isna(hi) else f"{hi:,.0f}")
            for lo, hi in zip(rows["median_ci_low"], rows["median_ci_high"], strict=True)
        ],
    )
    st.dataframe(
        shown[["population", "group", "n_exams", "median", "ci"]],
        hide_index=True,
        width="stretch",
        column_config={
            "population": "whose cases",
            "group": analysis.MMI_GROUPINGS.get(grouping, grouping),
            "n_exams": st.column_config.NumberColumn("exams", format="%d"),
            "median": "median days",
            "ci": "95% CI (days)",
        },
    )
    st.caption(
        "Market rows count every insurer's exams; counts below 11, or whose other-insurer "
        "part is, are suppressed with their medians, and market counts are rounded to "
        "multiples of 11."
        + ("" if grouping == group_by else " The market is shown over all exams for this grouping.")
    )
if group_by != "all":
    st.markdown(analysis.logrank_in_words(summary.logrank, len(summary.medians)))
st.caption(
    "A blank median means fewer than half of the group reached MMI within the follow-up seen. "
    "These curves do not adjust for case mix. See Methods."
)
