"""A small seeded demo database, built once per session, and helpers to drive the app."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from etl.load import load
from ime.demo import generate

N_EXAMS = 4000
SEED = 20240611


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dashboard_demo")
    generate(root / "demo", n_exams=N_EXAMS, seed=SEED)
    return root / "demo"


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory, demo_dir) -> Path:
    """The demo data loaded by the ETL into a database of its own (own pseudonym key)."""
    root = tmp_path_factory.mktemp("dashboard_db")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IME_KEY_FILE", str(root / "pseudonym.key"))
        load([demo_dir], root / "ime.duckdb", progress=False)
    return root / "ime.duckdb"


@pytest.fixture(scope="session")
def truth(demo_db):
    """A read-only connection for computing expected figures straight from the tables."""
    con = duckdb.connect(str(demo_db), read_only=True)
    yield con
    con.close()


@pytest.fixture
def use_db(demo_db, monkeypatch) -> Path:
    monkeypatch.setenv("IME_DB", str(demo_db))
    return demo_db
