"""The tracer and profiler of `ime load` and of the flags engine: time and peak memory per
phase, the slowest SQL statements, the top functions.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

from devtools.bench.results import ROOT

# The bench's own code: not the project's, in the profile's list of project functions.
BENCH = Path(__file__).resolve().parent

# A line of the tracer's log: "[  12.0 s]     1,234 MiB  phase (entity) > step".
TRACER_LINE = re.compile(r"^\[\s*([\d.]+) s\]\s+([\d,]+) MiB\s+(.*)$")


def _rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024**2


class Tracer:
    """Phases (outermost, exclusive), steps (any depth, inclusive) and peak memory of each.

    A sampling thread reads this process's resident memory every 50 ms and charges it to every
    phase and step running at that moment.
    """

    def __init__(self) -> None:
        self.phases: dict[str, list[float]] = defaultdict(lambda: [0.0, 0, 0.0])  # s, calls, MiB
        self.steps: dict[str, list[float]] = defaultdict(lambda: [0.0, 0, 0.0])
        self.entities: dict[str, float] = defaultdict(float)
        self.sql: list[tuple[float, str, str]] = []
        self.rows: dict[str, int] = {}
        self.peak = 0.0
        self._stack: list[str] = []
        self._shown: list[str] = []  # the same, with the entity file a phase works on
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        started, ticks = time.perf_counter(), 0
        while not self._stop.is_set():
            rss = _rss_mib()
            ticks += 1
            if ticks % 20 == 0:
                # A line a second on stderr (the step's log): where a run stopped for its
                # memory or time limit was when it stopped.
                where = " > ".join(self._shown) or "(between phases)"
                print(
                    f"[{time.perf_counter() - started:7.1f} s] {rss:9,.0f} MiB  {where}",
                    file=sys.stderr,
                    flush=True,
                )
            self.peak = max(self.peak, rss)
            stack = list(self._stack)
            for i, name in enumerate(stack):
                table = self.phases if i == 0 else self.steps
                table[name][2] = max(table[name][2], rss)
            self._stop.wait(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._sampler.join()

    @property
    def current_phase(self) -> str:
        return self._stack[0] if self._stack else "(between phases)"

    @contextlib.contextmanager
    def span(self, name: str, entity: str | None = None) -> Iterator[None]:
        outermost = not self._stack
        self._stack.append(name)
        self._shown.append(f"{name} ({entity})" if entity else name)
        started = time.perf_counter()
        try:
            yield
        finally:
            seconds = time.perf_counter() - started
            self._stack.pop()
            self._shown.pop()
            table = self.phases if outermost else self.steps
            table[name][0] += seconds
            table[name][1] += 1
            if entity:
                self.entities[entity] += seconds

    def wrap(
        self,
        module,
        attr: str,
        label: Callable[..., str] | str,
        entity: Callable[..., str] | None = None,
    ) -> None:
        fn = getattr(module, attr)

        @functools.wraps(fn)
        def traced(*args, **kwargs):
            name = label(*args, **kwargs) if callable(label) else label
            with self.span(name, entity(*args, **kwargs) if entity else None):
                return fn(*args, **kwargs)

        setattr(module, attr, traced)


class TracedConnection:
    """A DuckDB connection that records the wall time of each statement it executes."""

    def __init__(self, con, tracer: Tracer) -> None:
        self._con = con
        self._tracer = tracer

    def execute(self, sql, *args, **kwargs):
        started = time.perf_counter()
        try:
            return self._con.execute(sql, *args, **kwargs)
        finally:
            text = " ".join(str(sql).split())
            self._tracer.sql.append(
                (time.perf_counter() - started, self._tracer.current_phase, text)
            )

    def __getattr__(self, name):
        return getattr(self._con, name)


def _trace_flags(tracer: Tracer) -> None:
    """Steps inside the measure engine: each measure's score, each query, the heavy statistics."""
    import queries
    from measures import allegiance, binary, casemix, drift
    from measures.registry import MEASURES

    def label_of(name: str) -> str:
        """A report query's name, or what a query the engine composes is for."""
        if name == allegiance.SIDES_SQL:
            return "allegiance sides"
        if name == drift.PERIODS_SQL:
            return "drift periods"
        if name == drift.EXAMS_SQL:
            return "drift exams"
        if "hash(exam_id)" in name:
            return "casemix patterns"
        if "GROUP BY examiner_id" in name:
            return "examiner units"
        return name

    def traced(run_query: Callable) -> Callable:
        @functools.wraps(run_query)
        def traced_run(con, name, *args, **kwargs):
            label = label_of(name)
            with tracer.span(f"query {label}"):
                frame = run_query(con, name, *args, **kwargs)
            tracer.rows[label] = len(frame)
            return frame

        return traced_run

    queries.run, queries.run_sql = traced(queries.run), traced(queries.run_sql)

    def spanned(name: str, score: Callable) -> Callable:
        def traced_score(view, settings):
            with tracer.span(f"measure {name}"):
                return score(view, settings)

        return traced_score

    for name, m in MEASURES.items():
        # A Measure is frozen: its score is swapped in place for this profiling process only.
        object.__setattr__(m, "score", spanned(name, m.score))
    for module, name in (
        (casemix, "fit_models"),
        (casemix, "fit_casemix"),
        (binary, "score_units"),
        (drift, "threshold_for_batched_panel"),
        (drift, "batched_cusum"),
        (drift, "baseline_log_odds_ratios"),
        (drift, "drift_charts"),
    ):
        tracer.wrap(module, name, name)


def _top_functions(profile, limit: int = 12) -> dict:
    """The profiler's top functions: by own time (anything), by cumulative time (project code)."""
    import pstats

    stats = pstats.Stats(profile)
    rows = []
    for (path, line, func), (_, calls, own, cumulative, _) in stats.stats.items():
        if path == "~":
            label = func  # a built-in or C method, e.g. DuckDB's execute
        else:
            try:
                label = f"{Path(path).resolve().relative_to(ROOT)}:{line} {func}"
            except ValueError:
                label = f"{Path(path).name}:{line} {func}"
        rows.append(
            {
                "function": label,
                "calls": calls,
                "own_s": own,
                "cumulative_s": cumulative,
                "project": path.startswith(str(ROOT)) and not path.startswith(str(BENCH)),
            }
        )
    by_own = sorted(rows, key=lambda r: -r["own_s"])[:limit]
    by_cumulative = sorted((r for r in rows if r["project"]), key=lambda r: -r["cumulative_s"])[
        :limit
    ]
    return {"by_own_time": by_own, "by_cumulative_time_project": by_cumulative}


def _tracer_report(tracer: Tracer, total: float) -> dict:
    def table(d):
        return sorted(
            (
                {"name": k, "seconds": v[0], "calls": int(v[1]), "peak_mib": v[2]}
                for k, v in d.items()
            ),
            key=lambda r: -r["seconds"],
        )

    slowest = sorted(tracer.sql, key=lambda s: -s[0])[:12]
    return {
        "total_s": total,
        "peak_mib": tracer.peak,
        "phases": table(tracer.phases),
        "steps": table(tracer.steps),
        "entities": dict(sorted(tracer.entities.items(), key=lambda kv: -kv[1])),
        "slowest_sql": [{"seconds": s, "phase": p, "sql": q[:160]} for s, p, q in slowest],
        "sql_statements": len(tracer.sql),
        "sql_seconds": sum(s for s, _, _ in tracer.sql),
        "query_rows": tracer.rows,
    }


def worker_profile_load(csv: str, db: str, into: str | None = None) -> dict:
    """`ime load` (with the precompute `ime load` asks for) under cProfile and the tracer: a
    full load into a new `db`, or, with `into`, an incremental load into a copy of that
    database."""
    import cProfile

    import queries
    from etl import load as loader
    from measures import precompute

    tracer = Tracer()
    entity_of_arg = {
        "stage_file": lambda con, path, entity, *a, **k: entity,
        "type_and_check": lambda con, table, entity, *a, **k: entity,
        "_quarantine": lambda con, pf, *a, **k: pf.entity,
        "_good_rows": lambda checked, entity, *a, **k: entity,
        "_upsert": lambda con, entity, *a, **k: entity,
    }
    # The file's checksum is computed in a thread while the file is staged: it is part of the
    # staging phase (the phases are the main thread's).
    labels = {
        "ensure_schema": "create schema",
        "stage_file": "read CSV (and its sha256), stage, pseudonymise",
        "type_and_check": "type and check every rule (references included)",
        "_quarantine": "write quarantine",
        "_good_rows": "select good rows",
        "_upsert": "upsert into entity tables",
        "build_models": "build stg_/dim_/fct_ models",
        "run_contracts": "contract checks",
        "_record_history": "load history",
    }
    for attr, label in labels.items():
        tracer.wrap(loader, attr, label, entity_of_arg.get(attr))
    _trace_flags(tracer)
    snapshot = loader.next_snapshot

    @contextlib.contextmanager
    def traced_snapshot(path):
        manager = snapshot(path)
        with tracer.span("copy and open the snapshot"):
            con = manager.__enter__()
        try:
            yield TracedConnection(con, tracer)
        except BaseException:
            if not manager.__exit__(*sys.exc_info()):
                raise
        else:
            with tracer.span("checkpoint, fsync, rename"):
                manager.__exit__(None, None, None)

    loader.next_snapshot = traced_snapshot

    Path(db).unlink(missing_ok=True)
    if into:
        shutil.copyfile(into, db)
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    tracer.wrap(precompute, "store_flags", "precompute flags (store_flags)")
    tracer.wrap(queries, "store_default_view", "precompute the pages' default view")
    report = loader.load([Path(csv)], Path(db), progress=False, after_build=precompute.after_load)
    profile.disable()
    total = time.perf_counter() - started
    tracer.stop()
    out = _tracer_report(tracer, total)
    out["functions"] = _top_functions(profile)
    out["rows_read"] = report.total("read")
    return out


def worker_profile_flags(db: str) -> dict:
    """The measure engine for all measures under cProfile, refitting the case-mix models first
    (on a copy of the database, as `ime load` does once per load)."""
    import cProfile

    import duckdb

    from measures import casemix, engine
    from measures.base import DEFAULT_SETTINGS

    tracer = Tracer()
    _trace_flags(tracer)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "profile.duckdb"
        shutil.copyfile(db, copy)
        con = duckdb.connect(str(copy))
        n_exams = con.execute("SELECT count(*) FROM fct_exams").fetchall()[0][0]
        profile = cProfile.Profile()
        started = time.perf_counter()
        profile.enable()
        with tracer.span("compute_flags, all measures, models fitted"):
            # Through the modules, so that the tracer's wrappers see the fit.
            casemix.store_models(con, DEFAULT_SETTINGS)
            table = engine.compute_flags(con)
        profile.disable()
        total = time.perf_counter() - started
        con.close()
    tracer.stop()
    out = _tracer_report(tracer, total)
    out["functions"] = _top_functions(profile)
    out["n_exams"] = int(n_exams)
    out["rows"] = int(len(table))
    return out
