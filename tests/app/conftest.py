"""Seeded demo databases, built once per session, and helpers to drive the app.

`demo_db` (4,000 exams) serves most pages; `flagged_db` (20,000 exams) has the volume for the
flags engine to flag examiners on every measure; `ssa_db` holds the real SSA decision counts.
Each is loaded the way `ime load` loads, flags stored for the default view.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from access import auth
from devtools.demo import generate
from etl.load import load
from measures.engine import store_flags

N_EXAMS = 4000
N_EXAMS_FLAGGED = 20_000
SEED = 20240611
REPO = Path(__file__).resolve().parents[2]
# The password of every user the add_user fixture writes.
USER_PASSWORD = "correct horse battery staple"
REALDATA = REPO / "data" / "public"
SSA_SOURCES = {
    "ssa_alj": ("ssa_alj_dispositions", "ssa_alj_dispositions.toml"),
    "ssa_dds": ("ssa_dds_state_workload", "ssa_dds_state_workload.toml"),
}


def _load_demo(tmp_path_factory, name: str, n_exams: int) -> Path:
    root = tmp_path_factory.mktemp(name)
    generate(root / "demo", n_exams=n_exams, seed=SEED)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IME_KEY_FILE", str(root / "pseudonym.key"))
        load([root / "demo"], root / "ime.duckdb", progress=False, after_build=store_flags)
    return root / "ime.duckdb"


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
        load([demo_dir], root / "ime.duckdb", progress=False, after_build=store_flags)
    return root / "ime.duckdb"


@pytest.fixture(scope="session")
def truth(demo_db):
    """A read-only connection for computing expected figures straight from the tables."""
    con = duckdb.connect(str(demo_db), read_only=True)
    yield con
    con.close()


@pytest.fixture(scope="session")
def flagged_db(tmp_path_factory) -> Path:
    """20,000 demo exams: enough volume for planted biases to be flagged on every measure."""
    return _load_demo(tmp_path_factory, "dashboard_flagged", N_EXAMS_FLAGGED)


@pytest.fixture(scope="session")
def flagged_truth(flagged_db):
    con = duckdb.connect(str(flagged_db), read_only=True)
    yield con
    con.close()


@pytest.fixture(scope="session")
def ssa_db(tmp_path_factory) -> Path:
    """SSA's published decision counts (ALJ judges by office, DDS states by region), loaded
    from data/public with their mapping profiles."""
    root = tmp_path_factory.mktemp("dashboard_ssa")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IME_KEY_FILE", str(root / "pseudonym.key"))
        for folder, profile in SSA_SOURCES.values():
            load(
                [REALDATA / folder],
                root / "ime.duckdb",
                REPO / "data" / "profiles" / profile,
                after_build=store_flags,
            )
    return root / "ime.duckdb"


@pytest.fixture(autouse=True)
def audit_db(tmp_path, monkeypatch) -> Path:
    """Profile views are audited: into a log of the test's own, never data/audit.duckdb."""
    path = tmp_path / "audit.duckdb"
    monkeypatch.setenv("IME_AUDIT_DB", str(path))
    return path


@pytest.fixture
def use_db(demo_db, monkeypatch) -> Path:
    monkeypatch.setenv("IME_DB", str(demo_db))
    return demo_db


@pytest.fixture
def use_flagged_db(flagged_db, monkeypatch) -> Path:
    monkeypatch.setenv("IME_DB", str(flagged_db))
    return flagged_db


@pytest.fixture
def add_user(no_configured_users):
    """Adds a user to this test's own users file (so the app is no longer in demo mode), with
    USER_PASSWORD: add_user(username, role, insurers=()) -> auth.User."""

    def add(username: str, role: str, insurers: tuple[str, ...] = ()) -> auth.User:
        return auth.add_user(username, role, tuple(insurers), password=USER_PASSWORD,
                             path=no_configured_users)

    return add
