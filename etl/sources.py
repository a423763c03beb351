"""Read one source file into a staging table of text columns named as the canonical format.

Every value stays text here, so that a bad value can be quarantined as it was written. The
claimant identifier is hashed and direct identifiers are dropped in the same statement that
reads the file, so a raw identifier is never stored, not even in a temporary table. (The one
exception is DuckDB's own table of CSV lines it could not read, dropped as soon as it is
counted; the loader keeps such a line only from a file without identifier columns.)

Problems that only reading reveals are found here: a header naming a column twice stops the
load; rows with a wrong field count (CSV, etl.csvfile) and formula cells without a stored
value (XLSX, etl.spreadsheet) are quarantined.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from etl import csvfile, spreadsheet
from etl.errors import LoadError
from etl.identifiers import is_identifier
from etl.privacy import keyed_hash_sql
from etl.profile import FileMapping
from etl.schema import CLAIMANT_COLUMN, ENTITIES, ZIP_PATTERN
from etl.sql import quote_ident

FORMATS = {".csv": "csv", ".txt": "csv", ".parquet": "parquet", ".xlsx": "xlsx"}


@dataclass(frozen=True)
class StagedFile:
    """A file read into `table`: canonical text columns, `extra`, rule and count flags.

    `rows` counts every data row of the file, including rows the reader could not stage
    (a wrong field count); `row_number` is the SQL giving a staged row's number in the file;
    `problems` names temporary tables of rules broken while reading (`_row`, `column_name`,
    `rule`, `raw_value`), which the loader adds to the rules the rows break once typed.
    """

    table: str
    rows: int
    dropped_columns: tuple[str, ...]
    zip_columns: tuple[str, ...]
    missing_columns: tuple[str, ...]
    row_number: str = "rowid + 1"
    problems: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class _Source:
    """A file as a relation of text columns: its SQL, parameters and header as written."""

    sql: str
    params: dict
    headers: list[str]
    csv: tuple[csvfile.Dialect, str, str] | None = None  # dialect, encoding, rejects table
    formulas: tuple[spreadsheet.FormulaCell, ...] = ()


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
    source = _source_relation(con, path, mapping, table)
    headers = source.headers
    params = dict(source.params)
    entity = ENTITIES[entity_name]
    _check_unique(path, headers, frozenset(entity.column_names))
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
            f" (the file has: {', '.join(headers)})" + _delimiter_hint(headers)
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
    sql = f"CREATE TEMP TABLE {table} AS SELECT {', '.join(select)} FROM {source.sql} AS src"
    try:
        con.execute(sql, params)
    except duckdb.Error as exc:
        raise LoadError(f"{path}: cannot be read: {csvfile.error_reason(exc)}") from exc
    staged = StagedFile(
        table,
        con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0],
        tuple(dropped),
        tuple(zips),
        tuple(missing),
    )
    # A raw line may hold what the loader drops or hashes: kept only when the file has none.
    private = bool(dropped or zips) or (
        entity_name == CLAIMANT_COLUMN[0]
        and (CLAIMANT_COLUMN[1] in explicit or CLAIMANT_COLUMN[1] in by_name)
    )
    if source.csv:
        staged = _set_aside_ragged_rows(con, path, staged, source.csv, len(headers), private)
    if source.formulas:
        # Reported under the canonical name when the column is one, else as written.
        kept = {h: normalise_header(h) if h in used else h for h in headers if h not in dropped}
        staged = _formula_problems(con, staged, source.formulas, kept)
    return staged


def _check_unique(path: Path, headers: list[str], canonical: frozenset[str] = frozenset()) -> None:
    """Refuse a header that names a column twice: which one holds the values would be a guess.

    DuckDB compares names without regard to case, so "Note" and "note" are the same column; and
    the loader reads a canonical column under any spelling ("Case ID" is case_id), so two
    spellings of one canonical name are the same column too.
    """
    seen: dict[str, str] = {}
    for h in headers:
        keys = {h.lower()} | ({normalise_header(h)} & canonical)
        for key in keys:
            if key in seen:
                other = seen[key]
                same = (
                    f"column '{h}' appears twice"
                    if other == h
                    else f"columns '{other}' and '{h}' name the same column"
                )
                raise LoadError(
                    f"{path}: {same} in the header; rename or remove one and load again"
                )
            seen[key] = h


def _delimiter_hint(headers: list[str]) -> str:
    """A one-column header holding another separator: say so (the canonical format is comma)."""
    if len(headers) != 1:
        return ""
    for sep, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "bars")):
        if sep in headers[0]:
            return (
                f"; the header seems separated by {name}: the canonical format uses commas "
                "(or name the delimiter in a profile)"
            )
    return ""


def _set_aside_ragged_rows(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    staged: StagedFile,
    read: tuple[csvfile.Dialect, str, str],
    n_fields: int,
    private: bool,
) -> StagedFile:
    """Stop on a line DuckDB could not read; quarantine rows with a wrong field count."""
    dialect, encoding, rejects = read
    n_rejected = csvfile.check_rejects(con, path, rejects, encoding)
    # DuckDB's tables hold the raw lines it could not read: gone as soon as they are counted.
    con.execute(f"DROP TABLE IF EXISTS {rejects}")
    con.execute(f"DROP TABLE IF EXISTS {rejects}_scans")
    if not n_rejected:
        return staged
    ragged = f"{staged.table}_ragged"
    con.execute(f"CREATE TEMP TABLE {ragged} (_row BIGINT, raw_line VARCHAR)")
    batch: list[tuple[int, str | None]] = []
    for row, line in csvfile.ragged_rows(path, dialect, encoding, n_fields):
        batch.append((row, None if private else line))
        if len(batch) >= 10_000:
            _insert_ragged(con, ragged, batch)
    _insert_ragged(con, ragged, batch)
    n_ragged = con.execute(f"SELECT count(*) FROM {ragged}").fetchall()[0][0]
    if n_ragged != n_rejected:
        raise LoadError(
            f"{path}: DuckDB set aside {n_rejected:,} row(s) for their number of fields and the "
            f"loader counts {n_ragged:,}; the rows cannot be numbered reliably, so nothing was "
            "loaded: check the quoting and blank lines of the file"
        )
    # A staged row is numbered by its place among the rows DuckDB kept, plus the rows set aside
    # before it: the last set-aside row with fewer kept rows before it says how many (ASOF).
    skips = f"{staged.table}_skips"
    con.execute(
        f"CREATE TEMP TABLE {skips} AS SELECT kept_before, max(n) AS skipped FROM ("
        f"SELECT _row - row_number() OVER (ORDER BY _row) AS kept_before, "
        f"row_number() OVER (ORDER BY _row) AS n FROM {ragged}) GROUP BY kept_before"
    )
    numbered = f"{staged.table}_numbered"
    con.execute(
        f"CREATE TEMP TABLE {numbered} AS SELECT t.*, "
        f"t.rowid + 1 + coalesce(k.skipped, 0) AS _row FROM {staged.table} t "
        f"ASOF LEFT JOIN {skips} k ON t.rowid + 1 > k.kept_before"
    )
    con.execute(f"DROP TABLE {staged.table}")
    con.execute(f"ALTER TABLE {numbered} RENAME TO {staged.table}")
    problems = f"{staged.table}_read_problems"
    con.execute(
        f"CREATE TEMP TABLE {problems} AS SELECT _row, '*' AS column_name, "
        f"'field_count' AS rule, raw_line AS raw_value FROM {ragged}"
    )
    note = (
        "the raw lines of rows with a wrong number of fields are not stored: the file has "
        "columns that are dropped, cut or hashed (find them by row number in the file)"
        if private
        else ""
    )
    return replace(
        staged,
        rows=staged.rows + n_ragged,
        row_number="_row",
        problems=(*staged.problems, problems),
        note=note,
    )


def _insert_ragged(
    con: duckdb.DuckDBPyConnection, table: str, batch: list[tuple[int, str | None]]
) -> None:
    """Append (row number, raw line) pairs to `table` and empty the batch."""
    if not batch:
        return
    rows = pa.table(
        {
            "_row": pa.array([r for r, _ in batch], pa.int64()),
            "raw_line": pa.array([t for _, t in batch], pa.string()),
        }
    )
    con.register(f"{table}_batch", rows)
    try:
        con.execute(f"INSERT INTO {table} SELECT * FROM {table}_batch")
    finally:
        con.unregister(f"{table}_batch")
    batch.clear()


def _formula_problems(
    con: duckdb.DuckDBPyConnection,
    staged: StagedFile,
    formulas: tuple[spreadsheet.FormulaCell, ...],
    kept: dict[str, str],
) -> StagedFile:
    """Quarantine rows with a formula cell that holds no value, in a column the load keeps."""
    cells = [f for f in formulas if f.header in kept]
    if not cells:
        return staged
    problems = f"{staged.table}_formulas"
    con.register(
        f"{problems}_cells",
        pa.table(
            {
                "_row": pa.array([f.row for f in cells], pa.int64()),
                "column_name": pa.array([kept[f.header] for f in cells], pa.string()),
                "raw_value": pa.array([f"{f.cell}: {f.formula}" for f in cells], pa.string()),
            }
        ),
    )
    try:
        con.execute(
            f"CREATE TEMP TABLE {problems} AS SELECT _row, column_name, "
            f"'formula_without_value' AS rule, raw_value FROM {problems}_cells"
        )
    finally:
        con.unregister(f"{problems}_cells")
    return replace(staged, problems=(*staged.problems, problems))


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
) -> _Source:
    """A relation over the file with every column as text, and its header as written."""
    fmt = file_format(path)
    if not path.is_file():
        raise LoadError(f"{path}: no such file")
    if fmt == "csv":
        encoding = mapping.encoding if mapping else "utf-8"
        dialect = csvfile.dialect(
            con, path, mapping.delimiter if mapping else None, mapping is not None, encoding
        )
        headers = csvfile.read_header(path, dialect, encoding)
        _check_unique(path, headers)
        rejects = f"{table}_rejects"
        sql, params = csvfile.relation(path, dialect, encoding, headers, rejects)
        return _Source(sql, params, headers, (dialect, encoding, rejects))
    if fmt == "parquet":
        _check_parquet(path)
        try:
            headers = list(pq.read_schema(path).names)
        except (OSError, pa.ArrowException) as exc:
            raise LoadError(f"{path}: cannot be read as PARQUET: {exc}") from exc
        _check_unique(path, headers)
        sql = "(SELECT COLUMNS(*)::VARCHAR FROM read_parquet($path))"
        return _Source(sql, {"path": str(path)}, headers)
    sheet = spreadsheet.read_first_sheet(path)
    _check_unique(path, sheet.headers)
    view = f"{table}_xlsx"
    con.register(view, sheet.table)
    return _Source(view, {}, sheet.headers, formulas=tuple(sheet.formulas))


def _check_parquet(path: Path) -> None:
    with path.open("rb") as fh:
        if fh.read(4) != b"PAR1":
            raise LoadError(f"{path}: is not a Parquet file (no PAR1 magic bytes)")
