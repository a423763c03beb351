"""End to end, as each user: `ime serve` with users configured, headless Debian Chromium.

- An insurer opens a deep link before signing in, lands on it after, and sees the market
  beside its own figures on Denials and Overview (screenshot insurer-overview.png).
- A researcher's menu holds Methods and Exports only; the export zip it downloads carries the
  methods, a README with the citation and "synthetic", and allegiance published for every
  examiner with at least k exams on each side.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from test_browser import CHROMIUM, CHROMIUM_ARGS, WIDTH, _require_chromium, _serve

from access import auth
from outputs.tables import present
from queries import Scope

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"
K = 11
# The export preview is scrolled sideways in steps to bring its allegiance columns into view.
SCROLL_STEP_PX = 200
MAX_SCROLLS = 150
RATIO_TO_LEFT_PX = 700


@pytest.fixture(scope="module")
def insurer_id(flagged_truth) -> str:
    return flagged_truth.execute(
        "SELECT insurer_id FROM fct_exams GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
    ).fetchone()[0]


@pytest.fixture(scope="module")
def signed_server(flagged_db, tmp_path_factory, insurer_id):
    """The 20,000-exam demo served with an insurer and a researcher configured."""
    _require_chromium()
    users = tmp_path_factory.mktemp("users") / "users.toml"
    auth.add_user("claims", "insurer", (insurer_id,), password=PASSWORD, path=users)
    auth.add_user("scholar", "researcher", password=PASSWORD, path=users)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IME_USERS", str(users))
        with _serve(flagged_db, tmp_path_factory) as url:
            yield url


@pytest.fixture(scope="module")
def chromium(signed_server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _sign_in(page, url: str, username: str) -> None:
    page.goto(url)
    page.get_by_label("Username").fill(username, timeout=60_000)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def _settled(page) -> None:
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"stStatusWidget\"]') === null",
        timeout=120_000,
    )
    page.wait_for_timeout(1000)


def _main_text(page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


def _main_text_holding(page, needle: str, times: int) -> str:
    """The page's text once `needle` appears `times` times (a busy machine may still be drawing
    when the status widget goes): a page that never gets there fails on the count."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(
            "([needle, times]) => document.querySelector('[data-testid=\"stMain\"]')"
            ".innerText.split(needle).length - 1 >= times",
            arg=[needle, times], timeout=60_000,
        )
    except PlaywrightTimeout:  # the caller's assertion says what was found instead
        pass
    return _main_text(page)


def test_insurer_lands_on_the_deep_link_and_sees_the_market(
    signed_server, chromium, screenshots
):
    page = chromium.new_page(viewport={"width": WIDTH, "height": 900})
    try:
        _sign_in(page, f"{signed_server}/denials?by=insurer_id", "claims")
        page.wait_for_selector("h1:has-text('Denials and opinions')", timeout=120_000)
        _settled(page)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert "by=insurer_id" in page.url
        text = _main_text_holding(page, "Market:", 7)
        assert text.count("Market:") == 7, text[:2000]
        assert page.locator(".js-plotly-plot").count() >= 3
        # The README's screenshot: Denials by specialty, the market's row under each of ours.
        page.locator('[data-testid="stSelectbox"]', has_text="Break down by").click()
        page.keyboard.type("Examiner specialty")
        page.get_by_role("option", name="Examiner specialty").first.wait_for(state="attached")
        page.keyboard.press("Enter")
        page.wait_for_selector("h3:has-text('By examiner specialty')", timeout=120_000)
        _settled(page)
        page.wait_for_function(
            "() => document.querySelector('.js-plotly-plot').innerText.includes('· market')",
            timeout=60_000,
        )
        page.set_viewport_size({"width": WIDTH, "height": 1500})
        page.wait_for_timeout(1000)
        page.screenshot(path=str(screenshots / "insurer-denials.png"))
        page.set_viewport_size({"width": WIDTH, "height": 900})

        page.get_by_role("link", name="Overview", exact=True).click()
        page.wait_for_selector("h1:has-text('IME outcomes')", timeout=120_000)
        page.wait_for_function(
            "() => document.querySelectorAll('[data-testid=\"stMain\"] .js-plotly-plot')"
            ".length >= 4", timeout=120_000,
        )
        _settled(page)
        text = _main_text_holding(page, "Market:", 4)
        assert text.count("Market:") == 4, text[:2000]  # three rates and the MMI median
        assert "Dashed grey: the market" in text
        # The README's screenshot: the top of the Overview, own figures with the market beside.
        page.set_viewport_size({"width": WIDTH, "height": 760})
        page.wait_for_timeout(500)
        page.screenshot(path=str(screenshots / "insurer-overview.png"))
    finally:
        page.close()


def test_researcher_menu_and_allegiance_in_the_downloaded_export(
    signed_server, chromium, flagged_truth, screenshots
):
    page = chromium.new_page(viewport={"width": WIDTH, "height": 900})
    try:
        _sign_in(page, signed_server, "scholar")
        page.wait_for_selector("h1:has-text('Methods')", timeout=120_000)
        _settled(page)
        nav = page.locator('[data-testid="stSidebarNav"] a').all_inner_texts()
        # Each link reads its icon's name, then its title.
        assert [n.strip().split("\n")[-1] for n in nav] == ["Methods", "Exports"]

        page.get_by_role("link", name="Exports", exact=True).click()
        page.wait_for_selector("h1:has-text('Exports')", timeout=120_000)
        _settled(page)
        page.get_by_role("button", name="Prepare the files").click()
        button = page.get_by_role("button", name="Download examiner_rates.zip")
        button.wait_for(timeout=180_000)
        with page.expect_download(timeout=60_000) as download:
            button.click()
        archive = zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes()))
        names = set(archive.namelist())
        assert {"examiner_rates.csv", "methods.md", "README.md"} <= names
        readme = archive.read("README.md").decode()
        assert "Synthetic data" in readme and "Cite as:" in readme
        table = pd.read_csv(io.BytesIO(archive.read("examiner_rates.csv")), dtype=str,
                            keep_default_na=False)
        # The README's screenshot: the preview of the same table (examiner_rates, the first
        # offered), moved sideways to its allegiance columns. The grid draws on a canvas and
        # keeps the cells in view in a hidden table for screen readers: its scroller is moved
        # until the allegiance ratio's column is among them.
        grid = page.locator('[data-testid="stDataFrame"]').first
        scroller = grid.locator(".dvn-scroller").first
        for _ in range(MAX_SCROLLS):
            if "allegiance_ratio" in (grid.text_content() or ""):
                break
            scroller.evaluate(f"e => {{ e.scrollLeft += {SCROLL_STEP_PX}; }}")
            page.wait_for_timeout(400)  # the hidden table follows the view after a moment
        # The ratio has come in at the right edge: on until its interval, q and flag are in view.
        scroller.evaluate(f"e => {{ e.scrollLeft += {RATIO_TO_LEFT_PX}; }}")
        page.wait_for_timeout(1000)
        page.screenshot(path=str(screenshots / "researcher-allegiance.png"))
    finally:
        page.close()
    # Expected: every examiner whose ratio is computed and whose two sides each hold k exams
    # (counted straight from fct_exams) is published; only the others are suppressed.
    exact = present(flagged_truth, "examiner_rates", Scope("regulator")).typed
    sides = flagged_truth.execute(
        "SELECT examiner_id, count(*) FILTER (retained_by = 'insurer_or_employer') AS ins, "
        "count(*) FILTER (retained_by = 'claimant_or_neutral') AS neu FROM fct_exams GROUP BY 1"
    ).df().set_index("examiner_id")
    exact = exact.join(sides, on="examiner_id")
    computed = exact["allegiance_ratio"].notna()
    large = computed & (exact["ins"] >= K) & (exact["neu"] >= K)
    rows = table[table["examiner"].str.startswith("Examiner ")]
    published = rows["allegiance_ratio"].ne("suppressed") & rows["allegiance_ratio"].ne("")
    assert published.sum() == large.sum() > 0
    small = exact["ins"].between(1, K - 1) | exact["neu"].between(1, K - 1)
    assert rows["allegiance_ratio"].eq("suppressed").sum() == small.sum()
    # Pseudonyms only: no raw examiner id reaches a researcher.
    assert not rows["examiner"].isin(sides.index).any()
