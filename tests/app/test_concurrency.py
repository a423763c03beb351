"""Many sessions at once: the concurrency runner's statistics and verdict, readers of the shared
connection in parallel, one computation of a cached result however many sessions ask, and the
runner against a real `ime serve` in headless Chromium.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import streamlit as st
from duckdb.sqltypes import BIGINT

import measures.engine
from dashboard import data
from devtools import bench_concurrency
from devtools.bench.render import render_document
from devtools.bench.results import Result, Run
from devtools.bench.targets import concurrency_target
from devtools.bench_concurrency import LevelStats, judge, level_stats, percentile
from queries import Filters, run_sql

# --- Statistics -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        (list(range(1, 11)), 50, 5.5),  # R: quantile(1:10, 0.5) -> 5.5
        (list(range(1, 11)), 95, 9.55),  # R: quantile(1:10, 0.95) -> 9.55
        ([23.6, 2.1, 12.5, 9.0], 95, 21.935),  # R: quantile(c(23.6, 2.1, 12.5, 9), 0.95)
        ([3.0], 95, 3.0),
    ],
    ids=["median_1_to_10", "p95_1_to_10", "p95_unsorted_four", "one_value"],
)
def test_percentile_is_R_type_7(values, q, expected):
    assert percentile(values, q) == pytest.approx(expected)


def test_percentile_of_no_timing_is_none():
    assert percentile([], 95) is None


def test_level_stats_count_errors_and_loads_left_out_of_the_time_limit():
    loads = [{"started": True, "seconds": float(s), "error": None} for s in range(1, 11)]
    loads.append({"started": True, "seconds": 120.0, "error": "not ready within 120 s"})
    loads.append({"started": True, "seconds": 3.0, "error": "exception box: KeyError"})
    loads.append({"started": False, "seconds": None, "error": None})
    stats = level_stats(8, loads)
    assert (stats.sessions, stats.loads, stats.errors, stats.not_started) == (8, 12, 2, 1)
    # Over the ten loads without an error only (R: quantile(1:10, c(0.5, 0.95))).
    assert stats.p50 == pytest.approx(5.5)
    assert stats.p95 == pytest.approx(9.55)
    assert stats.max == 10.0


def _levels(p95_one: float, p95_eight: float, errors: int = 0, left: int = 0) -> dict:
    return {
        1: LevelStats(1, 12, 0, 0, p95_one / 2, p95_one, p95_one),
        8: LevelStats(8, 96, errors, left, p95_eight / 2, p95_eight, p95_eight),
    }


def test_verdict_met_when_eight_sessions_stay_within_three_times_one_session():
    judged = judge(_levels(4.0, 10.0))
    assert judged.met is True
    assert judged.ratio == pytest.approx(2.5)
    assert judged.verdict == "met (0.83 of the limit)"
    assert "8 sessions: 96 loads, 0 errors, p95 10.0 s" in judged.measured


def test_verdict_missed_says_by_how_much():
    judged = judge(_levels(4.0, 16.0))
    assert judged.met is False
    assert judged.verdict == "MISSED: p95 1.33× the limit"


@pytest.mark.parametrize(
    ("errors", "left", "reason"),
    [(1, 0, "1 of 96 loads failed"), (0, 5, "5 loads not started in the time limit")],
    ids=["one_error", "loads_left_out"],
)
def test_verdict_missed_on_any_error_even_when_fast(errors, left, reason):
    judged = judge(_levels(4.0, 5.0, errors=errors, left=left))
    assert judged.met is False
    assert judged.verdict == f"MISSED: {reason}"


def test_verdict_not_measured_without_one_session_to_compare_with():
    judged = judge({8: LevelStats(8, 96, 0, 0, 1.0, 2.0, 3.0)})
    assert judged.met is None
    assert judged.verdict == "not measured (one session not run)"


def _detail(p95_one: float, p95_eight: float) -> dict:
    def level(n: int, p95: float) -> dict:
        loads = [
            {
                "session": i % n,
                "url": "/",
                "started": True,
                "seconds": p95,
                "error": None,
                "stages": {"connected": 0.5, "title": 1.0, "script_done": p95},
            }
            for i in range(12 * n)
        ]
        return {
            "stats": vars(level_stats(n, loads)),
            "loads": loads,
            "wall_s": 60.0,
            "server_cpu_s": 6.0 * n,
            "client_cpu_s": 24.0 * n,
            "machine_busy": 0.9,
        }

    return {"levels": {"1": level(1, p95_one), "8": level(8, p95_eight)}}


@pytest.mark.parametrize(
    ("p95_eight", "verdict"),
    [(10.0, "met (0.83 of the limit)"), (16.0, "MISSED: p95 1.33× the limit")],
    ids=["pass", "fail"],
)
def test_bench_document_judges_the_concurrency_target_at_a_million(p95_eight, verdict):
    run = Run(
        sizes=[50_000, 1_000_000],
        command="ime bench",
        timeout=60.0,
        profile_size=None,
        started_at="2026-01-01T00:00:00",
        machine={},
    )
    run.results = {
        50_000: {"concurrency": Result(seconds=100.0, detail=_detail(1.0, 9.0))},
        1_000_000: {"concurrency": Result(seconds=100.0, detail=_detail(4.0, p95_eight))},
    }
    target = concurrency_target(run)
    assert target.verdict == verdict
    document = render_document(run)
    assert f"| {target.target} | {target.measured} | {verdict} |" in document
    assert "#### Many sessions at once at 1,000,000 exams" in document
    assert f"| 8 | 96 | 0 | {p95_eight:.1f} s | {p95_eight:.1f} s |" in document


def test_bench_target_not_measured_at_a_million_points_to_the_largest_size():
    run = Run(
        sizes=[50_000],
        command="ime bench",
        timeout=60.0,
        profile_size=None,
        started_at="2026-01-01T00:00:00",
        machine={},
    )
    run.results = {50_000: {"concurrency": Result(seconds=100.0, detail=_detail(1.0, 9.0))}}
    target = concurrency_target(run)
    assert target.verdict == "not measured at 1,000,000"
    assert target.measured.startswith("at 50,000: 8 sessions: 96 loads")


# --- The shared connection ----------------------------------------------------------------------


@pytest.fixture
def table_db(tmp_path) -> Path:
    path = tmp_path / "readers.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t AS SELECT range AS i FROM range(1000)")
    con.close()
    return path


def _meet_in_a_query(reader, timeout_s: float = 3.0) -> list[object]:
    """Two threads, each running a query that waits for the other's query to be running too.

    The query calls a Python function that waits at a barrier for the other query's call: it
    returns only if both queries run at once, and fails if one reader waits for the other.
    """
    barrier = threading.Barrier(2, timeout=timeout_s)

    def meet(x: int) -> int:
        barrier.wait()
        return x

    out: list[object] = []

    def one(i: int) -> None:
        try:
            out.append(reader(meet, i))
        except Exception as exc:  # noqa: BLE001 - the test reports what failed
            out.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=4 * timeout_s)
    return out


def test_readers_of_the_shared_connection_run_their_queries_at_the_same_time(table_db):
    shared = data.SharedConnection(table_db)

    def reader(meet, i: int):
        # The reader's own calls on what reading() gives, as measures.engine makes them.
        with shared.reading() as con:
            con.create_function(f"meet_{i}", meet, [BIGINT], BIGINT)
            return con.execute(f"SELECT meet_{i}(i) FROM t WHERE i = {i}").fetchall()

    assert sorted(map(str, _meet_in_a_query(reader))) == ["[(1,)]", "[(2,)]"]
    shared.close()


def test_readers_queries_through_the_runner_run_at_the_same_time(table_db):
    shared = data.SharedConnection(table_db)

    def reader(meet, i: int):
        with shared.reading() as con:
            con.create_function(f"meet_{i}", meet, [BIGINT], BIGINT)
            return run_sql(con, f"SELECT meet_{i}(i) AS x FROM t WHERE i = {i}")["x"].tolist()

    assert sorted(map(str, _meet_in_a_query(reader))) == ["[1]", "[2]"]
    shared.close()


def test_one_connection_object_makes_its_threads_wait_for_each_other(table_db):
    """Why readers get cursors: the same meeting fails when both use one connection object."""
    con = duckdb.connect(str(table_db), read_only=True)

    def reader(meet, i: int):
        con.create_function(f"meet_{i}", meet, [BIGINT], BIGINT)
        return con.execute(f"SELECT meet_{i}(i) FROM t WHERE i = {i}").fetchall()

    out = _meet_in_a_query(reader, timeout_s=1.0)
    assert any(isinstance(x, duckdb.Error) and "BrokenBarrierError" in str(x) for x in out), out
    con.close()


def test_a_new_load_waits_for_running_readers_then_serves_the_new_file(table_db, tmp_path):
    shared = data.SharedConnection(table_db)
    new = tmp_path / "new.duckdb"
    con = duckdb.connect(str(new))
    con.execute("CREATE TABLE t AS SELECT range AS i FROM range(5)")
    con.close()
    counts: list[int] = []
    with shared.reading() as old:
        os.replace(new, table_db)  # as a load swaps in its new file
        waiting = threading.Thread(
            target=lambda: counts.append(_count(shared)), name="reader after the load"
        )
        waiting.start()
        waiting.join(timeout=0.5)
        assert waiting.is_alive(), "the reopen must wait for the reader still running"
        assert old.execute("SELECT count(*) FROM t").fetchone()[0] == 1000
    waiting.join(timeout=10)
    assert counts == [5]
    shared.close()


def _count(shared: data.SharedConnection) -> int:
    with shared.reading() as con:
        return con.execute("SELECT count(*) FROM t").fetchone()[0]


# --- Cached results, shared by sessions -------------------------------------------------------


def test_eight_sessions_asking_for_one_views_flags_at_once_compute_them_once(use_db, monkeypatch):
    st.cache_data.clear()
    real = measures.engine.flags_for_view
    asked = threading.Semaphore(0)
    computed: list[Filters] = []

    def counted(con, scope, filters):
        # Hold the first computation until every session has asked for the same result.
        for _ in range(7):
            assert asked.acquire(timeout=30), "the other sessions never asked"
        computed.append(filters)
        return real(con, scope, filters)

    monkeypatch.setattr(measures.engine, "flags_for_view", counted)
    view = Filters(exam_type=("ime",))
    results: list[object] = []

    def session() -> None:
        asked.release()
        results.append(data.flags(view))

    threads = [threading.Thread(target=session) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert computed == [view], "one computation for the eight sessions"
    assert len(results) == 8
    assert all(r.error is None for r in results), results[0].error
    first = results[0].table
    for other in results[1:]:
        pd.testing.assert_frame_equal(other.table, first)


def test_the_sidebar_lists_are_cached_per_snapshot(use_db):
    st.cache_data.clear()
    first = data.filter_options()
    assert data.filter_options() == first
    assert first["jurisdiction"] == sorted(first["jurisdiction"])
    assert set(first) == {
        "jurisdiction",
        "claim_type",
        "body_part",
        "insurer_id",
        "specialty",
        "requested_by",
        "exam_type",
    }


# --- The runner against a real server: Chromium, and Streamlit's websocket protocol --------------


def _require_chromium(clients: str) -> None:
    if clients == "browser" and not bench_concurrency.CHROMIUM.exists():
        pytest.skip(f"{bench_concurrency.CHROMIUM} is absent (Debian's chromium package)")


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("clients", bench_concurrency.CLIENTS)
def test_two_sessions_at_once_load_every_page_of_the_mix_without_error(
    demo_db, tmp_path, clients, workers
):
    """Through one Streamlit process, and through `ime serve`'s front to two (each session
    kept on one worker by its cookie, signed in there, its profile views audited there)."""
    _require_chromium(clients)
    filtered = {"jurisdiction": ["CA"]}
    examiners, warm_view = bench_concurrency.examiners_for(str(demo_db), filtered, 3)
    level = bench_concurrency.run_level(
        str(demo_db),
        2,
        filtered,
        examiners[:2],
        (warm_view, examiners[2]),
        dict(os.environ),
        tmp_path / "serve.log",
        rounds=1,
        load_timeout=120,
        level_limit=600,
        clients=clients,
        workers=workers,
    )
    stats = level["stats"]
    assert (stats["loads"], stats["errors"], stats["not_started"]) == (12, 0, 0), level["loads"]
    assert level["warm_errors"] == []
    urls = {x["url"] for x in level["loads"]}
    assert "/examiners?jurisdiction=CA" in urls
    assert f"/examiner_profile?jurisdiction=CA&examiner={examiners[1]}" in urls
    for load in level["loads"]:
        stages = load["stages"]
        # Ready only after the page's own title was drawn (each page's title is its own, so
        # a URL that opened another page would fail) and its run had finished.
        assert stages["connected"] <= stages["title"] <= stages["script_done"], load
        if clients == "browser":
            assert stages["charts_drawn"] <= load["seconds"]
        else:
            assert stages["script_done"] <= load["seconds"]
    assert level["server_cpu_s"] > 0 and level["client_cpu_s"] > 0


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("clients", bench_concurrency.CLIENTS)
def test_an_exception_box_is_an_error(tmp_path, clients):
    _require_chromium(clients)
    empty = tmp_path / "empty.duckdb"  # a database file without the product's tables
    duckdb.connect(str(empty)).close()
    env = {**os.environ, "IME_AUDIT_DB": str(tmp_path / "audit.duckdb")}
    visit = bench_concurrency.Visit("overview.py", "IME outcomes", "default")
    with bench_concurrency.Server(str(empty), env, tmp_path / "serve.log") as server:
        loads, _ = asyncio.run(
            bench_concurrency._sessions(server.url, [[visit]], 60, 120, server.proc.pid, clients)
        )
    (load,) = loads
    assert load["error"].startswith("exception box: "), load
    assert level_stats(1, loads).errors == 1


@pytest.mark.slow
def test_a_page_the_app_does_not_have_is_an_error_over_the_websocket(demo_db, tmp_path):
    env = {**os.environ, "IME_AUDIT_DB": str(tmp_path / "audit.duckdb")}
    visit = bench_concurrency.Visit("no_such_page.py", "Nothing", "default")
    with bench_concurrency.Server(str(demo_db), env, tmp_path / "serve.log") as server:
        loads, _ = asyncio.run(
            bench_concurrency._sessions(
                server.url, [[visit]], 60, 120, server.proc.pid, "websocket"
            )
        )
    (load,) = loads
    assert load["error"] is not None, load


@pytest.mark.slow
def test_ime_serve_spares_the_shared_interpreter_work_done_per_run(demo_db, tmp_path):
    """One process serves every session, so what holds the GIL makes every reader wait: `ime
    serve` turns off Streamlit's full garbage collection after each run, its rewriting of pages
    for magic and its polling of source files (the figure: devtools/bench_concurrency.py)."""
    env = {**os.environ, "IME_AUDIT_DB": str(tmp_path / "audit.duckdb")}
    with bench_concurrency.Server(str(demo_db), env, tmp_path / "serve.log") as server:
        # `ime serve` replaced itself with Streamlit: the server's own command line.
        argv = Path(f"/proc/{server.proc.pid}/cmdline").read_bytes().decode().split("\0")
    options = dict(zip(argv, argv[1:], strict=False))
    assert argv[1:4] == ["-m", "streamlit", "run"]
    assert options["--runner.postScriptGC"] == "false"
    assert options["--runner.magicEnabled"] == "false"
    assert options["--server.fileWatcherType"] == "none"


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _gone(pids: list[int], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(Path(f"/proc/{p}").exists() and "zombie" not in _state(p) for p in pids):
            return True
        time.sleep(0.2)
    return False


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split("\n")[0].lower()
    except (OSError, IndexError):
        return "gone"


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
def test_the_workers_end_with_ime_serve_however_it_ends(demo_db, tmp_path, stop):
    env = {**os.environ, "IME_AUDIT_DB": str(tmp_path / "audit.duckdb")}
    server = bench_concurrency.Server(str(demo_db), env, tmp_path / "serve.log", workers=2)
    with server:
        workers = _children(server.proc.pid)
        assert len(workers) == 2
        for pid in workers:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            assert cmdline[1:4] == [b"-m", b"streamlit", b"run"]
        server.proc.send_signal(stop)
        server.proc.wait(20)
        assert _gone(workers), [_state(p) for p in workers]


@pytest.mark.slow
def test_ime_serve_stops_whole_when_a_worker_dies(demo_db, tmp_path):
    """Half the readers would reach a dead worker: `ime serve` stops the other and exits with
    an error, for whatever restarts it."""
    env = {**os.environ, "IME_AUDIT_DB": str(tmp_path / "audit.duckdb")}
    log = tmp_path / "serve.log"
    server = bench_concurrency.Server(str(demo_db), env, log, workers=2)
    with server:
        first, second = _children(server.proc.pid)
        os.kill(first, signal.SIGKILL)
        assert server.proc.wait(30) == 1
        assert _gone([second]), _state(second)
    assert "a dashboard worker exited with -9; the others were stopped" in log.read_text()
