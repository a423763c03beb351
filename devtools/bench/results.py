"""What one `ime bench` run measured (Result, Run), the settings every step shares, and
the raw figures saved as JSON.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from devtools import bench_concurrency

ROOT = Path(__file__).resolve().parents[2]
FULL_SIZES = (50_000, 1_000_000, 10_000_000)
FULL_COMMAND = "scripts/bench.sh"
SEED = 0
DEMO_ENTITIES = ("examiners", "cases", "exams", "decisions", "treating_ratings", "rulings")

# The filtered view: the busiest jurisdiction of the demo data (about a fifth of the exams),
# set through the URL as a reader's link would.
FILTERED_VIEW = {"jurisdiction": ["CA"]}
VIEWS = {"default": {}, "filtered": FILTERED_VIEW}

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


def last_json(stdout: str) -> dict:
    """The JSON a command prints: all of its output (`ime load --json`) or a worker's last line."""
    with contextlib.suppress(ValueError):
        return json.loads(stdout)
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError("the worker printed no JSON result")


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


def save_results(bench: Run, workdir: Path) -> None:
    """The raw figures as JSON in the work folder (for reading after a run that was stopped)."""
    raw = asdict(bench)
    (workdir / "results.json").write_text(json.dumps(raw, indent=1, default=str), encoding="utf-8")


def load_results(path: Path) -> Run:
    """A run as save_results wrote it (sizes come back as numbers, steps as Results)."""
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
