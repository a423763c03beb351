"""CSV files: the dialect, the header as written, rows with a wrong field count, DuckDB's reasons.

The canonical format is comma-separated UTF-8 with a header (docs/format.md), so a file without a
profile is read in exactly that dialect, never sniffed: a sniffer that meets one ragged row
guesses "one column" and the load then fails for a reason the file does not have. DuckDB reads
the rows with the header's names given (`auto_detect = false`) and sets aside rows it cannot
read (`store_rejects`), so that:

- a row with more or fewer fields than the header is quarantined (rule `field_count`) while the
  rest loads;
- any other reason (not UTF-8, a line longer than DuckDB's limit, a quote never closed) stops
  the load with DuckDB's own words, the file and the line.

The header is read here, not by DuckDB, because DuckDB renames a repeated column ("a", "a_1")
where the loader must refuse it.

Row numbers count the data rows of the file (1 = the first row after the header), as every
other rule does. DuckDB's reject table counts lines its own way (blank lines included, line
breaks inside quotes not), so the rows with a wrong field count are found and numbered by a
second reading with Python's csv module, which runs only when DuckDB reported some.
"""

from __future__ import annotations

import codecs
import collections
import contextlib
import csv
import io
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from etl.errors import LoadError

# DuckDB's default max_line_size: the longest line (header included) either reader accepts.
MAX_LINE_BYTES = 2_000_000
# How DuckDB's encodings are spelled for Python (utf-8-sig: a byte-order mark is not a name).
PYTHON_ENCODINGS = {"utf-8": "utf-8-sig", "utf-16": "utf-16", "latin-1": "latin-1"}
# Reject types that mean one row has the wrong number of fields; any other stops the load.
FIELD_COUNT_ERRORS = ("TOO MANY COLUMNS", "MISSING COLUMNS")
# DuckDB's wordings of the reasons a CSV line cannot be read, found in its error text.
DUCKDB_REASONS = re.compile(
    r"^(Maximum line size of .*|Invalid unicode .*|Value with unterminated quote found\.?"
    r"|Expected Number of Columns: .*|Invalid CSV state.*)$",
    re.MULTILINE,
)
# What to do about each other reason, after DuckDB's own words.
ADVICE = {
    "INVALID ENCODING": "the canonical format is UTF-8: save the file as UTF-8, or name its "
    "encoding in a profile",
    "LINE SIZE OVER MAXIMUM": "no value of the canonical format is this long: check that the "
    "file is the export you meant",
    "UNQUOTED VALUE": "check the quotes on this line; a file cut short ends inside a quoted value",
}


@dataclass(frozen=True)
class Dialect:
    """How fields are separated and quoted; an empty quote means fields are never quoted."""

    delimiter: str = ","
    quote: str = '"'
    escape: str = '"'


CANONICAL = Dialect()


def dialect(
    con: duckdb.DuckDBPyConnection, path: Path, delimiter: str | None, sniff: bool, encoding: str
) -> Dialect:
    """The canonical dialect, a profile's delimiter, or for a profile without one DuckDB's guess."""
    if delimiter:
        return Dialect(delimiter)
    if not sniff:
        return CANONICAL
    try:
        found = con.execute(
            # ignore_errors: a ragged row must not make the sniffer settle for "one column".
            "SELECT Delimiter, Quote, Escape "
            "FROM sniff_csv($path, encoding = $encoding, ignore_errors = true)",
            {"path": str(path), "encoding": encoding},
        ).fetchall()[0]
    except duckdb.Error:
        # A file the sniffer cannot make sense of is read as the canonical format, where the
        # strict reading gives the reason (a ragged row, a quote never closed, ...).
        return CANONICAL
    # A sample without quotes gives none ("(empty)"): quotes are still read as the standard's.
    none = ("", "\x00", "(empty)")
    quote = CANONICAL.quote if found[1] in none else found[1]
    escape = quote if found[2] in none else found[2]
    return Dialect(found[0], quote, escape)


def read_header(path: Path, d: Dialect, encoding: str) -> list[str]:
    """The column names of the header row as written; blank names as DuckDB names them."""
    where = f"{path}: cannot be read as CSV"
    with path.open("rb") as fh:
        head = fh.read(MAX_LINE_BYTES + 4)
    if not head:
        raise LoadError(f"{path}: the file is empty (the canonical format needs a header row)")
    whole = len(head) <= MAX_LINE_BYTES
    python_encoding = PYTHON_ENCODINGS[encoding]
    bad = None
    try:
        text = codecs.getincrementaldecoder(python_encoding)().decode(head, final=whole)
    except UnicodeDecodeError as exc:
        # Only the header counts here: a bad byte further down is DuckDB's to report, by line.
        bad = exc
        text = head[: exc.start].decode(python_encoding)
    lines = io.StringIO(text, newline="")
    source = lines if len(d.delimiter) == 1 else _units(lines, d.delimiter)
    with _field_limit():
        try:
            header = next(csv.reader(source, **_csv_options(d)), None)
        except csv.Error as exc:
            raise LoadError(f"{where}: line 1 (the header): {exc}") from exc
    read = text[: lines.tell()]
    complete = read.endswith(("\n", "\r")) or (whole and bad is None)
    if bad is not None and not complete:
        raise LoadError(
            f"{where}: line 1 (the header) is not {encoding.upper()} ({bad.reason} at byte "
            f"{bad.start}); {ADVICE['INVALID ENCODING']}"
        ) from bad
    if not complete:
        raise LoadError(
            f"{where}: line 1 (the header) is longer than {MAX_LINE_BYTES:,} bytes; "
            f"{ADVICE['LINE SIZE OVER MAXIMUM']}"
        )
    if not header:
        raise LoadError(f"{path}: the first line is blank (the canonical format needs a header)")
    return [h if h.strip() else f"column{i}" for i, h in enumerate(header)]


def relation(
    path: Path, d: Dialect, encoding: str, headers: list[str], rejects: str
) -> tuple[str, dict]:
    """read_csv over the file with the header's names, every value text, bad rows set aside.

    `rejects` names the temporary tables DuckDB fills: `<rejects>` and `<rejects>_scans`.
    """
    params = {
        "path": str(path),
        "columns": {h: "VARCHAR" for h in headers},
        "delim": d.delimiter,
        "quote": d.quote,
        "escape": d.escape,
        "encoding": encoding,
        "rejects_table": rejects,
        "rejects_scan": f"{rejects}_scans",
    }
    options = (
        "header = true, auto_detect = false, columns = $columns, delim = $delim, quote = $quote, "
        "escape = $escape, encoding = $encoding, strict_mode = true, store_rejects = true, "
        "rejects_table = $rejects_table, rejects_scan = $rejects_scan"
    )
    return f"read_csv($path, {options})", params


def check_rejects(con: duckdb.DuckDBPyConnection, path: Path, rejects: str, encoding: str) -> int:
    """Raise LoadError for the first row DuckDB could not read for a reason other than its field
    count; return how many rows it set aside for their field count."""
    first = con.execute(
        f"SELECT line, error_type, error_message FROM {rejects} "
        "WHERE NOT list_contains($field_count, CAST(error_type AS VARCHAR)) "
        "ORDER BY line LIMIT 1",
        {"field_count": list(FIELD_COUNT_ERRORS)},
    ).fetchall()
    if first:
        line, kind, message = first[0]
        reason = f"not {encoding.upper()}: {message}" if kind == "INVALID ENCODING" else message
        advice = ADVICE.get(kind)
        raise LoadError(
            f"{path}: cannot be read as CSV: line {line}: {reason}"
            + (f"; {advice}" if advice else "")
        )
    return con.execute(f"SELECT count(DISTINCT line) FROM {rejects}").fetchall()[0][0]


def ragged_rows(path: Path, d: Dialect, encoding: str, n_fields: int) -> Iterator[tuple[int, str]]:
    """(row number, raw text) of each data row whose field count differs from the header's.

    The csv module reads the rows; a second handle on the same file, moved forward to the
    lines of each such row, gives its text as written.
    """
    python_encoding = PYTHON_ENCODINGS[encoding]
    with (
        path.open(encoding=python_encoding, newline="") as fh,
        path.open(encoding=python_encoding, newline="") as raw_fh,
        _field_limit(),
    ):
        source = fh if len(d.delimiter) == 1 else _units(fh, d.delimiter)
        reader = csv.reader(source, **_csv_options(d))
        next(reader, None)
        end = reader.line_num
        raw_lines, raw_at = iter(raw_fh), 0
        row = 0
        for record in reader:
            start, end = end, reader.line_num
            if not record and n_fields > 1:
                continue  # a blank line: DuckDB skips it too (in a one-column file it is a row)
            row += 1
            if record and len(record) != n_fields:
                collections.deque(itertools.islice(raw_lines, start - raw_at), maxlen=0)
                text = "".join(itertools.islice(raw_lines, end - start))
                raw_at = end
                yield row, text.rstrip("\r\n")


def error_reason(exc: duckdb.Error) -> str:
    """DuckDB's reason for an error, without the row it quotes (which may hold identifiers).

    A CSV error's first line only says "CSV Error on Line: N"; the reason is a later line,
    after the quoted row, which can itself span lines: it is found by its known wording.
    """
    text = str(exc).strip()
    first = re.sub(r"^[A-Za-z ]*Error: ", "", text.splitlines()[0])
    line = re.fullmatch(r"CSV Error on Line: (\d+)", first)
    if not line:
        return first
    reason = DUCKDB_REASONS.search(text)
    return f"line {line.group(1)}: {reason.group(0) if reason else 'DuckDB gives no reason'}"


def _units(lines: Iterator[str], delimiter: str) -> Iterator[str]:
    """Lines with a delimiter of more than one character (DuckDB allows up to four) written as
    the unit separator, which the csv module counts fields by in the same way."""
    for line in lines:
        yield line.replace(delimiter, "\x1f")


def _csv_options(d: Dialect) -> dict:
    options: dict = {
        "delimiter": d.delimiter if len(d.delimiter) == 1 else "\x1f",
        "strict": False,
    }
    if not d.quote:
        options["quoting"] = csv.QUOTE_NONE
    else:
        options["quotechar"] = d.quote
        options["doublequote"] = d.escape in ("", d.quote)
        if d.escape and d.escape != d.quote:
            options["escapechar"] = d.escape
    return options


@contextlib.contextmanager
def _field_limit() -> Iterator[None]:
    """Fields as long as DuckDB accepts (the csv module's default limit is 128 KiB)."""
    before = csv.field_size_limit(MAX_LINE_BYTES)
    try:
        yield
    finally:
        csv.field_size_limit(before)
