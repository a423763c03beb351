"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

README_SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"


def pytest_addoption(parser):
    parser.addoption(
        "--screenshots",
        action="store_true",
        help="the browser tests write the README's screenshots into docs/screenshots (without "
        "it they take them in a temporary folder, and a test run leaves the tree as it was)",
    )


@pytest.fixture(scope="session")
def screenshots(request, tmp_path_factory) -> Path:
    """Where the browser tests save their screenshots: docs/screenshots with --screenshots."""
    if not request.config.getoption("--screenshots"):
        return tmp_path_factory.mktemp("screenshots")
    README_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return README_SCREENSHOTS


@pytest.fixture(autouse=True, scope="session")
def config_home(tmp_path_factory):
    """The user's config folder (~/.config/ime) is never touched by a test run.

    Fixtures wider than one test, and the servers they start, run before the per-test key
    below is set, so they would fall back to ~/.config/ime and leave an audit log's head record
    there; a later run reusing the same temporary path would then meet that stale record.
    """
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))
        mp.delenv("IME_KEY_FILE", raising=False)
        yield


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
