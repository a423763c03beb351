"""Incremental loads: new rows loaded into a database give the tables one load of all rows gives.

The reference is an independent full load of the same rows into a new database; the
incremental database got most of the rows first and the rest in a second load. Everything a
reader sees (entity tables, fct_exams with its stored expectations, the case-mix models, the
stored flags and the default view) must be the same; only the bookkeeping of the loads
(which load wrote a row, the load history) differs.
"""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pandas as pd
import pytest

import queries
from devtools.demo import generate
from etl.load import load
from measures.precompute import after_load

# Tables whose rows record which load wrote them, not what was loaded: flag_history keeps every
# load's flags, so two loads hold two sets where one load of all rows holds one.
BOOKKEEPING = ("load_history", "load_files", "quarantine", "contract_results", "flag_history")


def _split(source: Path, first: Path, second: Path, later_exams: set[str]) -> None:
    """Write each CSV of `source` to `first`, except the rows of `later_exams` (the exams and the
    decisions and rulings that name them), which go to `second`."""
    for path in source.glob("*.csv"):
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            header, rows = reader.fieldnames, list(reader)
        later = [r for r in rows if r.get("exam_id") in later_exams]
        for folder, part in ((first, [r for r in rows if r not in later]), (second, later)):
            if folder is second and not part:
                continue
            folder.mkdir(parents=True, exist_ok=True)
            with (folder / path.name).open("w", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, fieldnames=header)
                writer.writeheader()
                writer.writerows(part)


def _tables(db: Path) -> dict[str, pd.DataFrame]:
    """Every table a reader may read, its rows sorted, without the load that wrote each row."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        names = con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE NOT temporary"
        ).fetchall()
        out = {}
        for schema, table in names:
            if table in BOOKKEEPING:
                continue
            frame = con.execute(f'SELECT * FROM "{schema}"."{table}"').df()
            frame = frame.drop(columns=[c for c in ("_load_id",) if c in frame.columns])
            columns = list(frame.columns)
            frame = frame.astype({c: str for c in columns if frame[c].dtype == object})
            out[f"{schema}.{table}"] = frame.sort_values(columns).reset_index(drop=True)
        return out
    finally:
        con.close()


@pytest.fixture(scope="module")
def databases(tmp_path_factory) -> tuple[Path, Path, set[str]]:
    root = tmp_path_factory.mktemp("incremental")
    generate(root / "all", n_exams=3_000, seed=11)
    (root / "all" / "truth.csv").unlink()
    with (root / "all" / "exams.csv").open(newline="", encoding="utf-8") as fh:
        exam_ids = [r["exam_id"] for r in csv.DictReader(fh)]
    # Every tenth exam comes in the second load: 10% of the exams, spread over every examiner.
    later = set(exam_ids[::10])
    _split(root / "all", root / "first", root / "second", later)
    incremental, full = root / "incremental.duckdb", root / "full.duckdb"
    load([root / "first"], incremental, after_build=after_load)
    second = load([root / "second"], incremental, after_build=after_load)
    assert second.total("inserted") > len(later)  # the exams, and decisions and rulings
    load([root / "all"], full, after_build=after_load)
    return incremental, full, later


def test_a_second_load_of_new_rows_gives_the_tables_of_one_load_of_all(databases):
    incremental, full, later = databases
    got, expected = _tables(incremental), _tables(full)
    assert sorted(got) == sorted(expected)
    stored_views = [n for n in got if n.startswith(f"{queries.DEFAULT_VIEW_SCHEMA}.")]
    assert len(stored_views) == sum(len(s) for s in queries.STORED_DEFAULT_VIEW.values())
    for name in expected:
        # Sums over rows stored in another order differ in their last bits (1e-8 seen).
        pd.testing.assert_frame_equal(got[name], expected[name], check_exact=False, rtol=1e-6)
    exams = got["main.fct_exams"]
    # The second load's exams are there (the demo data's few bad rows are quarantined in both),
    # scored by the models like every other exam.
    assert later <= set(exams["exam_id"])
    assert exams["expected_adverse_opinion"].notna().all()


def test_the_second_load_reports_only_its_new_rows(databases):
    incremental, _, later = databases
    con = duckdb.connect(str(incremental), read_only=True)
    try:
        [(n_read, n_inserted, n_replaced)] = con.execute(
            "SELECT n_read, n_inserted, n_replaced FROM load_files "
            "WHERE entity = 'exams' AND load_id = (SELECT max(load_id) FROM load_history)"
        ).fetchall()
    finally:
        con.close()
    assert (n_read, n_inserted, n_replaced) == (len(later), len(later), 0)
