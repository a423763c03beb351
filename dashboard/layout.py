"""Small layout helpers every page shares: empty states and figure captions."""

from __future__ import annotations

import streamlit as st

from dashboard import data, filters
from measures.registry import ratio_label, ratio_short
from queries import Filters


def require_database() -> Filters:
    """The active filters; stops the page with how to create a database when there is none."""
    if data.snapshot() is None:
        st.info(
            f"There is no database at `{data.db_path()}` yet. Create a demo database with "
            "the two commands below (or load your own files with `ime load PATH`), then reload "
            "this page."
        )
        st.code("ime demo\nime load data/demo", language="bash")
        st.stop()
    return filters.current()


def stop_if_empty(n_exams: int, flt: Filters) -> None:
    """Stop the page with a clear message when the filters leave no exams."""
    if n_exams == 0:
        if flt == Filters():
            st.info("The database holds no exams yet. Load exams with `ime load PATH`.")
        else:
            st.warning(
                f"No exams match these filters ({filters.describe(flt)}). "
                "Widen the date window or clear some filters in the sidebar."
            )
        st.stop()


def scope_caption(flt: Filters) -> None:
    """One line under the title saying what the figures cover."""
    st.caption(
        f"Showing {filters.describe(flt)}. Every rate has a 95% Wilson interval and its count."
    )



# The headings of the examiner pages' figures (examiner_figures.FIGURE_FORMATS: their formats).
EXAMINER_FIGURE_HEADINGS = {
    "raw_rate": "raw rate",
    "peer_rate": "comparison rate",
    "ci_low": "95% CI low",
    "ci_high": "95% CI high",
    "q_value": "q",
    "direction": st.column_config.TextColumn(
        "side", help="high: more than expected; low: fewer than expected"
    ),
}


def examiner_figure_headings(measures) -> dict:
    """EXAMINER_FIGURE_HEADINGS with the ratio named as the registry names the ratio of
    `measures` (the table's): 'O/E', 'odds ratio', or 'ratio' for a table of both."""
    measures = list(dict.fromkeys(measures))
    short, words = ratio_short(measures), ratio_label(measures)
    return {
        **EXAMINER_FIGURE_HEADINGS,
        "ratio": st.column_config.NumberColumn(short, help=words),
        "shrunken_ratio": st.column_config.NumberColumn(
            f"shrunken {short}", help=f"{words}, shrunk towards 1 by empirical Bayes"
        ),
    }


# What a missing figure reads as in a table (rather than "None"): st.dataframe's placeholder.
MISSING = "–"


def with_formats(config: dict, formats: dict[str, str], columns) -> dict:
    """A table's column_config with each figure of `formats` among `columns` (the table's)
    shown in its format.

    Formats are drawn by the browser (st.column_config.NumberColumn), and missing values by
    st.dataframe(placeholder=MISSING): a pandas Styler would format every cell in Python on
    every run, seconds for the Examiners table of a large database, under the GIL every
    session shares. The values stay numbers, so the columns still sort as numbers.
    """
    out = dict(config)
    for column, fmt in formats.items():
        if column not in columns:
            continue
        given = out.get(column)
        if isinstance(given, dict):  # a column config already (label, help): add the format
            out[column] = {**given, "type_config": {**given.get("type_config", {}),
                                                    "type": "number", "format": fmt}}
        else:  # a label, or nothing
            out[column] = st.column_config.NumberColumn(given, format=fmt)
    return out
