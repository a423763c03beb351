"""The audit log: who signed in, viewed an examiner profile or exported what, and when.

The log lives in its own DuckDB file (not the main database, which the dashboard opens
read-only and which a load replaces as a whole), written by short-lived connections so that
the dashboard and the command line can take turns. This module can add and read entries and
offers no way to change or delete one. (Beside the log, the same file holds the password
sign-in attempts of the last minutes, which the rate limit counts: see `begin_sign_in`.)

Tamper evidence
---------------
Each entry carries an HMAC-SHA256 of itself and of the hash of the entry before it, keyed
with a secret kept outside the database: ``audit.key`` beside the pseudonymisation key
(``$IME_KEY_FILE``, default ``~/.config/ime/pseudonym.key``), created readable by its owner
only on first use. Whoever can write the database file but not read the key cannot edit,
insert or renumber an entry with hashes that still verify. The newest entry's number and
hash are also kept outside the log, in ``audit-head-<id>.json`` in the same folder (one per
audit database, named after its absolute path, replaced atomically after every append), so
that removing the newest entries is caught too. `verify` (and ``ime audit verify``, and the
Audit log page) checks the whole chain and names the first bad entry.

An entry is appended first and the head file updated after its transaction commits (both
while the database file is held, so writers stay in order). A crash between the two leaves
the head one entry behind; the newer entry still carries a valid keyed hash, and `verify`
accepts keyed entries after the recorded head.

Logs written before the chain was keyed
---------------------------------------
Entries written by the older code carry a plain (unkeyed) SHA-256 chain. They are kept and
checked with that rule as "legacy" entries 1 to L. The first keyed entry's HMAC covers the
hash of legacy entry L, so once one keyed entry follows them, an edit of a legacy entry with
recomputed plain hashes breaks the link to the first keyed entry and is reported there (the
changed legacy entry itself cannot be named). L is stored in the head file when the first
keyed entry is written, so a keyed entry later rewritten as a plain one is reported as
edited. A log holding legacy entries only (no entry written since this change) verifies as
"unkeyed legacy up to entry N": plain hashes show accidental edits but not deliberate ones,
until the next entry seals them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from etl.privacy import key_path
from queries import Scope

AUDIT_ENV = "IME_AUDIT_DB"
DEFAULT_AUDIT_DB = Path("data") / "audit.duckdb"
KEY_NAME = "audit.key"

EVENTS = (
    "sign_in",
    "sign_in_failed",
    "sign_in_refused",  # refused without checking the password: too many recent failures
    "sign_out",
    "view_examiner",
    "export",
    "user_added",
    "user_removed",
    # Examiner reviews (access.reviews) and the public site (outputs.publish).
    "review_opened",
    "review_replied",
    "review_closed",
    "published",
    "watchlist_follow",  # a regulator follows an examiner (access.watchlist)
    "watchlist_unfollow",
    "watchlist_seen",  # a regulator has looked at the watchlist's changes as of a load
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
# Password sign-ins being checked or checked lately, for the rate limit (access.auth.verify):
# not part of the log, but kept in its file so that one transaction counts and adds them.
# `succeeded` is NULL while the password is being checked; rows older than the window go.
ATTEMPTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS sign_in_attempts (
    attempt_id BIGINT PRIMARY KEY,
    at_utc TIMESTAMP NOT NULL,
    username VARCHAR NOT NULL,
    address VARCHAR NOT NULL,
    succeeded BOOLEAN
)
"""
GENESIS = "0" * 64
# A failed sign-in records whatever name was typed; keep it bounded.
MAX_NAME = 128
LOCK_TIMEOUT_S = 10.0
# Domain labels: an entry's HMAC never equals the head file's, nor any other use of the key.
ENTRY_LABEL = "access.audit.entry.v2"
HEAD_LABEL = "access.audit.head.v2"

# One writer at a time in this process: the next entry's number and hash depend on the last.
# (Across processes, DuckDB's lock on the file does the same while a connection is open.)
_WRITE_LOCK = threading.Lock()
# Two connections of one process creating the table at once conflict in DuckDB's catalog.
_SCHEMA_LOCK = threading.Lock()

# Every entry, oldest first, with the fields its hash covers, then prev_hash and row_hash.
_ENTRIES_SQL = ("SELECT seq, at_utc, username, role, insurer_ids, event, "
                "CAST(detail AS VARCHAR), prev_hash, row_hash FROM audit_log ORDER BY seq")


def audit_path() -> Path:
    """$IME_AUDIT_DB, else data/audit.duckdb."""
    return Path(os.environ.get(AUDIT_ENV) or DEFAULT_AUDIT_DB)


def key_file() -> Path:
    """The audit key: ``audit.key`` in the pseudonymisation key's folder."""
    return key_path().parent / KEY_NAME


def head_file(path: Path | None = None) -> Path:
    """Where the newest entry of the audit database `path` is recorded, beside the key."""
    path = audit_path() if path is None else path
    digest = hashlib.sha256(str(Path(path).resolve()).encode("utf-8")).hexdigest()[:16]
    return key_file().parent / f"audit-head-{digest}.json"


def _read_key() -> bytes | None:
    path = key_file()
    if not path.exists():
        return None
    text = path.read_text(encoding="ascii").strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < 32:
        raise ValueError(f"{path}: not an audit key (expected 64 hex digits); restore the "
                         "original file, or the log's keyed entries cannot be checked")
    return key


def _create_key() -> bytes:
    """The audit key, created (readable by its owner only) when there is none yet."""
    key = _read_key()
    if key is not None:
        return key
    path = key_file()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # O_EXCL: two first writers at once must not end up with two different keys.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key()
    key = os.urandom(32)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key.hex() + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return key


def connect_when_free(path: Path) -> duckdb.DuckDBPyConnection:
    """A connection to the DuckDB file `path` (the audit log, reviews, a watchlist: each a file
    several processes write), retrying with backoff while another process holds its lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + LOCK_TIMEOUT_S
    pause = 0.02
    while True:
        try:
            return duckdb.connect(str(path))
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.5)


@contextmanager
def _connect(path: Path | None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived connection, retrying while another process holds the file."""
    con = connect_when_free(audit_path() if path is None else path)
    try:
        with _SCHEMA_LOCK:
            con.execute(SCHEMA + ";" + ATTEMPTS_SCHEMA)
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


def _payload(prev_hash: str, seq: int, at: dt.datetime, username: str | None,
             role: str | None, insurer_ids: Sequence[str] | None, event: str,
             detail: str) -> list:
    insurers = None if insurer_ids is None else list(insurer_ids)
    return [prev_hash, seq, at.isoformat(), username, role, insurers, event, detail]


def _legacy_hash(*fields) -> str:
    """The unkeyed SHA-256 of an entry, as entries written before the keyed chain carry."""
    payload = json.dumps(_payload(*fields), separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _keyed_hash(key: bytes, *fields) -> str:
    """HMAC-SHA256 of an entry and the hash of the one before it."""
    payload = json.dumps([ENTRY_LABEL, *_payload(*fields)], separators=(",", ":"))
    return hmac.new(key, payload.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class _Head:
    seq: int
    row_hash: str
    legacy_until: int


def _head_mac(key: bytes, db: str, seq: int, row_hash: str, legacy_until: int) -> str:
    payload = json.dumps([HEAD_LABEL, db, seq, row_hash, legacy_until], separators=(",", ":"))
    return hmac.new(key, payload.encode("utf-8"), hashlib.sha256).hexdigest()


def _read_head(path: Path, key: bytes | None) -> _Head | None:
    """The recorded newest entry of `path`; None when none is recorded.

    Raises ValueError when the file exists but is not one this module wrote with this key.
    """
    file = head_file(path)
    if not file.exists():
        return None
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        head = _Head(int(data["seq"]), str(data["row_hash"]), int(data["legacy_until"]))
        mac = str(data["mac"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{file}: not a record of the newest audit entry ({exc})") from exc
    if key is None:
        raise ValueError(f"{file} records entry {head.seq}, but the audit key {key_file()} "
                         "is missing: restore it to check the log")
    expected = _head_mac(key, str(Path(path).resolve()), head.seq, head.row_hash,
                         head.legacy_until)
    if not hmac.compare_digest(mac, expected):
        raise ValueError(f"{file}: the record of the newest entry was changed (its keyed hash "
                         "does not match)")
    return head


def _write_head(path: Path, key: bytes, head: _Head) -> None:
    """Replace the head file atomically (written to a temporary file, then os.replace)."""
    file = head_file(path)
    db = str(Path(path).resolve())
    data = {"audit_db": db, "seq": head.seq, "row_hash": head.row_hash,
            "legacy_until": head.legacy_until,
            "mac": _head_mac(key, db, head.seq, head.row_hash, head.legacy_until)}
    fd, tmp = tempfile.mkstemp(prefix=".audit-head-", dir=file.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, file)
    except BaseException:
        os.unlink(tmp)
        raise


def _legacy_prefix(con: duckdb.DuckDBPyConnection, key: bytes) -> int:
    """How many entries precede the first keyed one (all of them when none is keyed)."""
    last_legacy = 0
    for row in con.execute(_ENTRIES_SQL).fetchall():
        *fields, prev, row_hash = row
        if row_hash == _keyed_hash(key, prev, *fields):
            break
        last_legacy = row[0]
    return last_legacy


def _append(con: duckdb.DuckDBPyConnection, key: bytes, after: int, event: str,
            username: str | None, scope: Scope | None, detail: Mapping[str, object]) -> int:
    """Add one entry inside the caller's transaction and return its number.

    The number follows the newest entry in the log and never falls back to or below `after`,
    the newest recorded in the head file: should entries have been removed from the end,
    the next entry leaves the gap in view instead of taking their numbers.
    """
    if event not in EVENTS:
        raise ValueError(f"unknown audit event {event!r}: use one of {', '.join(EVENTS)}")
    detail = dict(detail or {})
    _check_no_claimant(detail)
    detail_json = json.dumps(detail, sort_keys=True, default=str)
    name = None if username is None else str(username)[:MAX_NAME]
    role = None if scope is None else scope.role
    insurers = None if scope is None else list(scope.insurer_ids)
    last = con.execute("SELECT seq, row_hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS)
    seq = max(seq, after + 1)
    at = utc_now()
    row_hash = _keyed_hash(key, prev_hash, seq, at, name, role, insurers, event, detail_json)
    con.execute(
        "INSERT INTO audit_log VALUES ($seq, $at_utc, $username, $role, $insurer_ids, "
        "$event, $detail, $prev_hash, $row_hash)",
        {
            "seq": seq, "at_utc": at, "username": name, "role": role, "insurer_ids": insurers,
            "event": event, "detail": detail_json, "prev_hash": prev_hash,
            "row_hash": row_hash,
        },
    )
    return seq


@contextmanager
def _writing(path: Path | None) -> Iterator[tuple[duckdb.DuckDBPyConnection, bytes, int]]:
    """One locked write transaction; on commit, the head file records the newest entry.

    Yields the connection, the audit key and the number of the newest entry on record.
    """
    path = audit_path() if path is None else path
    with _WRITE_LOCK, _connect(path) as con:
        head = _read_head(path, _read_key())
        key = _create_key()
        if head is None and con.execute("SELECT count(*) FROM audit_log").fetchone()[0]:
            # The first keyed entry after older, unkeyed ones (or a lost head file).
            legacy_until = _legacy_prefix(con, key)
        else:
            legacy_until = 0 if head is None else head.legacy_until
        con.execute("BEGIN TRANSACTION")
        try:
            yield con, key, 0 if head is None else head.seq
            newest = con.execute(
                "SELECT seq, row_hash FROM audit_log ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            con.execute("COMMIT")
        except BaseException:
            try:
                con.execute("ROLLBACK")
            except duckdb.Error:  # a failed COMMIT has rolled back already
                pass
            raise
        if newest is not None and (head is None or newest[0] != head.seq):
            # Still holding the file, so heads are written in the order entries were.
            _write_head(path, key, _Head(newest[0], newest[1], legacy_until))


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
    if event not in EVENTS:  # checked before the key is made or the log opened
        raise ValueError(f"unknown audit event {event!r}: use one of {', '.join(EVENTS)}")
    _check_no_claimant(detail or {})
    with _writing(path) as (con, key, after):
        return _append(con, key, after, event, username, scope, detail or {})


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


# --- sign-in attempts: counted and added in one step ------------------------------------


@dataclass(frozen=True)
class SignInHistory:
    """Password sign-in attempts that count toward a rate limit: their times, oldest first.

    An attempt counts from the moment it is added (before its password is checked) unless
    it succeeds. ``by_user`` holds the username's attempts from any address since its last
    successful sign-in; ``by_user_and_address`` those of them from this address;
    ``by_address`` every attempt from this address, for any username, that did not succeed.
    """

    by_user: tuple[dt.datetime, ...]
    by_user_and_address: tuple[dt.datetime, ...]
    by_address: tuple[dt.datetime, ...]


@dataclass(frozen=True)
class Attempt:
    """A sign-in attempt: its id (None when refused) and, when refused, seconds to wait."""

    attempt_id: int | None
    retry_after_s: int = 0

    @property
    def refused(self) -> bool:
        """True when the attempt was refused without checking the password."""
        return self.attempt_id is None


_ATTEMPTS_SQL = """
SELECT at_utc,
       username = $u AND attempt_id > coalesce((SELECT max(attempt_id) FROM sign_in_attempts
                                                WHERE username = $u AND succeeded), 0),
       address = $addr,
       coalesce(succeeded, false)
FROM sign_in_attempts
WHERE at_utc >= $since
ORDER BY attempt_id
"""


def begin_sign_in(
    username: str,
    address: str,
    decide: Callable[[SignInHistory, dt.datetime], int],
    *,
    since: dt.datetime,
    detail: Mapping[str, object] | None = None,
    path: Path | None = None,
) -> Attempt:
    """Count the recent attempts and add this one, in one step no other writer can split.

    Parameters
    ----------
    username, address : str
        The name typed and the client's address.
    decide : callable
        Given the `SignInHistory` since `since` (without this attempt) and the time now
        (taken once the file is held), the seconds the client must wait, 0 to go ahead.
    since : datetime
        The start of the rate-limit window (UTC); older attempts are dropped.
    detail : mapping, optional
        What to log with a refusal (e.g. the method).
    path : Path, optional
        The audit database; by default `audit_path()`.

    Returns
    -------
    Attempt
        When allowed, the id of the attempt, counted from now on (pass it to
        `finish_sign_in` once the password is checked); when refused, a ``sign_in_refused``
        entry is logged and the seconds to wait returned. The count and the new attempt are
        made under the process's write lock, inside one transaction, while this process
        holds the database file, so N parallel attempts see 0, 1, ..., N-1 earlier ones.
    """
    name = str(username)[:MAX_NAME]
    address = str(address)[:MAX_NAME]
    with _writing(path) as (con, key, after):
        con.execute("DELETE FROM sign_in_attempts WHERE at_utc < $since", {"since": since})
        rows = con.execute(_ATTEMPTS_SQL, {"u": name, "addr": address, "since": since}).fetchall()
        history = SignInHistory(
            by_user=tuple(at for at, user, _, _ in rows if user),
            by_user_and_address=tuple(at for at, user, here, _ in rows if user and here),
            by_address=tuple(at for at, _, here, won in rows if here and not won),
        )
        now = utc_now()
        wait = max(0, int(decide(history, now)))
        if wait:
            _append(con, key, after, "sign_in_refused", name, None,
                    {**(detail or {}), "address": address, "retry_after_s": wait})
            return Attempt(None, wait)
        attempt_id = con.execute(
            "INSERT INTO sign_in_attempts SELECT coalesce(max(attempt_id), 0) + 1, $at, $u, "
            "$addr, NULL FROM sign_in_attempts RETURNING attempt_id",
            {"at": now, "u": name, "addr": address},
        ).fetchone()[0]
    return Attempt(attempt_id)


def finish_sign_in(
    attempt: Attempt,
    event: str,
    username: str,
    scope: Scope | None = None,
    detail: Mapping[str, object] | None = None,
    *,
    path: Path | None = None,
) -> int:
    """Log the outcome of an attempt (``sign_in`` or ``sign_in_failed``) and return its entry.

    A successful attempt stops counting toward the limits, and clears the username's
    earlier failures; a failed one goes on counting until it leaves the window.
    """
    if event not in ("sign_in", "sign_in_failed") or attempt.refused:
        raise ValueError(f"an allowed attempt ends in sign_in or sign_in_failed, not {event!r}")
    with _writing(path) as (con, key, after):
        con.execute("UPDATE sign_in_attempts SET succeeded = $ok WHERE attempt_id = $id",
                    {"ok": event == "sign_in", "id": attempt.attempt_id})
        return _append(con, key, after, event, username, scope, detail or {})


# --- verification -----------------------------------------------------------------------


@dataclass(frozen=True)
class ChainCheck:
    """The outcome of `verify`: intact, or the first bad entry and what is wrong with it.

    ``problem`` is None when intact, else one of "edited", "inserted", "removed",
    "newest entry missing", "head record missing", "head record invalid", "key missing",
    "key invalid".
    ``seq`` names the first bad entry (for "removed", the first missing number).
    Entries 1 to ``legacy_until`` predate the keyed chain (see the module's notes).
    """

    n_entries: int
    legacy_until: int = 0
    seq: int | None = None
    problem: str | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        """True when the chain is intact."""
        return self.problem is None

    def message(self) -> str:
        """One line for people: "N entries, chain intact", or the first bad entry."""
        if self.ok:
            text = f"{self.n_entries:,} entries, chain intact"
            if self.legacy_until == self.n_entries and self.n_entries:
                text += (f"; unkeyed legacy up to entry {self.legacy_until}: written before the "
                         "keyed chain, so an edit with recomputed hashes would not show until "
                         "the next entry seals them")
            elif self.legacy_until:
                text += (f"; entries 1 to {self.legacy_until} are unkeyed legacy entries, "
                         f"sealed by keyed entry {self.legacy_until + 1}")
            return text
        where = f"entry {self.seq}" if self.seq is not None else "the log"
        return f"{where}: {self.problem}: {self.detail}"


def verify(*, path: Path | None = None) -> ChainCheck:
    """Check the audit chain end to end, against the audit key and the recorded head.

    Each entry must carry the keyed hash of its own fields and of the entry before it (or,
    up to the recorded legacy boundary, the plain hash of older logs), numbers must run
    1, 2, 3, ... without a gap, and the newest entry recorded in the head file must still
    be there with the same hash. The first entry that breaks a rule is reported:

    - edited: its fields or hash were changed (a plain SHA-256 recomputed where a keyed
      hash belongs is an edit), or it no longer links to the entry before it;
    - inserted: it was not written by the app: after the recorded newest entry, or between
      two entries that link to each other once it is skipped (later ones renumbered);
    - removed: entries are missing before it (by number, or renumbered to hide the gap);
    - newest entry missing: the log ends before the entry the head file records.
    """
    path = audit_path() if path is None else path
    with _WRITE_LOCK, _connect(path) as con:
        rows = con.execute(_ENTRIES_SQL).fetchall()
        try:
            key = _read_key()
        except ValueError as exc:
            return ChainCheck(len(rows), problem="key invalid", detail=str(exc))
        if key is None and head_file(path).exists():
            return ChainCheck(len(rows), problem="key missing",
                              detail=f"the audit key {key_file()} is missing, so the keyed "
                                     "entries cannot be checked; restore it from a backup")
        try:
            head = _read_head(path, key)
        except ValueError as exc:
            return ChainCheck(len(rows), problem="head record invalid", detail=str(exc))
    return _check_rows(rows, key, head, head_file(path))


def _check_rows(rows: list[tuple], key: bytes | None, head: _Head | None,
                head_path: Path) -> ChainCheck:
    n = len(rows)

    def keyed(row: tuple, seq: int | None = None, prev: str | None = None) -> bool:
        """True when the app wrote `row` (as entry `seq`, after hash `prev`, if given)."""
        if key is None:
            return False
        *fields, stored_prev, row_hash = row
        if seq is not None:
            fields[0] = seq
        expected = _keyed_hash(key, stored_prev if prev is None else prev, *fields)
        return hmac.compare_digest(row_hash, expected)

    def plain(row: tuple) -> bool:
        *fields, prev, row_hash = row
        return row_hash == _legacy_hash(prev, *fields)

    prev_hash, expected_seq, seen_keyed, last_legacy = GENESIS, 1, False, 0
    for i, row in enumerate(rows):
        seq, prev = row[0], row[-2]
        legacy_allowed = (seq <= head.legacy_until) if head else not seen_keyed
        if keyed(row):
            kind = "keyed"
        elif legacy_allowed and plain(row):
            kind = "legacy"
        else:
            kind = None

        if kind is None:
            nxt = rows[i + 1] if i + 1 < n else None
            if key is None:
                return ChainCheck(n, last_legacy, seq, "key missing",
                                  f"it is not an unkeyed legacy entry, and the audit key "
                                  f"{key_file()} that would check it is missing")
            if head is not None and seq > head.seq:
                return ChainCheck(n, last_legacy, seq, "inserted",
                                  f"added after entry {head.seq}, the newest the app wrote, "
                                  "without the audit key (its keyed hash does not match)")
            if nxt is not None and keyed(nxt, seq, prev_hash):
                return ChainCheck(n, last_legacy, seq, "inserted",
                                  f"not written by the app: entry {seq + 1} is the app's entry "
                                  f"{seq}, renumbered, and follows entry {seq - 1} directly")
            if keyed(row, seq + 1):
                return ChainCheck(n, last_legacy, seq, "removed",
                                  f"the app's entry {seq} is missing: this is its entry "
                                  f"{seq + 1}, renumbered to hide the gap")
            what = ("a plain SHA-256 stands where the keyed hash belongs"
                    if plain(row) else "its keyed hash does not match its fields")
            return ChainCheck(n, last_legacy, seq, "edited",
                              f"changed outside the app ({what})")
        if seq > expected_seq:
            missing = (f"entry {expected_seq} is" if seq == expected_seq + 1
                       else f"entries {expected_seq} to {seq - 1} are")
            return ChainCheck(n, last_legacy, expected_seq, "removed",
                              f"{missing} missing (the log goes on at entry {seq})")
        if seq < expected_seq:
            return ChainCheck(n, last_legacy, seq, "inserted",
                              f"a second entry numbered {seq}")
        if prev != prev_hash:
            where = (f"an unkeyed legacy entry at or before {seq - 1} was changed"
                     if last_legacy == seq - 1 and seq > 1 else f"entry {seq - 1} was replaced")
            return ChainCheck(n, last_legacy, seq, "edited",
                              f"it does not follow the entry before it: {where}")
        seen_keyed = seen_keyed or kind == "keyed"
        if kind == "legacy":
            last_legacy = seq
        prev_hash, expected_seq = row[-1], seq + 1

    last_seq = rows[-1][0] if rows else 0
    if head is None:
        if seen_keyed:
            return ChainCheck(n, last_legacy, last_seq, "head record missing",
                              f"{head_path} is missing, so removal of the newest entries "
                              "cannot be ruled out")
        return ChainCheck(n, last_legacy)
    if head.seq > last_seq:
        missing = (f"entry {head.seq}, the newest the app wrote, is" if head.seq == last_seq + 1
                   else f"entries {last_seq + 1} to {head.seq} (the newest the app wrote) are")
        return ChainCheck(n, last_legacy, last_seq + 1, "newest entry missing",
                          f"{missing} gone from the log (recorded in {head_path})")
    recorded = next((row for row in rows if row[0] == head.seq), None)
    if recorded is None or recorded[-1] != head.row_hash:
        return ChainCheck(n, last_legacy, head.seq, "edited",
                          f"it is not the entry recorded as the newest in {head_path}")
    return ChainCheck(n, last_legacy)
