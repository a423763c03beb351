"""A seeded demo database for the review tests, and a review store and audit log per test."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from devtools.demo import generate
from etl.load import load
from measures.engine import store_flags

N_EXAMS = 4000
SEED = 20240611


@pytest.fixture(scope="session")
def review_db(tmp_path_factory) -> Path:
    """The demo data loaded as `ime load` loads it, flags stored (own pseudonym key)."""
    root = tmp_path_factory.mktemp("review_db")
    generate(root / "demo", n_exams=N_EXAMS, seed=SEED)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IME_KEY_FILE", str(root / "pseudonym.key"))
        load([root / "demo"], root / "ime.duckdb", progress=False, after_build=store_flags)
    return root / "ime.duckdb"


@pytest.fixture(scope="session")
def busiest(review_db) -> list[str]:
    """Examiner ids, busiest first (ties by id)."""
    con = duckdb.connect(str(review_db), read_only=True)
    try:
        rows = con.execute("SELECT examiner_id FROM fct_exams GROUP BY 1 "
                           "ORDER BY count(*) DESC, 1").fetchall()
    finally:
        con.close()
    return [r[0] for r in rows]


@pytest.fixture(autouse=True)
def stores(tmp_path, monkeypatch) -> Path:
    """Audit log and reviews of the test's own: never data/."""
    monkeypatch.setenv("IME_AUDIT_DB", str(tmp_path / "audit.duckdb"))
    monkeypatch.delenv("IME_REVIEWS_DB", raising=False)
    return tmp_path


@pytest.fixture
def con(review_db):
    connection = duckdb.connect(str(review_db), read_only=True)
    yield connection
    connection.close()
