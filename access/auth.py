"""Users, roles and sign-in: a users file with argon2id password hashes, and OIDC mapping.

The users file (TOML, default data/users.toml or $IME_USERS; never committed) holds one table
per user::

    [users."alice"]
    role = "insurer"                      # regulator | insurer | researcher
    insurer_ids = ["INS-01", "INS-07"]    # insurers only
    password_hash = "$argon2id$v=19$..."  # optional when the user signs in through OIDC
    email = "alice@example.org"           # optional: OIDC users matched by verified email
    oidc_subject = "00u1ab2cd3"           # optional: OIDC users matched by the `sub` claim

With no users at all the app runs in demo mode. Every password sign-in is counted in the
audit database before its password is checked, and the rate limit reads those counts, so the
limit holds across Streamlit sessions, reruns, threads and processes (see `verify`).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import math
import os
import re
import secrets
import tempfile
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from access import audit
from queries import ROLES, Scope

USERS_ENV = "IME_USERS"
DEFAULT_USERS = Path("data") / "users.toml"

# NIST SP 800-63B-4 (2025), 3.1.1.2: at least 15 characters for a password used alone.
MIN_PASSWORD_LENGTH = 15
MAX_PASSWORD_LENGTH = 1024
# Sign-in throttling (OWASP Authentication Cheat Sheet: a delay that grows with each failure,
# rather than a fixed lock anyone could set off). Failures are counted within FAILURE_WINDOW:
# a username from one address, after MAX_FAILURES, waits FIRST_DELAY, then twice as long
# after each further failure, up to MAX_DELAY. The same holds for one address over every
# username (password spraying), and for one username over every address (attempts spread
# over many addresses), with higher limits (NIST SP 800-63B-4 (2025), 3.2.2, caps consecutive
# failures on one account at 100). An attacker at one address thus slows down sign-ins to
# an account from that address only; its user still signs in from their own.
MAX_FAILURES = 5
MAX_FAILURES_PER_ADDRESS = 20
MAX_FAILURES_PER_USER = 100
FAILURE_WINDOW = dt.timedelta(minutes=15)
FIRST_DELAY = dt.timedelta(seconds=30)
MAX_DELAY = dt.timedelta(minutes=15)
# Recorded when the client's address is not known (Streamlit gives none on localhost).
UNKNOWN_ADDRESS = "unknown"

USERNAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")
FIELDS = {"role", "insurer_ids", "password_hash", "email", "oidc_subject"}

log = logging.getLogger(__name__)
# argon2-cffi defaults: argon2id, RFC 9106 low-memory profile (t=3, m=64 MiB, p=4).
_hasher = PasswordHasher()


@dataclass(frozen=True)
class User:
    """A configured user, without the password hash."""

    username: str
    role: str
    insurer_ids: tuple[str, ...] = ()
    email: str | None = None
    oidc_subject: str | None = None
    has_password: bool = False


@dataclass(frozen=True)
class SignIn:
    """The outcome of a sign-in: the user when signed in; when locked, seconds to wait."""

    outcome: Literal["signed_in", "failed", "locked"]
    user: User | None = None
    retry_after_s: int = 0

    @property
    def ok(self) -> bool:
        """True when the user is signed in."""
        return self.outcome == "signed_in"


def users_path() -> Path:
    """$IME_USERS, else data/users.toml."""
    return Path(os.environ.get(USERS_ENV) or DEFAULT_USERS)


def scope_for(user: User) -> Scope:
    """The access scope a user reads under."""
    return Scope(role=user.role, insurer_ids=user.insurer_ids)


def normalise_username(username: str) -> str:
    """Usernames are compared in lower case, without surrounding spaces."""
    return username.strip().lower()


def _check_text(value: str, what: str) -> str:
    if not isinstance(value, str) or not value or any(
        unicodedata.category(ch) == "Cc" for ch in value
    ):
        raise ValueError(f"{what} {value!r} must be non-empty text without control characters")
    return value


def _check_record(username: str, record: Mapping[str, object], where: str) -> dict:
    """Validate one user's fields; errors name the file and the user."""
    if not USERNAME.fullmatch(username):
        raise ValueError(
            f"{where}: username {username!r} must be 1-64 lower-case letters, digits or . _ @ -, "
            "starting with a letter or digit"
        )
    unknown = set(record) - FIELDS
    if unknown:
        raise ValueError(f"{where}: user {username!r} has unknown fields {sorted(unknown)}; "
                         f"allowed: {sorted(FIELDS)}")
    role = record.get("role")
    if role not in ROLES:
        raise ValueError(f"{where}: user {username!r} has role {role!r}; use one of {ROLES}")
    insurer_ids = record.get("insurer_ids", [])
    if not isinstance(insurer_ids, list) or not all(isinstance(i, str) for i in insurer_ids):
        raise ValueError(f"{where}: user {username!r}: insurer_ids must be a list of strings")
    for insurer_id in insurer_ids:
        _check_text(insurer_id, f"{where}: user {username!r}: insurer_id")
    if (role == "insurer") != bool(insurer_ids):
        raise ValueError(
            f"{where}: user {username!r}: an insurer needs at least one insurer_id, and only "
            f"an insurer has any (role {role!r}, insurer_ids {insurer_ids})"
        )
    password_hash = record.get("password_hash")
    if password_hash is not None and not (
        isinstance(password_hash, str) and password_hash.startswith("$argon2id$")
    ):
        raise ValueError(f"{where}: user {username!r}: password_hash is not an argon2id hash")
    for field in ("email", "oidc_subject"):
        if record.get(field) is not None:
            _check_text(record[field], f"{where}: user {username!r}: {field}")
    if password_hash is None and not (record.get("email") or record.get("oidc_subject")):
        raise ValueError(
            f"{where}: user {username!r} has no way to sign in: give a password, or an email "
            "or oidc_subject for the identity provider"
        )
    clean = {"role": role, "insurer_ids": list(insurer_ids)}
    for field in ("password_hash", "email", "oidc_subject"):
        if record.get(field) is not None:
            clean[field] = record[field]
    return clean


def _load(path: Path) -> dict[str, dict]:
    """Every user's record (with its hash), validated; empty when the file does not exist."""
    if not path.exists():
        return {}
    with path.open("rb") as fh:
        try:
            data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path}: not valid TOML: {exc}") from exc
    if set(data) - {"users"}:
        raise ValueError(f"{path}: unknown top-level keys {sorted(set(data) - {'users'})}; "
                         "expected only [users.NAME] tables")
    users = data.get("users", {})
    if not isinstance(users, dict) or not all(isinstance(r, dict) for r in users.values()):
        raise ValueError(f"{path}: expected one [users.NAME] table per user")
    records = {name: _check_record(name, rec, str(path)) for name, rec in users.items()}
    _check_unique(records, str(path))
    return records


def _check_unique(records: Mapping[str, Mapping], where: str) -> None:
    """Refuse two users with the same email or OIDC subject: an identity maps to one user."""
    for field in ("email", "oidc_subject"):
        seen: dict[str, str] = {}
        for name, record in records.items():
            value = record.get(field)
            if not value:
                continue
            key = value.lower() if field == "email" else value
            if key in seen:
                raise ValueError(f"{where}: users {seen[key]!r} and {name!r} share {field} "
                                 f"{value!r}; an identity must map to one user")
            seen[key] = name


def _save(path: Path, records: Mapping[str, Mapping]) -> None:
    """Write the users file atomically, readable by its owner only."""
    def toml(value: object) -> str:
        # A JSON string without ASCII escaping is a valid TOML basic string, as values
        # carry no control characters (checked on the way in).
        if isinstance(value, list):
            return "[" + ", ".join(toml(v) for v in value) + "]"
        return json.dumps(value, ensure_ascii=False)

    lines = [
        "# Users of the IME outcomes dashboard, managed with `ime user add|remove|list`.",
        "# Passwords are argon2id hashes. Keep this file out of version control.",
    ]
    for name in sorted(records):
        lines += ["", f"[users.{toml(name)}]"]
        lines += [f"{field} = {toml(value)}" for field, value in records[name].items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".users-", dir=path.parent)  # created with mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _to_user(username: str, record: Mapping) -> User:
    return User(
        username=username,
        role=record["role"],
        insurer_ids=tuple(record.get("insurer_ids", ())),
        email=record.get("email"),
        oidc_subject=record.get("oidc_subject"),
        has_password="password_hash" in record,
    )


def check_password(password: str) -> None:
    """Refuse a password shorter than 15 or longer than 1,024 characters."""
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise ValueError(
            f"a password must have {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters "
            f"(this one has {len(password)}); a passphrase of a few words is easiest"
        )


def add_user(
    username: str,
    role: str,
    insurer_ids: Iterable[str] = (),
    password: str | None = None,
    *,
    email: str | None = None,
    oidc_subject: str | None = None,
    path: Path | None = None,
) -> User:
    """Add a user to the users file, storing only the argon2id hash of the password."""
    path = users_path() if path is None else path
    if isinstance(insurer_ids, str):
        raise ValueError(f"insurer_ids must be a list of ids, not the text {insurer_ids!r}")
    username = normalise_username(username)
    records = _load(path)
    if username in records:
        raise ValueError(f"{path}: user {username!r} already exists; remove it first to change it")
    record: dict[str, object] = {"role": role, "insurer_ids": list(insurer_ids)}
    if password is not None:
        check_password(password)
        record["password_hash"] = _hasher.hash(password)
    if email is not None:
        record["email"] = email
    if oidc_subject is not None:
        record["oidc_subject"] = oidc_subject
    records[username] = _check_record(username, record, str(path))
    _check_unique(records, str(path))
    _save(path, records)
    return _to_user(username, records[username])


def remove_user(username: str, *, path: Path | None = None) -> User:
    """Remove a user from the users file and return it."""
    path = users_path() if path is None else path
    username = normalise_username(username)
    records = _load(path)
    if username not in records:
        raise KeyError(f"{path}: no user {username!r}")
    record = records.pop(username)
    _save(path, records)
    return _to_user(username, record)


def list_users(*, path: Path | None = None) -> list[User]:
    """Every configured user, by username."""
    records = _load(users_path() if path is None else path)
    return [_to_user(name, records[name]) for name in sorted(records)]


def demo_mode(*, path: Path | None = None) -> bool:
    """True when no user is configured: the app then runs in demo mode and says so.

    A users file that exists but cannot be read raises instead: a broken file must never
    open the app to everyone.
    """
    return not _load(users_path() if path is None else path)


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(24))


def client_address(address: str | None) -> str:
    """The client's address as recorded and rate-limited: trimmed, bounded, or 'unknown'."""
    address = (address or "").strip()[:audit.MAX_NAME]
    if not address or any(unicodedata.category(ch) == "Cc" for ch in address):
        return UNKNOWN_ADDRESS
    return address


def backoff(attempts: tuple[dt.datetime, ...], limit: int, now: dt.datetime) -> float:
    """Seconds to wait before the next attempt, given the earlier ones counted (oldest first).

    0 while fewer than `limit` are counted; then `FIRST_DELAY` after the latest, doubling
    with each one beyond the limit, at most `MAX_DELAY`.
    """
    if len(attempts) < limit:
        return 0.0
    doublings = min(len(attempts) - limit, 32)  # 2**32 * 30 s is far beyond MAX_DELAY
    delay = min(FIRST_DELAY * 2**doublings, MAX_DELAY)
    return (attempts[-1] + delay - now).total_seconds()


def _throttle(history: audit.SignInHistory, at: dt.datetime, now: dt.datetime | None) -> int:
    """Whole seconds this attempt must wait (0: go ahead), the longest of the three limits.

    `at` is the log's clock when the attempt is counted; `now`, when given, stands in for it.
    """
    now = at if now is None else now
    wait = max(
        backoff(history.by_user_and_address, MAX_FAILURES, now),
        backoff(history.by_address, MAX_FAILURES_PER_ADDRESS, now),
        backoff(history.by_user, MAX_FAILURES_PER_USER, now),
    )
    return math.ceil(wait) if wait > 0 else 0


def verify(
    username: str,
    password: str,
    *,
    address: str | None = None,
    path: Path | None = None,
    audit_path: Path | None = None,
    now: dt.datetime | None = None,
) -> SignIn:
    """Check a username and password, with a rate limit on failures, and audit the attempt.

    Parameters
    ----------
    username, password : str
        As typed. The password is never stored or logged.
    address : str, optional
        The client's network address (the dashboard passes ``st.context.ip_address``);
        'unknown' when not given.
    path, audit_path : Path, optional
        The users file and the audit database; by default `users_path()` and
        `audit.audit_path()`.
    now : datetime, optional
        The current UTC time for the rate limit (tests); by default the clock.

    Returns
    -------
    SignIn
        ``signed_in`` with the user; ``failed``; or ``locked`` with the seconds to wait,
        in which case the password is not even checked.

    Notes
    -----
    The attempt is added to the audit database before the password is checked, in the same
    locked transaction that counts the earlier ones (`audit.begin_sign_in`). An attempt counts
    as a failure until it succeeds, so N sign-ins at once with wrong passwords run argon2 at
    most `MAX_FAILURES` times: the later ones see the earlier ones, unfinished as they are.
    Limits (see `MAX_FAILURES` and the notes beside it) apply per username and address, per
    address and per username; a successful sign-in clears the username's count. Once a
    limit is reached the wait doubles with each further failure (`backoff`), and refused
    attempts do not count, so waiting it out is enough.
    """
    since = (audit.utc_now() if now is None else now) - FAILURE_WINDOW
    name = normalise_username(username)
    address = client_address(address)
    path = users_path() if path is None else path
    records = _load(path)  # a broken users file raises before any attempt is counted
    attempt = audit.begin_sign_in(
        name, address, functools.partial(_throttle, now=now), since=since,
        detail={"method": "password"}, path=audit_path,
    )
    if attempt.refused:
        log.warning("sign-in refused for %r from %s: too many recent failures; retry in %d s",
                    name[:audit.MAX_NAME], address, attempt.retry_after_s)
        return SignIn("locked", retry_after_s=attempt.retry_after_s)

    outcome = {"method": "password", "address": address}
    record = records.get(name, {})
    stored = record.get("password_hash")
    try:
        # An unknown user is checked against a throwaway hash, so that the time taken does
        # not tell which usernames exist.
        _hasher.verify(stored or _dummy_hash(), password)
        matched = stored is not None
    except (VerificationError, InvalidHashError):
        matched = False
    if not matched:
        reason = "wrong password" if stored else "unknown user or no password"
        log.warning("sign-in failed for %r from %s (%s)", name[:audit.MAX_NAME], address,
                    reason)
        audit.finish_sign_in(attempt, "sign_in_failed", name, None,
                             {**outcome, "reason": reason}, path=audit_path)
        return SignIn("failed")

    if _hasher.check_needs_rehash(stored):
        # Hash parameters were raised since this hash was made: upgrade it now that the
        # password is at hand.
        records[name] = {**record, "password_hash": _hasher.hash(password)}
        _save(path, records)
    user = _to_user(name, record)
    audit.finish_sign_in(attempt, "sign_in", name, scope_for(user), outcome, path=audit_path)
    return SignIn("signed_in", user=user)


def user_for_claims(claims: Mapping[str, object], *, path: Path | None = None) -> User | None:
    """The configured user an identity provider's claims (``st.user``) belong to, if any.

    The `sub` claim is matched against `oidc_subject`; otherwise a verified `email`
    (case-insensitive) against `email`. An email the provider marks unverified is not used.
    """
    records = _load(users_path() if path is None else path)
    subject = claims.get("sub")
    email = claims.get("email")
    email_ok = email and claims.get("email_verified") is not False
    for name, record in records.items():
        if subject and record.get("oidc_subject") == subject:
            return _to_user(name, record)
    for name, record in records.items():
        if email_ok and (record.get("email") or "").lower() == str(email).lower():
            return _to_user(name, record)
    return None


def oidc_sign_in(
    claims: Mapping[str, object], *, path: Path | None = None, audit_path: Path | None = None
) -> SignIn:
    """Map a provider's signed-in user to a configured user and audit it (once per session)."""
    user = user_for_claims(claims, path=path)
    detail = {"method": "oidc", "issuer": claims.get("iss")}
    if user is None:
        who = str(claims.get("email") or claims.get("sub") or "")
        log.warning("OIDC sign-in of %r matches no configured user", who[:audit.MAX_NAME])
        audit.record("sign_in_failed", who, None, {**detail, "reason": "no matching user"},
                     path=audit_path)
        return SignIn("failed")
    audit.record("sign_in", user.username, scope_for(user), detail, path=audit_path)
    return SignIn("signed_in", user=user)
