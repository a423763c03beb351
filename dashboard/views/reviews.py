"""Reviews (regulators): every examiner review, days left, the replies to read, and closing.

Reviews are opened with `ime review open EXAMINER`; the examiner replies from their own
sign-in (role examiner) or by mail (`ime review reply`).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from access.reviews import ReviewError
from dashboard import data, layout

st.title("Reviews")
if data.current_scope().role != "regulator":
    st.info("Reviews are for regulators.")
    st.stop()
layout.require_database()  # a review freezes figures of the database: none without one
st.caption(
    "Before an examiner is named in a published output, a review freezes their figures and "
    "gives them until the deadline to reply. Open one with `ime review open EXAMINER "
    "[--days N]`; `ime publish` names an examiner once their review is closed or expired."
)
reviews = data.all_reviews()
if not reviews:
    st.info("No review yet. Open one with `ime review open EXAMINER`.")
    st.stop()

st.dataframe(pd.DataFrame([{
    "Review": r.review_id, "Examiner": r.examiner_id, "Status": r.status(),
    "Opened": r.opened_at_utc, "Deadline": r.deadline_utc,
    "Days left": None if r.ended() else r.days_left(),
    "Reply": r.reply.at_utc if r.reply else None, "Closed": r.closed_at_utc,
} for r in reviews]), hide_index=True, width="stretch", placeholder=layout.MISSING)

for review in reviews:
    if review.closed_at_utc is not None and review.reply is None:
        continue
    label = (f"Review {review.review_id}: examiner {review.examiner_id} · {review.status()}"
             + ("" if review.ended() else f" · {review.days_left()} days left"))
    with st.expander(label, expanded=review.reply is not None and not review.closed_at_utc):
        if review.reply is None:
            st.write("No reply yet.")
        else:
            st.markdown(f"**Reply** received {review.reply.at_utc:%Y-%m-%d %H:%M} UTC "
                        f"({review.reply.channel}, recorded by {review.reply.received_by}):")
            st.text(review.reply.text)
            attached = data.review_attachment(review.review_id)
            if attached:
                # Offered as bytes to save, never shown or opened by the app.
                st.download_button(f"Download the attachment {attached[0]}", attached[1],
                                   file_name=attached[0], mime="application/octet-stream",
                                   key=f"attachment-{review.review_id}")
        if review.closed_at_utc is None and st.button(
                f"Close review {review.review_id}", key=f"close-{review.review_id}"):
            try:
                data.close_review(review.review_id)
            except ReviewError as exc:
                st.error(str(exc))
            else:
                st.rerun()
