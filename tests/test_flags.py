"""The examiner-comparison engine on demo data with planted patterns and on the SSA judges."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

import queries
from etl.load import load
from ime.cli import main
from ime.demo import generate
from ime.flags import (
    CASE_FEATURES,
    DETAIL_COLUMNS,
    INSURER_SIDE,
    MEASURES,
    NEUTRAL_OR_CLAIMANT_SIDE,
    OUTPUT_COLUMNS,
    FlagSettings,
    case_mix_for_view,
    compute_flags,
    drift_charts,
    drift_path,
    explain,
    fit_case_mix,
    flags_for_view,
    store_flags,
)
from ime.validation import detection_table, naive_flags, score
from imestats.casemix import fit_casemix

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"
PROFILES = Path(__file__).resolve().parents[1] / "data" / "profiles"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A 50,000-exam demo set (seed 7) loaded with its flags stored, and its truth table."""
    root = tmp_path_factory.mktemp("flags")
    generate(root / "demo", n_exams=50_000, seed=7)
    db = root / "ime.duckdb"
    load([root / "demo"], db, after_build=store_flags)
    con = queries.connect(db)
    flags = compute_flags(con)
    yield db, con, flags, pd.read_csv(root / "demo" / "truth.csv")
    con.close()


def test_every_examiner_measure_has_the_spec_columns(demo):
    _, _, flags, truth = demo
    assert list(flags.columns) == OUTPUT_COLUMNS + DETAIL_COLUMNS
    assert set(flags["measure"]) == set(MEASURES) - {"decision_counts"}
    per_measure = flags.groupby("measure")["examiner_id"].nunique()
    assert per_measure["adverse_opinion"] == len(truth)


def test_exams_scored_in_duckdb_match_the_models_own_predictions(demo):
    # Independent computation: the adverse-opinion model refitted in pandas on every
    # examiner x pattern row, its probabilities from CaseMixModel.predict (a design matrix,
    # no SQL), summed per examiner; against the joins of scored_exams_in_view.
    _, con, _, _ = demo
    case_mix = fit_case_mix(con, queries.FULL_ACCESS, queries.NO_FILTERS, FlagSettings())
    expected = queries.run(
        con,
        "examiner_expected",
        terms=case_mix.terms,
        insurer_side=list(INSURER_SIDE),
        neutral_side=list(NEUTRAL_OR_CLAIMANT_SIDE),
    )
    patterns = queries.run(con, "examiner_patterns")
    # 50,000 exams are below the sample size: the model is fitted on every exam.
    sampled = queries.run(con, "casemix_patterns", sample_size=FlagSettings().casemix_sample)
    assert sampled["n_exams"].sum() == patterns["n_exams"].sum()
    features = [*CASE_FEATURES, "specialty"]
    model = fit_casemix(
        patterns.groupby(features, dropna=False, as_index=False)[["n_exams", "n_adverse"]].sum(),
        features,
        "n_exams",
        "n_adverse",
    )
    mine = (
        patterns.assign(e=patterns["n_exams"] * model.predict(patterns))
        .groupby("examiner_id")["e"]
        .sum()
    )
    product = expected.groupby("examiner_id")["e_adverse"].sum()
    assert product.to_numpy() == pytest.approx(mine.loc[product.index].to_numpy(), rel=1e-9)


def test_cox_expectations_scored_in_duckdb_add_up_to_the_observed(demo):
    # Breslow's baseline hazard makes the expected MMI declarations of the fitting data add
    # up to the observed ones (Therneau & Grambsch 2000, martingale residuals sum to 0): with
    # every followed exam in the sample, the SQL scoring (step lookup, centring) must agree.
    _, con, _, _ = demo
    everything = FlagSettings(cox_sample=10**9)
    case_mix = fit_case_mix(con, queries.FULL_ACCESS, queries.NO_FILTERS, everything)
    mmi = queries.run(
        con, "examiner_mmi_expected", terms=case_mix.terms, hazard=case_mix.mmi_hazard
    )
    assert mmi["expected"].sum() == pytest.approx(mmi["observed"].sum(), rel=1e-9)


def test_targets_on_a_seed_the_report_does_not_use(demo):
    _, _, flags, truth = demo
    found = score(
        flags[flags["measure"] == "adverse_opinion"], truth, 7, "adverse_opinion", "product"
    )
    assert found.planted_found / found.planted >= 0.9
    assert found.hard_case_mix_flagged == 0
    for measure in set(MEASURES) - {"decision_counts"}:
        s = score(flags[flags["measure"] == measure], truth, 7, measure, "product")
        assert s.fair_flagged / s.fair < 0.05, measure


def test_the_naive_method_flags_hard_case_mix_and_more_fair_examiners(demo):
    _, con, flags, truth = demo
    patterns = queries.run(con, "examiner_patterns")
    naive = naive_flags(patterns, queries.run(con, "examiner_exam_sequence"), "adverse_opinion", 30)
    table = detection_table(
        [
            score(naive, truth, 7, "adverse_opinion", "naive"),
            score(
                flags[flags["measure"] == "adverse_opinion"], truth, 7, "adverse_opinion", "product"
            ),
        ]
    ).set_index("method")
    assert (
        table.loc["naive", "hard_case_mix_flagged"] > table.loc["product", "hard_case_mix_flagged"]
    )
    assert table.loc["naive", "fair_flagged"] > table.loc["product", "fair_flagged"]


def test_below_minimum_volume_is_shown_but_never_flagged(demo):
    _, _, flags, _ = demo
    small = flags[flags["n"] < 30]
    assert not small.empty
    assert not small["eligible"].any() and not small["flagged"].any()
    assert small["q_value"].isna().all()


def test_flags_need_q_below_threshold_and_an_excess(demo):
    _, _, flags, _ = demo
    rated = flags[flags["measure"] != "drift"]
    flagged = rated[rated["flagged"]]
    assert (flagged["q_value"] <= 0.05).all() and (flagged["ratio"] > 1).all()


def test_stored_flags_match_a_fresh_computation(demo):
    _, con, flags, _ = demo
    stored = flags_for_view(con).sort_values(["measure", "examiner_id"], ignore_index=True)
    fresh = flags.sort_values(["measure", "examiner_id"], ignore_index=True)
    pd.testing.assert_frame_equal(stored, fresh, check_dtype=False, atol=1e-9)


def test_the_default_view_reuses_the_models_stored_at_load(demo):
    _, con, _, _ = demo
    stored = case_mix_for_view(con)
    fitted = fit_case_mix(con, queries.FULL_ACCESS, queries.NO_FILTERS, FlagSettings())
    by_level = ["feature", "level"]
    pd.testing.assert_frame_equal(
        pd.DataFrame(stored.terms).sort_values(by_level, ignore_index=True),
        pd.DataFrame(fitted.terms).sort_values(by_level, ignore_index=True),
    )
    assert stored.mmi_hazard == fitted.mmi_hazard and len(stored.mmi_hazard) > 100


def test_an_insurer_scope_sees_fewer_exams(demo):
    _, con, flags, _ = demo
    insurer = con.execute(
        "SELECT insurer_id FROM fct_exams GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    ).fetchall()[0][0]
    scoped = flags_for_view(con, queries.Scope("insurer", (insurer,)))
    n_scoped = scoped.loc[scoped["measure"] == "adverse_opinion", "n"].sum()
    expected = con.execute(
        "SELECT count(*) FROM fct_exams WHERE insurer_id = $i", {"i": insurer}
    ).fetchall()[0][0]
    assert n_scoped == expected
    assert n_scoped < flags.loc[flags["measure"] == "adverse_opinion", "n"].sum()


def test_drift_path_crosses_the_threshold_for_a_signalling_examiner(demo):
    _, con, flags, _ = demo
    row = flags[(flags["measure"] == "drift") & flags["flagged"]].iloc[0]
    threshold = row["cusum_threshold"]
    assert threshold == pytest.approx(row["z"] / row["z_adjusted"])
    terms = case_mix_for_view(con).terms
    risks = queries.run_exams(
        con, "examiner_adverse_risks", terms=terms, examiner_id=row["examiner_id"]
    )
    (chart,) = drift_charts(risks, FlagSettings())
    path = drift_path(chart, threshold)
    assert path["signal"].any()
    assert path["cusum"].max() == pytest.approx(row["z"])


def test_explain_a_drift_chart_that_never_rose_above_zero():
    row = dict.fromkeys(OUTPUT_COLUMNS + DETAIL_COLUMNS, 1.0)
    row.update(examiner_id="EX1", measure="drift", z=0.0, z_adjusted=0.0, eligible=True)
    row.update(flagged=False, peer_group="the examiner's own first exams", cusum_threshold=4.5)
    text = explain(pd.DataFrame([row]), "EX1")
    assert "The CUSUM reached 0.00 and did not cross the panel threshold 4.50." in text


def test_explain_names_every_measure_and_the_verdict(demo):
    _, _, flags, _ = demo
    examiner = flags.loc[flags["flagged"], "examiner_id"].iloc[0]
    text = explain(flags, examiner)
    assert "FLAGGED" in text and "reason to look, not a verdict" in text
    for measure in flags.loc[flags["examiner_id"] == examiner, "measure"]:
        assert f"{measure}:" in text


def test_cli_flags_writes_the_spec_header(demo, capsys):
    db, _, _, _ = demo
    assert main(["flags", "--db", str(db), "--measure", "adverse_opinion"]) == 0
    out = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(out.columns[:11]) == OUTPUT_COLUMNS
    assert set(out["measure"]) == {"adverse_opinion"}


@pytest.mark.skipif(
    not (REALDATA / "ssa_alj_dispositions").is_dir(), reason="shared/realdata is absent"
)
def test_ssa_judges_overdispersion_cuts_the_naive_flags(tmp_path):
    db = tmp_path / "ssa.duckdb"
    load([REALDATA / "ssa_alj_dispositions"], db, PROFILES / "ssa_alj_dispositions.toml")
    con = queries.connect(db)
    flags = compute_flags(con, measures=("decision_counts",))
    units = queries.run(con, "decision_counts_units")
    # 1,439 judge-office rows in alj-disposition-by-judge-LATEST.csv; 30 have no decisions.
    assert len(units) == 1439 and len(flags) == 1409
    # The national denial rate, 137,579 / 329,700 (the CSV's own columns summed).
    assert flags["peer_rate"].iloc[0] == pytest.approx(137_579 / 329_700)
    from scipy import stats

    n, r = units["n_decisions"].astype(float), units["n_adverse"].astype(float)
    naive = ((stats.binom.sf(r - 1, n, r.sum() / n.sum()) < 0.05) & (n >= 30)).sum()
    assert flags["flagged"].sum() < naive / 5
