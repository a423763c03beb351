"""`ime load`: validation, quarantine, idempotency, privacy, formats, on a real DuckDB."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from conftest import CASES, DECISIONS, EXAMINERS, EXAMS, write_csv

from etl.errors import LoadError
from etl.load import load
from ime.cli import main


def rows(db: Path, sql: str, params: dict | None = None) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, params or {}).fetchall()


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def with_change(records: list[dict], index: int, **changes: str) -> list[dict]:
    out = [dict(r) for r in records]
    out[index].update(changes)
    return out


def test_good_folder_loads_every_row(canonical_folder, db_path):
    report = load([canonical_folder], db_path)
    by_entity = {f.entity: f for f in report.files}
    assert {e: (f.read, f.loaded, f.quarantined) for e, f in by_entity.items()} == {
        "examiners": (2, 2, 0),
        "cases": (2, 2, 0),
        "exams": (2, 2, 0),
        "decisions": (1, 1, 0),
    }
    assert report.total("read") == report.total("loaded") + report.total("quarantined") == 7
    assert all(n == 0 for n in report.contracts.values())
    assert rows(
        db_path,
        "SELECT exam_id, is_adverse, is_denied, days_injury_to_mmi FROM fct_exams ORDER BY 1",
    ) == [
        ("E1", True, True, 142),
        ("E2", False, None, 153),
    ]


def test_enumerations_are_trimmed_and_case_insensitive(canonical_folder, db_path):
    write_csv(
        canonical_folder / "examiners.csv",
        with_change(
            EXAMINERS, 0, specialty=" Orthopedic_Surgery ", credential="phd", board_certified="Y"
        ),
    )
    load([canonical_folder], db_path)
    assert rows(
        db_path,
        "SELECT specialty, credential, board_certified FROM examiners WHERE examiner_id = 'EX1'",
    ) == [("orthopedic_surgery", "PhD", True)]


# One bad row per rule: (file, column to change, bad value, column reported, rule reported).
BAD_ROWS = [
    ("examiners", 0, {"examiner_id": ""}, "examiner_id", "required"),
    ("examiners", 0, {"specialty": "dentistry"}, "specialty", "enum"),
    ("examiners", 0, {"board_certified": "maybe"}, "board_certified", "type_bool"),
    ("cases", 0, {"claimant_id": " "}, "claimant_id", "required"),
    ("cases", 0, {"insurer_id": ""}, "insurer_id", "required"),
    ("cases", 0, {"injury_date": "2021-02-30"}, "injury_date", "type_date"),
    ("cases", 0, {"injury_date": "01/10/2021"}, "injury_date", "type_date"),
    ("cases", 0, {"injury_date": "2999-01-01"}, "injury_date", "not_in_future"),
    ("cases", 0, {"claim_type": "marine"}, "claim_type", "enum"),
    ("cases", 0, {"claimant_sex": "female"}, "claimant_sex", "enum"),
    ("cases", 0, {"claimant_birth_year": "1975.5"}, "claimant_birth_year", "type_int"),
    ("cases", 0, {"claimant_birth_year": "1850"}, "claimant_birth_year", "range"),
    (
        "cases",
        0,
        {"claimant_birth_year": "2022"},
        "claimant_birth_year",
        "birth_year_before_injury",
    ),
    ("cases", 0, {"represented": "perhaps"}, "represented", "type_bool"),
    ("exams", 0, {"exam_id": ""}, "exam_id", "required"),
    ("exams", 0, {"exam_date": ""}, "exam_date", "required"),
    ("exams", 0, {"case_id": "C404"}, "case_id", "reference"),
    ("exams", 0, {"examiner_id": "EX404"}, "examiner_id", "reference"),
    ("exams", 0, {"requested_by": "lawyer"}, "requested_by", "enum"),
    ("exams", 0, {"wpi_percent": "130"}, "wpi_percent", "range"),
    ("exams", 0, {"wpi_percent": "-1"}, "wpi_percent", "range"),
    ("exams", 0, {"wpi_percent": "ten"}, "wpi_percent", "type_number"),
    ("exams", 0, {"referral_date": "2021-07-01"}, "referral_date", "referral_not_after_exam"),
    ("exams", 0, {"report_date": "2021-05-31"}, "report_date", "report_not_before_exam"),
    ("exams", 0, {"mmi_date": ""}, "mmi_date", "mmi_date_required_when_reached"),
    ("exams", 0, {"mmi_date": "2021-07-01"}, "mmi_date", "mmi_not_after_report"),
    (
        "exams",
        0,
        {"exam_date": "2020-12-01", "referral_date": "", "mmi_date": "2020-12-01"},
        "exam_date",
        "exam_not_before_injury",
    ),
    ("exams", 0, {"mmi_date": "2020-01-01"}, "mmi_date", "mmi_not_before_injury"),
    ("decisions", 0, {"exam_id": "E404"}, "exam_id", "reference"),
    ("decisions", 0, {"outcome": "granted"}, "outcome", "enum"),
    ("decisions", 0, {"decision_date": ""}, "decision_date", "required"),
]
SOURCES = {"examiners": EXAMINERS, "cases": CASES, "exams": EXAMS, "decisions": DECISIONS}


@pytest.mark.parametrize(
    "entity, index, change, column, rule",
    BAD_ROWS,
    ids=[f"{b[0]}-{b[3]}-{b[4]}-{list(b[2].values())[0] or 'blank'}" for b in BAD_ROWS],
)
def test_each_rule_quarantines_its_bad_row(
    canonical_folder, db_path, entity, index, change, column, rule
):
    path = write_csv(
        canonical_folder / f"{entity}.csv", with_change(SOURCES[entity], index, **change)
    )
    report = load([canonical_folder], db_path)
    f = next(f for f in report.files if f.entity == entity)
    assert (f.read, f.quarantined, f.loaded) == (len(SOURCES[entity]), 1, len(SOURCES[entity]) - 1)
    found = rows(
        db_path,
        "SELECT file, row_number, column_name, rule, action FROM quarantine WHERE entity = $e",
        {"e": entity},
    )
    assert (str(path), index + 1, column, rule, "quarantined") in found
    assert report.total("read") == report.total("loaded") + report.total("quarantined")


def test_quarantine_keeps_the_raw_value_and_row(canonical_folder, db_path):
    write_csv(canonical_folder / "exams.csv", with_change(EXAMS, 1, wpi_percent="1,5"))
    load([canonical_folder], db_path)
    [(row_number, raw_value, message, raw_row)] = rows(
        db_path, "SELECT row_number, raw_value, message, raw_row FROM quarantine"
    )
    assert (row_number, raw_value, message) == (2, "1,5", "not a number")
    assert json.loads(raw_row)["exam_id"] == "E2"


def test_orphans_of_a_quarantined_case_are_quarantined_too(canonical_folder, db_path):
    write_csv(canonical_folder / "cases.csv", with_change(CASES, 0, injury_date="never"))
    report = load([canonical_folder], db_path)
    quarantined = {f.entity: f.quarantined for f in report.files}
    assert quarantined == {"examiners": 0, "cases": 1, "exams": 1, "decisions": 1}


def test_duplicate_key_in_a_file_keeps_the_first(canonical_folder, db_path):
    write_csv(canonical_folder / "exams.csv", [*EXAMS, {**EXAMS[0], "wpi_percent": "5"}])
    report = load([canonical_folder], db_path)
    exams = next(f for f in report.files if f.entity == "exams")
    assert (exams.read, exams.loaded, exams.quarantined) == (3, 2, 1)
    assert rows(db_path, "SELECT wpi_percent FROM exams WHERE exam_id = 'E1'") == [(0.0,)]


def test_reloading_the_same_files_changes_nothing(canonical_folder, db_path):
    write_csv(canonical_folder / "exams.csv", with_change(EXAMS, 1, wpi_percent="200"))
    load([canonical_folder], db_path)
    tables = ("examiners", "cases", "exams", "decisions", "quarantine", "fct_exams")
    before = {
        t: rows(
            db_path,
            f"SELECT * EXCLUDE (load_id) FROM {t} ORDER BY ALL"
            if t == "quarantine"
            else f"SELECT * FROM {t} ORDER BY ALL",
        )
        for t in tables
    }
    report = load([canonical_folder], db_path)
    after = {
        t: rows(
            db_path,
            f"SELECT * EXCLUDE (load_id) FROM {t} ORDER BY ALL"
            if t == "quarantine"
            else f"SELECT * FROM {t} ORDER BY ALL",
        )
        for t in tables
    }
    assert after == before
    assert (report.total("inserted"), report.total("replaced"), report.total("unchanged")) == (
        0,
        0,
        6,
    )
    assert report.total("quarantined") == 1


def test_a_row_loaded_again_with_other_content_replaces_the_old(canonical_folder, db_path):
    load([canonical_folder], db_path)
    changed = write_csv(
        canonical_folder.parent / "later" / "exams.csv", with_change(EXAMS, 1, wpi_percent="12")
    )
    report = load([changed], db_path)
    [exams] = report.files
    assert (exams.inserted, exams.replaced, exams.unchanged) == (0, 1, 1)
    assert rows(db_path, "SELECT wpi_percent FROM exams WHERE exam_id = 'E2'") == [(12.0,)]
    assert rows(db_path, "SELECT count(*) FROM exams") == [(2,)]


def test_references_resolve_against_earlier_loads(canonical_folder, db_path):
    load([canonical_folder / "examiners.csv", canonical_folder / "cases.csv"], db_path)
    report = load([canonical_folder / "exams.csv"], db_path)
    assert report.files[0].quarantined == 0
    assert rows(db_path, "SELECT count(*) FROM fct_exams") == [(2,)]


def test_claimant_id_never_reaches_the_database_file(canonical_folder, db_path, pseudonym_key_file):
    write_csv(canonical_folder / "cases.csv", with_change(CASES, 1, claim_type="bogus"))
    load([canonical_folder], db_path)
    data = db_path.read_bytes()
    assert b"CLAIMANT-SECRET" not in data
    hashed = rows(db_path, "SELECT claimant_id FROM cases")
    assert all(len(h) == 64 for (h,) in hashed)
    # The quarantined row's claimant id is stored hashed too.
    raw_row = json.loads(rows(db_path, "SELECT raw_row FROM quarantine")[0][0])
    assert len(raw_row["claimant_id"]) == 64
    assert stat.S_IMODE(os.stat(pseudonym_key_file).st_mode) == 0o600


def test_same_claimant_gets_the_same_pseudonym_across_loads(canonical_folder, db_path):
    load([canonical_folder], db_path)
    first = rows(db_path, "SELECT case_id, claimant_id FROM cases ORDER BY 1")
    write_csv(canonical_folder / "cases.csv", with_change(CASES, 0, case_id="C9"))
    load([canonical_folder / "cases.csv"], db_path)
    assert rows(db_path, "SELECT claimant_id FROM cases WHERE case_id = 'C9'") == [(first[0][1],)]


def test_direct_identifiers_are_dropped_and_zip_cut(canonical_folder, db_path):
    extra = [
        {
            **c,
            "Claimant Name": "Jane Roe",
            "SSN": "123-45-6789",
            "email": "j@x.org",
            "zip": "94110",
            "adjuster_note": "n/a",
        }
        for c in CASES
    ]
    write_csv(canonical_folder / "cases.csv", extra)
    report = load([canonical_folder], db_path)
    cases = next(f for f in report.files if f.entity == "cases")
    assert sorted(cases.dropped_columns) == ["Claimant Name", "SSN", "email"]
    assert cases.zip_columns_cut == ["zip"]
    stored = json.loads(rows(db_path, "SELECT extra FROM cases WHERE case_id = 'C1'")[0][0])
    assert stored == {"zip": "941", "adjuster_note": "n/a"}
    assert b"123-45-6789" not in db_path.read_bytes()
    assert b"Jane Roe" not in db_path.read_bytes()


def test_parquet_and_xlsx_load_like_csv(canonical_folder, tmp_path, db_path):
    other = tmp_path / "formats"
    other.mkdir()
    pd.DataFrame(EXAMINERS).to_excel(other / "examiners.xlsx", index=False)
    cases = pd.DataFrame(CASES).assign(
        injury_date=lambda d: pd.to_datetime(d["injury_date"]).dt.date,
        claimant_birth_year=lambda d: d["claimant_birth_year"].astype(int),
    )
    cases.to_parquet(other / "cases.parquet")
    pd.DataFrame(EXAMS).to_excel(other / "exams.xlsx", index=False)
    report = load([other], db_path)
    assert [(f.entity, f.loaded, f.quarantined) for f in report.files] == [
        ("examiners", 2, 0),
        ("cases", 2, 0),
        ("exams", 2, 0),
    ]
    csv_db = tmp_path / "csv.duckdb"
    load([canonical_folder / n for n in ("examiners.csv", "cases.csv", "exams.csv")], csv_db)
    query = "SELECT * EXCLUDE (extra, _load_id) FROM {} ORDER BY ALL"
    for table in ("examiners", "cases", "exams"):
        assert rows(db_path, query.format(table)) == rows(csv_db, query.format(table))


@pytest.mark.parametrize(
    "name, content, problem",
    [
        (
            "exams.csv",
            b"exam_id,case_id\nE1,C1\n",
            r"missing required column\(s\) examiner_id, exam_date",
        ),
        (
            "cases.csv",
            "case_id,claimant_id,insurer_id,injury_date\nC1,\xe9,I,2020-01-01\n".encode("latin-1"),
            "cannot be read",
        ),
        ("exams.parquet", b"exam_id,case_id\nE1,C1\n", "is not a Parquet file"),
        ("examiners.xlsx", b"not a spreadsheet", "cannot be read as XLSX"),
    ],
    ids=["missing-required-column", "not-utf8", "csv-named-parquet", "corrupt-xlsx"],
)
def test_unreadable_file_stops_the_load_and_changes_nothing(
    canonical_folder, db_path, name, content, problem
):
    load([canonical_folder], db_path)
    digest = file_digest(db_path)
    (canonical_folder / name).write_bytes(content)
    with pytest.raises(LoadError, match=problem) as info:
        load([canonical_folder], db_path)
    assert name in str(info.value)
    assert file_digest(db_path) == digest
    assert [p.name for p in db_path.parent.iterdir() if "loading" in p.name] == []


def test_unknown_files_are_skipped_and_reported(canonical_folder, db_path):
    write_csv(canonical_folder / "truth.csv", [{"examiner_id": "EX1", "pattern": "fair"}])
    report = load([canonical_folder], db_path)
    skipped = [f for f in report.files if f.entity is None]
    assert [Path(f.file).name for f in skipped] == ["truth.csv"]
    assert "not an entity" in skipped[0].note


def test_a_reader_keeps_its_snapshot_during_a_load(canonical_folder, db_path):
    load([canonical_folder / "examiners.csv"], db_path)
    reader = duckdb.connect(str(db_path), read_only=True)
    load([canonical_folder], db_path)
    assert reader.execute("SELECT count(*) FROM exams").fetchone() == (0,)
    reader.close()
    assert rows(db_path, "SELECT count(*) FROM exams") == [(2,)]


def test_cli_load_exit_codes(canonical_folder, db_path, capsys):
    assert main(["load", str(canonical_folder), "--db", str(db_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["totals"]["read"] == report["totals"]["loaded"] == 7
    (canonical_folder / "exams.csv").write_bytes(b"exam_id\nE1\n")
    assert main(["load", str(canonical_folder), "--db", str(db_path)]) == 2
    err = capsys.readouterr().err
    assert "nothing was changed" in err and "exams.csv" in err
