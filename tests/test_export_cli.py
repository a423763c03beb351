"""`ime export` end to end on a seeded demo database: scope, suppression, rounding across
exports, row order, formats, metadata, formula neutralisation and the audit log, each checked
against a direct DuckDB query or a regulator's export.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import openpyxl
import pandas as pd
import pytest
from exporthelp import FORMULA_INSURER, K, demo_db, pinned_small_values

from access import audit
from access.pseudonyms import examiner_pseudonym
from access.roles import EXPORTABLE_TABLES, MARKET, OWN
from ime.cli import main
from imestats.suppression import SUPPRESSED
from outputs.files import FORMATS
from outputs.tables import TABLES, Rate, table_for

INSURER_A, INSURER_B = "INS001", "INS002"
CROSSTAB_BY = ("jurisdiction", "year")


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    return demo_db(tmp_path_factory).path


@pytest.fixture(scope="module")
def truth(db):
    """A read-only connection for the figures an export must agree with."""
    con = duckdb.connect(str(db), read_only=True)
    yield con
    con.close()


@pytest.fixture(autouse=True)
def audit_db(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "audit.duckdb"
    monkeypatch.setenv("IME_AUDIT_DB", str(path))
    return path


@dataclass(frozen=True)
class Exported:
    table: pd.DataFrame
    meta: dict
    path: Path


def export(db: Path, out: Path, what: str, *args: str) -> Exported:
    """Run `ime export` in-process and read the table back as text (CSV) or typed.

    The cross-tab is exported by jurisdiction and year (CROSSTAB_BY).
    """
    if what == "crosstab" and "--by" not in args:
        args = (*args, *(a for feature in CROSSTAB_BY for a in ("--by", feature)))
    assert main(["export", what, "--db", str(db), "--out", str(out), *args]) == 0
    meta = json.loads(out.with_name(out.stem + ".metadata.json").read_text())
    if out.suffix == ".csv":
        table = pd.read_csv(out, dtype=str, keep_default_na=False)
    elif out.suffix == ".parquet":
        table = pd.read_parquet(out)
    else:
        table = pd.read_excel(out, sheet_name="data", engine="openpyxl")
    return Exported(table, meta, out)


def numbers(column: pd.Series) -> pd.Series:
    """The published numbers of a text column ("suppressed" and blanks dropped)."""
    return pd.to_numeric(column.replace({SUPPRESSED: None, "": None}), errors="coerce").dropna()


def count(truth, sql: str, params: dict | None = None) -> int:
    return int(truth.execute(sql, params or {}).fetchone()[0])


def rounded(n: int, base: int = K) -> int:
    """A count as a researcher (or an insurer's market row) is shown it: to the nearest
    multiple of k, halves up."""
    return base * int(n / base + 0.5)


def raw_ids(pseudonyms: pd.Series, truth, key_file: Path) -> list[str]:
    """The examiner id behind each pseudonym (labels that are not pseudonyms stay)."""
    key = key_file.read_text().strip()
    ids = truth.execute("SELECT examiner_id FROM examiners").df()["examiner_id"]
    behind = {examiner_pseudonym(i, key): i for i in ids}
    return [behind.get(label, label) for label in pseudonyms]


# ---------------------------------------------------------------------------------------------
# Scope: an insurer never sees another insurer's cases.
# ---------------------------------------------------------------------------------------------

OWN_TOTALS = {
    # table: (count column, label column, total label, SQL counting the same exams)
    "insurer_rates": ("n_exams", "insurer_id", "total", "SELECT count(*) FROM fct_exams WHERE {w}"),
    "monthly_rates": ("n_exams", "month", "all months", "SELECT count(*) FROM fct_exams WHERE {w}"),
    "examiner_rates": ("n_exams", "examiner_id", "all examiners",
                       "SELECT count(*) FROM fct_exams WHERE {w}"),
    "mmi_summary": ("n_exams", "grouping", "all",
                    "SELECT count(*) FROM fct_exams WHERE {w} AND mmi_reached IS NOT NULL "
                    "AND days_injury_to_mmi IS NOT NULL"),
    "impairment_distribution": (
        "n_rated", "body_part", "all",
        "SELECT count(*) FROM fct_exams WHERE {w} AND wpi_percent IS NOT NULL",
    ),
}


@pytest.mark.parametrize("what", list(OWN_TOTALS))
def test_insurer_export_counts_only_its_own_cases(db, truth, tmp_path, what):
    column, label_col, total, sql = OWN_TOTALS[what]
    args = ["--role", "insurer", "--insurer", INSURER_A]
    shown = export(db, tmp_path / f"{what}.csv", what, *args).table
    own = shown[shown["population"] == OWN]
    market = shown[shown["population"] == MARKET]
    own_total = own[own[label_col] == total]
    assert int(own_total[column].iloc[0]) == count(
        truth, sql.format(w="insurer_id = $i"), {"i": INSURER_A}
    )
    market_total = market[market[label_col] == total][column].iloc[0]
    assert int(market_total) == rounded(count(truth, sql.format(w="true")))
    assert not shown.isin([INSURER_B]).any().any()
    assert set(shown["population"]) == {OWN, MARKET}


def test_insurer_monthly_rows_match_a_direct_query(db, truth, tmp_path):
    shown = export(db, tmp_path / "m.csv", "monthly_rates", "--role", "insurer",
                   "--insurer", INSURER_A).table
    own = shown[(shown["population"] == OWN) & (shown["month"] != "all months")]
    direct = truth.execute(
        "SELECT strftime(exam_month, '%Y-%m') AS month, count(*) AS n FROM fct_exams "
        "WHERE insurer_id = $i GROUP BY ALL ORDER BY month", {"i": INSURER_A},
    ).df()
    assert own["month"].tolist() == direct["month"].tolist()
    assert own["n_exams"].astype(int).tolist() == direct["n"].tolist()


def test_insurer_examiner_rows_are_its_own_exams_and_names_are_dropped(db, truth, tmp_path):
    shown = export(db, tmp_path / "e.csv", "examiner_rates", "--role", "insurer",
                   "--insurer", INSURER_A).table
    own = shown[(shown["population"] == OWN) & (shown["examiner_id"] != "all examiners")]
    direct = truth.execute(
        "SELECT examiner_id, count(*) AS n FROM fct_exams WHERE insurer_id = $i "
        "GROUP BY ALL ORDER BY examiner_id", {"i": INSURER_A},
    ).df()
    assert own["examiner_id"].tolist() == direct["examiner_id"].tolist()
    assert own["n_exams"].astype(int).tolist() == direct["n"].tolist()
    assert "examiner_name" not in shown
    # The market part is the total over all insurers only: no examiner is named in it.
    assert shown.loc[shown["population"] == MARKET, "examiner_id"].tolist() == ["all examiners"]


def test_regulator_export_covers_every_exam_with_names(db, truth, tmp_path):
    shown = export(db, tmp_path / "e.csv", "examiner_rates").table
    total = shown[shown["examiner_id"] == "all examiners"]
    assert int(total["n_exams"].iloc[0]) == count(truth, "SELECT count(*) FROM fct_exams")
    names = set(truth.execute("SELECT examiner_name FROM examiners").df()["examiner_name"])
    assert set(shown["examiner_name"]) - {""} <= names and len(set(shown["examiner_name"])) > 10


def test_the_dictionary_names_allegiance_an_odds_ratio(db, tmp_path):
    """Allegiance's ratio is an odds ratio, the others observed over expected: the dictionary
    a reader gets beside examiner_rates says which."""
    export(db, tmp_path / "e.csv", "examiner_rates")
    words = pd.read_csv(tmp_path / "e.dictionary.csv").set_index("column")["description"]
    assert words["allegiance_ratio"].endswith(
        ": odds ratio (insurer/employer vs claimant/neutral)"
    )
    assert "observed / expected" not in words["allegiance_ratio"]
    assert words["adverse_oe"].endswith(": observed / expected")


def test_filters_narrow_the_export_and_are_recorded(db, truth, tmp_path):
    done = export(db, tmp_path / "i.csv", "insurer_rates", "--filter", "jurisdiction=CA",
                  "--start", "2020-01-01")
    total = done.table[done.table["insurer_id"] == "total"]
    assert int(total["n_exams"].iloc[0]) == count(
        truth,
        "SELECT count(*) FROM fct_exams "
        "WHERE jurisdiction = 'CA' AND exam_date >= DATE '2020-01-01'",
    )
    assert done.meta["filters"] == {"start": "2020-01-01", "jurisdiction": ["CA"]}


# ---------------------------------------------------------------------------------------------
# Researchers: suppression and no examiner identity.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("what", EXPORTABLE_TABLES)
def test_researcher_export_has_no_small_count_and_no_examiner_identity(db, truth, tmp_path, what):
    shown = export(db, tmp_path / f"{what}.csv", what, "--role", "researcher").table
    spec = table_for(what, CROSSTAB_BY)
    for col in spec.count_cols:
        published = numbers(shown[col])
        assert not published.between(1, K - 1).any(), f"{col}: {sorted(published[published < K])}"
    for rate in (i for i in spec.layout if isinstance(i, Rate)):
        hidden = shown[rate.events].eq(SUPPRESSED) | shown[rate.trials].eq(SUPPRESSED)
        for col in rate.columns:
            assert shown.loc[hidden, col].eq(SUPPRESSED).all(), col
    identities = set(truth.execute(
        "SELECT examiner_id FROM examiners UNION SELECT examiner_name FROM examiners "
        "UNION SELECT maker_id FROM decision_counts UNION SELECT case_id FROM cases "
        "UNION SELECT claimant_id FROM cases"
    ).df().iloc[:, 0].dropna())
    cells = set(shown.to_numpy().ravel().tolist())
    assert not cells & identities
    assert "examiner_id" not in shown and "examiner_name" not in shown and "maker_id" not in shown


def _attack(db, tmp_path, what, label_col, total_label, truth_db, key_file):
    """Pinned small values of a researcher export, against the regulator's figures.

    The researcher's rows are in pseudonym order: the regulator's rows are lined up with
    them through the key, as only the attacker who holds it could.
    """
    # Blank cells are counts that were not computed (drift below its minimum volume).
    shown = export(db, tmp_path / f"{what}-r.csv", what, "--role", "researcher").table
    shown = shown.replace({"": None})
    truth = export(db, tmp_path / f"{what}-g.csv", what).table
    spec = table_for(what, CROSSTAB_BY)
    if label_col == "examiner":
        truth = truth.set_index("examiner_id").loc[raw_ids(shown[label_col], truth_db, key_file)]
    else:
        truth = truth.set_index(label_col).loc[shown[label_col]]
    truth_counts = truth[spec.count_cols].replace({"": None}).apply(pd.to_numeric)
    truth_counts = truth_counts.reset_index(drop=True)
    labels = shown[label_col].tolist()
    total = labels.index(total_label)
    margins = [(total, [i for i in range(len(labels)) if i != total])]
    relations = [(t, list(p)) for t, p in spec.relations]
    pinned = pinned_small_values(shown, truth_counts, spec.count_cols, relations, margins,
                                 base=K)
    return shown, truth_counts, pinned


def test_complementary_suppression_is_visible_and_no_small_value_can_be_recovered(
    db, truth, tmp_path, pseudonym_key_file
):
    shown, truth_counts, pinned = _attack(db, tmp_path, "insurer_rates", "insurer_id", "total",
                                          truth, pseudonym_key_file)
    assert pinned == []
    complements = [
        (col, i) for col in truth_counts for i in range(len(shown))
        if shown[col].iloc[i] == SUPPRESSED and truth_counts[col].iloc[i] >= K
    ]
    assert complements, "some cell of at least k is hidden to protect a small one"


def test_examiner_rates_for_researchers_withstand_the_attack(
    db, truth, tmp_path, pseudonym_key_file
):
    _, _, pinned = _attack(db, tmp_path, "examiner_rates", "examiner", "all examiners", truth,
                           pseudonym_key_file)
    assert pinned == []


# ---------------------------------------------------------------------------------------------
# Across exports (issue 13, finding 3): two researcher exports must not subtract into a count
# from 1 to 10, and the rows must not line up with a regulator's by position.
# ---------------------------------------------------------------------------------------------

# The columns that name a row of each table, in a researcher's export.
ROW_LABELS = {
    "examiner_rates": ["examiner"],
    "insurer_rates": ["insurer_id"],
    "monthly_rates": ["month"],
    "mmi_summary": ["grouping", "group"],
    "impairment_distribution": ["body_part", "guides_edition"],
    "decision_counts_flags": ["source", "maker", "group_name"],
    "crosstab": list(CROSSTAB_BY),
}


def last_exam_year(truth) -> int:
    return truth.execute("SELECT year(max(exam_date)) FROM fct_exams").fetchone()[0]


def small_differences(a: pd.DataFrame, b: pd.DataFrame, what: str) -> tuple[list[str], int, int]:
    """Cells where two exports differ by a count from 1 to k-1; cells compared; cells changed."""
    labels = ROW_LABELS[what]
    a, b = a.set_index(labels), b.set_index(labels)
    rows = a.index.intersection(b.index)
    small, compared, changed = [], 0, 0
    for col in table_for(what, CROSSTAB_BY).count_cols:
        x, y = numbers(a.loc[rows, col]), numbers(b.loc[rows, col])
        both = x.index.intersection(y.index)
        difference = (x[both] - y[both]).abs()
        compared += len(both)
        changed += int((difference > 0).sum())
        small += [f"{col} {row}: {x[row]:g} vs {y[row]:g}"
                  for row in both[difference.between(1, K - 1).to_numpy()]]
    return small, compared, changed


@pytest.mark.parametrize("what", EXPORTABLE_TABLES)
def test_researcher_exports_under_different_filters_never_subtract_into_a_small_count(
    db, truth, tmp_path, what
):
    """The attack: the same export with the last year left out, and with one jurisdiction
    only, subtracted cell by cell from the export with no filter."""
    full = export(db, tmp_path / "full.csv", what, "--role", "researcher").table
    earlier = export(db, tmp_path / "earlier.csv", what, "--role", "researcher",
                     "--end", f"{last_exam_year(truth) - 1}-12-31").table
    one_place = export(db, tmp_path / "ca.csv", what, "--role", "researcher",
                       "--filter", "jurisdiction=CA").table
    for other in (earlier, one_place):
        small, compared, changed = small_differences(full, other, what)
        assert small == []
        assert compared > 0
        if what != "decision_counts_flags":  # published counts carry no case features
            assert changed > 0, "the filters changed the figures: the test compares something"


def test_the_fine_period_attack_is_refused_for_researchers_only(db, truth, tmp_path, capsys):
    # A few weeks before the last exam: the end that isolated a handful of exams.
    last = truth.execute("SELECT max(exam_date) FROM fct_exams").fetchone()[0]
    end = (last - dt.timedelta(days=21)).isoformat()
    out = tmp_path / "weeks.csv"
    args = ["export", "examiner_rates", "--db", str(db), "--out", str(out), "--end", end]
    assert main([*args, "--role", "researcher"]) == 2
    err = capsys.readouterr().err
    assert "whole calendar years" in err and f"end {end}" in err
    assert not list(tmp_path.iterdir())
    # The same window stays open to the other roles (on a quicker table).
    args[1] = "insurer_rates"
    assert main([*args, "--role", "insurer", "--insurer", INSURER_A]) == 0
    assert main(args) == 0


def test_rounding_alone_defeats_the_weeks_apart_attack(db, truth, tmp_path, monkeypatch):
    """Defence in depth: with the period rule switched off, the attack of the issue (an end
    a few weeks before the last exam) still finds no difference from 1 to 10."""
    import access.roles
    import outputs.tables

    def any_period(scope, filters):
        return filters

    monkeypatch.setattr(access.roles, "check_filters", any_period)
    monkeypatch.setattr(outputs.tables, "check_filters", any_period)
    last = truth.execute("SELECT max(exam_date) FROM fct_exams").fetchone()[0]
    end = (last - dt.timedelta(days=21)).isoformat()
    full = export(db, tmp_path / "full.csv", "examiner_rates", "--role", "researcher").table
    weeks = export(db, tmp_path / "weeks.csv", "examiner_rates", "--role", "researcher",
                   "--end", end).table
    small, compared, changed = small_differences(full, weeks, "examiner_rates")
    assert small == [] and compared > 0 and changed > 0


def test_researcher_rows_follow_the_pseudonyms_not_the_raw_ids(
    db, truth, tmp_path, pseudonym_key_file
):
    shown = export(db, tmp_path / "r.csv", "examiner_rates", "--role", "researcher").table
    regulator = export(db, tmp_path / "g.csv", "examiner_rates").table
    rows = shown.iloc[:-1]
    assert shown["examiner"].iloc[-1] == "all examiners"
    assert rows["examiner"].is_monotonic_increasing
    behind = raw_ids(rows["examiner"], truth, pseudonym_key_file)
    in_raw_order = regulator["examiner_id"].iloc[:-1].tolist()
    assert sorted(behind) == sorted(in_raw_order) and behind != in_raw_order
    # The attack: line the researcher's volumes up with the regulator's row by row.
    mine = pd.to_numeric(rows["n_exams"], errors="coerce")
    theirs = regulator["n_exams"].iloc[:-1].astype(int).map(rounded)
    same = (mine.to_numpy() == theirs.to_numpy()).sum()
    assert same < len(rows) / 2, f"{same} of {len(rows)} volumes line up by position"


def test_a_higher_threshold_suppresses_more(db, tmp_path):
    done = export(db, tmp_path / "i.csv", "insurer_rates", "--role", "researcher", "--k", "20")
    for col in TABLES["insurer_rates"].count_cols:
        assert not numbers(done.table[col]).between(1, 19).any(), col
        assert (numbers(done.table[col]) % 20 == 0).all(), col
    assert done.meta["suppression"]["k"] == done.meta["suppression"]["rounding_base"] == 20


# ---------------------------------------------------------------------------------------------
# Files: formats, formula neutralisation, metadata, audit.
# ---------------------------------------------------------------------------------------------


def test_formula_is_neutralised_in_a_real_export(db, tmp_path):
    text = export(db, tmp_path / "i.csv", "insurer_rates").path.read_text()
    assert f"'{FORMULA_INSURER}" in text
    assert not any(line.startswith("=") or ",=" in line for line in text.splitlines())
    export(db, tmp_path / "i.xlsx", "insurer_rates")
    sheet = openpyxl.load_workbook(tmp_path / "i.xlsx")["data"]
    cells = [c for row in sheet.iter_rows() for c in row if c.value == f"'{FORMULA_INSURER}"]
    assert cells and all(c.data_type == "s" for c in cells)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "what, args",
    [("examiner_rates", ["--role", "researcher"]),
     ("insurer_rates", ["--role", "insurer", "--insurer", INSURER_A])],
    ids=["researcher-examiners", "insurer-insurers"],
)
def test_every_format_writes_and_reads_back(db, tmp_path, fmt, what, args):
    done = export(db, tmp_path / f"t.{fmt}", what, *args)
    assert len(done.table) == done.meta["rows"] > 1
    assert [str(c) for c in done.table.columns] == done.meta["columns"]
    assert done.meta["format"] == fmt
    digest = hashlib.sha256(done.path.read_bytes()).hexdigest()
    assert digest == done.meta["file_sha256"]
    if fmt == "parquet" and "researcher" in args:
        flags = [c for c in done.table.columns if c.endswith("_suppressed")]
        assert flags and all(done.table[c].dtype == bool for c in flags)
        assert pd.api.types.is_numeric_dtype(done.table["n_exams"])


def test_metadata_cites_the_snapshot_the_rule_and_the_methods(db, tmp_path):
    done = export(db, tmp_path / "m.csv", "monthly_rates", "--role", "researcher")
    meta = done.meta
    assert meta["snapshot_sha256"] == hashlib.sha256(db.read_bytes()).hexdigest()
    assert meta["suppression"]["k"] == K and "1 to 10" in meta["suppression"]["rule"]
    assert meta["suppression"]["cells_suppressed"] > 0
    assert meta["suppression"]["rounding_base"] == K
    assert "nearest multiple of 11" in meta["suppression"]["rounding"]
    assert "never by a count from 1 to 10" in meta["suppression"]["across_outputs"]
    assert meta["suppression"]["period_grain"] == "calendar year"
    assert "pseudonym order" in meta["suppression"]["row_order"]
    assert meta["role"] == "researcher" and meta["table"] == "monthly_rates"
    assert {"rate_interval", "suppression", "kaplan_meier"} <= set(meta["method_versions"])
    assert meta["exported_at_utc"]
    dictionary = pd.read_csv(tmp_path / "m.dictionary.csv")
    assert dictionary["column"].tolist() == list(done.table.columns)
    assert dictionary["description"].notna().all()


def test_exports_are_recorded_in_the_audit_log(db, tmp_path, audit_db):
    export(db, tmp_path / "a.csv", "insurer_rates", "--role", "researcher")
    export(db, tmp_path / "b.parquet", "monthly_rates", "--role", "insurer", "--insurer", INSURER_A)
    log = audit.read(event="export", path=audit_db)
    assert len(log) == 2
    details = [json.loads(d) for d in log["detail"]]
    assert [d["table"] for d in details] == ["monthly_rates", "insurer_rates"]
    assert [d["format"] for d in details] == ["parquet", "csv"]
    assert log["role"].tolist() == ["insurer", "researcher"]
    assert list(log["insurer_ids"].iloc[0]) == [INSURER_A]
    assert all(u.startswith("cli:") for u in log["username"])
    assert audit.verify(path=audit_db).ok


def test_decision_counts_flags_sum_the_published_counts(db, truth, tmp_path):
    shown = export(db, tmp_path / "d.csv", "decision_counts_flags").table
    makers = shown[shown["maker_id"] != "all"]
    direct = truth.execute(
        "SELECT source, maker_id, sum(n_decisions) AS n FROM decision_counts GROUP BY ALL "
        "ORDER BY source, maker_id"
    ).df()
    assert makers["n_decisions"].astype(int).tolist() == direct["n"].astype(int).tolist()
    assert set(makers["adverse_flagged"]) <= {"True", "False"}
    totals = shown[shown["maker_id"] == "all"].set_index("source")["n_decisions"].astype(int)
    assert totals.to_dict() == direct.groupby("source")["n"].sum().astype(int).to_dict()
    assert len(totals) == 2


# ---------------------------------------------------------------------------------------------
# Errors.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["--role", "insurer"], "needs at least one --insurer"),
        (["--role", "insurer", "--insurer", "NOPE"], "no cases of insurer NOPE"),
        (["--role", "researcher", "--insurer", INSURER_A], "--insurer applies to --role insurer"),
        (["--k", "5"], "at least 11"),
        (["--format", "xlsx"], "make them agree"),
        (["--filter", "colour=red"], "COLUMN=VALUE"),
    ],
    ids=["insurer-without-id", "unknown-insurer", "insurer-id-for-researcher", "k-below-11",
         "format-and-suffix-differ", "unknown-filter"],
)
def test_export_errors_are_clear_and_write_nothing(db, tmp_path, capsys, args, message):
    out = tmp_path / "x.csv"
    assert main(["export", "insurer_rates", "--db", str(db), "--out", str(out), *args]) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.glob("x.*"))


def test_out_naming_a_folder_is_a_clear_error_and_leaves_nothing(db, tmp_path, capsys):
    folder = tmp_path / "exports"
    folder.mkdir()
    assert main(["export", "examiner_rates", "--db", str(db), "--out", str(folder)]) == 2
    err = capsys.readouterr().err
    assert f"--out {folder} is a folder" in err and "Traceback" not in err
    assert list(tmp_path.rglob("*")) == [folder]


def test_export_of_an_unknown_table_or_database_fails(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["export", "fct_exams"])
    assert exc.value.code == 2
    assert main(["export", "insurer_rates", "--db", str(tmp_path / "none.duckdb")]) == 2
    assert "no database yet" in capsys.readouterr().err
