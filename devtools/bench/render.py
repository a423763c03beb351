"""docs/benchmarks.md and the console tables, rendered from a run."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from devtools import bench_concurrency
from devtools.bench.formatting import (
    fmt_count,
    fmt_growth,
    fmt_memory,
    fmt_mib,
    fmt_ratio,
    fmt_result,
    fmt_s,
    result_ratio,
)
from devtools.bench.page_timer import page_specs
from devtools.bench.pandas_pages import NO_ANALYST_EQUIVALENT, PANDAS_WAY
from devtools.bench.results import (
    FILTERED_VIEW,
    FULL_COMMAND,
    FULL_SIZES,
    ROOT,
    SEED,
    VIEWS,
    Result,
    Run,
)
from devtools.bench.targets import (
    FLAGS_MAX_S,
    FLAGS_RATIO_MAX,
    FLAGS_RATIO_SIZE,
    GENERATE_MAX_S,
    INCREMENT_PERCENT,
    INCREMENT_RATIO_MAX,
    INCREMENTS,
    LOAD_RATIO_MAX,
    PAGE_GROWTH_FROM,
    PAGE_GROWTH_MAX,
    PAGE_MAX_S,
    PAGE_RATIO_MAX,
    PEAK_MEMORY_MAX_MIB,
    TARGET_SIZE,
    concurrency_target,
    growth_sizes,
    increment_result,
    targets,
)

# What the profiler and the figures taught, and why a target is missed: written by hand.
FINDINGS = ROOT / "docs" / "benchmark-findings.md"


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
            f"< {GENERATE_MAX_S / 60:.0f} min at {fmt_count(TARGET_SIZE)}",
        ),
        Row(
            "load",
            "`ime load` (validation, models, contracts, precompute of flags and default view)",
            load,
            bare,
            "bare DuckDB `CREATE TABLE AS SELECT * FROM read_csv` of the same files",
            f"≤ {LOAD_RATIO_MAX}× baseline; peak < {PEAK_MEMORY_MAX_MIB / 1024:.0f} GiB at "
            f"{fmt_count(TARGET_SIZE)}",
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
            f"< {FLAGS_MAX_S:.0f} s at {fmt_count(TARGET_SIZE)}; ≤ {FLAGS_RATIO_MAX:.0f}× "
            "baseline at "
            f"{fmt_count(FLAGS_RATIO_SIZE)}",
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
                    target = f"< {PAGE_MAX_S:.0f} s at {fmt_count(TARGET_SIZE)}"
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
        f"### {fmt_count(n)} exams",
        "",
        "| figure | product | baseline | ratio (product ÷ baseline) | peak memory: product / "
        "baseline "
        "| target | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows_for(bench, n):
        ratio, lower = result_ratio(row.product, row.baseline)
        base = (
            f"{fmt_result(row.baseline)} ({row.baseline_label})"
            if row.baseline
            else row.baseline_label
        )
        memory = " / ".join(fmt_memory(x) for x in (row.product, row.baseline))
        lines.append(
            f"| {row.label} | {fmt_result(row.product)} | {base} | {fmt_ratio(ratio, lower)} | "
            f"{memory} "
            f"| {row.target} | {row.note} |"
        )
    return "\n".join(lines)


def render_pages(bench: Run, n: int) -> str:
    """Where each page's time goes, and the pandas way's split, at `n` exams."""
    r = bench.results.get(n, {})
    lines = [
        f"#### Pages at {fmt_count(n)} exams in detail",
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
                    cells = [fmt_result(product)] + ["–"] * 4
                if pandas and pandas.ok:
                    p = pandas.detail[temperature]
                    cells += [
                        fmt_s(p.get(k, 0.0)) if k in p else "–"
                        for k in ("read", "merge", "figures", "flags")
                    ]
                    cells += [fmt_s(p["total"]), f"{pandas.detail['rows']:,}"]
                else:
                    cells += ["–"] * 4 + [fmt_result(pandas) if pandas else "n/a", "–"]
                lines.append(
                    f"| {page.title} | {view} | {temperature} | " + " | ".join(cells) + " |"
                )
    return "\n".join(lines)


def render_concurrency(bench: Run, n: int) -> str:
    """Many sessions at once at `n` exams: one row per number of sessions."""
    res = bench.results.get(n, {}).get("concurrency")
    lines = [f"#### Many sessions at once at {fmt_count(n)} exams", ""]
    if res is None:
        return "\n".join([*lines, "Not run."])
    if not (res.ok and res.detail):
        return "\n".join([*lines, fmt_result(res)])
    return "\n".join([*lines, *bench_concurrency.render(res.detail)])


def render_growth(bench: Run) -> str:
    pair = growth_sizes(bench)
    if pair is None:
        return "Only one size was run: no growth to show."
    a, b = pair
    rows_a = {row.key: row for row in rows_for(bench, a)}
    lines = [
        f"From {fmt_count(a)} to {fmt_count(b)} exams ({b / a:g}× the exams). Growth = figure at "
        f"{fmt_count(b)} ÷ figure "
        f"at {fmt_count(a)}; target for pages ≤ {PAGE_GROWTH_MAX:g}× from "
        f"{fmt_count(PAGE_GROWTH_FROM)} to "
        f"{fmt_count(TARGET_SIZE)}.",
        "",
        f"| figure | {fmt_count(a)} | {fmt_count(b)} | growth | baseline growth |",
        "|---|---|---|---|---|",
    ]
    for row in rows_for(bench, b):
        old = rows_a.get(row.key)
        if old is None:
            continue
        growth, lower = result_ratio(row.product, old.product)
        base_growth, base_lower = result_ratio(row.baseline, old.baseline)
        lines.append(
            f"| {row.label} | {fmt_result(old.product)} | {fmt_result(row.product)} | "
            f"{fmt_growth(growth, lower)} "
            f"| {fmt_growth(base_growth, base_lower)} |"
        )
    return "\n".join(lines)


def render_targets(bench: Run) -> str:
    lines = ["| target | measured | verdict |", "|---|---|---|"]
    lines += [f"| {v.target} | {v.measured} | {v.verdict} |" for v in targets(bench)]
    return "\n".join(lines)


def _share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "–"


def render_profile(bench: Run) -> str:
    load, flags = bench.profile.get("profile_load"), bench.profile.get("profile_flags")
    if not load and not flags:
        return "No profiler run in this benchmark (see `--profile-exams`)."
    n = (load or flags)["size"]
    r = bench.results.get(n, {})
    lines = [
        f"Profiler runs at {fmt_count(n)} exams: cProfile for functions, plus timers around each "
        "phase of "
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
    lines = [f"### Where `ime load` runs out of memory at {fmt_count(n)} exams", ""]
    outcome = {"ok": "it finished this time"}.get(d["status"], d["note"] or d["status"])
    lines.append(
        f"`ime load` went over the memory limit at {fmt_count(n)} exams, so the benchmark loaded "
        "the same "
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
        f"### Pages at {fmt_count(n)} exams",
        "",
        f'From the timers of the page runs (cold; the table "Pages at {fmt_count(n)} exams in '
        'detail" '
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
    # devtools/bench.py: where the timer lived before the bench became a package (older runs).
    if label.startswith(("devtools/bench/tracer.py:", "devtools/bench.py:")) and label.endswith(
        " execute"
    ):
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
        f"{FULL_COMMAND}                 # the full run: "
        f"{', '.join(fmt_count(n) for n in FULL_SIZES)} "
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
        "with the same statistics functions (for the Overview, the trend's time grain chosen by "
        "volume as the page chooses it, written apart in pandas, and the flags through the "
        "engine's own functions). The Parquet files hold the tables as loaded (quarantined "
        "rows left out), so the "
        "analyst is not charged for cleaning, and each pandas run checks its counts against the "
        "product's "
        "queries (`pandas figures agree`). Cold: a fresh process reading the files; warm: the "
        "figures computed again from the frames in memory. Data quality, Methods, Aggregate "
        "audit (published decision counts, which the demo data do not have), Exports and Audit "
        "log have no analyst equivalent.",
        "- **Many sessions at once**: `ime serve` of the size's database on a free loopback "
        "port, with as many worker processes as it starts on the machine (one per core, at "
        "most 4; each reader kept on one by a cookie), started afresh for each number of "
        "sessions (empty caches) and each worker warmed with one untimed pass over the mix in "
        "another view (imports and the first connection paid), then the sessions: one "
        "headless Chromium with one isolated context per session (`--clients browser`, the "
        "default), or Streamlit's own websocket protocol from one process, a new session per "
        "page load with the cookies the server set earlier in the session, and nothing drawn "
        "(`--clients websocket`: the server's share of a reader's wait). Each session "
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
            parts += [f"### {fmt_count(n)} exams", "", "Not run yet.", ""]
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
