"""`ime bench` runs end to end on a tiny data set and writes every row of the document.

No timing is asserted: the figures depend on the machine. What is checked is that every step
ran, every page and its views appear, the targets and the profiler section are written, and
the pandas baselines computed the same figures as the product.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dashboard.navigation import PAGES
from devtools.bench.pandas_pages import PANDAS_WAY
from devtools.bench.results import ROOT
from devtools.bench.runner import export_tables

N_EXAMS = 3_000
# One and two sessions at once over Streamlit's websocket protocol: the concurrency step kept
# short (1, 4, 8 browsers by default); tests/app/test_concurrency.py drives real browsers.
SESSIONS_ARGS = ("--sessions", "2", "--clients", "websocket")


def _ime_bench(*args: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "IME_DB"}
    done = subprocess.run(
        [sys.executable, "-m", "ime.cli", "bench", *args],
        cwd=Path(ROOT),
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory) -> Path:
    """One run at 3,000 exams (about five minutes on two cores): its folder."""
    root = tmp_path_factory.mktemp("bench")
    _ime_bench(
        "--exams",
        str(N_EXAMS),
        "--workdir",
        str(root / "work"),
        "--out",
        str(root / "bench.md"),
        *SESSIONS_ARGS,
    )
    return root


@pytest.fixture(scope="module")
def document(bench_run) -> str:
    """The benchmark document of that run."""
    return (bench_run / "bench.md").read_text(encoding="utf-8")


def test_render_writes_the_document_again_from_the_saved_results(bench_run, document):
    again = bench_run / "again.md"
    _ime_bench("--render", str(bench_run / "work" / "results.json"), "--out", str(again))
    assert again.read_text(encoding="utf-8") == document
    assert "## Why the misses, in words" in document


def _row(document: str, label: str) -> str:
    rows = [line for line in document.splitlines() if line.startswith(f"| {label} |")]
    assert rows, f"no row {label!r} in the document"
    return rows[0]


pytestmark = pytest.mark.slow


def test_bench_document_names_machine_command_and_sections(document):
    for heading in (
        "## Reproduce",
        "## Machine",
        "## Targets",
        "## Results",
        "## Growth",
        "## Where the time goes",
        f"### {N_EXAMS:,} exams",
    ):
        assert heading in document
    assert f"ime bench --exams {N_EXAMS}" in document
    assert "--sessions 1 --sessions 2 --clients websocket" in document
    assert "scripts/bench.sh" in document
    assert "CPUs available (nproc)" in document


@pytest.mark.parametrize(
    "label",
    [
        "Demo generator, CSV",
        "`ime load` (validation, models, contracts, precompute of flags and default view)",
        "`ime flags`, all measures computed (with the case-mix models fitted at load)",
        "`ime flags`, default (reads the flags stored at load)",
    ],
    ids=["generate", "load", "flags_all", "flags_stored"],
)
def test_bench_command_rows_have_a_figure(document, label):
    cells = [c.strip() for c in _row(document, label).split("|")]
    assert cells[2].endswith(" s"), cells


@pytest.mark.parametrize("page", PAGES, ids=[p.file for p in PAGES])
def test_bench_every_page_has_all_four_runs(document, page):
    for view in ("default", "filtered"):
        for temperature in ("cold", "warm"):
            label = f"Page {page.title}, {view} view, {temperature}: data + statistics"
            row = _row(document, label)
            product = row.split("|")[2].strip()
            assert product.endswith(" s"), row
            if page.file in PANDAS_WAY:
                assert "pandas figures agree" in row, row


def test_bench_gives_every_target_a_verdict(document):
    # The verdicts themselves are judged on synthetic results in tests/test_bench_verdicts.py;
    # here each target row of a real run carries one, and at 3,000 exams the targets at
    # 10,000,000 say they were not measured.
    section = document.split("## Targets", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]
    verdicts = [row.rstrip(" |").rsplit("|", 1)[1].strip() for row in rows]
    assert len(verdicts) >= 10
    for verdict in verdicts:
        assert verdict.startswith(("met (", "MISSED: ", "unknown (", "not measured")), verdict
    assert sum(v == "not measured at 10,000,000" for v in verdicts) >= 5


@pytest.mark.parametrize("table", export_tables())
def test_bench_exports_every_table(document, table):
    cells = [c.strip() for c in _row(document, f"`ime export {table}`").split("|")]
    assert cells[2].endswith(" s"), cells


def test_bench_profile_names_load_phases_and_flag_steps(document):
    assert "### `ime load`" in document
    assert "precompute flags (store_flags)" in document
    assert "measure adverse_opinion" in document
    assert "fit_models" in document


def test_bench_runs_sessions_at_once(document):
    section = document.split(f"#### Many sessions at once at {N_EXAMS:,} exams", 1)[1]
    section = section.split("\n#", 1)[0]
    assert "Sessions: Streamlit's websocket protocol" in section
    rows = [
        line
        for line in section.splitlines()
        if line.startswith("| ") and not line.startswith("| sessions at once")
    ]
    by_sessions = {
        row.split("|")[1].strip(): [c.strip() for c in row.split("|")[2:-1]] for row in rows
    }
    for n, loads in (("1", "12"), ("2", "24")):
        loads_cell, errors, p50, p95, ratio = by_sessions[n][:5]
        assert (loads_cell, errors) == (loads, "0"), by_sessions[n]
        assert p50.endswith(" s") and p95.endswith(" s") and ratio.endswith("×"), by_sessions[n]
