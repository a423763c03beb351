"""What a reader sees in charts is labelled in words: no stored code (`orthopedic_surgery`,
`insurer_or_employer`, `partially_denied`) in a legend, an axis, a panel title or a row of
a chart. Every page is rendered with AppTest on the demo data, grouped by the features whose
codes have underscores, and every label of every figure is read from the figure the browser
receives.
"""

from __future__ import annotations

import re

import pytest
from apphelp import figures, no_exception, open_page

from etl.schema import SPECIALTIES
from measures.labels import human

# A stored code: lower-case words joined by underscores.
CODE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")


def _labels(fig: dict) -> list[str]:
    """Every label of a figure: legend entries, axis and panel titles, and the categories
    drawn on a categorical axis (a dot's or bar's row, a violin's column)."""
    layout = fig.get("layout", {})
    out = []
    for trace in fig.get("data", []):
        if trace.get("showlegend", True) and trace.get("name"):
            out.append(str(trace["name"]))
        for axis in ("x", "y"):
            values = trace.get(axis)
            if isinstance(values, list) and values and isinstance(values[0], str):
                out += values
    for key, value in layout.items():
        if key.startswith(("xaxis", "yaxis")) and isinstance(value, dict):
            title = value.get("title", {})
            out.append(str(title.get("text", "") if isinstance(title, dict) else title))
            out += [str(t) for t in value.get("ticktext", [])]
    title = layout.get("title", {})
    out.append(str(title.get("text", "") if isinstance(title, dict) else title))
    out += [str(a.get("text", "")) for a in layout.get("annotations", [])]
    return out


def _busiest_examiner(truth) -> str:
    return truth.execute(
        "SELECT examiner_id FROM fct_exams GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
    ).fetchall()[0][0]


PAGES = [
    ("overview.py", {}),
    ("denials.py", {"by": "specialty"}),
    ("denials.py", {"by": "body_part"}),
    ("denials.py", {"by": "requested_by"}),
    ("denials.py", {"by": "retained_by"}),
    ("denials.py", {"by": "claim_type"}),
    ("mmi.py", {"group": "specialty"}),
    ("mmi.py", {"group": "retained_by"}),
    ("mmi.py", {"group": "claim_type"}),
    ("impairment.py", {}),
    ("examiners.py", {}),
    ("examiner_profile.py", {"examiner": None}),
]


@pytest.mark.parametrize(("page", "query"), PAGES, ids=[f"{p}-{q}" for p, q in PAGES])
def test_no_stored_code_in_a_chart(use_db, truth, page, query):
    if "examiner" in query:
        query = {"examiner": _busiest_examiner(truth)}
    at = open_page(page, query)
    no_exception(at)
    shown = [label for fig in figures(at) for label in _labels(fig)]
    assert shown, f"{page}: no chart labels read"
    codes = sorted({m for label in shown for m in CODE.findall(label)})
    assert not codes, f"{page} {query}: stored codes shown: {codes}"


def test_a_grouping_by_specialty_names_them_in_words(use_db, truth):
    # The words themselves, from the one mapping: 'orthopedic surgery' in the MMI legend.
    at = open_page("mmi.py", {"group": "specialty"})
    legend = {t["name"] for fig in figures(at) for t in fig["data"] if t.get("name")}
    in_data = {r[0] for r in truth.execute("SELECT DISTINCT specialty FROM fct_exams")
               .fetchall() if r[0] is not None}
    assert "orthopedic_surgery" in in_data and "orthopedic_surgery" in SPECIALTIES
    assert "orthopedic surgery" in legend
    assert human("orthopedic_surgery") == "orthopedic surgery"
    assert human("insurer_or_employer") == "insurer or employer"
    assert human("workers_comp") == "workers' compensation"
