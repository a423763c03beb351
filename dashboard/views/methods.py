"""Methods: what every figure means and how flags are computed, in plain words, with references."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

st.title("Methods")
st.markdown((Path(__file__).parent.parent / "methods.md").read_text(encoding="utf-8"))
