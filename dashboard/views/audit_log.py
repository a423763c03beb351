"""Audit log: sign-ins, profile views and exports; regulators read it, nobody edits it."""

from __future__ import annotations

import streamlit as st

from access import audit
from dashboard import data

st.title("Audit log")
if data.current_scope().role != "regulator":
    st.info("The audit log is for regulators.")
    st.stop()
st.caption(
    "Every sign-in, view of an examiner's profile and export, newest first. The log is "
    "append-only: the app has no way to change or delete an entry, and each entry carries a "
    "keyed hash (HMAC) of itself and of the one before it, made with a key kept outside the "
    "log, so an entry edited, inserted or removed outside the app is detected, as is a "
    "missing newest entry. `ime audit verify` runs the same check."
)
event = st.selectbox(
    "Event",
    ("all", "sign_in", "sign_in_failed", "sign_in_refused", "view_examiner", "export"),
    key="audit_event",
)
entries = data.audit_entries(None if event == "all" else event)
st.dataframe(entries, hide_index=True, width="stretch")
check = audit.verify()
if check.ok:
    st.success(f"{len(entries):,} entries shown; checked end to end, the hash chain is intact "
               f"({check.message()}).")
else:
    st.error(f"The audit log was changed outside the app: {check.message()}.")
