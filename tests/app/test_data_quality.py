"""Data quality page: loads, quarantine summary and browser, contract checks."""

from __future__ import annotations

from apphelp import figures, frame_with, metric, no_exception, open_page
from expected_figures import array

from etl.schema import ENTITIES
from etl.validate import RULE_MESSAGES


def test_load_figures_match_load_history(use_db, truth):
    at = open_page("data_quality.py")
    no_exception(at)
    n_loads, n_read, n_quarantined = truth.execute(
        "SELECT count(*) OVER (), n_read, n_quarantined FROM load_history "
        "ORDER BY load_id DESC LIMIT 1"
    ).fetchone()
    assert metric(at, "Loads") == f"{n_loads:,}"
    assert metric(at, "Rows read (last load)") == f"{n_read:,}"
    assert metric(at, "Quarantined (last load)") == f"{n_quarantined:,}"
    assert n_quarantined > 0, "the demo data has deliberately broken rows"
    assert len(figures(at)) == 2


def test_quarantine_browser_pages_and_filters_by_rule(use_db, truth):
    at = open_page("data_quality.py")
    total = truth.execute("SELECT count(*) FROM quarantine").fetchone()[0]
    rows = frame_with(at, "raw_row")
    assert len(rows) == min(total, 50)
    assert "claimant_id" not in "".join(rows["raw_row"].dropna())
    rule, n_rule = truth.execute(
        "SELECT rule, count(*) FROM quarantine GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1"
    ).fetchone()
    at.selectbox(key="dq_rule").set_value(rule).run()
    no_exception(at)
    rows = frame_with(at, "raw_row")
    assert set(rows["rule"]) == {rule}
    assert len(rows) == min(n_rule, 50)
    assert any(f"of {n_rule:,} matching entries" in c.value for c in at.caption)


def test_contract_checks_of_the_last_load(use_db, truth):
    at = open_page("data_quality.py")
    n_checks = truth.execute(
        "SELECT count(*) FROM contract_results "
        "WHERE load_id = (SELECT max(load_id) FROM load_history)"
    ).fetchone()[0]
    assert any(f"All {n_checks} checks pass" in s.value for s in at.success)


def test_quarantine_chart_names_each_rule_in_words_from_its_definition(use_db, truth):
    """Each bar reads file · column and the broken rule in words, as etl defines the rule (the
    format's rules in etl.validate, the rules across columns in etl.schema), never its code."""
    at = open_page("data_quality.py")
    no_exception(at)
    expected = {}
    for path, entity, column, rule, n in truth.execute(
        "SELECT file, entity, column_name, rule, count(*) FROM quarantine GROUP BY ALL"
    ).fetchall():
        words = RULE_MESSAGES.get(rule) or next(
            r.message for r in ENTITIES[entity].rules if r.name == rule
        )
        label = f"{path.rsplit('/', 1)[-1]} · {column} {words}"
        expected[label] = expected.get(label, 0) + n
    bars = figures(at)[1]["data"][0]
    shown = {y.replace("<br>", " "): n for y, n in zip(bars["y"], array(bars["x"]), strict=True)}
    assert shown == expected
    # Not the old "file · column · code" labels.
    codes = set(RULE_MESSAGES) | {r.name for e in ENTITIES.values() for r in e.rules}
    assert not [y for y in bars["y"] if y.rsplit(" · ", 1)[-1] in codes]
    # The rule picker offers the same words, the code beside them.
    options = at.selectbox(key="dq_rule").options
    assert "not one of the allowed values (enum)" in options
