"""How figures are written: seconds, memory, ratios, counts and growth."""

from __future__ import annotations

from devtools.bench.results import Result


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


def fmt_count(n: int) -> str:
    return f"{n:,}"


def fmt_result(result: Result | None) -> str:
    if result is None:
        return "not run"
    if result.usable:
        return fmt_s(result.seconds, result.status)
    if result.status == "skipped" and result.note:
        return result.note
    return f"{result.status}: {result.note}" if result.note else result.status


def fmt_memory(result: Result | None) -> str:
    if result is None or not result.peak_mib:
        return "–"
    return ("> " if result.status == "memory" else "") + fmt_mib(result.peak_mib)


def result_ratio(product: Result | None, baseline: Result | None) -> tuple[float | None, bool]:
    """product ÷ baseline, and whether it is a lower bound (the product stopped at its limit)."""
    if not (product and baseline and product.usable and baseline.ok and baseline.seconds):
        return None, False
    return product.seconds / baseline.seconds, product.status == "timeout"


def fmt_growth(g: float | None, lower: bool = False) -> str:
    return "–" if g is None else ("> " if lower else "") + f"{g:.2f}×"
