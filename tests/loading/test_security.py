"""Issue 13, the loader's findings: each test performs the attack and shows that it now fails.

Counts of rows read, loaded and quarantined are worked out by hand from the files each test
writes; the comment beside each expectation says which rows they are.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import duckdb
import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import CASES, DECISIONS, EXAMINERS, EXAMS, write_csv

import etl.sources
from etl import identifiers
from etl.errors import LoadError
from etl.load import load
from etl.schema import ENTITIES
from etl.snapshot import next_snapshot
from ime.cli import main
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


# --- 2. Ragged rows ------------------------------------------------------------------------

EXAM_HEADER = list(EXAMS[0])


def exam_record(exam_id: str, **changes: str) -> list[str]:
    return list({**EXAMS[0], "exam_id": exam_id, **changes}.values())


def test_a_row_with_a_field_too_many_or_too_few_is_quarantined_and_the_rest_loads(
    canonical_folder, db_path
):
    too_many = [*exam_record("E2"), "surplus"]
    too_few = exam_record("E4")[:-1]
    text = csv_text(
        EXAM_HEADER,
        [
            exam_record("E1"),  # row 1: loads
            too_many,  # row 2: 16 fields
            exam_record("E3"),  # row 3: loads
            too_few,  # row 4: 14 fields
            exam_record("E5", wpi_percent="130"),  # row 5: range
        ],
    )
    exams = canonical_folder / "exams.csv"
    exams.write_text(text, encoding="utf-8")
    report = load([canonical_folder], db_path)
    assert counts(report)["exams"] == (5, 2, 3)
    assert report.total("read") == report.total("loaded") + report.total("quarantined")
    found = rows(
        db_path,
        "SELECT row_number, column_name, rule, raw_value, raw_row IS NULL FROM quarantine "
        "WHERE entity = 'exams' ORDER BY row_number",
    )
    assert found == [
        (2, "*", "field_count", ",".join(too_many), True),
        (4, "*", "field_count", ",".join(too_few), True),
        # Numbered as in the file, though the reader set rows 2 and 4 aside.
        (5, "wpi_percent", "range", "130", False),
    ]
    assert rows(db_path, "SELECT exam_id FROM exams ORDER BY 1") == [("E1",), ("E3",)]
    reason = (
        "quarantined: *: field_count (the row has more or fewer fields than the header; "
        "its raw value is the line)"
    )
    assert by_entity(report)["exams"].reasons[reason] == 2
    # Loading the same file again stores no second copy of the quarantined rows.
    load([canonical_folder], db_path)
    assert rows(db_path, "SELECT count(*) FROM quarantine") == [(3,)]


def test_rows_are_numbered_as_data_rows_past_blank_lines_and_quoted_line_breaks(
    canonical_folder, db_path
):
    header = ",".join(EXAM_HEADER)
    e1 = exam_record("E1", guides_edition="AMA\n5")  # a quoted line break: one row, two lines
    ragged = ",".join([*exam_record("E2"), "surplus"])
    e3 = ",".join(exam_record("E3", wpi_percent="130"))
    first = csv_text(EXAM_HEADER, [e1]).split("\n", 1)[1]
    (canonical_folder / "exams.csv").write_text(
        f"{header}\n{first}\n\n{ragged}\n{e3}\n", encoding="utf-8"
    )
    report = load([canonical_folder], db_path)
    assert counts(report)["exams"] == (3, 1, 2)  # E1 loads; E2 ragged (row 2); E3 range (row 3)
    assert rows(
        db_path, "SELECT row_number, rule, raw_value FROM quarantine ORDER BY row_number"
    ) == [(2, "field_count", ragged), (3, "range", "130")]
    assert rows(db_path, "SELECT guides_edition FROM exams") == [("AMA\n5",)]


def test_a_ragged_row_of_a_file_with_identifiers_is_quarantined_without_its_line(
    canonical_folder, db_path
):
    header = [*CASES[0], "Claimant Surname", "Claimant Given Name"]
    good = [*CASES[0].values(), "Quirke-Planted", "Jane-Planted"]
    # An unquoted comma inside a name: one field too many, the name spread over two fields.
    ragged = [*{**CASES[1]}.values(), "Okonkwo-Planted", "Ada-Planted", "Jr-Planted"]
    (canonical_folder / "cases.csv").write_text(csv_text(header, [good, ragged]))
    report = load([canonical_folder], db_path)
    cases = by_entity(report)["cases"]
    assert (cases.read, cases.loaded, cases.quarantined) == (2, 1, 1)
    assert rows(
        db_path, "SELECT row_number, rule, raw_value FROM quarantine WHERE entity = 'cases'"
    ) == [(2, "field_count", None)]
    assert "raw lines of rows with a wrong number of fields are not stored" in cases.note
    data = database_bytes(db_path)
    for value in ("Quirke-Planted", "Jane-Planted", "Okonkwo-Planted", "Ada-Planted", "Jr-Planted"):
        assert occurrences(db_path, value) == {}
        assert value.encode() not in data


# --- 3. Messages that keep DuckDB's reason ---------------------------------------------------

HEADER_LINE = ",".join(EXAM_HEADER).encode()
E1_LINE = ",".join(exam_record("E1")).encode()


@pytest.mark.parametrize(
    "content, expected",
    [
        (
            HEADER_LINE + b"\n" + E1_LINE + b'\nE2,C2,"EX2',
            ["line 3", "Value with unterminated quote found", "file cut short"],
        ),
        (
            HEADER_LINE + b"\n" + E1_LINE.replace(b"AMA5", b"AMA\xe95") + b"\n",
            ["line 2", "not UTF-8", "Invalid unicode", "save the file as UTF-8"],
        ),
        (
            HEADER_LINE + b",r\xe9sum\xe9\n" + E1_LINE + b",x\n",
            ["line 1 (the header) is not UTF-8", "invalid continuation byte"],
        ),
        (
            HEADER_LINE + b"\n" + E1_LINE.replace(b"AMA5", b"x" * 10_000_000) + b"\n",
            ["line 2", "Maximum line size of 2000000 bytes exceeded"],
        ),
    ],
    ids=["truncated", "latin1-row", "latin1-header", "10mb-field"],
)
def test_an_unreadable_csv_names_the_file_the_line_and_duckdbs_reason(
    canonical_folder, db_path, content, expected
):
    load([canonical_folder], db_path)
    before = digest(db_path)
    (canonical_folder / "exams.csv").write_bytes(content)
    with pytest.raises(LoadError) as info:
        load([canonical_folder], db_path)
    message = str(info.value)
    assert message.startswith(f"{canonical_folder / 'exams.csv'}: cannot be read as CSV: ")
    for part in expected:
        assert part in message
    assert "xxxxxxxxxx" not in message and "EX1,insurer" not in message  # no row quoted back
    assert len(message) < 400
    assert digest(db_path) == before
    assert [p.name for p in db_path.parent.iterdir() if "loading" in p.name] == []


# --- 4. A duplicated header --------------------------------------------------------------------


def exams_with_header(header: list[str]) -> list[list[str]]:
    record = exam_record("E1")
    return [record + ["x"] * (len(header) - len(record))]


@pytest.mark.parametrize(
    "header, expected",
    [
        ([*EXAM_HEADER, "wpi_percent"], "column 'wpi_percent' appears twice"),
        ([*EXAM_HEADER, "Case ID"], "columns 'case_id' and 'Case ID' name the same column"),
        ([*EXAM_HEADER, "Note", "note"], "columns 'Note' and 'note' name the same column"),
    ],
    ids=["same-name", "two-spellings-of-case_id", "names-differing-in-case"],
)
def test_a_csv_header_naming_a_column_twice_stops_the_load(
    canonical_folder, db_path, header, expected
):
    load([canonical_folder], db_path)
    before = digest(db_path)
    (canonical_folder / "exams.csv").write_text(csv_text(header, exams_with_header(header)))
    with pytest.raises(LoadError, match="exams.csv: ") as info:
        load([canonical_folder], db_path)
    assert expected in str(info.value)
    assert digest(db_path) == before


@pytest.mark.parametrize("suffix", ["xlsx", "parquet"])
def test_a_spreadsheet_or_parquet_header_naming_a_column_twice_stops_the_load(
    canonical_folder, db_path, suffix
):
    load([canonical_folder], db_path)
    before = digest(db_path)
    (canonical_folder / "exams.csv").unlink()
    header = [*EXAM_HEADER, "wpi_percent"]
    records = exams_with_header(header)
    path = canonical_folder / f"exams.{suffix}"
    if suffix == "xlsx":
        wb = openpyxl.Workbook()
        for record in [header, *records]:
            wb.active.append(record)
        wb.save(path)
    else:
        columns = [pa.array([r[i] for r in records]) for i in range(len(header))]
        pq.write_table(pa.Table.from_arrays(columns, names=header), path)
    with pytest.raises(LoadError) as info:
        load([canonical_folder], db_path)
    assert f"{path}: column 'wpi_percent' appears twice in the header" in str(info.value)
    assert digest(db_path) == before


# --- 5. Symbolic link loops and folders named like a data file -------------------------------


@pytest.mark.parametrize("kind", ["folder", "symlink-loop", "dangling-symlink"])
def test_an_entity_file_that_is_not_a_file_stops_the_load(canonical_folder, db_path, kind):
    load([canonical_folder], db_path)
    before = digest(db_path)
    exams = canonical_folder / "exams.csv"
    exams.unlink()
    if kind == "folder":
        exams.mkdir()
        write_csv(exams / "part-0000.csv", EXAMS)
    elif kind == "symlink-loop":
        os.symlink(exams, exams)
    else:
        os.symlink(canonical_folder / "gone.csv", exams)
    words = {
        "folder": "is a folder",
        "symlink-loop": "is a symbolic link loop",
        "dangling-symlink": "is a symbolic link to nothing",
    }[kind]
    with pytest.raises(LoadError, match=f"exams.csv: {words}"):
        load([canonical_folder], db_path)
    assert digest(db_path) == before


def test_other_entries_that_are_not_files_are_reported_as_skipped(canonical_folder, db_path):
    (canonical_folder / "archive.csv").mkdir()
    os.symlink(canonical_folder / "notes.csv", canonical_folder / "notes.csv")
    report = load([canonical_folder], db_path)
    skipped = {Path(f.file).name: f.note for f in report.files if f.entity is None}
    assert skipped == {
        "archive.csv": "a folder, not a file",
        "notes.csv": "a symbolic link loop, not a file",
    }
    assert f"{canonical_folder / 'notes.csv'}: skipped (a symbolic link loop" in report.to_text()
    assert counts(report)["exams"] == (2, 2, 0)


def test_a_symbolic_link_loop_named_on_the_command_line_stops_the_load(tmp_path, db_path):
    loop = tmp_path / "exams.csv"
    os.symlink(loop, loop)
    with pytest.raises(LoadError, match="exams.csv: is a symbolic link loop"):
        load([loop], db_path)


# --- 6. XLSX formulas without a stored value ---------------------------------------------------


def test_xlsx_formula_cells_without_a_value_are_quarantined(canonical_folder, db_path):
    (canonical_folder / "exams.csv").unlink()
    wb = openpyxl.Workbook()
    sheet = wb.active
    sheet.append(EXAM_HEADER)
    sheet.append(exam_record("E1"))  # row 1 (sheet row 2): loads
    sheet.append(exam_record("E2", wpi_percent="=1+1"))  # row 2: L3 holds no value
    sheet.append(exam_record("E3", wpi_percent="=2+2"))  # row 3: L4 gets its value below
    sheet.append([f'="{v}"' for v in exam_record("E4")])  # row 4: formulas only
    path = canonical_folder / "exams.xlsx"
    wb.save(path)
    # openpyxl stores no formula results; give L4 one, as a calculating program would.
    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    sheet_xml = parts["xl/worksheets/sheet1.xml"]
    parts["xl/worksheets/sheet1.xml"] = sheet_xml.replace(
        b'<c r="L4"><f>2+2</f><v /></c>', b'<c r="L4"><f>2+2</f><v>4</v></c>'
    )
    assert parts["xl/worksheets/sheet1.xml"] != sheet_xml
    with zipfile.ZipFile(path, "w") as z:
        for name, data in parts.items():
            z.writestr(name, data)

    report = load([canonical_folder], db_path)
    # Row 4 has no cell with a value: without the check it would not even be read.
    assert counts(report)["exams"] == (4, 2, 2)
    formulas = rows(
        db_path,
        "SELECT row_number, column_name, raw_value FROM quarantine "
        "WHERE rule = 'formula_without_value' ORDER BY row_number, column_name",
    )
    assert formulas[0] == (2, "wpi_percent", "L3: =1+1")
    assert [(r, c) for r, c, _ in formulas[1:]] == [(4, c) for c in sorted(EXAM_HEADER)]
    assert rows(db_path, "SELECT exam_id, wpi_percent FROM exams ORDER BY 1") == [
        ("E1", 0.0),
        ("E3", 4.0),
    ]
    reason = (
        "quarantined: wpi_percent: formula_without_value (a formula cell without a stored "
        "value: the workbook was saved without calculating it (open and save it in a "
        "spreadsheet program))"
    )
    assert by_entity(report)["exams"].reasons[reason] == 2


# --- 7. A symlinked --db ----------------------------------------------------------------------


def test_a_symlinked_database_shares_the_lock_of_its_target_and_stays_a_link(
    canonical_folder, tmp_path, monkeypatch, capsys
):
    target = tmp_path / "real" / "ime.duckdb"
    target.parent.mkdir()
    link = tmp_path / "link.duckdb"
    os.symlink(target, link)
    # Two loads, one through each path, contend for one lock.
    for first, second in ((target, link), (link, target)):
        with next_snapshot(first):
            with pytest.raises(LoadError, match="another load is writing this database"):
                with next_snapshot(second):
                    pass
    report = load([canonical_folder], link)
    assert report.total("loaded") == 7
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert rows(target, "SELECT count(*) FROM exams") == [(2,)]
    # The same through IME_DB and the command line.
    monkeypatch.setenv("IME_DB", str(link))
    write_csv(tmp_path / "later" / "exams.csv", [{**EXAMS[0], "exam_id": "E9"}])
    assert main(["load", str(tmp_path / "later"), "--json"]) == 0
    capsys.readouterr()
    assert link.is_symlink()
    assert rows(target, "SELECT count(*) FROM exams") == [(3,)]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# --- What the stricter CSV reading keeps working ----------------------------------------------

COUNTS_PROFILE = """
[[files]]
match = "counts*.csv"
entity = "decision_counts"
{options}
[files.columns]
maker_id = '"Juge"'
n_decisions = '"Décisions"'
n_adverse = '"Refus"'
"""


@pytest.mark.parametrize(
    "options, encoding, separator",
    [
        ("", "utf-8", ";"),
        ('encoding = "latin-1"\ndelimiter = ";"', "latin-1", ";"),
        ('encoding = "utf-16"\ndelimiter = "||"', "utf-16", "||"),
    ],
    ids=["sniffed-semicolon", "latin1-named", "utf16-two-character-delimiter"],
)
def test_a_profile_still_names_or_leaves_to_sniffing_the_dialect_and_encoding(
    tmp_path, db_path, options, encoding, separator
):
    profile = tmp_path / "profile.toml"
    profile.write_text(COUNTS_PROFILE.format(options=options), encoding="utf-8")
    lines = [
        ["Juge", "Décisions", "Refus"],
        ["A", "10", "2"],
        ["B", "5", "1", "9"],
        ["C", "7", "3"],
    ]
    path = tmp_path / "counts.csv"
    path.write_text("".join(separator.join(r) + "\n" for r in lines), encoding=encoding)
    report = load([path], db_path, profile)
    assert counts(report) == {"decision_counts": (3, 2, 1)}  # row 2 has a fourth field
    assert rows(db_path, "SELECT maker_id, n_decisions FROM decision_counts ORDER BY 1") == [
        ("A", 10),
        ("C", 7),
    ]
    assert rows(db_path, "SELECT row_number, raw_value FROM quarantine") == [
        (2, separator.join(lines[2]))
    ]


def test_a_canonical_file_with_semicolons_is_refused_with_a_hint(canonical_folder, db_path):
    (canonical_folder / "exams.csv").write_text(
        ";".join(EXAM_HEADER) + "\n" + ";".join(exam_record("E1")) + "\n"
    )
    with pytest.raises(LoadError, match="the header seems separated by semicolons"):
        load([canonical_folder], db_path)
