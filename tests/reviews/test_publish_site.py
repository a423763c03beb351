"""`ime publish`: who is named, the public rules on the examiner's figures, the market tables
against the researcher's export, formula-safe CSVs, and pages that load nothing."""

from __future__ import annotations

import csv
import datetime as dt
import re

import pandas as pd
import pytest

from access import audit, reviews
from outputs import publish, report
from outputs.tables import present
from queries import Scope

T0 = dt.datetime(2026, 1, 5, 8, 0)


def _text(site) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in site.out.rglob("*") if p.is_file())


def test_only_examiners_whose_review_ended_are_named(con, busiest, tmp_path):
    closed, expired, still_open, reopened = busiest[:4]
    never = busiest[4:]
    # Opened in January with three days to reply: expired by now.
    report.open_review(con, expired, "cli:alice", days=3, now=T0)
    for examiner in (closed, still_open, reopened):
        report.open_review(con, examiner, "cli:alice")
    reviews.close(closed, "cli:alice")
    reviews.close(reopened, "cli:alice")
    report.open_review(con, reopened, "cli:alice")  # under review again: not named
    site = publish.publish(con, tmp_path / "site", username="cli:alice")
    assert site.named == sorted([closed, expired])
    text = _text(site)
    for examiner in (still_open, reopened, *never):
        assert not re.search(rf"\b{examiner}\b", text), examiner
    expired_page = (tmp_path / "site" / f"examiner-{publish.safe_file_stem(expired)}.html")
    page = expired_page.read_text(encoding="utf-8")
    assert "expired on 2026-01-08 without a close" in page
    assert "did not reply by the deadline" in page
    entry = audit.read(1, event="published")
    assert entry["detail"].str.contains(closed).all()


def test_an_examiners_public_figures_follow_the_public_rules(con, busiest, tmp_path):
    examiner = busiest[0]
    report.open_review(con, examiner, "cli:alice")
    reviews.close(examiner, "cli:alice")
    site = publish.publish(con, tmp_path / "site", username="t")
    frozen = reviews.latest(examiner).figures.set_index("measure")
    path = next(p for p in site.tables if p.name.startswith("examiner-"))
    with path.open(encoding="utf-8") as fh:
        rows = {r["label"]: r for r in csv.DictReader(fh)}
    assert set(rows) == set(frozen["label"])
    for figure in (row for _, row in frozen.iterrows()):
        row = rows[figure["label"]]
        for column in ("n", "observed"):
            exact = float(figure[column])
            if 0 < exact < 11:
                assert row[column] == "suppressed"
            elif row[column] != "suppressed":
                # Rounded to the nearest multiple of 11 (halves up), as the researcher's export.
                assert float(row[column]) == 11 * int(exact / 11 + 0.5)
        if row["observed"] == "suppressed":
            assert row["ratio"] == row["ci_low"] == row["ci_high"] == "suppressed"
        else:  # 2 significant figures of the frozen ratio
            assert float(row["ratio"]) == pytest.approx(float(f"{figure['ratio']:.2g}"))
        assert row["flag"].startswith("flagged" if figure["flagged"] else "not flagged")
    # The ratio column is named for both kinds it holds: allegiance's is an odds ratio.
    page = next(p for p in site.out.rglob("*.html") if p.name.startswith("examiner-"))
    text = page.read_text(encoding="utf-8")
    assert "<th>Observed / expected</th>" not in text
    assert ("Ratio: observed / expected; allegiance: odds ratio (insurer/employer vs "
            "claimant/neutral); 1 is no difference") in text


def test_the_market_tables_are_the_researchers_tables(con, tmp_path):
    site = publish.publish(con, tmp_path / "site", username="t")
    by_name = {p.name: p for p in site.tables}
    mmi = pd.read_csv(by_name["market-time-to-mmi.csv"], dtype=str)
    researcher = present(con, "mmi_summary", Scope("researcher")).display
    assert mmi["n_exams"].tolist() == researcher["n_exams"].astype(str).tolist()
    rates = pd.read_csv(by_name["market-outcome-rates.csv"])
    total = present(con, "insurer_rates", Scope("researcher")).display.iloc[-1]
    adverse = rates.set_index("outcome").loc["Adverse opinion"]
    # Figures are published to 4 significant figures (outputs.rounding): within 5e-4 of them.
    assert adverse["n_outcome"] == total["n_adverse"] and adverse["rate"] == pytest.approx(
        total["adverse_rate"], rel=5e-4)
    # The interval around the market rate is the Wilson interval of the rounded counts
    # (Wilson 1927), computed here by its formula.
    k, n, z = total["n_adverse"], total["n_exams"], 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5
    assert adverse["ci_low"] == pytest.approx(centre - half, rel=5e-4)
    assert adverse["ci_high"] == pytest.approx(centre + half, rel=5e-4)


def test_csv_cells_that_read_as_formulas_are_neutralised(tmp_path):
    site = publish.Site(tmp_path, "0" * 64, "2026-01-01")
    (tmp_path / publish.TABLES_DIR).mkdir()
    shown = publish.Shown(pd.DataFrame({"group": ["=HYPERLINK(\"x\")", "+1", "plain"],
                                        "n": [11, 22, 33]}),
                          {"group": "Group", "n": "Exams"}, "t.csv", ("group",))
    html = publish._write_table(site, shown)
    with (tmp_path / "tables" / "t.csv").open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert [r[0] for r in rows[1:]] == ["'=HYPERLINK(\"x\")", "'+1", "plain"]
    assert "&quot;" in html and "<script" not in html


def test_pages_load_nothing_from_anywhere(con, tmp_path):
    site = publish.publish(con, tmp_path / "site", username="t")
    for page in site.pages:
        text = page.read_text(encoding="utf-8")
        assert "Generated from snapshot" in text and site.snapshot_sha256 in text
        assert "A flag is a reason to look, not a verdict." in text
        assert not re.search(r"<(script|img|link|iframe)\b", text)
        assert not re.search(r"(src|href)=\"(https?:)?//", text)


def test_a_flag_on_either_side_is_read_in_the_measures_own_words():
    # A low allegiance finding means the examiner favours the claimant; the words were once
    # "lower than expected", which says nothing of whom it favours.
    low = pd.Series({"measure": "allegiance", "eligible": True, "flagged": True,
                     "direction": "low"})
    assert publish._flag_words(low).endswith(
        "the examiner favours the claimant when an insurer retains them")
    high = low.copy()
    high["direction"] = "high"
    assert publish._flag_words(high).endswith(
        "the examiner favours the insurer when an insurer retains them")
    high["flagged"] = False
    assert publish._flag_words(high) == "not flagged"
