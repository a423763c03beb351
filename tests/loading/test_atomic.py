"""A load killed at any moment (SIGKILL included) leaves the last good database as it was."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from etl.load import load

N_EXAMS = 400_000


def write_big_folder(folder: Path) -> None:
    """Canonical files with enough exams that a load takes a few seconds."""
    folder.mkdir(parents=True)
    con = duckdb.connect()
    con.execute(
        "COPY (SELECT 'EX' || i AS examiner_id, 'orthopedic_surgery' AS specialty "
        "FROM range(50) t(i)) TO $p (HEADER)",
        {"p": str(folder / "examiners.csv")},
    )
    con.execute(
        "COPY (SELECT 'C' || i AS case_id, 'CL' || i AS claimant_id, "
        "'INS' || (i % 7) AS insurer_id, "
        "DATE '2020-01-01' + CAST(i % 300 AS INTEGER) AS injury_date FROM range($n) t(i)) "
        "TO $p (HEADER)",
        {"p": str(folder / "cases.csv"), "n": N_EXAMS},
    )
    con.execute(
        "COPY (SELECT 'E' || i AS exam_id, 'C' || i AS case_id, 'EX' || (i % 50) AS examiner_id, "
        "DATE '2021-06-01' AS exam_date, CASE WHEN i % 3 = 0 THEN 'not_related' ELSE 'related' END "
        "AS causation FROM range($n) t(i)) TO $p (HEADER)",
        {"p": str(folder / "exams.csv"), "n": N_EXAMS},
    )


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
@pytest.mark.parametrize("kill_after_seconds", [0.5, 1.5, 3.0], ids=["early", "middle", "late"])
def test_sigkill_during_a_load_leaves_the_database_as_it_was(
    tmp_path, canonical_folder, kill_after_seconds
):
    db = tmp_path / "db" / "ime.duckdb"
    load([canonical_folder], db)
    before = digest(db)
    big = tmp_path / "big"
    write_big_folder(big)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ime.cli", "load", str(big), "--db", str(db)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=os.environ.copy(),
    )
    deadline = time.monotonic() + 30
    while not any("loading" in p.name for p in db.parent.iterdir()):
        assert proc.poll() is None, "the load ended before it started writing"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(kill_after_seconds)
    if proc.poll() is not None:
        pytest.fail("the load finished before it could be killed; make N_EXAMS larger")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert digest(db) == before
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM exams").fetchall() == [(2,)]
    # The next load clears what the killed one left and commits.
    report = load([big], db)
    assert report.total("loaded") == 2 * N_EXAMS + 50
    assert [p.name for p in db.parent.iterdir() if "loading" in p.name] == []
