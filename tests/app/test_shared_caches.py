"""The figures every session shares (Overview's trends, an Examiner profile): computed once per
view and shared, but never across scopes, views or snapshots.

Each session is its own AppTest in one process, as sessions are threads of one `ime serve`:
Streamlit's caches are the process's. The expected figures are counted straight from the
database; the builders are the real ones, wrapped with a counter to see when they run.
"""

from __future__ import annotations

import json
import os
import shutil

import duckdb
import pytest
import streamlit as st
from apphelp import figures, no_exception, open_as
from expected_figures import array
from streamlit.testing.v1 import AppTest

from dashboard import charts, examiner_figures

RETAINED_BY_INSURER = "Retained by insurer or employer"


def counting(monkeypatch, module, name: str) -> list:
    """Wrap module.name (the real function) so that each call is counted."""
    calls = []
    real = getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


@pytest.fixture
def db(demo_db, tmp_path, monkeypatch):
    """A copy of the demo database of this test's own (the snapshot test replaces it)."""
    path = tmp_path / "ime.duckdb"
    shutil.copy(demo_db, path)
    monkeypatch.setenv("IME_DB", str(path))
    # Earlier tests' entries would hide whether this test's sessions computed or shared.
    st.cache_data.clear()
    st.cache_resource.clear()
    return path


def _rows(db, sql: str, params: dict) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def _count(db, sql: str, params: dict) -> tuple:
    return _rows(db, sql, params)[0]


@pytest.fixture
def two_insurers(db, add_user):
    """An examiner with cases from two insurers whose adverse rates, when retained by an
    insurer or employer, differ; the two insurers and a regulator as users."""
    rows = _rows(
        db,
        "SELECT examiner_id, insurer_id, count(*) FILTER (is_adverse) AS k, count(*) AS n "
        "FROM fct_exams WHERE requested_by IN ('insurer', 'employer') "
        "GROUP BY ALL HAVING count(*) >= 5 ORDER BY examiner_id, n DESC, insurer_id",
        {},
    )
    by_examiner: dict[str, list] = {}
    for examiner, insurer, k, n in rows:
        by_examiner.setdefault(examiner, []).append((insurer, k, n))
    examiner, parts = next(
        (e, p) for e, p in sorted(by_examiner.items(), key=lambda x: -sum(r[2] for r in x[1]))
        if len(p) >= 2 and p[0][1] / p[0][2] != p[1][1] / p[1][2]
    )
    (a, k_a, n_a), (b, k_b, n_b) = parts[:2]
    users = {a: add_user("ins_a", "insurer", (a,)), b: add_user("ins_b", "insurer", (b,))}
    regulator = add_user("reg", "regulator")
    return examiner, users, {a: k_a / n_a, b: k_b / n_b}, regulator


def allegiance_rate(at: AppTest) -> float:
    """The examiner's own adverse rate when retained by an insurer or employer, as drawn."""
    for fig in figures(at):
        for trace in fig["data"]:
            y = list(trace.get("y", ()))
            if trace.get("name") == "examiner" and RETAINED_BY_INSURER in y:
                return float(array(trace["x"])[y.index(RETAINED_BY_INSURER)])
    raise AssertionError("no allegiance chart with the examiner's rate")


def test_an_insurer_never_receives_another_insurers_cached_profile(two_insurers, monkeypatch):
    examiner, users, expected, regulator = two_insurers
    built = counting(monkeypatch, examiner_figures, "allegiance_rates")
    (a, user_a), (b, user_b) = users.items()
    query = {"examiner": examiner}

    assert allegiance_rate(open_as("examiner_profile.py", user_a, query)) == pytest.approx(
        expected[a]
    )
    assert len(built) == 1
    # Another session of the same insurer on the same view: shared, not built again.
    assert allegiance_rate(open_as("examiner_profile.py", user_a, query)) == pytest.approx(
        expected[a]
    )
    assert len(built) == 1
    # The other insurer, same examiner and filters: its own figures, built for it.
    assert allegiance_rate(open_as("examiner_profile.py", user_b, query)) == pytest.approx(
        expected[b]
    )
    assert len(built) == 2
    # The regulator sees every insurer's exams: a third entry.
    k, n = _count(
        os.environ["IME_DB"],
        "SELECT count(*) FILTER (is_adverse), count(*) FROM fct_exams "
        "WHERE examiner_id = $e AND requested_by IN ('insurer', 'employer')",
        {"e": examiner},
    )
    assert allegiance_rate(open_as("examiner_profile.py", regulator, query)) == pytest.approx(
        k / n
    )
    assert len(built) == 3


def test_a_filtered_view_of_a_profile_is_cached_apart(two_insurers, monkeypatch):
    examiner, users, expected, _ = two_insurers
    a, user_a = next(iter(users.items()))
    jurisdiction, k, n = _count(
        os.environ["IME_DB"],
        "SELECT jurisdiction, count(*) FILTER (is_adverse), count(*) FROM fct_exams "
        "WHERE examiner_id = $e AND insurer_id = $i AND requested_by IN ('insurer', 'employer') "
        "GROUP BY 1 ORDER BY 3 DESC, 1 LIMIT 1",
        {"e": examiner, "i": a},
    )
    built = counting(monkeypatch, examiner_figures, "allegiance_rates")
    whole = open_as("examiner_profile.py", user_a, {"examiner": examiner})
    assert allegiance_rate(whole) == pytest.approx(expected[a])
    part = open_as(
        "examiner_profile.py", user_a, {"examiner": examiner, "jurisdiction": jurisdiction}
    )
    assert allegiance_rate(part) == pytest.approx(k / n)
    assert len(built) == 2


def volume_drawn(at: AppTest) -> int:
    """Exams in the Overview's volume chart: the sum of its bars."""
    (bars,) = [t for fig in figures(at) for t in fig["data"] if t.get("type") == "bar"]
    return int(array(bars["y"]).sum())


def test_overview_trends_are_shared_per_view_and_scope(two_insurers, monkeypatch):
    _, users, _, regulator = two_insurers
    db = os.environ["IME_DB"]
    built = counting(monkeypatch, charts, "volume_trend")
    for insurer, user in users.items():
        (own,) = _count(db, "SELECT count(*) FROM fct_exams WHERE insurer_id = $i", {"i": insurer})
        assert volume_drawn(open_as("overview.py", user)) == own
        assert volume_drawn(open_as("overview.py", user)) == own  # a second session: shared
    (total,) = _count(db, "SELECT count(*) FROM fct_exams", {})
    assert volume_drawn(open_as("overview.py", regulator)) == total
    assert len(built) == 3


def test_a_new_load_recomputes_the_shared_figures(db, monkeypatch, tmp_path):
    # The busiest examiner with exams in two jurisdictions or more, and their smallest one:
    # removing it leaves the examiner in view.
    examiner, jurisdiction = _count(
        db,
        "SELECT examiner_id, arg_min(jurisdiction, n) FROM (SELECT examiner_id, jurisdiction, "
        "count(*) AS n FROM fct_exams GROUP BY ALL) GROUP BY 1 HAVING count(*) >= 2 "
        "ORDER BY sum(n) DESC, 1 LIMIT 1",
        {},
    )
    (total,) = _count(db, "SELECT count(*) FROM fct_exams", {})
    built = counting(monkeypatch, charts, "volume_trend")
    profiles = counting(monkeypatch, examiner_figures, "allegiance_rates")
    assert volume_drawn(open_as("overview.py", None)) == total
    open_as("examiner_profile.py", None, {"examiner": examiner})

    # A load writes a new file and renames it over the old one: here, the same database
    # without one jurisdiction's exams.
    staged = tmp_path / "staged.duckdb"
    shutil.copy(db, staged)
    con = duckdb.connect(str(staged))
    con.execute("DELETE FROM fct_exams WHERE jurisdiction = $j", {"j": jurisdiction})
    (left,) = con.execute("SELECT count(*) FROM fct_exams").fetchall()[0]
    k, n = con.execute(
        "SELECT count(*) FILTER (is_adverse), count(*) FROM fct_exams "
        "WHERE examiner_id = $e AND requested_by IN ('insurer', 'employer')",
        {"e": examiner},
    ).fetchall()[0]
    con.close()
    os.replace(staged, db)

    assert left < total
    assert volume_drawn(open_as("overview.py", None)) == left
    assert len(built) == 2
    at = open_as("examiner_profile.py", None, {"examiner": examiner})
    assert len(profiles) == 2
    assert allegiance_rate(at) == pytest.approx(k / n)


def _draw_a_trend_plain_and_frozen():
    """Script for AppTest: one trend chart drawn as built and as frozen (charts.freeze)."""
    import pandas as pd
    import streamlit as st

    from dashboard import charts

    months = pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"])
    rates = pd.DataFrame(
        {
            "period": months,
            "measure": "adverse",
            "k": [10, 12, 0, 9],
            "n": [40, 41, 3, 38],
            "rate": [0.25, 12 / 41, 0.0, 9 / 38],
            "ci_low": [0.14, 0.17, float("nan"), 0.12],
            "ci_high": [0.40, 0.44, float("nan"), 0.38],
            "thin": [False, False, True, False],
        }
    )
    built = charts.sparkline(rates, "period", "adverse", grain="month")
    built.update_layout(title="Évolution · São Paulo")  # text JSON escapes
    st.plotly_chart(built, key="built")
    st.plotly_chart(charts.freeze(built), key="frozen")


def test_a_frozen_figure_sends_the_browser_exactly_what_the_figure_would():
    at = AppTest.from_function(_draw_a_trend_plain_and_frozen, default_timeout=60)
    at.run()
    no_exception(at)
    built, frozen = (chart.proto.spec for chart in at.get("plotly_chart"))
    assert frozen == built
    # The dates as plotly's own encoder writes them, and the thin month apart from the line.
    sent = json.loads(frozen)
    line = next(t for t in sent["data"] if t.get("mode") == "lines" and "hovertext" in t)
    assert line["x"] == ["2024-01-01T00:00:00", "2024-02-01T00:00:00", "2024-04-01T00:00:00"]
    assert sent["layout"]["title"]["text"] == "Évolution · São Paulo"
