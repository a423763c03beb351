"""SQL files with a header of `-- key: value` lines: the file name is the query's name."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).parent
HEADER_LINE = re.compile(r"^--\s*(\w+):\s*(.*)$")
# `checks` (contracts): the tables whose rows a check's violations are (etl.build.run_contracts).
# `counts` (reports): the columns that count rows of exams_in_view(), the others being the group
# keys the query is ordered by (queries.store_default_view merges them after a merging load).
HEADER_KEYS = ("name", "grain", "params", "columns", "source", "materialized", "checks", "counts")


@dataclass(frozen=True)
class SqlFile:
    """One query: its name, the header's fields, its first description line and its SQL."""

    name: str
    path: Path
    header: dict[str, str]
    description: str
    sql: str

    @property
    def declared_params(self) -> dict[str, str]:
        """`-- params: $start DATE, $end DATE` as {"start": "DATE", "end": "DATE"}."""
        return _typed_list(self.header.get("params", ""), "$")

    @property
    def declared_columns(self) -> dict[str, str]:
        """`-- columns: examiner_id VARCHAR, n BIGINT` as a name -> type mapping."""
        return _typed_list(self.header.get("columns", ""), "")


def _typed_list(text: str, prefix: str) -> dict[str, str]:
    out = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, _, kind = item.partition(" ")
        out[name.removeprefix(prefix)] = kind.strip()
    return out


def parse(path: Path) -> SqlFile:
    header: dict[str, str] = {}
    description = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("--"):
            break
        m = HEADER_LINE.match(line)
        if m and m.group(1) in HEADER_KEYS:
            header[m.group(1)] = m.group(2).strip()
        elif not header.get("grain"):
            description.append(line.removeprefix("--").strip())
    if header.get("name") != path.stem:
        raise ValueError(f"{path}: header '-- name: {path.stem}' is missing or differs")
    return SqlFile(path.stem, path, header, " ".join(description).strip(), path.read_text())


@cache
def folder(name: str) -> dict[str, SqlFile]:
    """All queries of a sub-folder of queries/ by name."""
    return {p.stem: parse(p) for p in sorted((ROOT / name).glob("*.sql"))}
