"""Shared test fixtures."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def pseudonym_key_file(tmp_path_factory, monkeypatch):
    """Every test uses its own pseudonymisation key, never the user's."""
    path = tmp_path_factory.mktemp("key") / "pseudonym.key"
    monkeypatch.setenv("IME_KEY_FILE", str(path))
    return path


@pytest.fixture(autouse=True)
def no_configured_users(tmp_path_factory, monkeypatch):
    """Tests run in demo mode unless they write users: never the developer's users file."""
    path = tmp_path_factory.mktemp("users") / "users.toml"
    monkeypatch.setenv("IME_USERS", str(path))
    return path
