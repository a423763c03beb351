"""Entry point: `streamlit run dashboard/app.py` (or `ime serve`). Sidebar filters + navigation."""

from __future__ import annotations

import streamlit as st

from dashboard import data, filters, signin
from dashboard.navigation import EXAMINER_PAGE, PAGES
from queries import EXAMINER

# An emoji favicon is drawn as an inline SVG; a ":material/" one is fetched from
# fonts.gstatic.com, which fails offline. (Menu icons use the font Streamlit serves itself.)
st.set_page_config(page_title="IME outcomes", page_icon="⚖️", layout="wide")
if not signin.gate():
    st.stop()
if data.current_scope().role == EXAMINER:
    st.navigation([st.Page(EXAMINER_PAGE.path, title=EXAMINER_PAGE.title,
                           icon=EXAMINER_PAGE.icon, default=True)]).run()
    st.stop()

# A reader's menu holds only the pages their role may open (a researcher: Methods, Exports).
role = data.current_scope().role
menu = [
    spec for spec in PAGES
    if data.researcher_may_open(spec.url_path) and (spec.roles is None or role in spec.roles)
]
sections: dict[str, list] = {}
by_path = {}
for spec in menu:
    by_path[spec.url_path] = st.Page(
        spec.path, title=spec.title, icon=spec.icon, default=spec is menu[0]
    )
    sections.setdefault(spec.section, []).append(by_path[spec.url_path])
page = st.navigation(sections)
# A link opened before sign-in (/examiners?jurisdiction=CA) opens its page once signed in.
requested = signin.take_requested_page()
if requested is not None and requested[0] in by_path and by_path[requested[0]] is not page:
    st.switch_page(by_path[requested[0]], query_params=requested[1])
# The home page's URL path is '' whatever its file: its own path is the first menu entry's.
if not data.researcher_may_open(page.url_path or menu[0].url_path):
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
