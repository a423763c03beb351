"""Overview: volumes, headline rates with intervals, time to MMI, trends, last load, flags."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st

from dashboard import analysis, charts, data, examiner_figures, layout, market, periods, watching
from measures.labels import human
from measures.registry import LABELS as MEASURE_LABELS
from queries import Filters

TRENDS = ("adverse", "denied", "zero_wpi")


@dataclass(frozen=True)
class Trends:
    """The view's headline statistics and trend charts (the market's beside them, insurers)."""

    grain: str
    headline: pd.DataFrame
    mmi: analysis.MmiSummary
    market_headline: pd.DataFrame | None
    volume_chart: object
    sparklines: dict


# The statistics and the trend charts are the same for every session on a view: computed once
# per data.view_key (the snapshot, so a load recomputes them, and the reader's scope, so an
# insurer's market and own figures are its own), not on every run of every session. A
# resource, not data: st.plotly_chart only reads the figures.
@st.cache_resource(ttl=data.RESULT_TTL_SECONDS, max_entries=64, show_spinner=False)
def trends(view: tuple, _flt: Filters) -> Trends:
    monthly = data.query("rates_by_month", _flt)
    grain = periods.choose_grain(monthly)
    per_period = periods.aggregate(monthly, grain)
    trend = analysis.rates_long(per_period, ["period", "thin"], TRENDS)
    # An insurer sees the market (every insurer, suppressed and rounded) beside its own figures.
    benchmark = market.benchmark(_flt) if market.shown() else None
    market_trend = (
        market.with_periods(market.benchmark(_flt, grain=grain).rates("market", TRENDS))
        if benchmark is not None
        else None
    )
    headline = analysis.rates_long(
        analysis.overall_counts(data.query("rates_by_group", _flt, dimension="all")),
        [],
        ("adverse", "denied", "partially_denied", "zero_wpi"),
    ).set_index("measure")
    return Trends(
        grain=grain,
        headline=headline,
        mmi=analysis.kaplan_meier_by_group(data.query("mmi_counts", _flt, group_by="all")),
        market_headline=None if benchmark is None else benchmark.total("market"),
        volume_chart=charts.freeze(charts.volume_trend(per_period, "period", grain)),
        sparklines={
            m: charts.freeze(
                charts.sparkline(trend, "period", m, grain=grain, market=market_trend)
            )
            for m in TRENDS
        },
    )


st.title("IME outcomes")
flt = layout.require_database()
totals = data.query("overview_totals", flt).iloc[0]
layout.stop_if_empty(int(totals["n_exams"]), flt)
layout.scope_caption(flt)

shown = trends(data.view_key(flt), flt)
grain, headline, mmi, market_headline = (
    shown.grain, shown.headline, shown.mmi, shown.market_headline
)


def rate_metric(column, measure: str, label: str) -> None:
    row = headline.loc[measure]
    column.metric(label, charts.percent(row["rate"]))
    if row["n"] > 0:
        column.caption(
            f"95% CI {100 * row['ci_low']:.1f}–{100 * row['ci_high']:.1f}% · "
            f"{int(row['k']):,} of {int(row['n']):,}"
        )
    else:
        column.caption("no exams with this opinion")
    if market_headline is not None:
        column.caption(f"Market: {market.rate_words(market_headline.loc[measure])}")


c_volume, c_adverse, c_denied, c_mmi, c_zero = st.columns(5)
c_volume.metric("Exams", f"{int(totals['n_exams']):,}")
c_volume.caption(f"by {int(totals['n_examiners']):,} examiners")
rate_metric(c_adverse, "adverse", "Adverse opinion rate")
rate_metric(c_denied, "denied", "Denied after exam")
if len(mmi.medians):
    m = mmi.medians.iloc[0]
    c_mmi.metric(
        "Median days to MMI", "not reached" if m["median"] != m["median"] else f"{m['median']:,.0f}"
    )
    high = (
        "not reached"
        if m["median_ci_high"] != m["median_ci_high"]
        else f"{m['median_ci_high']:,.0f}"
    )
    c_mmi.caption(
        f"95% CI {m['median_ci_low']:,.0f} to {high} · Kaplan-Meier, "
        f"{int(m['n_censored']):,} of {int(m['n']):,} censored"
    )
else:
    c_mmi.metric("Median days to MMI", "–")
    c_mmi.caption("no MMI opinions")
if market_headline is not None:
    # The market's median over every insurer, from the time-to-MMI export's market rows.
    rows = market.export_rows("mmi_summary", flt)
    overall = rows[(rows["population"] == market.MARKET_ROWS) & (rows["grouping"] == "all")]
    if overall.empty or pd.isna(overall["n_exams"].iloc[0]):
        c_mmi.caption("Market: suppressed (too few exams to show)")
    else:
        m = overall.iloc[0]
        reached = "not reached" if pd.isna(m["median_days_to_mmi"]) else (
            f"{m['median_days_to_mmi']:,.0f} days"
        )
        high = "not reached" if pd.isna(m["median_ci_high"]) else f"{m['median_ci_high']:,.0f}"
        interval = "" if pd.isna(m["median_ci_low"]) else (
            f" (95% CI {m['median_ci_low']:,.0f} to {high})"
        )
        c_mmi.caption(f"Market: median {reached}{interval}, {int(m['n_exams']):,} exams")
rate_metric(c_zero, "zero_wpi", "Zero impairment")

s_volume, s_adverse, s_denied, s_mmi, s_zero = st.columns(5)
s_volume.plotly_chart(
    shown.volume_chart,
    width="stretch",
    config={"displayModeBar": False},
)
for column, measure in ((s_adverse, "adverse"), (s_denied, "denied"), (s_zero, "zero_wpi")):
    column.plotly_chart(
        shown.sparklines[measure],
        width="stretch",
        config={"displayModeBar": False},
        key=f"trend_{measure}",  # two "no data" charts would otherwise share one id
    )
partial = headline.loc["partially_denied"]
s_mmi.caption(
    f"Partially denied or reduced after exam: {charts.percent(partial['rate'])} "
    + (
        f"(95% CI {100 * partial['ci_low']:.1f}–{100 * partial['ci_high']:.1f}%, "
        f"{int(partial['k']):,} of {int(partial['n']):,})"
        if partial["n"] > 0
        else ""
    )
)
st.caption(
    f"Trend lines: {periods.GRAIN_WORDS[grain]} volumes and rates with 95% bands; grey: "
    f"{grain}s with fewer than {periods.MIN_EXAMS_PER_PERIOD} exams, too few to read. "
    + (
        "Dashed grey: the market (all insurers; counts below 11, or whose other-insurer part "
        "is, suppressed; counts rounded to multiples of 11). "
        if market_headline is not None
        else ""
    )
    + "Denials count exams followed by a decision within 90 days of the report or linked to "
    "the exam."
)

if data.can_see_bookkeeping():
    st.divider()
    st.subheader("What changed since the last load")
    history = data.query("dq_load_history")
    if history.empty:
        st.info("No load is recorded in this database.")
    else:
        last = history.iloc[0]
        st.markdown(
            f"Load **{int(last['load_id'])}** finished {last['finished_at']:%Y-%m-%d %H:%M}: "
            f"{int(last['n_files']):,} files, {int(last['n_read']):,} rows read, "
            f"**{int(last['n_inserted']):,} new**, {int(last['n_replaced']):,} replaced, "
            f"{int(last['n_unchanged']):,} unchanged, "
            f"**{int(last['n_quarantined']):,} quarantined** (see Data quality)."
        )
        files = data.query("dq_load_files")
        files = files[(files["load_id"] == last["load_id"]) & files["entity"].notna()]
        per_entity = files.groupby("entity", as_index=False)[
            ["n_read", "n_inserted", "n_replaced", "n_unchanged", "n_quarantined"]
        ].sum()
        st.dataframe(
            per_entity,
            hide_index=True,
            width="stretch",
            column_config={
                "entity": "table",
                "n_read": "read",
                "n_inserted": "new",
                "n_replaced": "replaced",
                "n_unchanged": "unchanged",
                "n_quarantined": "quarantined",
            },
        )
        if len(history) > 1:
            st.caption(
                f"{len(history) - 1} earlier load{'s' if len(history) > 2 else ''}; the "
                f"database now holds the result of all {len(history)}."
            )
    watching.flag_changes_section(data.examiner_names())
    watching.watchlist_section(data.examiner_names())

st.divider()
st.subheader("Examiners currently flagged")
# Last on the page: the slowest figure (cached per snapshot and filters after the first time).
result = data.flags(flt)
flags = result.table
if result.error:
    st.warning(f"The flags could not be computed for this view. {result.error}")
if flags is not None:
    flagged = flags[flags["flagged"].fillna(False).astype(bool)]
    # Volume is judged on all exams (the adverse-opinion measure), not on subgroups.
    volume = flags[flags["measure"] == "adverse_opinion"] if "eligible" in flags else flags.iloc[:0]
    small = volume.loc[~volume["eligible"].astype(bool), "examiner_id"].nunique()
    if flagged.empty:
        st.success("No examiner is flagged under these filters.")
    else:
        st.caption(
            f"{flagged['examiner_id'].nunique():,} examiners flagged on "
            f"{len(flagged):,} measures (q < 0.05 after Benjamini-Hochberg, case-mix "
            "adjusted, over-dispersion allowed for). A flag is a reason to look, not a verdict."
        )
        flagged = examiner_figures.with_names(
            flagged.sort_values(["q_value", "examiner_id"]), data.examiner_names()
        )
        # The ratio named as the registry names each measure's (O/E, allegiance's odds ratio).
        ratio_headings = layout.with_formats(
            {k: v for k, v in layout.examiner_figure_headings(flagged["measure"]).items()
             if k in ("ratio", "shrunken_ratio")},
            examiner_figures.FIGURE_FORMATS,
            ("ratio", "shrunken_ratio"),
        )
        # Measures and peer groups (specialties) in words, not their stored codes.
        flagged = flagged.assign(
            measure=flagged["measure"].map(MEASURE_LABELS),
            peer_group=flagged["peer_group"].map(human),
        )
        st.dataframe(
            flagged,
            hide_index=True,
            width="stretch",
            column_order=[
                c
                for c in (
                    "examiner_id",
                    "examiner_name",
                    "measure",
                    "direction",
                    "peer_group",
                    "n",
                    "observed",
                    "expected",
                    "ratio",
                    "ci_low",
                    "ci_high",
                    "shrunken_ratio",
                    "raw_rate",
                    "peer_rate",
                    "q_value",
                )
                if c in flagged
            ],
            column_config={
                "examiner_id": "examiner",
                "examiner_name": "name",
                "direction": "side",
                "peer_group": "compared with",
                **ratio_headings,
                "ci_low": st.column_config.NumberColumn("95% CI low", format="%.2f"),
                "ci_high": st.column_config.NumberColumn("95% CI high", format="%.2f"),
                "expected": st.column_config.NumberColumn(format="%.1f"),
                "raw_rate": st.column_config.NumberColumn("raw rate", format="percent"),
                "peer_rate": st.column_config.NumberColumn("peer rate", format="percent"),
                "q_value": st.column_config.NumberColumn(
                "q", format=examiner_figures.FIGURE_FORMATS["q_value"]
            ),
            },
        )
    if small:
        st.caption(
            f"{small:,} examiners have fewer exams than the minimum volume: their figures are "
            "shown on the other pages, but they are never flagged."
        )
