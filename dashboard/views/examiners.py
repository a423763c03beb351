"""Examiners: every examiner on one measure, a funnel plot, and the way into each profile."""

from __future__ import annotations

import streamlit as st

from dashboard import charts, data, examiner_figures, filters, layout
from measures.engine import COMMON_WORDS
from measures.labels import human

PROFILE = "views/examiner_profile.py"
# A ratio of 5 is already a large departure; wider intervals are cut at the axis's edge.
FOREST_AXIS_MAX = 5.0


# Every rerun (a click, another session on the same view) would rebuild the table and the
# funnel (a hover text per examiner, Plotly's validation): most of this page's time once the
# view's flags are cached. Keyed by data.view_key, measure and peer group, shared by every
# session; the frames passed with a leading underscore are the view's own, so not hashed.
@st.cache_data(ttl=data.RESULT_TTL_SECONDS, max_entries=64, show_spinner=False)
def examiner_table(view: tuple, measure: str, peer: str | None, _flags, _volumes):
    return examiner_figures.examiner_table(_flags, _volumes, measure, peer)


# A resource, not data: one figure object read by every session (st.plotly_chart does not
# change it), instead of a copy rebuilt and validated again on each run.
@st.cache_resource(ttl=data.RESULT_TTL_SECONDS, max_entries=64, show_spinner=False)
def funnel_chart(view: tuple, measure: str, peer: str | None, side: str, _rows, _points):
    geometry = examiner_figures.funnel_geometry(_rows)
    return geometry.tau2, charts.freeze(charts.funnel(_points, geometry.limits))


# The picker's labels look up a name per examiner listed (thousands): a dict made once per view
# (data.view_key holds the snapshot and whether the reader may see names), shared and only read.
@st.cache_resource(ttl=data.RESULT_TTL_SECONDS, max_entries=64, show_spinner=False)
def names_by_id(view: tuple, _names) -> dict[str, str]:
    return _names.to_dict()


st.title("Examiners")
flt = layout.require_database()
volumes = data.examiners(flt)
layout.stop_if_empty(int(volumes["n_exams"].sum()), flt)
layout.scope_caption(flt)

c_measure, c_peer, c_side = st.columns(3)
measure = filters.choice(
    "Measure",
    examiner_figures.MEASURE_LABELS,
    key="measure",
    default="adverse_opinion",
    container=c_measure,
)
specialties = sorted(volumes["specialty"].dropna().unique())
peer = filters.choice(
    "Peer group (specialty)",
    {"all": "all specialties", **{s: human(s) for s in specialties}},
    key="peer",
    default="all",
    container=c_peer,
    help="Examiners are compared with peers of the same specialty; this only narrows the list.",
)
side = filters.choice(
    "Side",
    examiner_figures.SIDES_SHOWN,
    key="side",
    default="both",
    container=c_side,
    help="Neutrality is tested both ways: high, more than expected; low, fewer than expected. "
    "Each side's flags control the false discovery rate on their own.",
)
spec = examiner_figures.EXAMINER_MEASURES[measure]
names = data.examiner_names()

result = data.flags(flt)
if result.error or result.table is None:
    st.warning(f"The flags could not be computed for this view. {result.error or ''}")
    st.stop()
flags = result.table
view = data.view_key(flt)
peer_group = None if peer == "all" else peer
table = examiner_table(view, measure, peer_group, flags, volumes)
table = examiner_figures.on_side(examiner_figures.with_names(table, names), side)


def open_profile(examiner_id: str) -> None:
    st.switch_page(PROFILE, query_params={"examiner": examiner_id, **filters.to_url(flt)})


m_shown, m_flagged, m_small, m_disp = st.columns(4)
m_shown.metric("Examiners", f"{len(table):,}")
m_shown.caption(f"{int(table['n'].sum()):,} exams count for this measure")
n_high = int((table["status"] == "flagged high").sum())
n_low = int((table["status"] == "flagged low").sum())
m_flagged.metric(f"Flagged on {spec.label.lower()}", f"{n_high + n_low:,}")
m_flagged.caption(
    f"{n_high} high, {n_low} low: q < {examiner_figures.SETTINGS.q} after Benjamini-Hochberg, each "
    "side on its own"
)
n_small = int(((table["n"] > 0) & ~table["eligible"]).sum())
m_small.metric("Below minimum volume", f"{n_small:,}")
m_small.caption(f"fewer than {examiner_figures.MIN_VOLUME}: shown, never flagged")

rows = flags[flags["measure"] == measure]
points = table[table["n"] > 0]
if spec.chart == "funnel" and not rows.empty:
    tau2, funnel = funnel_chart(view, measure, peer_group, side, rows, points)
    m_disp.metric("Over-dispersion τ²", f"{tau2:.3f}")
    m_disp.caption("between-examiner variance on the O/E scale that case mix does not explain")
    st.subheader(f"Funnel plot: {spec.label.lower()}")
    event = st.plotly_chart(
        funnel,
        width="stretch",
        key="funnel",
        on_select="rerun",
        selection_mode="points",
    )
    st.caption(
        "Each point is an examiner: observed against expected count from the case-mix model. "
        "Solid lines: 95% and 99.8% limits allowing for the over-dispersion the flags allow "
        "for (additive τ², Spiegelhalter 2005); dotted: exact Poisson limits without it. Flags "
        "come from q-values across examiners, not from the lines alone. Click a point to open "
        "the examiner's profile."
    )
    chosen = [p.get("customdata") for p in event.selection.points] if event else []
    chosen = [c[0] if isinstance(c, list) else c for c in chosen if c]
    if chosen:
        open_profile(str(chosen[0]))
else:
    m_disp.metric("Comparison", "own exams")
    m_disp.caption(spec.peer)
    st.subheader(f"{spec.label}: {spec.ratio_label} with its 95% interval per examiner")
    forest = examiner_figures.forest_rows(points)
    shown = forest.shown.assign(
        label=[f"{examiner_figures.label(e, names)} (n={n:,})"
               for e, n in zip(forest.shown["examiner_id"], forest.shown["n"], strict=True)]
    )
    st.plotly_chart(
        charts.forest(shown, "label", height=120 + 22 * len(shown), x_max=FOREST_AXIS_MAX,
                      measure=measure),
        width="stretch",
    )
    st.caption(
        f"Drawn: every flagged examiner and the {examiner_figures.FOREST_TOP} largest others at or "
        f"above the minimum volume of {examiner_figures.MIN_VOLUME}. Not drawn: "
        f"{forest.not_drawn:,} more at or above it and {forest.below_minimum:,} below it "
        "(too few exams for a ratio worth drawing); every examiner is in the table below. "
        f"The axis stops at {FOREST_AXIS_MAX:g}: an interval past it is cut at the edge."
    )
    st.caption(
        "Not a funnel plot: this measure compares each examiner with their own exams "
        f"({spec.peer}), not with an expected count from peers."
        + (
            " The drift flag is the CUSUM crossing its panel threshold (see the profile), "
            "the ratio is the later exams' O/E against the baseline."
            if spec.chart == "cusum"
            else ""
        )
    )

st.subheader("Every examiner")
st.caption(
    f"Raw rate: {spec.rate}. {spec.ratio_short}: {spec.ratio_label}, with its 95% interval. "
    + (
        f"Adjusted rate: {spec.ratio_label} times the comparison rate ({spec.peer}). "
        if spec.chart == "funnel"
        else f"Comparison rate: {spec.peer}. "
    )
    + "Select a row to open the examiner's profile; click a heading to sort."
)
query = st.text_input(
    "Search by name or id" if not names.empty else "Search by id",
    key="examiner_search",
    placeholder="e.g. EX0012" + (" or a surname" if not names.empty else ""),
)
listed = examiner_figures.search(table, query).reset_index(drop=True)
if query.strip():
    st.caption(f"{len(listed):,} of {len(table):,} examiners match {query.strip()!r}.")
event = st.dataframe(
    listed.assign(specialty=listed["specialty"].map(human)),
    hide_index=True,
    width="stretch",
    placeholder=layout.MISSING,
    key="examiner_table",
    on_select="rerun",
    selection_mode="single-row",
    column_order=[
        "examiner_id",
        "examiner_name",
        "specialty",
        "n",
        "ratio",
        "ci_low",
        "ci_high",
        "q_value",
        "status",
        "direction",
        "shrunken_ratio",
        "raw_rate",
        "adjusted_rate",
        "peer_rate",
        "observed",
        "expected",
        "flagged_on",
    ],
    column_config=layout.with_formats(
        {
            "examiner_id": "examiner",
            "examiner_name": "name",
            **layout.examiner_figure_headings([measure]),
            "n": st.column_config.NumberColumn("volume", help="exams that count for this measure"),
            "adjusted_rate": "adjusted rate",
            "status": "status",
            "flagged_on": "flagged on (all measures)",
        },
        examiner_figures.FIGURE_FORMATS,
        listed.columns,
    ),
)
if event and event.selection.rows:
    open_profile(str(listed["examiner_id"].iloc[event.selection.rows[0]]))

c_pick, c_link = st.columns([2, 1], vertical_alignment="bottom")
name_by_id = names_by_id(view, names)
pick = c_pick.selectbox(
    "Open a profile",
    # tolist: pyarrow's own conversion; list() would box each of thousands of ids in Python.
    listed["examiner_id"].tolist(),
    format_func=lambda e: examiner_figures.label(e, name_by_id),
    key="open_examiner",
)
if pick:
    c_link.page_link(
        PROFILE,
        label=f"Open the profile of {examiner_figures.label(pick, names)}",
        icon=":material/person_search:",
        query_params={"examiner": pick, **filters.to_url(flt)},
    )

with st.expander("How this measure is computed"):
    st.markdown(spec.words)
    st.markdown(f"**A flag on the high side means** {spec.high_means}.")
    if spec.low_means:
        st.markdown(f"**A flag on the low side means** {spec.low_means}.")
    else:
        st.markdown("This measure watches for a rise only: its flags are all high.")
    st.markdown(COMMON_WORDS)
