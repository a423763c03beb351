"""Helpers to drive the app in AppTest and read what it shows."""

from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

import dashboard
from access import auth

APP = Path(dashboard.__file__).parent / "app.py"


def open_page(page_file: str, query: dict | None = None, timeout: float = 120) -> AppTest:
    """Run the app as a browser opening views/<page_file> with `query` in the URL."""
    at = AppTest.from_file(str(APP), default_timeout=timeout)
    at.query_params.update(query or {})
    at.switch_page(f"views/{page_file}")
    return at.run()


def open_as(page_file: str, user: auth.User | None, query: dict | None = None) -> AppTest:
    """A new session (a new browser tab) opening views/<page_file> signed in as `user` (None:
    demo mode), `query` in the URL; fails on an exception."""
    at = AppTest.from_file(str(APP), default_timeout=180)
    if user is not None:
        at.session_state["signed_in_user"] = user
    at.query_params.update(query or {})
    at.switch_page(f"views/{page_file}")
    at.run()
    no_exception(at)
    return at


def no_exception(at: AppTest) -> None:
    messages = [f"{e.message}\n{''.join(e.stack_trace)}" for e in at.exception]
    assert not messages, "\n".join(messages)


def metric(at: AppTest, label: str) -> str:
    found = [m.value for m in at.metric if m.label == label]
    assert found, f"no metric {label!r}; metrics are {[m.label for m in at.metric]}"
    return found[0]


def captions(at: AppTest) -> list[str]:
    return [c.value for c in at.caption]


def markdown_text(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def figures(at: AppTest) -> list[dict]:
    """The plotly figures on the page, as the JSON the browser receives."""
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def pct(k: int, n: int) -> str:
    return f"{100 * k / n:.1f}%"


def frame_with(at: AppTest, column: str):
    """The first table on the page that has `column`."""
    for frame in at.dataframe:
        if column in frame.value.columns:
            return frame.value
    raise AssertionError(f"no table with a {column!r} column")
