"""The audit pack: an examiner's report and the panel report, as HTML and PDF."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import duckdb
import pytest
from expected_flags import adverse_opinion_flags
from exporthelp import demo_db

from access import audit
from ime.cli import main
from outputs import report
from outputs.report import (
    CHROMIUM,
    examiner_report,
    panel_data,
    panel_report,
    write_report,
)
from queries import Scope

SECTIONS = (
    "1. Every measure against peers", "2. Funnel plots against peers", "3. Allegiance",
    "4. Drift over time", "5. Other rates against peers", "6. Volumes", "7. The method in words",
    "8. Examiner's reply",
)


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    return demo_db(tmp_path_factory).path


@pytest.fixture(scope="module")
def con(db):
    con = duckdb.connect(str(db), read_only=True)
    yield con
    con.close()


@pytest.fixture(scope="module")
def data(con):
    return panel_data(con)


@pytest.fixture(scope="module")
def flagged(data) -> list[str]:
    ids = sorted(data.flags.loc[data.flags["flagged"].astype(bool), "examiner_id"].unique())
    assert ids, "the demo database should flag at least one examiner"
    return ids


@pytest.fixture(autouse=True)
def audit_db(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "audit.duckdb"
    monkeypatch.setenv("IME_AUDIT_DB", str(path))
    return path


def _table_row(page: str, first_cell: str) -> list[str]:
    """The cells of the measures-table row whose first cell is `first_cell`, as text."""
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", page, flags=re.S):
        cells = [html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
                 for c in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)]
        if cells and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no table row {first_cell!r}")


def test_examiner_report_gives_the_examiners_own_figures(con, data):
    # The examiner and every figure checked are computed here from the tables: the flag by the
    # second implementation of tests/expected_flags.py, the counts with plain SQL.
    by_hand = adverse_opinion_flags(con).sort_values(["n", "examiner_id"], ascending=[False, True])
    examiner_id = by_hand["examiner_id"].iloc[0]  # the busiest examiner
    mine = by_hand.set_index("examiner_id").loc[examiner_id]
    [(name, n_exams, first, last)] = con.execute(
        "SELECT any_value(x.examiner_name), count(*), min(e.exam_date), max(e.exam_date) "
        "FROM fct_exams AS e JOIN examiners AS x USING (examiner_id) WHERE examiner_id = $e",
        {"e": examiner_id},
    ).fetchall()
    page = examiner_report(con, examiner_id, data)
    assert f"<h2>Examiner {examiner_id} — {html.escape(name)}</h2>" in page
    assert f"{n_exams:,} exams in view, {first} to {last}" in page
    adverse = _table_row(page, "Adverse opinions")
    assert adverse[1:4] == [f"{int(mine['n']):,}", f"{int(mine['o']):,}", f"{mine['e']:,.1f}"]
    assert mine["eligible"]
    assert (
        adverse[-1].startswith(f"FLAGGED {mine['direction']}") if mine["flagged"]
        else adverse[-1] == "no"
    )
    for section in SECTIONS:
        assert section in page, section
    assert page.count('class="plotly-graph-div') >= 5


def test_allegiance_reads_as_an_odds_ratio_in_the_report(con, data, flagged):
    """The measures table and the forest name each ratio: allegiance's is an odds ratio
    (insurer or employer against claimant or neutral), the others observed over expected."""
    examiner_id = flagged[0]
    page = examiner_report(con, examiner_id, data)
    mine = data.flags[data.flags["examiner_id"] == examiner_id].set_index("measure")
    ratio = mine.loc["allegiance"]
    assert _table_row(page, "Allegiance")[4] == (
        f"odds ratio {ratio['ratio']:.2f} ({ratio['ci_low']:.2f}–{ratio['ci_high']:.2f})"
    )
    assert _table_row(page, "Adverse opinions")[4].startswith("O/E ")
    assert "Ratio (95% interval)" in page and "O/E (95% interval)" not in page
    forest = report.forest_chart(data.flags[data.flags["examiner_id"] == examiner_id])
    assert forest.layout.xaxis.title.text.startswith(
        "observed / expected; allegiance: odds ratio (insurer/employer vs claimant/neutral)"
    )
    assert [t.name for t in forest.data][0] == "ratio with 95% interval"


def test_report_opens_offline(con, data, flagged):
    page = examiner_report(con, flagged[0], data)
    assert not re.search(r"<script[^>]+src=", page), "no script is fetched from the network"
    assert not re.search(r"<link[^>]+href=", page)
    assert "Plotly" in page  # plotly.js is inline


def test_report_never_shows_a_claimant_or_case_identifier(con, data, flagged):
    page = panel_report(con, data)
    identifiers = set(con.execute(
        "SELECT claimant_id FROM cases UNION SELECT case_id FROM cases "
        "UNION SELECT exam_id FROM exams"
    ).df().iloc[:, 0])
    assert not identifiers & set(re.findall(r"[A-Za-z0-9_]+", page))


def test_panel_report_has_a_section_for_every_flagged_examiner(con, data, flagged):
    page = panel_report(con, data)
    for examiner_id in flagged:
        assert f'id="examiner-{examiner_id}"' in page
    assert page.count('<section class="examiner"') == len(flagged)
    assert page.count("8. Examiner's reply") == len(flagged)


def test_reports_are_for_regulators_only(con, tmp_path):
    for scope in (Scope("researcher"), Scope("insurer", ("INS001",))):
        with pytest.raises(PermissionError, match="regulators"):
            write_report(con, scope, tmp_path / "r.html", username="t", examiner_id="EX0001")
    assert not list(tmp_path.iterdir())


def test_unknown_examiner_is_a_clear_error(db, tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["report", "examiner", "NOPE", "--db", str(db), "--out", str(out)]) == 2
    assert "no exams of examiner 'NOPE'" in capsys.readouterr().err


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}")
def test_cli_writes_html_and_pdf_and_audits_it(db, flagged, tmp_path, audit_db):
    out = tmp_path / "report.html"
    args = ["report", "examiner", flagged[0], "--db", str(db), "--out", str(out), "--pdf"]
    assert main(args) == 0
    pdf = out.with_suffix(".pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) >= 3
    assert "8. Examiner's reply" in out.read_text()
    log = audit.read(event="export", path=audit_db)
    detail = json.loads(log["detail"].iloc[0])
    assert detail["table"] == "audit_report" and detail["examiner_id"] == flagged[0]
    assert detail["pdf"].endswith("report.pdf") and log["role"].iloc[0] == "regulator"


def test_cli_panel_report_html(db, flagged, tmp_path):
    out = tmp_path / "panel.html"
    assert main(["report", "panel", "--db", str(db), "--out", str(out)]) == 0
    assert all(f'id="examiner-{i}"' in out.read_text() for i in flagged)
    assert not out.with_suffix(".pdf").exists()


def test_pdf_without_chromium_is_a_clear_error_and_the_html_is_audited(
    db, flagged, tmp_path, audit_db, capsys, monkeypatch
):
    # Whether or not this machine has Chromium, the report looks for it where there is none.
    monkeypatch.setattr(report, "CHROMIUM", str(tmp_path / "no" / "chromium"))
    out = tmp_path / "report.html"
    args = ["report", "examiner", flagged[0], "--db", str(db), "--out", str(out), "--pdf"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("ime report: PDF output needs Chromium")
    assert "apt-get install chromium" in err and str(out) in err
    assert "Traceback" not in err and "playwright" not in err.lower()
    assert "8. Examiner's reply" in out.read_text()
    assert not out.with_suffix(".pdf").exists()
    log = audit.read(event="export", path=audit_db)
    assert len(log) == 1
    detail = json.loads(log["detail"].iloc[0])
    assert detail["file"] == str(out.resolve()) and detail["pdf"] is None
    assert "apt-get install chromium" in detail["pdf_error"]
