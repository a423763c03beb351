"""Issue 15's "Done when", end to end, as a regulator and an examiner would run it.

`ime review open A`; `ime review open B`; a reply for B by mail (`ime review reply`) and then
from the examiner's own sign-in in headless Chromium against a real `ime serve`;
`ime review close B`; `ime publish --out site`. The site, opened from disk in Chromium with
every non-file request blocked and recorded, names B with the reply beside the figures,
does not name A, holds no claimant or case id, and no count from 1 to 10. Screenshots of the
examiner's view and of the public site go to docs/screenshots/ with --screenshots.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest

from ime.balancer import free_port

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
PASSWORD = "correct horse battery staple"
MAIL_REPLY = "Received by post: I will answer in full through the dashboard."
BROWSER_REPLY = "My 2024 referrals were complex spinal cases sent after surgery."
# Columns of the site's CSVs that hold counts (the public rules apply to them).
COUNT_COLUMN = re.compile(r"^(n|n_.*|observed)$")


def _ime(env: dict, *args: str, stdin: str | None = None) -> str:
    ime = shutil.which("ime", path=str(Path(sys.executable).parent))
    assert ime, "the `ime` command is not installed in this environment"
    done = subprocess.run([ime, *args], env=env, input=stdin, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, f"ime {' '.join(args)}: {done.stderr}"
    return done.stdout


def _serve(env: dict, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    ime = shutil.which("ime", path=str(Path(sys.executable).parent))
    with log.open("w") as out:
        proc = subprocess.Popen([ime, "serve", "--port", str(port)], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://localhost:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"ime serve exited: {log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    pytest.fail(f"ime serve did not start: {log.read_text()}")


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def _idle(page) -> None:
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"stStatusWidget\"]') === null",
        timeout=120_000)
    page.wait_for_timeout(800)


def _full_page(page, path: Path, selector: str = "body") -> None:
    height = page.evaluate(f"() => document.querySelector('{selector}').scrollHeight")
    page.set_viewport_size({"width": 1280, "height": max(900, int(height) + 40)})
    page.wait_for_timeout(400)
    page.screenshot(path=str(path))


def _examiner_replies_in_the_browser(
    browser, url: str, b: str, others: list[str], screenshots: Path
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        # Signed in at another page's address: the examiner gets their own page, no other.
        page.goto(f"{url}/examiners")
        page.get_by_role("textbox", name="Username").fill("examiner-b")
        page.get_by_role("textbox", name="Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_selector("h1:has-text('Your figures and reviews')", timeout=120_000)
        _idle(page)
        assert page.locator('[data-testid="stException"]').count() == 0
        shown = page.locator('[data-testid="stMain"]').inner_text()
        assert b in shown and "Review 2: replied" in shown and MAIL_REPLY in shown
        assert not [e for e in others if re.search(rf"\b{e}\b", shown)]
        nav = page.locator('[data-testid="stSidebarNav"]')
        assert nav.count() == 0 or "Examiners" not in nav.inner_text()
        page.get_by_role("textbox", name="Your reply").fill(BROWSER_REPLY)
        page.get_by_role("button", name="Send the reply").click()
        page.get_by_text("Your reply is recorded.").or_(
            page.get_by_text(BROWSER_REPLY)).first.wait_for(timeout=60_000)
        _idle(page)
        assert BROWSER_REPLY in page.locator('[data-testid="stMain"]').inner_text()
        _full_page(page, screenshots / "examiner-view.png", '[data-testid="stMain"]')
    finally:
        page.close()


def _open_offline(browser, site: Path):
    """A page that lets file: URLs through and blocks, and records, any other request."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    attempted: list[str] = []

    def guard(route):
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            attempted.append(route.request.url)
            route.abort()

    page.route("**/*", guard)
    page.goto((site / "index.html").resolve().as_uri())
    return page, attempted


def test_done_when(review_db, busiest, tmp_path, screenshots):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: install Debian's chromium package")
    from playwright.sync_api import sync_playwright

    a, b = busiest[0], busiest[1]
    db = tmp_path / "ime.duckdb"
    shutil.copy(review_db, db)  # a fresh database: nothing reviewed yet
    env = {**os.environ, "IME_DB": str(db), "IME_AUDIT_DB": str(tmp_path / "audit.duckdb"),
           "IME_USERS": str(tmp_path / "users.toml"),
           "IME_KEY_FILE": str(tmp_path / "key" / "pseudonym.key")}
    env.pop("IME_REVIEWS_DB", None)
    _ime(env, "review", "open", a)
    _ime(env, "review", "open", b, "--days", "21")
    _ime(env, "user", "add", "examiner-b", "--role", "examiner", "--examiner", b,
         "--password-stdin", stdin=PASSWORD + "\n")
    letter = tmp_path / "letter.txt"
    letter.write_text(MAIL_REPLY, encoding="utf-8")
    _ime(env, "review", "reply", b, "--text", str(letter))

    proc, url = _serve(env, tmp_path / "serve.log")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                _examiner_replies_in_the_browser(
                    browser, url, b, [e for e in busiest if e != b], screenshots
                )
            finally:
                browser.close()
    finally:
        _stop(proc)

    _ime(env, "review", "close", b)
    listing = _ime(env, "review", "list")
    statuses = {r[1]: r[2] for r in (line.split() for line in listing.splitlines()[1:])}
    assert statuses == {a: "open", b: "closed"}
    site = tmp_path / "site"
    _ime(env, "publish", "--out", str(site))

    files = sorted(p for p in site.rglob("*") if p.is_file())
    text = {p: p.read_text(encoding="utf-8") for p in files}
    everything = "\n".join(text.values())
    # B is named, with the reply beside the figures; A is not named anywhere.
    b_pages = [p for p in files if p.suffix == ".html" and re.search(rf"\b{b}\b", text[p])]
    assert {p.name for p in b_pages} >= {"index.html"}
    b_page = next(p for p in b_pages if p.name.startswith("examiner-"))
    assert BROWSER_REPLY in text[b_page]
    assert not re.search(rf"\b{a}\b", everything)
    # No claimant or case id, raw or pseudonymised, and no insurer.
    demo = review_db.parent / "demo"
    with (demo / "cases.csv").open(encoding="utf-8") as fh:
        cases = list(csv.DictReader(fh))
    con = duckdb.connect(str(db), read_only=True)
    try:
        stored = [r[0] for r in con.execute("SELECT claimant_id FROM cases").fetchall()]
    finally:
        con.close()
    identifiers = ({c["claimant_id"] for c in cases} | {c["case_id"] for c in cases}
                   | {c["insurer_id"] for c in cases} | {c["insurer_name"] for c in cases}
                   | set(stored))
    assert not [i for i in identifiers if i and i in everything]
    # No count from 1 to 10 in any table; every count shown a multiple of 11.
    for path in (p for p in files if p.suffix == ".csv"):
        with path.open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                for column, value in row.items():
                    if COUNT_COLUMN.match(column) and value not in ("suppressed", ""):
                        count = float(value)
                        assert count == 0 or (count >= 11 and count % 11 == 0), (path, column)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page, attempted = _open_offline(browser, site)
            assert "Generated from snapshot" in page.inner_text("body")
            assert page.locator("table").count() >= 3
            _full_page(page, screenshots / "public-site.png")
            page.get_by_role("link", name=re.compile(rf"^{b}")).click()
            page.wait_for_load_state("load")
            body = page.inner_text("body")
            assert BROWSER_REPLY in body and "A flag is a reason to look, not a verdict." in body
            # The reply sits beside the figures: same row of the layout, to their right.
            figures = page.locator(".figures").bounding_box()
            reply = page.locator(".answer").bounding_box()
            assert reply["x"] >= figures["x"] + figures["width"] - 1
            assert abs(reply["y"] - figures["y"]) < 5
            _full_page(page, screenshots / "public-site-examiner.png")
            page.get_by_role("link", name="Methods and data coverage").click()
            page.wait_for_load_state("load")
            assert "Data coverage" in page.inner_text("body")
            assert attempted == []
        finally:
            browser.close()
