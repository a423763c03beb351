"""The targets of the issue, each judged on a run: met, missed or not measured."""

from __future__ import annotations

from dataclasses import dataclass

from devtools import bench_concurrency
from devtools.bench.formatting import fmt_count, fmt_growth, fmt_mib, fmt_ratio, fmt_s, result_ratio
from devtools.bench.page_timer import page_specs
from devtools.bench.pandas_pages import PANDAS_WAY
from devtools.bench.results import VIEWS, Result, Run

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


def growth_sizes(bench: Run) -> tuple[int, int] | None:
    """The two sizes the growth table compares: 1M and 10M when run, else the two largest."""
    done = [n for n in bench.sizes if bench.results.get(n)]
    if PAGE_GROWTH_FROM in done and TARGET_SIZE in done:
        return PAGE_GROWTH_FROM, TARGET_SIZE
    return (done[-2], done[-1]) if len(done) >= 2 else None


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
        n: result_ratio(res.get("load"), res.get("bare_load"))
        for n, res in sorted(bench.results.items())
    }
    ratios = {n: r for n, r in ratios.items() if r[0] is not None}
    if ratios:
        n = max(ratios)
        measured = "; ".join(
            f"{fmt_ratio(r, lower)} at {fmt_count(k)}" for k, (r, lower) in ratios.items()
        )
        out.append(
            Verdict(
                label,
                measured,
                _judge(ratios[n][0], LOAD_RATIO_MAX, ratios[n][1]) + f" (at {fmt_count(n)})",
            )
        )
    else:
        out.append(Verdict(label, "–", "not measured"))

    # 1b. Incremental loads against the full load, judged at the largest size.
    label = (
        f"`ime load` of {INCREMENT_PERCENT}% new exams ≤ {INCREMENT_RATIO_MAX:.0%} of the full load"
    )
    shares = {
        n: result_ratio(increment_result(res), res.get("load"))
        for n, res in sorted(bench.results.items())
    }
    shares = {n: r for n, r in shares.items() if r[0] is not None}
    if shares:
        n = max(shares)
        measured = "; ".join(f"{r:.1%} at {fmt_count(k)}" for k, (r, _) in shares.items())
        out.append(
            Verdict(
                label,
                measured,
                _judge(shares[n][0], INCREMENT_RATIO_MAX, False) + f" (at {fmt_count(n)})",
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
                f"peak memory < {PEAK_MEMORY_MAX_MIB / 1024:.0f} GiB at {fmt_count(TARGET_SIZE)}",
                measured,
                _judge(mib, PEAK_MEMORY_MAX_MIB, False),
            )
        )
    else:
        hint = peak_row(largest) if largest else None
        out.append(
            Verdict(
                f"peak memory < {PEAK_MEMORY_MAX_MIB / 1024:.0f} GiB at {fmt_count(TARGET_SIZE)}",
                f"at {fmt_count(largest)}: {hint[0]} {fmt_mib(hint[1])}" if hint else "–",
                f"not measured at {fmt_count(TARGET_SIZE)}",
            )
        )

    # 3. Generator.
    gen = bench.results.get(TARGET_SIZE, {}).get("generate")
    if gen and gen.usable:
        out.append(
            Verdict(
                f"demo generator makes {fmt_count(TARGET_SIZE)} exams in < "
                f"{GENERATE_MAX_S / 60:.0f} min",
                fmt_s(gen.seconds, gen.status),
                _judge(gen.seconds, GENERATE_MAX_S, gen.status == "timeout"),
            )
        )
    else:
        hint = _largest(bench, "generate")
        out.append(
            Verdict(
                f"demo generator makes {fmt_count(TARGET_SIZE)} exams in < "
                f"{GENERATE_MAX_S / 60:.0f} min",
                f"{fmt_s(hint[1].seconds)} at {fmt_count(hint[0])}" if hint else "–",
                f"not measured at {fmt_count(TARGET_SIZE)}",
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
        f"every page's data and statistics < {PAGE_MAX_S:g} s at {fmt_count(TARGET_SIZE)} "
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
                f"at {fmt_count(largest)}: slowest {titles[worst]} {fmt_s(times[worst].seconds)}"
                if worst
                else "–",
                f"not measured at {fmt_count(TARGET_SIZE)}",
            )
        )

    # 5. At least 10 times faster than pandas (default view, cold), judged at the largest size.
    label = f"every page ≥ {1 / PAGE_RATIO_MAX:.0f}× faster than pandas (default view, cold)"
    slowest: dict[int, tuple[float, str]] = {}
    for n, res in sorted(bench.results.items()):
        ratios = [
            (result_ratio(res.get(f"page:{f}:default"), res.get(f"pandas:{f}:default"))[0], f)
            for f in PANDAS_WAY
        ]
        ratios = [x for x in ratios if x[0] is not None]
        if ratios:
            slowest[n] = max(ratios)
    if slowest:
        n = max(slowest)
        measured = "; ".join(
            f"at {fmt_count(k)} the least ahead is {titles[f]}, {1 / r:,.1f}× faster"
            for k, (r, f) in slowest.items()
        )
        verdict = _judge(1 / slowest[n][0], 1 / PAGE_RATIO_MAX, False, less_is_better=False)
        out.append(Verdict(label, measured, f"{verdict} (at {fmt_count(n)})"))
    else:
        out.append(Verdict(label, "–", "not measured"))

    # 6. Flags under 30 s at 10M.
    flags = bench.results.get(TARGET_SIZE, {}).get("flags_all")
    label = f"`ime flags`, all measures, < {FLAGS_MAX_S:.0f} s at {fmt_count(TARGET_SIZE)}"
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
        why = flags.note if flags and flags.note else f"not measured at {fmt_count(TARGET_SIZE)}"
        out.append(
            Verdict(
                label,
                f"at {fmt_count(hint[0])}: {fmt_s(hint[1].seconds, hint[1].status)}"
                if hint
                else "–",
                why if why.startswith("not") else f"not measured ({why})",
            )
        )

    # 7. Flags ≤ 3× bare load at 1M.
    label = (
        f"`ime flags`, all measures, ≤ {FLAGS_RATIO_MAX:.0f}× a bare DuckDB load at "
        f"{fmt_count(FLAGS_RATIO_SIZE)}"
    )
    at = bench.results.get(FLAGS_RATIO_SIZE, {})
    ratio, lower = result_ratio(at.get("flags_all"), at.get("bare_load"))
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
        out.append(Verdict(label, "–", f"not measured at {fmt_count(FLAGS_RATIO_SIZE)}"))

    # 8. Page growth 1M -> 10M.
    label = (
        f"page times grow ≤ {PAGE_GROWTH_MAX:g}× from {fmt_count(PAGE_GROWTH_FROM)} to "
        f"{fmt_count(TARGET_SIZE)} exams"
    )
    a, b = bench.results.get(PAGE_GROWTH_FROM, {}), bench.results.get(TARGET_SIZE, {})
    growths = []
    for f in _page_keys(bench):
        for view in VIEWS:
            g, lower = result_ratio(b.get(f"page:{f}:{view}"), a.get(f"page:{f}:{view}"))
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
                f"see the growth table ({fmt_count(pair[0])} to {fmt_count(pair[1])})"
                if pair
                else "–",
                f"not measured (needs {fmt_count(PAGE_GROWTH_FROM)} and {fmt_count(TARGET_SIZE)})",
            )
        )

    # 9. Filtered Overview, Examiners and Examiner profile under 1 s at 10M, cold.
    label = (
        f"filtered {', '.join(titles.get(f, f) for f in FILTERED_PAGES)}: data and statistics "
        f"< {PAGE_MAX_S:g} s at {fmt_count(TARGET_SIZE)} (cold)"
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
        out.append(Verdict(label, "–", f"not measured at {fmt_count(TARGET_SIZE)}"))

    # 10. A filtered export costs at most 1.5x the unfiltered one at 1M, in the same run.
    label = (
        f"filtered `ime export {FILTERED_EXPORT}` ≤ {FILTERED_EXPORT_RATIO_MAX:g}× the unfiltered "
        f"one at {fmt_count(FILTERED_EXPORT_SIZE)}"
    )
    at = bench.results.get(FILTERED_EXPORT_SIZE, {})
    plain = at.get(f"export:{FILTERED_EXPORT}")
    filtered = at.get(f"export_filtered:{FILTERED_EXPORT}")
    ratio, lower = result_ratio(filtered, plain)
    if ratio is not None:
        out.append(
            Verdict(
                label,
                f"{fmt_ratio(ratio, lower)} ({fmt_s(filtered.seconds)} vs {fmt_s(plain.seconds)})",
                _judge(ratio, FILTERED_EXPORT_RATIO_MAX, lower),
            )
        )
    else:
        out.append(Verdict(label, "–", f"not measured at {fmt_count(FILTERED_EXPORT_SIZE)}"))

    # 11. Many sessions at once, judged at 1,000,000 exams.
    out.append(concurrency_target(bench))
    return out


def concurrency_target(bench: Run) -> Verdict:
    """The concurrency target, judged at its size, or the largest size measured as a hint."""
    c = bench_concurrency
    label = (
        f"{c.TARGET_SESSIONS} sessions at once at {fmt_count(c.TARGET_SIZE)}: no error, p95 "
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
    why = f"not measured at {fmt_count(c.TARGET_SIZE)}" + (
        f" ({step.note})" if step is not None and step.note else ""
    )
    if measured:
        n = max(measured)
        hint = c.judge(c.levels_from(measured[n].detail))
        return Verdict(label, f"at {fmt_count(n)}: {hint.measured}", why)
    return Verdict(label, "–", why)
