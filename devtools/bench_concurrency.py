"""Many readers at once: N sessions replaying a fixed mix of pages on one `ime serve`.

For each number of sessions (1, 4 and 8 by default) the worker starts `ime serve` on a free
loopback port (a fresh server: empty caches) with as many worker processes as it starts on this
machine (one per core, ime/balancer.py), warms each worker with one untimed pass over the mix in
another view (so that module imports are not charged to the first timed page), then opens one
headless Chromium with one isolated context per session. Every session replays the same mix of
default and filtered pages, starting at a different place in it, `rounds` times. A page load is
timed from `goto` until the page is ready (`READY_JS`): Streamlit connected and no longer
running, the page's title drawn and every chart drawn, or an exception box shown. An exception
box or a load that is not ready within `load_timeout` is an error. The run is bounded: a fixed
number of loads per session, each with a time limit, and no load starts after `level_limit`
seconds.

With `clients="websocket"` a session is Streamlit's own protocol instead of a browser: each page
load opens a new websocket session, asks for the page's run as the browser would (URL path and
query string, and the cookies the server set earlier in the session, which keep a reader on one
worker) and is timed until the run has finished and all its messages have arrived. Nothing
is drawn, so on a machine the clients share with the server this measures the server's share of
the wait (every browser's drawing is on its reader's own machine), not the browsers' CPU.

The statistics (`level_stats`, `percentile`) and the target's verdict (`judge`) are plain
functions, so they are tested on known timings. `ime bench` calls `worker` in a process of
its own and renders `render` into docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from ime.balancer import default_workers, free_port

SESSIONS = (1, 4, 8)
# What a session is: a headless Chromium drawing the page (what a person sees, but on a shared
# machine the browsers' own CPU is most of the work), or Streamlit's websocket protocol
# without drawing (what the server makes every reader wait for).
CLIENTS = ("browser", "websocket")
CLIENT_WORDS = {
    "browser": "headless Chromium, one isolated context each, drawing every page",
    "websocket": "Streamlit's websocket protocol, a new session per page load, nothing drawn",
}
ROUNDS = 2
LOAD_TIMEOUT_S = 120.0
LEVEL_LIMIT_S = 900.0
# The target (issue 13): at this size, this many sessions, no error and p95 within this ratio
# of one session's p95 in the same run.
TARGET_SIZE = 1_000_000
TARGET_SESSIONS = 8
TARGET_RATIO_MAX = 3.0

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
VIEWPORT = {"width": 1280, "height": 900}
SERVER_START_S = 120.0
POLL_MS = 50

# Ready: Streamlit's app root says connected and not running (the attributes its own end-to-end
# tests wait on), and either an exception box is shown (anywhere: the sidebar's code runs
# first) or the page's title and every chart in the main area are drawn. The title is drawn
# only once the script has started, so a "notRunning" seen with it is the end of this page's
# run, not the state before it began.
READY_JS = """
title => {
  // When each stage was first seen, in ms since the navigation started.
  const seen = (window.__imeStages = window.__imeStages || {});
  const mark = name => { if (!(name in seen)) seen[name] = performance.now(); };
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app) return false;
  if (app.getAttribute('data-test-connection-state') !== 'CONNECTED') return false;
  mark('connected');
  const main = document.querySelector('[data-testid="stMain"]');
  const h1 = main && main.querySelector('h1');
  if (h1 && h1.textContent.includes(title)) mark('title');
  if (app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  if (document.querySelector('[data-testid="stException"]')) return {state: 'error', stages: seen};
  if (!main) return false;
  if (!('title' in seen)) return false;
  mark('script_done');
  for (const chart of main.querySelectorAll('[data-testid="stPlotlyChart"]')) {
    if (!chart.querySelector('.js-plotly-plot')) return false;
  }
  mark('charts_drawn');
  return {state: 'ready', stages: seen};
}
"""


@dataclass(frozen=True)
class Visit:
    """One page load of the mix: the page file, its title, the view and the URL's query."""

    page: str
    title: str
    view: str
    query: tuple[tuple[str, str], ...] = ()

    def url(self, base: str) -> str:
        path = "" if self.page == "overview.py" else Path(self.page).stem
        query = urllib.parse.urlencode(self.query)
        return f"{base}/{path}" + (f"?{query}" if query else "")


# The mix: the pages a reader opens most (home, examiners, a profile), each in the default view
# (stored at load) and the bench's filtered view (computed live, then cached for everyone).
MIX_PAGES = (
    ("overview.py", "IME outcomes", "default"),
    ("examiners.py", "Examiners", "filtered"),
    ("examiner_profile.py", "Examiner profile", "default"),
    ("overview.py", "IME outcomes", "filtered"),
    ("examiners.py", "Examiners", "default"),
    ("examiner_profile.py", "Examiner profile", "filtered"),
)


def mix(filtered: dict[str, list[str]], examiner: str) -> list[Visit]:
    """The mix of one session: MIX_PAGES under `filtered`, profiles showing `examiner`."""
    out = []
    for page, title, view in MIX_PAGES:
        query = (
            [(k, v) for k, values in filtered.items() for v in values] if view == "filtered" else []
        )
        if page == "examiner_profile.py":
            query.append(("examiner", examiner))
        out.append(Visit(page, title, view, tuple(query)))
    return out


def session_visits(index: int, visits: Sequence[Visit], rounds: int) -> list[Visit]:
    """Session `index`'s loads: the mix from place `index`, round and round, `rounds` times."""
    k = index % len(visits)
    once = list(visits[k:]) + list(visits[:k])
    return once * rounds


# ---------------------------------------------------------------------------------------------
# Statistics and the verdict
# ---------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) by linear interpolation between order statistics.

    Notes
    -----
    Hyndman and Fan's definition 7, the default of R's `quantile` and of `numpy.percentile`:
    the value at rank ``1 + (n - 1) q / 100``. None for no values.

    References
    ----------
    Hyndman, R. J. and Fan, Y. (1996). Sample quantiles in statistical packages. The American
    Statistician 50(4), 361-365.
    """
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class LevelStats:
    """What N sessions at once measured.

    `loads` counts the loads started, `errors` those that showed an exception box or were not
    ready in time, `not_started` those the level's time limit left out. p50 and p95 are over
    the loads without an error, in seconds.
    """

    sessions: int
    loads: int
    errors: int
    not_started: int
    p50: float | None
    p95: float | None
    max: float | None


def level_stats(sessions: int, loads: Sequence[dict]) -> LevelStats:
    """Statistics of one level from its loads (dicts with `seconds`, `error`, `started`)."""
    started = [x for x in loads if x.get("started", True)]
    good = [x["seconds"] for x in started if not x.get("error")]
    return LevelStats(
        sessions=sessions,
        loads=len(started),
        errors=sum(1 for x in started if x.get("error")),
        not_started=len(loads) - len(started),
        p50=percentile(good, 50),
        p95=percentile(good, 95),
        max=max(good) if good else None,
    )


@dataclass(frozen=True)
class Judgement:
    """The concurrency target judged on one run: met (True/False, None: not measured) and why."""

    met: bool | None
    measured: str
    verdict: str
    ratio: float | None = None


def _s(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"


def judge(
    levels: dict[int, LevelStats],
    sessions: int = TARGET_SESSIONS,
    ratio_max: float = TARGET_RATIO_MAX,
) -> Judgement:
    """`sessions` at once: met when no load failed or was left out and p95 ≤ ratio_max × one
    session's p95 (both from `levels`, one run)."""
    one, many = levels.get(1), levels.get(sessions)
    if one is None or many is None or one.p95 is None:
        missing = "one session" if one is None or one.p95 is None else f"{sessions} sessions"
        return Judgement(None, "–", f"not measured ({missing} not run)")
    ratio = None if many.p95 is None else many.p95 / one.p95
    measured = (
        f"{sessions} sessions: {many.loads} loads, {many.errors} errors, p95 {_s(many.p95)}; "
        f"one session: p95 {_s(one.p95)}; ratio " + ("–" if ratio is None else f"{ratio:.2f}×")
    )
    problems = []
    if many.errors:
        problems.append(f"{many.errors} of {many.loads} loads failed")
    if many.not_started:
        problems.append(f"{many.not_started} loads not started in the time limit")
    if ratio is not None and ratio > ratio_max:
        problems.append(f"p95 {ratio / ratio_max:.2f}× the limit")
    if ratio is None:
        problems.append("no load succeeded")
    if problems:
        return Judgement(False, measured, "MISSED: " + "; ".join(problems), ratio)
    return Judgement(True, measured, f"met ({ratio / ratio_max:.2f} of the limit)", ratio)


def levels_from(detail: dict) -> dict[int, LevelStats]:
    """The LevelStats of a worker's result (as results.json keeps it)."""
    return {int(n): LevelStats(**level["stats"]) for n, level in detail.get("levels", {}).items()}


def _per_load(total: float | None, loads: int) -> str:
    return "–" if total is None or not loads else _s(total / loads)


def render(detail: dict) -> list[str]:
    """The table of one size's concurrency run, for docs/benchmarks.md."""
    levels = levels_from(detail)
    if not levels:
        return [detail.get("error") or "Not run."]
    one = levels.get(1)
    lines = [
        f"Sessions: {CLIENT_WORDS[detail.get('clients', 'browser')]}. Server: `ime serve` "
        f"with {detail.get('workers', 1)} worker process(es).",
        "",
        "| sessions at once | page loads | errors | p50 per page | p95 per page "
        "| p95 ÷ one session's p95 | p95 until connected | server CPU per load "
        "| client CPU per load | machine CPU busy | wall |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n in sorted(levels):
        s, raw = levels[n], detail["levels"][str(n)]
        ratio = f"{s.p95 / one.p95:.2f}×" if one and one.p95 and s.p95 is not None else "–"
        left = f" (+{s.not_started} not started)" if s.not_started else ""
        connected = percentile(
            [x["stages"]["connected"] for x in raw["loads"] if "connected" in x.get("stages", {})],
            95,
        )
        busy = raw.get("machine_busy")
        cells = [
            str(n),
            f"{s.loads}{left}",
            str(s.errors),
            _s(s.p50),
            _s(s.p95),
            ratio,
            _s(connected),
            _per_load(raw.get("server_cpu_s"), s.loads),
            _per_load(raw.get("client_cpu_s"), s.loads),
            "–" if busy is None else f"{100 * busy:.0f}%",
            _s(raw.get("wall_s")),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    errors = [
        f"`{x['url']}`: {x['error']}"
        for n in sorted(levels)
        for x in detail["levels"][str(n)]["loads"]
        if x.get("error")
    ]
    if errors:
        lines += ["", f"{len(errors)} errors; the first: " + "; ".join(errors[:3])]
    return lines


# ---------------------------------------------------------------------------------------------
# The worker: a server, a browser, N sessions
# ---------------------------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds so far of a process and every process below it (`ime serve`
    with several workers serves from its children), None once it has gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
    return own + _tree_cpu(pid)


def _machine_ticks() -> tuple[int, int] | None:
    """(busy, total) jiffies of every CPU since boot, from /proc/stat."""
    try:
        with open("/proc/stat") as fh:
            values = [int(v) for v in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


class Server:
    """`ime serve` of `db` with `workers` processes on a free loopback port, stopped on exit."""

    def __init__(self, db: str, env: dict[str, str], log: Path, workers: int = 1) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("w") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "ime.cli",
                    "serve",
                    "--port",
                    str(self.port),
                    "--address",
                    "127.0.0.1",
                    "--db",
                    db,
                    "--workers",
                    str(workers),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )

    def wait_healthy(self, timeout: float = SERVER_START_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"ime serve exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"ime serve did not answer on {self.url} within {timeout:.0f} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def __enter__(self) -> Server:
        try:
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _load(page, visit: Visit, base: str, timeout_s: float) -> tuple[float, str | None, dict]:
    """Open one URL in `page`: seconds until ready, the error or None, and the stages.

    The stages are when the new document committed (seconds since the request), and when
    each stage of READY_JS was first seen (seconds since the new document's navigation
    started); a page not ready in time still says how far it got.
    """
    from playwright.async_api import Error as PlaywrightError

    started = time.perf_counter()
    stages: dict[str, float] = {}
    try:
        await page.goto(visit.url(base), wait_until="commit", timeout=timeout_s * 1000)
        stages["committed"] = round(time.perf_counter() - started, 3)
        left = max(1.0, timeout_s - (time.perf_counter() - started))
        handle = await page.wait_for_function(
            READY_JS, arg=visit.title, polling=POLL_MS, timeout=left * 1000
        )
        ready = await handle.json_value()
    except PlaywrightError as exc:
        elapsed = time.perf_counter() - started
        with contextlib.suppress(PlaywrightError, asyncio.TimeoutError):
            seen = await asyncio.wait_for(page.evaluate("window.__imeStages || {}"), 5)
            stages.update({k: round(v / 1000, 3) for k, v in seen.items()})
        if "Timeout" in type(exc).__name__ or "Timeout" in str(exc):
            return elapsed, f"not ready within {timeout_s:g} s", stages
        return elapsed, f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}", stages
    elapsed = time.perf_counter() - started
    stages.update({k: round(v / 1000, 3) for k, v in ready["stages"].items()})
    if ready["state"] == "error":
        text = await page.locator('[data-testid="stException"]').first.inner_text()
        return elapsed, "exception box: " + " ".join(text.split())[:200], stages
    return elapsed, None, stages


async def _session(
    browser,
    index: int,
    visits: list[Visit],
    base: str,
    timeout_s: float,
    deadline: float,
    t0: float,
) -> list[dict]:
    context = await browser.new_context(viewport=VIEWPORT)
    page = await context.new_page()
    out = []
    try:
        for i, visit in enumerate(visits):
            row = {
                "session": index,
                "i": i,
                "page": visit.page,
                "view": visit.view,
                "url": visit.url(""),
            }
            if time.perf_counter() > deadline:
                out.append({**row, "started": False, "seconds": None, "error": None})
                continue
            at = time.perf_counter() - t0
            seconds, error, stages = await _load(page, visit, base, timeout_s)
            out.append(
                {
                    **row,
                    "started": True,
                    "at": at,
                    "seconds": seconds,
                    "error": error,
                    "stages": stages,
                }
            )
    finally:
        await context.close()
    return out


def _tree_cpu(root: int, exclude: int | None = None) -> float:
    """CPU seconds of every process below `root` except the tree of `exclude`, with what their
    exited children used (the browser's renderers of closed pages)."""
    parent: dict[int, int] = {}
    cpu: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(entry)] = int(fields[1])
        cpu[int(entry)] = sum(int(v) for v in fields[11:15]) / tick

    def below(pid: int) -> bool:
        while pid in parent and pid not in (root, exclude, 0, 1):
            pid = parent[pid]
        return pid == root

    return sum(c for pid, c in cpu.items() if pid not in (root, exclude) and below(pid))


async def _ws_load(
    visit: Visit, base: str, timeout_s: float, cookies: dict[str, str]
) -> tuple[float, str | None, dict]:
    """One page load as Streamlit's own client makes it, without drawing anything: a new
    websocket session asks for the page's run; seconds until the run has finished and every
    message of it has arrived, the error or None, and the stages (as `_load`'s).

    `cookies` is the session's cookie jar, sent with the handshake and updated from its
    response, as a browser keeps one: a server of several workers keeps a reader on one by
    cookie (ime/balancer.py).
    """
    import websockets
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    started = time.perf_counter()
    stages: dict[str, float] = {}
    error: str | None = None

    def since() -> float:
        return round(time.perf_counter() - started, 3)

    ask = BackMsg()
    # What the browser sends for a URL: the page by its URL path (st.navigation finds it by
    # that), the query string, and where the page is.
    ask.rerun_script.query_string = urllib.parse.urlencode(visit.query)
    ask.rerun_script.page_name = visit.url("").split("?", 1)[0].strip("/")
    ask.rerun_script.context_info.url = visit.url(base)
    ask.rerun_script.context_info.timezone = "UTC"
    ask.rerun_script.context_info.locale = "en-US"
    try:
        async with asyncio.timeout(timeout_s):
            async with websockets.connect(
                base.replace("http", "ws", 1) + "/_stcore/stream",
                subprotocols=["streamlit"],
                origin=base,
                max_size=None,
                additional_headers=(
                    {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
                    if cookies else None
                ),
            ) as ws:
                stages["connected"] = since()
                for header in ws.response.headers.get_all("Set-Cookie"):
                    name, _, value = header.split(";", 1)[0].partition("=")
                    cookies[name.strip()] = value.strip()
                await ws.send(ask.SerializeToString())
                while True:
                    msg = ForwardMsg.FromString(await ws.recv())
                    kind = msg.WhichOneof("type")
                    if kind == "page_not_found":
                        error = f"page not found: {msg.page_not_found.page_name!r}"
                    elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                        element = msg.delta.new_element
                        if element.WhichOneof("type") == "exception" and error is None:
                            error = "exception box: " + f"{element.exception.type}: "
                            error += " ".join(element.exception.message.split())[:200]
                        elif element.WhichOneof("type") == "heading" and "title" not in stages:
                            if visit.title in element.heading.body:
                                stages["title"] = since()
                    elif kind == "script_finished":
                        # A run cut short for another (st.switch_page, a query-parameter
                        # rerun) is followed by that run: wait for it.
                        if msg.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                            stages["script_done"] = since()
                            break
    except TimeoutError:
        return time.perf_counter() - started, f"not ready within {timeout_s:g} s", stages
    except (OSError, websockets.WebSocketException) as exc:
        return time.perf_counter() - started, f"{type(exc).__name__}: {exc}"[:200], stages
    if error is None and "title" not in stages:
        error = f"the page's title {visit.title!r} was not drawn"
    return time.perf_counter() - started, error, stages


async def _ws_session(
    index: int, visits: list[Visit], base: str, timeout_s: float, deadline: float, t0: float
) -> list[dict]:
    out = []
    cookies: dict[str, str] = {}
    for i, visit in enumerate(visits):
        row = {"session": index, "i": i, "page": visit.page, "view": visit.view}
        row["url"] = visit.url("")
        if time.perf_counter() > deadline:
            out.append({**row, "started": False, "seconds": None, "error": None})
            continue
        at = time.perf_counter() - t0
        seconds, error, stages = await _ws_load(visit, base, timeout_s, cookies)
        out.append(
            {**row, "started": True, "at": at, "seconds": seconds, "error": error, "stages": stages}
        )
    return out


async def _sessions(
    base: str,
    plans: list[list[Visit]],
    timeout_s: float,
    limit_s: float,
    server_pid: int,
    clients: str = "browser",
) -> tuple[list[dict], float]:
    """Every session's loads, at once; and the clients' CPU seconds.

    `clients`: "browser", one headless Chromium with a context per session, or "websocket",
    Streamlit's protocol from this process (what the server does for a page, without drawing).
    """
    if clients == "websocket":
        cpu0, t0 = time.process_time(), time.perf_counter()
        done = await asyncio.gather(
            *(
                _ws_session(i, plan, base, timeout_s, t0 + limit_s, t0)
                for i, plan in enumerate(plans)
            )
        )
        return [row for rows in done for row in rows], time.process_time() - cpu0
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS))
        try:
            cpu0 = _tree_cpu(os.getpid(), server_pid)
            t0 = time.perf_counter()
            deadline = t0 + limit_s
            done = await asyncio.gather(
                *(
                    _session(browser, i, plan, base, timeout_s, deadline, t0)
                    for i, plan in enumerate(plans)
                )
            )
            cpu = _tree_cpu(os.getpid(), server_pid) - cpu0
        finally:
            await browser.close()
    return [row for rows in done for row in rows], cpu


def examiners_for(
    db: str, filtered: dict[str, list[str]], k: int
) -> tuple[list[str], dict[str, list[str]]]:
    """The `k` busiest examiners of the filtered view (each has a profile in both views), and
    the warm-up view: the busiest value of the filtered column outside the filtered view."""
    import duckdb

    ((column, values),) = filtered.items()
    con = duckdb.connect(db, read_only=True)
    try:
        # The column comes from the bench's fixed FILTERED_VIEW; values are bound.
        rows = con.execute(
            f"SELECT examiner_id FROM fct_exams WHERE list_contains($values, {column}) "  # noqa: S608
            "GROUP BY examiner_id ORDER BY count(*) DESC, examiner_id LIMIT $k",
            {"values": values, "k": k},
        ).fetchall()
        warm = con.execute(
            f"SELECT {column} FROM fct_exams WHERE NOT list_contains($values, {column}) "  # noqa: S608
            "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1",
            {"values": values},
        ).fetchone()
    finally:
        con.close()
    return [r[0] for r in rows], {column: [warm[0]]} if warm else filtered


def run_level(
    db: str,
    sessions: int,
    filtered: dict[str, list[str]],
    examiners: list[str],
    warm: tuple[dict[str, list[str]], str],
    env: dict[str, str],
    log: Path,
    rounds: int = ROUNDS,
    load_timeout: float = LOAD_TIMEOUT_S,
    level_limit: float = LEVEL_LIMIT_S,
    clients: str = "browser",
    workers: int = 1,
) -> dict:
    """`sessions` sessions at once on a fresh `ime serve` of `workers` processes: their loads
    and statistics."""
    with Server(db, env, log, workers) as server:
        # Untimed: one pass over the mix in another view, so that imports and the first
        # connection are paid before the clock starts; the timed views stay cold. One warming
        # session per worker: each new session is given the next worker in turn.
        warm_view, warm_examiner = warm
        warmed, _ = asyncio.run(
            _sessions(
                server.url,
                [mix(warm_view, warm_examiner)] * workers,
                load_timeout,
                level_limit,
                server.proc.pid,
                clients,
            )
        )
        plans = [
            session_visits(i, mix(filtered, examiners[i % len(examiners)]), rounds)
            for i in range(sessions)
        ]
        cpu0, ticks0, t0 = _cpu_seconds(server.proc.pid), _machine_ticks(), time.perf_counter()
        loads, client_cpu = asyncio.run(
            _sessions(server.url, plans, load_timeout, level_limit, server.proc.pid, clients)
        )
        wall = time.perf_counter() - t0
        cpu1, ticks1 = _cpu_seconds(server.proc.pid), _machine_ticks()
    busy = None
    if ticks0 and ticks1 and ticks1[1] > ticks0[1]:
        busy = (ticks1[0] - ticks0[0]) / (ticks1[1] - ticks0[1])
    return {
        "stats": asdict(level_stats(sessions, loads)),
        "loads": loads,
        "warm_errors": [x["error"] for x in warmed if x.get("error")],
        "wall_s": wall,
        "server_cpu_s": None if cpu0 is None or cpu1 is None else cpu1 - cpu0,
        "client_cpu_s": client_cpu,
        "machine_busy": busy,
    }


def worker(
    db: str,
    filtered: dict[str, list[str]],
    sessions: Sequence[int] = SESSIONS,
    rounds: int = ROUNDS,
    load_timeout: float = LOAD_TIMEOUT_S,
    level_limit: float = LEVEL_LIMIT_S,
    logs: str | None = None,
    progress: Callable[[dict], None] | None = None,
    clients: str = "browser",
    workers: int | None = None,
) -> dict:
    """Every level of `sessions`, one after the other, each on a fresh server (a JSON dict).

    `progress`, if given, receives the result so far after each level. `workers`: the
    server's processes, by default as many as `ime serve` starts on this machine.
    """
    workers = default_workers() if workers is None else workers
    if clients == "browser" and not CHROMIUM.exists():
        return {"error": f"not run: {CHROMIUM} is absent (Debian's chromium package)", "levels": {}}
    examiners, warm_view = examiners_for(db, filtered, max(sessions) + 1)
    env = dict(os.environ)
    log_dir = Path(logs) if logs else Path(db).parent / "logs"
    out: dict = {
        "mix": [v.url("") for v in mix(filtered, "EXAMINER")],
        "examiners": examiners,
        "warm_view": warm_view,
        "rounds": rounds,
        "load_timeout_s": load_timeout,
        "level_limit_s": level_limit,
        "clients": clients,
        "workers": workers,
        "levels": {},
    }
    for n in sessions:
        level = run_level(
            db,
            n,
            filtered,
            examiners[:-1] or examiners,
            (warm_view, examiners[-1]),
            env,
            log_dir / f"serve_{n}_sessions.log",
            rounds,
            load_timeout,
            level_limit,
            clients,
            workers,
        )
        out["levels"][str(n)] = level
        s = level["stats"]
        print(
            f"{n} sessions: {s['loads']} loads, {s['errors']} errors, p50 {_s(s['p50'])}, "
            f"p95 {_s(s['p95'])}, wall {_s(level['wall_s'])}",
            file=sys.stderr,
            flush=True,
        )
        if progress is not None:
            progress(out)
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m devtools.bench_concurrency --db F``: the concurrency figure alone, as JSON."""
    import argparse
    import json

    parser = argparse.ArgumentParser(
        prog="python -m devtools.bench_concurrency", description=main.__doc__
    )
    parser.add_argument("--db", required=True)
    parser.add_argument("--sessions", type=int, nargs="+", default=list(SESSIONS))
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--load-timeout", type=float, default=LOAD_TIMEOUT_S)
    parser.add_argument("--level-limit", type=float, default=LEVEL_LIMIT_S)
    parser.add_argument(
        "--filter", default="jurisdiction=CA", help="the filtered view, COLUMN=VALUE"
    )
    parser.add_argument("--clients", choices=CLIENTS, default="browser")
    parser.add_argument(
        "--workers", type=int, default=None,
        help="the server's processes (default: as many as `ime serve` starts here)",
    )
    parser.add_argument("--out", help="JSON file to write (default: standard output)")
    args = parser.parse_args(argv)
    column, value = args.filter.split("=", 1)

    def save(result: dict) -> None:
        if args.out:
            Path(args.out).write_text(json.dumps(result, indent=1), encoding="utf-8")

    result = worker(
        str(Path(args.db).resolve()),
        {column: [value]},
        args.sessions,
        args.rounds,
        args.load_timeout,
        args.level_limit,
        progress=save,
        clients=args.clients,
        workers=args.workers,
    )
    save(result)
    if not args.out:
        print(json.dumps(result, indent=1))
    print("\n".join(render(result)), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
