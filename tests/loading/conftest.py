"""Small canonical data sets written in code, for loader tests."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

EXAMINERS = [
    {
        "examiner_id": "EX1",
        "examiner_name": "Dr. A. Novak",
        "specialty": "orthopedic_surgery",
        "credential": "MD",
        "license_state": "CA",
        "board_certified": "yes",
    },
    {
        "examiner_id": "EX2",
        "examiner_name": "Dr. B. Ito",
        "specialty": "psychiatry",
        "credential": "MD",
        "license_state": "CA",
        "board_certified": "no",
    },
]
CASES = [
    {
        "case_id": "C1",
        "claimant_id": "CLAIMANT-SECRET-001",
        "insurer_id": "INS1",
        "insurer_name": "Acme Mutual",
        "claim_type": "workers_comp",
        "jurisdiction": "CA",
        "injury_date": "2021-01-10",
        "body_part": "spine",
        "injury_nature": "strain",
        "claimant_birth_year": "1975",
        "claimant_sex": "F",
        "represented": "true",
    },
    {
        "case_id": "C2",
        "claimant_id": "CLAIMANT-SECRET-002",
        "insurer_id": "INS2",
        "insurer_name": "Beta Insurance",
        "claim_type": "auto",
        "jurisdiction": "NY",
        "injury_date": "2021-03-01",
        "body_part": "psychiatric",
        "injury_nature": "",
        "claimant_birth_year": "1990",
        "claimant_sex": "M",
        "represented": "false",
    },
]
EXAMS = [
    {
        "exam_id": "E1",
        "case_id": "C1",
        "examiner_id": "EX1",
        "requested_by": "insurer",
        "exam_type": "ime",
        "referral_date": "2021-05-01",
        "exam_date": "2021-06-01",
        "report_date": "2021-06-15",
        "causation": "not_related",
        "mmi_status": "reached",
        "mmi_date": "2021-06-01",
        "wpi_percent": "0",
        "guides_edition": "AMA5",
        "work_capacity": "full_duty",
        "further_treatment": "not_recommended",
    },
    {
        "exam_id": "E2",
        "case_id": "C2",
        "examiner_id": "EX2",
        "requested_by": "panel",
        "exam_type": "qme",
        "referral_date": "",
        "exam_date": "2021-08-01",
        "report_date": "2021-08-20",
        "causation": "related",
        "mmi_status": "not_reached",
        "mmi_date": "",
        "wpi_percent": "",
        "guides_edition": "",
        "work_capacity": "restricted",
        "further_treatment": "recommended",
    },
]
DECISIONS = [
    {
        "decision_id": "D1",
        "case_id": "C1",
        "exam_id": "E1",
        "decision_date": "2021-07-01",
        "benefit": "medical",
        "outcome": "denied",
    },
]


def write_csv(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def canonical_folder(tmp_path: Path) -> Path:
    """A folder of good canonical CSV files: 2 examiners, 2 cases, 2 exams, 1 decision."""
    folder = tmp_path / "in"
    write_csv(folder / "examiners.csv", EXAMINERS)
    write_csv(folder / "cases.csv", CASES)
    write_csv(folder / "exams.csv", EXAMS)
    write_csv(folder / "decisions.csv", DECISIONS)
    return folder


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "db" / "ime.duckdb"
