"""Read one source file into a staging table of text columns named as the canonical format.

Every value stays text here, so that a bad value can be quarantined as it was written. The
claimant identifier is hashed and direct identifiers are dropped in the same statement that
reads the file, so a raw identifier is never stored, not even in a temporary table.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from etl.errors import LoadError
from etl.identifiers import is_identifier
from etl.privacy import keyed_hash_sql
from etl.profile import FileMapping
from etl.schema import CLAIMANT_COLUMN, ENTITIES, ZIP_PATTERN
from etl.sql import quote_ident

FORMATS = {".csv": "csv", ".txt": "csv", ".parquet": "parquet", ".xlsx": "xlsx"}


@dataclass(frozen=True)
class StagedFile:
    """A file read into `table`: canonical text columns, `extra`, rule and count flags."""

    table: str
    rows: int
    dropped_columns: tuple[str, ...]
    zip_columns: tuple[str, ...]
    missing_columns: tuple[str, ...]


def normalise_header(name: str) -> str:
    """Compare headers as lower-case words joined by underscores ("Claim Type " -> claim_type)."""
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


def file_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise LoadError(f"{path}: unknown file type '{path.suffix}' (use .csv, .parquet or .xlsx)")
    return fmt


def stage_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    entity_name: str,
    mapping: FileMapping | None,
    table: str,
    hash_key: str,
) -> StagedFile:
    """Read `path` into the temporary table `table`; raise LoadError if it cannot be read."""
    source_sql, params = _source_relation(con, path, mapping, table)
    try:
        headers = [
            r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source_sql}", params).fetchall()
        ]
    except duckdb.Error as exc:
        raise LoadError(
            f"{path}: cannot be read as {file_format(path).upper()}: {_first_line(exc)}"
        ) from exc
    entity = ENTITIES[entity_name]
    by_name = {normalise_header(h): h for h in headers}
    explicit = mapping.columns if mapping else {}
    select: list[str] = []
    used: set[str] = set()
    missing: list[str] = []
    for col in entity.column_names:
        if col in explicit:
            expr = f"({explicit[col]})"
        elif col in by_name:
            expr = f"src.{quote_ident(by_name[col])}"
            used.add(by_name[col])
        else:
            expr = "NULL"
            if entity.column(col).required and not _aggregated(mapping, col):
                missing.append(col)
        expr = f"CAST({expr} AS VARCHAR)"
        if mapping and col in mapping.values:
            params[f"vk_{col}"] = list(mapping.values[col])
            params[f"vv_{col}"] = list(mapping.values[col].values())
            expr = f"coalesce($vv_{col}[list_position($vk_{col}, lower(trim({expr})))], {expr})"
        if (entity_name, col) == CLAIMANT_COLUMN:
            expr = keyed_hash_sql(expr)
            params["hash_key"] = hash_key
        select.append(f"{expr} AS {col}")
    if missing:
        raise LoadError(
            f"{path}: missing required column(s) {', '.join(missing)} for {entity_name}"
            f" (the file has: {', '.join(headers)})"
        )
    dropped = [h for h in headers if h not in used and is_identifier(h)]
    zips = [h for h in headers if h not in used and re.search(ZIP_PATTERN, normalise_header(h))]
    extras = [h for h in headers if h not in used and h not in dropped]
    select.append(_extra_json(extras, zips))
    for i, rule in enumerate(mapping.rules if mapping else ()):
        select.append(f"coalesce(({rule.violation}), false) AS _rule_{i}")
    if mapping and mapping.aggregate:
        for i, condition in enumerate(mapping.aggregate.count_if.values()):
            select.append(f"coalesce(({condition}), false) AS _count_if_{i}")
    sql = f"CREATE TEMP TABLE {table} AS SELECT {', '.join(select)} FROM {source_sql} AS src"
    try:
        con.execute(sql, params)
    except duckdb.Error as exc:
        raise LoadError(f"{path}: cannot be read: {_first_line(exc)}") from exc
    rows = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    return StagedFile(table, rows, tuple(dropped), tuple(zips), tuple(missing))


def _aggregated(mapping: FileMapping | None, col: str) -> bool:
    """Columns that an aggregate mapping computes instead of reading."""
    agg = mapping.aggregate if mapping else None
    return agg is not None and (col == agg.count or col in agg.count_if)


def _extra_json(extras: list[str], zips: list[str]) -> str:
    if not extras:
        return "CAST(NULL AS JSON) AS extra"
    fields = []
    for h in extras:
        value = f"src.{quote_ident(h)}"
        if h in zips:
            value = f"left(trim(CAST({value} AS VARCHAR)), 3)"
        fields.append(f"{quote_ident(h)} := {value}")
    return f"to_json(struct_pack({', '.join(fields)})) AS extra"


def _source_relation(
    con: duckdb.DuckDBPyConnection, path: Path, mapping: FileMapping | None, table: str
) -> tuple[str, dict]:
    """SQL for a relation over the file with every column as text, and its parameters."""
    fmt = file_format(path)
    if not path.is_file():
        raise LoadError(f"{path}: no such file")
    if fmt == "csv":
        params: dict = {"path": str(path), "encoding": mapping.encoding if mapping else "utf-8"}
        options = "all_varchar = true, header = true, encoding = $encoding, strict_mode = true"
        if mapping and mapping.delimiter:
            params["delim"] = mapping.delimiter
            options += ", delim = $delim"
        return f"read_csv($path, {options})", params
    if fmt == "parquet":
        _check_parquet(path)
        return "(SELECT COLUMNS(*)::VARCHAR FROM read_parquet($path))", {"path": str(path)}
    view = f"{table}_xlsx"
    con.register(view, _read_xlsx(path))
    return view, {}


def _check_parquet(path: Path) -> None:
    with path.open("rb") as fh:
        if fh.read(4) != b"PAR1":
            raise LoadError(f"{path}: is not a Parquet file (no PAR1 magic bytes)")


def _read_xlsx(path: Path) -> pa.Table:
    """The first sheet as a table of text columns; the first row holds the headers."""
    from python_calamine import CalamineWorkbook

    try:
        rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
    except Exception as exc:  # calamine raises its own error types for corrupt files
        raise LoadError(f"{path}: cannot be read as XLSX: {exc}") from exc
    if not rows:
        raise LoadError(f"{path}: the first sheet is empty (no header row)")
    headers = [str(h).strip() for h in rows[0]]
    columns = {
        h: [_cell_text(r[i]) if i < len(r) else None for r in rows[1:]]
        for i, h in enumerate(headers)
    }
    return pa.table({h: pa.array(v, type=pa.string()) for h, v in columns.items()})


def _cell_text(value: object) -> str | None:
    """Spreadsheet cells as the text a CSV would hold (12.0 -> "12", dates as ISO)."""
    if value is None or value == "":
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime) and value.time() == dt.time():
        return value.date().isoformat()
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return str(value)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]
