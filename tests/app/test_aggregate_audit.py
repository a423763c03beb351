"""Aggregate audit page on SSA's real published decision counts (judges and state agencies)."""

from __future__ import annotations

import pandas as pd
import pytest
from apphelp import figures, frame_with, metric, no_exception, open_page
from conftest import REALDATA
from statsmodels.stats.proportion import proportion_confint

from measures.engine import compute_flags


@pytest.fixture(scope="module")
def alj_csv() -> pd.DataFrame:
    """The SSA file itself, read with pandas (not through the ETL), judges with decisions."""
    csv = pd.read_csv(REALDATA / "ssa_alj_dispositions" / "alj-disposition-by-judge-LATEST.csv")
    return csv[csv["Decisions"] > 0]


@pytest.fixture(scope="module")
def alj_flags(ssa_db):
    import duckdb

    con = duckdb.connect(str(ssa_db), read_only=True)
    try:
        flags = compute_flags(con, measures=("decision_counts",))
    finally:
        con.close()
    return flags[flags["peer_group"] == "ssa_alj"]


@pytest.fixture
def use_ssa_db(ssa_db, monkeypatch):
    monkeypatch.setenv("IME_DB", str(ssa_db))
    return ssa_db


def test_alj_judges_funnel_and_flags_match_the_published_file(use_ssa_db, alj_csv, alj_flags):
    at = open_page("aggregate_audit.py", {"source": "ssa_alj"})
    no_exception(at)
    assert metric(at, "Decision-makers") == f"{len(alj_csv):,}"
    k, n = int(alj_csv["Denials"].sum()), int(alj_csv["Decisions"].sum())
    assert metric(at, "Pooled adverse rate") == f"{100 * k / n:.1f}%"
    low, high = proportion_confint(k, n, method="wilson")
    assert any(
        c.value == f"95% CI {100 * low:.1f}–{100 * high:.1f}% · {k:,} of {n:,}" for c in at.caption
    )
    flagged = alj_flags[alj_flags["flagged"]]
    assert len(flagged) > 0, "SSA's judges differ by more than chance: some are flagged"
    assert metric(at, "Flagged") == f"{len(flagged):,}"
    table = frame_with(at, "maker_id")
    assert set(table["maker_id"] + " @ " + table["group_name"]) == set(flagged["examiner_id"])
    expected = flagged.set_index("examiner_id")
    for row in table.itertuples():
        e = expected.loc[f"{row.maker_id} @ {row.group_name}"]
        assert (row.n, row.ratio, row.q_value) == pytest.approx((e["n"], e["ratio"], e["q_value"]))
    funnel = figures(at)[0]
    points = {t["name"].split(" (")[0]: t for t in funnel["data"] if t["mode"] != "lines"}
    assert len(points["flagged"]["customdata"]) == len(flagged)
    assert sum(len(t["customdata"]) for t in points.values()) == len(alj_csv)
    assert any("exact binomial" in t["name"] for t in funnel["data"] if t["mode"] == "lines")


def test_choosing_an_office_shows_its_judges(use_ssa_db, alj_csv):
    office = alj_csv["Office"].value_counts().index[0]
    at = open_page("aggregate_audit.py", {"source": "ssa_alj"})
    at.selectbox(key="choice_group").set_value(office).run()
    no_exception(at)
    mine = alj_csv[alj_csv["Office"] == office]
    assert metric(at, "Decision-makers") == f"{len(mine):,}"
    table = frame_with(at, "maker_id")  # every judge of the office is listed
    assert sorted(table["maker_id"]) == sorted(mine["Judge"].str.strip())
    assert table.set_index("maker_id")["n"].to_dict() == dict(
        zip(mine["Judge"].str.strip(), mine["Decisions"], strict=True)
    )
    assert at.query_params["group"] == office


def test_another_source_is_compared_within_itself(use_ssa_db):
    at = open_page("aggregate_audit.py")
    at.selectbox(key="choice_source").set_value("ssa_dds").run()
    no_exception(at)
    csv = pd.read_csv(
        REALDATA / "ssa_dds_state_workload" / "ssa-sa-fywl-all-states-2001-2024.csv"
    )
    states = csv["State Code"].str.strip().nunique()
    assert metric(at, "Decision-makers") == f"{states:,}"
    assert at.query_params["source"] == "ssa_dds"
