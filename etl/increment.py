"""Incremental builds: a load rebuilds only the derived rows its changes reach, merged by key.

An exam's row of fct_exams depends on the exam, its case, the examiner's specialty, the
decisions on its case (the post-exam decision) and the rulings on it; fct_rating_pairs adds the
case's treating ratings, and fct_shared_exams asks whether the case's exams have more than one
examiner. So a row inserted or replaced in an entity table (old version and new) reaches every
exam of its case, of its exam, or of its examiner, and nothing else. A load records what it
replaced (`record_replaced`, before the upsert deletes the old rows), finds what it inserted by
its `_load_id`, closes the lot over cases (`touched_cases`), and rebuilds the MERGED_MODELS
for those cases only: their SQL runs unchanged over temporary tables of the same names that
restrict each source to the touched cases. The old rows of those cases are deleted and the
rebuilt rows inserted. A load that touches nothing (the same files again) rebuilds nothing.
"""

from __future__ import annotations

import hashlib

import duckdb

from etl.sql import quote_ident
from queries import (
    CHANGES_DATABASE,
    REBUILT_EXAMS,
    REPLACED_EXAMS,
    table_columns,
    table_exists,
)
from queries.sqlfile import SqlFile

# Per entity, the columns through which one of its rows reaches the merged models.
# decision_counts reaches none of them (fct_decision_counts is rebuilt whole: it is small).
REACH = {
    "examiners": ("examiner_id",),
    "cases": ("case_id",),
    "exams": ("case_id", "exam_id"),
    "decisions": ("case_id",),
    "treating_ratings": ("case_id",),
    "rulings": ("exam_id",),
}
# The models rebuilt for the touched cases and merged, each keyed by exam_id, in build order.
MERGED_MODELS = ("fct_exams", "fct_rating_pairs", "fct_shared_exams")
# The first merged model, rebuilt into the staging database for the scorer (etl.build).
DELTA_TABLE = "fct_exams_delta"
# Above this share of the stored cases touched, a load rebuilds every model whole: deleting
# and inserting most rows costs more than writing them once, and a whole build writes
# fct_exams in its page order again.
MERGE_SHARE = 0.2

TOUCHED_KEYS = "touched_keys"
TOUCHED_CASES = "touched_cases"


def record_replaced(
    con: duckdb.DuckDBPyConnection, entity: str, replaced_sql: str, params: dict
) -> None:
    """Keep the REACH columns of the stored rows of `entity` that `replaced_sql` (a query of
    them) selects: the old versions of the rows a load is about to replace."""
    columns = REACH.get(entity)
    if not columns:
        return
    con.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {TOUCHED_KEYS} "
        "(case_id VARCHAR, exam_id VARCHAR, examiner_id VARCHAR)"
    )
    # Entity and column names from REACH, never from data.
    con.execute(
        f"INSERT INTO {TOUCHED_KEYS} BY NAME SELECT {', '.join(columns)} "
        f"FROM ({replaced_sql})",
        params,
    )


def touched_cases(con: duckdb.DuckDBPyConnection, load_id: int) -> int:
    """Store (TOUCHED_CASES) and count the cases whose derived rows this load may change: those
    of every row it replaced (old version) or wrote (`_load_id`), and of the exams of every
    exam or examiner among them."""
    replaced = table_exists(con, TOUCHED_KEYS, temporary=True)
    keys = [f"SELECT case_id, exam_id, examiner_id FROM {TOUCHED_KEYS}"] if replaced else []
    keys += [
        f"SELECT {', '.join(columns)} FROM {entity} WHERE _load_id = $load_id"
        for entity, columns in REACH.items()
    ]
    union = " UNION ALL BY NAME ".join(keys)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {TOUCHED_CASES} AS
        WITH keys AS MATERIALIZED ({union})
        SELECT case_id FROM keys WHERE case_id IS NOT NULL
        UNION
        SELECT e.case_id FROM exams AS e
        WHERE e.exam_id IN (SELECT exam_id FROM keys WHERE exam_id IS NOT NULL)
            OR e.examiner_id IN (SELECT examiner_id FROM keys WHERE examiner_id IS NOT NULL)
        """,
        {"load_id": load_id},
    )
    return con.execute(f"SELECT count(*) FROM {TOUCHED_CASES}").fetchall()[0][0]


def _restricted_sources(catalog: str) -> dict[str, str]:
    """Each source of the merged models, as a query of the stored rows of the touched cases
    (examiners whole: a few thousand rows), in an order where the rulings come after the exams
    they are read through (the temporary table merge_models keeps of them)."""
    db = f"{quote_ident(catalog)}.main"
    cases = f"(SELECT case_id FROM {TOUCHED_CASES})"
    return {
        "stg_cases": f"FROM {db}.stg_cases WHERE case_id IN {cases}",
        "exams": f"FROM {db}.exams WHERE case_id IN {cases}",
        "decisions": f"FROM {db}.decisions WHERE case_id IN {cases}",
        "treating_ratings": f"FROM {db}.treating_ratings WHERE case_id IN {cases}",
        "rulings": (
            f"FROM {db}.rulings WHERE exam_id IN (SELECT exam_id FROM temp.main.exams)"
        ),
    }


def models_fingerprint(models: dict[str, SqlFile]) -> str:
    """The sha256 of every model's SQL, in name order: what the derived tables were built by."""
    digest = hashlib.sha256()
    for name in sorted(models):
        digest.update(f"{name}\n{models[name].sql}\n".encode())
    return digest.hexdigest()


def record_build(con: duckdb.DuckDBPyConnection, models: dict[str, SqlFile], load_id: int) -> None:
    con.execute(
        "INSERT INTO model_builds VALUES ($load_id, $sha)",
        {"load_id": load_id, "sha": models_fingerprint(models)},
    )


def mergeable(con: duckdb.DuckDBPyConnection, models: dict[str, SqlFile]) -> bool:
    """Whether this load can merge: the derived tables were last built by the model SQL of
    now (a changed model, even one that gives the same columns, builds every row again), and
    the merged models are stored tables of the columns their SQL gives (fct_exams may carry
    the scorer's columns after them)."""
    last = con.execute(
        "SELECT models_sha256 FROM model_builds ORDER BY load_id DESC LIMIT 1"
    ).fetchall()
    if not last or last[0][0] != models_fingerprint(models):
        return False
    for name in MERGED_MODELS:
        if not table_exists(con, name):
            return False
        stored = table_columns(con, name)
        built = [d[0] for d in con.execute(f"DESCRIBE {models[name].sql}").fetchall()]
        if stored[: len(built)] != built or (name != "fct_exams" and stored != built):
            return False
    return True


def merge_models(
    con: duckdb.DuckDBPyConnection, models: dict[str, SqlFile], staging: str
) -> None:
    """Rebuild the MERGED_MODELS for TOUCHED_CASES and merge them by exam_id.

    fct_exams' rebuilt rows are also kept in `staging` (DELTA_TABLE) for the case-mix scorer,
    which fills in their expectations (measures.casemix.store_models, etl.build.
    merge_scored_delta); until then they are stored with those columns empty.
    """
    catalog = con.execute("SELECT current_database()").fetchall()[0][0]
    db = f"{quote_ident(catalog)}.main"
    sources = _restricted_sources(catalog)
    delta = f"{staging}.main.{DELTA_TABLE}"
    shadows = []
    try:
        # Temporary tables of the touched cases' rows shadow the stored tables of the same
        # name for these statements only (their own SQL names the stored ones by catalog):
        # each stored table is read once, where a view would be read by every join on it
        # (exams by three).
        for name, sql in sources.items():
            con.execute(f"CREATE TEMP TABLE {name} AS {sql}")
            shadows.append(f"TABLE temp.main.{name}")
        con.execute(f"CREATE TABLE {delta} AS {models['fct_exams'].sql}")
        con.execute(f"CREATE TEMP VIEW fct_exams AS FROM {delta}")
        shadows.append("VIEW temp.main.fct_exams")
        for name in MERGED_MODELS[1:]:
            con.execute(f"CREATE TEMP TABLE {name}_delta AS {models[name].sql}")
    finally:
        for shadow in shadows:
            con.execute(f"DROP {shadow}")
    # The exams rebuilt, old version and new, in fct_exams.sql's columns, kept for the rest of
    # the load where the default view's cursors read them (queries.store_default_view merges
    # its counts).
    changes = f"{CHANGES_DATABASE}.main"
    columns = ", ".join(table_columns(con, DELTA_TABLE, database=staging))
    replaced = f"{changes}.{REPLACED_EXAMS}"
    con.execute(f"ATTACH ':memory:' AS {CHANGES_DATABASE}")
    con.execute(f"CREATE TABLE {changes}.{REBUILT_EXAMS} AS FROM {delta}")
    # Column names from the table fct_exams.sql made.
    con.execute(
        f"CREATE TABLE {replaced} AS SELECT {columns} FROM {db}.fct_exams "  # noqa: S608
        f"WHERE case_id IN (SELECT case_id FROM {TOUCHED_CASES})"
    )
    for name in MERGED_MODELS:
        rebuilt = delta if name == "fct_exams" else f"temp.main.{name}_delta"
        con.execute(
            f"DELETE FROM {db}.{name} WHERE exam_id IN (SELECT exam_id FROM {replaced})"
        )
        con.execute(f"INSERT INTO {db}.{name} BY NAME FROM {rebuilt}")
        if name != "fct_exams":
            con.execute(f"DROP TABLE {rebuilt}")


def forget_changes(con: duckdb.DuckDBPyConnection) -> None:
    """Drop what merge_models kept of the load's changes (at the end of the load)."""
    con.execute(f"DETACH DATABASE IF EXISTS {CHANGES_DATABASE}")
