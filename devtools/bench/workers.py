"""The workers: ``python -m devtools.bench worker NAME ARGS_JSON`` runs one step and prints one
JSON line.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

from devtools import bench_concurrency
from devtools.bench.page_timer import worker_page
from devtools.bench.pandas_pages import worker_pandas
from devtools.bench.results import DEMO_ENTITIES
from devtools.bench.targets import INCREMENT_PERCENT, INCREMENTS
from devtools.bench.tracer import worker_profile_flags, worker_profile_load


def worker_increments(exams: str, out: str) -> dict:
    """Write INCREMENTS folders of new exams, each INCREMENT_PERCENT % of `exams`: existing
    exams (of existing cases and examiners) under new ids, so that each is a new exam."""
    import duckdb

    con = duckdb.connect()
    for i in range(INCREMENTS):
        folder = Path(out) / f"{i}"
        folder.mkdir(parents=True, exist_ok=True)
        # The exams whose id hashes into this increment's share (the out folder is the
        # bench's own, never from data; values are bound).
        con.execute(
            "COPY (SELECT * REPLACE (exam_id || '-new' || $i AS exam_id) "
            "FROM read_csv($exams, all_varchar = true) "
            "WHERE hash(exam_id) % 100 BETWEEN $i * $pct AND $i * $pct + $pct - 1) "
            "TO '" + str(folder / "exams.csv").replace("'", "''") + "' (HEADER)",
            {"exams": exams, "i": i, "pct": INCREMENT_PERCENT},
        )
    return {"increments": INCREMENTS}


def worker_bare_load(files: list[str], db: str) -> dict:
    """The floor: DuckDB's CSV reader into tables, no validation, no models."""
    import duckdb

    Path(db).unlink(missing_ok=True)
    con = duckdb.connect(db)
    con.execute("SET enable_progress_bar = false")
    for path in files:
        # The table name is a fixed entity name (DEMO_ENTITIES); the path is bound.
        sql = f"CREATE TABLE {Path(path).stem} AS SELECT * FROM read_csv($path)"  # noqa: S608
        con.execute(sql, {"path": path})
    con.close()
    return {"files": len(files)}


def worker_to_parquet(db: str, out: str) -> dict:
    """Each loaded entity table as Parquet, in the columns of the canonical format."""
    import duckdb

    from etl.schema import ENTITIES

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(db, read_only=True)
    for name in DEMO_ENTITIES:
        cols = ", ".join(ENTITIES[name].column_names)
        con.execute(
            f"COPY (SELECT {cols} FROM {name}) TO $path (FORMAT parquet)",  # noqa: S608 - fixed names
            {"path": str(folder / f"{name}.parquet")},
        )
    con.close()
    return {"tables": len(DEMO_ENTITIES)}


WORKERS: dict[str, Callable[..., dict]] = {
    "bare_load": worker_bare_load,
    "to_parquet": worker_to_parquet,
    "page": worker_page,
    "pandas": worker_pandas,
    "profile_load": worker_profile_load,
    "profile_flags": worker_profile_flags,
    "increments": worker_increments,
    "concurrency": bench_concurrency.worker,
}


def worker_main(argv: list[str]) -> int:
    """``python -m devtools.bench worker NAME ARGS_JSON``: run one worker, print its JSON result."""
    if len(argv) != 3 or argv[0] != "worker" or argv[1] not in WORKERS:
        print(
            f"usage: python -m devtools.bench worker {{{','.join(WORKERS)}}} ARGS_JSON",
            file=sys.stderr,
        )
        return 2
    result = WORKERS[argv[1]](**json.loads(argv[2]))
    print(json.dumps(result, default=float))
    return 0
