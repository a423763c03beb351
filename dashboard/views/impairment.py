"""Impairment: an examiner's WPI ratings against peers of the same specialty; gap to treating."""

from __future__ import annotations

import streamlit as st

from dashboard import analysis, charts, data, filters, layout, market
from dashboard.examiner_figures import label as examiner_label
from measures.labels import human

MIN_VOLUME = 30  # rated exams; below it an examiner is shown but never flagged

st.title("Impairment ratings")
flt = layout.require_database()
examiners = data.query("examiner_volumes", flt)
rated = examiners[examiners["n_rated"] > 0].sort_values(
    ["n_rated", "examiner_id"], ascending=[False, True]
)
layout.stop_if_empty(int(examiners["n_exams"].sum()), flt)
if rated.empty:
    st.warning("No exam in view has an impairment rating.")
    st.stop()
layout.scope_caption(flt)

if market.shown():
    # An insurer's ratings beside the market's (every insurer; suppressed and rounded), per
    # body part over every guides edition, from the impairment export table.
    st.subheader("Our ratings against the market (all insurers)")
    rows = market.export_rows("impairment_distribution", flt)
    rows = rows[rows["guides_edition"] == "all"].sort_values(["body_part", "population"])
    st.dataframe(
        rows[["body_part", "population", "n_rated", "zero_wpi_rate", "zero_wpi_rate_ci_low",
              "zero_wpi_rate_ci_high", "wpi_median", "gap_mean_wpi_points"]],
        hide_index=True,
        width="stretch",
        column_config={
            "body_part": "body part ('all': every body part)",
            "population": "whose cases",
            "n_rated": st.column_config.NumberColumn("rated exams", format="%d"),
            "zero_wpi_rate": st.column_config.NumberColumn("zero-rating share", format="percent"),
            "zero_wpi_rate_ci_low": st.column_config.NumberColumn("95% CI low", format="percent"),
            "zero_wpi_rate_ci_high": st.column_config.NumberColumn("95% CI high",
                                                                   format="percent"),
            "wpi_median": st.column_config.NumberColumn("median WPI %", format="%.1f"),
            "gap_mean_wpi_points": st.column_config.NumberColumn(
                "mean gap to treating (points)", format="%+.1f"
            ),
        },
    )
    st.caption(
        "Blank market cells are suppressed: counts below 11, or whose other-insurer part is, "
        "with every figure built on them; market counts are rounded to multiples of 11 and "
        "their shares computed from the rounded counts."
    )

# Labels must not depend on the filters: the widget keeps its choice by label.
names = data.examiner_names()
options = {
    e: f"{examiner_label(e, names)} · {human(s)}"
    for e, s in zip(rated["examiner_id"], rated["specialty"], strict=True)
}
editions = data.query("wpi_editions", flt)
body_parts = data.filter_options()["body_part"]
c1, c2, c3 = st.columns([2, 1, 1])
examiner = filters.choice(
    "Examiner", options, key="examiner", default=next(iter(options)), container=c1
)
body_part = filters.choice(
    "Body part",
    {"all": "all body parts", **{b: human(b) for b in body_parts}},
    key="body_part",
    default="all",
    container=c2,
)
edition = filters.choice(
    "Guides edition",
    {"all": "all editions", **{e: e for e in editions["guides_edition"]}},
    key="edition",
    default="all",
    container=c3,
    help="Ratings under different editions of the guides are not comparable; "
    "choose one to compare like with like.",
)
params = dict(
    examiner_id=examiner,
    body_part=None if body_part == "all" else body_part,
    guides_edition=None if edition == "all" else edition,
)
counts = data.query("wpi_counts", flt, **params)
result = analysis.compare_wpi(counts, examiner)

if result.cohorts.empty or examiner not in set(counts["examiner_id"]):
    st.warning("This examiner has no rated exam for this body part and edition.")
else:
    zero = result.zero_shares.set_index("cohort")
    mine = zero.iloc[0]
    peers = zero.iloc[1] if len(zero) > 1 else None
    n_mine = int(mine["n"])
    if n_mine < MIN_VOLUME:
        st.info(
            f"{examiner} has {n_mine} rated exams here, below the minimum volume of "
            f"{MIN_VOLUME}: the figures are shown, but an examiner this small is never flagged."
        )
    m1, m2, m3 = st.columns(3)
    m1.metric(f"Zero ratings, {examiner}", charts.percent(mine["rate"]))
    m1.caption(
        charts.rate_text(mine["rate"], mine["ci_low"], mine["ci_high"], int(mine["k"]), n_mine)
    )
    if peers is not None:
        m2.metric(f"Zero ratings, {zero.index[1]}", charts.percent(peers["rate"]))
        m2.caption(
            charts.rate_text(
                peers["rate"], peers["ci_low"], peers["ci_high"], int(peers["k"]), int(peers["n"])
            )
        )
    if result.zero_test is not None and result.location_test is not None:
        zt, mw = result.zero_test, result.location_test
        m3.metric("Difference in zero share", f"{100 * zt.difference:+.1f} points")
        m3.caption(f"{zt.method}, {analysis.p_text(zt.p_value)}")
        st.markdown(
            f"Whole distribution: Mann-Whitney {analysis.p_text(mw.p_value)}; rank-biserial "
            f"r = {mw.rank_biserial:+.2f} (from -1 to +1; positive when this examiner tends to "
            "rate higher than peers, negative when lower). Not adjusted for case mix: a single "
            "comparison, not a flag."
        )
    tab_ecdf, tab_hist, tab_violin = st.tabs(
        ["Cumulative distribution", "Histogram", "Violins by examiner"]
    )
    with tab_ecdf:
        st.plotly_chart(charts.ecdf(result.cohorts, "wpi_percent"), width="stretch")
    with tab_hist:
        st.plotly_chart(charts.share_histogram(result.cohorts, "wpi_percent"), width="stretch")
    with tab_violin:
        st.plotly_chart(
            charts.violins(
                analysis.violin_values(counts, examiner),
                "examiner_id",
                "wpi_percent",
                highlight=examiner,
            ),
            width="stretch",
        )
        st.caption(
            "The chosen examiner (orange) and the busiest peers of the same specialty; the "
            "other peers' ratings pooled into one violin ('N others')."
        )

    st.subheader("Zero-rating share by examiner (same specialty)")
    per = result.by_examiner.sort_values(["n_rated", "examiner_id"], ascending=[False, True])
    # The chosen examiner and the busiest peers; the other peers pooled into one row.
    per = analysis.top_n(per, "examiner_id", "n_rated", keep=[examiner])
    pooled_apart = set(result.by_examiner["examiner_id"])  # every row but the 'N others' one
    rate, low, high = analysis.wilson(per["n_zero"], per["n_rated"])
    per_rates = per.assign(
        measure="zero_wpi", k=per["n_zero"], n=per["n_rated"], rate=rate, ci_low=low, ci_high=high
    )
    labels = {
        e: (f"{e} (below minimum volume)" if n < MIN_VOLUME and e in pooled_apart else e)
        for e, n in zip(per["examiner_id"], per["n_rated"], strict=True)
    }
    overall = per_rates.sum(numeric_only=True)
    overall_row = analysis.rates_long(
        overall.to_frame().T.assign(n_zero_wpi=overall["n_zero"], n_rated=overall["n_rated"]),
        [],
        ("zero_wpi",),
    )
    st.plotly_chart(
        charts.rate_dots(
            per_rates,
            "examiner_id",
            ["zero_wpi"],
            analysis.LABELS,
            overall_row,
            group_labels=labels,
        ),
        width="stretch",
    )
    st.caption(
        f"Examiners with fewer than {MIN_VOLUME} rated exams are shown but never flagged. "
        f"Beyond the {analysis.TOP_N - 1} busiest, the examiners are pooled into one row "
        "('N others'): their rated exams together."
    )

st.subheader("Gap to the treating physician's rating")
whose = st.radio(
    "Pairs", ["this examiner", "all examiners in view"], horizontal=True, key="gap_scope"
)
pairs = data.query(
    "rating_pair_counts",
    flt,
    **{**params, "examiner_id": examiner if whose == "this examiner" else None},
)
gap = analysis.rating_gap(pairs)
st.plotly_chart(charts.bland_altman(pairs, gap.bland_altman), width="stretch")
if gap.paired is not None:
    pg, ba = gap.paired, gap.bland_altman
    st.markdown(
        f"{gap.n_pairs:,} exams with a treating rating of the same case. Mean gap (IME minus "
        f"treating) {ba.bias:+.1f} points (95% CI {ba.bias_ci_low:+.1f} to "
        f"{ba.bias_ci_high:+.1f}); median gap {pg.median_gap:+.1f}, Hodges-Lehmann "
        f"{pg.hodges_lehmann:+.1f}; the IME rated lower in {100 * pg.share_ime_lower:.0f}% and "
        f"equal in {100 * pg.share_tied:.0f}% of pairs "
        f"(Wilcoxon signed-rank, {analysis.p_text(pg.p_value)}). Limits of agreement "
        f"{ba.loa_low:+.1f} to {ba.loa_high:+.1f} points."
    )
else:
    st.caption(f"{gap.n_pairs} pairs: at least 3 are needed.")
