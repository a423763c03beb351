"""Examiner reviews (SPEC section 3, "Examiner review"): the right of reply before publication.

A regulator opens a review of one examiner: the examiner's figures in the current snapshot
(every measure, its interval, its flag and the method in words), the snapshot hash, the
method versions and the examiner's audit pack are frozen into the review, with a deadline.
The examiner (role examiner) reads those figures and may reply, with a file attached; a
regulator records a reply that came by mail, and closes the review. Named figures of an
examiner are published only once their review has ended: closed, or expired (the deadline
passed without a close).

Reviews live in their own DuckDB file beside the audit log (``$IME_REVIEWS_DB``, else
``reviews.duckdb`` in the audit database's folder), never in the main database: a load
replaces the main database as a whole, and a review must show the examiner what they were
shown when it was opened, whatever is loaded later. Every change is also an audit entry.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from access import audit
from measures.engine import explain
from measures.registry import EXAMINER_MEASURES, LABELS, MEASURES
from outputs.paths import safe_file_stem

REVIEWS_ENV = "IME_REVIEWS_DB"
DEFAULT_DAYS = 30
MAX_DAYS = 365
# A reply is words and, at most, one document: bounded so that a reply cannot fill the disk.
MAX_REPLY_CHARS = 50_000
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
# Documents people send as a reply. The file is stored as bytes and only ever offered for
# download (as application/octet-stream), never opened, rendered or run by the product.
ATTACHMENT_SUFFIXES = ("pdf", "txt", "docx", "odt", "rtf", "png", "jpg", "jpeg")
STATUSES = ("open", "replied", "closed", "expired")
ENDED = ("closed", "expired")
# The columns of the flags table frozen into a review, when present (others are internal).
FROZEN_COLUMNS = (
    "measure", "n", "observed", "expected", "ratio", "ci_low", "ci_high", "shrunken_ratio",
    "raw_rate", "peer_rate", "peer_group", "p_value", "q_value", "flagged", "direction",
    "eligible",
)

SCHEMA = """
CREATE SEQUENCE IF NOT EXISTS review_ids START 1;
CREATE TABLE IF NOT EXISTS reviews (
    review_id BIGINT PRIMARY KEY,
    examiner_id VARCHAR NOT NULL,
    examiner_name VARCHAR,
    specialty VARCHAR,
    n_exams BIGINT,
    opened_at_utc TIMESTAMP NOT NULL,
    opened_by VARCHAR NOT NULL,
    deadline_utc TIMESTAMP NOT NULL,
    snapshot_sha256 VARCHAR NOT NULL,
    method_versions JSON NOT NULL,
    figures JSON NOT NULL,
    explanation VARCHAR NOT NULL,
    audit_pack_html VARCHAR NOT NULL,
    closed_at_utc TIMESTAMP,
    closed_by VARCHAR
);
CREATE TABLE IF NOT EXISTS review_replies (
    review_id BIGINT NOT NULL,
    reply_no INTEGER NOT NULL,
    at_utc TIMESTAMP NOT NULL,
    received_by VARCHAR NOT NULL,
    channel VARCHAR NOT NULL,
    reply_text VARCHAR NOT NULL,
    file_name VARCHAR,
    file_bytes BLOB,
    PRIMARY KEY (review_id, reply_no)
);
"""


class ReviewError(ValueError):
    """A review action that the review's state or the input does not allow."""


@dataclass(frozen=True)
class Reply:
    """A reply: its words, who recorded it and how (examiner in the dashboard, or by mail)."""

    at_utc: dt.datetime
    received_by: str
    channel: str
    text: str
    file_name: str | None


@dataclass(frozen=True)
class Review:
    """One review with its frozen figures and, when there is one, its latest reply."""

    review_id: int
    examiner_id: str
    examiner_name: str | None
    specialty: str | None
    n_exams: int
    opened_at_utc: dt.datetime
    opened_by: str
    deadline_utc: dt.datetime
    snapshot_sha256: str
    method_versions: dict
    figures: pd.DataFrame
    explanation: str
    closed_at_utc: dt.datetime | None
    closed_by: str | None
    reply: Reply | None

    def status(self, now: dt.datetime | None = None) -> str:
        """closed; expired (deadline passed, not closed); replied; or open."""
        now = audit.utc_now() if now is None else now
        if self.closed_at_utc is not None:
            return "closed"
        if now >= self.deadline_utc:
            return "expired"
        return "replied" if self.reply is not None else "open"

    def ended(self, now: dt.datetime | None = None) -> bool:
        """True once the examiner's figures may be published under their name."""
        return self.status(now) in ENDED

    def days_left(self, now: dt.datetime | None = None) -> int:
        """Whole days until the deadline (rounded up; 0 once it has passed)."""
        now = audit.utc_now() if now is None else now
        return max(0, math.ceil((self.deadline_utc - now).total_seconds() / 86_400))


def reviews_path() -> Path:
    """$IME_REVIEWS_DB, else reviews.duckdb beside the audit database."""
    env = os.environ.get(REVIEWS_ENV)
    return Path(env) if env else audit.audit_path().with_name("reviews.duckdb")


@contextmanager
def _connect(path: Path | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived connection, retrying while another process holds the file."""
    con = audit.connect_when_free(reviews_path() if path is None else Path(path))
    try:
        con.execute(SCHEMA)
        yield con
    finally:
        con.close()


# --- freezing ------------------------------------------------------------------------------


def _frozen_figures(flags: pd.DataFrame, examiner_id: str) -> pd.DataFrame:
    rows = flags[(flags["examiner_id"] == examiner_id)
                 & flags["measure"].isin(EXAMINER_MEASURES)]
    order = {m: i for i, m in enumerate(EXAMINER_MEASURES)}
    rows = rows.sort_values("measure", key=lambda s: s.map(order))
    frozen = rows[[c for c in FROZEN_COLUMNS if c in rows.columns]].reset_index(drop=True)
    frozen.insert(1, "label", frozen["measure"].map(LABELS))
    frozen["words"] = frozen["measure"].map(lambda m: MEASURES[m].words)
    return frozen


def open_review(
    con: duckdb.DuckDBPyConnection,
    examiner_id: str,
    opened_by: str,
    *,
    data,
    build_pack: Callable[[Review], str],
    method_versions: dict,
    days: int = DEFAULT_DAYS,
    path: Path | None = None,
    now: dt.datetime | None = None,
) -> Review:
    """Freeze the examiner's figures of the database `con` reads and open a review.

    `data` is the regulator's panel (outputs.report.PanelData) of that database and
    `build_pack` writes the examiner's audit pack with the pending review's section: the
    report is built by outputs.report.open_review, which calls this, so that storing a review
    never depends on how a report is drawn.

    Refuses (ReviewError) an unknown examiner, a deadline outside 1 to 365 days, and a
    second review of an examiner whose review has not ended.
    """
    if not 1 <= int(days) <= MAX_DAYS:
        raise ReviewError(f"--days must be 1 to {MAX_DAYS}, got {days}")
    current = latest(examiner_id, path=path)
    if current is not None and not current.ended(now):
        raise ReviewError(f"examiner {examiner_id!r} is under review already (review "
                          f"{current.review_id}, {current.status(now)}, deadline "
                          f"{current.deadline_utc:%Y-%m-%d}); close it first")
    if examiner_id not in data.figures.index:
        raise ReviewError(f"no exams of examiner {examiner_id!r} in the database; check the id")
    figures = _frozen_figures(data.flags, examiner_id)
    mine = data.figures.loc[examiner_id]

    opened = audit.utc_now() if now is None else now
    with _connect(path) as rcon:
        # Numbers are drawn from a sequence: two regulators opening at once never share one.
        review_id = rcon.execute("SELECT nextval('review_ids')").fetchall()[0][0]
    record = {
        "review_id": review_id, "examiner_id": examiner_id,
        "examiner_name": mine["examiner_name"] if isinstance(mine["examiner_name"], str) else None,
        "specialty": str(mine["specialty"]), "n_exams": int(mine["n_exams"]),
        "opened_at_utc": opened, "opened_by": opened_by,
        "deadline_utc": opened + dt.timedelta(days=int(days)),
        "snapshot_sha256": data.snapshot_sha256,
        "method_versions": json.dumps(method_versions, sort_keys=True),
        "figures": figures.to_json(orient="records"),
        "explanation": explain(data.flags, examiner_id, data.settings),
    }
    pending = _to_review({**record, "closed_at_utc": None, "closed_by": None}, None)
    # The pack is the regulator's report as it stands now, with the review's own section.
    record["audit_pack_html"] = build_pack(pending)
    with _connect(path) as rcon:
        # Checked again as the row goes in: a review opened meanwhile by someone else wins.
        # Column names are the keys written above; every value is bound.
        columns, values = ", ".join(record), ", ".join(f"${k}" for k in record)
        inserted = rcon.execute(
            f"INSERT INTO reviews ({columns}) SELECT {values} "  # noqa: S608
            "WHERE NOT EXISTS (SELECT 1 FROM reviews "
            "WHERE examiner_id = $examiner_id AND closed_at_utc IS NULL "
            "AND deadline_utc > $opened_at_utc) RETURNING review_id", record,
        ).fetchall()
    if not inserted:
        raise ReviewError(f"examiner {examiner_id!r} was put under review by someone else "
                          "meanwhile; see `ime review list`")
    audit.record("review_opened", opened_by, None, {
        "review_id": review_id, "examiner_id": examiner_id, "days": int(days),
        "deadline_utc": record["deadline_utc"].isoformat(timespec="seconds"),
        "snapshot_sha256": data.snapshot_sha256,
    })
    return pending


# --- reading -------------------------------------------------------------------------------

_REVIEW_SQL = (
    "SELECT review_id, examiner_id, examiner_name, specialty, n_exams, opened_at_utc, "
    "opened_by, deadline_utc, snapshot_sha256, CAST(method_versions AS VARCHAR), "
    "CAST(figures AS VARCHAR), explanation, closed_at_utc, closed_by FROM reviews"
)
_REVIEW_FIELDS = ("review_id", "examiner_id", "examiner_name", "specialty", "n_exams",
                  "opened_at_utc", "opened_by", "deadline_utc", "snapshot_sha256",
                  "method_versions", "figures", "explanation", "closed_at_utc", "closed_by")


def _to_review(record: dict, reply: Reply | None) -> Review:
    versions = record["method_versions"]
    figures = record["figures"]
    return Review(
        review_id=int(record["review_id"]), examiner_id=record["examiner_id"],
        examiner_name=record["examiner_name"], specialty=record["specialty"],
        n_exams=int(record["n_exams"] or 0), opened_at_utc=record["opened_at_utc"],
        opened_by=record["opened_by"], deadline_utc=record["deadline_utc"],
        snapshot_sha256=record["snapshot_sha256"],
        method_versions=json.loads(versions) if isinstance(versions, str) else versions,
        figures=pd.read_json(io.StringIO(figures), orient="records")
        if isinstance(figures, str) else figures,
        explanation=record["explanation"], closed_at_utc=record["closed_at_utc"],
        closed_by=record["closed_by"], reply=reply,
    )


def _latest_replies(con: duckdb.DuckDBPyConnection) -> dict[int, Reply]:
    rows = con.execute(
        "SELECT review_id, at_utc, received_by, channel, reply_text, file_name "
        "FROM review_replies QUALIFY reply_no = max(reply_no) OVER (PARTITION BY review_id)"
    ).fetchall()
    return {r[0]: Reply(r[1], r[2], r[3], r[4], r[5]) for r in rows}


def reviews(examiner_id: str | None = None, *, path: Path | None = None) -> list[Review]:
    """Every review (of one examiner, when given), oldest first."""
    if not (reviews_path() if path is None else Path(path)).exists():
        return []  # reading never creates the store
    with _connect(path) as con:
        rows = con.execute(
            _REVIEW_SQL + " WHERE $e IS NULL OR examiner_id = $e ORDER BY review_id",
            {"e": examiner_id},
        ).fetchall()
        replies = _latest_replies(con)
    return [_to_review(dict(zip(_REVIEW_FIELDS, row, strict=True)), replies.get(row[0]))
            for row in rows]


def latest(examiner_id: str, *, path: Path | None = None) -> Review | None:
    """The examiner's newest review, or None."""
    found = reviews(examiner_id, path=path)
    return found[-1] if found else None


def frozen_audit_pack(review: Review, *, path: Path | None = None) -> str:
    """The audit pack frozen when the review opened, as stored (outputs.report.review_audit_pack
    brings its review section up to date)."""
    with _connect(path) as con:
        rows = con.execute("SELECT audit_pack_html FROM reviews WHERE review_id = $id",
                           {"id": review.review_id}).fetchall()
    return rows[0][0]


def attachment(review: Review, *, path: Path | None = None) -> tuple[str, bytes] | None:
    """The latest reply's attached file (stored name, bytes), or None."""
    with _connect(path) as con:
        rows = con.execute(
            "SELECT file_name, file_bytes FROM review_replies WHERE review_id = $id "
            "AND file_name IS NOT NULL ORDER BY reply_no DESC LIMIT 1",
            {"id": review.review_id},
        ).fetchall()
    return (rows[0][0], bytes(rows[0][1])) if rows else None


# --- replying and closing ------------------------------------------------------------------


def stored_file_name(name: str) -> str:
    """The name an attachment is stored and offered under: a safe stem and a known suffix.

    Raises ReviewError for a suffix not in ATTACHMENT_SUFFIXES.
    """
    stem, dot, suffix = str(name).rpartition(".")
    suffix = suffix.lower()
    if not dot or suffix not in ATTACHMENT_SUFFIXES:
        raise ReviewError(f"attachment {name!r}: send a {', '.join(ATTACHMENT_SUFFIXES)} file")
    return f"reply-{safe_file_stem(stem)}.{suffix}"


def _open_review_of(examiner_id: str, path: Path | None, now: dt.datetime | None) -> Review:
    review = latest(examiner_id, path=path)
    if review is None:
        raise ReviewError(f"examiner {examiner_id!r} has no review; open one with "
                          "`ime review open`")
    if review.ended(now):
        raise ReviewError(f"the review of examiner {examiner_id!r} is {review.status(now)} "
                          f"(review {review.review_id}): it takes no more replies")
    return review


def reply(
    examiner_id: str,
    text: str,
    received_by: str,
    *,
    channel: str,
    attachment_name: str | None = None,
    attachment_bytes: bytes | None = None,
    path: Path | None = None,
    now: dt.datetime | None = None,
) -> Review:
    """Record a reply to the examiner's open review (a later reply supersedes, never erases).

    `channel` is "dashboard" (the examiner's own form) or "mail" (recorded by a regulator).
    """
    text = str(text).strip()
    if not text:
        raise ReviewError("the reply is empty")
    if len(text) > MAX_REPLY_CHARS:
        raise ReviewError(f"the reply has {len(text):,} characters; at most "
                          f"{MAX_REPLY_CHARS:,} (attach a document for more)")
    file_name = None
    if attachment_bytes is not None:
        if len(attachment_bytes) > MAX_ATTACHMENT_BYTES:
            raise ReviewError(f"the attachment has {len(attachment_bytes):,} bytes; at most "
                              f"{MAX_ATTACHMENT_BYTES // 1024 // 1024} MB")
        file_name = stored_file_name(attachment_name or "")
    review = _open_review_of(examiner_id, path, now)
    at = audit.utc_now() if now is None else now
    with _connect(path) as con:
        con.execute(
            "INSERT INTO review_replies SELECT $id, coalesce(max(reply_no), 0) + 1, $at, $by, "
            "$channel, $text, $file_name, $file_bytes FROM review_replies WHERE review_id = $id",
            {"id": review.review_id, "at": at, "by": received_by, "channel": channel,
             "text": text, "file_name": file_name, "file_bytes": attachment_bytes},
        )
    audit.record("review_replied", received_by, None, {
        "review_id": review.review_id, "examiner_id": examiner_id, "channel": channel,
        "characters": len(text), "file_name": file_name,
        "file_bytes": None if attachment_bytes is None else len(attachment_bytes),
    })
    return latest(examiner_id, path=path)


def close(examiner_id: str, closed_by: str, *, path: Path | None = None,
          now: dt.datetime | None = None) -> Review:
    """Close the examiner's review (open, replied or expired); refuses one already closed."""
    review = latest(examiner_id, path=path)
    if review is None:
        raise ReviewError(f"examiner {examiner_id!r} has no review to close")
    if review.closed_at_utc is not None:
        raise ReviewError(f"the review of examiner {examiner_id!r} was closed on "
                          f"{review.closed_at_utc:%Y-%m-%d}")
    at = audit.utc_now() if now is None else now
    with _connect(path) as con:
        con.execute("UPDATE reviews SET closed_at_utc = $at, closed_by = $by "
                    "WHERE review_id = $id", {"at": at, "by": closed_by, "id": review.review_id})
    audit.record("review_closed", closed_by, None, {
        "review_id": review.review_id, "examiner_id": examiner_id,
        "status_before": review.status(at), "has_reply": review.reply is not None,
    })
    return latest(examiner_id, path=path)


def listing(now: dt.datetime | None = None, *, path: Path | None = None) -> pd.DataFrame:
    """Every review, newest first: id, examiner, status, dates, days left, reply channel."""
    rows = [{
        "review_id": r.review_id, "examiner_id": r.examiner_id, "status": r.status(now),
        "opened_at_utc": r.opened_at_utc, "opened_by": r.opened_by,
        "deadline_utc": r.deadline_utc,
        "days_left": None if r.ended(now) else r.days_left(now),
        "replied_at_utc": r.reply.at_utc if r.reply else None,
        "reply_channel": r.reply.channel if r.reply else None,
        "closed_at_utc": r.closed_at_utc,
        "snapshot_sha256": r.snapshot_sha256,
    } for r in reversed(reviews(path=path))]
    return pd.DataFrame(rows, columns=[
        "review_id", "examiner_id", "status", "opened_at_utc", "opened_by", "deadline_utc",
        "days_left", "replied_at_utc", "reply_channel", "closed_at_utc", "snapshot_sha256"])
