"""The page timer: every dashboard page through Streamlit's AppTest, time by group of
functions. With the pandas baselines, the only bench module that imports the dashboard.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from devtools.bench.results import PageInfo, Run


def page_specs(bench: Run | None = None) -> list[PageInfo]:
    """The pages a run measured, else the dashboard's pages now (dashboard.navigation)."""
    if bench is not None and bench.pages:
        return [PageInfo(file, title) for file, title in bench.pages]
    from dashboard.navigation import PAGES

    return [PageInfo(p.file, p.title) for p in PAGES]


class GroupTimer:
    """Wall time spent in groups of functions, outermost call only (no double counting).

    Patching a module attribute also reroutes calls made inside that module by global name,
    which is how the dashboard's pages and helpers call each other.
    """

    def __init__(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self._local = threading.local()

    def reset(self) -> None:
        self.totals.clear()

    def wrap(self, fn: Callable, group: str) -> Callable:
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            if getattr(self._local, "active", False):
                return fn(*args, **kwargs)
            self._local.active = True
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.totals[group] += time.perf_counter() - started
                self._local.active = False

        return timed

    def patch(self, module, names: tuple[str, ...], group: str) -> None:
        for name in names:
            setattr(module, name, self.wrap(getattr(module, name), group))

    def patch_functions(self, module, group: str) -> None:
        """Every function defined in `module`."""
        import inspect

        for name, fn in list(vars(module).items()):
            if inspect.isfunction(fn) and fn.__module__ == module.__name__:
                setattr(module, name, self.wrap(fn, group))


# Dashboard modules that are not statistics helpers (app.py runs the app when imported;
# signin is the sign-in gate every page passes first).
NOT_STATISTICS = {"app", "charts", "data", "filters", "layout", "navigation", "signin", "views"}


# The page that shows one examiner: without one in its URL it only asks for a choice.
PROFILE_PAGE = "examiner_profile.py"


def busiest_examiner(db: str, query: dict) -> str:
    """The examiner with the most exams in the view of `query` (ties by id): the one the
    pandas baseline profiles, so both sides of the comparison draw the same profile."""
    import queries

    con = queries.connect(Path(db))
    try:
        # Filter names are Filters' own fields (a fixed list), values bound by queries.run.
        filters = queries.Filters(**{column: tuple(v) for column, v in query.items()})
        counts = queries.run(con, "examiner_counts", queries.FULL_ACCESS, filters)
    finally:
        con.close()
    ranked = counts.sort_values(["n_exams", "examiner_id"], ascending=[False, True])
    return str(ranked["examiner_id"].iloc[0])


def worker_page(page: str, query: dict, db: str, timeout: float) -> dict:
    """One page through AppTest: cold (this fresh process), then warm (the same AppTest again).
    The Examiner profile draws the view's busiest examiner unless the query names one."""
    os.environ["IME_DB"] = db
    if page == PROFILE_PAGE and "examiner" not in query:
        query = {**query, "examiner": busiest_examiner(db, query)}
    import importlib
    import inspect
    import pkgutil

    from streamlit.testing.v1 import AppTest

    import dashboard
    from dashboard import charts, data

    timer = GroupTimer()
    # The data layer: the flags engine (flags, drift charts) apart from the report queries.
    for name, fn in list(vars(data).items()):
        if inspect.isfunction(fn) and fn.__module__ == data.__name__ and not name.startswith("_"):
            group = "flags" if "flag" in name or "drift" in name else "queries"
            setattr(data, name, timer.wrap(fn, group))
    # Statistics: every helper module of the dashboard that is not layout, charts or data.
    for info in pkgutil.iter_modules(dashboard.__path__):
        if info.name not in NOT_STATISTICS and not info.ispkg:
            timer.patch_functions(importlib.import_module(f"dashboard.{info.name}"), "statistics")
    timer.patch_functions(charts, "charts")
    at = AppTest.from_file(str(Path(dashboard.__file__).parent / "app.py"), default_timeout=timeout)
    at.query_params.update(query)
    at.switch_page(f"views/{page}")
    out: dict = {}
    for temperature in ("cold", "warm"):
        timer.reset()
        started = time.perf_counter()
        at.run()
        whole = time.perf_counter() - started
        figures = {
            g: timer.totals.get(g, 0.0) for g in ("queries", "flags", "statistics", "charts")
        }
        active = (
            at.session_state["active_filters"] if "active_filters" in at.session_state else None
        )
        out[temperature] = {
            "page": whole,
            **figures,
            "data_and_statistics": figures["queries"] + figures["flags"] + figures["statistics"],
            "errors": [e.message for e in at.exception],
            "filters": str(active),
        }
    return out
