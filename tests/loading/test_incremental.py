"""Incremental loads: new rows loaded into a database give the tables one load of all rows gives.

The reference is an independent full load of the same rows into a new database; the
incremental database got most of the rows first and the rest in a second load. Everything a
reader sees (entity tables, fct_exams with its stored expectations, the case-mix models, the
stored flags and the default view) must be the same; only the bookkeeping of the loads
(which load wrote a row, the load history) differs.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from conftest import CASES, DECISIONS, write_csv

import queries
from devtools.demo import generate
from etl import increment
from etl.database import ensure_schema
from etl.load import load
from ime.cli import main
from imestats.casemix import MISSING_LEVEL
from measures.base import DEFAULT_SETTINGS
from measures.casemix import (
    INTERCEPT,
    MODEL_FEATURES,
    REFIT_SHARE,
    fit_models,
    refit_reason,
    store_models,
)
from measures.engine import compute_flags, flags_for_view
from measures.precompute import after_load
from measures.registry import MEASURES
from outputs import provenance
from queries import sqlfile

# Tables whose rows record which load wrote them, not what was loaded: flag_history keeps every
# load's flags, so two loads hold two sets where one load of all rows holds one; casemix_fits
# records each fit of the case-mix models (their coefficients, casemix_terms, are compared),
# drift_thresholds each simulation of the drift panel's threshold (the stored flags carry it),
# model_builds each build of the derived tables, default_view_builds the load that stored each
# table of the default view.
BOOKKEEPING = (
    "load_history",
    "load_files",
    "quarantine",
    "contract_results",
    "flag_history",
    "casemix_fits",
    "drift_thresholds",
    "model_builds",
    "default_view_builds",
)


def _split(source: Path, first: Path, second: Path, later_exams: set[str]) -> None:
    """Write each CSV of `source` to `first`, except the rows of `later_exams` (the exams and the
    decisions and rulings that name them), which go to `second`."""
    for path in source.glob("*.csv"):
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            header, rows = reader.fieldnames, list(reader)
        later = [r for r in rows if r.get("exam_id") in later_exams]
        for folder, part in ((first, [r for r in rows if r not in later]), (second, later)):
            if folder is second and not part:
                continue
            folder.mkdir(parents=True, exist_ok=True)
            with (folder / path.name).open("w", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, fieldnames=header)
                writer.writeheader()
                writer.writerows(part)


def _tables(db: Path) -> dict[str, pd.DataFrame]:
    """Every table a reader may read, its rows sorted, without the load that wrote each row."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        names = con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE NOT temporary"
        ).fetchall()
        out = {}
        for schema, table in names:
            if table in BOOKKEEPING:
                continue
            frame = con.execute(f'SELECT * FROM "{schema}"."{table}"').df()
            frame = frame.drop(columns=[c for c in ("_load_id",) if c in frame.columns])
            columns = list(frame.columns)
            frame = frame.astype({c: str for c in columns if frame[c].dtype == object})
            out[f"{schema}.{table}"] = frame.sort_values(columns).reset_index(drop=True)
        return out
    finally:
        con.close()


@pytest.fixture(scope="module")
def databases(tmp_path_factory) -> tuple[Path, Path, set[str]]:
    root = tmp_path_factory.mktemp("incremental")
    generate(root / "all", n_exams=3_000, seed=11)
    (root / "all" / "truth.csv").unlink()
    with (root / "all" / "exams.csv").open(newline="", encoding="utf-8") as fh:
        exam_ids = [r["exam_id"] for r in csv.DictReader(fh)]
    # Every tenth exam comes in the second load: 10% of the exams, spread over every examiner.
    later = set(exam_ids[::10])
    _split(root / "all", root / "first", root / "second", later)
    incremental, full = root / "incremental.duckdb", root / "full.duckdb"
    load([root / "first"], incremental, after_build=after_load)
    second = load([root / "second"], incremental, after_build=after_load)
    assert second.total("inserted") > len(later)  # the exams, and decisions and rulings
    # 10% of the exams added to the other 90%: past measures.casemix.REFIT_SHARE, so the
    # second load refits the models on every exam, as the one load of all rows fits them.
    assert second.precomputed["casemix"]["refitted"]
    load([root / "all"], full, after_build=after_load)
    return incremental, full, later


def test_a_second_load_of_new_rows_gives_the_tables_of_one_load_of_all(databases):
    incremental, full, later = databases
    got, expected = _tables(incremental), _tables(full)
    assert sorted(got) == sorted(expected)
    stored_views = [n for n in got if n.startswith(f"{queries.DEFAULT_VIEW_SCHEMA}.")]
    assert len(stored_views) == sum(len(s) for s in queries.STORED_DEFAULT_VIEW.values())
    for name in expected:
        # Sums over rows stored in another order differ in their last bits (1e-8 seen).
        pd.testing.assert_frame_equal(got[name], expected[name], check_exact=False, rtol=1e-6)
    exams = got["main.fct_exams"]
    # The second load's exams are there (the demo data's few bad rows are quarantined in both),
    # scored by the models like every other exam.
    assert later <= set(exams["exam_id"])
    assert exams["expected_adverse_opinion"].notna().all()


def test_the_second_load_reports_only_its_new_rows(databases):
    incremental, _, later = databases
    con = duckdb.connect(str(incremental), read_only=True)
    try:
        [(n_read, n_inserted, n_replaced)] = con.execute(
            "SELECT n_read, n_inserted, n_replaced FROM load_files "
            "WHERE entity = 'exams' AND load_id = (SELECT max(load_id) FROM load_history)"
        ).fetchall()
    finally:
        con.close()
    assert (n_read, n_inserted, n_replaced) == (len(later), len(later), 0)


# The case-mix models on a schedule (measures.casemix.REFIT_SHARE): a load of a few new exams
# scores them with the stored coefficients; a load past the share, or `ime load --refit`,
# refits. Every load of the sequence below is kept as a copy of the database after it.
SCHEDULE = ("first", "small", "small_again", "large", "large_refit")


@pytest.fixture(scope="module")
def scheduled(tmp_path_factory) -> tuple[dict[str, Path], dict[str, dict], dict[str, set[str]]]:
    root = tmp_path_factory.mktemp("schedule")
    generate(root / "all", n_exams=3_000, seed=11)
    (root / "all" / "truth.csv").unlink()
    with (root / "all" / "exams.csv").open(newline="", encoding="utf-8") as fh:
        exam_ids = [r["exam_id"] for r in csv.DictReader(fh)]
    # 2% of the exams in the second load (under the 10% share: no refit), then 12.5% more
    # (past it, counted with the 2% since the fit).
    small = set(exam_ids[1::50])
    large = {e for e in exam_ids[2::8] if e not in small}
    _split(root / "all", root / "first", root / "later", small | large)
    _split(root / "later", root / "small", root / "large", large)
    db = root / "ime.duckdb"
    copies, fits = {}, {}
    folders = {"first": "first", "small": "small", "small_again": "small", "large": "large"}
    # One pseudonymisation key for every load: a load again must see the same pseudonyms.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IME_KEY_FILE", str(root / "pseudonym.key"))
        for step in SCHEDULE:
            if step == "large_refit":
                # The same files again, through the command line, asking for a refit.
                out = io.StringIO()
                with contextlib.redirect_stdout(out):
                    code = main(["load", str(root / "large"), "--db", str(db), "--json", "--refit"])
                assert code == 0
                fits[step] = json.loads(out.getvalue())["precomputed"]["casemix"]
            else:
                report = load([root / folders[step]], db, after_build=after_load)
                fits[step] = report.precomputed["casemix"]
            copies[step] = root / f"{step}.duckdb"
            shutil.copyfile(db, copies[step])
    return copies, fits, {"small": small, "large": large}


def _read(db: Path, sql: str) -> pd.DataFrame:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


def _scored_by_hand(db: Path, exam_ids: set[str]) -> pd.DataFrame:
    """Each of `exam_ids`' probabilities under the stored coefficients, computed here in
    pandas and numpy: p = 1 / (1 + exp(-(intercept + sum of the term of each feature's level))),
    a level the terms do not list (or a missing value the fit never saw) contributing 0, as
    docs/methods.md ("Case mix") defines the score."""
    terms = _read(db, "SELECT * FROM casemix_terms")
    models = [c for c in terms.columns if c not in ("feature", "level")]
    features = ", ".join(f"CAST({f} AS VARCHAR) AS {f}" for f in MODEL_FEATURES)
    exams = _read(db, f"SELECT exam_id, {features} FROM fct_exams")
    exams = exams[exams["exam_id"].isin(exam_ids)].reset_index(drop=True)
    intercept = terms[terms["feature"] == INTERCEPT].iloc[0]
    eta = pd.DataFrame({m: np.full(len(exams), intercept[m]) for m in models})
    for f in MODEL_FEATURES:
        levels = exams[f].astype(object).where(exams[f].notna(), MISSING_LEVEL)
        of_feature = terms[terms["feature"] == f].set_index("level")
        for m in models:
            eta[m] += levels.map(of_feature[m]).fillna(0.0).astype(float).to_numpy()
    out = pd.DataFrame({"exam_id": exams["exam_id"]})
    for m in models:
        out[MEASURES[m].expected_column] = 1 / (1 + np.exp(-eta[m]))
    return out.sort_values("exam_id", ignore_index=True)


def test_a_small_load_scores_its_exams_with_the_stored_coefficients(scheduled):
    copies, fits, later = scheduled
    assert fits["first"]["refitted"] and fits["first"]["reason"] == "no models were stored"
    assert not fits["small"]["refitted"]
    terms = "SELECT * FROM casemix_terms ORDER BY feature, level"
    pd.testing.assert_frame_equal(_read(copies["small"], terms), _read(copies["first"], terms))
    new = set(_read(copies["small"], "SELECT exam_id FROM fct_exams")["exam_id"]) - set(
        _read(copies["first"], "SELECT exam_id FROM fct_exams")["exam_id"]
    )
    # The new exams are the small load's, less the demo's few bad rows (quarantined).
    assert new <= later["small"] and len(new) >= 0.9 * len(later["small"])
    assert fits["small"]["n_added"] == len(new)
    expected = _scored_by_hand(copies["small"], new)
    columns = list(expected.columns)
    stored = _read(copies["small"], f"SELECT {', '.join(columns)} FROM fct_exams")
    stored = stored[stored["exam_id"].isin(new)].sort_values("exam_id", ignore_index=True)
    assert len(expected) == len(new) and len(columns) > 3
    pd.testing.assert_frame_equal(stored, expected, check_exact=False, rtol=1e-12)
    # The earlier exams keep the expectations they had.
    before = _read(copies["first"], f"SELECT {', '.join(columns)} FROM fct_exams")
    after = _read(copies["small"], f"SELECT {', '.join(columns)} FROM fct_exams")
    after = after[~after["exam_id"].isin(new)]
    pd.testing.assert_frame_equal(
        after.sort_values("exam_id", ignore_index=True),
        before.sort_values("exam_id", ignore_index=True),
        check_exact=False,
        rtol=1e-12,
    )


def test_the_stored_flags_of_a_small_load_come_from_the_stored_expectations(scheduled):
    copies, _, _ = scheduled
    con = duckdb.connect(str(copies["small"]), read_only=True)
    try:
        stored = flags_for_view(con).sort_values(["measure", "examiner_id"], ignore_index=True)
        fresh = compute_flags(con).sort_values(["measure", "examiner_id"], ignore_index=True)
    finally:
        con.close()
    pd.testing.assert_frame_equal(stored, fresh, check_dtype=False, atol=1e-9)


def test_the_models_are_refitted_past_the_share_and_when_asked(scheduled):
    copies, fits, _ = scheduled
    n_after = {
        step: int(_read(copies[step], "SELECT count(*) AS n FROM fct_exams")["n"][0])
        for step in SCHEDULE
    }
    large = fits["large"]
    assert large["refitted"] and f"more than {REFIT_SHARE:.0%}" in large["reason"]
    # Exams added since the fit of the first load: the small load's and the large load's.
    assert n_after["large"] - n_after["first"] > REFIT_SHARE * n_after["first"]
    assert large["n_exams"] == n_after["large"]
    refit = fits["large_refit"]
    assert refit["refitted"] and refit["reason"] == "asked for (ime load --refit)"
    history = _read(copies["large_refit"], "SELECT n_exams, reason FROM casemix_fits ORDER BY 1")
    assert list(history["n_exams"]) == [n_after["first"], n_after["large"], n_after["large"]]
    # The refitted models are those a fit on the whole database gives.
    con = duckdb.connect(str(copies["large"]), read_only=True)
    try:
        fitted = fit_models(con, DEFAULT_SETTINGS)
        stored = con.execute("SELECT * FROM casemix_terms").df()
    finally:
        con.close()
    key = ["feature", "level"]
    pd.testing.assert_frame_equal(
        stored.sort_values(key, ignore_index=True),
        fitted.sort_values(key, ignore_index=True),
        check_exact=False,
        rtol=1e-9,
    )


def test_loading_the_same_files_again_changes_nothing_with_or_without_a_refit(scheduled):
    copies, fits, _ = scheduled
    assert not fits["small_again"]["refitted"]
    assert fits["small_again"]["n_added"] == fits["small"]["n_added"]
    once, again = _tables(copies["small"]), _tables(copies["small_again"])
    assert sorted(once) == sorted(again)
    for name in once:
        pd.testing.assert_frame_equal(again[name], once[name])
    # A refit on the same exams finds the same models: nothing a reader sees changes.
    once, refitted = _tables(copies["large"]), _tables(copies["large_refit"])
    for name in once:
        pd.testing.assert_frame_equal(refitted[name], once[name], check_exact=False, rtol=1e-6)


def test_the_refit_share_is_a_strict_bound(tmp_path):
    con = duckdb.connect(str(tmp_path / "fits.duckdb"))
    try:
        ensure_schema(con)
        assert refit_reason(con, 1_000, asked=False) == "no models were stored"
        con.execute("CREATE TABLE casemix_terms (feature VARCHAR, level VARCHAR, m DOUBLE)")
        assert refit_reason(con, 1_000, asked=False) == "no models were stored"
        con.execute("INSERT INTO casemix_fits VALUES (1, now(), 1000, 'no models were stored')")
        # 10% of 1,000 exams added keeps the models; one more exam refits them.
        assert refit_reason(con, 1_100, asked=False) is None
        assert "101 exams added since the last fit" in refit_reason(con, 1_101, asked=False)
        assert refit_reason(con, 1_000, asked=True) == "asked for (ime load --refit)"
    finally:
        con.close()


def test_exports_state_the_fit_their_expectations_come_from(scheduled):
    copies, fits, _ = scheduled
    con = duckdb.connect(str(copies["small"]), read_only=True)
    try:
        regulator = provenance.casemix_fit(con, queries.FULL_ACCESS)
        researcher = provenance.casemix_fit(con, queries.Scope(role="researcher"))
        facts = provenance.facts(con, queries.FULL_ACCESS, queries.NO_FILTERS, "t", "0" * 64)
    finally:
        con.close()
    # The small load kept the first load's models.
    first = fits["first"]
    assert regulator["fitted_by_load"] == first["load_id"] == fits["small"]["load_id"]
    assert regulator["fitted_at"] == first["fitted_at"]
    assert regulator["exams_at_fit"] == first["n_exams"]
    assert "exams_at_fit" not in researcher
    assert researcher["fitted_at"] == first["fitted_at"]
    assert facts["casemix_models"] == regulator
    readme = provenance.readme(
        {
            **facts,
            "table": "t",
            "description": "d",
            "role": "regulator",
            "filters": {},
            "snapshot_sha256": "0" * 64,
        }
    )
    assert f"Case-mix models: fitted {first['fitted_at']} by load {first['load_id']}" in readme


def test_a_database_scored_again_takes_the_stored_coefficients(scheduled, tmp_path):
    # Outside a load (fct_exams already written), store_models updates every exam in place
    # from casemix_terms: with the terms changed by hand, every exam's expectation is the
    # hand-computed score under the changed terms, not the one stored before.
    copies, _, _ = scheduled
    db = tmp_path / "rescored.duckdb"
    shutil.copyfile(copies["small"], db)
    con = duckdb.connect(str(db))
    try:
        con.execute("UPDATE casemix_terms SET adverse_opinion = adverse_opinion + 0.5")
        fit = store_models(con, DEFAULT_SETTINGS)
    finally:
        con.close()
    assert not fit.refitted
    ids = set(_read(db, "SELECT exam_id FROM fct_exams")["exam_id"])
    expected = _scored_by_hand(db, ids)
    columns = list(expected.columns)
    stored = _read(db, f"SELECT {', '.join(columns)} FROM fct_exams")
    stored = stored.sort_values("exam_id", ignore_index=True)
    pd.testing.assert_frame_equal(stored, expected, check_exact=False, rtol=1e-12)
    before = _read(copies["small"], "SELECT exam_id, expected_adverse_opinion FROM fct_exams")
    changed = before.sort_values("exam_id", ignore_index=True)["expected_adverse_opinion"]
    assert (stored["expected_adverse_opinion"] > changed).all()


# A second load that changes rows of the first (a case, an exam moved to another case, a
# decision, an examiner's specialty, a treating rating, a new ruling on an old exam) besides
# adding 2% new exams: under the refit share, so the models are kept, and the load rebuilds
# only the cases its rows reach (etl.increment) and merges them.
def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)


def _changes(first: Path) -> dict[str, pd.DataFrame]:
    """Rows of `first` changed, per file: each keeps its key, so a load replaces it."""
    cases, exams = _read_csv(first / "cases.csv"), _read_csv(first / "exams.csv")
    decisions, examiners = _read_csv(first / "decisions.csv"), _read_csv(first / "examiners.csv")
    ratings = _read_csv(first / "treating_ratings.csv")
    case = cases.iloc[[5]].assign(body_part="head")
    # An exam moved to a case injured no later than its own (its dates stay in order), whose
    # old case thereby loses one of its exams.
    moved = exams.iloc[[40]]
    injured = cases.set_index("case_id")["injury_date"]
    target = cases[
        (cases["injury_date"] <= injured[moved["case_id"].iloc[0]])
        & (cases["case_id"] != moved["case_id"].iloc[0])
    ].iloc[0]["case_id"]
    moved = moved.assign(case_id=target, causation="not_related")
    decision = decisions[decisions["outcome"] == "approved"].iloc[[3]].assign(outcome="denied")
    examiner = examiners.iloc[[7]].assign(
        specialty="neurology" if examiners.iloc[7]["specialty"] != "neurology" else "psychiatry"
    )
    rating = ratings.iloc[[2]].assign(wpi_percent="37")
    ruled = exams.iloc[60]
    ruling = pd.DataFrame(
        [
            {
                "case_id": ruled["case_id"],
                "exam_id": ruled["exam_id"],
                "ruling_date": "2026-01-05",
                "outcome": "report_rejected",
            }
        ]
    )
    return {
        "cases": case,
        "exams": moved,
        "decisions": decision,
        "examiners": examiner,
        "treating_ratings": rating,
        "rulings": ruling,
    }


KEYS = {
    "cases": ["case_id"],
    "exams": ["exam_id"],
    "decisions": ["decision_id"],
    "examiners": ["examiner_id"],
    "treating_ratings": ["case_id", "rater_role", "rating_date"],
    "rulings": ["case_id", "exam_id", "ruling_date"],
}


@pytest.fixture(scope="module")
def changed(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("changed")
    generate(root / "all", n_exams=3_000, seed=12)
    (root / "all" / "truth.csv").unlink()
    exam_ids = list(_read_csv(root / "all" / "exams.csv")["exam_id"])
    _split(root / "all", root / "first", root / "new", set(exam_ids[3::50]))
    changes = _changes(root / "first")
    # The second load: the new exams (with their decisions and rulings) and the changed rows.
    # The one load of the final rows: the first part with the changed rows in their place.
    for path in (root / "first").glob("*.csv"):
        entity = path.stem
        new = root / "new" / path.name
        added = _read_csv(new) if new.exists() else _read_csv(path).iloc[:0]
        if entity in changes:
            added = pd.concat([added, changes[entity]], ignore_index=True)
        _write_csv(added, root / "second" / path.name)
        final = _read_csv(path)
        if entity in changes:
            replaced = final.set_index(KEYS[entity]).index.isin(
                changes[entity].set_index(KEYS[entity]).index
            )
            final = pd.concat([final[~replaced], changes[entity]], ignore_index=True)
        if new.exists():
            final = pd.concat([final, _read_csv(new)], ignore_index=True)
        _write_csv(final, root / "final" / path.name)
    dbs = {name: root / f"{name}.duckdb" for name in ("first", "merged", "refit", "once")}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IME_KEY_FILE", str(root / "pseudonym.key"))
        load([root / "first"], dbs["merged"], after_build=after_load)
        shutil.copyfile(dbs["merged"], dbs["first"])
        # Which stored tables of the default view the second load merges (its own function,
        # watched, not replaced).
        merged_tables = []
        merge = queries._merge_counts
        mp.setattr(queries, "_merge_counts", lambda *a: merged_tables.append(a[2]) or merge(*a))
        second = load([root / "second"], dbs["merged"], after_build=after_load)
        mp.setattr(queries, "_merge_counts", merge)
        # Every table of a query that declares its counts was merged, none other.
        assert sorted(merged_tables) == sorted(
            f"{name}__{i}"
            for name, sets in queries.STORED_DEFAULT_VIEW.items()
            for i in range(len(sets))
            if sqlfile.folder("reports")[name].header.get("counts")
        )
        assert not second.precomputed["casemix"]["refitted"]
        # Every changed row and new exam was taken; the load merged a few cases.
        assert second.total("replaced") == len(changes) - 1  # the ruling is new
        assert 0 < second.merged_cases < 0.2 * len(_read_csv(root / "final" / "cases.csv"))
        # The same rows as the merged database, the models refitted on them (forced): what one
        # load of the final rows fits and stores.
        shutil.copyfile(dbs["merged"], dbs["refit"])
        again = load(
            [root / "second"], dbs["refit"], after_build=lambda con: after_load(con, refit=True)
        )
        assert again.merged_cases == 0 and again.precomputed["casemix"]["refitted"]
        load([root / "final"], dbs["once"], after_build=after_load)
    return dbs


def _model_columns(db: Path) -> list[str]:
    """fct_exams' own columns (queries/models/fct_exams.sql), without the scorer's."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        sql = sqlfile.folder("models")["fct_exams"].sql
        return [d[0] for d in con.execute(f"DESCRIBE {sql}").fetchall()]
    finally:
        con.close()


def test_a_load_of_changed_rows_merges_the_rows_one_load_of_the_final_rows_builds(changed):
    merged, once = _tables(changed["merged"]), _tables(changed["once"])
    own = _model_columns(changed["once"])
    for name in ("main.fct_exams", "main.fct_rating_pairs", "main.fct_shared_exams"):
        columns = own if name == "main.fct_exams" else list(once[name].columns)
        got = merged[name][columns].sort_values(columns, ignore_index=True)
        expected = once[name][columns].sort_values(columns, ignore_index=True)
        pd.testing.assert_frame_equal(got, expected)
    for name in ("main.dim_examiners", "main.dim_insurers", "main.fct_decision_counts"):
        pd.testing.assert_frame_equal(merged[name], once[name])
    # The changes reached their exams: the moved exam sits under its new case, with the
    # new case's features, and the old case's shared exams lost it.
    exams = merged["main.fct_exams"].set_index("exam_id")
    before = _tables(changed["first"])["main.fct_exams"].set_index("exam_id")
    differs = (exams.loc[before.index, own[1:]] != before[own[1:]]).any(axis=1)
    assert differs.sum() >= 5
    # Every exam, rebuilt or not, carries the expectations of the kept models (computed here
    # by hand from the stored coefficients).
    ids = set(exams.index)
    expected = _scored_by_hand(changed["merged"], ids)
    stored = merged["main.fct_exams"][list(expected.columns)]
    pd.testing.assert_frame_equal(
        stored.sort_values("exam_id", ignore_index=True), expected, check_exact=False, rtol=1e-12
    )


def test_the_merged_default_view_is_what_its_queries_give_over_every_exam(changed):
    # The stored tables, merged or run again, against the live queries over the merged
    # database's exams (row order included), and against one load of the final rows.
    merged, once = _tables(changed["merged"]), _tables(changed["once"])
    con = duckdb.connect(str(changed["merged"]), read_only=True)
    try:
        for name, sets in queries.STORED_DEFAULT_VIEW.items():
            for params in sets:
                cur = queries.scoped_cursor(con, queries.FULL_ACCESS, queries.NO_FILTERS)
                live = cur.execute(sqlfile.folder("reports")[name].sql, params).df()
                cur.close()
                pd.testing.assert_frame_equal(queries.run(con, name, **params), live)
    finally:
        con.close()
    stored = [n for n in once if n.startswith(f"{queries.DEFAULT_VIEW_SCHEMA}.")]
    assert len(stored) == sum(len(s) for s in queries.STORED_DEFAULT_VIEW.values())
    for name in stored:
        # Sums over rows stored in another order differ in their last bits (1e-8 seen).
        pd.testing.assert_frame_equal(merged[name], once[name], check_exact=False, rtol=1e-6)


def test_a_merged_database_refitted_is_the_database_one_load_of_the_final_rows_builds(changed):
    refit, once = _tables(changed["refit"]), _tables(changed["once"])
    assert sorted(refit) == sorted(once)
    for name in once:
        pd.testing.assert_frame_equal(refit[name], once[name], check_exact=False, rtol=1e-6)
    # The refit wrote fct_exams again in its page order (fct_exams.sql's ORDER BY).
    stored = _read(changed["refit"], "SELECT specialty, examiner_id FROM fct_exams")
    in_order = stored.sort_values(["specialty", "examiner_id"], ignore_index=True)
    pd.testing.assert_frame_equal(stored, in_order)


def test_a_merging_load_checks_the_contracts_on_its_rows_and_the_whole_after_a_violation(
    canonical_folder, db_path, tmp_path, monkeypatch
):
    # Two cases only: every load merges (the share that rebuilds whole raised to all cases).
    monkeypatch.setattr(increment, "MERGE_SHARE", 1.0)
    load([canonical_folder], db_path)
    # A case replaced with an injury after its exam: the loader checks an exam's dates
    # against its case when the exam is loaded, not when the case is; the dates contract,
    # read over the exams this load rebuilt only, counts it.
    write_csv(tmp_path / "injured" / "cases.csv", [{**CASES[0], "injury_date": "2021-06-20"}])
    report = load([tmp_path / "injured"], db_path)
    assert report.merged_cases == 1
    assert report.contracts["exams_dates_in_order"] == 1
    assert sum(report.contracts.values()) == 1
    # Every contract has its result, those on tables this load wrote nothing to (decisions,
    # examiners, ...) included: none, without reading those tables.
    assert set(report.contracts) == set(sqlfile.folder("contracts"))
    # The next load, of a decision on the other case, finds the violation still there:
    # after a load that counted one, the contract reads the whole table again.
    decision = {
        **DECISIONS[0],
        "decision_id": "D9",
        "case_id": "C2",
        "exam_id": "E2",
        "decision_date": "2021-08-25",
    }
    write_csv(tmp_path / "later" / "decisions.csv", [decision])
    report = load([tmp_path / "later"], db_path)
    assert report.merged_cases == 1
    assert report.contracts["exams_dates_in_order"] == 1
    assert sum(report.contracts.values()) == 1


def test_a_load_after_the_models_changed_builds_every_row_again(
    canonical_folder, db_path, tmp_path, monkeypatch
):
    monkeypatch.setattr(increment, "MERGE_SHARE", 1.0)
    load([canonical_folder], db_path)
    decision = {**DECISIONS[0], "decision_id": "D8", "decision_date": "2021-07-03"}
    write_csv(tmp_path / "one" / "decisions.csv", [decision])
    assert load([tmp_path / "one"], db_path).merged_cases == 1
    # As a database built by other model SQL (an older version) would record it.
    with duckdb.connect(str(db_path)) as con:
        con.execute("UPDATE model_builds SET models_sha256 = 'older models'")
    write_csv(tmp_path / "two" / "decisions.csv", [{**decision, "decision_id": "D7"}])
    assert load([tmp_path / "two"], db_path).merged_cases is None
    write_csv(tmp_path / "three" / "decisions.csv", [{**decision, "decision_id": "D6"}])
    assert load([tmp_path / "three"], db_path).merged_cases == 1
