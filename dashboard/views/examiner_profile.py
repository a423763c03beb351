"""Examiner profile: every measure of one examiner against peers, and the reasons behind each."""

from __future__ import annotations

import streamlit as st

from dashboard import analysis, charts, data, examiner_figures, filters, layout, watching
from dashboard.watching import history_table
from measures.drift import drift_threshold

st.title("Examiner profile")
flt = layout.require_database()
volumes = data.examiners(flt)
layout.stop_if_empty(int(volumes["n_exams"].sum()), flt)
layout.scope_caption(flt)

ranked = volumes.sort_values(["n_exams", "examiner_id"], ascending=[False, True])
names = data.examiner_names()
# Labels must not depend on the filters: the widget keeps its choice by label.
options = {
    e: f"{shown} · {filters.pretty(s)}"
    for e, shown, s in zip(
        ranked["examiner_id"],
        examiner_figures.labels(ranked["examiner_id"], names),
        ranked["specialty"],
        strict=True,
    )
}
c_pick, c_back = st.columns([3, 1], vertical_alignment="bottom")
examiner = filters.choice(
    "Examiner", options, key="examiner", default=None, container=c_pick,
    placeholder="Choose an examiner" + (" (type a name or an id)" if not names.empty else ""),
)
c_back.page_link(
    "views/examiners.py",
    label="All examiners",
    icon=":material/groups:",
    query_params=filters.to_url(flt),
)
if examiner is None:
    # Nobody is shown, and so no view is logged, until the reader chooses one.
    st.info("Choose an examiner above, or open one from the Examiners page.")
    st.stop()
data.examiner_viewed(examiner)
me = ranked[ranked["examiner_id"] == examiner].iloc[0]
specialty = str(me["specialty"])
n_exams = int(me["n_exams"])

result = data.flags(flt)
flags = result.table
if result.error or flags is None:
    st.warning(f"The flags could not be computed for this view. {result.error or ''}")
    mine = None
else:
    mine = examiner_figures.examiner_measures(flags, examiner)

m_exams, m_spec, m_flags, m_top = st.columns(4)
m_exams.metric("Exams", f"{n_exams:,}")
if n_exams < examiner_figures.MIN_VOLUME:
    m_exams.caption(f"below the minimum volume of {examiner_figures.MIN_VOLUME}: never flagged")
m_spec.metric("Specialty", filters.pretty(specialty))
m_spec.caption(f"compared with {int((volumes['specialty'] == specialty).sum()) - 1} peers")
if mine is not None:
    m_flags.metric("Flagged measures", f"{int(mine['flagged'].sum())} of {len(mine)}")
    flagged_rows = mine[mine["flagged"]]
    flagged_labels = ", ".join(
        f"{label.lower()} ({side})"
        for label, side in zip(flagged_rows["label"], flagged_rows["direction"], strict=True)
    )
    m_flags.caption(flagged_labels or "no measure flagged")
if not names.empty:
    m_top.metric("Name", str(names.get(examiner, "–")))

if data.current_scope().role == "regulator" and st.button("Prepare the audit pack (HTML and PDF)"):
    pack = data.audit_pack(examiner, flt)
    if pack.note:
        st.warning(pack.note)
    st.download_button(f"Download {pack.name}", pack.payload, file_name=pack.name,
                       mime="application/zip")
    st.caption("Every measure against peers, charts, the method in words, the data snapshot hash "
               "and a section for the examiner's reply. Recorded in the audit log.")

if data.current_scope().role == "regulator":
    watching.follow_toggle(examiner)

# --- All measures against peers --------------------------------------------------------------
st.subheader("Every measure against peers")
if mine is None or mine.empty:
    st.info("No measure has figures for this examiner under these filters.")
else:
    st.plotly_chart(charts.forest(mine, "label"), width="stretch")
    st.caption(
        "Observed/expected with its 95% interval (colour: vermillion flagged, blue not flagged, "
        "grey below the minimum volume); the hollow diamond is the shrunken (empirical Bayes) "
        "estimate, pulled towards 1 by how little the volume tells."
    )
    st.dataframe(
        layout.dashes(mine, examiner_figures.FIGURE_FORMATS),
        hide_index=True,
        width="stretch",
        column_order=[
            "label",
            "flagged",
            "direction",
            "n",
            "ratio",
            "ci_low",
            "ci_high",
            "q_value",
            "shrunken_ratio",
            "raw_rate",
            "peer_rate",
            "observed",
            "expected",
            "peer_group",
        ],
        column_config={
            "label": "measure",
            "direction": st.column_config.TextColumn(
                "side", help="high: more than expected; low: fewer than expected"
            ),
            "n": "volume",
            "raw_rate": "raw rate",
            "peer_rate": "comparison rate",
            "ratio": "O/E",
            "ci_low": "95% CI low",
            "ci_high": "95% CI high",
            "shrunken_ratio": "shrunken O/E",
            "q_value": "q",
            "peer_group": "compared with",
        },
    )
    st.markdown("**Each measure in words.** A flag is a reason to look, not a verdict.")
    words, common = examiner_figures.explanations(flags, examiner)
    for item in words:
        label = examiner_figures.MEASURE_LABELS[item.measure]
        with st.expander(
            f"{label}: {'flagged ' + item.direction if item.flagged else 'not flagged'}",
            expanded=item.flagged,
        ):
            st.markdown("  \n".join(item.lines))
    st.caption(common)

# --- Flags per load --------------------------------------------------------------------------
if data.current_scope().role == "regulator":
    st.subheader("Flags per load")
    history = data.flag_history(examiner)
    if history.empty:
        st.info("No load has stored flags for this examiner yet (the history starts with the "
                "first load that keeps it).")
    else:
        per_load = history_table(history)
        st.dataframe(per_load, hide_index=True, width="stretch")
        st.caption(
            "Each stored load's flags for this examiner, unfiltered, oldest load first: the "
            "measure and side flagged, or a dash when none was. `ime flags --history "
            f"{examiner}` prints the figures behind them."
        )

# --- Allegiance ------------------------------------------------------------------------------
st.subheader("Allegiance: adverse opinions by who retained the examiner")
side_rates = examiner_figures.allegiance_rates(data.examiner_requesters(flt, examiner), specialty)
side_labels = list(examiner_figures.SIDES.values())
st.plotly_chart(
    charts.cohort_rates(
        side_rates, overall=examiner_figures.cohort_totals(side_rates, side_labels)
    ),
    width="stretch",
)
if mine is not None and "allegiance" in set(mine["measure"]):
    a = mine.set_index("measure").loc["allegiance"]
    st.markdown(
        f"Retained by an insurer or employer, the examiner's odds of an adverse opinion were "
        f"{a['ratio']:.2f} times their odds when retained by a claimant or neutral, on cases "
        f"of like case-mix risk (95% CI {a['ci_low']:.2f} to {a['ci_high']:.2f}; "
        f"Mantel-Haenszel, one-sided exact conditional mid-p test, q = {a['q_value']:.3g}; smaller "
        f"side {int(a['n']):,} exams)."
        if a["q_value"] == a["q_value"]
        else f"Too few exams on the smaller side ({int(a['n']):,}) to test allegiance: "
        f"at least {examiner_figures.MIN_VOLUME} are needed on each side."
    )
st.caption(
    "Raw adverse rates with 95% Wilson intervals; the dotted line is each cohort's rate over "
    "the two sides. The comparison of sides within the examiner is case-mix adjusted in the "
    "allegiance measure above; these rates are not."
)

# --- Referral dependence ---------------------------------------------------------------------
st.subheader("Referral dependence: where the exams come from")
# An insurer sees only its own exams, so its "top insurer share" is always 100%: the page
# Our examiners gives its share of each examiner's volume against the market instead.
ref = (
    None if data.current_scope().role == "insurer"
    else examiner_figures.referrals(data.examiner_insurers(flt), examiner)
)
if data.current_scope().role == "insurer":
    st.info(
        "You see your own cases only, so every examiner's exams here come from you. Your "
        "share of each examiner's volume, against the market, is on the Our examiners page."
    )
elif ref is None:
    st.info("No exams with an insurer in view.")
else:
    peers_ref = ref.by_examiner[ref.by_examiner["examiner_id"] != examiner]
    r_top, r_hhi, r_n = st.columns(3)
    r_top.metric("Top insurer share", charts.percent(ref.summary.top_share))
    r_top.caption(
        f"{ref.top_insurer}: {ref.summary.top_count:,} of {ref.summary.n_total:,} exams "
        f"(95% CI {100 * ref.top_ci_low:.1f}–{100 * ref.top_ci_high:.1f}%)"
        + (f"; peers' median {charts.percent(peers_ref['top_share'].median())}"
           if len(peers_ref) else "")
    )
    r_hhi.metric("Herfindahl index", f"{ref.summary.hhi:.3f}")
    r_hhi.caption(
        f"sum of squared insurer shares, 1/{ref.summary.n_categories} to 1"
        + (f"; peers' median {peers_ref['hhi'].median():.3f}" if len(peers_ref) else "")
    )
    r_n.metric("Insurers", f"{ref.summary.n_categories:,}")
    r_n.caption(f"as concentrated as {ref.summary.equivalent_number:.1f} equal-sized insurers")
    st.plotly_chart(charts.share_bars(ref.shares, "insurer_id"), width="stretch")

# --- Drift -----------------------------------------------------------------------------------
st.subheader("Drift: a change in the examiner's own behaviour over time")
threshold = drift_threshold(flags) if flags is not None else None
if threshold is None:
    st.info(
        "No examiner in view has enough exams for a drift chart "
        f"(twice the minimum volume, {2 * examiner_figures.MIN_VOLUME})."
    )
else:
    try:
        path = data.examiner_drift(flt, examiner, threshold)
    except RuntimeError as exc:
        path = None
        st.warning(f"The drift chart could not be computed for this view. {exc}")
    if path is None:
        st.info(
            f"{examiner} has too few exams in view for a drift chart: it needs "
            f"{2 * examiner_figures.MIN_VOLUME}, a baseline and the exams after it."
        )
    else:
        st.plotly_chart(charts.cusum(path, threshold), width="stretch")
        st.caption(
            "Risk-adjusted CUSUM (Steiner 2000) of adverse opinions after the examiner's own "
            "baseline (their first exams), looking for a doubling of the odds; the dashed line "
            "is the threshold set so that at most 5% of examiners without a change would cross "
            "it. It rises when opinions are more adverse than the baseline predicts for the "
            "cases seen, and falls back towards 0 otherwise."
        )

# --- Agreement -------------------------------------------------------------------------------
st.subheader("Agreement with other raters of the same cases")
k_col, w_col = st.columns(2)
with k_col:
    st.markdown("**Causation, against other examiners (Cohen's kappa)**")
    own = examiner_figures.causation_agreement(data.causation_pairs(flt, examiner))
    panel = examiner_figures.causation_agreement(data.causation_pairs(flt, None))
    if own.kappa is None:
        st.info(
            f"{own.n_pairs} cases shared with another examiner where both gave a causation "
            "opinion: too few for kappa (at least 10)."
        )
    else:
        k = own.kappa
        st.metric("Kappa on causation", f"{k.kappa:.2f}")
        st.caption(
            f"95% CI {k.ci_low:.2f} to {k.ci_high:.2f}; {own.n_pairs:,} pairs of exams of the "
            f"same case with {own.n_other_examiners} other examiners"
            + (
                f". All pairs of examiners in view: {panel.kappa.kappa:.2f} "
                f"({panel.n_pairs:,} pairs)"
                if panel.kappa is not None
                else ""
            )
        )
with w_col:
    st.markdown("**Impairment (WPI), against treating ratings**")
    pairs = data.examiner_treating_pairs(flt, examiner)
    treat = examiner_figures.treating_agreement(pairs)
    if treat.icc is None:
        st.info(f"{treat.n_pairs} rated exams with a treating rating: at least 3 are needed.")
    else:
        i, ba = treat.icc, treat.bland_altman
        w1, w2 = st.columns(2)
        w1.metric("ICC", f"{i.icc:.2f}")
        w1.caption(f"one-way, 95% CI {i.ci_low:.2f} to {i.ci_high:.2f}; {treat.n_pairs:,} cases")
        w2.metric("Mean gap to treating", f"{ba.bias:+.1f} points")
        w2.caption(
            f"95% CI {ba.bias_ci_low:+.1f} to {ba.bias_ci_high:+.1f}; Wilcoxon "
            f"{analysis.p_text(treat.paired.p_value)}; limits of agreement {ba.loa_low:+.1f} to "
            f"{ba.loa_high:+.1f}"
        )
if own.n_pairs:
    with st.expander(f"Causation opinions of {examiner} against the other examiner, case by case"):
        st.dataframe(own.table.rename(index=filters.pretty, columns=filters.pretty))
if treat.icc is not None:
    st.plotly_chart(charts.bland_altman(pairs, treat.bland_altman), width="stretch")
    st.caption(
        "IME minus the treating physician's rating of the same case nearest in time: negative "
        "when the IME rates lower. The ICC treats each case as a target rated twice."
    )

# --- Later rulings ---------------------------------------------------------------------------
st.subheader("Later rulings on the examiner's reports")
ruling_rates = examiner_figures.rulings_rates(data.examiner_rulings(flt), examiner)
if ruling_rates.empty or ruling_rates["k"].sum() == 0:
    st.info("No later ruling rejected a report or reversed a decision for this examiner or peers.")
else:
    st.plotly_chart(charts.cohort_rates(ruling_rates), width="stretch")
    ruled = ruling_rates.groupby("measure", sort=False)["n_ruled"].first()
    st.caption(
        "Among exams a later ruling names, the share whose report it rejected or whose "
        f"decision it reversed, with 95% Wilson intervals ({int(ruled.iloc[0]):,} of the "
        "examiner's exams had a ruling). The case-mix adjusted comparison with peers is the "
        "rulings measure in the table above."
    )
