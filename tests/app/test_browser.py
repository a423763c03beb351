"""End to end: `ime serve` on a free port, every page opened in headless Debian Chromium.

Fails on any Streamlit exception box or a missing chart, and takes a 1280-wide screenshot of
each page (docs/screenshots/<page>.png with --screenshots: tests/conftest.py). Never
downloads a browser: it uses the Debian package's /usr/bin/chromium and is skipped, saying
so, when that is not installed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from dashboard.navigation import PAGES
from ime.balancer import free_port

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WIDTH = 1280
# Charts each page draws on the demo data (at least).
MIN_CHARTS = {
    "overview.py": 4,
    "denials.py": 3,
    "mmi.py": 1,
    "impairment.py": 4,
    "examiners.py": 1,
    "examiner_profile.py": 6,
    "aggregate_audit.py": 1,
    "data_quality.py": 2,
    "methods.py": 0,
}
# Served from SSA's published decision counts (the demo has none), when the real data is there.
FROM_SSA = {"aggregate_audit.py"}


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"ime serve exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"ime serve did not answer on {url} within {timeout:.0f} s:\n{log.read_text()}")


@contextmanager
def _serve(db: Path, tmp_path_factory, env_extra: dict | None = None) -> Iterator[str]:
    """`ime serve` of `db` on a free port, auditing into a log of its own; `env_extra`: more
    environment for the server (a review store)."""
    port = free_port()
    url = f"http://localhost:{port}"
    root = tmp_path_factory.mktemp("serve")
    log = root / "serve.log"
    ime = shutil.which("ime", path=str(Path(sys.executable).parent))
    assert ime, "the `ime` command is not installed in this environment"
    env = {k: v for k, v in os.environ.items() if k != "IME_DB"}
    env["IME_AUDIT_DB"] = str(root / "audit.duckdb")
    env.update(env_extra or {})
    with log.open("w") as out:
        proc = subprocess.Popen(
            [ime, "serve", "--port", str(port), "--db", str(db)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        _wait_healthy(url, proc, log)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _require_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} is absent: install Debian's chromium package to run the browser "
            "test (a downloaded browser is never used)"
        )


# The reply the seeded reviews hold (one by mail), as the Reviews page must show it.
MAIL_REPLY = "The 2021 referrals were all after spinal surgery; the letters are attached by post."


def _seed_reviews(db: Path, store: Path) -> list[str]:
    """Three reviews of the most flagged examiners in a review store of their own: one open,
    one replied by mail, one replied and closed (as `ime review open/reply/close` leave them)."""
    from access import reviews
    from outputs import report

    con = duckdb.connect(str(db), read_only=True)
    try:
        examiners = [e for (e,) in con.execute(
            "SELECT examiner_id FROM examiner_flags WHERE flagged GROUP BY 1 "
            "ORDER BY count(*) DESC, 1 LIMIT 3"
        ).fetchall()]
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("IME_AUDIT_DB", str(store / "audit.duckdb"))
            mp.setenv("IME_REVIEWS_DB", str(store / "reviews.duckdb"))
            for examiner, days in zip(examiners, (30, 21, 14), strict=True):
                report.open_review(con, examiner, "cli:alice", days=days)
            reviews.reply(examiners[1], MAIL_REPLY, "cli:alice", channel="mail")
            reviews.reply(examiners[2], "No comment.", "cli:alice", channel="mail")
            reviews.close(examiners[2], "cli:alice")
    finally:
        con.close()
    return examiners


@pytest.fixture(scope="module")
def reviewed(flagged_db, tmp_path_factory) -> tuple[Path, list[str]]:
    """A review store holding three reviews (_seed_reviews) and their examiners."""
    store = tmp_path_factory.mktemp("reviews")
    return store / "reviews.duckdb", _seed_reviews(flagged_db, store)


@pytest.fixture(scope="module")
def server(flagged_db, reviewed, tmp_path_factory):
    """The 20,000-exam demo, so that the screenshots show flagged examiners, with reviews."""
    _require_chromium()
    with _serve(flagged_db, tmp_path_factory, {"IME_REVIEWS_DB": str(reviewed[0])}) as url:
        yield url


@pytest.fixture(scope="module")
def ssa_server(request, tmp_path_factory):
    """SSA's decision counts, or None when the real data is absent (the demo server then)."""
    _require_chromium()
    try:
        db = request.getfixturevalue("ssa_db")
    except pytest.skip.Exception:
        yield None
        return
    with _serve(db, tmp_path_factory) as url:
        yield url


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _render(page, url: str, min_charts: int) -> None:
    page.set_viewport_size({"width": WIDTH, "height": 900})
    page.goto(url)
    page.wait_for_selector('[data-testid="stMain"] h1', timeout=60_000)
    page.wait_for_function(
        "n => document.querySelectorAll('[data-testid=\"stMain\"] .js-plotly-plot').length >= n"
        " || document.querySelector('[data-testid=\"stException\"]') !== null",
        arg=min_charts,
        timeout=90_000,
    )
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"stStatusWidget\"]') === null", timeout=90_000
    )
    page.wait_for_timeout(1000)  # let plotly finish laying out


# The demo server runs without users (a regulator's view): pages kept for other roles (Our
# examiners, an insurer's) are opened in test_browser_roles.py.
REGULATOR_PAGES = [p for p in PAGES if p.roles is None or "regulator" in p.roles]


@pytest.mark.parametrize("spec", REGULATOR_PAGES, ids=[p.url_path for p in REGULATOR_PAGES])
def test_page_renders_in_chromium_without_errors(
    spec, server, browser, request, flagged_truth, screenshots
):
    url = server
    if spec.file in FROM_SSA:
        url = request.getfixturevalue("ssa_server")
        if url is None:
            pytest.skip(f"{spec.title}: no published counts in the demo, and no real data")
    page = browser.new_page(viewport={"width": WIDTH, "height": 900})
    try:
        address = f"{url}/{spec.url}"
        if spec.file == "examiner_profile.py":
            # The profile shows nobody until someone is chosen: the busiest examiner.
            busiest = flagged_truth.execute(
                "SELECT examiner_id FROM fct_exams GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
            ).fetchall()[0][0]
            address += f"?examiner={busiest}"
        _render(page, address, MIN_CHARTS.get(spec.file, 0))
        errors = page.locator('[data-testid="stException"]')
        assert errors.count() == 0, errors.first.inner_text()
        if spec.file == "reviews.py":
            # The seeded reviews, not an empty state: the reply to read is open.
            assert page.get_by_text(MAIL_REPLY).is_visible()
            assert page.get_by_text("No review yet").count() == 0
        assert page.locator("h1").first.inner_text().strip()
        n_charts = page.locator('[data-testid="stMain"] .js-plotly-plot').count()
        assert n_charts >= MIN_CHARTS.get(spec.file, 0), f"{spec.title}: {n_charts} charts drawn"
        height = page.evaluate(
            "() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight"
        )
        page.set_viewport_size({"width": WIDTH, "height": max(900, int(height))})
        page.wait_for_timeout(500)
        page.screenshot(path=str(screenshots / f"{spec.url_path}.png"))
    finally:
        page.close()


def test_a_link_with_filters_opens_the_same_view(server, browser, flagged_truth):
    jurisdiction, n = flagged_truth.execute(
        "SELECT jurisdiction, count(*) FROM fct_exams GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1"
    ).fetchone()
    page = browser.new_page(viewport={"width": WIDTH, "height": 900})
    try:
        _render(page, f"{server}/?jurisdiction={jurisdiction}", MIN_CHARTS["overview.py"])
        assert page.locator('[data-testid="stException"]').count() == 0
        exams = page.locator('[data-testid="stMetric"]').first.inner_text()
        assert f"{n:,}" in exams
        assert f"jurisdiction={jurisdiction}" in page.url
    finally:
        page.close()


def test_a_filtered_trend_of_a_few_hundred_exams_is_readable(
    server, browser, flagged_truth, screenshots
):
    """A view of a few hundred exams: the trend is drawn at the grain its volume allows, thin
    periods marked (screenshot docs/screenshots/filtered-trend.png)."""
    jurisdiction, claim_type, n = flagged_truth.execute(
        "SELECT jurisdiction, claim_type, count(*) AS n FROM fct_exams GROUP BY 1, 2 "
        "HAVING n BETWEEN 200 AND 600 ORDER BY n DESC, 1, 2 LIMIT 1"
    ).fetchone()
    page = browser.new_page(viewport={"width": WIDTH, "height": 900})
    try:
        _render(
            page,
            f"{server}/denials?jurisdiction={jurisdiction}&claim_type={claim_type}",
            MIN_CHARTS["denials.py"],
        )
        assert page.locator('[data-testid="stException"]').count() == 0
        heading = page.locator("h3", has_text="By ").last
        grain = heading.inner_text().strip().removeprefix("By ")
        assert grain in ("month", "quarter", "year")
        # A few hundred exams over the demo's years are too few for a monthly line.
        assert grain != "month", f"{n} exams drawn by month"
        assert page.get_by_text(f"Grey dots are {grain}s with fewer exams").count() == 1
        heading.evaluate("e => e.scrollIntoView({block: 'start'})")
        page.wait_for_timeout(500)
        page.screenshot(path=str(screenshots / "filtered-trend.png"))
    finally:
        page.close()


def test_an_examiner_opens_in_their_profile(server, browser, flagged_truth):
    # Not the busiest examiner, whom the Impairment and profile pages show by default.
    examiner, n = flagged_truth.execute(
        "SELECT examiner_id, count(*) FROM fct_exams GROUP BY 1 ORDER BY 2 DESC, 1 "
        "LIMIT 1 OFFSET 1"
    ).fetchone()
    page = browser.new_page(viewport={"width": WIDTH, "height": 900})
    try:
        # Another page's examiner choice first, then the Examiners page and its link.
        _render(page, f"{server}/impairment", MIN_CHARTS["impairment.py"])
        page.get_by_role("link", name="Examiners", exact=True).click()
        page.get_by_text("Open a profile").wait_for(timeout=60_000)
        page.locator('[data-testid="stSelectbox"]', has_text="Open a profile").click()
        page.keyboard.type(examiner)  # the option list is virtual: search, then pick
        # A regulator's option reads "<id> · <name>".
        page.get_by_role("option", name=f"{examiner} · ").wait_for(state="attached")
        page.keyboard.press("Enter")
        page.get_by_text(f"Open the profile of {examiner}").click()
        page.wait_for_selector("h1:has-text('Examiner profile')", timeout=60_000)
        page.wait_for_function(
            "() => document.querySelector('[data-testid=\"stStatusWidget\"]') === null",
            timeout=90_000,
        )
        assert page.locator('[data-testid="stException"]').count() == 0
        assert f"examiner={examiner}" in page.url
        exams = page.locator('[data-testid="stMetric"]').first.inner_text()
        assert f"{n:,}" in exams, exams
    finally:
        page.close()


def test_a_long_specialty_is_written_out_on_the_profile(server, browser, flagged_truth):
    """The longest specialty of the demo reads whole: in a caption, and no metric's value on
    the profile is cut short (a metric's value is one line, cut with an ellipsis)."""
    examiner, specialty = flagged_truth.execute(
        "SELECT examiner_id, specialty FROM dim_examiners "
        "WHERE examiner_id IN (SELECT examiner_id FROM fct_exams) "
        "ORDER BY length(specialty) DESC, examiner_id LIMIT 1"
    ).fetchone()
    words = specialty.replace("_", " ")
    assert len(words) >= 20, words  # long enough to have been cut ("occupational medicine")
    page = browser.new_page(viewport={"width": WIDTH, "height": 900})
    try:
        _render(page, f"{server}/examiner_profile?examiner={examiner}",
                MIN_CHARTS["examiner_profile.py"])
        assert page.get_by_text(f"specialty: {words}", exact=True).is_visible()
        cut = page.evaluate(
            "() => Array.from(document.querySelectorAll("
            "'[data-testid=\"stMetricValue\"], [data-testid=\"stMetricValue\"] *'))"
            ".filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.innerText)"
        )
        assert cut == [], cut
    finally:
        page.close()


def test_every_asset_is_served_locally(server, browser):
    """Offline use: nothing the page loads comes from another host (the menu's icons come
    from the font Streamlit serves itself; the favicon was once fetched from a font CDN)."""
    page = browser.new_page(viewport={"width": WIDTH, "height": 900})
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    try:
        _render(page, f"{server}/denials", MIN_CHARTS["denials.py"])
        favicon = page.evaluate("() => document.querySelector(\"link[rel='shortcut icon']\").href")
    finally:
        page.close()
    local = (server, "data:", "blob:")
    assert requested and all(url.startswith(local) for url in requested), [
        url for url in requested if not url.startswith(local)
    ]
    # The favicon is fetched when its link changes; its address is checked as well, in case
    # that fetch comes after the last request recorded.
    assert favicon.startswith(local), favicon
