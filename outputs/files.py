"""Export files a researcher can cite: the table, its data dictionary and its metadata.

`write_export` writes the table as CSV, Parquet or XLSX and, beside it, ``<stem>.dictionary.csv``
(one row per column: name, type, description) and ``<stem>.metadata.json`` (filters, role,
suppression rule, database snapshot hash, method versions, time of export, and the sha256 of
the table file). Text cells that a spreadsheet would run as a formula are neutralised first.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from imestats.suppression import FLAG_SUFFIX, SUPPRESSED

FORMATS = ("csv", "parquet", "xlsx")
# OWASP, "CSV Injection": cells beginning with these run as formulas in spreadsheet programs.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
REQUIRED_METADATA = ("role", "filters", "suppression", "snapshot_sha256", "method_versions")
XLSX_MAX_ROWS = 1_048_575  # one row of the sheet's 1,048,576 holds the header


@dataclass(frozen=True)
class ExportFiles:
    """The three files of one export."""

    data: Path
    dictionary: Path
    metadata: Path


def _neutral(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _xml_safe(value: object) -> object:
    """Text without the characters XML 1.0 forbids (openpyxl refuses a file holding one)."""
    return ILLEGAL_CHARACTERS_RE.sub("\ufffd", value) if isinstance(value, str) else value


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """Prefix ``'`` to text cells starting with = + - @, tab or CR; numbers are left as they are."""
    out = df.copy()
    for col in out.columns:
        series = out[col]
        if isinstance(series.dtype, pd.CategoricalDtype):
            out[col] = series.cat.rename_categories(_neutral)
        elif series.dtype == object:
            out[col] = series.map(_neutral)
        elif pd.api.types.is_string_dtype(series.dtype):
            risky = series.str.startswith(FORMULA_PREFIXES).fillna(False).astype(bool)
            out[col] = series.mask(risky, "'" + series)
    return out


def snapshot_hash(db_path: Path) -> str:
    """The sha256 of a file, read in chunks: of the database an export was read from."""
    with Path(db_path).open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _column_type(series: pd.Series) -> str:
    """A plain-words type for the data dictionary."""
    if series.dtype == object:
        values = series.dropna()
        if len(values) and values.eq(SUPPRESSED).any():
            rest = values[values.ne(SUPPRESSED)]
            inner = "integer" if all(isinstance(v, int | np.integer) for v in rest) else "number"
            return f'{inner}, or "{SUPPRESSED}"'
        return "text"
    if pd.api.types.is_bool_dtype(series.dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(series.dtype):
        return "integer"
    if pd.api.types.is_float_dtype(series.dtype):
        return "number"
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return "timestamp"
    return "text"


def _json_default(value: object) -> object:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"metadata value {value!r} of type {type(value).__name__} is not JSON")


def write_export(
    df: pd.DataFrame,
    path: Path,
    fmt: str,
    dictionary: Mapping[str, str],
    metadata: Mapping[str, object],
) -> ExportFiles:
    """Write a table with its data dictionary and metadata.

    Parameters
    ----------
    df : DataFrame
        The table as the reader may see it (already scoped and suppressed). Its index is not
        written.
    path : Path
        The table file; the dictionary and metadata go beside it.
    fmt : {"csv", "parquet", "xlsx"}
        The table's format. Parquet needs typed columns: pass `Suppressed.flagged()` rather
        than a display table mixing numbers with the text "suppressed".
    dictionary : mapping of str to str
        A description of every column. A ``<column>_suppressed`` flag column is described
        automatically from its column.
    metadata : mapping
        At least role, filters, suppression (the rule, e.g. `Suppressed.rule()`),
        snapshot_sha256 (`snapshot_hash` of the database) and method_versions.

    Returns
    -------
    ExportFiles
        The paths written.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    missing_meta = [key for key in REQUIRED_METADATA if key not in metadata]
    if missing_meta:
        raise ValueError(f"export metadata lacks {missing_meta}; a citable export needs "
                         f"{list(REQUIRED_METADATA)}")
    descriptions = dict(dictionary)
    for col in df.columns:
        base = str(col).removesuffix(FLAG_SUFFIX)
        if col not in descriptions and col != base and base in descriptions:
            descriptions[col] = f"True where {base} is suppressed (a small count, or built on one)"
    undescribed = [c for c in df.columns if c not in descriptions]
    if undescribed:
        raise ValueError(f"the data dictionary does not describe columns {undescribed}")
    if fmt == "parquet":
        for col in df.columns:
            if df[col].dtype == object and df[col].dropna().map(type).nunique() > 1:
                raise ValueError(
                    f"column {col!r} mixes text and numbers, which Parquet cannot hold; export "
                    "Suppressed.flagged() (numbers plus a _suppressed flag) instead"
                )
    if fmt == "xlsx" and len(df) > XLSX_MAX_ROWS:
        raise ValueError(f"{len(df):,} rows do not fit in one XLSX sheet "
                         f"({XLSX_MAX_ROWS:,} at most); export CSV or Parquet instead")

    path = Path(path)
    stem = path.name.removesuffix(path.suffix) if path.suffix else path.name
    files = ExportFiles(
        data=path,
        dictionary=path.with_name(f"{stem}.dictionary.csv"),
        metadata=path.with_name(f"{stem}.metadata.json"),
    )
    targets = (files.data, files.dictionary, files.metadata)
    for target in targets:
        if target.is_dir():
            raise ValueError(
                f"{target} is a folder: name the table file, e.g. {target / f'table.{fmt}'}"
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    table = neutralise_formulas(df.reset_index(drop=True))

    # Each file is written beside its final name, and the three are renamed only once all
    # are written: a reader never sees half an export, and a failure leaves no file behind.
    tmp = {target: target.with_name(f".{target.name}.tmp") for target in targets}
    try:
        if fmt == "csv":
            table.to_csv(tmp[files.data], index=False, encoding="utf-8")
        elif fmt == "parquet":
            table.to_parquet(tmp[files.data], index=False)
        else:
            # Characters XML 1.0 forbids would make openpyxl refuse the whole file.
            for col in table.columns:
                if table[col].dtype == object or pd.api.types.is_string_dtype(table[col].dtype):
                    table[col] = table[col].map(_xml_safe)
            table.to_excel(tmp[files.data], index=False, engine="openpyxl", sheet_name="data")

        dictionary_table = neutralise_formulas(pd.DataFrame({
            "column": [str(c) for c in df.columns],
            "type": [_column_type(df[c]) for c in df.columns],
            "description": [descriptions[c] for c in df.columns],
        }))
        dictionary_table.to_csv(tmp[files.dictionary], index=False, encoding="utf-8")

        meta = {
            **metadata,
            "exported_at_utc": dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(),
            "format": fmt,
            "file": files.data.name,
            "file_sha256": snapshot_hash(tmp[files.data]),
            "dictionary_file": files.dictionary.name,
            "rows": len(df),
            "columns": [str(c) for c in df.columns],
            "formula_neutralisation": (
                "text cells beginning with = + - @, tab or carriage return are prefixed with '"
            ),
        }
        tmp[files.metadata].write_text(
            json.dumps(meta, indent=2, default=_json_default) + "\n", encoding="utf-8"
        )
        for target, written in tmp.items():
            os.replace(written, target)
    finally:
        for written in tmp.values():
            written.unlink(missing_ok=True)
    return files
