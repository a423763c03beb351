"""The synthetic demo-data generator (devtools.demo): format, rules, determinism, patterns."""

from __future__ import annotations

import filecmp
from pathlib import Path

import duckdb
import pytest

from devtools.demo import DemoSummary, generate

END = "2025-12-31"  # the generator's fixed reference end date

# docs/format.md: entity -> columns, in its order.
SPEC_COLUMNS = {
    "examiners": [
        "examiner_id", "examiner_name", "specialty", "credential", "license_state",
        "board_certified",
    ],
    "cases": [
        "case_id", "claimant_id", "insurer_id", "insurer_name", "claim_type", "jurisdiction",
        "injury_date", "body_part", "injury_nature", "claimant_birth_year", "claimant_sex",
        "represented",
    ],
    "exams": [
        "exam_id", "case_id", "examiner_id", "requested_by", "exam_type", "referral_date",
        "exam_date", "report_date", "causation", "mmi_status", "mmi_date", "wpi_percent",
        "guides_edition", "work_capacity", "further_treatment",
    ],
    "decisions": ["decision_id", "case_id", "exam_id", "decision_date", "benefit", "outcome"],
    "treating_ratings": ["case_id", "rater_role", "rating_date", "wpi_percent", "mmi_date"],
    "rulings": ["case_id", "exam_id", "ruling_date", "outcome"],
}
TRUTH_COLUMNS = ["examiner_id", "pattern", "measure", "effect", "change_date", "note"]
ENUMS = {
    ("examiners", "specialty"): (
        "orthopedic_surgery", "neurology", "psychiatry", "psychology", "physiatry",
        "occupational_medicine", "chiropractic", "other",
    ),
    ("examiners", "credential"): ("MD", "DO", "DC", "PhD", "PsyD", "other"),
    ("examiners", "board_certified"): ("true", "false"),
    ("cases", "claim_type"): ("workers_comp", "auto", "disability", "personal_injury", "other"),
    ("cases", "body_part"): (
        "spine", "upper_extremity", "lower_extremity", "head", "psychiatric", "multiple",
        "other",
    ),
    ("cases", "claimant_sex"): ("F", "M", "X", "U"),
    ("cases", "represented"): ("true", "false"),
    ("exams", "requested_by"): (
        "insurer", "employer", "claimant", "board", "panel", "agreed", "other",
    ),
    ("exams", "exam_type"): ("ime", "qme", "ame", "record_review", "addendum", "other"),
    ("exams", "causation"): ("related", "partially_related", "not_related", "undetermined"),
    ("exams", "mmi_status"): ("reached", "not_reached", "undetermined"),
    ("exams", "work_capacity"): ("full_duty", "restricted", "no_work", "undetermined"),
    ("exams", "further_treatment"): ("recommended", "not_recommended", "undetermined"),
    ("decisions", "benefit"): (
        "medical", "temporary_disability", "permanent_disability", "all", "other",
    ),
    ("decisions", "outcome"): ("approved", "partially_denied", "denied", "terminated", "reduced"),
    ("treating_ratings", "rater_role"): ("treating", "claimant_expert", "agreed", "other"),
    ("rulings", "outcome"): (
        "report_accepted", "report_rejected", "decision_upheld", "decision_reversed", "settled",
    ),
}

# Per entity: SQL predicates over raw text columns, TRUE for a row breaking a docs/format.md rule.
# `d(x)` is try_cast(x AS DATE): an unparseable date is a broken row too.
DATE = "try_cast({} AS DATE)"


def _d(col: str) -> str:
    """Return SQL casting a raw text column to DATE (NULL when unparseable)."""
    return DATE.format(col)


RULES = {
    "examiners": [
        "examiner_id IS NULL",
        "count(*) OVER (PARTITION BY examiner_id) > 1",
    ],
    "cases": [
        "case_id IS NULL", "claimant_id IS NULL", "insurer_id IS NULL",
        "count(*) OVER (PARTITION BY case_id) > 1",
        f"{_d('injury_date')} IS NULL", f"{_d('injury_date')} > DATE '{END}'",
        "try_cast(claimant_birth_year AS INT) NOT BETWEEN 1900 AND year(try_cast(injury_date AS"
        " DATE))",
    ],
    "exams": [
        "exam_id IS NULL", "case_id IS NULL", "examiner_id IS NULL",
        "count(*) OVER (PARTITION BY exam_id) > 1",
        "case_id NOT IN (SELECT case_id FROM cases WHERE case_id IS NOT NULL)",
        "examiner_id NOT IN (SELECT examiner_id FROM examiners WHERE examiner_id IS NOT NULL)",
        f"{_d('exam_date')} IS NULL", f"{_d('exam_date')} > DATE '{END}'",
        f"{_d('report_date')} > DATE '{END}'",
        f"{_d('referral_date')} > {_d('exam_date')}",
        f"{_d('report_date')} < {_d('exam_date')}",
        "mmi_status = 'reached' AND mmi_date IS NULL",
        f"{_d('mmi_date')} > coalesce({_d('report_date')}, {_d('exam_date')})",
        f"{_d('exam_date')} < (SELECT {_d('c.injury_date')} FROM cases c"  # noqa: S608
        " WHERE c.case_id = t.case_id)",
        f"{_d('mmi_date')} < (SELECT {_d('c.injury_date')} FROM cases c"  # noqa: S608
        " WHERE c.case_id = t.case_id)",
        "try_cast(wpi_percent AS DOUBLE) NOT BETWEEN 0 AND 100",
    ],
    "decisions": [
        "decision_id IS NULL", "case_id IS NULL",
        "count(*) OVER (PARTITION BY decision_id) > 1",
        "case_id NOT IN (SELECT case_id FROM cases WHERE case_id IS NOT NULL)",
        "exam_id IS NOT NULL AND exam_id NOT IN (SELECT exam_id FROM exams"
        " WHERE exam_id IS NOT NULL)",
        f"{_d('decision_date')} IS NULL", f"{_d('decision_date')} > DATE '{END}'",
    ],
    "treating_ratings": [
        "case_id IS NULL", "rater_role IS NULL",
        "count(*) OVER (PARTITION BY case_id, rater_role, rating_date) > 1",
        "case_id NOT IN (SELECT case_id FROM cases WHERE case_id IS NOT NULL)",
        f"{_d('rating_date')} IS NULL", f"{_d('rating_date')} > DATE '{END}'",
        "try_cast(wpi_percent AS DOUBLE) NOT BETWEEN 0 AND 100",
    ],
    "rulings": [
        "case_id IS NULL",
        "count(*) OVER (PARTITION BY case_id, exam_id, ruling_date) > 1",
        "case_id NOT IN (SELECT case_id FROM cases WHERE case_id IS NOT NULL)",
        "exam_id IS NOT NULL AND exam_id NOT IN (SELECT exam_id FROM exams"
        " WHERE exam_id IS NOT NULL)",
        f"{_d('ruling_date')} IS NULL", f"{_d('ruling_date')} > DATE '{END}'",
    ],
}


def _connect(folder: Path, fmt: str = "csv") -> duckdb.DuckDBPyConnection:
    """Return a DuckDB connection with one raw (all-text) view per generated file."""
    con = duckdb.connect()
    for name in list(SPEC_COLUMNS) + ["truth"]:
        path = folder / f"{name}.{'csv' if name == 'truth' else fmt}"
        if path.suffix == ".csv":
            source = f"read_csv('{path}', all_varchar = true, header = true)"
        else:
            source = f"read_parquet('{path}')"
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM {source}")  # noqa: S608 - test paths
    return con


def _broken_rows(con: duckdb.DuckDBPyConnection, entity: str) -> int:
    """Return how many rows of an entity break at least one rule of docs/format.md."""
    checks = list(RULES[entity])
    for (ent, col), values in ENUMS.items():
        if ent == entity:
            allowed = ", ".join(f"'{v}'" for v in values)
            checks.append(f"{col} IS NOT NULL AND {col} NOT IN ({allowed})")
    flags = ", ".join(f"coalesce({c}, false) AS r{i}" for i, c in enumerate(checks))
    any_flag = " OR ".join(f"r{i}" for i in range(len(checks)))
    sql = f"SELECT count(*) FROM (SELECT {flags} FROM {entity} t) WHERE {any_flag}"  # noqa: S608
    return con.execute(sql).fetchone()[0]


ADVERSE = (
    "(causation = 'not_related' OR further_treatment = 'not_recommended'"
    " OR (mmi_status = 'reached' AND wpi_percent = '0'))"
)


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> tuple[DemoSummary, duckdb.DuckDBPyConnection]:
    """A clean 50,000-exam data set and a connection with an analysis view `x`."""
    summary = generate(tmp_path_factory.mktemp("clean"), n_exams=50_000, seed=7, dirty_rate=0)
    con = _connect(summary.out_dir)
    con.execute(f"""
        CREATE VIEW x AS
        SELECT e.*, c.body_part, c.represented, c.jurisdiction, c.insurer_id,
               try_cast(c.injury_date AS DATE) AS injury_day,
               try_cast(e.exam_date AS DATE) AS exam_day,
               try_cast(e.mmi_date AS DATE) AS mmi_day,
               CASE WHEN year(try_cast(c.injury_date AS DATE))
                         - try_cast(c.claimant_birth_year AS INT) < 40 THEN 'young'
                    WHEN year(try_cast(c.injury_date AS DATE))
                         - try_cast(c.claimant_birth_year AS INT) < 55 THEN 'middle'
                    ELSE 'older' END AS age_band,
               er.specialty, tr.pattern, try_cast(tr.change_date AS DATE) AS change_day,
               {ADVERSE}::INT AS adverse,
               e.requested_by IN ('insurer', 'employer') AS insurer_side
        FROM exams e JOIN cases c USING (case_id) JOIN examiners er USING (examiner_id)
             JOIN truth tr USING (examiner_id)
    """)  # noqa: S608
    return summary, con


@pytest.fixture(scope="module")
def dirty(tmp_path_factory) -> tuple[DemoSummary, duckdb.DuckDBPyConnection]:
    """A 50,000-exam data set with 1% broken rows (more than the default, to count them)."""
    summary = generate(tmp_path_factory.mktemp("dirty"), n_exams=50_000, seed=3,
                       dirty_rate=0.01)
    return summary, _connect(summary.out_dir)


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None):
    """Return the single value of a query."""
    return con.execute(sql, params).fetchone()[0]


# --- format -----------------------------------------------------------------------------------


def test_summary_names_every_file_with_its_row_count(clean):
    summary, _ = clean
    assert set(summary.paths) == set(SPEC_COLUMNS) | {"truth"}
    for name, path in summary.paths.items():
        assert path.exists(), name
        lines = path.read_text().count("\n") - 1
        assert lines == summary.rows[name], name
    assert summary.rows["exams"] == 50_000
    assert summary.seconds > 0
    assert summary.dirty_rows == dict.fromkeys(SPEC_COLUMNS, 0)


@pytest.mark.parametrize("entity", list(SPEC_COLUMNS))
def test_files_have_exactly_the_spec_columns(clean, entity):
    summary, _ = clean
    header = summary.paths[entity].read_text().split("\n", 1)[0]
    assert header.split(",") == SPEC_COLUMNS[entity]


def test_truth_lists_every_examiner_exactly_once(clean):
    _, con = clean
    header = _one(con, "SELECT count(*) FROM truth")
    assert header == _one(con, "SELECT count(*) FROM examiners")
    assert _one(con, "SELECT count(DISTINCT examiner_id) FROM truth") == header
    assert con.execute("DESCRIBE truth").df()["column_name"].tolist() == TRUTH_COLUMNS
    patterns = {r[0] for r in con.execute("SELECT DISTINCT pattern FROM truth").fetchall()}
    assert patterns == {
        "fair", "excess_adverse", "allegiance", "drift", "hard_case_mix", "zero_impairment",
        "early_mmi",
    }
    # Drift examiners, and only they, carry a change date.
    assert _one(con, "SELECT bool_and((change_date IS NOT NULL) = (pattern = 'drift'))"
                     " FROM truth")


def test_planted_examiners_have_volume_to_be_detected(clean):
    _, con = clean
    smallest = _one(con, "SELECT min(n) FROM (SELECT examiner_id, count(*) n FROM x"
                         " WHERE pattern <> 'fair' GROUP BY 1)")
    assert smallest >= 60


# --- rules ------------------------------------------------------------------------------------


@pytest.mark.parametrize("entity", list(SPEC_COLUMNS))
def test_clean_data_keeps_every_rule(clean, entity):
    _, con = clean
    assert _broken_rows(con, entity) == 0


def test_clean_exams_keep_the_generator_conventions(clean):
    _, con = clean
    # mmi_date only when reached; guides_edition only when rated; dates in order.
    assert _one(con, "SELECT count(*) FROM exams WHERE mmi_status <> 'reached'"
                     " AND mmi_date IS NOT NULL") == 0
    assert _one(con, "SELECT count(*) FROM exams WHERE (wpi_percent IS NULL)"
                     " <> (guides_edition IS NULL)") == 0
    assert _one(con, "SELECT count(*) FROM x WHERE referral_date IS NOT NULL"
                     " AND try_cast(referral_date AS DATE) < injury_day") == 0
    assert _one(con, "SELECT max(report_date) <= $end FROM exams", {"end": END})


def test_broken_rows_match_the_planted_count_and_rate(dirty):
    summary, con = dirty
    for entity in SPEC_COLUMNS:
        assert _broken_rows(con, entity) == summary.dirty_rows[entity], entity
    # Planted examiners are never broken.
    assert _one(con, "SELECT count(*) FROM examiners JOIN truth USING (examiner_id)"
                     " WHERE pattern <> 'fair' AND board_certified NOT IN ('true', 'false')") == 0
    rows = sum(summary.rows[e] for e in SPEC_COLUMNS if e != "examiners")
    broken = sum(summary.dirty_rows[e] for e in SPEC_COLUMNS if e != "examiners")
    assert 0.008 < broken / rows < 0.012


def test_default_dirty_rate_breaks_about_one_row_in_a_thousand(tmp_path):
    summary = generate(tmp_path, n_exams=20_000, seed=5)
    con = _connect(tmp_path)
    broken = sum(_broken_rows(con, e) for e in SPEC_COLUMNS)
    assert broken == sum(summary.dirty_rows.values())
    rows = sum(summary.rows[e] for e in SPEC_COLUMNS)
    assert 0.0003 < broken / rows < 0.002


# --- determinism ------------------------------------------------------------------------------


def test_same_seed_gives_identical_files_and_another_seed_differs(tmp_path):
    a = generate(tmp_path / "a", n_exams=3_000, seed=11)
    b = generate(tmp_path / "b", n_exams=3_000, seed=11)
    c = generate(tmp_path / "c", n_exams=3_000, seed=12)
    for name in a.paths:
        assert filecmp.cmp(a.paths[name], b.paths[name], shallow=False), name
    assert not filecmp.cmp(a.paths["exams"], c.paths["exams"], shallow=False)
    assert not filecmp.cmp(a.paths["examiners"], c.paths["examiners"], shallow=False)


def test_parquet_holds_the_same_rows_as_csv(tmp_path):
    generate(tmp_path / "csv", n_exams=3_000, seed=4)
    p = generate(tmp_path / "pq", n_exams=3_000, seed=4, fmt="parquet")
    q = generate(tmp_path / "pq2", n_exams=3_000, seed=4, fmt="parquet")
    for name in SPEC_COLUMNS:
        assert filecmp.cmp(p.paths[name], q.paths[name], shallow=False), name
        csv_path, pq_path = str(tmp_path / "csv" / f"{name}.csv"), str(p.paths[name])
        from_csv = duckdb.execute("SELECT * FROM read_csv($p, all_varchar = true)",
                                  {"p": csv_path}).fetchall()
        from_pq = duckdb.execute("SELECT COLUMNS(*)::VARCHAR FROM read_parquet($p)",
                                 {"p": pq_path})
        assert [d[0] for d in from_pq.description] == SPEC_COLUMNS[name]
        assert from_pq.fetchall() == from_csv, name


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="fmt"):
        generate(tmp_path, n_exams=10, fmt="xlsx")
    with pytest.raises(ValueError, match="n_exams"):
        generate(tmp_path, n_exams=0)
    with pytest.raises(ValueError, match="dirty_rate"):
        generate(tmp_path, n_exams=10, dirty_rate=1.5)


def test_progress_bar_goes_to_stderr(tmp_path, capsys):
    generate(tmp_path, n_exams=1_000, progress=True)
    captured = capsys.readouterr()
    assert "exam" in captured.err
    assert captured.out == ""


# --- realism ----------------------------------------------------------------------------------


def test_volumes_are_skewed_and_insurers_concentrate_referrals(clean):
    _, con = clean
    q10, q50, q90, top = con.execute(
        "SELECT quantile_cont(n, 0.1), quantile_cont(n, 0.5), quantile_cont(n, 0.9), max(n)"
        " FROM (SELECT examiner_id, count(*) n FROM exams GROUP BY 1)").fetchone()
    assert q90 > 2.5 * q50 and top > 5 * q50 and q10 < q50 / 2
    # Some examiners get more than half of their work from one insurer.
    concentrated = _one(con, """
        SELECT count(*) FROM (
            SELECT examiner_id, max(n) / sum(n) AS top_share FROM (
                SELECT examiner_id, insurer_id, count(*) n FROM x GROUP BY 1, 2)
            GROUP BY 1 HAVING sum(n) >= 30)
        WHERE top_share > 0.5""")
    assert concentrated >= 10


def test_case_mix_follows_the_specialty(clean):
    _, con = clean
    share = dict(con.execute("""
        SELECT specialty, avg((body_part = 'psychiatric')::INT) FROM x
        WHERE exam_type <> 'addendum' GROUP BY 1""").fetchall())
    assert share["psychiatry"] > 0.8 and share["psychology"] > 0.8
    assert share["orthopedic_surgery"] < 0.1
    # Case mix also differs examiner to examiner within a specialty.
    spread = _one(con, """
        SELECT max(r) - min(r) FROM (
            SELECT examiner_id, avg((represented = 'true')::INT) r FROM x
            WHERE specialty = 'orthopedic_surgery' GROUP BY 1 HAVING count(*) >= 100)""")
    assert spread > 0.3


def test_requesters_vary_by_jurisdiction(clean):
    _, con = clean
    panel = dict(con.execute("SELECT jurisdiction, avg((requested_by = 'panel')::INT) FROM x"
                             " GROUP BY 1").fetchall())
    board = dict(con.execute("SELECT jurisdiction, avg((requested_by = 'board')::INT) FROM x"
                             " GROUP BY 1").fetchall())
    assert panel["CA"] > 0.1 > panel["NY"]
    assert board["TX"] > 0.15 > board["CA"]


def test_impairment_ratings_are_mostly_low_with_many_zeros(clean):
    _, con = clean
    zero, median, p90 = con.execute("""
        SELECT avg((w = 0)::INT), median(w), quantile_cont(w, 0.9) FROM (
            SELECT try_cast(wpi_percent AS INT) w FROM exams WHERE wpi_percent IS NOT NULL)
    """).fetchone()
    assert 0.08 < zero < 0.35 and median <= 10 and p90 < 40
    by_part = dict(con.execute("SELECT body_part, avg(try_cast(wpi_percent AS INT)) FROM x"
                               " GROUP BY 1").fetchall())
    assert by_part["multiple"] > by_part["upper_extremity"]


def test_decisions_follow_exams_and_deny_after_adverse_opinions(clean):
    _, con = clean
    within, denied_adverse, denied_other = con.execute(f"""
        SELECT avg((try_cast(d.decision_date AS DATE)
                    - try_cast(e.report_date AS DATE) BETWEEN 0 AND 90)::INT),
               avg(CASE WHEN {ADVERSE} THEN (d.outcome IN ('denied', 'terminated'))::INT END),
               avg(CASE WHEN NOT {ADVERSE} THEN (d.outcome IN ('denied', 'terminated'))::INT END)
        FROM decisions d JOIN exams e USING (exam_id)""").fetchone()  # noqa: S608
    assert within > 0.85
    assert denied_adverse > denied_other + 0.4


def test_treating_physicians_rate_higher_especially_than_biased_examiners(clean):
    _, con = clean
    gap = dict(con.execute("""
        SELECT pattern IN ('excess_adverse', 'allegiance', 'drift', 'zero_impairment'),
               avg(try_cast(x.wpi_percent AS INT) - try_cast(t.wpi_percent AS INT))
        FROM x JOIN treating_ratings t USING (case_id)
        WHERE x.wpi_percent IS NOT NULL GROUP BY 1""").fetchall())
    assert gap[False] < 0
    assert gap[True] < gap[False] - 1


def test_rulings_reject_biased_examiners_more_often(clean):
    _, con = clean
    rejected = dict(con.execute("""
        SELECT pattern IN ('excess_adverse', 'allegiance', 'drift'),
               avg((r.outcome IN ('report_rejected', 'decision_reversed'))::INT)
        FROM rulings r JOIN x USING (exam_id) GROUP BY 1""").fetchall())
    assert rejected[True] > rejected[False] + 0.05


# --- planted patterns -------------------------------------------------------------------------


def test_excess_adverse_examiners_exceed_fair_peers_of_their_specialty(clean):
    _, con = clean
    rows = con.execute("""
        WITH fair AS (SELECT specialty, avg(adverse) AS rate FROM x WHERE pattern = 'fair'
                      GROUP BY 1)
        SELECT examiner_id, avg(adverse) - any_value(fair.rate) AS excess
        FROM x JOIN fair USING (specialty) WHERE pattern = 'excess_adverse'
        GROUP BY 1""").fetchall()
    assert len(rows) >= 2
    excess = [r[1] for r in rows]
    assert sum(excess) / len(excess) > 0.12
    assert sum(e > 0.05 for e in excess) >= 0.75 * len(excess)


def test_allegiance_examiners_depend_on_who_retained_them(clean):
    _, con = clean
    gaps = dict(con.execute("""
        SELECT pattern = 'allegiance',
               avg(CASE WHEN insurer_side THEN adverse END)
               - avg(CASE WHEN NOT insurer_side THEN adverse END)
        FROM x WHERE pattern IN ('allegiance', 'fair') GROUP BY 1""").fetchall())
    assert gaps[True] > 0.15
    assert abs(gaps[False]) < 0.04
    # Each allegiance examiner has a real mix of both kinds of retention.
    least = _one(con, "SELECT min(s) FROM (SELECT examiner_id, least(avg(insurer_side::INT),"
                      " 1 - avg(insurer_side::INT)) s FROM x WHERE pattern = 'allegiance'"
                      " GROUP BY 1)")
    assert least > 0.25


def test_drift_examiners_turn_adverse_after_their_change_date(clean):
    _, con = clean
    after, before, n_before, n_after = con.execute("""
        SELECT avg(CASE WHEN exam_day >= change_day THEN adverse END),
               avg(CASE WHEN exam_day < change_day THEN adverse END),
               count(CASE WHEN exam_day < change_day THEN 1 END),
               count(CASE WHEN exam_day >= change_day THEN 1 END)
        FROM x WHERE pattern = 'drift'""").fetchone()
    assert min(n_before, n_after) > 200
    assert after > before + 0.15


def test_hard_case_mix_examiners_are_high_raw_but_explained_by_case_mix(clean):
    _, con = clean
    fair_raw = _one(con, "SELECT avg(adverse) FROM x WHERE pattern = 'fair'")
    raw, ratio = con.execute("""
        WITH strata AS (
            SELECT body_part, represented, age_band, avg(adverse) AS rate FROM x
            WHERE pattern = 'fair' GROUP BY ALL)
        SELECT avg(adverse), sum(adverse) / sum(rate)
        FROM x JOIN strata USING (body_part, represented, age_band)
        WHERE pattern = 'hard_case_mix'""").fetchone()
    assert raw > fair_raw + 0.05
    assert 0.88 < ratio < 1.12
    # The same within-stratum comparison does find the excess-adverse examiners.
    excess_ratio = _one(con, """
        WITH strata AS (
            SELECT body_part, represented, age_band, avg(adverse) AS rate FROM x
            WHERE pattern = 'fair' GROUP BY ALL)
        SELECT sum(adverse) / sum(rate)
        FROM x JOIN strata USING (body_part, represented, age_band)
        WHERE pattern = 'excess_adverse'""")
    assert excess_ratio > 1.3


def test_zero_impairment_examiners_rate_zero_far_more_often(clean):
    _, con = clean
    zero = dict(con.execute("""
        SELECT pattern, avg((wpi_percent = '0')::INT) FROM x
        WHERE wpi_percent IS NOT NULL AND pattern IN ('zero_impairment', 'fair')
        GROUP BY 1""").fetchall())
    assert zero["zero_impairment"] > 1.6 * zero["fair"]


def test_early_mmi_examiners_declare_mmi_sooner(clean):
    _, con = clean
    stats = {r[0]: r[1:] for r in con.execute("""
        SELECT pattern, avg((mmi_status = 'reached')::INT),
               median(CASE WHEN mmi_status = 'reached' THEN mmi_day - injury_day END)
        FROM x WHERE pattern IN ('early_mmi', 'fair') GROUP BY 1""").fetchall()}
    assert stats["early_mmi"][0] > stats["fair"][0] + 0.15
    assert stats["early_mmi"][1] < 0.8 * stats["fair"][1]
