"""What every export says about where its figures come from: coverage dates, the data
source, a citation line, whether the data are synthetic, and the methods document.

The source is what the loaded folders said of themselves (`etl.load.DATASET_FILE`, kept in
each load's report); a folder without one is named by its files. Data are *synthetic* when
any load of the database says so: `ime demo` writes a DATASET_FILE saying it is, so every
figure of a demo database is marked, even after real data are loaded beside it.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
from pathlib import Path

import duckdb

import queries
from measures.casemix import REFIT_SHARE
from queries import Filters, Scope

# The methods as a document: docs/methods.md of the repository the product runs from.
METHODS_DOCUMENT = Path(__file__).resolve().parents[1] / "docs" / "methods.md"
TOOL = "ime-outcomes"


def _loads(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Each load's report (bookkeeping: file names and what the folders said)."""
    rows = con.execute("SELECT report FROM load_history ORDER BY load_id").fetchall()
    return [json.loads(row[0]) for row in rows]


def coverage(
    con: duckdb.DuckDBPyConnection, scope: Scope, filters: Filters
) -> dict[str, object]:
    """The exam dates the export covers, under the reader's scope and filters.

    A researcher gets calendar years only (access.roles.PERIOD_GRAIN): an exact first or last
    exam date of a small group is one claimant's exam date.
    """
    row = queries.run(con, "exam_window", scope, filters).iloc[0]
    if row["n_exams"] == 0:
        return {"first_exam": None, "last_exam": None, "grain": "none: no exams"}
    first, last = row["first_exam_on"], row["last_exam_on"]
    if scope.role == "researcher":
        return {"first_exam": str(first.year), "last_exam": str(last.year),
                "grain": "calendar year"}
    return {"first_exam": first.date().isoformat(), "last_exam": last.date().isoformat(),
            "grain": "day"}


def source(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    """The data source in words, and whether any of it is synthetic."""
    described, files, last = [], [], None
    for report in _loads(con):
        described += report.get("datasets") or []
        files += [Path(f["file"]).name for f in report.get("files", ()) if f.get("entity")]
        last = report.get("load_id")
    names = [d.get("source") or d.get("name") for d in described]
    names = [name for name in names if name]
    words = "; ".join(dict.fromkeys(names)) or (
        f"files loaded with `ime load`: {', '.join(dict.fromkeys(files)) or 'none'}"
    )
    return {
        "data_source": words,
        "synthetic": any(bool(d.get("synthetic")) for d in described),
        "citations": list(dict.fromkeys(d["citation"] for d in described if d.get("citation"))),
        "loads": last,
    }


def casemix_fit(con: duckdb.DuckDBPyConnection, scope: Scope) -> dict[str, object] | None:
    """The fit of the case-mix models the expectations come from (docs/methods.md, "When the
    models are refitted"): when, by which load, and (not for a researcher, whose counts are
    rounded) on how many exams; None for a database that recorded no fit."""
    cur = con.cursor()
    try:
        last = queries.table_exists(cur, "casemix_fits") and cur.execute(
            "SELECT load_id, strftime(fitted_at, '%Y-%m-%d %H:%M:%S'), n_exams "
            "FROM casemix_fits ORDER BY load_id DESC LIMIT 1"
        ).fetchall()
    finally:
        cur.close()
    if not last:
        return None
    load_id, fitted_at, n_exams = last[0]
    fit: dict[str, object] = {"fitted_at": fitted_at, "fitted_by_load": load_id}
    if scope.role != "researcher":
        fit["exams_at_fit"] = n_exams
    fit["refitted"] = (
        f"when none are stored, with `ime load --refit`, or when the exams added since the "
        f"last fit exceed {REFIT_SHARE:.0%} of those it saw"
    )
    return fit


def citation(table: str, snapshot: str, facts: dict[str, object]) -> str:
    """One line to cite the export by."""
    version = importlib.metadata.version(TOOL)
    marker = "SYNTHETIC DATA. " if facts["synthetic"] else ""
    cover = facts["coverage"]
    return (
        f"{marker}IME outcomes, table {table} ({facts['data_source']}; exams "
        f"{cover['first_exam']} to {cover['last_exam']}), {TOOL} {version}, database snapshot "
        f"sha256 {snapshot[:12]}, exported {dt.date.today().isoformat()}."
    )


def facts(
    con: duckdb.DuckDBPyConnection, scope: Scope, filters: Filters, table: str, snapshot: str
) -> dict[str, object]:
    """Coverage, source, synthetic and the citation line, for an export's metadata."""
    out = {
        **source(con),
        "coverage": coverage(con, scope, filters),
        "casemix_models": casemix_fit(con, scope),
    }
    out["citation"] = citation(table, snapshot, out)
    return out


def readme(metadata: dict[str, object]) -> str:
    """The README of an export zip: what the files are and how to cite them."""
    cover = metadata["coverage"]
    lines = [
        f"# {metadata['table']}",
        "",
        *(["**Synthetic data**: these figures come from generated data, not from real "
           "people or claims.", ""] if metadata["synthetic"] else []),
        str(metadata["description"]),
        "",
        f"- Data source: {metadata['data_source']}",
        f"- Coverage: exams {cover['first_exam']} to {cover['last_exam']} "
        f"({cover['grain']})",
        f"- Role: {metadata['role']}; filters: {metadata['filters'] or 'none'}",
        f"- Database snapshot (sha256): {metadata['snapshot_sha256']}",
        *_fit_line(metadata.get("casemix_models")),
        "",
        "Files: the table, its data dictionary (`.dictionary.csv`), its metadata "
        "(`.metadata.json`: suppression, method versions) and the methods (`methods.md`).",
        "",
        "Cite as:",
        "",
        f"> {metadata['citation']}",
        *[f"> {c}" for c in metadata["citations"]],
        "",
    ]
    return "\n".join(lines)


def _fit_line(fit: dict[str, object] | None) -> list[str]:
    if not fit:
        return []
    size = f" on {fit['exams_at_fit']:,} exams" if "exams_at_fit" in fit else ""
    return [
        f"- Case-mix models: fitted {fit['fitted_at']} by load {fit['fitted_by_load']}{size} "
        f"(refitted {fit['refitted']})"
    ]
