"""The regulator's watchlist: the examiners each user follows, and what changed in their flags
since the user last looked.

A user's watchlist is theirs alone and outlives every load, so it is not kept in the main
database (which a load replaces whole, and which the dashboard opens read-only) but in a
DuckDB file of its own beside the audit log: ``$IME_WATCHLIST_DB``, else ``watchlist.duckdb``
in the audit log's folder. Each entry remembers the load whose flags the user last looked at
(`seen_load_id`); what changed is the difference between that load's flags and the latest
load's, from the flag history (measures.engine.flag_history). Following, unfollowing and
marking as seen are recorded in the audit log.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd

from access import audit
from queries import Scope

WATCHLIST_ENV = "IME_WATCHLIST_DB"
SCHEMA = """
CREATE TABLE IF NOT EXISTS watchlist (
    username VARCHAR NOT NULL,
    examiner_id VARCHAR NOT NULL,
    added_at_utc TIMESTAMP NOT NULL,
    seen_load_id BIGINT,
    PRIMARY KEY (username, examiner_id)
)
"""


def watchlist_path() -> Path:
    """$IME_WATCHLIST_DB, else watchlist.duckdb beside the audit log."""
    return Path(os.environ.get(WATCHLIST_ENV) or audit.audit_path().parent / "watchlist.duckdb")


@contextmanager
def _connect(path: Path | None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived connection, retrying while another process holds the file."""
    con = audit.connect_when_free(watchlist_path() if path is None else path)
    try:
        con.execute(SCHEMA)
        yield con
    finally:
        con.close()


def follow(username: str, scope: Scope, examiner_id: str, seen_load_id: int | None,
           *, path: Path | None = None) -> None:
    """Add the examiner to the user's watchlist, as seen at `seen_load_id` (the latest load)."""
    with _connect(path) as con:
        con.execute(
            "INSERT INTO watchlist VALUES ($user, $examiner, $at, $seen) ON CONFLICT DO NOTHING",
            {"user": username, "examiner": examiner_id, "at": audit.utc_now(),
             "seen": seen_load_id},
        ).fetchall()
    audit.record("watchlist_follow", username, scope, {"examiner_id": examiner_id})


def unfollow(username: str, scope: Scope, examiner_id: str, *, path: Path | None = None) -> None:
    """Remove the examiner from the user's watchlist."""
    with _connect(path) as con:
        con.execute(
            "DELETE FROM watchlist WHERE username = $user AND examiner_id = $examiner",
            {"user": username, "examiner": examiner_id},
        ).fetchall()
    audit.record("watchlist_unfollow", username, scope, {"examiner_id": examiner_id})


def mark_seen(username: str, scope: Scope, load_id: int, *, path: Path | None = None) -> None:
    """The user has looked at every followed examiner's flags as of `load_id`."""
    with _connect(path) as con:
        con.execute(
            "UPDATE watchlist SET seen_load_id = $load WHERE username = $user",
            {"user": username, "load": load_id},
        ).fetchall()
    audit.record("watchlist_seen", username, scope, {"load_id": load_id})


def watched(username: str, *, path: Path | None = None) -> pd.DataFrame:
    """The user's watchlist: examiner_id, added_at_utc, seen_load_id, in id order (empty, and
    no file made, before anyone follows anyone)."""
    if not (watchlist_path() if path is None else path).exists():
        return pd.DataFrame(columns=["examiner_id", "added_at_utc", "seen_load_id"])
    with _connect(path) as con:
        return con.execute(
            "SELECT examiner_id, added_at_utc, seen_load_id FROM watchlist "
            "WHERE username = $user ORDER BY examiner_id",
            {"user": username},
        ).df()


def changes(entries: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """What changed for each followed examiner between the load the user last looked at and
    the latest load of the flag history.

    `entries` is `watched`; `history` is the flag history (load_id, examiner_id, measure,
    flagged, direction, ...). One row per followed examiner: examiner_id, seen_load_id,
    latest_load_id, flagged_now, raised, cleared (lists of 'measure (side)'), and `changed`.
    """
    latest = int(history["load_id"].max()) if not history.empty else None
    flagged = history[history["flagged"].fillna(False).astype(bool)]
    rows = []
    for e in entries.itertuples():
        def flags_at(load_id, examiner=e.examiner_id) -> set[str]:
            mine = flagged[(flagged["load_id"] == load_id) & (flagged["examiner_id"] == examiner)]
            return {f"{m} ({d})" for m, d in zip(mine["measure"], mine["direction"], strict=True)}

        now = flags_at(latest)
        seen = e.seen_load_id
        then = flags_at(seen) if pd.notna(seen) else set()
        raised, cleared = sorted(now - then), sorted(then - now)
        rows.append({
            "examiner_id": e.examiner_id,
            "seen_load_id": seen,
            "latest_load_id": latest,
            "flagged_now": ", ".join(sorted(now)),
            "raised": ", ".join(raised),
            "cleared": ", ".join(cleared),
            "changed": bool(raised or cleared),
        })
    columns = ["examiner_id", "seen_load_id", "latest_load_id", "flagged_now", "raised",
               "cleared", "changed"]
    return pd.DataFrame(rows, columns=columns)
