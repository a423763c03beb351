"""Exports: the aggregate tables this role may take away, with their dictionary and metadata."""

from __future__ import annotations

import streamlit as st

from access.roles import EXPORTABLE_TABLES, whole_years
from dashboard import data, layout

st.title("Exports")
st.caption(
    "Each export is an aggregate table as your role may see it, with a data dictionary and a "
    "metadata file (filters, role, suppression rule, data snapshot hash, method versions, "
    "time) so that it can be cited. Researchers and insurers' market figures get small-cell "
    "suppression: counts from 1 to 10 read 'suppressed', as does every rate built on them; "
    "the other counts are rounded to a multiple of 11, so that no two exports can be "
    "subtracted into a count from 1 to 10 (see Methods)."
)
flt = layout.require_database()
if data.current_scope().role == "researcher":
    # A researcher's period is whole calendar years (access.roles.check_filters).
    wide = whole_years(flt)
    if wide != flt:
        st.info(
            "Researchers' exports cover whole calendar years: this one covers exams from "
            f"{wide.start or 'the first'} to {wide.end or 'the last'}."
        )
    flt = wide
what = st.selectbox("Table", EXPORTABLE_TABLES, key="export_table")
fmt = st.radio("Format", ("csv", "parquet", "xlsx"), horizontal=True, key="export_format")
preview = data.export_preview(what, flt)
st.dataframe(preview, hide_index=True, width="stretch")
st.caption(f"{len(preview):,} rows, as the {data.current_scope().role} role sees them.")
if st.button("Prepare the files", type="primary"):
    name, payload = data.export_zip(what, fmt, flt)
    st.download_button(
        f"Download {name}", payload, file_name=name, mime="application/zip", type="primary"
    )
    st.caption("The export is recorded in the audit log.")
with st.expander("Data dictionary"):
    st.dataframe(data.export_dictionary(what), hide_index=True, width="stretch")
