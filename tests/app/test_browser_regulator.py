"""End to end as a regulator: `ime serve` of a database loaded twice, in headless Debian
Chromium. Signs in with a password, sees examiner names, searches one, sees flags on both
sides, and the flags raised and cleared between the two loads. Takes the README's
screenshots of the regulator's pages (into docs/screenshots with --screenshots).
"""

from __future__ import annotations

import re
import shutil

import duckdb
import pandas as pd
import pytest
from test_browser import CHROMIUM, CHROMIUM_ARGS, WIDTH, _require_chromium, _serve

from access import auth
from etl.load import load
from measures.engine import store_flags

pytestmark = pytest.mark.browser

PASSWORD = "a regulator's passphrase"
KEY = ["examiner_id", "measure", "direction"]


@pytest.fixture(scope="module")
def two_loads(flagged_db, tmp_path_factory):
    """The 20,000-exam demo's exams before July 2021 loaded first, then all of it; the set of
    flags (examiner, measure, side) stored after each load."""
    demo = flagged_db.parent / "demo"
    root = tmp_path_factory.mktemp("regulator")
    part = root / "part"
    part.mkdir()
    for name in ("examiners.csv", "cases.csv"):
        shutil.copy(demo / name, part / name)
    exams = pd.read_csv(demo / "exams.csv", dtype=str)
    exams[exams["exam_date"] < "2021-07-01"].to_csv(part / "exams.csv", index=False)
    db = root / "ime.duckdb"
    flagged = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IME_KEY_FILE", str(root / "pseudonym.key"))
        for folder in (part, demo):
            load([folder], db, progress=False, after_build=store_flags)
            con = duckdb.connect(str(db), read_only=True)
            rows = con.execute(f"SELECT {', '.join(KEY)} FROM examiner_flags WHERE flagged")
            flagged.append(set(rows.fetchall()))
            con.close()
    return db, flagged


def _settle(page) -> None:
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"stStatusWidget\"]') === null",
        timeout=120_000,
    )
    page.wait_for_timeout(1500)


def _choose(page, label: str, option: str) -> None:
    """Pick `option` in the selectbox labelled `label` (the option list is virtual: type,
    then pick)."""
    page.locator('[data-testid="stSelectbox"]', has_text=label).click()
    page.keyboard.type(option)
    page.get_by_role("option", name=option).first.wait_for(state="attached")
    page.keyboard.press("Enter")
    _settle(page)


def test_a_regulator_sees_names_both_sides_and_the_history(two_loads, tmp_path_factory,
                                                             no_configured_users, screenshots):
    _require_chromium()
    db, (before, after) = two_loads
    auth.add_user("rita", "regulator", password=PASSWORD, path=no_configured_users)
    con = duckdb.connect(str(db), read_only=True)
    names = dict(con.execute("SELECT examiner_id, examiner_name FROM dim_examiners").fetchall())
    allegiance = con.execute(
        "SELECT direction, count(*) FROM examiner_flags WHERE flagged AND measure = "
        "'allegiance' GROUP BY 1"
    ).fetchall()
    con.close()
    from playwright.sync_api import sync_playwright

    with _serve(db, tmp_path_factory) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": WIDTH, "height": 900})
        # A shared machine can be slow: every wait is generous.
        page.set_default_timeout(180_000)
        try:
            page.goto(url)
            page.get_by_role("textbox", name="Username").fill("rita")
            page.get_by_role("textbox", name="Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_selector("h1:has-text('IME outcomes')", timeout=90_000)
            _settle(page)
            assert page.locator('[data-testid="stException"]').count() == 0

            # The history across the two loads: counted independently from the flags each
            # load stored, as Python sets.
            n_raised, n_cleared = len(after - before), len(before - after)
            changes = page.get_by_text(re.compile(r"Load \d+ against load \d+:"))
            changes.wait_for(timeout=90_000)
            assert (
                f"{n_raised} flag{'s' if n_raised != 1 else ''} raised, {n_cleared} cleared"
                in changes.inner_text()
            )
            # The README's screenshot: the flags raised and cleared, their list under them,
            # taken once the list is drawn (an earlier retake caught the page before it was).
            heading = page.get_by_text("Flags raised and cleared since the previous load")
            listing = changes.locator("xpath=following::*[@data-testid='stDataFrame'][1]")
            listing.wait_for(state="visible", timeout=90_000)
            listing.locator("canvas").first.wait_for(state="visible", timeout=90_000)
            page.wait_for_timeout(1500)
            # The heading at the top, clear of Streamlit's toolbar (which overlays the page).
            heading.evaluate("e => e.scrollIntoView({block: 'start'})")
            page.mouse.move(WIDTH // 2, 450)
            page.mouse.wheel(0, -90)
            page.mouse.move(WIDTH // 2, 5)  # off the list, whose toolbar shows on hover
            page.wait_for_timeout(1000)
            page.screenshot(path=str(screenshots / "regulator-flag-history.png"))

            page.get_by_role("link", name="Examiners", exact=True).click()
            page.wait_for_selector("h1:has-text('Examiners')", timeout=90_000)
            _settle(page)
            _choose(page, "Measure", "Allegiance")
            page.wait_for_selector('[data-testid="stMain"] .js-plotly-plot', timeout=90_000)
            _settle(page)

            # Flags both ways, as many on each side as the database holds.
            expected = dict(allegiance)
            assert expected.get("high", 0) > 0 and expected.get("low", 0) > 0
            flagged = page.locator('[data-testid="stMetric"]', has_text="Flagged on allegiance")
            caption = page.get_by_text(re.compile(r"\d+ high, \d+ low: q <")).inner_text()
            assert f"{expected['high']} high, {expected['low']} low" in caption
            assert flagged.count() == 1

            # Names beside ids: on the chart's rows and in the picker.
            chart = page.locator('[data-testid="stMain"] .js-plotly-plot').first.inner_text()
            shown = [e for e in names if f"{e} · {names[e]}" in chart]
            assert shown, "no examiner name on the allegiance chart"

            height = page.evaluate(
                "() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight"
            )
            page.set_viewport_size({"width": WIDTH, "height": max(900, int(height))})
            page.wait_for_timeout(1000)
            page.screenshot(path=str(screenshots / "examiners_regulator.png"))
            page.set_viewport_size({"width": WIDTH, "height": 900})

            # Search by a surname: the count matches the names that hold it.
            surname = names[shown[0]].split()[-1]
            box = page.get_by_label("Search by name or id")
            box.fill(surname.lower())
            box.press("Enter")
            _settle(page)
            n_match = sum(surname.lower() in n.lower() for n in names.values())
            assert page.get_by_text(
                f"{n_match:,} of {len(names):,} examiners match {surname.lower()!r}."
            ).count() == 1
            # The README's screenshot: the search, the count it finds and the table under it.
            box.evaluate("e => e.scrollIntoView({block: 'start'})")
            page.wait_for_timeout(1000)
            page.screenshot(path=str(screenshots / "examiners-search.png"))
            # The picker offers the matches alone, each with its name.
            page.locator('[data-testid="stSelectbox"]', has_text="Open a profile").click()
            # A click may only focus the box (its label sits inside the same element): the
            # arrow key opens the list of options whatever the click landed on.
            page.keyboard.press("ArrowDown")
            options = page.get_by_role("option")
            options.first.wait_for(state="attached")
            offered = options.all_inner_texts()
            assert len(offered) == n_match
            assert all(surname.lower() in o.lower() and " · " in o for o in offered)
            page.keyboard.press("Escape")

            # One side only.
            box.fill("")
            box.press("Enter")
            _settle(page)
            _choose(page, "Side", "low (fewer than expected)")
            caption = page.get_by_text(re.compile(r"\d+ high, \d+ low: q <")).inner_text()
            assert f"0 high, {expected['low']} low" in caption
            assert page.locator('[data-testid="stException"]').count() == 0
        finally:
            page.close()
            browser.close()
