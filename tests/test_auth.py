"""Tests for access.auth: the users file, password sign-in, its rate limit, and OIDC mapping."""

import datetime as dt
import json
import logging
import os
import subprocess
import sys
import threading
import tomllib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import duckdb
import pytest
from argon2 import PasswordHasher

from access import audit, auth
from ime import cli
from queries import Scope

PASSWORD = "correct horse battery staple"


@pytest.fixture
def users(tmp_path, monkeypatch):
    """An empty users file location and audit log, both in tmp_path and named by env."""
    path = tmp_path / "users.toml"
    monkeypatch.setenv(auth.USERS_ENV, str(path))
    monkeypatch.setenv(audit.AUDIT_ENV, str(tmp_path / "audit.duckdb"))
    return path


@pytest.fixture
def alice(users):
    return auth.add_user("alice", "insurer", ["INS-1", "INS-2"], PASSWORD)


def test_password_stored_only_as_argon2id_hash(users, alice):
    raw = users.read_bytes()
    assert PASSWORD.encode() not in raw
    stored = tomllib.loads(raw.decode())["users"]["alice"]["password_hash"]
    assert stored.startswith("$argon2id$")
    assert PasswordHasher().verify(stored, PASSWORD)
    assert os.stat(users).st_mode & 0o077 == 0  # readable by its owner only


def test_right_password_signs_in_with_the_insurer_scope(users, alice):
    result = auth.verify("Alice ", PASSWORD)  # usernames ignore case and outer spaces
    assert result.ok and result.user == alice
    assert auth.scope_for(result.user) == Scope("insurer", ("INS-1", "INS-2"))
    assert audit.read(event="sign_in")["username"].tolist() == ["alice"]


@pytest.mark.parametrize(
    "username, password",
    [("alice", PASSWORD + "!"), ("alice", ""), ("nobody", PASSWORD)],
    ids=["wrong-password", "empty-password", "unknown-user"],
)
def test_wrong_credentials_fail_and_are_logged_without_the_password(
    users, alice, caplog, username, password
):
    with caplog.at_level(logging.WARNING, logger="access.auth"):
        result = auth.verify(username, password)
    assert result.outcome == "failed" and result.user is None
    assert f"sign-in failed for {username!r}" in caplog.text
    failures = audit.read(event="sign_in_failed")
    assert failures["username"].tolist() == [username]
    if password:
        assert password not in caplog.text
        assert not failures.astype(str).apply(lambda col: col.str.contains(password)).any().any()


def test_lockout_after_five_failures_even_with_the_right_password(users, alice):
    for _ in range(auth.MAX_FAILURES):
        assert auth.verify("alice", "not the password at all").outcome == "failed"
    locked = auth.verify("alice", PASSWORD)
    assert locked.outcome == "locked" and locked.user is None
    assert 0 < locked.retry_after_s <= auth.FAILURE_WINDOW.total_seconds()
    assert len(audit.read(event="sign_in_refused")) == 1
    # Refused attempts are not failures: they do not extend the lock.
    assert len(audit.read(event="sign_in_failed")) == auth.MAX_FAILURES


def test_lock_ends_when_the_failures_are_older_than_the_window(users, alice):
    for _ in range(auth.MAX_FAILURES):
        auth.verify("alice", "not the password at all")
    later = audit.utc_now() + auth.FAILURE_WINDOW + dt.timedelta(seconds=1)
    assert auth.verify("alice", PASSWORD, now=later).ok


def test_lock_holds_in_another_process(users, alice):
    # The failures live in the audit database, so a new Streamlit session, a rerun or
    # another process sees them.
    for _ in range(auth.MAX_FAILURES):
        auth.verify("alice", "not the password at all")
    code = f"from access import auth; print(auth.verify('alice', {PASSWORD!r}).outcome)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=os.environ.copy())
    assert out.stdout.strip() == "locked"


def test_successful_sign_in_clears_earlier_failures(users, alice):
    for _ in range(auth.MAX_FAILURES - 1):
        auth.verify("alice", "not the password at all")
    assert auth.verify("alice", PASSWORD).ok
    for _ in range(auth.MAX_FAILURES - 1):
        auth.verify("alice", "not the password at all")
    assert auth.verify("alice", PASSWORD).ok


def test_lock_is_per_username(users, alice):
    auth.add_user("bob", "regulator", password=PASSWORD)
    for _ in range(auth.MAX_FAILURES):
        auth.verify("alice", "not the password at all")
    assert auth.verify("bob", PASSWORD).ok


# --- throttling: attempts counted before argon2 runs (issue 13, finding 5) ---------------

ATTACKER = "203.0.113.9"
HOME = "198.51.100.7"


class CountingHasher(PasswordHasher):
    """The real argon2id hasher (same parameters as auth's), counting its verifications."""

    def __init__(self, on_verify=None):
        super().__init__()
        self.calls = 0
        self.on_verify = on_verify
        self._lock = threading.Lock()

    def verify(self, hash, password):
        with self._lock:
            self.calls += 1
        if self.on_verify:
            self.on_verify()
        return super().verify(hash, password)


@pytest.fixture
def hasher(monkeypatch):
    counting = CountingHasher()
    monkeypatch.setattr(auth, "_hasher", counting)
    return counting


class Clock:
    """A clock for the audit log that moves only when told."""

    def __init__(self):
        self.now = dt.datetime(2025, 3, 1, 9, 0, 0)

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(audit, "utc_now", fake)
    return fake


def test_twenty_parallel_wrong_passwords_run_argon2_at_most_the_limit(users, alice, hasher):
    # The attack of issue 13: sign-ins at once all passed the check before any failure was
    # on record (twenty threads, twenty verifications). Now each attempt is counted first.
    start = threading.Barrier(20)

    def attempt(i):
        start.wait()
        return auth.verify("alice", f"wrong guess number {i:02d}", address=ATTACKER)

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(attempt, range(20)))
    assert hasher.calls <= auth.MAX_FAILURES
    assert Counter(r.outcome for r in results) == {"failed": hasher.calls,
                                                   "locked": 20 - hasher.calls}
    assert attempts(users.parent / "audit.duckdb") == [(ATTACKER, False)] * hasher.calls
    assert len(audit.read(event="sign_in_failed")) == hasher.calls
    assert len(audit.read(event="sign_in_refused")) == 20 - hasher.calls
    assert audit.verify().ok


def attempts(audit_db):
    """The sign-in attempts the rate limit counts: (address, succeeded), oldest first."""
    con = duckdb.connect(str(audit_db))
    try:
        return con.execute("SELECT address, succeeded FROM sign_in_attempts "
                           "ORDER BY attempt_id").fetchall()
    finally:
        con.close()


def test_attempt_is_counted_before_the_password_is_checked(users, alice, monkeypatch):
    seen = []
    audit_db = users.parent / "audit.duckdb"
    monkeypatch.setattr(auth, "_hasher", CountingHasher(
        on_verify=lambda: seen.append(attempts(audit_db))))
    assert auth.verify("alice", PASSWORD, address=HOME).ok
    assert seen == [[(HOME, None)]]  # on record, outcome pending, while argon2 runs
    assert attempts(audit_db) == [(HOME, True)]
    detail = json.loads(audit.read(event="sign_in")["detail"][0])
    assert detail == {"method": "password", "address": HOME}


def test_attacker_at_one_address_cannot_lock_the_user_out_from_another(users, alice, hasher):
    for _ in range(3 * auth.MAX_FAILURES):
        auth.verify("alice", "not the password at all", address=ATTACKER)
    assert hasher.calls == auth.MAX_FAILURES
    assert auth.verify("alice", PASSWORD, address=ATTACKER).outcome == "locked"
    assert auth.verify("alice", PASSWORD, address=HOME).ok


def test_one_address_trying_many_usernames_is_throttled(users, alice, hasher):
    for i in range(auth.MAX_FAILURES_PER_ADDRESS):
        assert auth.verify(f"user{i}", "not the password at all",
                           address=ATTACKER).outcome == "failed"
    assert auth.verify("alice", PASSWORD, address=ATTACKER).outcome == "locked"
    assert hasher.calls == auth.MAX_FAILURES_PER_ADDRESS
    assert auth.verify("alice", PASSWORD, address=HOME).ok


def test_one_username_tried_from_many_addresses_is_throttled(users, alice, monkeypatch):
    monkeypatch.setattr(auth, "MAX_FAILURES_PER_USER", 6)
    for i in range(6):
        assert auth.verify("alice", "not the password", address=f"10.0.0.{i}").outcome == "failed"
    assert auth.verify("alice", PASSWORD, address="10.0.0.99").outcome == "locked"


def test_wait_doubles_with_each_failure_beyond_the_limit(users, alice, clock):
    for _ in range(auth.MAX_FAILURES):
        assert auth.verify("alice", "not the password at all").outcome == "failed"
    first = auth.FIRST_DELAY.total_seconds()
    assert auth.verify("alice", PASSWORD).retry_after_s == first
    clock.advance(first - 1)
    # Refused attempts are not counted: waiting it out is enough.
    assert auth.verify("alice", PASSWORD).retry_after_s == 1
    clock.advance(1)
    assert auth.verify("alice", "not the password at all").outcome == "failed"
    assert auth.verify("alice", PASSWORD).retry_after_s == 2 * first
    clock.advance(2 * first)
    assert auth.verify("alice", "not the password at all").outcome == "failed"
    assert auth.verify("alice", PASSWORD).retry_after_s == 4 * first
    clock.advance(4 * first)
    assert auth.verify("alice", PASSWORD).ok


def test_wait_is_capped():
    now = dt.datetime(2025, 3, 1)
    many = (now,) * 200
    assert auth.backoff(many, auth.MAX_FAILURES, now) == auth.MAX_DELAY.total_seconds()
    assert auth.backoff((now,) * (auth.MAX_FAILURES - 1), auth.MAX_FAILURES, now) == 0


@pytest.mark.parametrize("given, recorded",
                         [(None, "unknown"), ("", "unknown"), (" 2001:db8::1 ", "2001:db8::1"),
                          ("a\nb", "unknown")],
                         ids=["none", "empty", "ipv6-trimmed", "control-character"])
def test_client_address_recorded(users, alice, given, recorded):
    auth.verify("alice", "not the password at all", address=given)
    detail = json.loads(audit.read(event="sign_in_failed")["detail"][0])
    assert detail["address"] == recorded


def test_demo_mode_only_without_users(users):
    assert auth.demo_mode()
    auth.add_user("rita", "researcher", password=PASSWORD)
    assert not auth.demo_mode()
    auth.remove_user("rita")
    assert auth.demo_mode()


def test_broken_users_file_never_means_demo_mode(users):
    users.write_text('[users."x"]\nrole = "superuser"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="role 'superuser'"):
        auth.demo_mode()


def test_list_and_remove(users, alice):
    auth.add_user("rita", "researcher", password=PASSWORD)
    assert [u.username for u in auth.list_users()] == ["alice", "rita"]
    assert auth.remove_user("rita").role == "researcher"
    assert [u.username for u in auth.list_users()] == ["alice"]
    with pytest.raises(KeyError, match="no user 'rita'"):
        auth.remove_user("rita")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"username": "alice", "role": "regulator", "password": PASSWORD}, "already exists"),
        ({"username": "ivy", "role": "insurer", "password": PASSWORD}, "at least one insurer_id"),
        ({"username": "reg", "role": "regulator", "insurer_ids": ["INS-1"], "password": PASSWORD},
         "only an insurer"),
        ({"username": "x", "role": "admin", "password": PASSWORD}, "role 'admin'"),
        ({"username": "short", "role": "regulator", "password": "hunter2"}, "15 to 1024"),
        ({"username": "bad name", "role": "regulator", "password": PASSWORD}, "username"),
        ({"username": "nopass", "role": "regulator"}, "no way to sign in"),
    ],
    ids=["duplicate", "insurer-without-ids", "ids-without-insurer", "unknown-role",
         "short-password", "bad-username", "no-way-to-sign-in"],
)
def test_invalid_users_refused_and_file_unchanged(users, alice, kwargs, message):
    before = users.read_bytes()
    with pytest.raises(ValueError, match=message):
        auth.add_user(**kwargs)
    assert users.read_bytes() == before


def test_old_hash_parameters_upgraded_at_sign_in(users):
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    users.write_text(
        f'[users."olga"]\nrole = "regulator"\npassword_hash = "{weak}"\n', encoding="utf-8"
    )
    assert auth.verify("olga", PASSWORD).ok
    upgraded = tomllib.loads(users.read_text())["users"]["olga"]["password_hash"]
    assert upgraded != weak and not PasswordHasher().check_needs_rehash(upgraded)
    assert auth.verify("olga", PASSWORD).ok


def test_unusual_text_round_trips_through_the_file(users):
    auth.add_user("quinn", "insurer", ['INS "9"\\x', "Zürich-1"], email="o'brien@exämple.org")
    (user,) = auth.list_users()
    assert user.insurer_ids == ('INS "9"\\x', "Zürich-1")
    assert user.email == "o'brien@exämple.org" and not user.has_password


# --- OIDC ---------------------------------------------------------------------------------


@pytest.fixture
def oidc_users(users):
    auth.add_user("reg", "regulator", email="Reg@Example.org")
    auth.add_user("res", "researcher", oidc_subject="00u-abc")
    return users


@pytest.mark.parametrize(
    "claims, expected",
    [
        ({"sub": "00u-abc", "email": "someone@else.org"}, "res"),
        ({"sub": "other", "email": "reg@example.ORG", "email_verified": True}, "reg"),
        ({"sub": "other", "email": "reg@example.org"}, "reg"),
        ({"sub": "other", "email": "reg@example.org", "email_verified": False}, None),
        ({"sub": "other", "email": "stranger@example.org"}, None),
    ],
    ids=["by-subject", "by-verified-email", "email-verification-not-given",
         "unverified-email", "unknown"],
)
def test_oidc_claims_map_to_configured_user(oidc_users, claims, expected):
    user = auth.user_for_claims(claims)
    assert (user.username if user else None) == expected


def test_oidc_sign_in_audited(oidc_users):
    assert auth.oidc_sign_in({"sub": "00u-abc", "iss": "https://idp.example.org"}).ok
    assert not auth.oidc_sign_in({"sub": "x", "email": "stranger@example.org"}).ok
    log = audit.read()
    assert log["event"].tolist() == ["sign_in_failed", "sign_in"]
    assert log["username"].tolist() == ["stranger@example.org", "res"]
    assert log["role"].tolist()[1] == "researcher"


def test_two_users_cannot_share_an_email(oidc_users):
    with pytest.raises(ValueError, match="share email"):
        auth.add_user("reg2", "regulator", email="REG@example.org")


def test_oidc_only_user_cannot_sign_in_with_a_password(oidc_users):
    assert auth.verify("reg", "").outcome == "failed"


# --- command line -------------------------------------------------------------------------


def ime(*args: str, stdin: str) -> subprocess.CompletedProcess:
    """Run `ime` in a new process (the password is read from its standard input)."""
    return subprocess.run([sys.executable, "-m", "ime.cli", *args], input=stdin,
                          capture_output=True, text=True, env=os.environ.copy())


def test_ime_user_add_list_remove(users, capsys):
    out = ime("user", "add", "Ivan", "--role", "insurer", "--insurer", "INS-1", "--insurer",
              "INS-2", "--password-stdin", stdin=PASSWORD + "\n")
    assert out.returncode == 0, out.stderr
    assert PASSWORD.encode() not in users.read_bytes()
    assert auth.verify("ivan", PASSWORD).ok

    assert cli.main(["user", "list"]) == 0
    assert capsys.readouterr().out.split() == ["ivan", "insurer", "INS-1,INS-2", "password"]

    assert cli.main(["user", "add", "ivan", "--role", "regulator", "--no-password",
                     "--email", "ivan@example.org"]) == 2
    assert "already exists" in capsys.readouterr().err

    assert cli.main(["user", "remove", "ivan"]) == 0
    assert cli.main(["user", "list"]) == 0
    assert "demo mode" in capsys.readouterr().out
    events = audit.read()["event"].tolist()
    assert events == ["user_removed", "sign_in", "user_added"]
