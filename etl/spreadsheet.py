"""XLSX files: the first sheet as text columns, and the formula cells that hold no value.

A workbook written by a program that does not calculate (a script, some exports) stores
formulas without their result. Such a cell reads as empty, and a row made only of them is not
read at all: calamine's range ends at the last cell with a value. The sheet's XML is therefore
searched for formulas without a stored value; the loader quarantines their rows (rule
`formula_without_value`) instead of loading an empty value that the file never held.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import pyarrow as pa

from etl.errors import LoadError

RELATIONSHIPS_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
# A formula element in any namespace prefix, and the DTD declarations no workbook needs.
FORMULA_TAG = re.compile(rb"<(?:\w+:)?f[\s>/]")
DTD = re.compile(rb"<!(?:DOCTYPE|ENTITY)")
CHUNK = 1 << 20


@dataclass(frozen=True)
class FormulaCell:
    """A formula cell without a stored value: its data row (1 = first after the header)."""

    row: int
    header: str
    cell: str
    formula: str


@dataclass(frozen=True)
class Sheet:
    """The first sheet: the header row as written, the data as text, empty formula cells."""

    headers: list[str]
    table: pa.Table
    formulas: list[FormulaCell]


def read_first_sheet(path: Path) -> Sheet:
    """The first sheet as a table of text columns; the first row holds the headers."""
    from python_calamine import CalamineWorkbook

    try:
        sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0)
        rows = sheet.to_python()
    except Exception as exc:  # calamine raises its own error types for corrupt files
        raise LoadError(f"{path}: cannot be read as XLSX: {exc}") from exc
    if not rows:
        raise LoadError(f"{path}: the first sheet is empty (no header row)")
    start_row, start_col = sheet.start or (0, 0)
    headers = [_header(h, i) for i, h in enumerate(rows[0])]
    formulas = []
    for r, c, formula in _formulas_without_value(path):
        row, col = r - start_row, c - start_col
        if row < 0 or not 0 <= col < len(headers):
            continue  # outside the table: above the header or in a column without one
        cell = f"{_column_letters(c)}{r + 1}"
        if row == 0:
            raise LoadError(
                f"{path}: header cell {cell} is a formula without a stored value; open and save "
                "the workbook in a spreadsheet program so that its formulas are calculated"
            )
        while len(rows) <= row:
            rows.append([])  # a row of such cells only: calamine leaves it out
        formulas.append(FormulaCell(row, headers[col], cell, formula))
    columns = [
        pa.array([_cell_text(r[i]) if i < len(r) else None for r in rows[1:]], type=pa.string())
        for i in range(len(headers))
    ]
    return Sheet(headers, pa.Table.from_arrays(columns, names=headers), formulas)


def _header(value: object, index: int) -> str:
    """A header cell as text; a blank one named as DuckDB names a blank CSV header."""
    text = str(value).strip() if value is not None else ""
    return text or f"column{index}"


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


def _formulas_without_value(path: Path) -> list[tuple[int, int, str]]:
    """(row, column, formula), 0-based, of the first sheet's formula cells without a value."""
    with zipfile.ZipFile(path) as z:
        part = _first_sheet_part(z)
        if part is None or not _has_formulas(z, part):
            return []
        found = []
        row, col = -1, -1
        with z.open(part) as fh:
            for event, elem in ElementTree.iterparse(fh, events=("start", "end")):
                tag = elem.tag.rpartition("}")[2]
                if event == "start":
                    if tag == "row":
                        row = int(elem.get("r")) - 1 if elem.get("r") else row + 1
                        col = -1
                    elif tag == "c":
                        ref = elem.get("r")
                        col = _column_index(ref) if ref else col + 1
                    continue
                if tag == "c":
                    formula = elem.find("{*}f")
                    value = elem.find("{*}v")
                    # A formula whose result is an empty string keeps t="str" and an empty <v>.
                    empty = value is None or (not value.text and elem.get("t") != "str")
                    if formula is not None and empty:
                        found.append((row, col, "=" + (formula.text or "")))
                    elem.clear()
                elif tag == "row":
                    elem.clear()
        return found


def _has_formulas(z: zipfile.ZipFile, part: str) -> bool:
    """Whether the sheet has any formula; refuses a DTD, which no workbook needs."""
    tail = b""
    with z.open(part) as fh:
        while chunk := fh.read(CHUNK):
            text = tail + chunk
            if DTD.search(text):
                raise LoadError(f"{z.filename}: {part} declares a DTD; refused")
            if FORMULA_TAG.search(text):
                return True
            tail = text[-16:]
    return False


def _first_sheet_part(z: zipfile.ZipFile) -> str | None:
    """The path inside the archive of the workbook's first sheet, as calamine reads it."""
    try:
        workbook = _parse(z, "xl/workbook.xml")
        rels = _parse(z, "xl/_rels/workbook.xml.rels")
    except (KeyError, ElementTree.ParseError):
        return None
    sheet = workbook.find("{*}sheets/{*}sheet")
    if sheet is None:
        return None
    rid = sheet.get(f"{{{RELATIONSHIPS_NS}}}id")
    target = next((r.get("Target") for r in rels if r.get("Id") == rid), None)
    if not target:
        return None
    return target.lstrip("/") if target.startswith("/") else posixpath.join("xl", target)


def _parse(z: zipfile.ZipFile, part: str) -> ElementTree.Element:
    data = z.read(part)
    if DTD.search(data):
        raise LoadError(f"{z.filename}: {part} declares a DTD; refused")
    return ElementTree.fromstring(data)


def _column_index(ref: str) -> int:
    """0-based column of a cell reference: "C5" -> 2, "AA1" -> 26."""
    n = 0
    for ch in re.match(r"[A-Z]+", ref.upper()).group(0):
        n = n * 26 + ord(ch) - ord("A") + 1
    return n - 1


def _column_letters(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(ord("A") + rem) + letters
    return letters
