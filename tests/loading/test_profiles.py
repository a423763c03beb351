"""Mapping profiles: the checks a profile gets when read, and the shipped profiles on real data.

The real files are part of the repository, in data/public/, one folder per profile of the same
name (each with its SOURCE.md). Expected figures come from the files themselves (read here with
the csv module, not through the loader) or from their SOURCE.md.
"""

from __future__ import annotations

import csv
import datetime as dt
import fnmatch
import json
import re
from collections import Counter
from pathlib import Path

import duckdb
import pytest

import etl.profile
from etl.errors import LoadError
from etl.load import load
from etl.profile import read_profile

REPO = Path(__file__).resolve().parents[2]
REALDATA = REPO / "data" / "public"
PROFILES = REPO / "data" / "profiles"


def realdata(folder: str) -> Path:
    """A public data set of the repository (never skipped: a missing folder is a failure)."""
    path = REALDATA / folder
    assert path.is_dir(), f"public data folder {path} is missing from the repository"
    return path


def rows(db: Path, sql: str, params: dict | None = None) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, params or {}).fetchall()


def by_name(report) -> dict:
    return {Path(f.file).name: f for f in report.files}


def read_source(path: Path, delimiter: str = ",") -> list[dict]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter=delimiter))


def write_profile(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profile.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --- what read_profile refuses --------------------------------------------------------------

COUNTS_ENTRY = """
[[files]]
match = "*.csv"
entity = "decision_counts"
[files.columns]
maker_id = '"Judge"'
n_decisions = '"Decisions"'
n_adverse = '"Denials"'
"""


def rule_entry(name: str = "ok_rule", column: str = "n_decisions") -> str:
    return f"""
[[files.rules]]
name = {json.dumps(name)}
column = {json.dumps(column)}
violation = 'false'
message = "m"
"""


@pytest.mark.parametrize(
    "name",
    ["Upper_case", "has space", "dash-ed", "quote'); DROP TABLE cases; --", "", "ünï"],
    ids=["upper-case", "space", "dash", "sql-injection", "empty", "non-ascii"],
)
def test_rule_name_must_be_a_safe_identifier(tmp_path, name):
    path = write_profile(tmp_path, COUNTS_ENTRY + rule_entry(name=name))
    with pytest.raises(LoadError, match="must be lower-case letters, digits and underscores"):
        read_profile(path)


def test_rule_name_of_letters_digits_underscores_is_accepted(tmp_path):
    profile = read_profile(write_profile(tmp_path, COUNTS_ENTRY + rule_entry(name="rule_2b")))
    assert [r.name for r in profile.files[0].rules] == ["rule_2b"]


def test_rule_names_must_be_unique_in_an_entry(tmp_path):
    path = write_profile(tmp_path, COUNTS_ENTRY + rule_entry("twice") + rule_entry("twice"))
    with pytest.raises(LoadError, match="rule names must be unique; repeated: twice"):
        read_profile(path)


@pytest.mark.parametrize(
    "column",
    ["Decisions", "exam_date", "n_decisions; --"],
    ids=["source-column", "other-entity", "sql"],
)
def test_rule_column_must_be_a_column_of_the_entity(tmp_path, column):
    path = write_profile(tmp_path, COUNTS_ENTRY + rule_entry(column=column))
    message = (
        rf"\[\[files\]\] entry 1: rule 'ok_rule' column '{re.escape(column)}' is not a column "
        r"of decision_counts; use one of maker_id, group_name, period, n_decisions"
    )
    with pytest.raises(LoadError, match=message):
        read_profile(path)


AGGREGATE_ENTRY = """
[[files]]
match = "*.csv"
entity = "decision_counts"
[files.columns]
maker_id = '"Reviewer"'
[files.aggregate]
count = "n_decisions"
[files.aggregate.count_if]
n_adverse = "Outcome = 'upheld'"
"""


def test_rule_cannot_check_a_count_the_roll_up_computes(tmp_path):
    path = write_profile(tmp_path, AGGREGATE_ENTRY + rule_entry(column="n_adverse"))
    with pytest.raises(LoadError, match=r"column 'n_adverse' .* checked row by row"):
        read_profile(path)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ('count = "n_decisions"\nby = ["maker_id", "n_expected"]', "'by' must list key columns"),
        ('count = "n_decisions"\nby = ["maker_id; DROP TABLE x"]', "'by' must list key columns"),
        ('count = "n_expected"', "must name distinct whole-number columns"),
        ('count = "maker_id"', "must name distinct whole-number columns"),
        ('count = "n_adverse"', "must name distinct whole-number columns"),
    ],
    ids=["by-not-key", "by-sql", "count-not-int", "count-in-key", "count-twice"],
)
def test_aggregate_names_are_checked(tmp_path, change, problem):
    path = write_profile(tmp_path, AGGREGATE_ENTRY.replace('count = "n_decisions"', change))
    with pytest.raises(LoadError, match=problem):
        read_profile(path)


def test_the_docstring_example_is_a_valid_profile(tmp_path):
    example = re.search(r"```toml\n(.*?)```", etl.profile.__doc__, re.S).group(1)
    profile = read_profile(write_profile(tmp_path, example))
    plain, rolled_up = profile.files
    assert (plain.rules[0].action, plain.values, plain.aggregate) == (
        "warn",
        {"group_name": {"tulsa oho": "TULSA"}},
        None,
    )
    assert (rolled_up.aggregate.count, list(rolled_up.aggregate.count_if)) == (
        "n_decisions",
        ["n_adverse"],
    )


# --- roll-up of row-level records (made in code) --------------------------------------------


def test_aggregate_rolls_rows_up_without_calling_shared_keys_duplicates(tmp_path):
    source = tmp_path / "in" / "reviews.csv"
    source.parent.mkdir()
    source.write_text(
        "Reviewer;Year;Outcome\r\n"
        "R1;2020;upheld\r\nR1;2020;upheld\r\nR1;2020;overturned\r\n"
        "R2;2020;overturned\r\nR2;2021;upheld\r\nR2;2021;lost\r\n",
        encoding="utf-8",
    )
    profile = write_profile(
        tmp_path,
        """
[[files]]
match = "reviews.csv"
entity = "decision_counts"
delimiter = ";"
[files.columns]
maker_id = '"Reviewer"'
period = '"Year"'
[files.aggregate]
count = "n_decisions"
[files.aggregate.count_if]
n_adverse = "Outcome = 'upheld'"
[[files.rules]]
name = "outcome_known"
column = "maker_id"
violation = "Outcome NOT IN ('upheld', 'overturned')"
message = "unknown outcome"
""",
    )
    db = tmp_path / "x.duckdb"
    report = load([source.parent], db, profile)
    (f,) = report.files
    assert (f.read, f.loaded, f.quarantined, f.warnings) == (6, 5, 1, 0)
    assert f.note == "aggregated into 3 decision_counts rows"
    counts = "SELECT maker_id, period, n_decisions, n_adverse FROM decision_counts ORDER BY 1, 2"
    assert rows(db, counts) == [
        ("R1", "2020", 3, 2),
        ("R2", "2020", 1, 0),
        ("R2", "2021", 1, 1),
    ]
    assert rows(db, "SELECT row_number, rule, action FROM quarantine") == [
        (6, "profile:outcome_known", "quarantined"),
    ]


# --- body part from WCIO and OIICS codes (made in code) --------------------------------------

BODY_PARTS = [
    # (WCIO Part Of Body, WCIO Nature of Injury, OIICS Part Of Body, expected body_part)
    ("10", "", "", "head"),
    ("19", "", "", "head"),
    ("20", "", "", "spine"),
    ("22", "", "", "spine"),
    ("24", "", "", "other"),
    ("26", "", "", "other"),
    ("30", "", "", "upper_extremity"),
    ("38", "", "", "upper_extremity"),
    ("40", "", "", "multiple"),
    ("41", "", "", "spine"),
    ("42", "52", "", "spine"),
    ("44", "", "", "other"),
    ("47", "", "", "spine"),
    ("50", "", "", "lower_extremity"),
    ("58", "", "", "lower_extremity"),
    ("61", "", "", "other"),
    ("63", "", "", "spine"),
    ("65", "", "", None),
    ("66", "", "", None),
    ("66", "77", "", "psychiatric"),
    ("42", "69", "", "psychiatric"),
    ("90", "", "", "multiple"),
    ("91", "", "", "multiple"),
    ("99", "", "", "multiple"),
    ("UK", "UK", "", None),
    ("", "", "", None),
    ("", "", "01*", "head"),
    ("", "", "23*", "spine"),
    ("", "", "21", "other"),
    ("", "", "34", "upper_extremity"),
    ("", "", "48*", "lower_extremity"),
    ("", "", "88", "multiple"),
    ("53", "", "23*", "lower_extremity"),
]


def test_ny_body_part_follows_the_wcio_code_groups(tmp_path):
    header = [
        "Claim Identifier",
        "Claim Type",
        "Accident Date",
        "WCIO Part Of Body Code",
        "WCIO Nature of Injury Code",
        "WCIO Nature of Injury Description",
        "OIICS Part Of Body Code",
        "Gender",
        "Birth Year",
        "Attorney/Representative",
        "Carrier Name",
    ]
    source = tmp_path / "in" / "ny_wcb_raw_rows_synthetic.csv"
    source.parent.mkdir()
    with source.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for i, (wcio, nature, oiics, _) in enumerate(BODY_PARTS):
            writer.writerow(
                [
                    f"C{i}",
                    "WORKERS COMPENSATION CLAIM",
                    "1/2/2015",
                    wcio,
                    nature,
                    "",
                    oiics,
                    "F",
                    "1970",
                    "N",
                    "SOME CARRIER",
                ]
            )
    db = tmp_path / "x.duckdb"
    report = load([source], db, PROFILES / "ny_wcb_claims_fragments.toml")
    assert (report.files[0].read, report.files[0].quarantined) == (len(BODY_PARTS), 0)
    got = dict(rows(db, "SELECT case_id, body_part FROM cases"))
    assert [got[f"C{i}"] for i in range(len(BODY_PARTS))] == [b[-1] for b in BODY_PARTS]


# --- the shipped profiles -------------------------------------------------------------------


@pytest.mark.parametrize("profile", sorted(PROFILES.glob("*.toml")), ids=lambda p: p.stem)
def test_each_shipped_profile_names_a_file_of_its_data_set(profile):
    mappings = read_profile(profile).files
    files = [f for f in realdata(profile.stem).iterdir() if f.is_file()]
    for m in mappings:
        assert [f for f in files if fnmatch.fnmatch(f.name, m.match)], f"{m.match} matches nothing"


def test_ssa_alj_profile_loads_every_judge_and_reports_the_two_inconsistent_rows(tmp_path):
    folder = realdata("ssa_alj_dispositions")
    db = tmp_path / "alj.duckdb"
    report = load([folder], db, PROFILES / "ssa_alj_dispositions.toml")
    files = by_name(report)
    alj = files["alj-disposition-by-judge-LATEST.csv"]
    assert (alj.entity, alj.read, alj.loaded, alj.quarantined, alj.warnings) == (
        "decision_counts",
        1439,
        1439,
        0,
        2,
    )
    assert alj.reasons == {
        "warning: n_decisions: profile:decisions_equal_awards_plus_denials "
        "(Decisions is not Awards + Denials in the SSA file)": 2,
    }
    # Office attributes have no entity: reported as skipped, not loaded, not an error.
    for name in ("hearing-office-to-state.csv", "hearing-office-wait-time-LATEST.csv"):
        assert files[name].entity is None and "not named by profile" in files[name].note
    assert report.total("read") == report.total("loaded") + report.total("quarantined")
    assert all(n == 0 for n in report.contracts.values())

    warned = rows(
        db,
        """
        SELECT row_number, raw_value, action, raw_row->>'maker_id', raw_row->>'group_name'
        FROM quarantine ORDER BY row_number""",
    )
    assert warned == [
        (8, "512", "loaded_with_warning", "Shinn, Charles", "AKRON OH"),
        (1061, "404", "loaded_with_warning", "Ehasz, Sarah", "PITTSBURGH"),
    ]
    source = read_source(folder / "alj-disposition-by-judge-LATEST.csv")
    broken = [
        (r["Judge"], r["Office"])
        for r in source
        if int(r["Decisions"]) != int(r["Awards"]) + int(r["Denials"])
    ]
    assert broken == [("Shinn, Charles", "AKRON OH"), ("Ehasz, Sarah", "PITTSBURGH")]
    # Warned rows are loaded as published.
    shinn = "SELECT n_decisions, n_adverse FROM decision_counts WHERE maker_id = 'Shinn, Charles'"
    assert rows(db, shinn) == [(512, 175)]


def test_ssa_alj_counts_match_the_csv(tmp_path):
    folder = realdata("ssa_alj_dispositions")
    db = tmp_path / "alj.duckdb"
    load([folder], db, PROFILES / "ssa_alj_dispositions.toml")
    ((n_rows, n_judges, n_offices, periods, decisions, denials),) = rows(
        db,
        """
        SELECT count(*), count(DISTINCT maker_id), count(DISTINCT group_name),
               list(DISTINCT period),
               sum(n_decisions), sum(n_adverse) FROM decision_counts""",
    )
    assert (n_rows, n_judges, n_offices, periods) == (1439, 1150, 167, ["FY2025"])
    # README: "the national denial rate is about 41.7%".
    assert denials / decisions == pytest.approx(0.417, abs=5e-4)
    source = read_source(folder / "alj-disposition-by-judge-LATEST.csv")
    assert (
        (decisions, denials)
        == (
            sum(int(r["Decisions"]) for r in source),
            sum(int(r["Denials"]) for r in source),
        )
        == (329_700, 137_579)
    )
    # One judge who sat in two offices: one row per office, figures as in the CSV.
    balter = {
        r["Office"]: (int(r["Decisions"]), int(r["Denials"]))
        for r in source
        if r["Judge"] == "Balter, Michael N"
    }
    assert balter == {"AKRON OH": (395, 156), "MADISON": (1, 0)}
    assert (
        dict(
            (office, (n, a))
            for office, n, a in rows(
                db,
                """
            SELECT group_name, n_decisions, n_adverse FROM decision_counts
            WHERE maker_id = 'Balter, Michael N'""",
            )
        )
        == balter
    )


def test_ssa_alj_second_load_changes_nothing(tmp_path):
    folder = realdata("ssa_alj_dispositions")
    db = tmp_path / "alj.duckdb"
    load([folder], db, PROFILES / "ssa_alj_dispositions.toml")
    again = by_name(load([folder], db, PROFILES / "ssa_alj_dispositions.toml"))
    alj = again["alj-disposition-by-judge-LATEST.csv"]
    assert (alj.inserted, alj.replaced, alj.unchanged, alj.warnings) == (0, 0, 1439, 2)
    assert rows(db, "SELECT count(*) FROM quarantine") == [(2,)]


def test_ssa_dds_profile_loads_adult_determinations_per_state_and_year(tmp_path):
    folder = realdata("ssa_dds_state_workload")
    db = tmp_path / "dds.duckdb"
    report = load([folder], db, PROFILES / "ssa_dds_state_workload.toml")
    files = by_name(report)
    wl = files["ssa-sa-fywl-all-states-2001-2024.csv"]
    assert (wl.entity, wl.read, wl.loaded, wl.quarantined, wl.warnings) == (
        "decision_counts",
        1248,
        1248,
        0,
        0,
    )
    skipped = files["dds-net-accuracy-by-state-2007-2022.csv"]
    assert skipped.entity is None and "not named by profile" in skipped.note
    assert all(n == 0 for n in report.contracts.values())

    ((states, regions, periods, first, last, padded),) = rows(
        db,
        """
        SELECT count(DISTINCT maker_id), count(DISTINCT group_name), count(DISTINCT period),
               min(period), max(period), count(*) FILTER (maker_id <> trim(maker_id))
        FROM decision_counts""",
    )
    assert (states, regions, periods, first, last, padded) == (52, 10, 24, "FY2001", "FY2024", 0)
    # Alaska FY2001: 3,369 adult determinations, 1,573 favourable -> 1,796 unfavourable.
    assert rows(
        db,
        """
        SELECT group_name, n_decisions, n_adverse, extra->>'Adult Favorable  Determination Rate'
        FROM decision_counts WHERE maker_id = 'AK' AND period = 'FY2001'""",
    ) == [("SEA", 3369, 1796, "46.69")]
    source = read_source(folder / "ssa-sa-fywl-all-states-2001-2024.csv")
    expected = {
        (r["State Code"].strip(), "FY" + r["Date"]): (
            int(r["All Adult Determinations"]),
            int(r["All Adult Determinations"]) - int(r["Favorable Adult Determinations"]),
        )
        for r in source
    }
    loaded = {
        (m, p): (n, a)
        for m, p, n, a in rows(
            db, "SELECT maker_id, period, n_decisions, n_adverse FROM decision_counts"
        )
    }
    assert loaded == expected


def test_ca_imr_profile_rolls_up_every_determination(tmp_path):
    folder = realdata("ca_dmhc_imr_determinations")
    db = tmp_path / "imr.duckdb"
    report = load([folder], db, PROFILES / "ca_dmhc_imr_determinations.toml")
    (imr,) = report.files
    assert (imr.read, imr.loaded, imr.quarantined, imr.warnings) == (19_228, 19_228, 0, 59)
    assert imr.read == imr.loaded + imr.quarantined
    assert imr.reasons == {
        "warning: maker_id: profile:diagnosis_category_blank "
        "(Diagnosis Category is blank; counted under '(not recorded)')": 59,
    }
    assert imr.note == "aggregated into 916 decision_counts rows"
    assert all(n == 0 for n in report.contracts.values())

    # README: 10,776 upheld, 8,452 overturned.
    assert rows(
        db,
        """
        SELECT sum(n_decisions), sum(n_adverse), sum(n_decisions - n_adverse),
               list(DISTINCT group_name ORDER BY group_name)
        FROM decision_counts""",
    ) == [
        (
            19_228,
            10_776,
            8_452,
            ["Experimental/Investigational", "Medical Necessity", "Urgent Care"],
        )
    ]
    source = read_source(next(folder.glob("Independent_Medical_Review_*.csv")), delimiter=";")
    cells: Counter = Counter()
    upheld: Counter = Counter()
    for r in source:
        key = (r["Diagnosis Category"].strip() or "(not recorded)", r["Type"], r["Report Year"])
        cells[key] += 1
        upheld[key] += r["Determination"] == "Upheld Decision of Health Plan"
    loaded = {
        (m, g, p): (n, a)
        for m, g, p, n, a in rows(
            db, "SELECT maker_id, group_name, period, n_decisions, n_adverse FROM decision_counts"
        )
    }
    assert loaded == {k: (cells[k], upheld[k]) for k in cells}


def test_ny_wcb_profile_maps_both_export_formats_to_cases(tmp_path):
    folder = realdata("ny_wcb_claims_fragments")
    db = tmp_path / "ny.duckdb"
    report = load([folder], db, PROFILES / "ny_wcb_claims_fragments.toml")
    files = by_name(report)
    counts = {name: (f.entity, f.read, f.loaded, f.quarantined) for name, f in files.items()}
    assert counts == {
        "ny_wcb_raw_rows_fixture.csv": ("cases", 6, 6, 0),
        "ny_wcb_socrata_top10_2016snapshot.csv": ("cases", 10, 10, 0),
    }
    assert all(n == 0 for n in report.contracts.values())
    assert rows(db, "SELECT claim_type, jurisdiction, count(*) FROM cases GROUP BY ALL") == [
        ("workers_comp", "NY", 16)
    ]
    cases = {
        r[0]: r[1:]
        for r in rows(
            db,
            """
        SELECT case_id, injury_date, body_part, insurer_id, claimant_sex, claimant_birth_year,
               represented FROM cases""",
        )
    }
    # Portal export: m/d/Y dates, with and without leading zeros; WCIO code, else OIICS code.
    sif = "STATE INSURANCE FUND"
    assert cases["976069"] == (dt.date(2010, 9, 14), "spine", sif, "M", None, False)
    assert cases["1371516"] == (dt.date(2010, 9, 15), "lower_extremity", sif, "M", 1956, True)
    assert cases["210731"][:2] == (dt.date(2003, 4, 25), "head")
    assert cases["1064168"][:3] == (
        dt.date(2003, 6, 29),
        "upper_extremity",
        "HUDSON HEALTH CARE WC GROUP",
    )
    assert cases["205783"][:2] == (dt.date(2000, 6, 12), None)
    # Socrata export: ISO datetimes; WCIO codes are "UK" (unknown) -> no body part.
    assert cases["2069421"] == (dt.date(2013, 3, 15), None, sif, "M", None, False)
    socrata = read_source(folder / "ny_wcb_socrata_top10_2016snapshot.csv")
    assert {cases[r["claim_identifier"]][1] for r in socrata} == {None}

    # The claimant id is derived from the claim and never stored raw.
    hashed = [h for (h,) in rows(db, "SELECT claimant_id FROM cases")]
    assert len(set(hashed)) == 16 and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashed)
    # Unmapped columns stay in `extra`, as written; ZIP codes cut to 3 characters.
    extra = {k: json.loads(e) for k, e in rows(db, "SELECT case_id, extra FROM cases")}
    assert extra["1371516"]["IME-4 Count"] == "43"
    assert extra["1371516"]["Average Weekly Wage"] == "1,047.69"
    assert extra["205783"]["Controverted Date"] == "10/22/2001"
    assert extra["2069421"]["ime4_count"] is None and extra["2069421"]["zip_code"] == "114"
