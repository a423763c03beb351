"""Methods: what every figure means and how flags are computed, in plain words, with references.

The page shows docs/methods.md, the one description of the methods, so that the page and the
document cannot drift apart. In a checkout (the editable install of scripts/setup.sh) it is
read from docs/; dashboard/methods.md is a link to it, which a built package ships as a copy.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

PACKAGE = Path(__file__).resolve().parent.parent
SOURCES = (PACKAGE.parent / "docs" / "methods.md", PACKAGE / "methods.md")


def methods_markdown() -> str:
    """docs/methods.md from the repository, else the copy the package ships."""
    for path in SOURCES:
        if path.is_file():
            return path.read_text(encoding="utf-8")
    raise FileNotFoundError(f"docs/methods.md not found (looked in {', '.join(map(str, SOURCES))})")


title, _, body = methods_markdown().lstrip().partition("\n")
st.title(title.lstrip("#").strip())
st.markdown(body)
