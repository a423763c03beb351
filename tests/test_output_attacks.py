"""Issue 13, findings 1 and 8: values from the data that try to decide where files go, or to
run as spreadsheet formulas, on a demo database whose examiner ids are hostile.

Two examiners of a seeded demo data set are renamed before the load: one to a path that
climbs out of any folder (``../../../../outside/PWNED``), one to a spreadsheet formula. Each
test runs the attack as a user would (the `ime` command from a working folder, the
dashboard's audit pack from its temporary folder) and then looks at every folder around the
intended one.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from access import audit
from devtools.demo import generate
from etl.load import load
from ime.cli import main
from measures.engine import store_flags
from outputs import report
from outputs.paths import safe_file_stem
from queries import Filters

CLIMBER = "../../../../outside/PWNED"
FORMULA = '=HYPERLINK("http://evil.example","click")'
N_EXAMS = 2000
SEED = 7


@pytest.fixture(scope="module")
def hostile_db(tmp_path_factory) -> Path:
    """A demo database whose two busiest examiners carry the hostile ids."""
    root = tmp_path_factory.mktemp("hostile")
    source = root / "demo"
    generate(source, n_exams=N_EXAMS, seed=SEED)
    (source / "truth.csv").unlink()
    exams = pd.read_csv(source / "exams.csv", dtype=str, keep_default_na=False)
    busiest = exams["examiner_id"].value_counts().index[:2]
    renamed = dict(zip(busiest, (CLIMBER, FORMULA), strict=True))
    for name in ("examiners.csv", "exams.csv"):
        table = pd.read_csv(source / name, dtype=str, keep_default_na=False)
        table["examiner_id"] = table["examiner_id"].replace(renamed)
        table.to_csv(source / name, index=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IME_KEY_FILE", str(root / "pseudonym.key"))
        load([source], root / "ime.duckdb", progress=False, after_build=store_flags)
    return root / "ime.duckdb"


@pytest.fixture(autouse=True)
def audit_db(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "audit.duckdb"
    monkeypatch.setenv("IME_AUDIT_DB", str(path))
    return path


def fake_chromium(html_path: Path, pdf_path: Path) -> Path:
    """Stands in for Chromium (absent here): writes a PDF where it is asked to."""
    Path(pdf_path).write_bytes(b"%PDF-1.4\n% printed from " + Path(html_path).name.encode())
    return Path(pdf_path)


def every_path(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def test_report_for_a_climbing_id_writes_inside_reports_only(
    hostile_db, tmp_path, monkeypatch, audit_db
):
    # Deep enough that the id's four steps up stay inside tmp_path, where they are watched.
    work = tmp_path / "w" / "a" / "b" / "c"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    monkeypatch.setattr(report, "write_pdf", fake_chromium)
    before = every_path(tmp_path)
    assert main(["report", "examiner", CLIMBER, "--db", str(hostile_db), "--pdf"]) == 0

    new = every_path(tmp_path) - before
    reports = work / "reports"
    stem = f"examiner-{safe_file_stem(CLIMBER)}"
    assert {p.relative_to(tmp_path) for p in new if not p.is_relative_to(reports)} == {
        Path("audit.duckdb"),
    }
    assert sorted(p.name for p in reports.iterdir()) == [f"{stem}.html", f"{stem}.pdf"]
    assert not list(tmp_path.rglob("PWNED*")) and not list(tmp_path.rglob("outside"))
    assert "PWNED" in (reports / f"{stem}.html").read_text()  # the report is the examiner's
    detail = json.loads(audit.read(event="export", path=audit_db)["detail"].iloc[0])
    assert detail["examiner_id"] == CLIMBER
    assert Path(detail["file"]) == (reports / f"{stem}.html").resolve()


def test_dashboard_audit_pack_for_a_climbing_id_stays_in_its_temporary_folder(
    hostile_db, tmp_path, monkeypatch
):
    from dashboard import data

    temp_root = tmp_path / "t" / "a" / "b" / "c"
    temp_root.mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(temp_root))
    monkeypatch.setenv("IME_DB", str(hostile_db))
    monkeypatch.setattr(report, "write_pdf", fake_chromium)
    before = every_path(tmp_path)
    pack = data.audit_pack(CLIMBER, Filters())

    # The temporary folder is gone again, and nothing was written beside or above it.
    assert every_path(tmp_path) - before == {tmp_path / "audit.duckdb"}
    stem = safe_file_stem(CLIMBER)
    assert pack.name == f"audit-pack-{stem}.zip" and pack.note is None
    names = zipfile.ZipFile(io.BytesIO(pack.payload)).namelist()
    assert sorted(names) == [f"examiner-{stem}.html", f"examiner-{stem}.pdf"]


def test_dashboard_audit_pack_without_chromium_holds_the_html_and_says_why(
    hostile_db, tmp_path, monkeypatch
):
    from dashboard import data

    monkeypatch.setenv("IME_DB", str(hostile_db))
    monkeypatch.setattr(report, "CHROMIUM", str(tmp_path / "no-chromium"))
    pack = data.audit_pack(CLIMBER, Filters())
    names = zipfile.ZipFile(io.BytesIO(pack.payload)).namelist()
    assert names == [f"examiner-{safe_file_stem(CLIMBER)}.html"]
    assert "apt-get install chromium" in pack.note


@pytest.mark.parametrize("to_file", [True, False], ids=["out-file", "stdout"])
def test_flags_csv_writes_a_formula_id_as_text(hostile_db, tmp_path, capsys, to_file):
    out = tmp_path / "flags.csv"
    args = ["flags", "--db", str(hostile_db)] + (["--out", str(out)] if to_file else [])
    assert main(args) == 0
    text = out.read_text() if to_file else capsys.readouterr().out
    ids = [row["examiner_id"] for row in csv.DictReader(io.StringIO(text))]
    assert "'" + FORMULA in ids and FORMULA not in ids
    assert not any(i.startswith(("=", "+", "-", "@")) for i in ids)


def test_the_hostile_ids_were_loaded_as_they_are(hostile_db):
    """The attacks above are real: the load kept both ids as they were written."""
    import duckdb

    con = duckdb.connect(str(hostile_db), read_only=True)
    try:
        n = dict(con.execute(
            "SELECT examiner_id, count(*) FROM fct_exams WHERE examiner_id IN ($1, $2) GROUP BY 1",
            [CLIMBER, FORMULA],
        ).fetchall())
    finally:
        con.close()
    assert set(n) == {CLIMBER, FORMULA} and min(n.values()) >= 30
