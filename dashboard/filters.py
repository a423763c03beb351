"""The sidebar filters, shared by every page and kept in the URL so a link reproduces the view.

The URL holds `from` and `to` (ISO dates on exam_date) and one repeated key per filter column
(`?jurisdiction=CA&jurisdiction=NY`). Page-level choices (a group-by column, an examiner) are
kept in the URL too, under their own keys, and are always checked against a fixed list.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import streamlit as st

from measures.labels import human
from queries import FILTER_COLUMNS, Filters
from queries.known_values import refusal, unknown_values

START_KEY = "from"
END_KEY = "to"
GLOBAL_KEYS = (START_KEY, END_KEY, *FILTER_COLUMNS)
_STATE = "filter_"  # session-state prefix of the sidebar widgets
_ACTIVE = "active_filters"
_PAGE = "active_page"
_CHOICE = "choice_"  # session-state prefix of page-level choices

LABELS = {
    "jurisdiction": "Jurisdiction",
    "claim_type": "Claim type",
    "body_part": "Body part",
    "insurer_id": "Insurer",
    "specialty": "Examiner specialty",
    "requested_by": "Requested by",
    "exam_type": "Exam type",
}


def _parse_date(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        return None


def from_url(
    params: Mapping[str, Sequence[str]], options: Mapping[str, Sequence[str]] | None = None
) -> Filters:
    """Filters from URL query parameters; unknown values (not in `options`) are dropped."""
    values: dict[str, object] = {
        "start": _parse_date(next(iter(params.get(START_KEY, ())), None)),
        "end": _parse_date(next(iter(params.get(END_KEY, ())), None)),
    }
    for column in FILTER_COLUMNS:
        chosen = [str(v) for v in params.get(column, ())]
        if options is not None:
            chosen = [v for v in chosen if v in options.get(column, ())]
        values[column] = tuple(dict.fromkeys(chosen))
    return Filters(**values)


def to_url(filters: Filters) -> dict[str, list[str]]:
    """The query parameters that reproduce `filters` (empty filters are left out)."""
    out: dict[str, list[str]] = {}
    if filters.start:
        out[START_KEY] = [filters.start.isoformat()]
    if filters.end:
        out[END_KEY] = [filters.end.isoformat()]
    for column in FILTER_COLUMNS:
        if getattr(filters, column):
            out[column] = list(getattr(filters, column))
    return out


def _url_params() -> dict[str, list[str]]:
    return {key: st.query_params.get_all(key) for key in st.query_params}


def _write_url(filters: Filters) -> None:
    wanted = to_url(filters)
    for key in GLOBAL_KEYS:
        if key in wanted:
            if st.query_params.get_all(key) != wanted[key]:
                st.query_params[key] = wanted[key]
        elif key in st.query_params:
            del st.query_params[key]


def _clip(day: dt.date | None, low: dt.date | None, high: dt.date | None) -> dt.date | None:
    if day is None or low is None or high is None:
        return day
    return min(max(day, low), high)


def _clear() -> None:
    for column in FILTER_COLUMNS:
        st.session_state[_STATE + column] = []
    st.session_state[_STATE + "start"] = None
    st.session_state[_STATE + "end"] = None


def sidebar(
    options: Mapping[str, Sequence[str]], window: tuple[dt.date | None, dt.date | None]
) -> Filters:
    """Draw the filters in the sidebar (first run: from the URL), write them back to the URL."""
    url = from_url(_url_params(), options)
    unknown = unknown_values(from_url(_url_params()), options)
    if unknown:
        st.warning(f"The link's filters were not applied where they name no data: "
                   f"{refusal(unknown, options)}.")
    low, high = window
    bar = st.sidebar
    bar.header("Filters")
    for name, initial in (("start", url.start), ("end", url.end)):
        if _STATE + name not in st.session_state:
            st.session_state[_STATE + name] = _clip(initial, low, high)
    first, last = bar.columns(2)
    start = first.date_input(
        "Exams from", key=_STATE + "start", min_value=low, max_value=high, format="YYYY-MM-DD"
    )
    end = last.date_input(
        "to", key=_STATE + "end", min_value=low, max_value=high, format="YYYY-MM-DD"
    )
    chosen: dict[str, tuple[str, ...]] = {}
    for column in FILTER_COLUMNS:
        key = _STATE + column
        if key not in st.session_state:
            st.session_state[key] = list(getattr(url, column))
        chosen[column] = tuple(
            bar.multiselect(
                LABELS[column],
                list(options.get(column, ())),
                key=key,
                format_func=human,
                placeholder="all",
            )
        )
    bar.button("Clear filters", on_click=_clear, width="stretch")
    filters = Filters(start=start, end=end, **chosen)
    _write_url(filters)
    st.session_state[_ACTIVE] = filters
    return filters


def current() -> Filters:
    """The filters of this run: those the sidebar drew, else those in the URL."""
    active = st.session_state.get(_ACTIVE)
    return active if isinstance(active, Filters) else from_url(_url_params())


def describe(filters: Filters) -> str:
    """The filters in words, for captions: 'all exams' when none is set."""
    parts = []
    if filters.start or filters.end:
        parts.append(f"exams {filters.start or '…'} to {filters.end or '…'}")
    for column in FILTER_COLUMNS:
        values = getattr(filters, column)
        if values:
            parts.append(f"{LABELS[column].lower()}: {', '.join(human(v) for v in values)}")
    return "; ".join(parts) if parts else "all exams"


def choice(
    label: str,
    options: Mapping[str, str],
    key: str,
    default: str | None,
    *,
    container=None,
    help: str | None = None,  # noqa: A002 - Streamlit's own argument name
    placeholder: str | None = None,
) -> str | None:
    """A page-level selectbox kept in the URL under `key`; the value is always one of `options`.

    `options` maps the value (a column name, an id) to its label. A URL value outside the
    fixed list falls back to `default`, so a crafted link cannot name an arbitrary column.
    With no default (None), nothing is chosen until the reader (or a link) chooses: the box
    shows `placeholder` and the value is None.
    """
    if default is not None and default not in options:
        raise ValueError(f"default {default!r} is not one of the options for {key!r}")
    state = _CHOICE + key
    if state not in st.session_state or st.session_state[state] not in options:
        from_link = st.query_params.get(key)
        st.session_state[state] = from_link if from_link in options else default
    value = (container or st).selectbox(
        label, list(options), format_func=lambda v: options[v], key=state, help=help,
        placeholder=placeholder,
    )
    if value is not None and st.query_params.get(key) != value:
        st.query_params[key] = value
    return value


def forget_other_page_choices(page: str) -> None:
    """When the reader moves to another page, forget the previous page's choices.

    Streamlit itself gives the new page the URL the link asked for (a menu click: none), and
    the sidebar writes the filters back. What would linger is the previous page's choices in
    session state: dropping them lets a link's own choice (`?examiner=...` from the Examiners
    page) win over the one made earlier on another page with the same key.
    """
    if st.session_state.get(_PAGE) not in (None, page):
        for key in [k for k in st.session_state if str(k).startswith(_CHOICE)]:
            del st.session_state[key]
    st.session_state[_PAGE] = page
