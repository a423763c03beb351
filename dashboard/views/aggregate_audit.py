"""Aggregate audit: published decision counts per decision-maker (judges, offices, states)."""

from __future__ import annotations

import streamlit as st

from dashboard import analysis, charts, data, examiner_figures, filters, layout
from measures.engine import COMMON_WORDS
from measures.registry import MEASURES

st.title("Aggregate audit")
layout.require_database()
units = data.query("decision_counts_units")
if units.empty:
    st.info(
        "This database holds no published decision counts. Load a file of decision counts "
        "per decision-maker, for example SSA's ALJ dispositions: `ime load FOLDER --profile "
        "data/profiles/ssa_alj_dispositions.toml`."
    )
    st.stop()
st.caption(
    "Published counts per decision-maker and group (no case-level data): the sidebar filters "
    "do not apply here. Every rate has a 95% Wilson interval and its count."
)

# The source with the most decision-makers first: the most to compare.
per_source = (
    units.assign(decided=units["n_decisions"] > 0)
    .groupby("source")
    .agg(n_makers=("decided", "sum"), n_decisions=("n_decisions", "sum"))
    .sort_values(["n_makers", "n_decisions"], ascending=False, kind="stable")
)
c_source, c_group = st.columns(2)
source = filters.choice(
    "Source",
    {
        s: f"{s} ({int(r.n_makers):,} decision-makers, {int(r.n_decisions):,} decisions)"
        for s, r in per_source.iterrows()
    },
    key="source",
    default=str(per_source.index[0]),
    container=c_source,
    help="Each published series is compared within itself, against its own pooled rate.",
)
groups = sorted(units.loc[units["source"] == source, "group_name"].unique())
group = filters.choice(
    "Group",
    {"all": "all groups", **{g: g for g in groups}},
    key="group",
    default="all",
    container=c_group,
    help="The group the source publishes (an office, a region, a type); it narrows what is "
    "shown, the comparison stays the whole source.",
)

result = data.decision_count_flags()
makers = (
    None if result.table is None
    else examiner_figures.decision_makers(result.table, units, source)
)
if result.error or makers is None or makers.empty:
    reason = result.error or "a source needs at least two decision-makers to compare."
    st.warning(f"No comparison, so only the counts are shown: {reason}")
    plain = units[units["source"] == source]
    plain = plain if group == "all" else plain[plain["group_name"] == group]
    rate, low, high = analysis.wilson(plain["n_adverse"], plain["n_decisions"])
    st.dataframe(
        plain.assign(rate=rate, ci_low=low, ci_high=high),
        hide_index=True,
        width="stretch",
        column_order=["maker_id", "group_name", "n_decisions", "n_adverse", "rate", "ci_low",
                      "ci_high"],
        column_config={
            "maker_id": "decision-maker",
            "group_name": "group",
            "n_decisions": "decisions",
            "n_adverse": "adverse",
            "rate": st.column_config.NumberColumn("adverse rate", format="percent"),
            "ci_low": st.column_config.NumberColumn("95% CI low", format="percent"),
            "ci_high": st.column_config.NumberColumn("95% CI high", format="percent"),
        },
    )
    st.stop()
theta0 = float(makers["peer_rate"].iloc[0])
supplied = units.loc[units["source"] == source, "n_expected"].notna().any()
geometry = examiner_figures.funnel_geometry(
    makers,
    null="poisson" if supplied or not 0 < theta0 < 1 else "binomial",
    theta0=theta0,
)
shown = makers if group == "all" else makers[makers["group_name"] == group]

k_all, n_all = int(makers["observed"].sum()), int(makers["n"].sum())
pooled, low, high = analysis.wilson([k_all], [n_all])
m_units, m_rate, m_flagged, m_disp = st.columns(4)
m_units.metric("Decision-makers", f"{len(shown):,}")
m_units.caption(
    f"{int(shown['n'].sum()):,} decisions"
    + (f" in {group}, of {len(makers):,} in {source}" if group != "all" else "")
)
m_rate.metric("Pooled adverse rate", charts.percent(pooled[0]))
m_rate.caption(f"95% CI {100 * low[0]:.1f}–{100 * high[0]:.1f}% · {k_all:,} of {n_all:,}")
m_flagged.metric("Flagged", f"{int(shown['flagged'].sum()):,}")
m_flagged.caption(
    f"q < {examiner_figures.SETTINGS.q} across all of {source}; "
    f"{int((~shown['eligible']).sum()):,} below {examiner_figures.MIN_VOLUME} decisions, "
    "never flagged"
)
m_disp.metric("Over-dispersion τ²", f"{geometry.tau2:.3f}")
m_disp.caption("spread between decision-makers beyond chance, on the O/E scale")

st.subheader("Funnel plot")
null_name = "exact binomial" if geometry.null == "binomial" else "exact Poisson"
st.plotly_chart(
    charts.funnel(
        shown,
        geometry.limits,
        text_col="maker_id",
        volume="decisions",
        null_name=null_name,
        max_labels=8,
    ),
    width="stretch",
)
st.caption(
    "Each point is a decision-maker in one group: adverse decisions against the number the "
    "pooled rate predicts for their volume. Solid lines allow for the over-dispersion the flags "
    f"allow for; dotted are {null_name} limits without it. The 8 flagged decision-makers with "
    "the smallest q are named; hover over a point for the rest. A judge who sat in several "
    "offices has one point per office."
)

st.subheader("Flagged decision-makers" if group == "all" else f"Decision-makers in {group}")
show_all = st.toggle(
    "Show every decision-maker", value=group != "all", key=f"show_all_{group == 'all'}"
)
table = shown if show_all else shown[shown["flagged"]]
if table.empty:
    st.success("No decision-maker is flagged here.")
else:
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_order=[
            "maker_id",
            "group_name",
            "n",
            "observed",
            "raw_rate",
            "expected",
            "ratio",
            "ci_low",
            "ci_high",
            "shrunken_ratio",
            "q_value",
            "flagged",
        ],
        column_config={
            "maker_id": "decision-maker",
            "group_name": "group",
            "n": st.column_config.NumberColumn("decisions", format="%d"),
            "observed": st.column_config.NumberColumn("adverse", format="%d"),
            "raw_rate": st.column_config.NumberColumn("adverse rate", format="percent"),
            "expected": st.column_config.NumberColumn(format="%.1f"),
            "ratio": st.column_config.NumberColumn("O/E", format="%.2f"),
            "ci_low": st.column_config.NumberColumn("95% CI low", format="%.2f"),
            "ci_high": st.column_config.NumberColumn("95% CI high", format="%.2f"),
            "shrunken_ratio": st.column_config.NumberColumn("shrunken O/E", format="%.2f"),
            "q_value": st.column_config.NumberColumn(
                "q", format=examiner_figures.FIGURE_FORMATS["q_value"]
            ),
        },
    )
with st.expander("How this is computed"):
    st.markdown(MEASURES["decision_counts"].words)
    st.markdown(COMMON_WORDS)
