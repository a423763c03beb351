"""Examiner profile: every measure of one examiner against peers, and the reasons behind each."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st

from dashboard import analysis, charts, data, examiner_figures, filters, layout, watching
from dashboard.watching import history_table
from measures.drift import drift_threshold
from measures.labels import human
from measures.registry import MEASURES, ratio_label
from queries import Filters


# The picker lists every examiner in view (thousands): labelled once per view, not on every
# run of every session. data.view_key holds the snapshot and the reader's scope, and so whether
# the reader may see names.
@st.cache_data(ttl=data.RESULT_TTL_SECONDS, max_entries=64, show_spinner=False)
def picker_options(view: tuple, _ranked: pd.DataFrame, _names: pd.Series) -> dict[str, str]:
    names = _names.to_dict()
    # Labels must not depend on the filters: the widget keeps its choice by label.
    return {
        e: f"{examiner_figures.label(e, names)} · {human(s)}"
        for e, s in zip(_ranked["examiner_id"], _ranked["specialty"], strict=True)
    }


# What every profile of a view compares its examiner with: the same for each examiner (of a
# specialty), so computed once per view rather than in each examiner's profile.
@st.cache_data(ttl=data.RESULT_TTL_SECONDS, max_entries=64, show_spinner=False)
def specialty_referrals(view: tuple, specialty: str, _flt: Filters) -> pd.DataFrame:
    counts = data.examiner_insurers(_flt)
    return examiner_figures.concentration_by_examiner(counts[counts["specialty"] == specialty])


@st.cache_resource(ttl=data.RESULT_TTL_SECONDS, max_entries=64, show_spinner=False)
def panel_agreement(view: tuple, _flt: Filters) -> examiner_figures.CausationAgreement:
    return examiner_figures.causation_agreement(data.causation_pairs(_flt, None))


@dataclass(frozen=True)
class Profile:
    """Everything the page shows of one examiner in one view: figures, statistics, charts."""

    flags_error: str | None
    mine: pd.DataFrame | None  # None when the view's flags could not be computed
    forest: object | None
    words: list
    common: str
    allegiance: object
    referrals: examiner_figures.Referrals | None
    share_bars: object | None
    drift_threshold: float | None
    drift: pd.DataFrame | None
    drift_error: str | None
    cusum: object | None
    own_agreement: examiner_figures.CausationAgreement
    panel_agreement: examiner_figures.CausationAgreement
    treating: examiner_figures.TreatingAgreement
    bland_altman: object | None
    rulings: pd.DataFrame
    rulings_chart: object | None


# A profile's statistics and Plotly figures take about a second of Python (under the GIL) to
# build: built once per view (snapshot, scope, filters: data.view_key, so an insurer's key holds
# its insurers and a load changes it) and examiner, for every session, not on every run. A
# resource, not data: the figures are read by st.plotly_chart, never changed (frozen: their
# JSON is made once too), and a copy per run would be validated by Plotly again.
@st.cache_resource(ttl=data.RESULT_TTL_SECONDS, max_entries=64, show_spinner=False)
def profile(view: tuple, examiner: str, specialty: str, _flt: Filters) -> Profile:
    result = data.flags(_flt)
    flags = None if result.error else result.table
    mine = None if flags is None else examiner_figures.examiner_measures(flags, examiner)
    words, common = (
        examiner_figures.explanations(mine, examiner) if mine is not None and not mine.empty
        else ([], "")
    )
    side_rates = examiner_figures.allegiance_rates(
        data.examiner_requesters(_flt, examiner), specialty
    )
    side_labels = list(examiner_figures.SIDES.values())
    allegiance = charts.freeze(charts.cohort_rates(
        side_rates, overall=examiner_figures.cohort_totals(side_rates, side_labels)
    ))
    # An insurer sees only its own exams, so its "top insurer share" is always 100%: the page
    # Our examiners gives its share of each examiner's volume against the market instead.
    ref = (
        None if data.current_scope().role == "insurer"
        else examiner_figures.referrals(
            data.examiner_insurers(_flt), examiner, specialty_referrals(view, specialty, _flt)
        )
    )
    threshold = drift_threshold(flags) if flags is not None else None
    path, drift_error = None, None
    if threshold is not None:
        try:
            path = data.examiner_drift(_flt, examiner, threshold)
        except RuntimeError as exc:
            drift_error = str(exc)
    pairs = data.examiner_treating_pairs(_flt, examiner)
    treat = examiner_figures.treating_agreement(pairs)
    ruling_rates = examiner_figures.rulings_rates(data.examiner_rulings(_flt), examiner)
    return Profile(
        flags_error=result.error if flags is None else None,
        mine=mine,
        forest=(
            charts.freeze(charts.forest(mine, "label"))
            if mine is not None and not mine.empty else None
        ),
        words=words,
        common=common,
        allegiance=allegiance,
        referrals=ref,
        share_bars=(
            None if ref is None
            else charts.freeze(charts.share_bars(ref.shares, "insurer_id"))
        ),
        drift_threshold=threshold,
        drift=path,
        drift_error=drift_error,
        cusum=None if path is None else charts.freeze(charts.cusum(path, threshold)),
        own_agreement=examiner_figures.causation_agreement(data.causation_pairs(_flt, examiner)),
        panel_agreement=panel_agreement(view, _flt),
        treating=treat,
        bland_altman=(
            None if treat.icc is None
            else charts.freeze(charts.bland_altman(pairs, treat.bland_altman))
        ),
        rulings=ruling_rates,
        rulings_chart=(
            None if ruling_rates.empty or ruling_rates["k"].sum() == 0
            else charts.freeze(charts.cohort_rates(ruling_rates))
        ),
    )


# The regulator's flags per load of one examiner, one row per load: pivoted once per snapshot
# and examiner, for every filter (the history is unfiltered, and only a load, a new snapshot,
# changes it; only a regulator's page asks for it).
@st.cache_data(ttl=data.RESULT_TTL_SECONDS, max_entries=64, show_spinner=False)
def flags_per_load(snapshot: data.Snapshot, examiner: str) -> pd.DataFrame:
    return history_table(data.flag_history(examiner))


st.title("Examiner profile")
flt = layout.require_database()
volumes = data.examiners(flt)
layout.stop_if_empty(int(volumes["n_exams"].sum()), flt)
layout.scope_caption(flt)

ranked = volumes.sort_values(["n_exams", "examiner_id"], ascending=[False, True])
names = data.examiner_names()
view = data.view_key(flt)
options = picker_options(view, ranked, names)
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

shown = profile(view, examiner, specialty, flt)
mine = shown.mine
if mine is None:
    st.warning(f"The flags could not be computed for this view. {shown.flags_error or ''}")

m_exams, m_spec, m_flags, m_top = st.columns(4)
m_exams.metric("Exams", f"{n_exams:,}")
if n_exams < examiner_figures.MIN_VOLUME:
    m_exams.caption(f"below the minimum volume of {examiner_figures.MIN_VOLUME}: never flagged")
# The specialty's name is a caption, which wraps: as a metric's value "occupational medicine"
# was cut to "occupational me..." in a quarter of the page.
m_spec.metric("Same-specialty peers", f"{int((volumes['specialty'] == specialty).sum()) - 1:,}",
              help="The examiners it is compared with on the measures against peers")
m_spec.caption(f"specialty: {human(specialty)}")
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
    st.plotly_chart(shown.forest, width="stretch")
    st.caption(
        f"Each measure's ratio ({ratio_label(list(mine['measure']))}) with its 95% interval "
        "(colour: vermillion flagged, blue not flagged, "
        "grey below the minimum volume); the hollow diamond is the shrunken (empirical Bayes) "
        "estimate, pulled towards 1 by how little the volume tells."
    )
    st.dataframe(
        mine,
        hide_index=True,
        width="stretch",
        placeholder=layout.MISSING,
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
        column_config=layout.with_formats(
            {
                **layout.examiner_figure_headings(mine["measure"]),
                "label": "measure",
                "n": "volume",
                "peer_group": "compared with",
            },
            examiner_figures.FIGURE_FORMATS,
            mine.columns,
        ),
    )
    st.markdown("**Each measure in words.** A flag is a reason to look, not a verdict.")
    for item in shown.words:
        label = examiner_figures.MEASURE_LABELS[item.measure]
        with st.expander(
            f"{label}: {'flagged ' + item.direction if item.flagged else 'not flagged'}",
            expanded=item.flagged,
        ):
            st.markdown("  \n".join(item.lines))
    st.caption(shown.common)

# --- Flags per load --------------------------------------------------------------------------
if data.current_scope().role == "regulator":
    st.subheader("Flags per load")
    history = data.flag_history(examiner)
    if history.empty:
        st.info("No load has stored flags for this examiner yet (the history starts with the "
                "first load that keeps it).")
    else:
        per_load = flags_per_load(data.require_snapshot(), examiner)
        st.dataframe(per_load, hide_index=True, width="stretch")
        st.caption(
            "Each stored load's flags for this examiner, unfiltered, oldest load first: the "
            "measure and side flagged, or a dash when none was. `ime flags --history "
            f"{examiner}` prints the figures behind them."
        )

# --- Allegiance ------------------------------------------------------------------------------
st.subheader("Allegiance: adverse opinions by who retained the examiner")
st.plotly_chart(shown.allegiance, width="stretch")
if mine is not None and "allegiance" in set(mine["measure"]):
    a = mine.set_index("measure").loc["allegiance"]
    st.markdown(
        f"Retained by an insurer or employer, the examiner's odds of an adverse opinion were "
        f"{a['ratio']:.2f} times their odds when retained by a claimant or neutral, on cases "
        f"of like case-mix risk (95% CI {a['ci_low']:.2f} to {a['ci_high']:.2f}; "
        f"{MEASURES['allegiance'].method}, q = {a['q_value']:.3g}; smaller "
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
ref = shown.referrals
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
    st.plotly_chart(shown.share_bars, width="stretch")

# --- Drift -----------------------------------------------------------------------------------
st.subheader("Drift: a change in the examiner's own behaviour over time")
if shown.drift_threshold is None:
    st.info(
        "No examiner in view has enough exams for a drift chart "
        f"(twice the minimum volume, {2 * examiner_figures.MIN_VOLUME})."
    )
else:
    if shown.drift_error:
        st.warning(f"The drift chart could not be computed for this view. {shown.drift_error}")
    if shown.drift is None:
        st.info(
            f"{examiner} has too few exams in view for a drift chart: it needs "
            f"{2 * examiner_figures.MIN_VOLUME}, a baseline and the exams after it."
        )
    else:
        st.plotly_chart(shown.cusum, width="stretch")
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
    own, panel = shown.own_agreement, shown.panel_agreement
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
    treat = shown.treating
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
        st.dataframe(own.table.rename(index=human, columns=human))
if treat.icc is not None:
    st.plotly_chart(shown.bland_altman, width="stretch")
    st.caption(
        "IME minus the treating physician's rating of the same case nearest in time: negative "
        "when the IME rates lower. The ICC treats each case as a target rated twice."
    )

# --- Later rulings ---------------------------------------------------------------------------
st.subheader("Later rulings on the examiner's reports")
ruling_rates = shown.rulings
if shown.rulings_chart is None:
    st.info("No later ruling rejected a report or reversed a decision for this examiner or peers.")
else:
    st.plotly_chart(shown.rulings_chart, width="stretch")
    ruled = ruling_rates.groupby("measure", sort=False)["n_ruled"].first()
    st.caption(
        "Among exams a later ruling names, the share whose report it rejected or whose "
        f"decision it reversed, with 95% Wilson intervals ({int(ruled.iloc[0]):,} of the "
        "examiner's exams had a ruling). The case-mix adjusted comparison with peers is the "
        "rulings measure in the table above."
    )
