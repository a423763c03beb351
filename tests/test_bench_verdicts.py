"""The bench's verdicts on synthetic results, met and missed by known margins.

The limits are the issue's targets, written here as numbers (not read from devtools.bench.targets):
`ime load` at most 2.5 times a bare DuckDB load; peak memory under 4 GiB (4,096 MiB) at
10,000,000 exams; the generator under 5 minutes there; every page under 1 s there; pages at
least 10 times faster than pandas; `ime flags` under 30 s at 10,000,000 and at most 3 times a
bare load at 1,000,000; page times growing at most 3 times from 1,000,000 to 10,000,000; a
filtered export at most 1.5 times the unfiltered one at 1,000,000. Each expected verdict is the
measured figure over its limit, worked out by hand in the comment beside it.
"""

from __future__ import annotations

import pytest

from devtools.bench.results import Result, Run
from devtools.bench.targets import targets

M, TEN_M = 1_000_000, 10_000_000
PAGES = [["overview.py", "Overview"], ["examiners.py", "Examiners"],
         ["examiner_profile.py", "Examiner profile"]]


def run(results: dict[int, dict[str, Result]]) -> Run:
    return Run(sizes=sorted(results), command="ime bench", timeout=3600.0, profile_size=None,
               started_at="2026-01-01T00:00:00", machine={}, results=results, pages=PAGES)


def seconds(s: float, peak_mib: float | None = None, status: str = "ok") -> Result:
    return Result(seconds=s, peak_mib=peak_mib, status=status)


def verdict(bench: Run, target_starts: str) -> str:
    (found,) = [v.verdict for v in targets(bench) if v.target.startswith(target_starts)]
    return found


def pages(at: float, view: str = "default") -> dict[str, Result]:
    return {f"page:{f}:{view}": seconds(at) for f, _ in PAGES}


def passing() -> dict[int, dict[str, Result]]:
    return {
        M: {
            "load": seconds(10.0), "bare_load": seconds(8.0),
            "flags_all": seconds(12.0),  # 12 / 8 = 1.5 of a limit of 3: 0.50
            "export:examiner_rates": seconds(2.0),
            "export_filtered:examiner_rates": seconds(2.5),  # 1.25 / 1.5 = 0.83
            **pages(0.2), **pages(0.2, "filtered"),
        },
        TEN_M: {
            "load": seconds(120.0, peak_mib=3000.0),  # 3000 / 4096 = 0.73
            "bare_load": seconds(100.0),  # 120 / 100 = 1.2, over 2.5: 0.48
            "generate": seconds(240.0),  # 240 / 300 = 0.80
            "flags_all": seconds(20.0),  # 20 / 30 = 0.67
            **pages(0.5),  # 0.5 / 1 = 0.50; growth 0.5 / 0.2 = 2.5, over 3: 0.83
            **pages(0.4, "filtered"),  # 0.40; growth 2.0
            "pandas:overview.py:default": seconds(10.0),  # 10 / 0.5 = 20x, 2.0x the minimum
            "pandas:examiners.py:default": seconds(15.0),
        },
    }


PASSED = [
    ("`ime load` ≤", "met (0.48 of the limit) (at 10,000,000)"),
    ("peak memory", "met (0.73 of the limit)"),
    ("demo generator", "met (0.80 of the limit)"),
    ("every page's data and statistics", "met (0.50 of the limit)"),
    ("every page ≥", "met (2.0× the minimum) (at 10,000,000)"),
    ("`ime flags`, all measures, <", "met (0.67 of the limit)"),
    ("`ime flags`, all measures, ≤", "met (0.50 of the limit)"),
    ("page times grow", "met (0.83 of the limit)"),
    ("filtered Overview", "met (0.40 of the limit)"),
    ("filtered `ime export", "met (0.83 of the limit)"),
]


@pytest.mark.parametrize("target, expected", PASSED, ids=[t for t, _ in PASSED])
def test_a_target_met_is_judged_met_by_its_margin(target, expected):
    assert verdict(run(passing()), target) == expected


def missing() -> dict[int, dict[str, Result]]:
    results = passing()
    results[M].update({
        "flags_all": seconds(30.0),  # 30 / 8 = 3.75, over 3: 1.25
        "export_filtered:examiner_rates": seconds(4.0),  # 4 / 2 = 2, over 1.5: 1.33
    })
    results[TEN_M].update({
        "load": seconds(300.0, peak_mib=5000.0),  # 300 / 100 = 3, over 2.5: 1.20
        "generate": seconds(400.0),  # 400 / 300 = 1.33
        "flags_all": seconds(45.0),  # 45 / 30 = 1.50
        "page:examiners.py:default": seconds(1.5),  # 1.5 / 1 = 1.50; growth 1.5 / 0.2 = 7.5
        "page:examiner_profile.py:filtered": seconds(1.2),  # 1.2 / 1 = 1.20
        "pandas:examiners.py:default": seconds(6.0),  # 6 / 1.5 = 4x, 0.40 of the minimum
    })
    return results


MISSED = [
    ("`ime load` ≤", "MISSED: 1.20× the limit (at 10,000,000)"),
    ("peak memory", "MISSED: 1.22× the limit"),  # 5000 / 4096
    ("demo generator", "MISSED: 1.33× the limit"),
    ("every page's data and statistics", "MISSED: 1.50× the limit"),
    ("every page ≥", "MISSED: 0.40 of the minimum (at 10,000,000)"),
    ("`ime flags`, all measures, <", "MISSED: 1.50× the limit"),
    ("`ime flags`, all measures, ≤", "MISSED: 1.25× the limit"),
    ("page times grow", "MISSED: 2.50× the limit"),  # 7.5 / 3
    ("filtered Overview", "MISSED: 1.20× the limit"),
    ("filtered `ime export", "MISSED: 1.33× the limit"),
]


@pytest.mark.parametrize("target, expected", MISSED, ids=[t for t, _ in MISSED])
def test_a_target_missed_is_judged_missed_by_its_margin(target, expected):
    assert verdict(run(missing()), target) == expected


def test_a_step_stopped_at_its_time_limit_under_the_target_is_unknown_not_met():
    # The generator stopped at 250 s: it would have taken longer, so under 300 s proves nothing.
    results = passing()
    results[TEN_M]["generate"] = seconds(250.0, status="timeout")
    assert verdict(run(results), "demo generator") == "unknown (stopped at its time limit)"


def test_targets_of_a_size_not_run_are_not_measured():
    results = passing()
    del results[TEN_M]
    bench = run(results)
    for target in ("peak memory", "demo generator", "every page's data and statistics",
                   "`ime flags`, all measures, <", "filtered Overview"):
        assert verdict(bench, target) == "not measured at 10,000,000", target
    assert verdict(bench, "page times grow").startswith("not measured")
    # Measured at 1,000,000 only: judged there.
    # 10 / 8 = 1.25, over 2.5: 0.50
    assert verdict(bench, "`ime load` ≤") == "met (0.50 of the limit) (at 1,000,000)"
