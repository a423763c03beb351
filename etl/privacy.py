"""Pseudonymisation key: kept outside the database and the repository."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

KEY_ENV = "IME_KEY_FILE"


def key_path() -> Path:
    """Where the key lives: $IME_KEY_FILE, else the user's config folder."""
    if os.environ.get(KEY_ENV):
        return Path(os.environ[KEY_ENV])
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config / "ime" / "pseudonym.key"


def pseudonym_key() -> str:
    """Return the secret key, creating it (readable by the owner only) on first use."""
    path = key_path()
    if path.exists():
        return path.read_text(encoding="ascii").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    # O_EXCL: two first loads at once must not end up with two different keys.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key + "\n")
    return key


def keyed_hash_sql(expr: str) -> str:
    """SQL for the keyed hash of `expr`, reading the key from the bound parameter $hash_key.

    A nested hash, H(k || H(k || x)), so that knowing one pseudonym gives no length-extension
    path to others. NULL and blank stay NULL, so that a missing id is still reported missing.
    """
    inner = f"sha256(concat($hash_key, trim({expr})))"
    return (
        f"CASE WHEN nullif(trim({expr}), '') IS NULL THEN NULL "
        f"ELSE sha256(concat($hash_key, {inner})) END"
    )
