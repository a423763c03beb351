"""A load's memory: temporaries dropped file by file, a bounded limit, a spill folder beside."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from etl.errors import LoadError
from etl.load import load
from etl.snapshot import MEMORY_ENV, default_memory_limit, physical_memory_mib


def inspect_connection(seen: dict):
    """An `after_build` hook that records what the load's connection holds at its end."""

    def look(con: duckdb.DuckDBPyConnection) -> None:
        seen["temporary"] = con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE temporary "
            "UNION ALL SELECT view_name FROM duckdb_views() WHERE temporary AND NOT internal"
        ).fetchall()
        seen["memory_limit"] = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        seen["temp_directory"] = Path(
            con.execute("SELECT current_setting('temp_directory')").fetchone()[0]
        )

    return look


def test_a_load_leaves_no_temporary_tables_and_no_spill_folder(
    canonical_folder, db_path, monkeypatch
):
    monkeypatch.delenv(MEMORY_ENV, raising=False)
    seen: dict = {}
    load([canonical_folder], db_path, after_build=inspect_connection(seen))
    assert seen["temporary"] == []
    # Half of this machine's memory, at most 3 GiB, in DuckDB's own words (read independently
    # of the loader from /proc/meminfo's MemTotal, in KiB).
    total_kib = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
    expected = min(total_kib // 1024 // 2, 3072)
    shown = duckdb.connect(config={"memory_limit": f"{expected}MiB"})
    assert (
        seen["memory_limit"]
        == shown.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    )
    assert seen["temp_directory"].parent == db_path.parent
    assert sorted(p.name for p in db_path.parent.iterdir()) == [".ime.duckdb.lock", "ime.duckdb"]


def test_the_default_memory_limit_is_half_the_machine_at_most_3_gib():
    assert default_memory_limit(4 * 1024) == "2048MiB"  # half
    assert default_memory_limit(8 * 1024) == "3072MiB"  # an 8 GiB laptop: capped
    assert default_memory_limit(24 * 1024) == "3072MiB"
    assert default_memory_limit(1000) == "500MiB"
    assert (
        abs(
            physical_memory_mib()
            - int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0]) / 1024
        )
        < 1024
    )


def test_the_memory_limit_can_be_set(canonical_folder, db_path, monkeypatch):
    monkeypatch.setenv(MEMORY_ENV, "512MiB")
    seen: dict = {}
    load([canonical_folder], db_path, after_build=inspect_connection(seen))
    assert seen["memory_limit"] == "512.0 MiB"


def test_a_spill_folder_left_by_a_killed_load_is_removed_by_the_next(canonical_folder, db_path):
    db_path.parent.mkdir(parents=True)
    stale = db_path.parent / f".{db_path.name}.999999.loading.tmp"
    stale.mkdir()
    (stale / "duckdb_temp_storage-0.tmp").write_bytes(b"\0" * 1024)
    load([canonical_folder], db_path)
    assert not stale.exists()


def test_an_unreadable_memory_limit_stops_the_load(canonical_folder, db_path, monkeypatch):
    load([canonical_folder], db_path)
    before = db_path.read_bytes()
    monkeypatch.setenv(MEMORY_ENV, "lots")
    with pytest.raises(LoadError, match=MEMORY_ENV):
        load([canonical_folder], db_path)
    assert db_path.read_bytes() == before
