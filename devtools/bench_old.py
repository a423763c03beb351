"""`ime bench`: every step of the product timed at several sizes, each beside a baseline.

For each size the benchmark generates demo data (CSV), then measures, each in a process of
its own so that peak memory belongs to one step:

- `ime load` against a bare DuckDB ``CREATE TABLE ... AS SELECT * FROM read_csv(...)`` of the
  same files (the floor: loading with no validation);
- `ime flags` for all measures (computed) and as the default view reads them (stored at load),
  against the same bare load; `ime export` of each table when the command exists;
- every dashboard page through Streamlit's AppTest, default view and one filtered view, cold
  (fresh process, empty caches) and warm (second run of the same AppTest), against the same
  figures computed the way an analyst would with pandas (read Parquet, merge, group by,
  compute); the pandas figures are checked against the product's so the baseline is honest;
- many sessions at once (devtools.bench_concurrency): one `ime serve`, 1, 4 and 8 browser sessions
  replaying the same mix of default and filtered pages, seconds per page load against one
  session alone in the same run;
- at one size (1,000,000 exams by default), a profiler run of `ime load` and of the flags
  engine: time and peak memory per phase, the slowest SQL statements, the top functions.

The results, the machine and the command go to docs/benchmarks.md, rewritten after every step
so that a run stopped half-way still leaves what it measured. The machine may be shared:
every figure sits beside a baseline measured in the same run, and ratios are what to read.

Workers run as ``python -m devtools.bench worker NAME ARGS_JSON`` and print one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import importlib.metadata
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from devtools import bench_concurrency

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SIZES = (50_000, 1_000_000)
FULL_SIZES = (50_000, 1_000_000, 10_000_000)
FULL_COMMAND = "scripts/bench.sh"
SEED = 0
DEFAULT_TIMEOUT_S = 3600.0
DEFAULT_MAX_MEMORY_GIB = 12.0
DEFAULT_OUT = "docs/benchmarks.md"
# The steps `--only` can run alone.
ONLY_STEPS = ("concurrency",)
DEMO_ENTITIES = ("examiners", "cases", "exams", "decisions", "treating_ratings", "rulings")
# The filtered view: the busiest jurisdiction of the demo data (about a fifth of the exams),
# set through the URL as a reader's link would.
FILTERED_VIEW = {"jurisdiction": ["CA"]}
VIEWS = {"default": {}, "filtered": FILTERED_VIEW}
# What the profiler and the figures taught, and why a target is missed: written by hand.
FINDINGS = Path(__file__).resolve().parents[1] / "docs" / "benchmark-findings.md"
# Where each sidebar filter column lives in the source files (for the pandas way).
FILTER_HOME = {
    "jurisdiction": "cases",
    "claim_type": "cases",
    "body_part": "cases",
    "insurer_id": "cases",
    "specialty": "examiners",
    "requested_by": "exams",
    "exam_type": "exams",
}

# The targets of the issue.
TARGET_SIZE = 10_000_000
LOAD_RATIO_MAX = 2.5  # the load-performance issue: at most 2.5 times the bare load
# Incremental loads: INCREMENTS loads, each of INCREMENT_PERCENT % new exams (existing exams
# under new ids), into a copy of the loaded database; each at most INCREMENT_RATIO_MAX of the
# full load's time.
INCREMENTS = 10
INCREMENT_PERCENT = 1
INCREMENT_RATIO_MAX = 0.05
PEAK_MEMORY_MAX_MIB = 4096.0
GENERATE_MAX_S = 300.0
PAGE_MAX_S = 1.0
PAGE_RATIO_MAX = 0.1  # product / pandas: at least 10 times faster
FLAGS_MAX_S = 30.0
FLAGS_RATIO_SIZE = 1_000_000
FLAGS_RATIO_MAX = 3.0
# A filtered view sums the expectations stored at load: its export costs at most this much
# more than the unfiltered one (measure-engine issue), judged at this size.
FILTERED_EXPORT = "examiner_rates"
FILTERED_EXPORT_RATIO_MAX = 1.5
FILTERED_EXPORT_SIZE = 1_000_000
# The pages whose filtered view must also open within PAGE_MAX_S at TARGET_SIZE.
FILTERED_PAGES = ("overview.py", "examiners.py", "examiner_profile.py")
PAGE_GROWTH_FROM = 1_000_000
PAGE_GROWTH_MAX = 3.0


# ---------------------------------------------------------------------------------------------
# Measuring a child process
# ---------------------------------------------------------------------------------------------


@dataclass
class Result:
    """One measured step: wall seconds and peak memory, or why there is no figure.

    `status` is ok, timeout (seconds is then the limit: a lower bound), failed or skipped.
    """

    seconds: float | None = None
    peak_mib: float | None = None
    status: str = "ok"
    note: str = ""
    detail: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def usable(self) -> bool:
        """A figure exists: measured, or a lower bound from a step stopped at its limit."""
        return self.seconds is not None and self.status in ("ok", "timeout")


def _rss_of(pid: int) -> float:
    """Resident memory of a running process, in MiB (0 once it has gone)."""
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024**2
    except (OSError, ValueError, IndexError):
        return 0.0


def run_child(
    argv: list[str], env: dict[str, str], timeout: float, log: Path, max_mib: float | None = None
) -> tuple[Result, str]:
    """Run argv, return its wall time, peak RSS (wait4's ru_maxrss) and standard output.

    The child gets a session of its own, so that a step over its time limit, or over
    `max_mib` of resident memory (the machine may be shared), is stopped with everything it
    started, and nothing else.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    out_path, err_path = log.with_suffix(".out"), log.with_suffix(".err")
    box: dict = {}
    stopped = None
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            argv, stdout=out, stderr=err, env=env, cwd=ROOT, start_new_session=True
        )

        def reap() -> None:
            # wait4, unlike RUSAGE_CHILDREN, gives the peak memory of this child alone.
            _, status, usage = os.wait4(proc.pid, 0)
            box.update(end=time.perf_counter(), status=status, usage=usage)

        waiter = threading.Thread(target=reap, daemon=True)
        waiter.start()
        while waiter.is_alive():
            left = started + timeout - time.perf_counter()
            waiter.join(max(0.0, min(1.0, left)))
            if not waiter.is_alive():
                break
            rss = _rss_of(proc.pid)
            if left <= 0:
                stopped = Result(timeout, None, "timeout", f"stopped after {timeout:,.0f} s")
            elif max_mib and rss > max_mib:
                stopped = Result(
                    None,
                    rss,
                    "memory",
                    f"stopped at {fmt_mib(rss)} resident, over the limit of {fmt_mib(max_mib)}, "
                    f"after {fmt_s(time.perf_counter() - started)}",
                )
            if stopped:
                os.killpg(proc.pid, signal.SIGKILL)
                waiter.join()
        proc.returncode = os.waitstatus_to_exitcode(box["status"])  # reaped by wait4 above
    peak = box["usage"].ru_maxrss / 1024  # KiB on Linux
    stdout = out_path.read_text(encoding="utf-8", errors="replace")
    if stopped:
        stopped.peak_mib = max(peak, stopped.peak_mib or 0.0)
        return stopped, stdout
    if proc.returncode != 0:
        lines = [
            x
            for x in err_path.read_text(encoding="utf-8", errors="replace").splitlines()
            if x.strip()
        ]
        why = lines[-1] if lines else f"exit status {proc.returncode}"
        return Result(None, peak, "failed", f"{why} (log: {err_path})"), stdout
    return Result(box["end"] - started, peak), stdout


def last_json(stdout: str) -> dict:
    """The JSON a command prints: all of its output (`ime load --json`) or a worker's last line."""
    with contextlib.suppress(ValueError):
        return json.loads(stdout)
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError("the worker printed no JSON result")


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------


@dataclass
class Run:
    """Everything one `ime bench` invocation measured, and how it was asked."""

    sizes: list[int]
    command: str
    timeout: float
    profile_size: int | None
    started_at: str
    machine: dict
    results: dict[int, dict[str, Result]] = field(default_factory=dict)
    profile: dict = field(default_factory=dict)
    exports: list[str] | None = None
    finished_at: str | None = None
    max_minutes: float | None = None
    max_memory_gib: float | None = None
    # perf_counter() after which no step starts (from --max-minutes); not a figure.
    deadline: float | None = None
    # The pages measured, [file, title] in menu order: the menu may grow after a run.
    pages: list = field(default_factory=list)
    # How many browser sessions at once the concurrency step runs, one level after another.
    sessions: list[int] = field(default_factory=lambda: list(bench_concurrency.SESSIONS))
    # One step alone (--only), and the loaded database it measures instead of generating one.
    only: str | None = None
    db: str | None = None
    # What a session of the concurrency step is (bench_concurrency.CLIENTS).
    clients: str = "browser"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `ime bench` (the subcommand is declared in ime.cli)."""
    parser.add_argument(
        "--exams",
        type=int,
        action="append",
        metavar="N",
        help="size to run, in exams (repeatable; default: 50,000 and 1,000,000; "
        f"{FULL_COMMAND} adds 10,000,000)",
    )
    parser.add_argument(
        "--workdir",
        help="folder for the generated data and databases, kept afterwards "
        "(default: a temporary folder, removed afterwards)",
    )
    parser.add_argument(
        "--out",
        help="document to write (default: docs/benchmarks.md; with --only, none unless given)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help=f"stop any one step after this many seconds (default: {DEFAULT_TIMEOUT_S:,.0f})",
    )
    parser.add_argument(
        "--max-minutes",
        type=float,
        help="start no step after this many minutes of the whole run, and cut the step running "
        "then (default: no limit); the document says how far the run got",
    )
    parser.add_argument(
        "--max-memory-gib",
        type=float,
        default=DEFAULT_MAX_MEMORY_GIB,
        help="stop a step whose resident memory goes over this, to protect a shared machine "
        f"(default: {DEFAULT_MAX_MEMORY_GIB:g})",
    )
    parser.add_argument(
        "--render",
        metavar="RESULTS_JSON",
        help="measure nothing: write the document again from the results.json a run left in "
        "its work folder (after the findings in words were edited, or a run was stopped)",
    )
    parser.add_argument(
        "--sessions",
        type=int,
        action="append",
        metavar="N",
        help="browser sessions at once for the concurrency step (repeatable; default: "
        f"{', '.join(map(str, bench_concurrency.SESSIONS))}; 1 is always run, as the baseline)",
    )
    parser.add_argument(
        "--clients",
        choices=bench_concurrency.CLIENTS,
        default="browser",
        help="what a session of the concurrency step is: `browser`, a headless Chromium drawing "
        "every page (default), or `websocket`, Streamlit's own protocol without drawing: the "
        "server's share of the wait, without the browsers' CPU on a machine they share with it",
    )
    parser.add_argument(
        "--only",
        choices=ONLY_STEPS,
        help="run one step alone: `concurrency` measures only the browser sessions at once "
        "(--sessions), on --db if given, else on data generated and loaded at each --exams size; "
        "it prints the table and the target's verdict and writes no document unless --out says",
    )
    parser.add_argument(
        "--db",
        metavar="FILE",
        help="with --only concurrency: a database `ime load` made, measured as it is instead of "
        "generating one; its size is its number of exams, or the one --exams names (the demo size "
        "it was made from)",
    )
    parser.add_argument(
        "--profile-exams",
        type=int,
        metavar="N",
        help="size of the profiler run of `ime load` and `ime flags` (default: the largest "
        "size run); 0 skips it",
    )


def canonical_command(sizes: list[int], args: argparse.Namespace) -> str:
    """The command that reproduces a run (the work folder does not change the figures)."""
    parts = ["ime", "bench"]
    if args.only:
        parts.append(f"--only {args.only}")
    if args.db:
        parts.append(f"--db {args.db}")
    if args.exams or not args.db:
        parts += [f"--exams {n}" for n in sizes]
    if args.out:
        parts.append(f"--out {args.out}")
    if args.timeout != DEFAULT_TIMEOUT_S:
        parts.append(f"--timeout {args.timeout:g}")
    if args.max_minutes is not None:
        parts.append(f"--max-minutes {args.max_minutes:g}")
    if args.max_memory_gib != DEFAULT_MAX_MEMORY_GIB:
        parts.append(f"--max-memory-gib {args.max_memory_gib:g}")
    if args.profile_exams is not None:
        parts.append(f"--profile-exams {args.profile_exams}")
    if session_levels(args.sessions) != list(bench_concurrency.SESSIONS):
        parts += [f"--sessions {n}" for n in session_levels(args.sessions)]
    if args.clients != "browser":
        parts.append(f"--clients {args.clients}")
    return " ".join(parts)


def session_levels(asked: list[int] | None) -> list[int]:
    """The concurrency levels to run: those asked (default 1, 4, 8), always with 1 first."""
    return sorted({1, *(asked or bench_concurrency.SESSIONS)})


def choose_profile_size(sizes: list[int], asked: int | None) -> int | None:
    # The largest size by default: the targets are judged there, and costs that grow faster
    # than the data (spilling under the load's memory limit) show only there.
    if asked is not None:
        return asked or None
    return max(sizes)


def run(args: argparse.Namespace) -> int:
    """`ime bench`: measure every size asked, print the tables, write the document."""
    if args.render:
        bench = load_results(Path(args.render))
        out = Path(args.out or DEFAULT_OUT)
        write_document(bench, out)
        print(f"Wrote {out} from {args.render}")
        return 0
    if args.db and args.only != "concurrency":
        print("ime bench: --db goes with --only concurrency", file=sys.stderr)
        return 2
    sizes = sorted(set(args.exams or DEFAULT_SIZES))
    if args.db:
        try:
            held = exams_in(Path(args.db))
        except (OSError, RuntimeError, ValueError) as exc:
            # duckdb.Error is a RuntimeError: a file that is not a database, or not loaded.
            print(f"ime bench: {args.db}: not a database `ime load` made ({exc})", file=sys.stderr)
            return 2
        if args.exams and len(args.exams) > 1:
            print("ime bench: one --exams names the size of --db", file=sys.stderr)
            return 2
        # The demo's size names the database (a demo of 1,000,000 exams loads a few less: the
        # rows it plants for quarantine).
        sizes = args.exams or [held]
    if min(sizes) < 1_000:
        print(
            "ime bench: sizes below 1,000 exams leave pages with nothing to show", file=sys.stderr
        )
        return 2
    # A step run alone writes no document unless asked: it would replace the full one.
    out = Path(args.out) if args.out else None if args.only else Path(DEFAULT_OUT)
    profile_size = None if args.only else choose_profile_size(sizes, args.profile_exams)
    if profile_size is not None and profile_size not in sizes:
        sizes = sorted({*sizes, profile_size})
    bench = Run(
        sizes=sizes,
        command=canonical_command(sizes, args),
        timeout=args.timeout,
        profile_size=profile_size,
        started_at=dt.datetime.now().isoformat(timespec="seconds"),
        machine=machine(),
        max_minutes=args.max_minutes,
        max_memory_gib=args.max_memory_gib,
        sessions=session_levels(args.sessions),
        only=args.only,
        clients=args.clients,
        db=str(Path(args.db).resolve()) if args.db else None,
    )
    if args.max_minutes is not None:
        bench.deadline = time.perf_counter() + 60 * args.max_minutes
    bench.exports = export_tables()
    bench.pages = [[p.file, p.title] for p in page_specs()]
    own_workdir = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="ime-bench-")) if own_workdir else Path(args.workdir)
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        for n in sizes:
            bench_size(bench, n, workdir, out)
    finally:
        bench.finished_at = dt.datetime.now().isoformat(timespec="seconds")
        bench.machine["load_average_end"] = _loadavg()
        _save(bench, workdir)
        write_document(bench, out)
        if own_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    print(render_console(bench))
    if out is not None:
        print(f"Wrote {out}")
    return 0


def exams_in(db: Path) -> int:
    """How many exams a loaded database holds (read only: a server may have it open)."""
    import duckdb

    if not db.is_file():
        raise FileNotFoundError("no such file")
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM fct_exams").fetchall()[0][0]
    finally:
        con.close()


def _env(workdir: Path, db: Path | None = None) -> dict[str, str]:
    """The children's environment: keys, audit log and users kept inside the work folder."""
    env = dict(os.environ)
    env.update(
        {
            "IME_KEY_FILE": str(workdir / "pseudonym.key"),
            "IME_AUDIT_DB": str(workdir / "audit.duckdb"),
            "IME_USERS": str(workdir / "users.toml"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("IME_DB", None)
    if db is not None:
        env["IME_DB"] = str(db)
    return env


def _ime(*args: str) -> list[str]:
    return [sys.executable, "-m", "ime.cli", *args]


def _worker(name: str, **kwargs: object) -> list[str]:
    return [sys.executable, "-m", "devtools.bench", "worker", name, json.dumps(kwargs, default=str)]


def _say(n: int, what: str, result: Result) -> None:
    figure = fmt_s(result.seconds, result.status) if result.seconds is not None else result.status
    memory = f", peak {fmt_mib(result.peak_mib)}" if result.peak_mib else ""
    note = f" ({result.note})" if result.note and not result.ok else ""
    print(f"[{n:>10,}] {what:<46} {figure}{memory}{note}", file=sys.stderr, flush=True)


def bench_size(bench: Run, n: int, workdir: Path, out: Path | None) -> None:
    """Measure every step at `n` exams; the document is rewritten after each step."""
    here = workdir / f"{n}"
    if bench.db is None:
        shutil.rmtree(here, ignore_errors=True)
    csv_dir, parquet_dir, logs = here / "csv", here / "parquet", here / "logs"
    db, bare_db = here / "ime.duckdb", here / "bare.duckdb"
    results: dict[str, Result] = {}
    bench.results[n] = results
    timeout = bench.timeout

    def step(
        key: str, what: str, argv: list[str], env: dict[str, str], parse: bool = False
    ) -> Result:
        limit = timeout
        if bench.deadline is not None:
            limit = min(timeout, bench.deadline - time.perf_counter())
            if limit <= 0:
                result = Result(
                    status="skipped",
                    note=f"not run: the run's limit of {bench.max_minutes:g} min was reached",
                )
                results[key] = result
                _say(n, what, result)
                return result
        max_mib = bench.max_memory_gib * 1024 if bench.max_memory_gib else None
        result, stdout = run_child(argv, env, limit, logs / key.replace(":", "_"), max_mib)
        if parse and result.ok:
            try:
                result.detail = last_json(stdout)
            except ValueError as exc:
                result.status, result.note = "failed", str(exc)
        # Before the document is written: a run stopped after this step shows the figure.
        if key.startswith("page:"):
            _set_page_figure(result)
        elif key.startswith("pandas:"):
            _set_pandas_figure(result)
        elif key == "concurrency" and result.ok and result.detail.get("error"):
            result.status, result.note = "skipped", result.detail["error"]
        results[key] = result
        _say(n, what, result)
        _save(bench, workdir)
        write_document(bench, out)
        return result

    def skip(key: str, why: str) -> None:
        results[key] = Result(status="skipped", note=why)

    def concurrency(db: Path) -> None:
        step(
            "concurrency",
            f"{', '.join(map(str, bench.sessions))} {bench.clients} sessions at once on one "
            "`ime serve`",
            _worker(
                "concurrency",
                db=str(db),
                filtered=FILTERED_VIEW,
                sessions=bench.sessions,
                logs=str(logs),
                clients=bench.clients,
            ),
            _env(workdir, db),
            parse=True,
        )

    if bench.db is not None:
        concurrency(Path(bench.db))
        return
    gen = step(
        "generate",
        "demo generator (CSV)",
        _ime(
            "demo", "--out", str(csv_dir), "--exams", str(n), "--seed", str(SEED), "--format", "csv"
        ),
        _env(workdir),
    )
    if not gen.ok:
        return
    files = [str(csv_dir / f"{name}.csv") for name in DEMO_ENTITIES]
    if bench.only is None:
        step(
            "bare_load",
            "bare DuckDB load (baseline)",
            _worker("bare_load", files=files, db=str(bare_db)),
            _env(workdir),
        )
        bare_db.unlink(missing_ok=True)
    load = step(
        "load",
        "ime load",
        _ime("load", str(csv_dir), "--db", str(db), "--json"),
        _env(workdir),
        parse=True,
    )
    if not load.ok:
        why = f"not run: `ime load` did not finish ({load.note or load.status})"
        for key in ("flags_all", "flags_stored"):
            skip(key, why)
        for page in page_specs(bench):
            for view in VIEWS:
                skip(f"page:{page.file}:{view}", why)
                if page.file in PANDAS_WAY:
                    skip(f"pandas:{page.file}:{view}", why)
        for what, _ in export_commands(bench.exports, db, here / "exports"):
            skip(f"export:{what}", why)
            if what == FILTERED_EXPORT:
                skip(f"export_filtered:{what}", why)
        skip("concurrency", why)
        _save(bench, workdir)
        write_document(bench, out)
        if load.status == "memory":
            diagnose_memory(bench, n, workdir, out)
        return
    if bench.only == "concurrency":
        concurrency(db)
        return
    bench_increments(step, skip, db, csv_dir, here, logs, workdir, timeout)
    from measures.registry import NAMES as MEASURES

    env_db = _env(workdir, db)
    measures = [arg for m in MEASURES for arg in ("--measure", m)]
    step(
        "flags_all",
        "ime flags, all measures computed with the case-mix models fitted at load",
        _ime("flags", *measures, "--out", str(here / "flags_all.csv"), "--db", str(db)),
        env_db,
    )
    step(
        "flags_stored",
        "ime flags, default (stored at load)",
        _ime("flags", "--out", str(here / "flags_stored.csv"), "--db", str(db)),
        env_db,
    )
    for what, argv in export_commands(bench.exports, db, here / "exports"):
        step(f"export:{what}", f"ime export {what}", argv, env_db)
        if what == FILTERED_EXPORT:
            filtered = [*argv, *_filter_options(FILTERED_VIEW)]
            filtered[filtered.index("--out") + 1] = str(here / "exports" / f"{what}.filtered.csv")
            step(f"export_filtered:{what}", f"ime export {what}, filtered", filtered, env_db)

    for page in page_specs(bench):
        for view, query in VIEWS.items():
            step(
                f"page:{page.file}:{view}",
                f"page {page.title}, {view}",
                _worker("page", page=page.file, query=query, db=str(db), timeout=timeout),
                env_db,
                parse=True,
            )

    concurrency(db)

    # The analyst's Parquet: the tables as loaded (validated, quarantined rows left out), so
    # that the pandas figures can be checked against the product's; cleaning is not charged
    # to pandas, which only makes the baseline faster.
    convert, _ = run_child(
        _worker("to_parquet", db=str(db), out=str(parquet_dir)),
        env_db,
        timeout,
        logs / "to_parquet",
    )
    for page in page_specs(bench):
        if page.file not in PANDAS_WAY:
            continue
        for view, query in VIEWS.items():
            key = f"pandas:{page.file}:{view}"
            if not convert.ok:
                skip(key, f"not run: the Parquet copy failed ({convert.note})")
                continue
            step(
                key,
                f"pandas way, {page.title}, {view}",
                _worker(
                    "pandas", page=page.file, filters=query, parquet=str(parquet_dir), db=str(db)
                ),
                env_db,
                parse=True,
            )
    shutil.rmtree(parquet_dir, ignore_errors=True)

    if n == bench.profile_size:
        prof_db = here / "profile.duckdb"
        for key, argv in (
            ("profile_load", _worker("profile_load", csv=str(csv_dir), db=str(prof_db))),
            ("profile_flags", _worker("profile_flags", db=str(db))),
        ):
            result = step(
                key, f"profiler run: {key.removeprefix('profile_')}", argv, env_db, parse=True
            )
            bench.profile[key] = (
                {"size": n, **result.detail} if result.ok else {"size": n, "error": result.note}
            )
            write_document(bench, out)
        prof_db.unlink(missing_ok=True)


def bench_increments(
    step: Callable[..., Result],
    skip: Callable[[str, str], None],
    db: Path,
    csv_dir: Path,
    here: Path,
    logs: Path,
    workdir: Path,
    timeout: float,
) -> None:
    """Time INCREMENTS loads of INCREMENT_PERCENT % new exams each into a copy of `db`."""
    folder, inc_db = here / "increments", here / "increments.duckdb"
    shutil.rmtree(folder, ignore_errors=True)
    made, _ = run_child(
        _worker("increments", exams=str(csv_dir / "exams.csv"), out=str(folder)),
        _env(workdir),
        timeout,
        logs / "increments",
    )
    keys = [f"load_increment:{i}" for i in range(INCREMENTS)]
    if not made.ok:
        for key in keys:
            skip(key, f"not run: the new exams were not written ({made.note})")
        return
    shutil.copyfile(db, inc_db)
    for i, key in enumerate(keys):
        step(
            key,
            f"ime load of {INCREMENT_PERCENT}% new exams ({i + 1} of {INCREMENTS})",
            _ime("load", str(folder / f"{i}"), "--db", str(inc_db), "--json"),
            _env(workdir),
            parse=True,
        )
    inc_db.unlink(missing_ok=True)
    shutil.rmtree(folder, ignore_errors=True)


def worker_increments(exams: str, out: str) -> dict:
    """Write INCREMENTS folders of new exams, each INCREMENT_PERCENT % of `exams`: existing
    exams (of existing cases and examiners) under new ids, so that each is a new exam."""
    import duckdb

    con = duckdb.connect()
    for i in range(INCREMENTS):
        folder = Path(out) / f"{i}"
        folder.mkdir(parents=True, exist_ok=True)
        # The exams whose id hashes into this increment's share (the out folder is the
        # bench's own, never from data; values are bound).
        con.execute(
            "COPY (SELECT * REPLACE (exam_id || '-new' || $i AS exam_id) "
            "FROM read_csv($exams, all_varchar = true) "
            "WHERE hash(exam_id) % 100 BETWEEN $i * $pct AND $i * $pct + $pct - 1) "
            "TO '" + str(folder / "exams.csv").replace("'", "''") + "' (HEADER)",
            {"exams": exams, "i": i, "pct": INCREMENT_PERCENT},
        )
    return {"increments": INCREMENTS}


def increment_result(results: dict[str, Result]) -> Result | None:
    """The mean of the incremental loads, with their range in the note; None if none ran."""
    runs = [results.get(f"load_increment:{i}") for i in range(INCREMENTS)]
    runs = [r for r in runs if r is not None]
    if not runs:
        return None
    failed = [r for r in runs if not r.ok]
    if failed:
        return Result(status=failed[0].status, note=failed[0].note)
    seconds = [r.seconds for r in runs]
    return Result(
        sum(seconds) / len(seconds),
        max(r.peak_mib or 0 for r in runs) or None,
        note=f"{len(runs)} loads: {fmt_s(min(seconds))} to {fmt_s(max(seconds))}",
    )


# A line of the tracer's log: "[  12.0 s]     1,234 MiB  phase (entity) > step".
TRACER_LINE = re.compile(r"^\[\s*([\d.]+) s\]\s+([\d,]+) MiB\s+(.*)$")


def diagnose_memory(bench: Run, n: int, workdir: Path, out: Path) -> None:
    """`ime load` went over the memory limit at `n`: load again under the phase tracer.

    The tracer logs its phase and resident memory every second, so even a run stopped at the
    limit says which phase was running when memory ran out, and how it grew phase by phase.
    """
    here = workdir / f"{n}"
    log = here / "logs" / "memory_diagnosis"
    argv = _worker("profile_load", csv=str(here / "csv"), db=str(here / "diagnosis.duckdb"))
    limit = bench.timeout
    if bench.deadline is not None:
        limit = min(limit, bench.deadline - time.perf_counter())
    if limit <= 0:
        return
    max_mib = bench.max_memory_gib * 1024 if bench.max_memory_gib else None
    result, _ = run_child(argv, _env(workdir), limit, log, max_mib)
    _say(n, "memory diagnosis: ime load under the tracer", result)
    # The log as a timeline: one segment per stretch of the same outermost phase.
    segments: list[dict] = []
    last = None
    for line in log.with_suffix(".err").read_text(encoding="utf-8", errors="replace").splitlines():
        match = TRACER_LINE.match(line)
        if not match:
            continue
        at, mib, where = float(match[1]), float(match[2].replace(",", "")), match[3]
        phase = where.split(" > ")[0]
        if not segments or segments[-1]["phase"] != phase:
            segments.append({"phase": phase, "from_s": at, "to_s": at, "peak_mib": mib})
        segments[-1]["to_s"], segments[-1]["peak_mib"] = at, max(segments[-1]["peak_mib"], mib)
        last = {"at_s": at, "mib": mib, "where": where}
    bench.profile[f"memory_{n}"] = {
        "size": n,
        "status": result.status,
        "note": result.note,
        "peak_mib": result.peak_mib,
        "phases": segments,
        "last": last,
    }
    (here / "diagnosis.duckdb").unlink(missing_ok=True)
    _save(bench, workdir)
    write_document(bench, out)


def _set_page_figure(result: Result) -> None:
    """A page's figure is its cold data and statistics time (the page run's wall time is kept).

    A page that raised on its cold run has no figure; one that raised only on the warm run
    keeps its cold figure, and the warm row says what the page raised.
    """
    if not result.ok:
        return
    cold, warm = result.detail["cold"]["errors"], result.detail["warm"]["errors"]
    if cold:
        result.status, result.note = "failed", f"the page raised: {cold[0][:200]}"
        return
    if warm:
        result.note = f"the warm run raised: {warm[0][:200]}"
    result.seconds = result.detail["cold"]["data_and_statistics"]


def _set_pandas_figure(result: Result) -> None:
    if result.ok:
        result.seconds = result.detail["cold"]["total"]


def _save(bench: Run, workdir: Path) -> None:
    """The raw figures as JSON in the work folder (for reading after a run that was stopped)."""
    raw = asdict(bench)
    (workdir / "results.json").write_text(json.dumps(raw, indent=1, default=str), encoding="utf-8")


def load_results(path: Path) -> Run:
    """A run as _save wrote it (sizes come back as numbers, steps as Results)."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw["results"] = {
        int(n): {key: Result(**step) for key, step in steps.items()}
        for n, steps in raw["results"].items()
    }
    raw["deadline"] = None
    return Run(**raw)


@dataclass(frozen=True)
class PageInfo:
    file: str
    title: str


def page_specs(bench: Run | None = None) -> list[PageInfo]:
    """The pages a run measured, else the dashboard's pages now (dashboard.navigation)."""
    if bench is not None and bench.pages:
        return [PageInfo(file, title) for file, title in bench.pages]
    from dashboard.navigation import PAGES

    return [PageInfo(p.file, p.title) for p in PAGES]


def export_tables() -> list[str]:
    """The tables `ime export` offers."""
    from access.roles import EXPORTABLE_TABLES

    return list(EXPORTABLE_TABLES)


def _filter_options(view: dict[str, list[str]]) -> list[str]:
    """A view's filters as `ime export --filter COLUMN=VALUE` options."""
    return [
        a for column, values in view.items() for v in values for a in ("--filter", f"{column}={v}")
    ]


def export_commands(
    tables: list[str] | None, db: Path, folder: Path
) -> list[tuple[str, list[str]]]:
    """One `ime export WHAT` command line per table."""
    out = [
        (what, _ime("export", what, "--format", "csv", "--out", str(folder / f"{what}.csv"),
                    "--db", str(db), "--role", "regulator"))
        for what in tables or ()
    ]
    if out:
        folder.mkdir(parents=True, exist_ok=True)
    return out


# ---------------------------------------------------------------------------------------------
# The machine
# ---------------------------------------------------------------------------------------------


def _loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def machine() -> dict:
    """What the figures were measured on (the benchmark runs on a possibly shared machine)."""
    info = {
        "nproc": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "memory": "unknown",
        "cpu": platform.processor() or "unknown",
        "os": platform.platform(),
        "python": platform.python_version(),
        "load_average_start": _loadavg(),
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["memory"] = f"{int(line.split()[1]) / 1024**2:.1f} GiB"
                break
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    for package in ("duckdb", "pandas", "numpy", "pyarrow", "streamlit", "scipy", "statsmodels"):
        try:
            info[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            info[package] = "absent"
    return info


# ---------------------------------------------------------------------------------------------
# Workers (each runs in a process of its own)
# ---------------------------------------------------------------------------------------------


def worker_bare_load(files: list[str], db: str) -> dict:
    """The floor: DuckDB's CSV reader into tables, no validation, no models."""
    import duckdb

    Path(db).unlink(missing_ok=True)
    con = duckdb.connect(db)
    con.execute("SET enable_progress_bar = false")
    for path in files:
        # The table name is a fixed entity name (DEMO_ENTITIES); the path is bound.
        sql = f"CREATE TABLE {Path(path).stem} AS SELECT * FROM read_csv($path)"  # noqa: S608
        con.execute(sql, {"path": path})
    con.close()
    return {"files": len(files)}


def worker_to_parquet(db: str, out: str) -> dict:
    """Each loaded entity table as Parquet, in the columns of the canonical format."""
    import duckdb

    from etl.schema import ENTITIES

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(db, read_only=True)
    for name in DEMO_ENTITIES:
        cols = ", ".join(ENTITIES[name].column_names)
        con.execute(
            f"COPY (SELECT {cols} FROM {name}) TO $path (FORMAT parquet)",  # noqa: S608 - fixed names
            {"path": str(folder / f"{name}.parquet")},
        )
    con.close()
    return {"tables": len(DEMO_ENTITIES)}


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


def worker_page(page: str, query: dict, db: str, timeout: float) -> dict:
    """One page through AppTest: cold (this fresh process), then warm (the same AppTest again)."""
    os.environ["IME_DB"] = db
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


class PhaseTimer:
    """Named phases of a pandas computation (read, merge, figures, flags)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - started


# --- The pandas way: what an analyst would write, reading the Parquet files. -----------------

COUNT_COLUMNS = (
    "n_exams",
    "n_causation",
    "n_not_related",
    "n_rated",
    "n_zero_wpi",
    "n_treatment_opinion",
    "n_no_treatment",
    "n_capacity_opinion",
    "n_full_duty",
    "n_adverse",
    "n_with_decision",
    "n_denied",
    "n_partially_denied",
)


def _read(folder: Path, table: str, columns: list[str], filters: dict) -> object:
    import pandas as pd

    wanted = list(dict.fromkeys([*columns, *(c for c in filters if FILTER_HOME[c] == table)]))
    # Dates straight to datetime64 (pyarrow's default is Python date objects): the fast way.
    return pd.read_parquet(
        folder / f"{table}.parquet", columns=wanted, to_pandas_kwargs={"date_as_object": False}
    )


def _exams(
    folder: Path,
    filters: dict,
    t: PhaseTimer,
    exam_cols: list[str],
    case_cols: list[str],
    specialty: bool = True,
    decisions: bool = False,
):
    """Exams joined to their case (and examiner), filtered, with the post-exam decision."""
    with t.phase("read"):
        exams = _read(folder, "exams", ["exam_id", "case_id", "examiner_id", *exam_cols], filters)
        cases = _read(folder, "cases", ["case_id", *case_cols], filters)
        examiners = (
            _read(folder, "examiners", ["examiner_id", "specialty"], filters)
            if (specialty or "specialty" in filters)
            else None
        )
        dec = (
            _read(
                folder,
                "decisions",
                ["decision_id", "case_id", "exam_id", "decision_date", "outcome"],
                {},
            )
            if decisions
            else None
        )
    with t.phase("merge"):
        df = exams.merge(cases, on="case_id")
        if examiners is not None:
            df = df.merge(examiners, on="examiner_id", how="left")
            df["specialty"] = df["specialty"].fillna("other")
        for column, values in filters.items():
            df = df[df[column].isin(values)]
        if dec is not None:
            df["outcome"] = _post_exam_outcome(df, dec)
    return df


def _post_exam_outcome(df, decisions):
    """The decision linked to the exam, else the first on the case within 90 days of the report."""
    import pandas as pd

    keys = df[["exam_id", "case_id"]]
    linked = decisions[decisions["exam_id"].notna()].merge(keys, on=["exam_id", "case_id"])
    anchor = df["report_date"].fillna(df["exam_date"])
    unlinked = (
        decisions[decisions["exam_id"].isna()]
        .drop(columns="exam_id")
        .merge(keys.assign(anchor=anchor), on="case_id")
    )
    within = (unlinked["decision_date"] >= unlinked["anchor"]) & (
        unlinked["decision_date"] <= unlinked["anchor"] + pd.Timedelta(days=90)
    )
    candidates = pd.concat(
        [
            linked.assign(unlinked=False),
            unlinked[within].drop(columns="anchor").assign(unlinked=True),
        ],
        ignore_index=True,
    )
    first = candidates.sort_values(["exam_id", "unlinked", "decision_date", "decision_id"])
    first = first.drop_duplicates("exam_id").set_index("exam_id")["outcome"]
    return df["exam_id"].map(first)


def _indicators(df):
    """One 0/1 column per count of the rates_* queries (SPEC 2 denominators)."""
    import pandas as pd

    causation, wpi = df["causation"], df["wpi_percent"]
    out = pd.DataFrame(
        {
            "n_exams": 1,
            "n_causation": causation.isin(("related", "partially_related", "not_related")),
            "n_not_related": causation.eq("not_related"),
            "n_rated": wpi.notna(),
            "n_zero_wpi": wpi.eq(0),
            "n_treatment_opinion": df["further_treatment"].isin(("recommended", "not_recommended")),
            "n_no_treatment": df["further_treatment"].eq("not_recommended"),
            "n_capacity_opinion": df["work_capacity"].isin(("full_duty", "restricted", "no_work")),
            "n_full_duty": df["work_capacity"].eq("full_duty"),
        },
        index=df.index,
    )
    out["n_adverse"] = (
        out["n_not_related"] | out["n_no_treatment"] | (df["mmi_status"].eq("reached") & wpi.eq(0))
    )
    if "outcome" in df:
        out["n_with_decision"] = df["outcome"].notna()
        out["n_denied"] = df["outcome"].isin(("denied", "terminated"))
        out["n_partially_denied"] = df["outcome"].isin(("partially_denied", "reduced"))
    return out.astype("int64")


def _monthly(df, ind):
    month = df["exam_date"].to_numpy().astype("datetime64[M]").astype("datetime64[us]")
    return ind.groupby(month).sum().rename_axis("exam_month").reset_index()


def _mmi_counts(df):
    import numpy as np
    import pandas as pd

    reached = df["mmi_status"].eq("reached").to_numpy()
    seen = df["mmi_status"].notna().to_numpy()
    days = np.where(
        reached,
        (df["mmi_date"] - df["injury_date"]).dt.days,
        (df["exam_date"] - df["injury_date"]).dt.days,
    )
    keep = seen & ~np.isnan(days)
    counts = pd.DataFrame(
        {"days_injury_to_mmi": days[keep].astype("int64"), "event": reached[keep]}
    )
    grouped = counts.groupby("days_injury_to_mmi")["event"].agg(["sum", "size"])
    return pd.DataFrame(
        {
            "group_value": "all",
            "days_injury_to_mmi": grouped.index.to_numpy(),
            "n_event": grouped["sum"].to_numpy(),
            "n_censored": (grouped["size"] - grouped["sum"]).to_numpy(),
        }
    )


EXAM_OPINIONS = [
    "exam_date",
    "report_date",
    "causation",
    "mmi_status",
    "mmi_date",
    "wpi_percent",
    "guides_edition",
    "work_capacity",
    "further_treatment",
    "requested_by",
]
CASE_FEATURES_RAW = [
    "insurer_id",
    "claim_type",
    "jurisdiction",
    "injury_date",
    "body_part",
    "injury_nature",
    "claimant_sex",
    "represented",
    "claimant_birth_year",
]


def _flag_inputs(df):
    """The engine's two inputs, as examiner_patterns and examiner_exam_sequence give them."""
    import numpy as np
    import pandas as pd

    age = df["injury_date"].dt.year - df["claimant_birth_year"]
    band = np.select(
        [df["claimant_birth_year"].isna(), age < 30, age < 45, age < 55, age < 65],
        ["unknown", "under_30", "30_44", "45_54", "55_64"],
        "65_plus",
    )
    features = pd.DataFrame(
        {
            "examiner_id": df["examiner_id"],
            "specialty": df["specialty"],
            "claim_type": df["claim_type"],
            "jurisdiction": df["jurisdiction"],
            "body_part": df["body_part"],
            "injury_nature": df["injury_nature"],
            "age_band": band,
            "claimant_sex": df["claimant_sex"],
            "represented": df["represented"].map({True: "true", False: "false"}),
            "requested_by": df["requested_by"],
            "exam_year": df["exam_date"].dt.year.astype(str),
        }
    )
    ind = _indicators(df)
    seen = df["mmi_status"].notna()
    reached = df["mmi_status"].eq("reached")
    # fct_exams.injury_to_exam_band: the band's first day.
    since_injury = (df["exam_date"] - df["injury_date"]).dt.days.to_numpy()
    edges = np.array([30, 60, 90, 120, 150, 180, 240, 300, 365, 450, 540, 730, 1095])
    band_start = np.concatenate(([0], edges))[np.searchsorted(edges, since_injury, side="right")]
    patterns = (
        features.assign(
            guides_edition=df["guides_edition"], injury_to_exam_band=band_start.astype(str)
        )
        .join(ind[["n_exams", "n_adverse", "n_with_decision", "n_denied", "n_rated", "n_zero_wpi"]])
        .assign(n_mmi_opinion=seen.astype(int), n_mmi_reached=(seen & reached).astype(int))
        .groupby(
            list(features.columns) + ["guides_edition", "injury_to_exam_band"],
            dropna=False,
            as_index=False,
        )
        .sum()
    )
    days = np.where(
        reached,
        (df["mmi_date"] - df["injury_date"]).dt.days,
        (df["exam_date"] - df["injury_date"]).dt.days,
    )
    sequence = features.assign(
        exam_date=df["exam_date"],
        exam_id=df["exam_id"],
        is_adverse=ind["n_adverse"].astype(bool),
        mmi_reached=reached.astype("boolean").where(seen),
        days_injury_to_mmi=np.where(seen, days, np.nan),
    ).sort_values(["examiner_id", "exam_date", "exam_id"], ignore_index=True)
    return patterns, sequence


# The case-mix measures of the pandas way: their names and their columns of _flag_inputs.
_PANDAS_BINARY = {
    "adverse_opinion": ("n_exams", "n_adverse"),
    "denial": ("n_with_decision", "n_denied"),
    "zero_impairment": ("n_rated", "n_zero_wpi"),
    "early_mmi": ("n_mmi_opinion", "n_mmi_reached"),
}


def _flag_tables(df):
    """The engine's inputs the analyst's way: models fitted on every exam, scored in pandas.

    Returns the per-examiner sums the engine's grouped pass gives (measures.engine) for the
    adverse-opinion, denial, zero-impairment and early-MMI measures, and the drift input. (The
    product fits its models on a hash sample of at most FlagSettings.casemix_sample exams:
    above that size the expected counts differ slightly, and the agreement check says by how
    much.)
    """
    import numpy as np
    from scipy import special

    from imestats.casemix import fit_casemix
    from measures.casemix import CASE_FEATURES
    from measures.registry import MEASURES

    patterns, sequence = _flag_inputs(df)
    scored = patterns.copy()
    models, sums = {}, []
    for name, (trials, events) in _PANDAS_BINARY.items():
        model = MEASURES[name].model
        features = [*CASE_FEATURES, *model.extra_features, "specialty"]
        has_trials = (patterns[trials] > 0).to_numpy()
        counts = (
            patterns[has_trials]
            .groupby(features, dropna=False, as_index=False)[[trials, events]]
            .sum()
        )
        models[name] = fit_casemix(counts, features, trials, events)
        p = np.zeros(len(patterns))
        p[has_trials] = models[name].predict(patterns[has_trials])
        n = patterns[trials].to_numpy(dtype=float)
        scored[f"n_{name}"] = patterns[trials]
        scored[f"o_{name}"] = patterns[events]
        scored[f"e_{name}"] = n * p
        scored[f"v_{name}"] = n * p * (1 - p)
        sums += [f"n_{name}", f"o_{name}", f"e_{name}", f"v_{name}"]
    units = scored.groupby("examiner_id", as_index=False).agg(
        specialty=("specialty", "first"), **{c: (c, "sum") for c in sums}
    )
    rated = sequence[sequence["is_adverse"].notna()]
    risks = rated[["examiner_id", "exam_date", "is_adverse"]].assign(
        eta_adverse=special.logit(models["adverse_opinion"].predict(rated))
    )
    return units, risks


def _flags(df):
    """The examiner flags from pandas inputs, through the engine's own statistics."""
    return _flags_from(*_flag_tables(df))


def _flags_from(units, risks):
    """The engine's own statistics (each measure's score) on the pandas way's sums."""
    import pandas as pd

    from measures import drift
    from measures.base import DEFAULT_SETTINGS, View
    from measures.binary import score_binary

    view = View(con=None, scope=None, filters=None, units=units)
    frames = [score_binary(name, view, DEFAULT_SETTINGS) for name in _PANDAS_BINARY]
    batches = drift.batches_from_exams(risks, DEFAULT_SETTINGS)
    frames += [drift.score_batches(batches, DEFAULT_SETTINGS)]
    return pd.concat([f for f in frames if not f.empty], ignore_index=True)


def _overview_prepare(folder, filters, t):
    return {"df": _exams(folder, filters, t, EXAM_OPINIONS, CASE_FEATURES_RAW, decisions=True)}


def _overview_compute(frames, t):
    from dashboard import analysis

    df = frames["df"]
    with t.phase("figures"):
        ind = _indicators(df)
        totals = ind.sum().to_frame().T
        totals["n_examiners"] = df["examiner_id"].nunique()
        monthly = _monthly(df, ind)
        quarterly = analysis.per_quarter(monthly)
        analysis.rates_long(quarterly, ["quarter"], ("adverse", "denied", "zero_wpi"))
        analysis.rates_long(
            analysis.overall_counts(totals.drop(columns="n_examiners")),
            [],
            ("adverse", "denied", "partially_denied", "zero_wpi"),
        )
        mmi_counts = _mmi_counts(df)
        analysis.kaplan_meier_by_group(mmi_counts)
    with t.phase("flags"):
        flags = _flags(df)
    return {
        "overview_totals": totals,
        "rates_by_month": monthly,
        "mmi_counts": mmi_counts,
        "flags": flags,
    }


def _denials_prepare(folder, filters, t):
    cols = [
        "exam_date",
        "report_date",
        "causation",
        "mmi_status",
        "wpi_percent",
        "work_capacity",
        "further_treatment",
    ]
    return {"df": _exams(folder, filters, t, cols, ["insurer_id"], specialty=False, decisions=True)}


def _denials_compute(frames, t):
    from dashboard import analysis

    df = frames["df"]
    with t.phase("figures"):
        ind = _indicators(df)
        by = (
            ind.groupby(df["insurer_id"].fillna("unknown"))
            .sum()
            .rename_axis("group_value")
            .reset_index()
        )
        measures = tuple(analysis.MEASURES)
        analysis.rates_long(by, ["group_value"], measures)
        analysis.rates_long(analysis.overall_counts(by), [], measures)
        monthly = _monthly(df, ind)
        analysis.rates_long(monthly, ["exam_month"], measures)
    return {"rates_by_group": by, "rates_by_month": monthly}


def _mmi_prepare(folder, filters, t):
    df = _exams(
        folder,
        filters,
        t,
        ["exam_date", "mmi_status", "mmi_date"],
        ["injury_date"],
        specialty=False,
    )
    return {"df": df}


def _mmi_compute(frames, t):
    from dashboard import analysis

    with t.phase("figures"):
        counts = _mmi_counts(frames["df"])
        analysis.kaplan_meier_by_group(counts)
    return {"mmi_counts": counts}


def _impairment_prepare(folder, filters, t):
    df = _exams(folder, filters, t, ["exam_date", "wpi_percent", "guides_edition"], [])
    with t.phase("read"):
        treating = _read(
            folder, "treating_ratings", ["case_id", "rater_role", "rating_date", "wpi_percent"], {}
        )
    return {"df": df, "treating": treating}


def _impairment_compute(frames, t):
    import pandas as pd

    from dashboard import analysis

    df, treating = frames["df"], frames["treating"]
    with t.phase("figures"):
        volumes = (
            df.assign(zero=df["wpi_percent"].eq(0))
            .groupby("examiner_id")
            .agg(
                specialty=("specialty", "first"),
                n_exams=("exam_id", "size"),
                n_rated=("wpi_percent", "count"),
                n_zero_wpi=("zero", "sum"),
            )
            .reset_index()
        )
        rated = volumes[volumes["n_rated"] > 0].sort_values(
            ["n_rated", "examiner_id"], ascending=[False, True]
        )
        examiner = rated["examiner_id"].iloc[0]
        specialty = rated["specialty"].iloc[0]
        df[df["wpi_percent"].notna()]["guides_edition"].fillna("unknown").value_counts()
        peers = df[(df["specialty"] == specialty) & df["wpi_percent"].notna()]
        counts = (
            peers.groupby(["examiner_id", "specialty", "wpi_percent"])
            .size()
            .rename("n_exams")
            .reset_index()
        )
        analysis.compare_wpi(counts, examiner)
        analysis.violin_values(counts, examiner)
        mine = df[(df["examiner_id"] == examiner) & df["wpi_percent"].notna()]
        ratings = treating[treating["rater_role"].eq("treating") & treating["wpi_percent"].notna()]
        both = mine[["exam_id", "case_id", "exam_date", "wpi_percent"]].merge(
            ratings.rename(columns={"wpi_percent": "treating_wpi_percent"}), on="case_id"
        )
        both["days_apart"] = (both["rating_date"] - both["exam_date"]).abs()
        nearest = both.sort_values(["exam_id", "days_apart", "rating_date"]).drop_duplicates(
            "exam_id"
        )
        pairs = (
            nearest.groupby(["wpi_percent", "treating_wpi_percent"])
            .size()
            .rename("n_pairs")
            .reset_index()
            .rename(columns={"wpi_percent": "ime_wpi_percent"})
        )
        analysis.rating_gap(pairs)
    return {
        "examiner_volumes": volumes,
        "wpi_counts": counts,
        "rating_pair_counts": pairs,
        "_examiner": pd.Series([examiner]),
    }


def _volumes(df):
    """examiner_volumes: examiner, specialty, exams, rated exams, zero ratings."""
    return (
        df.assign(zero=df["wpi_percent"].eq(0))
        .groupby("examiner_id")
        .agg(
            specialty=("specialty", "first"),
            n_exams=("exam_id", "size"),
            n_rated=("wpi_percent", "count"),
            n_zero_wpi=("zero", "sum"),
        )
        .reset_index()
    )


def _examiners_compute(frames, t):
    from dashboard import examiner_figures as examiners

    df = frames["df"]
    with t.phase("figures"):
        volumes = _volumes(df)
    with t.phase("flags"):
        flags = _flags(df)
    with t.phase("figures"):
        examiners.examiner_table(flags, volumes, "adverse_opinion", None)
        examiners.funnel_geometry(flags[flags["measure"] == "adverse_opinion"])
    return {"examiner_volumes": volumes, "flags": flags}


def _profile_prepare(folder, filters, t):
    import numpy as np

    frames = _overview_prepare(folder, filters, t)
    with t.phase("read"):
        rulings = _read(folder, "rulings", ["exam_id", "outcome"], {})
        treating = _read(
            folder, "treating_ratings", ["case_id", "rater_role", "rating_date", "wpi_percent"], {}
        )
    with t.phase("merge"):
        df = frames["df"]
        ruled = rulings[rulings["exam_id"].notna()].assign(
            rejected=rulings["outcome"].eq("report_rejected"),
            reversed=rulings["outcome"].eq("decision_reversed"),
        )
        per_exam = ruled.groupby("exam_id").agg(
            n_rulings=("outcome", "size"),
            rejected=("rejected", "any"),
            reversed=("reversed", "any"),
        )
        df = df.join(per_exam, on="exam_id")
        df["n_rulings"] = df["n_rulings"].fillna(0)
        retained = df["requested_by"]
        df["retained_by"] = np.where(
            retained.isin(("insurer", "employer")),
            "insurer_or_employer",
            np.where(
                retained.isin(("claimant", "board", "panel", "agreed")),
                "claimant_or_neutral",
                "other",
            ),
        )
    return {"df": df, "treating": treating}


def _nearest_treating(mine, treating):
    """rating_pair_counts for some rated exams: the treating rating nearest in time, counted."""
    ratings = treating[treating["rater_role"].eq("treating") & treating["wpi_percent"].notna()]
    both = mine[["exam_id", "case_id", "exam_date", "wpi_percent"]].merge(
        ratings.rename(columns={"wpi_percent": "treating_wpi_percent"}), on="case_id"
    )
    both["days_apart"] = (both["rating_date"] - both["exam_date"]).abs()
    nearest = both.sort_values(["exam_id", "days_apart", "rating_date"]).drop_duplicates("exam_id")
    return (
        nearest.groupby(["wpi_percent", "treating_wpi_percent"])
        .size()
        .rename("n_pairs")
        .reset_index()
        .rename(columns={"wpi_percent": "ime_wpi_percent"})
    )


def _causation_counts(pairs):
    """Pairs of exams of the same case counted per pair of causation opinions."""
    both = pairs.dropna(subset=["causation", "other_causation"])
    counts = both.groupby(["causation", "other_causation"]).size().rename("n_pairs").reset_index()
    return counts.assign(n_other_examiners=both["other_examiner_id"].nunique())


def _profile_compute(frames, t):
    import numpy as np
    import pandas as pd

    from dashboard import examiner_figures as examiners
    from measures.base import FlagSettings
    from measures.drift import batches_from_exams, charts_of, drift_path, drift_threshold

    df, treating = frames["df"], frames["treating"]
    with t.phase("figures"):
        volumes = _volumes(df)
        ranked = volumes.sort_values(["n_exams", "examiner_id"], ascending=[False, True])
        examiner, specialty = ranked["examiner_id"].iloc[0], ranked["specialty"].iloc[0]
    with t.phase("flags"):
        tables = _flag_tables(df)
        flags = _flags_from(*tables)
    with t.phase("figures"):
        examiners.examiner_measures(flags, examiner)
        examiners.explanations(flags, examiner)
        peers = df[df["specialty"] == specialty]
        requesters = (
            peers.assign(
                cohort=np.where(peers["examiner_id"] == examiner, "examiner", "peers"),
                requested_by=peers["requested_by"].fillna("unknown"),
                n_adverse=_indicators(peers)["n_adverse"],
            )
            .groupby(["cohort", "requested_by", "retained_by"])
            .agg(n_exams=("exam_id", "size"), n_adverse=("n_adverse", "sum"))
            .reset_index()
        )
        sides = examiners.allegiance_rates(requesters, specialty)
        examiners.cohort_totals(sides, list(examiners.SIDES.values()))
        insurers = (
            df.assign(insurer_id=df["insurer_id"].fillna("unknown"))
            .groupby(["examiner_id", "specialty", "insurer_id"])
            .size()
            .rename("n_exams")
            .reset_index()
        )
        examiners.referrals(insurers, examiner)
    with t.phase("flags"):
        threshold = drift_threshold(flags)
        risks = tables[1]
        mine = risks[risks["examiner_id"] == examiner]
        charts = charts_of(batches_from_exams(mine, FlagSettings()))
        if threshold is not None and charts:
            drift_path(charts[0], threshold)
    with t.phase("figures"):
        rated = df[["exam_id", "case_id", "examiner_id", "causation", "wpi_percent"]]
        multi = rated[rated["case_id"].duplicated(keep=False)]
        pairs = multi.merge(multi, on="case_id", suffixes=("", "_other"))
        pairs = pairs[pairs["examiner_id"] != pairs["examiner_id_other"]]
        shared = pairs.rename(
            columns={"examiner_id_other": "other_examiner_id", "causation_other": "other_causation"}
        )
        examiners.causation_agreement(_causation_counts(shared[shared["examiner_id"] == examiner]))
        examiners.causation_agreement(
            _causation_counts(shared[shared["exam_id"] < shared["exam_id_other"]])
        )
        mine = df[(df["examiner_id"] == examiner) & df["wpi_percent"].notna()]
        treating_pairs = _nearest_treating(mine, treating)
        examiners.treating_agreement(treating_pairs)
        rulings = (
            df.groupby("examiner_id")
            .agg(
                specialty=("specialty", "first"),
                n_exams=("exam_id", "size"),
                n_ruled=("n_rulings", lambda s: int((s > 0).sum())),
                n_report_rejected=("rejected", lambda s: int(s.eq(True).sum())),
                n_decision_reversed=("reversed", lambda s: int(s.eq(True).sum())),
            )
            .reset_index()
        )
        examiners.rulings_rates(rulings, examiner)
    return {
        "examiner_volumes": volumes,
        "flags": flags,
        "examiner_adverse_by_requester": requesters,
        "examiner_insurer_counts": insurers,
        "rating_pair_counts": treating_pairs,
        "examiner_rulings": rulings,
        "_examiner": pd.Series([examiner]),
    }


PANDAS_WAY: dict[str, tuple[Callable, Callable]] = {
    "overview.py": (_overview_prepare, _overview_compute),
    "denials.py": (_denials_prepare, _denials_compute),
    "mmi.py": (_mmi_prepare, _mmi_compute),
    "impairment.py": (_impairment_prepare, _impairment_compute),
    "examiners.py": (_overview_prepare, _examiners_compute),
    "examiner_profile.py": (_profile_prepare, _profile_compute),
}
# Pages with nothing an analyst would compute: load bookkeeping, static text, the export form,
# the audit log, and published decision counts (the demo data have none, so the page stops at
# its empty state).
NO_ANALYST_EQUIVALENT = {
    "data_quality.py",
    "methods.py",
    "aggregate_audit.py",
    "exports.py",
    "audit_log.py",
}
# What each pandas figure is checked against: report query, parameters, keys, and whether the
# query takes the examiner the page picked.
AGREEMENT = {
    "overview_totals": ("overview_totals", {}, [], False),
    "rates_by_month": ("rates_by_month", {}, ["exam_month"], False),
    "mmi_counts": ("mmi_counts", {"group_by": "all"}, ["group_value", "days_injury_to_mmi"], False),
    "rates_by_group": ("rates_by_group", {"dimension": "insurer_id"}, ["group_value"], False),
    "examiner_volumes": ("examiner_volumes", {}, ["examiner_id", "specialty"], False),
    "wpi_counts": (
        "wpi_counts",
        {"body_part": None, "guides_edition": None},
        ["examiner_id", "specialty", "wpi_percent"],
        True,
    ),
    "rating_pair_counts": (
        "rating_pair_counts",
        {"body_part": None, "guides_edition": None},
        ["ime_wpi_percent", "treating_wpi_percent"],
        True,
    ),
    "examiner_adverse_by_requester": (
        "examiner_adverse_by_requester",
        {},
        ["cohort", "requested_by", "retained_by"],
        True,
    ),
    "examiner_insurer_counts": (
        "examiner_insurer_counts",
        {},
        ["examiner_id", "specialty", "insurer_id"],
        False,
    ),
    "examiner_rulings": ("examiner_rulings", {}, ["examiner_id", "specialty"], False),
}


def _same_counts(product, mine, keys: list[str]) -> str | None:
    """None when both tables hold the same counts per key, else what differs."""
    import pandas as pd

    counts = [c for c in product.columns if c.startswith("n_")]

    def norm(frame):
        frame = frame.copy()
        for k in keys:
            col = frame[k]
            is_date = pd.api.types.is_datetime64_any_dtype(col.dtype)
            frame[k] = col.dt.strftime("%Y-%m-%d") if is_date else col.astype(str)
        frame = frame[keys + counts]
        return frame.sort_values(keys, ignore_index=True) if keys else frame.reset_index(drop=True)

    a, b = norm(product), norm(mine)
    if len(a) != len(b):
        return f"{len(a)} rows in the product, {len(b)} in pandas"
    if keys and not a[keys].equals(b[keys]):
        return "different groups"
    diff = [c for c in counts if not (a[c].to_numpy("int64") == b[c].to_numpy("int64")).all()]
    return f"counts differ in {', '.join(diff)}" if diff else None


def _same_flags(stored, mine) -> str | None:
    """None when pandas flags the same examiners with the same expected counts as the product,
    on the measures the pandas way computes (_PANDAS_BINARY, early MMI among them, and drift)."""
    stored = stored[stored["measure"].isin(set(mine["measure"]))]
    a = stored.set_index(["examiner_id", "measure"]).sort_index()
    b = mine.set_index(["examiner_id", "measure"]).sort_index()
    if not a.index.equals(b.index):
        return "different examiners or measures"
    same = bool((a["flagged"].astype(bool) == b["flagged"].astype(bool)).all())
    gap = float((a["expected"] - b["expected"]).abs().max())
    if same and gap <= 1e-6 * max(1.0, float(a["expected"].abs().max())):
        return None
    return f"same flagged set: {same}; largest gap in expected counts {gap:.3g}"


def _agreement(figures: dict, db: str, filters: dict) -> dict:
    """The pandas figures against the product's (same query, same filters)."""
    import queries

    con = queries.connect(Path(db))
    flt = queries.Filters(**{k: tuple(v) for k, v in filters.items()})
    checked, differs = [], []
    examiner = figures["_examiner"].iloc[0] if "_examiner" in figures else None
    for name, mine in figures.items():
        if name.startswith("_"):
            continue
        if name == "flags":
            if filters:
                # Filtered flags are computed afresh by the page: compared at the default view.
                continue
            problem = _same_flags(queries.run(con, "stored_flags"), mine)
        else:
            query, params, keys, by_examiner = AGREEMENT[name]
            if by_examiner:
                params = {**params, "examiner_id": examiner}
            problem = _same_counts(queries.run(con, query, filters=flt, **params), mine, keys)
        checked.append(name)
        if problem:
            differs.append(f"{name}: {problem}")
    con.close()
    return {"checked": checked, "differs": differs}


def worker_pandas(page: str, filters: dict, parquet: str, db: str) -> dict:
    """The analyst's way for one page: cold (read, merge, compute), then warm (compute again)."""
    prepare, compute = PANDAS_WAY[page]
    out = {}
    t = PhaseTimer()
    frames = prepare(Path(parquet), filters, t)
    figures = compute(frames, t)
    out["cold"] = {**t.seconds, "total": sum(t.seconds.values())}
    t = PhaseTimer()
    compute(frames, t)
    out["warm"] = {**t.seconds, "total": sum(t.seconds.values())}
    out["rows"] = int(len(frames["df"]))
    out["agreement"] = _agreement(figures, db, filters)
    return out


# --- Profiler runs -----------------------------------------------------------------------------


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
        if name == allegiance.STRATA_SQL:
            return "allegiance strata"
        if name == drift.BASELINE_SQL:
            return "drift baselines"
        if name == drift.BATCHES_SQL:
            return "drift batches"
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
                "project": path.startswith(str(ROOT)) and not path.endswith("bench.py"),
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


def worker_profile_load(csv: str, db: str) -> dict:
    """`ime load` (with the precompute `ime load` asks for) under cProfile and the tracer."""
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
    import shutil
    import tempfile

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


WORKERS: dict[str, Callable[..., dict]] = {
    "bare_load": worker_bare_load,
    "to_parquet": worker_to_parquet,
    "page": worker_page,
    "pandas": worker_pandas,
    "profile_load": worker_profile_load,
    "profile_flags": worker_profile_flags,
    "increments": worker_increments,
    "concurrency": bench_concurrency.worker,
}


def worker_main(argv: list[str]) -> int:
    """``python -m devtools.bench worker NAME ARGS_JSON``: run one worker, print its JSON result."""
    if len(argv) != 3 or argv[0] != "worker" or argv[1] not in WORKERS:
        print(
            f"usage: python -m devtools.bench worker {{{','.join(WORKERS)}}} ARGS_JSON",
            file=sys.stderr,
        )
        return 2
    result = WORKERS[argv[1]](**json.loads(argv[2]))
    print(json.dumps(result, default=float))
    return 0


# ---------------------------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------------------------


def fmt_s(seconds: float | None, status: str = "ok") -> str:
    if seconds is None:
        return "–"
    prefix = "> " if status == "timeout" else ""
    if seconds < 10:
        text = f"{seconds:.2f} s"
    elif seconds < 100:
        text = f"{seconds:.1f} s"
    else:
        text = f"{seconds:,.0f} s"
    return prefix + text


def fmt_mib(mib: float | None) -> str:
    if mib is None:
        return "–"
    return f"{mib / 1024:.2f} GiB" if mib >= 1024 else f"{mib:,.0f} MiB"


def fmt_ratio(ratio: float | None, lower_bound: bool = False) -> str:
    if ratio is None:
        return "–"
    text = f"{ratio:.2f}×" if ratio < 10 else f"{ratio:,.0f}×"
    if ratio < 1:
        text += f" ({1 / ratio:,.1f}× faster)" if ratio > 0 else ""
    return ("> " if lower_bound else "") + text


def _n(n: int) -> str:
    return f"{n:,}"


def _figure(result: Result | None) -> str:
    if result is None:
        return "not run"
    if result.usable:
        return fmt_s(result.seconds, result.status)
    if result.status == "skipped" and result.note:
        return result.note
    return f"{result.status}: {result.note}" if result.note else result.status


def _memory(result: Result | None) -> str:
    if result is None or not result.peak_mib:
        return "–"
    return ("> " if result.status == "memory" else "") + fmt_mib(result.peak_mib)


def _ratio(product: Result | None, baseline: Result | None) -> tuple[float | None, bool]:
    """product ÷ baseline, and whether it is a lower bound (the product stopped at its limit)."""
    if not (product and baseline and product.usable and baseline.ok and baseline.seconds):
        return None, False
    return product.seconds / baseline.seconds, product.status == "timeout"


@dataclass(frozen=True)
class Row:
    """One line of a size's table: a product figure, its baseline, and what the target asks."""

    key: str
    label: str
    product: Result | None
    baseline: Result | None
    baseline_label: str
    target: str = ""
    note: str = ""


class _WithReasons(dict):
    """A size's results where a figure that is absent says why, when the load did not finish."""

    def __init__(self, results: dict[str, Result]) -> None:
        super().__init__(results)
        load = results.get("load")
        self.why = (
            f"not run: `ime load` did not finish ({load.note or load.status})"
            if load is not None and not load.ok
            else None
        )

    def get(self, key, default=None):
        if key in self or self.why is None or key in ("generate", "bare_load", "load"):
            return super().get(key, default)
        return Result(status="skipped", note=self.why)


def _with_reasons(results: dict[str, Result]) -> dict[str, Result]:
    return _WithReasons(results)


def rows_for(bench: Run, n: int) -> list[Row]:
    """The rows of the table for `n` exams, in a fixed order (also the keys of the growth table)."""
    r = _with_reasons(bench.results.get(n, {}))
    bare = r.get("bare_load")
    load = r.get("load")
    load_note = ""
    if load and load.ok and load.detail:
        totals = load.detail.get("totals", {})
        load_note = f"read {totals.get('read', 0):,}, quarantined {totals.get('quarantined', 0):,}"
    rows = [
        Row(
            "generate",
            "Demo generator, CSV",
            r.get("generate"),
            None,
            "–",
            f"< {GENERATE_MAX_S / 60:.0f} min at {_n(TARGET_SIZE)}",
        ),
        Row(
            "load",
            "`ime load` (validation, models, contracts, precompute of flags and default view)",
            load,
            bare,
            "bare DuckDB `CREATE TABLE AS SELECT * FROM read_csv` of the same files",
            f"≤ {LOAD_RATIO_MAX}× baseline; peak < {PEAK_MEMORY_MAX_MIB / 1024:.0f} GiB at "
            f"{_n(TARGET_SIZE)}",
            load_note,
        ),
        Row(
            "load_increment",
            f"`ime load` of {INCREMENT_PERCENT}% new exams into the loaded database (mean of "
            f"{INCREMENTS} in a row)",
            increment_result(r),
            load,
            "the full `ime load` above",
            f"≤ {INCREMENT_RATIO_MAX:.0%} of the full load",
            (increment_result(r) or Result()).note,
        ),
        Row(
            "flags_all",
            "`ime flags`, all measures computed (with the case-mix models fitted at load)",
            r.get("flags_all"),
            bare,
            "bare DuckDB load",
            f"< {FLAGS_MAX_S:.0f} s at {_n(TARGET_SIZE)}; ≤ {FLAGS_RATIO_MAX:.0f}× baseline at "
            f"{_n(FLAGS_RATIO_SIZE)}",
        ),
        Row(
            "flags_stored",
            "`ime flags`, default (reads the flags stored at load)",
            r.get("flags_stored"),
            bare,
            "bare DuckDB load",
        ),
    ]
    if bench.exports is None:
        rows.append(
            Row(
                "export",
                "`ime export`",
                Result(
                    status="skipped", note="no `ime export` command in this checkout: not measured"
                ),
                None,
                "–",
            )
        )
    for what in bench.exports or ():
        rows.append(
            Row(
                f"export:{what}",
                f"`ime export {what}`",
                r.get(f"export:{what}"),
                bare,
                "bare DuckDB load",
            )
        )
    for page in page_specs(bench):
        for view in VIEWS:
            product = r.get(f"page:{page.file}:{view}")
            pandas = r.get(f"pandas:{page.file}:{view}") if page.file in PANDAS_WAY else None
            for temperature in ("cold", "warm"):
                p = _temperature(product, temperature, "data_and_statistics")
                b = _temperature(pandas, temperature, "total")
                whole = product.detail[temperature]["page"] if product and product.ok else None
                note = f"whole page {fmt_s(whole)}" if whole is not None else ""
                if pandas and pandas.ok:
                    differs = pandas.detail["agreement"]["differs"]
                    note += "; pandas figures " + (
                        "agree" if not differs else "DIFFER: " + "; ".join(differs)
                    )
                target = ""
                if view == "default" and temperature == "cold":
                    target = f"< {PAGE_MAX_S:.0f} s at {_n(TARGET_SIZE)}"
                    if page.file in PANDAS_WAY:
                        target += f"; ≤ {PAGE_RATIO_MAX}× pandas"
                rows.append(
                    Row(
                        f"page:{page.file}:{view}:{temperature}",
                        f"Page {page.title}, {view} view, {temperature}: data + statistics",
                        p,
                        b,
                        "pandas: read Parquet, merge, group by, compute"
                        if page.file in PANDAS_WAY
                        else "– (no analyst equivalent)"
                        if page.file in NO_ANALYST_EQUIVALENT
                        else "– (no pandas way written for this page yet)",
                        target,
                        note,
                    )
                )
    return rows


def _temperature(result: Result | None, temperature: str, key: str) -> Result | None:
    """The cold or warm figure of a page or pandas run, as a Result of its own."""
    if result is None:
        return None
    if not result.ok:
        return result
    errors = result.detail[temperature].get("errors")
    if errors:
        return Result(None, result.peak_mib, "failed", f"the page raised: {errors[0][:200]}")
    return Result(result.detail[temperature][key], result.peak_mib)


def render_size(bench: Run, n: int) -> str:
    lines = [
        f"### {_n(n)} exams",
        "",
        "| figure | product | baseline | ratio (product ÷ baseline) | peak memory: product / "
        "baseline "
        "| target | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows_for(bench, n):
        ratio, lower = _ratio(row.product, row.baseline)
        base = (
            f"{_figure(row.baseline)} ({row.baseline_label})"
            if row.baseline
            else row.baseline_label
        )
        memory = " / ".join(_memory(x) for x in (row.product, row.baseline))
        lines.append(
            f"| {row.label} | {_figure(row.product)} | {base} | {fmt_ratio(ratio, lower)} | "
            f"{memory} "
            f"| {row.target} | {row.note} |"
        )
    return "\n".join(lines)


def render_pages(bench: Run, n: int) -> str:
    """Where each page's time goes, and the pandas way's split, at `n` exams."""
    r = bench.results.get(n, {})
    lines = [
        f"#### Pages at {_n(n)} exams in detail",
        "",
        "Product columns are seconds inside the page run: report queries (DuckDB, through the "
        "cache), the flags engine, statistics (dashboard helper modules, with imestats), charts "
        "(plotly "
        "figures); the whole page adds Streamlit itself. Pandas columns: reading the Parquet, "
        "merging and deriving, the figures (group by and the same statistics), the flags.",
        "",
        "| page | view | run | queries | flags | statistics | charts | whole page "
        "| pandas read | merge | figures | flags | pandas total | pandas rows |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for page in page_specs(bench):
        for view in VIEWS:
            product = r.get(f"page:{page.file}:{view}")
            pandas = r.get(f"pandas:{page.file}:{view}")
            for temperature in ("cold", "warm"):
                if product and product.detail:
                    d = product.detail[temperature]
                    cells = [
                        fmt_s(d[k]) for k in ("queries", "flags", "statistics", "charts", "page")
                    ]
                else:
                    cells = [_figure(product)] + ["–"] * 4
                if pandas and pandas.ok:
                    p = pandas.detail[temperature]
                    cells += [
                        fmt_s(p.get(k, 0.0)) if k in p else "–"
                        for k in ("read", "merge", "figures", "flags")
                    ]
                    cells += [fmt_s(p["total"]), f"{pandas.detail['rows']:,}"]
                else:
                    cells += ["–"] * 4 + [_figure(pandas) if pandas else "n/a", "–"]
                lines.append(
                    f"| {page.title} | {view} | {temperature} | " + " | ".join(cells) + " |"
                )
    return "\n".join(lines)


def render_concurrency(bench: Run, n: int) -> str:
    """Many sessions at once at `n` exams: one row per number of sessions."""
    res = bench.results.get(n, {}).get("concurrency")
    lines = [f"#### Many sessions at once at {_n(n)} exams", ""]
    if res is None:
        return "\n".join([*lines, "Not run."])
    if not (res.ok and res.detail):
        return "\n".join([*lines, _figure(res)])
    return "\n".join([*lines, *bench_concurrency.render(res.detail)])


def growth_sizes(bench: Run) -> tuple[int, int] | None:
    """The two sizes the growth table compares: 1M and 10M when run, else the two largest."""
    done = [n for n in bench.sizes if bench.results.get(n)]
    if PAGE_GROWTH_FROM in done and TARGET_SIZE in done:
        return PAGE_GROWTH_FROM, TARGET_SIZE
    return (done[-2], done[-1]) if len(done) >= 2 else None


def render_growth(bench: Run) -> str:
    pair = growth_sizes(bench)
    if pair is None:
        return "Only one size was run: no growth to show."
    a, b = pair
    rows_a = {row.key: row for row in rows_for(bench, a)}
    lines = [
        f"From {_n(a)} to {_n(b)} exams ({b / a:g}× the exams). Growth = figure at {_n(b)} ÷ "
        "figure "
        f"at {_n(a)}; target for pages ≤ {PAGE_GROWTH_MAX:g}× from {_n(PAGE_GROWTH_FROM)} to "
        f"{_n(TARGET_SIZE)}.",
        "",
        f"| figure | {_n(a)} | {_n(b)} | growth | baseline growth |",
        "|---|---|---|---|---|",
    ]
    for row in rows_for(bench, b):
        old = rows_a.get(row.key)
        if old is None:
            continue
        growth, lower = _ratio(row.product, old.product)
        base_growth, base_lower = _ratio(row.baseline, old.baseline)
        lines.append(
            f"| {row.label} | {_figure(old.product)} | {_figure(row.product)} | "
            f"{fmt_growth(growth, lower)} "
            f"| {fmt_growth(base_growth, base_lower)} |"
        )
    return "\n".join(lines)


def fmt_growth(g: float | None, lower: bool = False) -> str:
    return "–" if g is None else ("> " if lower else "") + f"{g:.2f}×"


# --- Targets -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    target: str
    measured: str
    verdict: str


def _largest(bench: Run, key: str, at_least: int = 0) -> tuple[int, Result] | None:
    for n in sorted(bench.results, reverse=True):
        res = bench.results[n].get(key)
        if n >= at_least and res is not None and res.usable:
            return n, res
    return None


def _judge(value: float, limit: float, lower_bound: bool, less_is_better: bool = True) -> str:
    if less_is_better:
        if value <= limit and not lower_bound:
            return f"met ({value / limit:.2f} of the limit)"
        if value <= limit:
            return "unknown (stopped at its time limit)"
        return f"MISSED: {value / limit:.2f}× the limit"
    return (
        f"met ({value / limit:.1f}× the minimum)"
        if value >= limit
        else f"MISSED: {value / limit:.2f} of the minimum"
    )


def _page_keys(bench: Run) -> list[str]:
    return [p.file for p in page_specs(bench)]


def targets(bench: Run) -> list[Verdict]:
    """Each target of the issue, met or missed and by how much, or why it was not measured."""
    out: list[Verdict] = []
    titles = {p.file: p.title for p in page_specs(bench)}
    big = TARGET_SIZE in bench.results and bench.results[TARGET_SIZE]
    largest = max(bench.results) if bench.results else None

    # 1. Load against the bare load: every size listed, judged at the largest.
    label = f"`ime load` ≤ {LOAD_RATIO_MAX}× a bare DuckDB load of the same files"
    ratios = {
        n: _ratio(res.get("load"), res.get("bare_load")) for n, res in sorted(bench.results.items())
    }
    ratios = {n: r for n, r in ratios.items() if r[0] is not None}
    if ratios:
        n = max(ratios)
        measured = "; ".join(
            f"{fmt_ratio(r, lower)} at {_n(k)}" for k, (r, lower) in ratios.items()
        )
        out.append(
            Verdict(
                label,
                measured,
                _judge(ratios[n][0], LOAD_RATIO_MAX, ratios[n][1]) + f" (at {_n(n)})",
            )
        )
    else:
        out.append(Verdict(label, "–", "not measured"))

    # 1b. Incremental loads against the full load, judged at the largest size.
    label = (
        f"`ime load` of {INCREMENT_PERCENT}% new exams ≤ {INCREMENT_RATIO_MAX:.0%} of the full load"
    )
    shares = {
        n: _ratio(increment_result(res), res.get("load"))
        for n, res in sorted(bench.results.items())
    }
    shares = {n: r for n, r in shares.items() if r[0] is not None}
    if shares:
        n = max(shares)
        measured = "; ".join(f"{r:.1%} at {_n(k)}" for k, (r, _) in shares.items())
        out.append(
            Verdict(
                label, measured, _judge(shares[n][0], INCREMENT_RATIO_MAX, False) + f" (at {_n(n)})"
            )
        )
    else:
        out.append(Verdict(label, "–", "not measured"))

    # 2. Peak memory at 10M.
    def peak_row(n: int) -> tuple[str, float] | None:
        steps = {
            k: v
            for k, v in bench.results[n].items()
            if v.peak_mib
            and v.status in ("ok", "timeout", "memory")
            and not k.startswith(("pandas:", "bare", "generate", "profile"))
        }
        if not steps:
            return None
        key = max(steps, key=lambda k: steps[k].peak_mib)
        return key, steps[key].peak_mib

    if big and peak_row(TARGET_SIZE):
        key, mib = peak_row(TARGET_SIZE)
        load_peak = bench.results[TARGET_SIZE].get("load")
        measured = f"largest: {key} {fmt_mib(mib)}" + (
            f"; `ime load` {fmt_mib(load_peak.peak_mib)}"
            if load_peak and load_peak.peak_mib
            else ""
        )
        out.append(
            Verdict(
                f"peak memory < {PEAK_MEMORY_MAX_MIB / 1024:.0f} GiB at {_n(TARGET_SIZE)}",
                measured,
                _judge(mib, PEAK_MEMORY_MAX_MIB, False),
            )
        )
    else:
        hint = peak_row(largest) if largest else None
        out.append(
            Verdict(
                f"peak memory < {PEAK_MEMORY_MAX_MIB / 1024:.0f} GiB at {_n(TARGET_SIZE)}",
                f"at {_n(largest)}: {hint[0]} {fmt_mib(hint[1])}" if hint else "–",
                f"not measured at {_n(TARGET_SIZE)}",
            )
        )

    # 3. Generator.
    gen = bench.results.get(TARGET_SIZE, {}).get("generate")
    if gen and gen.usable:
        out.append(
            Verdict(
                f"demo generator makes {_n(TARGET_SIZE)} exams in < {GENERATE_MAX_S / 60:.0f} min",
                fmt_s(gen.seconds, gen.status),
                _judge(gen.seconds, GENERATE_MAX_S, gen.status == "timeout"),
            )
        )
    else:
        hint = _largest(bench, "generate")
        out.append(
            Verdict(
                f"demo generator makes {_n(TARGET_SIZE)} exams in < {GENERATE_MAX_S / 60:.0f} min",
                f"{fmt_s(hint[1].seconds)} at {_n(hint[0])}" if hint else "–",
                f"not measured at {_n(TARGET_SIZE)}",
            )
        )

    # 4. Pages under 1 s at 10M, default view, cold.
    def page_times(n: int) -> dict[str, Result]:
        return {
            f: bench.results[n][f"page:{f}:default"]
            for f in _page_keys(bench)
            if f"page:{f}:default" in bench.results[n]
            and bench.results[n][f"page:{f}:default"].usable
        }

    label = (
        f"every page's data and statistics < {PAGE_MAX_S:g} s at {_n(TARGET_SIZE)} "
        "(default view, cold)"
    )
    if big and page_times(TARGET_SIZE):
        times = page_times(TARGET_SIZE)
        worst = max(times, key=lambda f: times[f].seconds)
        out.append(
            Verdict(
                label,
                f"slowest: {titles[worst]} {fmt_s(times[worst].seconds)}",
                _judge(times[worst].seconds, PAGE_MAX_S, False),
            )
        )
    else:
        times = page_times(largest) if largest else {}
        worst = max(times, key=lambda f: times[f].seconds) if times else None
        out.append(
            Verdict(
                label,
                f"at {_n(largest)}: slowest {titles[worst]} {fmt_s(times[worst].seconds)}"
                if worst
                else "–",
                f"not measured at {_n(TARGET_SIZE)}",
            )
        )

    # 5. At least 10 times faster than pandas (default view, cold), judged at the largest size.
    label = f"every page ≥ {1 / PAGE_RATIO_MAX:.0f}× faster than pandas (default view, cold)"
    slowest: dict[int, tuple[float, str]] = {}
    for n, res in sorted(bench.results.items()):
        ratios = [
            (_ratio(res.get(f"page:{f}:default"), res.get(f"pandas:{f}:default"))[0], f)
            for f in PANDAS_WAY
        ]
        ratios = [x for x in ratios if x[0] is not None]
        if ratios:
            slowest[n] = max(ratios)
    if slowest:
        n = max(slowest)
        measured = "; ".join(
            f"at {_n(k)} the least ahead is {titles[f]}, {1 / r:,.1f}× faster"
            for k, (r, f) in slowest.items()
        )
        verdict = _judge(1 / slowest[n][0], 1 / PAGE_RATIO_MAX, False, less_is_better=False)
        out.append(Verdict(label, measured, f"{verdict} (at {_n(n)})"))
    else:
        out.append(Verdict(label, "–", "not measured"))

    # 6. Flags under 30 s at 10M.
    flags = bench.results.get(TARGET_SIZE, {}).get("flags_all")
    label = f"`ime flags`, all measures, < {FLAGS_MAX_S:.0f} s at {_n(TARGET_SIZE)}"
    if flags and flags.usable:
        out.append(
            Verdict(
                label,
                fmt_s(flags.seconds, flags.status),
                _judge(flags.seconds, FLAGS_MAX_S, flags.status == "timeout"),
            )
        )
    else:
        hint = _largest(bench, "flags_all")
        why = flags.note if flags and flags.note else f"not measured at {_n(TARGET_SIZE)}"
        out.append(
            Verdict(
                label,
                f"at {_n(hint[0])}: {fmt_s(hint[1].seconds, hint[1].status)}" if hint else "–",
                why if why.startswith("not") else f"not measured ({why})",
            )
        )

    # 7. Flags ≤ 3× bare load at 1M.
    label = (
        f"`ime flags`, all measures, ≤ {FLAGS_RATIO_MAX:.0f}× a bare DuckDB load at "
        f"{_n(FLAGS_RATIO_SIZE)}"
    )
    at = bench.results.get(FLAGS_RATIO_SIZE, {})
    ratio, lower = _ratio(at.get("flags_all"), at.get("bare_load"))
    if ratio is not None:
        out.append(
            Verdict(
                label,
                f"{fmt_ratio(ratio, lower)} ({fmt_s(at['flags_all'].seconds)} vs "
                f"{fmt_s(at['bare_load'].seconds)})",
                _judge(ratio, FLAGS_RATIO_MAX, lower),
            )
        )
    else:
        out.append(Verdict(label, "–", f"not measured at {_n(FLAGS_RATIO_SIZE)}"))

    # 8. Page growth 1M -> 10M.
    label = (
        f"page times grow ≤ {PAGE_GROWTH_MAX:g}× from {_n(PAGE_GROWTH_FROM)} to "
        f"{_n(TARGET_SIZE)} exams"
    )
    a, b = bench.results.get(PAGE_GROWTH_FROM, {}), bench.results.get(TARGET_SIZE, {})
    growths = []
    for f in _page_keys(bench):
        for view in VIEWS:
            g, lower = _ratio(b.get(f"page:{f}:{view}"), a.get(f"page:{f}:{view}"))
            if g is not None:
                growths.append((g, lower, f"{titles[f]} {view}"))
    if growths:
        g, lower, which = max(growths)
        out.append(
            Verdict(
                label, f"largest: {which} {fmt_growth(g, lower)}", _judge(g, PAGE_GROWTH_MAX, lower)
            )
        )
    else:
        pair = growth_sizes(bench)
        out.append(
            Verdict(
                label,
                f"see the growth table ({_n(pair[0])} to {_n(pair[1])})" if pair else "–",
                f"not measured (needs {_n(PAGE_GROWTH_FROM)} and {_n(TARGET_SIZE)})",
            )
        )

    # 9. Filtered Overview, Examiners and Examiner profile under 1 s at 10M, cold.
    label = (
        f"filtered {', '.join(titles.get(f, f) for f in FILTERED_PAGES)}: data and statistics "
        f"< {PAGE_MAX_S:g} s at {_n(TARGET_SIZE)} (cold)"
    )
    at = bench.results.get(TARGET_SIZE, {})
    times = {
        f: at[f"page:{f}:filtered"]
        for f in FILTERED_PAGES
        if f"page:{f}:filtered" in at and at[f"page:{f}:filtered"].usable
    }
    if times:
        worst = max(times, key=lambda f: times[f].seconds)
        out.append(
            Verdict(
                label,
                "; ".join(f"{titles.get(f, f)} {fmt_s(r.seconds)}" for f, r in times.items()),
                _judge(times[worst].seconds, PAGE_MAX_S, False),
            )
        )
    else:
        out.append(Verdict(label, "–", f"not measured at {_n(TARGET_SIZE)}"))

    # 10. A filtered export costs at most 1.5x the unfiltered one at 1M, in the same run.
    label = (
        f"filtered `ime export {FILTERED_EXPORT}` ≤ {FILTERED_EXPORT_RATIO_MAX:g}× the unfiltered "
        f"one at {_n(FILTERED_EXPORT_SIZE)}"
    )
    at = bench.results.get(FILTERED_EXPORT_SIZE, {})
    plain = at.get(f"export:{FILTERED_EXPORT}")
    filtered = at.get(f"export_filtered:{FILTERED_EXPORT}")
    ratio, lower = _ratio(filtered, plain)
    if ratio is not None:
        out.append(
            Verdict(
                label,
                f"{fmt_ratio(ratio, lower)} ({fmt_s(filtered.seconds)} vs {fmt_s(plain.seconds)})",
                _judge(ratio, FILTERED_EXPORT_RATIO_MAX, lower),
            )
        )
    else:
        out.append(Verdict(label, "–", f"not measured at {_n(FILTERED_EXPORT_SIZE)}"))

    # 11. Many sessions at once, judged at 1,000,000 exams.
    out.append(concurrency_target(bench))
    return out


def concurrency_target(bench: Run) -> Verdict:
    """The concurrency target, judged at its size, or the largest size measured as a hint."""
    c = bench_concurrency
    label = (
        f"{c.TARGET_SESSIONS} sessions at once at {_n(c.TARGET_SIZE)}: no error, p95 "
        f"per page ≤ {c.TARGET_RATIO_MAX:g}× one session's p95"
    )
    measured = {
        n: res["concurrency"]
        for n, res in bench.results.items()
        if "concurrency" in res and res["concurrency"].ok and res["concurrency"].detail
    }
    if c.TARGET_SIZE in measured:
        detail = measured[c.TARGET_SIZE].detail
        judged = c.judge(c.levels_from(detail))
        clients = detail.get("clients", "browser")
        return Verdict(label, f"{judged.measured} ({clients} sessions)", judged.verdict)
    step = bench.results.get(c.TARGET_SIZE, {}).get("concurrency")
    why = f"not measured at {_n(c.TARGET_SIZE)}" + (
        f" ({step.note})" if step is not None and step.note else ""
    )
    if measured:
        n = max(measured)
        hint = c.judge(c.levels_from(measured[n].detail))
        return Verdict(label, f"at {_n(n)}: {hint.measured}", why)
    return Verdict(label, "–", why)


def render_targets(bench: Run) -> str:
    lines = ["| target | measured | verdict |", "|---|---|---|"]
    lines += [f"| {v.target} | {v.measured} | {v.verdict} |" for v in targets(bench)]
    return "\n".join(lines)


# --- Where the time goes -------------------------------------------------------------------------


def _share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "–"


def render_profile(bench: Run) -> str:
    load, flags = bench.profile.get("profile_load"), bench.profile.get("profile_flags")
    if not load and not flags:
        return "No profiler run in this benchmark (see `--profile-exams`)."
    n = (load or flags)["size"]
    r = bench.results.get(n, {})
    lines = [
        f"Profiler runs at {_n(n)} exams: cProfile for functions, plus timers around each phase of "
        "the load and each step of the flags engine, the wall time of every SQL statement the load "
        "executes, and this process's resident memory sampled every 50 ms. The profiler slows "
        "Python code (not DuckDB or BLAS), and the profiled and unprofiled runs happen minutes "
        "apart on a possibly shared machine: read the shares within a profile, not its seconds "
        "against the unprofiled figures above.",
        "",
    ]
    if load and "error" not in load:
        lines += _render_load_profile(load, r)
    elif load:
        lines += [f"The load profile failed: {load['error']}", ""]
    if flags and "error" not in flags:
        lines += _render_flags_profile(flags, r)
    elif flags:
        lines += [f"The flags profile failed: {flags['error']}", ""]
    lines += render_page_findings(bench)
    for key in sorted(k for k in bench.profile if k.startswith("memory_")):
        lines += render_memory_diagnosis(bench.profile[key])
    return "\n".join(lines)


def render_memory_diagnosis(d: dict) -> list[str]:
    """Where `ime load` ran out of memory, from the tracer's log of its rerun."""
    n = d["size"]
    lines = [f"### Where `ime load` runs out of memory at {_n(n)} exams", ""]
    outcome = {"ok": "it finished this time"}.get(d["status"], d["note"] or d["status"])
    lines.append(
        f"`ime load` went over the memory limit at {_n(n)} exams, so the benchmark loaded the same "
        f"files again under the phase tracer (memory logged every second): {outcome}."
    )
    if d.get("last"):
        last = d["last"]
        lines.append(
            f"The last line logged: {fmt_mib(last['mib'])} resident, {last['at_s']:,.0f} s in, "
            f"during **{last['where']}**."
        )
    if d.get("phases"):
        lines += ["", "| phase | from | to | peak memory |", "|---|---|---|---|"]
        lines += [
            f"| {p['phase']} | {p['from_s']:,.0f} s | {p['to_s']:,.0f} s "
            f"| {fmt_mib(p['peak_mib'])} |"
            for p in d["phases"]
        ]
    lines.append("")
    return lines


COMPONENTS = {
    "queries": "report queries",
    "flags": "the flags engine",
    "statistics": "statistics",
}


def render_page_findings(bench: Run) -> list[str]:
    """Which part of each page's data and statistics dominates, at the largest size with pages."""
    sized = [
        n
        for n in sorted(bench.results)
        if any(k.startswith("page:") and v.ok for k, v in bench.results[n].items())
    ]
    if not sized:
        return []
    n = sized[-1]
    lines = [
        f"### Pages at {_n(n)} exams",
        "",
        f'From the timers of the page runs (cold; the table "Pages at {_n(n)} exams in detail" '
        "has every figure):",
        "",
    ]
    for page in page_specs(bench):
        for view in VIEWS:
            result = bench.results[n].get(f"page:{page.file}:{view}")
            if not (result and result.ok):
                continue
            cold = result.detail["cold"]
            total = cold["data_and_statistics"]
            part = max(COMPONENTS, key=lambda k: cold[k])
            lines.append(
                f"- {page.title}, {view} view: {fmt_s(total)} of data and statistics, "
                f"{_share(cold[part], total)} in {COMPONENTS[part]} ({fmt_s(cold[part])}); "
                f"whole page {fmt_s(cold['page'])}, warm {fmt_s(result.detail['warm']['page'])}."
            )
    engine = [
        f"{page.title} ({view})"
        for page in page_specs(bench)
        for view in VIEWS
        if (res := bench.results[n].get(f"page:{page.file}:{view}"))
        and res.ok
        and res.detail["cold"]["flags"] > PAGE_MAX_S
    ]
    if engine:
        lines += [
            "",
            f"The flags engine (flags, drift charts) ran for more than {PAGE_MAX_S:g} s inside "
            f"these page runs, instead of reading results stored at load: {', '.join(engine)}.",
        ]
    lines.append("")
    return lines


def _function_label(label: str) -> str:
    """A profiler label as a reader wants it: libraries by package, the SQL timer by its role."""
    if label.startswith("devtools/bench.py:") and label.endswith(" execute"):
        return "DuckDB execute (every SQL statement of the load; timed by the benchmark)"
    return label.split("site-packages/", 1)[-1]


def _functions_table(functions: dict) -> list[str]:
    lines = [
        "| function (own time: itself, not what it calls) | calls | own | cumulative |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| `{_function_label(f['function'])}` | {f['calls']:,} | {fmt_s(f['own_s'])} "
        f"| {fmt_s(f['cumulative_s'])} |"
        for f in functions["by_own_time"][:10]
    ]
    lines += [
        "",
        "| function of the project or a library it calls (cumulative: with what it calls) "
        "| calls | cumulative |",
        "|---|---|---|",
    ]
    lines += [
        f"| `{_function_label(f['function'])}` | {f['calls']:,} | {fmt_s(f['cumulative_s'])} |"
        for f in functions["by_cumulative_time_project"][:12]
    ]
    return lines


def _render_load_profile(p: dict, r: dict[str, Result]) -> list[str]:
    total = p["total_s"]
    phases = p["phases"]
    accounted = sum(x["seconds"] for x in phases)
    bare, load = r.get("bare_load"), r.get("load")
    precompute = [x for x in phases if x["name"].startswith("precompute")]
    lines = ["### `ime load`", ""]
    summary = f"Under the profiler `ime load` took {fmt_s(total)}"
    if load and load.ok:
        summary += f" ({fmt_s(load.seconds)} unprofiled in this run"
        summary += f"; bare DuckDB load {fmt_s(bare.seconds)})" if bare and bare.ok else ")"
    summary += f", peak resident memory {fmt_mib(p['peak_mib'])}."
    lines.append(summary)
    if phases:
        top = phases[0]
        lines.append(
            f"The largest phase is **{top['name']}**: {fmt_s(top['seconds'])}, "
            f"{_share(top['seconds'], total)} of the load."
        )
    if precompute and bare and bare.ok and load and load.ok:
        without = load.seconds * (1 - sum(x["seconds"] for x in precompute) / total)
        lines.append(
            f"Without the precompute (flags, case-mix models and the pages' default view) the "
            f"load would take about {fmt_s(without)} ({fmt_ratio(without / bare.seconds)} the "
            "bare load), scaling the unprofiled time by the phases' share."
        )
    peak_phase = max(phases, key=lambda x: x["peak_mib"]) if phases else None
    if peak_phase:
        lines.append(
            f"Memory peaks during **{peak_phase['name']}** ({fmt_mib(peak_phase['peak_mib'])})."
        )
    lines += ["", "| phase | seconds | share | calls | peak memory |", "|---|---|---|---|---|"]
    lines += [
        f"| {x['name']} | {fmt_s(x['seconds'])} | {_share(x['seconds'], total)} | {x['calls']} "
        f"| {fmt_mib(x['peak_mib'])} |"
        for x in phases
    ]
    lines.append(
        f"| (outside the phases) | {fmt_s(total - accounted)} | "
        f"{_share(total - accounted, total)} | | |"
    )
    if p["entities"]:
        lines += [
            "",
            "Per entity file (staging, checks, quarantine, upsert): "
            + ", ".join(f"{k} {fmt_s(v)}" for k, v in p["entities"].items())
            + ".",
        ]
    lines += [
        "",
        f"The load ran {p['sql_statements']:,} SQL statements on the snapshot connection, "
        f"{fmt_s(p['sql_seconds'])} in all; the slowest:",
        "",
        "| seconds | phase | statement (first 160 characters) |",
        "|---|---|---|",
    ]
    lines += [
        f"| {fmt_s(s['seconds'])} | {s['phase']} | `{s['sql'].replace('|', '/')}` |"
        for s in p["slowest_sql"][:10]
    ]
    lines += ["", "Top functions (cProfile):", ""] + _functions_table(p["functions"]) + [""]
    return lines


def _render_flags_profile(p: dict, r: dict[str, Result]) -> list[str]:
    from measures.base import DEFAULT_SETTINGS

    sample_size = DEFAULT_SETTINGS.casemix_sample
    total = p["total_s"]
    steps = p["steps"]
    measures = [s for s in steps if s["name"].startswith("measure ")]
    queries_ = [s for s in steps if s["name"].startswith("query ")]
    inner = [s for s in steps if not s["name"].startswith(("measure ", "query "))]
    n_exams = p.get("n_exams") or 0
    lines = ["### `ime flags`, all measures (the measure engine, `compute_flags`)", ""]
    summary = (
        f"Under the profiler the engine took {fmt_s(total)} for {n_exams:,} exams, fitting the "
        "case-mix models and storing every exam's expectations first, as `ime load` does"
    )
    flags_all = r.get("flags_all")
    if flags_all and flags_all.ok:
        summary += (
            f" (`ime flags` with every `--measure`, unprofiled, with the models fitted at load: "
            f"{fmt_s(flags_all.seconds)})"
        )
    summary += f", peak resident memory {fmt_mib(p['peak_mib'])}."
    lines.append(summary)
    if measures:
        m = measures[0]
        lines.append(
            f"The slowest measure is **{m['name'].removeprefix('measure ')}** "
            f"({fmt_s(m['seconds'])}, "
            f"{_share(m['seconds'], total)})."
        )
    if inner:
        s = inner[0]
        lines.append(
            f"The costliest statistical step is **{s['name']}**: {fmt_s(s['seconds'])} over "
            f"{s['calls']:,} calls ({_share(s['seconds'], total)} of the engine)."
        )
    patterns = p["query_rows"].get("casemix patterns")
    if patterns and n_exams:
        lines.append(
            f"The case-mix patterns (the models' input: covariate patterns of a hash sample of "
            f"about {sample_size:,} exams) are {patterns:,} rows for {n_exams:,} exams; every "
            "exam is then scored once in SQL and its expectations stored, and each view sums "
            "them in one grouped pass (`examiner units`)."
        )
    lines += ["", "| step | seconds | share | calls | peak memory |", "|---|---|---|---|---|"]
    for group in (measures, queries_, inner):
        lines += [
            f"| {s['name']} | {fmt_s(s['seconds'])} | {_share(s['seconds'], total)} | "
            f"{s['calls']:,} "
            f"| {fmt_mib(s['peak_mib'])} |"
            for s in group
        ]
    lines += (
        [
            "",
            "Measures contain the statistics steps listed after the queries (shares overlap).",
            "",
            "Top functions (cProfile):",
            "",
        ]
        + _functions_table(p["functions"])
        + [""]
    )
    return lines


# --- The document --------------------------------------------------------------------------------


def render_document(bench: Run) -> str:
    m = bench.machine
    finished = bench.finished_at or "(still running: this document is rewritten after every step)"
    exports_line = (
        "`ime export` does not exist in this checkout: it was not measured (the benchmark measures "
        "each of its tables as soon as the command exists)."
        if bench.exports is None
        else f"`ime export` tables measured: {', '.join(bench.exports) or 'none'}."
    )
    parts = [
        "# Benchmarks",
        "",
        f"Written by `ime bench`, started {bench.started_at}, finished {finished}. Do not edit by "
        "hand: run the command again.",
        "",
        "## Reproduce",
        "",
        "```bash",
        f"{FULL_COMMAND}                 # the full run: {', '.join(_n(n) for n in FULL_SIZES)} "
        "exams",
        f".venv/bin/{bench.command}",
        "```",
        "",
        f"This document came from `{bench.command}`. Generated data and databases go to a "
        "temporary folder (or `--workdir DIR`), never into the repository. Each step has a time "
        f"limit (`--timeout`, here {bench.timeout:,.0f} s) and a memory limit (`--max-memory-gib`, "
        f"here {bench.max_memory_gib or 0:g} GiB, to protect a shared machine); "
        + (
            f"the whole run had `--max-minutes {bench.max_minutes:g}`; "
            if bench.max_minutes
            else ""
        )
        + "a step stopped at its time limit shows `> limit`, one stopped at its memory limit "
        "shows `> memory`, and the steps that need its result are skipped.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        f"| CPUs available (nproc) | {m.get('nproc')} |",
        f"| memory | {m.get('memory')} |",
        f"| CPU | {m.get('cpu')} |",
        f"| OS | {m.get('os')} |",
        f"| Python | {m.get('python')} |",
        f"| DuckDB / pandas / numpy / pyarrow | {m.get('duckdb')} / {m.get('pandas')} / "
        f"{m.get('numpy')} "
        f"/ {m.get('pyarrow')} |",
        f"| Streamlit / scipy / statsmodels | {m.get('streamlit')} / {m.get('scipy')} / "
        f"{m.get('statsmodels')} |",
        f"| load average (1, 5, 15 min) at start / end | {m.get('load_average_start')} / "
        f"{m.get('load_average_end', '–')} |",
        "",
        "The machine may be shared with other work: absolute times move with its load, so every "
        "figure sits beside a baseline measured in the same run; read the ratios.",
        "",
        "## How the figures are measured",
        "",
        "- Every step runs in a process of its own; its time is the wall time of that process "
        "(interpreter start included, for the product and the baselines alike) and its peak "
        "memory is "
        "the process's maximum resident set size (`wait4`'s `ru_maxrss`).",
        f"- Demo data: `ime demo --seed {SEED} --format csv`; default dirty rate, so the load "
        "quarantines "
        "about 0.2% of rows.",
        "- **Load baseline**: a bare DuckDB `CREATE TABLE ... AS SELECT * FROM read_csv(...)` of "
        "the same "
        "six entity files into a new database file: what loading costs with no validation.",
        "- **`ime flags`, all measures**: `ime flags --measure ...` naming every measure, which "
        "computes "
        "them (plain `ime flags` reads the flags `ime load` stored: measured too). Baseline: the "
        "bare load.",
        "- **Pages**: each page of `dashboard/navigation.py` through Streamlit's AppTest, in the "
        "default "
        "view and one filtered view "
        f"(`?{'&'.join(f'{k}={v[0]}' for k, v in FILTERED_VIEW.items())}` "
        "in the URL, as a shared link would set it). **Cold**: a fresh process (empty caches, new "
        "connection); **warm**: the same AppTest run again (Streamlit's caches hold the query "
        "results). "
        "The figure is the time spent in report queries, the flags engine and statistics (timers "
        "around "
        "the public functions of `dashboard.data` and of the dashboard's helper modules such as "
        "`analysis` and `examiners`); the whole page run, with charts and "
        "Streamlit, is in "
        "the note.",
        "- **Pandas baseline**: per page, what an analyst would write: read the Parquet files "
        "(only the "
        "columns needed, dates straight to datetime64), merge exams with cases, examiners and "
        "decisions "
        "(post-exam decision as the product defines it), filter, group by, and compute the same "
        "figures "
        "with the same statistics functions (for the Overview, the flags through the engine's own "
        "functions). The Parquet files hold the tables as loaded (quarantined rows left out), so "
        "the "
        "analyst is not charged for cleaning, and each pandas run checks its counts against the "
        "product's "
        "queries (`pandas figures agree`). Cold: a fresh process reading the files; warm: the "
        "figures computed again from the frames in memory. Data quality, Methods, Aggregate "
        "audit (published decision counts, which the demo data do not have), Exports and Audit "
        "log have no analyst equivalent.",
        "- **Many sessions at once**: `ime serve` of the size's database on a free loopback "
        "port, started afresh for each number of sessions (empty caches) and warmed with one "
        "untimed pass over the mix in another view (imports and the first connection paid), "
        "then the sessions: one headless Chromium with one isolated context per session "
        "(`--clients browser`, the default), or Streamlit's own websocket protocol from one "
        "process, a new session per page load and nothing drawn (`--clients websocket`: the "
        "server's share of a reader's wait). Each session "
        f"replays the same mix, {bench_concurrency.ROUNDS} times, from a different place in "
        "it: "
        + ", ".join(f"{title} ({view})" for _, title, view in bench_concurrency.MIX_PAGES)
        + f"; the filtered view is the one above, each session's profile is another of the "
        "busiest examiners. A page load is timed from the request until Streamlit is "
        "connected and its run has finished, the page's title (and, in a browser, every chart) "
        "drawn; an exception box or a page not ready within "
        f"{bench_concurrency.LOAD_TIMEOUT_S:g} s is an error. p50 and p95 are over the loads "
        "without error. The clients run on the same machine as the server: their CPU time "
        "and the server's are shown beside the figures.",
        "- Ratio = product ÷ baseline: below 1 the product is faster (`10× faster` is a ratio of "
        "0.1).",
        f"- {exports_line}",
        "",
        "## Targets",
        "",
        render_targets(bench),
        "",
        "## Results",
        "",
    ]
    for n in bench.sizes:
        if n in bench.results:
            parts += [
                render_size(bench, n),
                "",
                render_pages(bench, n),
                "",
                render_concurrency(bench, n),
                "",
            ]
        else:
            parts += [f"### {_n(n)} exams", "", "Not run yet.", ""]
    parts += [
        "## Growth",
        "",
        render_growth(bench),
        "",
        "## Where the time goes",
        "",
        render_profile(bench),
        "",
    ]
    if FINDINGS.exists():
        parts += [
            "## Why the misses, in words",
            "",
            f"Kept by hand in `{FINDINGS.relative_to(FINDINGS.parents[1])}` and included here "
            "(`ime bench --render` writes this document again after it changes).",
            "",
            FINDINGS.read_text(encoding="utf-8").strip(),
            "",
        ]
    return "\n".join(parts)


def write_document(bench: Run, out: Path | None) -> None:
    """Write the document to `out`; nothing when there is none (a step run alone)."""
    if out is None:
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(render_document(bench), encoding="utf-8")
    os.replace(tmp, out)


def render_console(bench: Run) -> str:
    """The tables for the terminal: targets, then each size (a step run alone: its own)."""
    if bench.only == "concurrency":
        target = concurrency_target(bench)
        parts = [f"{target.target}: {target.verdict}", f"  {target.measured}", ""]
        return "\n".join(parts + [render_concurrency(bench, n) for n in bench.sizes])
    parts = ["Targets", render_targets(bench), ""]
    for n in bench.sizes:
        if n in bench.results:
            parts += [render_size(bench, n), "", render_concurrency(bench, n), ""]
    parts += ["Growth", render_growth(bench)]
    return "\n".join(parts)


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1:]))
