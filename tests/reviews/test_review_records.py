"""Review records: frozen figures, statuses, replies, attachments, the audit log and the CLI.

Expected values are read straight from the database (the flags `ime load` stored, the file's
sha256 by hashlib) or fixed by hand (dates), never from access.reviews itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil

import duckdb
import pytest

from access import audit, reviews
from devtools.demo import generate
from etl.load import load
from ime.cli import main
from measures.engine import store_flags
from outputs import report
from outputs.report import write_report
from queries import FULL_ACCESS

T0 = dt.datetime(2026, 3, 2, 9, 0)


def _stored_flags(con, examiner_id: str) -> dict[str, tuple]:
    """The examiner's stored flags, straight from the table `ime load` wrote."""
    rows = con.execute(
        "SELECT measure, n, observed, ratio, ci_low, ci_high, flagged FROM examiner_flags "
        "WHERE examiner_id = $e AND measure <> 'decision_counts'", {"e": examiner_id}
    ).fetchall()
    return {r[0]: r[1:] for r in rows}


def test_open_freezes_every_measure_with_the_snapshot_and_a_30_day_deadline(
        con, review_db, busiest):
    examiner = busiest[0]
    review = report.open_review(con, examiner, "cli:alice", now=T0)
    expected = _stored_flags(con, examiner)
    frozen = review.figures.set_index("measure")
    assert set(frozen.index) == set(expected)
    for measure, (n, observed, ratio, low, high, flagged) in expected.items():
        row = frozen.loc[measure]
        assert int(row["n"]) == n and row["observed"] == pytest.approx(observed)
        assert row["ratio"] == pytest.approx(ratio) and row["ci_low"] == pytest.approx(low)
        assert row["ci_high"] == pytest.approx(high) and bool(row["flagged"]) == bool(flagged)
        assert row["words"] and row["label"]
    assert review.snapshot_sha256 == hashlib.sha256(review_db.read_bytes()).hexdigest()
    assert review.deadline_utc == dt.datetime(2026, 4, 1, 9, 0)  # 30 days after 2 March
    assert review.opened_by == "cli:alice"
    assert "oe_interval" in review.method_versions and "adverse_opinion" in review.method_versions
    # Read back from the store, not the object returned.
    stored = reviews.latest(examiner)
    assert stored.figures.equals(review.figures) and stored.explanation.startswith(
        f"Examiner {examiner}")


def test_a_later_load_changes_nothing_a_review_froze(tmp_path, review_db, busiest):
    db = tmp_path / "ime.duckdb"
    shutil.copy(review_db, db)
    examiner = busiest[0]
    with duckdb.connect(str(db), read_only=True) as first:
        before = report.open_review(first, examiner, "cli:alice", days=10)
    pack_before = report.review_audit_pack(before)
    generate(tmp_path / "other", n_exams=3000, seed=7)
    load([tmp_path / "other"], db, progress=False, after_build=store_flags)
    with duckdb.connect(str(db), read_only=True) as second:
        now_flags = _stored_flags(second, examiner)
    after = reviews.latest(examiner)
    assert hashlib.sha256(db.read_bytes()).hexdigest() != before.snapshot_sha256
    assert after.snapshot_sha256 == before.snapshot_sha256
    assert after.figures.equals(before.figures)
    assert report.review_audit_pack(after) == pack_before
    frozen = before.figures.set_index("measure")
    # The new data really differ: otherwise the test would prove nothing.
    assert any(int(frozen.loc[m, "n"]) != v[0] for m, v in now_flags.items() if m in frozen.index)


def test_status_runs_open_replied_expired_closed(con, busiest):
    examiner = busiest[1]
    report.open_review(con, examiner, "cli:alice", days=2, now=T0)
    assert reviews.latest(examiner).status(T0 + dt.timedelta(hours=1)) == "open"
    assert reviews.latest(examiner).days_left(T0 + dt.timedelta(hours=1)) == 2
    with pytest.raises(reviews.ReviewError, match="under review already"):
        report.open_review(con, examiner, "cli:bob", now=T0 + dt.timedelta(days=1))
    reviews.reply(examiner, "My cases are the hardest.", "ex-b", channel="dashboard",
                  now=T0 + dt.timedelta(days=1))
    review = reviews.latest(examiner)
    assert review.status(T0 + dt.timedelta(days=1, hours=1)) == "replied"
    assert review.status(T0 + dt.timedelta(days=2)) == "expired"
    assert review.ended(T0 + dt.timedelta(days=3))
    with pytest.raises(reviews.ReviewError, match="expired"):
        reviews.reply(examiner, "late", "ex-b", channel="mail", now=T0 + dt.timedelta(days=3))
    closed = reviews.close(examiner, "cli:alice", now=T0 + dt.timedelta(days=4))
    assert closed.status() == "closed" and closed.closed_at_utc == T0 + dt.timedelta(days=4)
    with pytest.raises(reviews.ReviewError, match="was closed"):
        reviews.close(examiner, "cli:alice")
    # A closed review allows a new one; the old one stays on record.
    report.open_review(con, examiner, "cli:alice")
    assert [r.status() for r in reviews.reviews(examiner)] == ["closed", "open"]


def test_every_review_action_is_in_the_audit_log_and_the_chain_holds(con, busiest):
    examiner = busiest[2]
    report.open_review(con, examiner, "cli:alice", days=5)
    reviews.reply(examiner, "Reply by post.", "cli:alice", channel="mail")
    reviews.close(examiner, "cli:alice")
    log = audit.read(10)
    events = list(reversed(log["event"].tolist()))
    assert events == ["review_opened", "review_replied", "review_closed"]
    details = [json.loads(d) for d in reversed(log["detail"].tolist())]
    assert all(d["examiner_id"] == examiner for d in details)
    assert details[0]["days"] == 5 and details[1]["channel"] == "mail"
    assert audit.verify().ok


def test_an_attachment_is_bounded_and_stored_under_a_safe_name(con, busiest):
    examiner = busiest[3]
    report.open_review(con, examiner, "cli:alice")
    with pytest.raises(reviews.ReviewError, match="at most 10 MB"):
        reviews.reply(examiner, "x", "ex", channel="dashboard", attachment_name="a.pdf",
                      attachment_bytes=b"0" * (reviews.MAX_ATTACHMENT_BYTES + 1))
    with pytest.raises(reviews.ReviewError, match="send a pdf"):
        reviews.reply(examiner, "x", "ex", channel="dashboard", attachment_name="run.sh",
                      attachment_bytes=b"#!/bin/sh\nrm -rf /\n")
    with pytest.raises(reviews.ReviewError, match="empty"):
        reviews.reply(examiner, "   ", "ex", channel="dashboard")
    payload = b"%PDF-1.4 reply"
    review = reviews.reply(examiner, "See the letter.", "ex", channel="dashboard",
                           attachment_name="../../etc/<script>letter.PDF",
                           attachment_bytes=payload)
    name, stored = reviews.attachment(review)
    assert stored == payload
    assert name.startswith("reply-") and name.endswith(".pdf")
    assert "/" not in name and ".." not in name and "<" not in name


def test_the_audit_pack_carries_the_frozen_figures_the_reply_and_the_dates(
        con, busiest, tmp_path):
    examiner = busiest[4]
    review = report.open_review(con, examiner, "cli:alice", now=T0)
    blank = report.review_audit_pack(review)
    assert blank.count('<div class="line"></div>') == 10
    assert "2026-03-02 09:00 UTC" in blank and "2026-04-01 09:00 UTC" in blank
    text = "I examined <b>only</b> complex spinal cases in 2024."
    reviews.reply(examiner, text, "cli:alice", channel="mail", now=T0 + dt.timedelta(days=3))
    reviews.close(examiner, "cli:alice", now=T0 + dt.timedelta(days=9))
    document = report.review_audit_pack(reviews.latest(examiner))
    assert '<div class="line"></div>' not in document
    assert "I examined &lt;b&gt;only&lt;/b&gt; complex spinal cases in 2024." in document
    for stamp in ("2026-03-02 09:00 UTC", "2026-03-05 09:00 UTC", "2026-03-11 09:00 UTC"):
        assert stamp in document
    # The pack names no other examiner and no insurer: it is the examiner's to download.
    others = [e for e in busiest if e != examiner]
    assert not [e for e in others if e in document]
    insurers = [r[0] for r in con.execute("SELECT DISTINCT insurer_id FROM fct_exams").fetchall()]
    assert not [i for i in insurers if i in document]
    # The regulator's report of the examiner (ime report examiner) shows the review too.
    files = write_report(con, FULL_ACCESS, tmp_path / "r.html", username="t",
                         examiner_id=examiner)
    written = files.html.read_text(encoding="utf-8")
    assert "complex spinal cases" in written and "2026-03-11 09:00 UTC" in written


def test_the_review_commands(review_db, busiest, tmp_path, capsys):
    examiner = busiest[5]
    db = ["--db", str(review_db)]
    assert main(["review", "open", examiner, "--days", "14", *db]) == 0
    assert f"examiner {examiner}" in capsys.readouterr().out
    letter = tmp_path / "letter.txt"
    letter.write_text("Received by post on 3 March.\n", encoding="utf-8")
    assert main(["review", "reply", examiner, "--text", str(letter)]) == 0
    assert reviews.latest(examiner).reply.text == "Received by post on 3 March."
    assert reviews.latest(examiner).reply.channel == "mail"
    assert main(["review", "list"]) == 0
    listing = capsys.readouterr().out.splitlines()
    row = next(r for r in (line.split() for line in listing) if r[1:2] == [examiner])
    assert row[2] == "replied" and "14" in row
    assert main(["review", "close", examiner]) == 0
    assert main(["review", "close", examiner]) == 2
    assert "was closed" in capsys.readouterr().err
    assert main(["review", "open", "NO-SUCH-EXAMINER", *db]) == 2
    assert "no exams of examiner 'NO-SUCH-EXAMINER'" in capsys.readouterr().err
    assert main(["review", "reply", examiner, "--text", str(tmp_path / "missing.txt")]) == 2
