"""Issue 14, researcher and export side, on a seeded demo database: allegiance published where
both sides hold k exams, the cross-tab export, unknown filter values refused, provenance in
every export, and the one display rounding rule. Expected figures come from direct DuckDB
queries on the tables and hand rounding, not from the code under test.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from exporthelp import K, demo_db

from access.pseudonyms import examiner_pseudonym
from ime.cli import main
from imestats.suppression import SUPPRESSED
from outputs.rounding import tidy
from outputs.tables import present
from queries import Scope


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    return demo_db(tmp_path_factory).path


@pytest.fixture(scope="module")
def truth(db):
    con = duckdb.connect(str(db), read_only=True)
    yield con
    con.close()


@pytest.fixture(autouse=True)
def audit_db(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "audit.duckdb"
    monkeypatch.setenv("IME_AUDIT_DB", str(path))
    return path


def rounded(n: int) -> int:
    """To the nearest multiple of k, halves up (SPEC 3, written out again)."""
    return K * int(n / K + 0.5)


def export(db: Path, tmp_path: Path, *args: str, name: str = "table.csv") -> Path:
    out = tmp_path / name
    assert main(["export", *args, "--db", str(db), "--out", str(out)]) == 0
    return out


# ---------------------------------------------------------------------------------------------
# Allegiance: suppression hides small cells, not the measure.
# ---------------------------------------------------------------------------------------------


def test_allegiance_is_published_where_both_sides_hold_k_exams(db, truth, pseudonym_key_file):
    con = duckdb.connect(str(db), read_only=True)
    try:
        exact = present(con, "examiner_rates", Scope("regulator")).typed
        shown = present(con, "examiner_rates", Scope("researcher")).typed
    finally:
        con.close()
    key = pseudonym_key_file.read_text().strip()
    exact = exact[exact["examiner_id"] != "all examiners"].copy()
    exact["examiner"] = [examiner_pseudonym(i, key) for i in exact["examiner_id"]]
    both = exact.merge(shown, on="examiner", suffixes=("_exact", ""))
    # Sides counted straight from the table, not from the export: addenda aside, as the
    # allegiance measure counts them.
    sides = truth.execute(
        "SELECT examiner_id, count(*) FILTER (retained_by = 'insurer_or_employer') AS ins, "
        "count(*) FILTER (retained_by = 'claimant_or_neutral') AS neu FROM fct_exams "
        "WHERE exam_type <> 'addendum' GROUP BY 1"
    ).df().set_index("examiner_id")
    both = both.join(sides, on="examiner_id")
    computed = both["allegiance_ratio_exact"].notna()
    large = computed & (both["ins"] >= K) & (both["neu"] >= K)
    small = computed & (both["ins"].between(1, K - 1) | both["neu"].between(1, K - 1))
    assert large.sum() >= 10, "the demo should have examiners with k exams on each side"
    assert not both.loc[large, "allegiance_ratio_suppressed"].any()
    assert both.loc[large, "allegiance_ratio"].notna().all()
    # q is computed for examiners at or above the minimum volume: published wherever it is.
    with_q = large & both["allegiance_q_exact"].notna()
    assert with_q.any() and both.loc[with_q, "allegiance_q"].notna().all()
    # Published to two significant figures (access.roles.SIGNIFICANT_DIGITS).
    pairs = both.loc[large, ["allegiance_ratio_exact", "allegiance_ratio"]].to_numpy()
    # The regulator's figure is itself rounded (to 4 significant figures), so the researcher's
    # is within half a unit of its second figure of it, plus half a unit of the fourth.
    for exact_ratio, ratio in pairs:
        digits = 1 - math.floor(math.log10(abs(exact_ratio)))
        assert ratio == pytest.approx(round(ratio, digits))
        assert abs(ratio - exact_ratio) <= 0.5 * 10**-digits + 0.5 * 10 ** (-digits - 2)
    assert both.loc[small, "allegiance_ratio_suppressed"].all()


# ---------------------------------------------------------------------------------------------
# Cross-tab
# ---------------------------------------------------------------------------------------------


def test_researcher_crosstab_of_jurisdiction_by_year(db, truth, tmp_path):
    out = export(db, tmp_path, "crosstab", "--by", "jurisdiction", "--by", "year",
                 "--role", "researcher")
    table = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(table.columns[:2]) == ["jurisdiction", "year"]
    expected = truth.execute(
        "SELECT coalesce(jurisdiction, 'unknown') AS j, CAST(exam_year AS VARCHAR) AS y, "
        "count(*) AS n, count(*) FILTER (is_adverse) AS a FROM fct_exams GROUP BY 1, 2"
    ).df().set_index(["j", "y"])
    cells = table[table["jurisdiction"] != "total"]
    assert len(cells) == len(expected)
    published = 0
    for _, row in cells.iterrows():
        n, a = expected.loc[(row["jurisdiction"], row["year"])]
        if row["n_exams"] == SUPPRESSED:
            continue
        published += 1
        assert int(row["n_exams"]) == rounded(n)
        if row["n_adverse"] != SUPPRESSED and int(row["n_adverse"]) > 0:
            assert float(row["adverse_rate"]) == pytest.approx(
                rounded(a) / rounded(n), rel=1e-3
            )
    assert published > len(cells) / 2
    total = table[table["jurisdiction"] == "total"].iloc[0]
    assert int(total["n_exams"]) == rounded(truth.execute("SELECT count(*) FROM fct_exams")
                                            .fetchone()[0])
    # Every small count is hidden: no shown count is from 1 to k-1, all are multiples of k.
    counts = table.filter(regex="^n_").stack()
    counts = counts[counts != SUPPRESSED].astype(int)
    assert (counts % K == 0).all()


def test_insurer_crosstab_has_market_rows(db, tmp_path):
    out = export(db, tmp_path, "crosstab", "--by", "specialty", "--by", "quarter",
                 "--role", "insurer", "--insurer", "INS002")
    table = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert set(table["population"]) == {"own cases", "market (all insurers)"}
    assert table["quarter"].str.fullmatch(r"\d{4}-Q[1-4]|total").all()


@pytest.mark.parametrize("by", [["jurisdiction"], ["jurisdiction", "jurisdiction"],
                                ["jurisdiction", "exam_date; DROP TABLE fct_exams"]])
def test_crosstab_features_come_from_the_fixed_list(db, tmp_path, capsys, by):
    args = ["export", "crosstab", "--db", str(db), "--out", str(tmp_path / "x.csv")]
    for b in by:
        args += ["--by", b]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "jurisdiction, claim_type, body_part, specialty, requested_by, year, quarter" in err
    assert not (tmp_path / "x.csv").exists()


# ---------------------------------------------------------------------------------------------
# Unknown filter values
# ---------------------------------------------------------------------------------------------


def test_an_unknown_filter_value_is_refused_with_the_known_ones(db, truth, tmp_path, capsys):
    out = tmp_path / "x.csv"
    rc = main(["export", "insurer_rates", "--role", "researcher", "--filter",
               "jurisdiction=XX", "--db", str(db), "--out", str(out)])
    assert rc == 2
    known = [r[0] for r in truth.execute(
        "SELECT DISTINCT jurisdiction FROM fct_exams WHERE jurisdiction IS NOT NULL ORDER BY 1"
    ).fetchall()]
    err = capsys.readouterr().err
    assert f"unknown jurisdiction 'XX': known values are {', '.join(known)}" in err
    assert not out.exists()


# ---------------------------------------------------------------------------------------------
# Provenance: coverage, source, citation, synthetic
# ---------------------------------------------------------------------------------------------


def test_an_export_says_where_its_figures_come_from(db, truth, tmp_path):
    first, last = truth.execute("SELECT min(exam_date), max(exam_date) FROM fct_exams").fetchone()
    regulator = export(db, tmp_path, "insurer_rates", name="reg.csv")
    meta = json.loads(regulator.with_name("reg.metadata.json").read_text())
    assert meta["synthetic"] is True
    assert "synthetic" in meta["data_source"]
    assert meta["coverage"] == {"first_exam": first.isoformat(), "last_exam": last.isoformat(),
                                "grain": "day"}
    assert meta["citation"].startswith("SYNTHETIC DATA. IME outcomes, table insurer_rates")
    assert meta["snapshot_sha256"][:12] in meta["citation"]
    researcher = export(db, tmp_path, "insurer_rates", "--role", "researcher", name="res.csv")
    meta = json.loads(researcher.with_name("res.metadata.json").read_text())
    # A researcher's coverage is whole years: an exact first date could be one claimant's.
    assert meta["coverage"] == {"first_exam": str(first.year), "last_exam": str(last.year),
                                "grain": "calendar year"}


# ---------------------------------------------------------------------------------------------
# One display rounding rule
# ---------------------------------------------------------------------------------------------


def test_display_rounding_removes_noise_and_long_floats():
    frame = pd.DataFrame({
        "n_exams": pd.array([110, 0], dtype="Int64"),
        "rate": [0.34307692307692306, 5.55e-17],
        "mixed": pd.Series([0.123456789, SUPPRESSED], dtype=object),
    })
    out = tidy(frame)
    assert out["n_exams"].tolist() == [110, 0]
    assert out["rate"].tolist() == [0.3431, 0.0]
    assert out["mixed"].tolist() == [0.1235, SUPPRESSED]


def test_exported_numbers_carry_at_most_four_significant_figures(db, tmp_path):
    out = export(db, tmp_path, "examiner_rates")
    table = pd.read_csv(out)
    counts = [c for c in table.columns if c.startswith(("n_", "drift_n_", "drift_adverse_"))]
    for column in table.select_dtypes("float").columns.difference(counts):
        values = table[column].dropna()
        values = values[values != 0]
        # Significant digits: the mantissa of the scientific form without trailing zeros.
        digits = values.map(lambda x: len(f"{abs(x):.14e}".split("e")[0].replace(".", "")
                                          .rstrip("0")))
        assert (digits <= 4).all(), (column, values[digits > 4].head().tolist())
