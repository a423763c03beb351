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
- many sessions at once (devtools.bench_concurrency): one `ime serve` (a worker process per
  core behind one address), 1, 4 and 8 browser sessions
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
import importlib.metadata
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from devtools import bench_concurrency
from devtools.bench.formatting import fmt_mib, fmt_s
from devtools.bench.page_timer import page_specs
from devtools.bench.pandas_pages import PANDAS_WAY
from devtools.bench.render import render_console, write_document
from devtools.bench.results import (
    DEMO_ENTITIES,
    FILTERED_VIEW,
    FULL_COMMAND,
    ROOT,
    SEED,
    VIEWS,
    Result,
    Run,
    last_json,
    load_results,
    save_results,
)
from devtools.bench.targets import FILTERED_EXPORT, INCREMENT_PERCENT, INCREMENTS
from devtools.bench.tracer import TRACER_LINE

DEFAULT_SIZES = (50_000, 1_000_000)
DEFAULT_TIMEOUT_S = 3600.0
DEFAULT_MAX_MEMORY_GIB = 12.0
DEFAULT_OUT = "docs/benchmarks.md"

# The steps `--only` can run alone.
ONLY_STEPS = ("concurrency",)


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
        save_results(bench, workdir)
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
        save_results(bench, workdir)
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
        save_results(bench, workdir)
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
    save_results(bench, workdir)
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


def export_tables() -> list[str]:
    """The tables `ime export` offers."""
    from access.roles import EXPORTABLE_TABLES

    return list(EXPORTABLE_TABLES)


def _filter_options(view: dict[str, list[str]]) -> list[str]:
    """A view's filters as `ime export --filter COLUMN=VALUE` options."""
    return [
        a for column, values in view.items() for v in values for a in ("--filter", f"{column}={v}")
    ]


# The options a table cannot be exported without: the cross-tab's two features (the pair the
# researchers asked for, issue 14).
EXPORT_OPTIONS = {"crosstab": ["--by", "jurisdiction", "--by", "year"]}


def export_commands(
    tables: list[str] | None, db: Path, folder: Path
) -> list[tuple[str, list[str]]]:
    """One `ime export WHAT` command line per table."""
    out = [
        (
            what,
            _ime(
                "export",
                what,
                *EXPORT_OPTIONS.get(what, []),
                "--format",
                "csv",
                "--out",
                str(folder / f"{what}.csv"),
                "--db",
                str(db),
                "--role",
                "regulator",
            ),
        )
        for what in tables or ()
    ]
    if out:
        folder.mkdir(parents=True, exist_ok=True)
    return out


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
