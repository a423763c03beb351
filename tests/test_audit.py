"""Tests for access.audit: an append-only log in its own DuckDB file."""

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import threading

import duckdb
import pytest

from access import audit
from ime import cli
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
    assert audit.verify().ok
    con = duckdb.connect(str(log_path))
    con.execute("UPDATE audit_log SET username = 'mallory' WHERE seq = 2")
    con.close()
    assert audit.verify().seq == 2


def test_deleted_entry_is_detected(log_path):
    for name in ("a", "b", "c"):
        audit.record("export", name, INSURER)
    con = duckdb.connect(str(log_path))
    con.execute("DELETE FROM audit_log WHERE seq = 2")
    con.close()
    assert audit.verify().seq == 2  # the missing entry is named


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
    assert audit.verify().ok


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



# --- the keyed chain (issue 13, finding 6) ------------------------------------------------


def plain_hash(prev_hash, seq, at, username, role, insurer_ids, event, detail):
    """The unkeyed SHA-256 entry hash of the log before the chain was keyed."""
    payload = json.dumps(
        [prev_hash, seq, at.isoformat(), username, role,
         None if insurer_ids is None else list(insurer_ids), event, detail],
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


COLUMNS = ("seq, at_utc, username, role, insurer_ids, event, CAST(detail AS VARCHAR), "
           "prev_hash, row_hash")


def rehash_plainly(con, from_seq):
    """The old attack: recompute every hash from `from_seq` on with plain SHA-256."""
    rows = con.execute(f"SELECT {COLUMNS} FROM audit_log ORDER BY seq").fetchall()
    prev = audit.GENESIS
    for seq, at, user, role, insurers, event, detail, _, row_hash in rows:
        if seq >= from_seq:
            row_hash = plain_hash(prev, seq, at, user, role, insurers, event, detail)
            con.execute("UPDATE audit_log SET prev_hash = ?, row_hash = ? WHERE seq = ?",
                        [prev, row_hash, seq])
        prev = row_hash


def plain_chain_intact(con, from_seq=1):
    """The check the unkeyed log offered, from entry `from_seq` on: hashes recompute and link."""
    rows = con.execute(f"SELECT {COLUMNS} FROM audit_log ORDER BY seq").fetchall()
    prev = audit.GENESIS if from_seq == 1 else rows[from_seq - 2][-1]
    for seq, at, user, role, insurers, event, detail, stored_prev, row_hash in rows:
        if seq < from_seq:
            continue
        if stored_prev != prev or row_hash != plain_hash(prev, seq, at, user, role, insurers,
                                                         event, detail):
            return False
        prev = row_hash
    return True


@pytest.fixture
def five_entries(log_path):
    for name in ("a", "b", "c", "d", "e"):
        audit.record("export", name, INSURER, {"what": "rates"})
    return log_path


def test_untouched_log_verifies(five_entries):
    check = audit.verify()
    assert check.ok and check.n_entries == 5 and check.legacy_until == 0
    assert check.message() == "5 entries, chain intact"


def test_key_and_head_kept_outside_the_log_beside_the_pseudonym_key(
    five_entries, pseudonym_key_file
):
    key = pseudonym_key_file.parent / "audit.key"
    assert audit.key_file() == key and os.stat(key).st_mode & 0o077 == 0
    head = json.loads(audit.head_file().read_text())
    assert head["seq"] == 5 and head["audit_db"] == str(five_entries.resolve())
    assert os.stat(audit.head_file()).st_mode & 0o077 == 0
    secret = key.read_text().strip()
    assert secret.encode() not in five_entries.read_bytes()


def test_edit_with_recomputed_plain_hashes_is_detected(five_entries):
    # The attack of issue 13: change an entry, then recompute the unkeyed chain after it.
    con = duckdb.connect(str(five_entries))
    con.execute("UPDATE audit_log SET username = 'mallory' WHERE seq = 3")
    rehash_plainly(con, from_seq=3)
    assert plain_chain_intact(con, from_seq=3)  # the unkeyed check would have passed
    con.close()
    check = audit.verify()
    assert (check.seq, check.problem) == (3, "edited")
    assert "plain SHA-256" in check.message()


def test_edit_of_the_first_entry_with_recomputed_plain_hashes_is_detected(five_entries):
    # Rewritten as a whole, the log would pass for an unkeyed legacy log, but the head file
    # says when keyed entries began.
    con = duckdb.connect(str(five_entries))
    con.execute("UPDATE audit_log SET event = 'sign_in' WHERE seq = 1")
    rehash_plainly(con, from_seq=1)
    con.close()
    check = audit.verify()
    assert (check.seq, check.problem) == (1, "edited")


def test_deleting_the_newest_entry_is_detected(five_entries):
    con = duckdb.connect(str(five_entries))
    con.execute("DELETE FROM audit_log WHERE seq = 5")
    con.close()
    check = audit.verify()
    assert (check.seq, check.problem) == (5, "newest entry missing")
    assert check.message().startswith("entry 5: newest entry missing")


def test_deleted_newest_entry_stays_visible_after_the_next_write(five_entries):
    con = duckdb.connect(str(five_entries))
    con.execute("DELETE FROM audit_log WHERE seq >= 4")
    con.close()
    # The app writes on; the next entry takes number 6, not 4, leaving the gap in view.
    assert audit.record("sign_in", "rosa", REGULATOR) == 6
    check = audit.verify()
    assert (check.seq, check.problem) == (4, "removed")
    assert "entries 4 to 5 are missing" in check.message()


def test_inserted_entry_is_detected(five_entries):
    con = duckdb.connect(str(five_entries))
    # Make room at number 3 (in two steps: the key must stay unique on the way), and put in
    # an entry hashed as the old log was, linked to entry 2.
    con.execute("UPDATE audit_log SET seq = seq + 100 WHERE seq >= 3")
    con.execute("UPDATE audit_log SET seq = seq - 99 WHERE seq >= 103")
    prev = con.execute("SELECT row_hash FROM audit_log WHERE seq = 2").fetchone()[0]
    at = audit.utc_now()
    detail = json.dumps({"what": "everything"})
    forged = plain_hash(prev, 3, at, "mallory", "regulator", None, "export", detail)
    con.execute("INSERT INTO audit_log VALUES (3, ?, 'mallory', 'regulator', NULL, 'export', "
                "?, ?, ?)", [at, detail, prev, forged])
    con.close()
    check = audit.verify()
    assert (check.seq, check.problem) == (3, "inserted")


def test_entry_added_after_the_newest_is_detected(five_entries):
    con = duckdb.connect(str(five_entries))
    prev = con.execute("SELECT row_hash FROM audit_log WHERE seq = 5").fetchone()[0]
    at = audit.utc_now()
    forged = plain_hash(prev, 6, at, "mallory", None, None, "sign_out", "{}")
    con.execute("INSERT INTO audit_log VALUES (6, ?, 'mallory', NULL, NULL, 'sign_out', '{}', "
                "?, ?)", [at, prev, forged])
    con.close()
    check = audit.verify()
    assert (check.seq, check.problem) == (6, "inserted")


def test_removed_entry_with_later_ones_renumbered_is_detected(five_entries):
    con = duckdb.connect(str(five_entries))
    con.execute("DELETE FROM audit_log WHERE seq = 2")
    con.execute("UPDATE audit_log SET seq = seq + 100 WHERE seq > 2")
    con.execute("UPDATE audit_log SET seq = seq - 101 WHERE seq > 100")
    con.close()
    check = audit.verify()
    assert (check.seq, check.problem) == (2, "removed")


def test_lost_head_record_is_reported(five_entries):
    audit.head_file().unlink()
    check = audit.verify()
    assert check.problem == "head record missing" and not check.ok


def test_lost_key_is_reported_and_no_new_key_is_made(five_entries):
    audit.key_file().unlink()
    check = audit.verify()
    assert check.problem == "key missing" and str(audit.key_file()) in check.message()
    with pytest.raises(ValueError, match="audit key .* is missing"):
        audit.record("sign_in", "rosa", REGULATOR)
    assert not audit.key_file().exists()


def legacy_log(path, names):
    """An audit log as the code before the keyed chain wrote it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    con.execute(audit.SCHEMA)
    prev = audit.GENESIS
    for seq, name in enumerate(names, start=1):
        at = audit.utc_now()
        row_hash = plain_hash(prev, seq, at, name, None, None, "sign_in", "{}")
        con.execute("INSERT INTO audit_log VALUES (?, ?, ?, NULL, NULL, 'sign_in', '{}', ?, ?)",
                    [seq, at, name, prev, row_hash])
        prev = row_hash
    con.close()


def test_legacy_unkeyed_log_is_reported_as_such_then_sealed(log_path):
    legacy_log(log_path, ["a", "b", "c"])
    check = audit.verify()
    assert check.ok and check.legacy_until == 3
    assert "unkeyed legacy up to entry 3" in check.message()
    assert not audit.key_file().exists()  # checking makes no key

    audit.record("sign_in", "d", REGULATOR)
    check = audit.verify()
    assert check.ok and check.legacy_until == 3
    assert "entries 1 to 3 are unkeyed legacy entries, sealed by keyed entry 4" in check.message()

    # An edit of a legacy entry with recomputed plain hashes now breaks the seal.
    con = duckdb.connect(str(log_path))
    con.execute("UPDATE audit_log SET username = 'mallory' WHERE seq = 2")
    rehash_plainly(con, from_seq=2)
    con.close()
    check = audit.verify()
    # The first keyed entry (rewritten too, it now carries a plain hash) is named.
    assert (check.seq, check.problem) == (4, "edited")


def test_writers_in_two_processes_keep_the_chain_and_head_in_step(log_path):
    code = ("from access import audit\n"
            "for _ in range(15):\n"
            "    audit.record('view_examiner', 'p', None, {'examiner_id': 'E-1'})\n")
    procs = [subprocess.Popen([sys.executable, "-c", code], env=os.environ.copy())
             for _ in range(2)]
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    assert audit.verify().message() == "30 entries, chain intact"


# --- ime audit verify ---------------------------------------------------------------------


def test_ime_audit_verify_exit_codes(five_entries, tmp_path, capsys):
    assert cli.main(["audit", "verify"]) == 0
    assert capsys.readouterr().out.strip() == "5 entries, chain intact"

    con = duckdb.connect(str(five_entries))
    con.execute("DELETE FROM audit_log WHERE seq = 5")
    con.close()
    assert cli.main(["audit", "verify", "--audit-db", str(five_entries)]) == 1
    err = capsys.readouterr().err
    assert "entry 5: newest entry missing" in err and str(five_entries) in err

    assert cli.main(["audit", "verify", "--audit-db", str(tmp_path / "none.duckdb")]) == 2
    assert "no audit log" in capsys.readouterr().err
    assert not (tmp_path / "none.duckdb").exists()


def test_ime_audit_verify_in_a_new_process(five_entries):
    run = subprocess.run([sys.executable, "-m", "ime.cli", "audit", "verify"],
                         capture_output=True, text=True, env=os.environ.copy())
    assert (run.returncode, run.stdout.strip()) == (0, "5 entries, chain intact")
