"""Tests for ime.audit: an append-only log in its own DuckDB file."""

import datetime as dt
import json
import subprocess
import sys
import threading

import duckdb
import pytest

from ime import audit
from queries import Scope

INSURER = Scope("insurer", ("INS-1",))
REGULATOR = Scope("regulator")


@pytest.fixture
def log_path(tmp_path, monkeypatch):
    path = tmp_path / "audit" / "audit.duckdb"
    monkeypatch.setenv(audit.AUDIT_ENV, str(path))
    return path


def test_audit_path_from_environment(log_path):
    assert audit.audit_path() == log_path


def test_export_recorded_with_who_when_what_and_scope(log_path):
    before = audit.utc_now()
    filters = {"start": dt.date(2024, 1, 1), "jurisdiction": ["NY"]}
    seq = audit.record("export", "ivan", INSURER, {"what": "rates_by_group", "filters": filters,
                                                   "format": "csv"})
    (row,) = audit.read(event="export").to_dict("records")
    assert row["seq"] == seq == 1
    assert before <= row["at_utc"] <= audit.utc_now()
    assert (row["username"], row["role"], list(row["insurer_ids"])) == ("ivan", "insurer",
                                                                        ["INS-1"])
    assert json.loads(row["detail"]) == {
        "what": "rates_by_group", "format": "csv",
        "filters": {"start": "2024-01-01", "jurisdiction": ["NY"]},
    }
    assert log_path.exists()


def test_read_newest_first_and_filtered(log_path):
    audit.record("sign_in", "rosa", REGULATOR, {"method": "password"})
    audit.record("view_examiner", "rosa", REGULATOR, {"examiner_id": "E-17"})
    audit.record("sign_in", "ivan", INSURER)
    assert audit.read()["seq"].tolist() == [3, 2, 1]
    assert audit.read(limit=1)["seq"].tolist() == [3]
    assert audit.read(username="rosa")["event"].tolist() == ["view_examiner", "sign_in"]
    assert audit.read(event="sign_in", username="ivan")["seq"].tolist() == [3]
    assert audit.read(since=audit.utc_now() + dt.timedelta(seconds=1)).empty
    with pytest.raises(ValueError, match="limit"):
        audit.read(limit=0)


def test_unknown_event_refused(log_path):
    with pytest.raises(ValueError, match="unknown audit event 'exported'"):
        audit.record("exported", "ivan", INSURER)


@pytest.mark.parametrize(
    "detail",
    [{"claimant_id": "C-1"}, {"filters": {"Claimant": "C-1"}}, {"rows": [{"claimant_hash": 1}]}],
    ids=["top-level", "nested", "in-a-list"],
)
def test_claimant_data_refused(log_path, detail):
    with pytest.raises(ValueError, match="claimant data is never logged"):
        audit.record("export", "ivan", INSURER, detail)
    assert audit.read().empty


def test_module_offers_no_way_to_edit(log_path):
    editing = [n for n in dir(audit)
               if n.lower().startswith(("update", "delete", "remove", "edit", "clear",
                                        "truncate", "drop", "set", "purge"))]
    assert editing == []
    audit.record("export", "ivan", INSURER, {"what": "rates"})
    frame = audit.read()
    frame.loc[0, "username"] = "mallory"  # changing what was read changes nothing stored
    assert audit.read()["username"].tolist() == ["ivan"]


def test_edit_outside_the_app_is_detected(log_path):
    for name in ("a", "b", "c"):
        audit.record("export", name, INSURER)
    assert audit.verify_chain() is None
    con = duckdb.connect(str(log_path))
    con.execute("UPDATE audit_log SET username = 'mallory' WHERE seq = 2")
    con.close()
    assert audit.verify_chain() == 2


def test_deleted_entry_is_detected(log_path):
    for name in ("a", "b", "c"):
        audit.record("export", name, INSURER)
    con = duckdb.connect(str(log_path))
    con.execute("DELETE FROM audit_log WHERE seq = 2")
    con.close()
    assert audit.verify_chain() == 3


def test_concurrent_writers_keep_one_unbroken_sequence(log_path):
    def write(name):
        for _ in range(10):
            audit.record("view_examiner", name, REGULATOR, {"examiner_id": "E-1"})

    threads = [threading.Thread(target=write, args=(f"user{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(audit.read(limit=100)["seq"]) == list(range(1, 61))
    assert audit.verify_chain() is None


def test_waits_while_another_process_holds_the_file(log_path):
    audit.record("sign_in", "rosa", REGULATOR)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys, time\n"
         f"con = duckdb.connect({str(log_path)!r})\n"
         "print('holding', flush=True)\n"
         "time.sleep(1.0)\n"
         "con.close()\n"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        audit.record("export", "rosa", REGULATOR, {"what": "audit report"})
    finally:
        holder.stdout.close()
        holder.wait(timeout=30)
    assert audit.read()["event"].tolist() == ["export", "sign_in"]

