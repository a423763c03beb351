"""The audit log: who signed in, viewed an examiner profile or exported what, and when.

The log lives in its own DuckDB file (not the main database, which the dashboard opens
read-only and which a load replaces as a whole), written by short-lived connections so that
the dashboard and the command line can take turns. This module can add and read entries and
offers no way to change or delete one. Each entry also carries a hash of itself and of the
entry before it, so that an edit made outside the app, with DuckDB itself, shows up in
`verify_chain`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd

from queries import Scope

AUDIT_ENV = "IME_AUDIT_DB"
DEFAULT_AUDIT_DB = Path("data") / "audit.duckdb"

EVENTS = (
    "sign_in",
    "sign_in_failed",
    "sign_in_refused",  # refused without checking the password: too many recent failures
    "sign_out",
    "view_examiner",
    "export",
    "user_added",
    "user_removed",
)

# `at` is a reserved word in DuckDB, and the column name says the time zone.
SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_log (
    seq BIGINT PRIMARY KEY,
    at_utc TIMESTAMP NOT NULL,
    username VARCHAR,
    role VARCHAR,
    insurer_ids VARCHAR[],
    event VARCHAR NOT NULL,
    detail JSON NOT NULL,
    prev_hash VARCHAR NOT NULL,
    row_hash VARCHAR NOT NULL
)
"""
GENESIS = "0" * 64
# A failed sign-in records whatever name was typed; keep it bounded.
MAX_NAME = 128
LOCK_TIMEOUT_S = 10.0

# One writer at a time in this process: the next entry's number and hash depend on the last.
_WRITE_LOCK = threading.Lock()


def audit_path() -> Path:
    """$IME_AUDIT_DB, else data/audit.duckdb."""
    return Path(os.environ.get(AUDIT_ENV) or DEFAULT_AUDIT_DB)


@contextmanager
def _connect(path: Path | None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived connection, retrying while another process holds the file."""
    path = audit_path() if path is None else path
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + LOCK_TIMEOUT_S
    pause = 0.02
    while True:
        try:
            con = duckdb.connect(str(path))
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.5)
    try:
        con.execute(SCHEMA)
        yield con
    finally:
        con.close()


def utc_now() -> dt.datetime:
    """The current time in UTC, without a time zone, as the log stores it."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _check_no_claimant(detail: object, where: str = "detail") -> None:
    """Refuse any key that names a claimant: claimant identifiers are never logged."""
    if isinstance(detail, Mapping):
        for key, value in detail.items():
            if "claimant" in str(key).lower():
                raise ValueError(f"audit {where} has key {key!r}: claimant data is never logged")
            _check_no_claimant(value, f"{where}.{key}")
    elif isinstance(detail, list | tuple):
        for item in detail:
            _check_no_claimant(item, where)


def _row_hash(prev_hash: str, seq: int, at: dt.datetime, username: str | None,
              role: str | None, insurer_ids: list[str] | None, event: str, detail: str) -> str:
    payload = json.dumps(
        [prev_hash, seq, at.isoformat(), username, role, insurer_ids, event, detail],
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def record(
    event: str,
    username: str | None,
    scope: Scope | None = None,
    detail: Mapping[str, object] | None = None,
    *,
    path: Path | None = None,
) -> int:
    """Append one entry and return its sequence number.

    Parameters
    ----------
    event : str
        One of `EVENTS`.
    username : str or None
        Who acted (for a failed sign-in, the name typed).
    scope : Scope, optional
        The role and insurer_ids the user acted under; None when not known.
    detail : mapping, optional
        What was done, as JSON: the export and its filters, the examiner id viewed by a
        regulator. A key naming a claimant raises ValueError.
    path : Path, optional
        The audit database; by default `audit_path()`.
    """
    if event not in EVENTS:
        raise ValueError(f"unknown audit event {event!r}: use one of {', '.join(EVENTS)}")
    detail = dict(detail or {})
    _check_no_claimant(detail)
    detail_json = json.dumps(detail, sort_keys=True, default=str)
    name = None if username is None else str(username)[:MAX_NAME]
    role = None if scope is None else scope.role
    insurers = None if scope is None else list(scope.insurer_ids)
    with _WRITE_LOCK, _connect(path) as con:
        con.execute("BEGIN TRANSACTION")
        last = con.execute(
            "SELECT seq, row_hash FROM audit_log ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS)
        at = utc_now()
        row_hash = _row_hash(prev_hash, seq, at, name, role, insurers, event, detail_json)
        con.execute(
            "INSERT INTO audit_log VALUES ($seq, $at_utc, $username, $role, $insurer_ids, "
            "$event, $detail, $prev_hash, $row_hash)",
            {
                "seq": seq, "at_utc": at, "username": name, "role": role, "insurer_ids": insurers,
                "event": event, "detail": detail_json, "prev_hash": prev_hash,
                "row_hash": row_hash,
            },
        )
        con.execute("COMMIT")
    return seq


def read(
    limit: int = 200,
    *,
    event: str | None = None,
    username: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    path: Path | None = None,
) -> pd.DataFrame:
    """The newest entries first, optionally of one event or user, in a UTC time window.

    Returns a frame with columns seq, at_utc, username, role, insurer_ids, event and
    detail (JSON text); at most `limit` rows (1 to 10,000).
    """
    if not 1 <= limit <= 10_000:
        raise ValueError(f"limit must be between 1 and 10,000, got {limit!r}")
    with _connect(path) as con:
        return con.execute(
            "SELECT seq, at_utc, username, role, insurer_ids, event, detail FROM audit_log "
            "WHERE ($event IS NULL OR event = $event) "
            "AND ($username IS NULL OR username = $username) "
            "AND ($since IS NULL OR at_utc >= $since) AND ($until IS NULL OR at_utc <= $until) "
            "ORDER BY seq DESC LIMIT $limit",
            {"event": event, "username": username, "since": since, "until": until,
             "limit": limit},
        ).df()


def recent_failures(
    username: str, since: dt.datetime, *, path: Path | None = None
) -> list[dt.datetime]:
    """Times (UTC, oldest first) of `username`'s failed sign-ins since `since` and its last
    successful sign-in.
    """
    with _connect(path) as con:
        rows = con.execute(
            "SELECT at_utc FROM audit_log WHERE username = $u AND event = 'sign_in_failed' "
            "AND at_utc >= $since AND seq > coalesce((SELECT max(seq) FROM audit_log "
            "WHERE username = $u AND event = 'sign_in'), 0) ORDER BY seq",
            {"u": str(username)[:MAX_NAME], "since": since},
        ).fetchall()
    return [row[0] for row in rows]


def verify_chain(*, path: Path | None = None) -> int | None:
    """The number of the first entry changed, removed or inserted outside this module, or None.

    Each entry's hash covers the entry before it, so any edit breaks the chain from there on;
    removing the newest entries leaves no trace in the chain, however.
    """
    with _connect(path) as con:
        rows = con.execute(
            "SELECT seq, at_utc, username, role, insurer_ids, event, CAST(detail AS VARCHAR), "
            "prev_hash, row_hash FROM audit_log ORDER BY seq"
        ).fetchall()
    prev_hash, expected_seq = GENESIS, 1
    for seq, at, username, role, insurers, event, detail, prev, row_hash in rows:
        recomputed = _row_hash(prev_hash, seq, at, username, role, insurers, event, detail)
        if seq != expected_seq or prev != prev_hash or row_hash != recomputed:
            return seq
        prev_hash, expected_seq = row_hash, seq + 1
    return None
