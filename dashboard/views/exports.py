"""Exports: the aggregate tables this role may take away, with their dictionary and metadata."""

from __future__ import annotations

import streamlit as st

from access.roles import EXPORTABLE_TABLES, whole_years
from dashboard import data, layout
from outputs.tables import CROSSTAB_DIMENSIONS

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
by: tuple[str, ...] = ()
if what == "crosstab":
    # Two features from the fixed list of outputs.tables.CROSSTAB_DIMENSIONS.
    rows_by, columns_by = st.columns(2)
    first = rows_by.selectbox("Rows: one feature", list(CROSSTAB_DIMENSIONS),
                              format_func=CROSSTAB_DIMENSIONS.get, key="crosstab_first")
    second = columns_by.selectbox(
        "by another", [d for d in CROSSTAB_DIMENSIONS if d != first],
        format_func=CROSSTAB_DIMENSIONS.get, key="crosstab_second",
    )
    by = (first, second)
fmt = st.radio("Format", ("csv", "parquet", "xlsx"), horizontal=True, key="export_format")
preview = data.export_preview(what, flt, by)
# A cell the reader may not see (suppressed) or that has no value reads as a dash, not "None".
st.dataframe(preview, hide_index=True, width="stretch", placeholder=layout.MISSING)
st.caption(f"{len(preview):,} rows, as the {data.current_scope().role} role sees them.")
if st.button("Prepare the files", type="primary"):
    name, payload = data.export_zip(what, fmt, flt, by)
    st.download_button(
        f"Download {name}", payload, file_name=name, mime="application/zip", type="primary"
    )
    st.caption("The export is recorded in the audit log.")
with st.expander("Data dictionary"):
    st.dataframe(data.export_dictionary(what, by), hide_index=True, width="stretch")
