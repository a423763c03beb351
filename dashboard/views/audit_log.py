"""Audit log: sign-ins, profile views and exports; regulators read it, nobody edits it."""

from __future__ import annotations

import streamlit as st

from dashboard import data

st.title("Audit log")
if data.current_scope().role != "regulator":
    st.info("The audit log is for regulators.")
    st.stop()
st.caption(
    "Every sign-in, view of an examiner's profile and export, newest first. The log is "
    "append-only: the app has no way to change or delete an entry, and each entry carries a "
    "hash of the one before it, so an edit made outside the app is detectable."
)
event = st.selectbox(
    "Event",
    ("all", "sign_in", "sign_in_failed", "sign_in_refused", "view_examiner", "export"),
    key="audit_event",
)
entries = data.audit_entries(None if event == "all" else event)
st.dataframe(entries, hide_index=True, width="stretch")
broken = data.audit_chain_break()
if broken is None:
    st.success(f"{len(entries):,} entries shown; the hash chain is intact.")
else:
    st.error(f"The hash chain breaks at entry {broken}: the log was changed outside the app.")
