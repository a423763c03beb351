"""Atomic loads: build the next database as a copy beside the current one, then swap it in.

DuckDB allows one writing process. A load therefore never writes the database that readers
(the dashboard) have open: it copies it, loads into the copy, checkpoints, and renames the copy
over the original, which is atomic on POSIX file systems. Readers keep the snapshot they
opened until they reopen. A load that fails or is killed (SIGKILL included) leaves only a
stray copy, removed by the next load, and the last good database exactly as it was.
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


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def next_snapshot(db_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """Yield a connection to a copy of `db_path`; on clean exit the copy replaces it."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with open(db_path.parent / f".{db_path.name}.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise LoadError(f"{db_path}: another load is writing this database; try again") from exc
        # Holding the lock, any copy left beside the database is from a load that died.
        for stale in db_path.parent.glob(f".{db_path.name}.*.loading*"):
            stale.unlink()
        work = db_path.parent / f".{db_path.name}.{os.getpid()}.loading"
        if db_path.exists():
            shutil.copyfile(db_path, work)
        con = duckdb.connect(str(work))
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
                leftover.unlink()
