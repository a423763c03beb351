"""Entry point: `streamlit run dashboard/app.py` (or `ime serve`). Sidebar filters + navigation."""

from __future__ import annotations

import streamlit as st

from dashboard import data, filters, signin
from dashboard.navigation import PAGES

# An emoji favicon is drawn as an inline SVG; a ":material/" one is fetched from
# fonts.gstatic.com, which fails offline. (Menu icons use the font Streamlit serves itself.)
st.set_page_config(page_title="IME outcomes", page_icon="⚖️", layout="wide")
if not signin.gate():
    st.stop()

sections: dict[str, list] = {}
for spec in PAGES:
    sections.setdefault(spec.section, []).append(
        st.Page(
            spec.path,
            title=spec.title,
            icon=spec.icon,
            default=spec.is_default,
        )
    )
page = st.navigation(sections)
if not data.researcher_may_open(page.url_path):
    st.info(
        "Your role (researcher) sees aggregates only, with small-cell suppression: take them "
        "from the Exports page (examiners appear there as pseudonyms). The Methods page "
        "explains every figure."
    )
    st.stop()
filters.forget_other_page_choices(page.url_path)

if data.snapshot() is not None:
    filters.sidebar(data.filter_options(), data.exam_window())
else:
    st.sidebar.info("No database yet, so no filters.")
st.sidebar.caption("A flag is a reason to look, not a verdict.")
page.run()
