"""Atomic loads: build the next database as a copy beside the current one, then swap it in.

DuckDB allows one writing process. A load therefore never writes the database that readers
(the dashboard) have open: it copies it, loads into the copy, checkpoints, and renames the copy
over the original, which is atomic on POSIX file systems. Readers keep the snapshot they
opened until they reopen. A load that fails or is killed (SIGKILL included) leaves only a
stray copy, removed by the next load, and the last good database exactly as it was.

The load's connection has a bounded memory limit ($IME_MEMORY_LIMIT, default 2 GiB): beyond it
DuckDB spills to a folder beside the copy instead of growing with the data (its default limit is
80% of the machine's memory, which a national load would take before spilling anything).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb

from etl.errors import LoadError

MEMORY_ENV = "IME_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT = "2GiB"


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def next_snapshot(db_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """Yield a connection to a copy of `db_path`; on clean exit the copy replaces it.

    A symbolic link (to the database or a folder above it) is resolved first: the lock and the
    copy belong beside the real file, so that a load through the link and a load through the
    real path take the same lock, and the swap replaces the real file, not the link.
    """
    db_path = Path(os.path.realpath(db_path))
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with open(db_path.parent / f".{db_path.name}.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise LoadError(f"{db_path}: another load is writing this database; try again") from exc
        # Holding the lock, any copy (or spill folder) beside the database is from a load that died.
        for stale in db_path.parent.glob(f".{db_path.name}.*.loading*"):
            _remove(stale)
        work = db_path.parent / f".{db_path.name}.{os.getpid()}.loading"
        if db_path.exists():
            shutil.copyfile(db_path, work)
        con = _connect(work)
        try:
            yield con
            con.execute("CHECKPOINT")
            con.close()
            _fsync(work)
            os.replace(work, db_path)
            _fsync(db_path.parent)
        finally:
            con.close()
            for leftover in db_path.parent.glob(f".{db_path.name}.{os.getpid()}.loading*"):
                _remove(leftover)


def _connect(work: Path) -> duckdb.DuckDBPyConnection:
    limit = os.environ.get(MEMORY_ENV) or DEFAULT_MEMORY_LIMIT
    config = {"memory_limit": limit, "temp_directory": str(work) + ".tmp"}
    try:
        return duckdb.connect(str(work), config=config)
    except duckdb.ParserException as exc:  # the only setting DuckDB parses is the memory limit
        raise LoadError(f"{MEMORY_ENV}={limit!r}: {exc}") from exc


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()
