"""Issue 13, the loader's findings: each test performs the attack and shows that it now fails.

Counts of rows read, loaded and quarantined are worked out by hand from the files each test
writes; the comment beside each expectation says which rows they are.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import duckdb
import pytest
from conftest import CASES, DECISIONS, EXAMINERS, EXAMS, write_csv

import etl.sources
from etl import identifiers
from etl.errors import LoadError
from etl.load import load
from etl.schema import ENTITIES
from queries.sqlfile import folder as sql_folder


def rows(db: Path, sql: str, params: dict | None = None) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, params or {}).fetchall()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def by_entity(report) -> dict:
    return {f.entity: f for f in report.files if f.entity}


def counts(report) -> dict[str, tuple[int, int, int]]:
    """(read, loaded, quarantined) per entity."""
    return {e: (f.read, f.loaded, f.quarantined) for e, f in by_entity(report).items()}


def csv_text(header: list[str], records: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *records])
    return out.getvalue()


def occurrences(db: Path, needle: str) -> dict[str, int]:
    """Rows of every table of the database whose text (all columns) contains `needle`."""
    found = {}
    with duckdb.connect(str(db), read_only=True) as con:
        tables = con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE NOT temporary"
        ).fetchall()
        for schema, table in tables:
            # Names from the catalogue, quoted; the needle is bound.
            n = con.execute(
                f'SELECT count(*) FROM "{schema}"."{table}" t '
                "WHERE contains(CAST(t AS VARCHAR), $needle)",
                {"needle": needle},
            ).fetchall()[0][0]
            if n:
                found[f"{schema}.{table}"] = n
    return found


def database_bytes(db: Path) -> bytes:
    """The database file's bytes after a checkpoint, with every connection closed."""
    with duckdb.connect(str(db)) as con:
        con.execute("CHECKPOINT")
    assert not db.with_name(db.name + ".wal").exists()
    return db.read_bytes()


# --- 1. Identifiers stored in clear ----------------------------------------------------------

# The headers of the finding, one value per case row; values long enough that a byte match in
# the database file cannot be chance.
CASE_IDENTIFIERS = {
    "Claimant Surname": ("Quirke-Planted", "Okonkwo-Planted", "Lindqvist-Planted"),
    "SSN_last4": ("ssn-last4-6789", "ssn-last4-4321", "ssn-last4-5555"),
    "phone_1": ("+1 415 555 0199", "+1 212 555 0147", "+1 617 555 0123"),
    "email_1": ("jane.quirke@example.org", "ada.okonkwo@example.org", "lin@example.org"),
    "Telephone No.": ("(416) 555-0142", "(416) 555-0178", "(416) 555-0111"),
    "Social Insurance Number": ("046 454 286", "130 692 544", "527 174 341"),
    "medicare_number": ("1EG4-TE5-MK73", "2FH5-UF6-NL84", "3GJ6-VG7-PM95"),
}
EXAM_CLAIMANT_IDS = tuple(f"CLAIMANT-RAW-IN-EXAMS-{i}" for i in (1, 2, 3))
EXAM_BIRTH_DATES = ("1975-02-14", "1990-11-30", "1968-07-04")
DECISION_EMAIL = "claimant.decision@example.org"


def planted_folder(tmp_path: Path) -> Path:
    """Canonical files carrying the finding's identifier columns, plus one bad row per file.

    cases: C1, C2 good, C3 quarantined (claim_type 'marine'); exams: E1, E2 good, E3
    quarantined (wpi_percent 130); examiners and decisions as in conftest.
    """
    folder = tmp_path / "planted"
    write_csv(folder / "examiners.csv", EXAMINERS)
    bad_case = {**CASES[0], "case_id": "C3", "claim_type": "marine"}
    write_csv(
        folder / "cases.csv",
        [
            {
                **case,
                **{header: values[i] for header, values in CASE_IDENTIFIERS.items()},
                "adjuster_note": "n/a",
            }
            for i, case in enumerate([*CASES, bad_case])
        ],
    )
    bad_exam = {**EXAMS[0], "exam_id": "E3", "wpi_percent": "130"}
    write_csv(
        folder / "exams.csv",
        [
            {
                **exam,
                "claimant_id": EXAM_CLAIMANT_IDS[i],
                "Claimant DOB": EXAM_BIRTH_DATES[i],
                "insurer_name": "Acme Mutual TPA",
            }
            for i, exam in enumerate([*EXAMS, bad_exam])
        ],
    )
    write_csv(folder / "decisions.csv", [{**DECISIONS[0], "claimant_email": DECISION_EMAIL}])
    return folder


def planted_values() -> list[str]:
    values = [v for vs in CASE_IDENTIFIERS.values() for v in vs]
    return [*values, *EXAM_CLAIMANT_IDS, *EXAM_BIRTH_DATES, DECISION_EMAIL]


def test_identifier_columns_of_every_file_are_dropped_and_never_stored(tmp_path, db_path):
    report = load([planted_folder(tmp_path)], db_path)
    assert counts(report) == {
        "examiners": (2, 2, 0),
        "cases": (3, 2, 1),  # C3: claim_type 'marine'
        "exams": (3, 2, 1),  # E3: wpi_percent 130
        "decisions": (1, 1, 0),
    }
    dropped = {e: sorted(f.dropped_columns) for e, f in by_entity(report).items()}
    assert dropped == {
        "examiners": [],
        "cases": sorted(CASE_IDENTIFIERS),
        "exams": ["Claimant DOB", "claimant_id"],
        "decisions": ["claimant_email"],
    }
    text = report.to_text()
    assert "dropped direct identifiers: Claimant DOB, claimant_id" in text or (
        "dropped direct identifiers: claimant_id, Claimant DOB" in text
    )
    assert report.contracts["extra_has_no_claimant_identifier"] == 0
    assert "Contract checks: all pass" in text
    # What is kept: unknown columns that identify nobody, and a business name.
    assert json.loads(rows(db_path, "SELECT extra FROM cases WHERE case_id = 'C1'")[0][0]) == {
        "adjuster_note": "n/a"
    }
    assert json.loads(rows(db_path, "SELECT extra FROM exams WHERE exam_id = 'E1'")[0][0]) == {
        "insurer_name": "Acme Mutual TPA"
    }
    # The quarantined rows keep their row, without the dropped columns, claimant_id hashed.
    raw = {
        entity: json.loads(r)
        for entity, r in rows(db_path, "SELECT entity, raw_row FROM quarantine")
    }
    assert raw["cases"]["extra"] == {"adjuster_note": "n/a"}
    assert len(raw["cases"]["claimant_id"]) == 64
    assert raw["exams"]["extra"] == {"insurer_name": "Acme Mutual TPA"}
    # No planted value anywhere: not in any table or column, not in the file's bytes.
    data = database_bytes(db_path)
    for value in planted_values():
        assert occurrences(db_path, value) == {}, value
        assert value.encode() not in data, value


@pytest.mark.parametrize(
    "name, kind",
    [
        ("Claimant Surname", "name"),
        ("SSN_last4", "national id"),
        ("phone_1", "phone"),
        ("email_1", "email"),
        ("Telephone No.", "phone"),
        ("Social Insurance Number", "national id"),
        ("medicare_number", "national id"),
        ("claimant_id", "claimant id"),
        ("PatientNo", "claimant id"),
        ("CLAIMANTNAME", "name"),
        ("firstName", "name"),
        ("Given Name", "name"),
        ("NINO", "national id"),
        ("National Insurance No", "national id"),
        ("SIN", "national id"),
        ("Medicaid ID", "national id"),
        ("dateOfBirth", "birth date"),
        ("D.O.B.", "birth date"),
        ("birth_date", "birth date"),
        ("Street Address", "address"),
        ("Addr_Line1", "address"),
        ("HomePhone", "phone"),
        ("mobile", "phone"),
        ("E-Mail", "email"),
        ("EMAILADDR", "email"),
        ("examiner_name", None),
        ("insurer_name", None),
        ("examiner_first_name", None),
        ("Carrier Name", None),
        ("District Name", None),
        ("File Name", None),
        ("group_name", None),
        ("claimant_birth_year", None),
        ("Birth Year", None),
        ("claimant_sex", None),
        ("Claim Identifier", None),
        ("zip", None),
        ("adjuster_note", None),
    ],
    ids=lambda v: str(v),
)
def test_identifier_rule_reads_the_meaning_of_a_name(name, kind):
    assert identifiers.identifier_kind(name) == kind


def test_the_drop_and_the_contract_read_one_rule():
    """The loader drops by identifiers.is_identifier; the contract calls it registered in SQL."""
    assert etl.sources.is_identifier is identifiers.is_identifier
    contract = sql_folder("contracts")["extra_has_no_claimant_identifier"]
    assert f"{identifiers.SQL_FUNCTION}(extra_key)" in contract.sql
    names = ["Claimant Surname", "examiner_name", "SSN_last4", "Birth Year", "claimant_id"]
    with duckdb.connect() as con:
        identifiers.register(con)
        identifiers.register(con)  # once per connection is not required: run twice, no error
        in_sql = con.execute(
            f"SELECT list({identifiers.SQL_FUNCTION}(n) ORDER BY i) "
            "FROM (SELECT unnest($names) AS n, generate_subscripts($names, 1) AS i)",
            {"names": names},
        ).fetchall()[0][0]
    assert (
        in_sql
        == [identifiers.is_identifier(n) for n in names]
        == [
            True,
            False,
            True,
            False,
            True,
        ]
    )


def test_the_contract_reads_the_extra_of_every_entity():
    sql = sql_folder("contracts")["extra_has_no_claimant_identifier"].sql
    for entity in [*ENTITIES, "quarantine"]:
        assert f"FROM {entity}\n" in sql or f"FROM {entity} " in sql, entity


def test_an_identifier_key_left_in_extra_by_an_earlier_load_refuses_the_load(
    canonical_folder, db_path
):
    load([canonical_folder], db_path)
    # As an older loader (or a hand edit) would have left it: a raw claimant_id in exams.extra.
    with duckdb.connect(str(db_path)) as con:
        con.execute(
            "UPDATE exams SET extra = to_json({'claimant_id': 'CLAIMANT-OLD-RAW'}) "
            "WHERE exam_id = 'E1'"
        )
    before = digest(db_path)
    # A later load that does not replace E1 (a load of the same exams would replace its extra).
    with pytest.raises(LoadError, match="extra_has_no_claimant_identifier") as info:
        load([canonical_folder / "examiners.csv"], db_path)
    assert '"extra_key":"claimant_id"' in str(info.value)
    assert '"table_name":"exams"' in str(info.value)
    assert "CLAIMANT-OLD-RAW" not in str(info.value)
    assert digest(db_path) == before
