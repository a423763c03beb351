"""Where things live: the database and the demo data."""

from __future__ import annotations

import os
from pathlib import Path

DB_ENV = "IME_DB"
DEFAULT_DB = Path("data") / "ime.duckdb"
DEFAULT_DEMO_DIR = Path("data") / "demo"


def database_path(cli_value: str | None = None) -> Path:
    """--db wins, then $IME_DB, then data/ime.duckdb (README.md, command line)."""
    return Path(cli_value or os.environ.get(DB_ENV) or DEFAULT_DB)
