"""Atomic loads: build the next database as a copy beside the current one, then swap it in.

DuckDB allows one writing process. A load therefore never writes the database that readers
(the dashboard) have open: it copies it, loads into the copy, checkpoints, and renames the copy
over the original, which is atomic on POSIX file systems. Readers keep the snapshot they
opened until they reopen. A load that fails or is killed (SIGKILL included) leaves only a
stray copy, removed by the next load, and the last good database exactly as it was.

The load's connection has a bounded memory limit: beyond it DuckDB spills to a folder beside the
copy instead of growing with the data (its own default is 80% of the machine's memory, which a
national load would take before spilling anything). The limit is $IME_MEMORY_LIMIT when set,
else half of the machine's physical memory, at most 3 GiB: an 8 GiB laptop keeps more than half
for everything else, and the load's resident peak (the limit plus about 0.7 GiB of Python and
its libraries at 10^7 exams) stays under the 4 GiB that docs/benchmarks.md asks of every step.
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
# The share of physical memory a load takes by default, and the most it takes (in MiB).
MEMORY_SHARE = 0.5
MEMORY_CAP_MIB = 3072


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


def physical_memory_mib() -> int:
    """The machine's physical memory, in MiB."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1 << 20)


def default_memory_limit(physical_mib: int) -> str:
    """DuckDB's memory limit for a load on a machine of `physical_mib` MiB: a share, capped."""
    return f"{min(int(physical_mib * MEMORY_SHARE), MEMORY_CAP_MIB)}MiB"


def _connect(work: Path) -> duckdb.DuckDBPyConnection:
    limit = os.environ.get(MEMORY_ENV) or default_memory_limit(physical_memory_mib())
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
