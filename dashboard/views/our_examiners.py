"""Our examiners (insurers): each examiner we use, our volume, their outcomes on our cases
against the market's for the same examiner, and later rulings on their reports."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import analysis, charts, filters, layout, market
from measures.registry import MEASURES

TOP = 20  # examiners drawn in the chart, by our volume; the table lists every one

st.title("Our examiners")
flt = layout.require_database()
if not market.shown():
    st.info(
        "This page is an insurer's: the examiners it uses, on its own cases beside the market. "
        "The Examiners page shows every examiner."
    )
    st.stop()
bench = market.our_examiners(flt)
own, theirs = bench.own, bench.market.set_index("examiner_id")
rows = own[own["examiner_id"] != market.ALL_OUR_EXAMINERS].sort_values(
    ["n_exams", "examiner_id"], ascending=[False, True]
)
layout.stop_if_empty(int(rows["n_exams"].sum()), flt)
layout.scope_caption(flt)

# Rates: the adverse rate among all exams, the denial rate among exams followed by a decision,
# and rulings among the exams a later ruling names: the rulings measure's denominator
# (measures/rulings.py), the same everywhere.
RATES = {
    "adverse": ("Adverse opinion", "n_adverse", "n_exams"),
    "denied": ("Denied after exam", "n_denied", "n_with_decision"),
    "rejected": ("Report rejected", "n_report_rejected", "n_with_ruling"),
    "reversed": ("Decision reversed", "n_decision_reversed", "n_with_ruling"),
}


def rate(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    """Rate, interval and counts of one measure per row; missing where a count is suppressed."""
    _, k, n = RATES[key]
    counts = frame[[k, n]].astype("Float64")
    hidden = counts.isna().any(axis=1).to_numpy(dtype=bool)
    value, low, high = analysis.wilson(counts[k].fillna(0), counts[n].fillna(0))
    return pd.DataFrame(
        {"rate": value, "ci_low": low, "ci_high": high, "k": counts[k].fillna(0),
         "n": counts[n].fillna(0), "hidden": hidden},
        index=frame.index,
    )


def words(r) -> str:
    if r["hidden"]:
        return "suppressed"
    return charts.rate_text(r["rate"], r["ci_low"], r["ci_high"], int(r["k"]), int(r["n"]))


mine = rows.set_index("examiner_id")
everyone = theirs.reindex(mine.index)
table = pd.DataFrame(index=mine.index)
table["our exams"] = mine["n_exams"]
share = mine["n_exams"] / everyone["n_exams"].astype("Float64")
table["our share of their exams"] = [
    "suppressed" if pd.isna(s) else f"about {charts.percent(min(float(s), 1.0))}" for s in share
]
for key, (label, _, _) in RATES.items():
    ours, market_rate = rate(mine, key), rate(everyone, key)
    table[f"{label}: ours"] = [words(r) for _, r in ours.iterrows()]
    table[f"{label}: market"] = [words(r) for _, r in market_rate.iterrows()]

st.subheader(f"{len(rows):,} examiners on our cases")
chart_rows = []
for examiner in list(mine.index[:TOP]):
    for cohort, frame in (("ours", mine), ("market", everyone)):
        r = rate(frame.loc[[examiner]], "adverse").iloc[0]
        if not r["hidden"] and r["n"] > 0:
            chart_rows.append({"group": f"{examiner} · {cohort}", "measure": "adverse",
                               "k": int(r["k"]), "n": int(r["n"]), "rate": r["rate"],
                               "ci_low": r["ci_low"], "ci_high": r["ci_high"]})
if chart_rows:
    long = pd.DataFrame(chart_rows)
    st.plotly_chart(
        charts.rate_dots(long, "group", ["adverse"], analysis.LABELS,
                         muted=[g for g in long["group"] if g.endswith("· market")]),
        width="stretch",
    )
    st.caption(
        f"The {min(TOP, len(rows))} examiners we use most: their adverse-opinion rate on our "
        "cases (coloured) and over every insurer's cases (grey, where disclosure allows), "
        "with 95% Wilson intervals. Not adjusted for case mix: the Examiners page compares "
        "examiners on similar cases."
    )
st.dataframe(table.reset_index(names="examiner"), hide_index=True, width="stretch")
st.caption(
    "Market figures are every insurer's exams with the same examiner, suppressed where the "
    "count, or the part of it from other insurers, is below 11, and rounded to a multiple of "
    "11; our share is therefore approximate. Rulings: among the exams a later ruling names "
    f"(the rulings measure, \"{MEASURES['rulings'].rate}\"), the share whose report it "
    "rejected, and the share whose decision it reversed."
)
totals = own[own["examiner_id"] == market.ALL_OUR_EXAMINERS].iloc[0]
st.markdown(
    f"Over these examiners: **{int(totals['n_with_ruling']):,}** of our "
    f"{int(totals['n_exams']):,} exams have a later ruling; "
    f"{int(totals['n_report_rejected']):,} rejected the report and "
    f"{int(totals['n_decision_reversed']):,} reversed the decision. "
    f"Filters: {filters.describe(flt)}."
)
