"""Issue 14 in the app: the insurer's market benchmark on every outcome page, Our examiners,
the time grain chosen by volume, the researcher's menu and refused link filters.

Expected market figures are computed straight from fct_exams with plain SQL, rounded to a
multiple of 11 by hand (SPEC 3: counts rounded to the base k = 11, halves up), and their
Wilson intervals come from statsmodels, not from the app's code.
"""

from __future__ import annotations

import pandas as pd
import pytest
from apphelp import captions, figures, frame_with, open_as
from expected_figures import array, counts
from statsmodels.stats.proportion import proportion_confint

from dashboard import periods

K = 11


def rounded(n: int) -> int:
    """Nearest multiple of 11, halves up (access.roles' rule, written out again here)."""
    return (n + K // 2) // K * K


def market_words(k: int, n: int) -> str:
    """The caption of a market rate as statsmodels computes it from the rounded counts."""
    k, n = rounded(k), rounded(n)
    low, high = proportion_confint(k, n, alpha=0.05, method="wilson")
    return f"Market: {100 * k / n:.1f}% (95% CI {100 * low:.1f}–{100 * high:.1f}%), {k:,} of {n:,}"


@pytest.fixture
def insurer(use_db, truth, add_user):
    """The busiest insurer, signed in (users configured, so not demo mode)."""
    insurer_id = truth.execute(
        "SELECT insurer_id FROM fct_exams GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
    ).fetchone()[0]
    return add_user("ins", "insurer", (insurer_id,))


def test_insurer_overview_puts_the_market_beside_its_own_rates(insurer, truth):
    at = open_as("overview.py", insurer)
    market = counts(truth)
    shown = captions(at)
    assert market_words(market["adverse"], market["n"]) in shown
    assert market_words(market["denied"], market["with_decision"]) in shown
    assert market_words(market["zero"], market["rated"]) in shown
    # The sparklines carry a dashed market line beside the insurer's own.
    dashed = [
        t for chart in figures(at)
        for t in chart["data"]
        if t.get("line", {}).get("dash") == "dash"
    ]
    assert dashed, "no market line on the Overview's trends"


def test_a_regulator_sees_no_market_caption(use_db, add_user):
    regulator = add_user("reg", "regulator")
    at = open_as("overview.py", regulator)
    assert not [c for c in captions(at) if c.startswith("Market:")]


def test_insurer_denials_by_insurer_is_own_against_market(insurer, truth):
    at = open_as("denials.py", insurer, {"by": "insurer_id"})
    market = counts(truth)
    assert market_words(market["denied"], market["with_decision"]) in captions(at)
    chart = figures(at)[0]
    rows = {y for trace in chart["data"] for y in trace.get("y", [])}
    assert rows == {insurer.insurer_ids[0], "market (all insurers)"}


def test_insurer_denials_by_jurisdiction_shows_each_jurisdictions_market(insurer, truth):
    at = open_as("denials.py", insurer, {"by": "jurisdiction"})
    chart = figures(at)[0]
    grey = [t for t in chart["data"] if t["marker"].get("symbol") == "circle-open"]
    jurisdiction, k, n = truth.execute(
        "SELECT jurisdiction, count(*) FILTER (is_adverse), count(*) FROM fct_exams "
        "WHERE jurisdiction IN (SELECT jurisdiction FROM fct_exams WHERE insurer_id = ?) "
        "GROUP BY 1 ORDER BY 3 DESC LIMIT 1",
        [insurer.insurer_ids[0]],
    ).fetchone()
    adverse = next(t for t in grey if t["xaxis"] == "x3")  # panel 3: adverse (denials.ORDER)
    at_row = dict(zip(array(adverse["y"]), array(adverse["x"]), strict=True))
    assert at_row[f"{jurisdiction} · market"] == pytest.approx(rounded(k) / rounded(n))


def test_insurer_mmi_and_impairment_show_market_rows(insurer):
    for page, column in (("mmi.py", "population"), ("impairment.py", "population")):
        at = open_as(page, insurer)
        table = frame_with(at, column)
        assert set(table[column]) == {"own cases", "market (all insurers)"}, page
        market = table[table[column] == "market (all insurers)"]
        n = market.filter(regex="^n_").stack()
        assert (n.dropna().astype(int) % K == 0).all(), page


def test_our_examiners_lists_our_volume_and_market_share(insurer, truth):
    at = open_as("our_examiners.py", insurer)
    table = frame_with(at, "our exams")
    own = truth.execute(
        "SELECT examiner_id, count(*) AS n FROM fct_exams WHERE insurer_id = ? GROUP BY 1",
        [insurer.insurer_ids[0]],
    ).df().set_index("examiner_id")["n"]
    assert dict(zip(table["examiner"], table["our exams"], strict=True)) == own.to_dict()
    top = table.iloc[0]
    everyone = truth.execute(
        "SELECT count(*) FROM fct_exams WHERE examiner_id = ?", [top["examiner"]]
    ).fetchone()[0]
    share = 100 * top["our exams"] / rounded(everyone)
    assert top["our share of their exams"] == f"about {share:.1f}%"
    # Rulings rate: among exams a ruling names (measures/rulings.py), not among all exams.
    k, n = truth.execute(
        "SELECT count(*) FILTER (is_report_rejected), count(*) FILTER (n_rulings > 0) "
        "FROM fct_exams WHERE insurer_id = ? AND examiner_id = ?",
        [insurer.insurer_ids[0], top["examiner"]],
    ).fetchone()
    assert top["Report rejected: ours"].endswith(f"{k:,} of {n:,}")


def test_our_examiners_is_not_in_a_regulators_menu_and_says_whose_it_is(use_db):
    at = open_as("our_examiners.py", None)
    assert not any("Our examiners" == h.value for h in at.title)


def test_grain_follows_volume():
    # 24 months of 20 exams: a quarter holds 60, so quarterly; 24 months of 40: monthly.
    months = pd.date_range("2022-01-01", periods=24, freq="MS")
    for per_month, grain in ((40, "month"), (20, "quarter"), (5, "year")):
        monthly = pd.DataFrame({"exam_month": months, "n_exams": per_month, "n_adverse": 1})
        assert periods.choose_grain(monthly) == grain
    # A last quarter with one month of data is thin and marked so.
    monthly = pd.DataFrame({"exam_month": months[:22], "n_exams": 20, "n_adverse": 1})
    quarters = periods.aggregate(monthly, "quarter")
    assert quarters["n_exams"].tolist()[-1] == 20 and quarters["thin"].tolist()[-1]
    assert not quarters["thin"].iloc[:-1].any()


def test_a_filtered_denials_page_uses_a_coarser_grain_and_greys_thin_periods(use_db, truth):
    body_part, n = truth.execute(
        "SELECT body_part, count(*) FROM fct_exams GROUP BY 1 ORDER BY 2 LIMIT 1"
    ).fetchone()
    at = open_as("denials.py", None, {"body_part": body_part})
    subheaders = [s.value for s in at.subheader]
    assert "By month" not in subheaders, (n, subheaders)


def test_researcher_menu_holds_only_methods_and_exports(use_db, add_user):
    researcher = add_user("res", "researcher")
    at = open_as("methods.py", researcher)
    assert [t.value for t in at.title] == ["Methods"]
    at = open_as("exports.py", researcher)
    assert [t.value for t in at.title] == ["Exports"]


def test_a_link_naming_an_unknown_jurisdiction_says_which_values_are_known(use_db, truth):
    at = open_as("overview.py", None, {"jurisdiction": "XX"})
    known = [r[0] for r in truth.execute(
        "SELECT DISTINCT jurisdiction FROM fct_exams WHERE jurisdiction IS NOT NULL ORDER BY 1"
    ).fetchall()]
    warning = " ".join(w.value for w in at.warning)
    assert "unknown jurisdiction 'XX'" in warning
    assert ", ".join(known) in warning
