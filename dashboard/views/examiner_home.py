"""The examiner's own page (role examiner): their reviews, a reply form, and their figures.

Everything here is read for the signed-in examiner's id by dashboard.data, never chosen on
the page: no other examiner, no insurer and no claimant appears.
"""

from __future__ import annotations

import streamlit as st

from access.reviews import ATTACHMENT_SUFFIXES, MAX_ATTACHMENT_BYTES, ReviewError
from dashboard import charts, data, examiner_figures, layout
from measures import registry
from measures.engine import COMMON_WORDS
from measures.labels import human
from measures.registry import ratio_label

FIGURE_COLUMNS = {
    "label": st.column_config.TextColumn("Measure"),
    "n": st.column_config.NumberColumn("Volume", format="%d"),
    "observed": st.column_config.NumberColumn("Observed", format="%.0f"),
    "expected": st.column_config.NumberColumn("Expected", format="%.1f"),
    "ratio": st.column_config.NumberColumn(
        "Ratio", format="%.2f", help=ratio_label(registry.EXAMINER_MEASURES)
    ),
    "ci_low": st.column_config.NumberColumn("95% low", format="%.2f"),
    "ci_high": st.column_config.NumberColumn("95% high", format="%.2f"),
    "raw_rate": st.column_config.NumberColumn("Your rate", format="percent"),
    "peer_rate": st.column_config.NumberColumn("Comparison rate", format="percent"),
    "peer_group": st.column_config.TextColumn("Comparison group"),
    "n_peers": st.column_config.NumberColumn("Peers (unnamed)", format="%d"),
    "q_value": st.column_config.NumberColumn(
        "q", format=examiner_figures.FIGURE_FORMATS["q_value"]
    ),
    "flagged": st.column_config.CheckboxColumn("Flagged"),
}


def readable(figures):
    """A table of figures with its comparison group in words (a specialty is a stored code)."""
    if "peer_group" not in figures.columns:
        return figures
    return figures.assign(peer_group=figures["peer_group"].map(human))


examiner_id = data.own_examiner_id()
st.title("Your figures and reviews")
st.caption(
    f"Examiner {examiner_id}. You see your own figures against peers of your specialty, who "
    "are never named, and the reviews a regulator opened of your figures. A flag is a reason "
    "to look, not a verdict."
)

# --- Reviews ----------------------------------------------------------------------------------
st.header("Your reviews")
reviews = data.own_reviews()
if not reviews:
    st.info("No review of your figures has been opened.")
for review in reviews:
    status = review.status()
    with st.container(border=True):
        st.subheader(f"Review {review.review_id}: {status}")
        when = (f"Opened {review.opened_at_utc:%Y-%m-%d}; reply by "
                f"{review.deadline_utc:%Y-%m-%d}")
        if not review.ended():
            when += f" ({review.days_left()} days left)"
        if review.closed_at_utc is not None:
            when += f"; closed {review.closed_at_utc:%Y-%m-%d}"
        st.write(when + ".")
        st.caption(f"Figures frozen from data snapshot {review.snapshot_sha256}: a later load "
                   "does not change them.")
        st.dataframe(readable(review.figures), hide_index=True, width="stretch",
                     column_order=[c for c in FIGURE_COLUMNS if c in review.figures.columns],
                     column_config=FIGURE_COLUMNS)
        with st.expander("The method in words"):
            for row in review.figures.itertuples():
                st.markdown(f"**{row.label}.** {row.words}")
            st.markdown(COMMON_WORDS)
            st.text(review.explanation)
        name, payload = data.review_audit_pack(review.review_id) if st.button(
            "Prepare your audit pack", key=f"pack-{review.review_id}") else (None, None)
        if payload is not None:
            st.download_button(f"Download {name}", payload, file_name=name, mime="text/html",
                               key=f"download-{review.review_id}")
        if review.reply is not None:
            st.markdown(f"**Your reply** (received {review.reply.at_utc:%Y-%m-%d}, "
                        f"{review.reply.channel}):")
            st.text(review.reply.text)
            if review.reply.file_name:
                st.caption(f"Attached: {review.reply.file_name}")
        if review.ended():
            continue
        with st.form(f"reply-{review.review_id}", clear_on_submit=True):
            text = st.text_area("Your reply", height=180,
                                help="Shown beside your figures wherever they are published.")
            upload = st.file_uploader(
                f"Attach a document (optional; {', '.join(ATTACHMENT_SUFFIXES)}; at most "
                f"{MAX_ATTACHMENT_BYTES // 1024 // 1024} MB)", type=list(ATTACHMENT_SUFFIXES))
            sent = st.form_submit_button("Send the reply", type="primary")
        if sent:
            try:
                data.send_reply(review.review_id, text, upload.name if upload else None,
                                upload.getvalue() if upload else None)
            except ReviewError as exc:
                st.error(f"The reply was not recorded: {exc}")
            else:
                st.success("Your reply is recorded.")
                st.rerun()

# --- Own profile --------------------------------------------------------------------------------
st.header("Your figures now")
layout.require_database()
profile = data.own_profile()
if profile.measures.empty:
    st.info("The current data hold no figures of yours.")
    st.stop()
c_exams, c_flags = st.columns(2)
c_exams.metric("Exams", f"{profile.n_exams:,}")
# A caption, which wraps: as a metric's value a long specialty was cut short.
c_exams.caption(f"specialty: {human(profile.specialty) if profile.specialty else '–'}")
c_flags.metric("Flagged measures",
               f"{int(profile.measures['flagged'].sum())} of {len(profile.measures)}")
st.plotly_chart(charts.forest(profile.measures, "label"), width="stretch")
st.caption(f"Each measure's ratio ({ratio_label(list(profile.measures['measure']))}) with its "
           "95% interval for your own cases' mix; 1 is what your peers would show for the same "
           "cases. Peers are counted, never named.")
st.dataframe(readable(profile.measures), hide_index=True, width="stretch",
             column_order=[c for c in FIGURE_COLUMNS if c in profile.measures.columns],
             column_config=FIGURE_COLUMNS)
with st.expander("How each figure was reached"):
    st.text(profile.explanation)
