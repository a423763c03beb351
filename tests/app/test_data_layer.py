"""The data layer: snapshot-aware connection, bookkeeping gate, filters <-> URL."""

from __future__ import annotations

import csv
import datetime as dt
import os
import shutil

import pytest
from apphelp import metric, no_exception, open_page

from dashboard import analysis, data, filters
from etl.load import load
from queries import Filters, Scope, run


def test_a_new_load_is_served_without_restarting_the_app(demo_db, truth, tmp_path, monkeypatch):
    db = tmp_path / "ime.duckdb"
    shutil.copyfile(demo_db, db)
    monkeypatch.setenv("IME_DB", str(db))
    at = open_page("overview.py")
    n_before = truth.execute("SELECT count(*) FROM fct_exams").fetchone()[0]
    assert metric(at, "Exams") == f"{n_before:,}"

    case_id, examiner_id, injury_date = truth.execute(
        "SELECT case_id, examiner_id, injury_date FROM fct_exams ORDER BY exam_id LIMIT 1"
    ).fetchone()
    new = tmp_path / "new" / "exams.csv"
    new.parent.mkdir()
    with new.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            [
                "exam_id",
                "case_id",
                "examiner_id",
                "requested_by",
                "exam_type",
                "exam_date",
                "causation",
                "mmi_status",
                "work_capacity",
                "further_treatment",
            ]
        )
        writer.writerow(
            [
                "E_TEST_NEW",
                case_id,
                examiner_id,
                "insurer",
                "ime",
                (injury_date + dt.timedelta(days=200)).isoformat(),
                "related",
                "not_reached",
                "restricted",
                "recommended",
            ]
        )
    inode = os.stat(db).st_ino
    report = load([new], db, progress=False)
    assert report.total("loaded") == 1, report.to_text()
    assert os.stat(db).st_ino != inode, "a load swaps in a new file"

    at.run()
    no_exception(at)
    assert metric(at, "Exams") == f"{n_before + 1:,}"


def test_bookkeeping_is_for_regulators_only(use_db, monkeypatch):
    monkeypatch.setattr(data, "current_scope", lambda: Scope("insurer", ("INS001",)))
    with pytest.raises(PermissionError, match="regulators only"):
        data.query("dq_load_history")


def test_filters_round_trip_through_the_url():
    flt = Filters(start=dt.date(2020, 1, 1), jurisdiction=("CA", "NY"), exam_type=("qme",))
    url = filters.to_url(flt)
    assert url == {"from": ["2020-01-01"], "jurisdiction": ["CA", "NY"], "exam_type": ["qme"]}
    assert filters.from_url(url) == flt


def test_url_values_outside_the_data_and_bad_dates_are_dropped():
    flt = filters.from_url(
        {"from": ["not-a-date"], "jurisdiction": ["CA", "ZZ"], "claim_type": ["auto"]},
        options={"jurisdiction": ["CA", "NY"], "claim_type": ["workers_comp"]},
    )
    assert flt == Filters(jurisdiction=("CA",))


def test_bookkeeping_sections_are_hidden_from_other_roles(use_db, monkeypatch):
    monkeypatch.setattr(data, "current_scope", lambda: Scope("insurer", ("INS001",)))
    overview = open_page("overview.py")
    no_exception(overview)
    assert "What changed since the last load" not in [s.value for s in overview.subheader]
    quality = open_page("data_quality.py")
    no_exception(quality)
    assert any("regulators only" in i.value for i in quality.info)


@pytest.mark.parametrize("dimension", list(analysis.RATE_DIMENSIONS))
def test_every_breakdown_offered_is_known_to_the_query(dimension, truth):
    groups = run(truth, "rates_by_group", dimension=dimension)["group_value"]
    assert list(groups) != ["all"], f"rates_by_group.sql does not know {dimension!r}"


@pytest.mark.parametrize("group_by", [g for g in analysis.MMI_GROUPINGS if g != "all"])
def test_every_mmi_grouping_offered_is_known_to_the_query(group_by, truth):
    groups = set(run(truth, "mmi_counts", group_by=group_by)["group_value"])
    assert groups != {"all"}, f"mmi_counts.sql does not know {group_by!r}"
