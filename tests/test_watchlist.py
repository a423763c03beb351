"""The regulator's watchlist (access.watchlist): kept per user outside the main database,
audited, and what changed for each followed examiner on a hand-built flag history."""

from __future__ import annotations

import pandas as pd
import pytest

from access import audit, watchlist
from queries import Scope

REGULATOR = Scope("regulator")


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.setenv("IME_AUDIT_DB", str(tmp_path / "audit.duckdb"))
    monkeypatch.delenv("IME_WATCHLIST_DB", raising=False)
    return tmp_path


def test_kept_per_user_beside_the_audit_log_and_audited(files):
    assert watchlist.watched("rosa").empty
    assert not (files / "watchlist.duckdb").exists()  # reading makes no file
    watchlist.follow("rosa", REGULATOR, "EX0007", 2)
    watchlist.follow("rosa", REGULATOR, "EX0003", 2)
    watchlist.follow("rosa", REGULATOR, "EX0003", 2)  # following twice is following once
    watchlist.follow("ivan", REGULATOR, "EX0009", None)
    assert watchlist.watchlist_path() == files / "watchlist.duckdb"
    assert watchlist.watched("rosa")["examiner_id"].tolist() == ["EX0003", "EX0007"]
    assert watchlist.watched("ivan")["examiner_id"].tolist() == ["EX0009"]
    watchlist.unfollow("rosa", REGULATOR, "EX0007")
    watchlist.mark_seen("rosa", REGULATOR, 3)
    mine = watchlist.watched("rosa")
    assert mine["examiner_id"].tolist() == ["EX0003"] and mine["seen_load_id"].tolist() == [3]
    assert watchlist.watched("ivan")["seen_load_id"].isna().all()  # another user's untouched
    log = audit.read(20, username="rosa")
    assert log["event"].tolist() == [
        "watchlist_seen", "watchlist_unfollow", "watchlist_follow", "watchlist_follow",
        "watchlist_follow",
    ]
    assert audit.verify().ok


def _history() -> pd.DataFrame:
    rows = [
        # load, examiner, measure, flagged, direction
        (1, "EX1", "adverse_opinion", True, "high"),
        (1, "EX1", "allegiance", False, "low"),
        (1, "EX2", "adverse_opinion", True, "low"),
        (2, "EX1", "adverse_opinion", False, "high"),
        (2, "EX1", "allegiance", True, "low"),
        (2, "EX2", "adverse_opinion", True, "low"),
        (2, "EX3", "denial", True, "high"),
    ]
    return pd.DataFrame(rows, columns=["load_id", "examiner_id", "measure", "flagged",
                                       "direction"])


def test_changes_since_the_last_look():
    entries = pd.DataFrame({"examiner_id": ["EX1", "EX2", "EX3"], "seen_load_id": [1, 1, None]})
    out = watchlist.changes(entries, _history()).set_index("examiner_id")
    assert out.loc["EX1", "raised"] == "allegiance (low)"
    assert out.loc["EX1", "cleared"] == "adverse_opinion (high)"
    assert out.loc["EX1", "flagged_now"] == "allegiance (low)"
    assert not out.loc["EX2", "changed"]
    assert out.loc["EX2", "flagged_now"] == "adverse_opinion (low)"
    # Followed before any load stored flags: everything flagged now is new to the reader.
    assert out.loc["EX3", "raised"] == "denial (high)" and out.loc["EX3", "changed"]
    assert set(out["latest_load_id"]) == {2}


def test_nothing_changed_when_seen_at_the_latest_load():
    entries = pd.DataFrame({"examiner_id": ["EX1"], "seen_load_id": [2]})
    out = watchlist.changes(entries, _history())
    assert out["raised"].tolist() == [""] and out["cleared"].tolist() == [""]
    assert not out["changed"].any()
