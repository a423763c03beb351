"""The examiner-comparison engine on demo data with planted patterns and on the SSA judges."""

from __future__ import annotations

import datetime as dt
import io
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from expected_flags import adverse_opinion_flags

import queries
from devtools.demo import generate
from devtools.validation import detection_table, score, textbook_flags
from etl.load import load
from ime.cli import main
from imestats.casemix import fit_casemix
from measures import casemix, drift
from measures.base import FLAG_COLUMNS, OUTPUT_COLUMNS, FlagSettings, View
from measures.casemix import CASE_FEATURES, store_models
from measures.engine import compute_flags, explain, flags_for_view
from measures.precompute import after_load
from measures.registry import EXAMINER_MEASURES

REALDATA = Path(__file__).resolve().parents[1] / "data" / "public"
PROFILES = Path(__file__).resolve().parents[1] / "data" / "profiles"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A 50,000-exam demo set (seed 7) loaded with its flags stored, and its truth table."""
    root = tmp_path_factory.mktemp("flags")
    generate(root / "demo", n_exams=50_000, seed=7)
    db = root / "ime.duckdb"
    load([root / "demo"], db, after_build=after_load)
    con = queries.connect(db)
    flags = compute_flags(con)
    yield db, con, flags, pd.read_csv(root / "demo" / "truth.csv")
    con.close()


def test_every_examiner_measure_has_the_spec_columns(demo):
    _, _, flags, truth = demo
    assert list(flags.columns) == FLAG_COLUMNS
    assert set(flags["measure"]) == set(EXAMINER_MEASURES)
    per_measure = flags.groupby("measure")["examiner_id"].nunique()
    assert per_measure["adverse_opinion"] == len(truth)


def test_exams_scored_in_duckdb_match_the_models_own_predictions(demo):
    # Independent computation: the adverse-opinion model refitted in pandas on every
    # examiner x pattern row, its probabilities from CaseMixModel.predict (a design matrix,
    # no SQL), summed per examiner; against the expectations stored per exam at load.
    _, con, _, _ = demo
    patterns = queries.run(con, "examiner_patterns")
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
    stored = con.execute(
        "SELECT examiner_id, sum(expected_adverse_opinion) AS e FROM fct_exams "
        "GROUP BY examiner_id ORDER BY examiner_id"
    ).df().set_index("examiner_id")["e"]
    assert stored.to_numpy() == pytest.approx(mine.loc[stored.index].to_numpy(), rel=1e-9)


def test_early_mmi_expectations_add_up_to_the_observed_in_every_band(demo, tmp_path):
    # A logistic model fitted by maximum likelihood solves its score equations: for the
    # intercept and for every indicator column, the fitted probabilities add up to the observed
    # events (McCullagh & Nelder 1989, section 4.4.5). With every exam in the fitting sample,
    # the expected MMI findings stored per exam must add up to the observed ones overall and
    # in each model level of time since injury (bands the fit pooled, such as one without any
    # finding, share one term and count as one level): the SQL scoring, its joins and the
    # band's edges agree with the fit.
    db, _, _, _ = demo
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(db.read_bytes())
    con = duckdb.connect(str(copy))
    try:
        # Refitted on every exam (the load fitted them on its default sample).
        store_models(con, FlagSettings(casemix_sample=10**9), refit=True)
        levels = con.execute(
            "SELECT t.early_mmi AS term, sum(x.expected_early_mmi), "
            "count(*) FILTER (x.mmi_reached), count(DISTINCT x.injury_to_exam_band) "
            "FROM fct_exams AS x JOIN casemix_terms AS t "
            "ON t.feature = 'injury_to_exam_band' AND t.level = x.injury_to_exam_band "
            "WHERE x.mmi_reached IS NOT NULL GROUP BY 1 ORDER BY 1"
        ).fetchall()
    finally:
        con.close()
    assert len(levels) >= 10
    assert sum(bands for *_, bands in levels) == 14
    for term, expected, observed, _ in levels:
        assert expected == pytest.approx(observed, rel=1e-6), term


def test_targets_on_a_seed_the_report_does_not_use(demo):
    _, _, flags, truth = demo
    found = score(
        flags[flags["measure"] == "adverse_opinion"], truth, 7, "adverse_opinion", "product"
    )
    assert found.planted_found / found.planted >= 0.9
    assert found.hard_case_mix_flagged == 0
    for measure in EXAMINER_MEASURES:
        s = score(flags[flags["measure"] == measure], truth, 7, measure, "product")
        assert s.fair_flagged / s.fair < 0.05, measure


def test_the_textbook_test_flags_hard_case_mix_and_more_fair_examiners(demo):
    # The textbook test (raw rate against same-specialty peers, exact binomial, BH) knows no
    # case mix: it flags examiners whose hard cases alone make their raw rate high.
    _, con, flags, truth = demo
    textbook = textbook_flags(con, flags)
    table = detection_table(
        [
            score(
                textbook[textbook["measure"] == "adverse_opinion"],
                truth,
                7,
                "adverse_opinion",
                "textbook",
            ),
            score(
                flags[flags["measure"] == "adverse_opinion"], truth, 7, "adverse_opinion", "product"
            ),
        ]
    ).set_index("method")
    assert (
        table.loc["textbook", "hard_case_mix_flagged"]
        > table.loc["product", "hard_case_mix_flagged"]
    )
    assert table.loc["textbook", "fair_flagged"] > table.loc["product", "fair_flagged"]


def test_below_minimum_volume_is_shown_but_never_flagged(demo):
    _, _, flags, _ = demo
    small = flags[flags["n"] < 30]
    assert not small.empty
    assert not small["eligible"].any() and not small["flagged"].any()
    assert small["q_value"].isna().all()


def test_flags_need_q_below_threshold_and_a_ratio_on_their_side(demo):
    _, _, flags, _ = demo
    rated = flags[flags["measure"] != "drift"]
    flagged = rated[rated["flagged"]]
    assert (flagged["q_value"] <= 0.05).all()
    high, low = flagged[flagged["direction"] == "high"], flagged[flagged["direction"] == "low"]
    assert len(high) + len(low) == len(flagged)
    assert (high["ratio"] > 1).all() and (low["ratio"] < 1).all()


def test_stored_flags_match_a_fresh_computation(demo):
    _, con, flags, _ = demo
    stored = flags_for_view(con).sort_values(["measure", "examiner_id"], ignore_index=True)
    fresh = flags.sort_values(["measure", "examiner_id"], ignore_index=True)
    pd.testing.assert_frame_equal(stored, fresh, check_dtype=False, atol=1e-9)


def test_a_filtered_view_sums_the_stored_expectations_without_refitting(demo, monkeypatch):
    # The filtered view's O and E per examiner, summed by hand from fct_exams; and the models
    # are never fitted for it (fit_models wrapped with a counter).
    _, con, _, _ = demo
    fits = []
    fit = casemix.fit_models
    monkeypatch.setattr(casemix, "fit_models", lambda *a, **k: fits.append(1) or fit(*a, **k))
    filtered = compute_flags(con, filters=queries.Filters(jurisdiction=("CA",)))
    assert fits == []
    by_hand = con.execute(
        "SELECT examiner_id, count(*) FILTER (is_adverse) AS o, sum(expected_adverse_opinion) AS e "
        "FROM fct_exams WHERE jurisdiction = 'CA' GROUP BY examiner_id ORDER BY examiner_id"
    ).df()
    mine = filtered[filtered["measure"] == "adverse_opinion"].set_index("examiner_id")
    assert mine["observed"].to_numpy() == pytest.approx(by_hand["o"].to_numpy())
    assert mine["expected"].to_numpy() == pytest.approx(by_hand["e"].to_numpy(), rel=1e-12)


def test_a_filtered_view_reuses_the_drift_threshold_simulated_at_load(demo, monkeypatch):
    # The simulation (threshold_for_batched_panel, wrapped with a counter) runs at load only;
    # a filtered view's charts are judged against the stored panel threshold.
    _, con, flags, _ = demo
    simulated = []
    simulate = drift.threshold_for_batched_panel
    monkeypatch.setattr(
        drift,
        "threshold_for_batched_panel",
        lambda *a, **k: simulated.append(1) or simulate(*a, **k),
    )
    california = queries.Filters(jurisdiction=("CA",))
    filtered = compute_flags(con, filters=california, measures=("drift",))
    stored = flags.loc[flags["measure"] == "drift", "cusum_threshold"].iloc[0]
    assert simulated == []
    assert (filtered["cusum_threshold"] == stored).all() and len(filtered) > 0


def test_adverse_opinion_flags_match_a_second_implementation_from_fct_exams(demo):
    # tau2, z_adjusted, q-values and flags recomputed from fct_exams (tests/expected_flags.py).
    _, con, flags, _ = demo
    by_hand = adverse_opinion_flags(con)
    mine = flags[flags["measure"] == "adverse_opinion"].set_index("examiner_id")
    mine = mine.loc[by_hand["examiner_id"]]
    assert by_hand["tau2"].iloc[0] > 0
    assert mine["tau2"].to_numpy() == pytest.approx(by_hand["tau2"].to_numpy(), rel=1e-9)
    assert mine["z_adjusted"].to_numpy() == pytest.approx(by_hand["z_adjusted"], rel=1e-9)
    assert mine["q_value"].to_numpy() == pytest.approx(by_hand["q_value"], rel=1e-9, nan_ok=True)
    assert mine["flagged"].tolist() == by_hand["flagged"].tolist()
    assert by_hand["flagged"].sum() > 0


def test_allegiance_odds_ratio_and_test_match_statsmodels_on_one_examiner(demo):
    # statsmodels' GLM (binomial) on the examiner's own exams (addenda left out), one row per
    # exam, built here from fct_exams: the side term with the stored case-mix log odds as offset gives the odds
    # ratio and its Wald interval, and the fit without it the score test (the engine sums
    # exams of like risk into rows, so the figures agree to the rounding of that step).
    import statsmodels.api as sm
    from scipy import stats

    _, con, flags, truth = demo
    examiner = truth.loc[truth["pattern"] == "allegiance", "examiner_id"].iloc[0]
    exams = con.execute(
        "SELECT CAST(is_adverse AS DOUBLE) AS y, "
        "CAST(retained_by = 'insurer_or_employer' AS DOUBLE) AS insurer, "
        "allegiance_risk_logit AS offset FROM fct_exams WHERE examiner_id = $e "
        "AND retained_by <> 'other' AND exam_type <> 'addendum' AND is_adverse IS NOT NULL",
        {"e": examiner},
    ).df()
    binomial = sm.families.Binomial()
    fit = sm.GLM(exams["y"], sm.add_constant(exams["insurer"]), family=binomial,
                 offset=exams["offset"]).fit()
    null = sm.GLM(exams["y"], np.ones((len(exams), 1)), family=binomial,
                  offset=exams["offset"]).fit()
    score = float(null.score_test(exog_extra=exams[["insurer"]].to_numpy()).statistic[0])
    row = flags[(flags["measure"] == "allegiance") & (flags["examiner_id"] == examiner)].iloc[0]
    low, high = np.exp(fit.conf_int().loc["insurer"])
    assert row["ratio"] == pytest.approx(np.exp(fit.params["insurer"]), rel=1e-3)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high), rel=1e-3)
    # The score statistic is U^2 / V, U the insurer side's adverse opinions less those the fit
    # without the side term expects of them; the one-sided p-value is the upper tail of
    # (U - 1/2) / sqrt(V), the continuity-corrected signed root.
    u = float((exams["y"] - null.mu)[exams["insurer"] == 1].sum())
    z = (u - 0.5) / np.sqrt(u**2 / score)
    assert row["observed"] - row["expected"] == pytest.approx(u, rel=1e-2)
    assert row["p_value"] == pytest.approx(stats.norm.sf(z), rel=1e-2)


def test_allegiance_finds_planted_examiners_at_least_as_often_as_fisher(demo):
    # The textbook test: a one-sided Fisher exact test of each examiner's 2x2 table (side x
    # adverse), Benjamini-Hochberg across examiners with the minimum volume on both sides.
    from scipy import stats

    _, con, flags, truth = demo
    sides = con.execute(
        "SELECT examiner_id, "
        "count(*) FILTER (retained_by = 'insurer_or_employer' AND is_adverse) AS a, "
        "count(*) FILTER (retained_by = 'insurer_or_employer' AND NOT is_adverse) AS b, "
        "count(*) FILTER (retained_by = 'claimant_or_neutral' AND is_adverse) AS c, "
        "count(*) FILTER (retained_by = 'claimant_or_neutral' AND NOT is_adverse) AS d "
        "FROM fct_exams GROUP BY 1 ORDER BY 1"
    ).df()
    sides = sides[((sides["a"] + sides["b"]) >= 30) & ((sides["c"] + sides["d"]) >= 30)]
    p = [
        stats.fisher_exact([[r.a, r.b], [r.c, r.d]], alternative="greater")[1]
        for r in sides.itertuples()
    ]
    fisher = set(sides["examiner_id"][stats.false_discovery_control(p) <= 0.05])
    # Fisher's test is one-sided: the product's high side is its like.
    high = (flags["measure"] == "allegiance") & flags["flagged"] & (flags["direction"] == "high")
    ours = set(flags.loc[high, "examiner_id"])
    planted = set(truth.loc[truth["pattern"] == "allegiance", "examiner_id"])
    assert len(ours & planted) >= len(fisher & planted)
    assert len(ours - planted) <= len(fisher - planted)


def test_rulings_count_exams_a_ruling_names_against_same_specialty_peers(demo):
    # Observed and trials per examiner counted here from the raw rulings table.
    _, con, flags, _ = demo
    by_hand = con.execute(
        "WITH ruled AS (SELECT exam_id, bool_or(outcome IN ('report_rejected', "
        "'decision_reversed')) AS against FROM rulings WHERE exam_id IS NOT NULL GROUP BY 1) "
        "SELECT e.examiner_id, count(*) AS n, count(*) FILTER (against) AS o "
        "FROM exams AS e JOIN ruled USING (exam_id) GROUP BY 1 ORDER BY 1"
    ).df().set_index("examiner_id")
    mine = flags[flags["measure"] == "rulings"].set_index("examiner_id")
    assert mine["n"].to_numpy() == pytest.approx(by_hand.loc[mine.index, "n"].to_numpy())
    assert mine["observed"].to_numpy() == pytest.approx(by_hand.loc[mine.index, "o"].to_numpy())
    assert mine["expected"].sum() == pytest.approx(mine["observed"].sum(), rel=0.02)


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
    view = View(con, queries.FULL_ACCESS, queries.NO_FILTERS)
    (chart,) = drift.drift_charts(view, FlagSettings(), row["examiner_id"])
    path = drift.drift_path(chart, row["cusum_threshold"])
    assert path["signal"].any()
    assert path["cusum"].max() == pytest.approx(row["z"])
    assert path["cusum"].max() >= row["cusum_threshold"]


def test_drift_batches_of_a_filtered_view_are_those_of_its_exams_read_by_hand(demo):
    # The view's exams, read here with the filter written by hand (tests/test_drift_sql.py
    # checks the batches themselves against a recursion one exam at a time).
    _, con, _, _ = demo
    california = queries.Filters(jurisdiction=("CA",))
    exams = con.execute(
        "SELECT examiner_id, exam_date, is_adverse, "
        "ln(expected_adverse_opinion / (1 - expected_adverse_opinion)) AS eta_adverse "
        "FROM fct_exams WHERE jurisdiction = 'CA' AND is_adverse IS NOT NULL "
        "AND expected_adverse_opinion > 0 AND expected_adverse_opinion < 1 "
        "ORDER BY examiner_id, exam_date, exam_id"
    ).df()
    by_hand = drift.batches_from_exams(exams, FlagSettings())
    in_view = drift.drift_batches(View(con, queries.FULL_ACCESS, california), FlagSettings())
    assert in_view["examiner_id"].nunique() > 10 and len(in_view) == len(by_hand)
    exact = ["examiner_id", "n_exams", "baseline_end_date", "batch_end_date", "trials", "adverse"]
    pd.testing.assert_frame_equal(in_view[exact], by_hand[exact], check_dtype=False)
    for column in ("risk_sum", "log_terms", "cusum"):
        assert in_view[column].to_numpy() == pytest.approx(by_hand[column].to_numpy(), abs=1e-8)


def test_a_filtered_views_flags_are_those_of_a_database_holding_only_its_exams(demo, tmp_path):
    # The view filtered by the engine against a copy of the database from which the exams
    # outside it were deleted here, by hand; the copy is read through a date window that
    # keeps every exam, so that its flags are computed as a filtered view's too (the drift
    # threshold stored at load, no simulation) and differ from the view's only if the
    # engine's filtering does.
    db, con, _, _ = demo
    view = queries.Filters(jurisdiction=("CA", "NY"), start=dt.date(2021, 1, 1))
    filtered = compute_flags(con, filters=view)
    copy = tmp_path / "only-the-view.duckdb"
    shutil.copyfile(db, copy)
    with duckdb.connect(str(copy)) as writer:
        writer.execute(
            "DELETE FROM fct_exams "
            "WHERE NOT (jurisdiction IN ('CA', 'NY') AND exam_date >= DATE '2021-01-01')"
        )
    only_the_view = queries.connect(copy)
    try:
        kept = only_the_view.execute("SELECT count(*) FROM fct_exams").fetchall()[0][0]
        by_hand = compute_flags(only_the_view, filters=queries.Filters(start=dt.date(1900, 1, 1)))
    finally:
        only_the_view.close()
    assert 0 < kept < con.execute("SELECT count(*) FROM fct_exams").fetchall()[0][0]
    assert set(filtered["measure"]) == set(EXAMINER_MEASURES)
    assert filtered["flagged"].sum() > 0
    # The shrunken ratio is an optimiser's output: scipy's bounded search stops once log alpha
    # is within sqrt(machine epsilon) * |log alpha| + xatol / 3, about 1.5e-8 relative, not
    # xatol's 1e-9. DuckDB sums each examiner's expectations in an order that varies from run
    # to run, and a difference in the last bit of those sums moved it by 3e-8 once.
    exact = [c for c in filtered.columns if c != "shrunken_ratio"]
    pd.testing.assert_frame_equal(
        filtered[exact], by_hand[exact], check_exact=False, rtol=1e-9, atol=1e-12
    )
    assert filtered["shrunken_ratio"].to_numpy() == pytest.approx(
        by_hand["shrunken_ratio"].to_numpy(), rel=1e-6, nan_ok=True
    )


def test_explain_a_drift_chart_that_never_rose_above_zero():
    row = dict.fromkeys(FLAG_COLUMNS, 1.0)
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


def test_allegiance_is_explained_as_an_odds_ratio_without_a_shrunken_observed_over_expected(demo):
    # The empirical Bayes shrinkage pulls an observed/expected ratio towards 1; beside an odds
    # ratio it drew a diamond at 1.00 for every examiner.
    _, _, flags, _ = demo
    allegiance = flags[flags["measure"] == "allegiance"]
    assert allegiance["shrunken_ratio"].isna().all()
    assert flags.loc[flags["measure"] == "adverse_opinion", "shrunken_ratio"].notna().any()
    row = allegiance.dropna(subset=["ratio"]).iloc[0]
    text = explain(flags, row["examiner_id"])
    assert (f"odds ratio {row['ratio']:.2f} (95% interval {row['ci_low']:.2f} to "
            f"{row['ci_high']:.2f})." in text)
    assert "shrunken odds ratio" not in text and "shrunken O/E" in text


def test_cli_flags_writes_the_spec_header(demo, capsys):
    db, _, _, _ = demo
    assert main(["flags", "--db", str(db), "--measure", "adverse_opinion"]) == 0
    out = pd.read_csv(io.StringIO(capsys.readouterr().out))
    # SPEC section 4, `ime flags`, word for word.
    spec = (
        "examiner_id, measure, n, observed, expected, ratio, ci_low, ci_high, p_value, q_value, "
        "flagged, direction"
    )
    assert list(out.columns[:12]) == OUTPUT_COLUMNS == spec.split(", ")
    assert set(out["direction"]) <= {"high", "low"}
    assert set(out["measure"]) == {"adverse_opinion"}


def _cli_flags(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["flags", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _adverse_by_hand(con, where: str, params: dict) -> pd.DataFrame:
    """Exams and adverse opinions per examiner of a view, counted here from fct_exams."""
    return con.execute(
        "SELECT examiner_id, count(is_adverse) AS n, count(*) FILTER (is_adverse) AS observed "
        f"FROM fct_exams WHERE examiner_id IS NOT NULL AND {where} "
        "GROUP BY examiner_id HAVING count(is_adverse) > 0 ORDER BY examiner_id",
        params,
    ).df()


def test_cli_flags_of_a_filtered_period_count_that_view(demo, capsys):
    db, con, _, _ = demo
    code, out, _ = _cli_flags(
        capsys, "--db", str(db), "--measure", "adverse_opinion", "--start", "2022-01-01",
        "--end", "2022-12-31", "--filter", "jurisdiction=CA", "--filter", "jurisdiction=NY",
    )
    assert code == 0
    table = pd.read_csv(io.StringIO(out)).sort_values("examiner_id", ignore_index=True)
    by_hand = _adverse_by_hand(
        con, "jurisdiction IN ('CA', 'NY') AND exam_date BETWEEN $start AND $end",
        {"start": "2022-01-01", "end": "2022-12-31"},
    )
    assert len(by_hand) > 0
    assert table["examiner_id"].tolist() == by_hand["examiner_id"].tolist()
    assert table["n"].tolist() == by_hand["n"].tolist()
    assert table["observed"].tolist() == by_hand["observed"].tolist()


def test_cli_flags_of_an_insurer_count_its_own_cases_only(demo, capsys):
    db, con, _, _ = demo
    insurer = con.execute(
        "SELECT insurer_id FROM fct_exams GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
    ).fetchall()[0][0]
    code, out, _ = _cli_flags(capsys, "--db", str(db), "--measure", "adverse_opinion",
                              "--role", "insurer", "--insurer", insurer)
    assert code == 0
    table = pd.read_csv(io.StringIO(out)).sort_values("examiner_id", ignore_index=True)
    by_hand = _adverse_by_hand(con, "insurer_id = $insurer", {"insurer": insurer})
    assert table["n"].tolist() == by_hand["n"].tolist()


@pytest.mark.parametrize(
    "args, says",
    [
        (["--insurer", "INS1"], "--insurer applies to --role insurer only"),
        (["--role", "insurer"], "needs at least one --insurer"),
        (["--role", "insurer", "--insurer", "NO-SUCH-INSURER"], "no cases of insurer"),
        (["--role", "researcher"], "a researcher sees no examiner's flags"),
        (["--filter", "colour=red"], "use COLUMN=VALUE"),
    ],
    ids=["insurer-without-role", "insurer-role-without-id", "unknown-insurer", "researcher",
         "unknown-filter-column"],
)
def test_cli_flags_refuses_a_view_it_cannot_give(demo, capsys, args, says):
    db, _, _, _ = demo
    code, out, err = _cli_flags(capsys, "--db", str(db), *args)
    assert (code, out) == (2, "")
    assert err.startswith("ime flags: ") and says in err


def test_cli_flags_explain_writes_the_reasoning_to_out(demo, capsys, tmp_path):
    db, _, flags, _ = demo
    examiner = flags.loc[flags["flagged"], "examiner_id"].iloc[0]
    out = tmp_path / "why.txt"
    code, stdout, err = _cli_flags(capsys, "--db", str(db), "--explain", examiner,
                                   "--out", str(out))
    assert (code, stdout) == (0, "") and str(out) in err
    text = out.read_text(encoding="utf-8")
    assert text.startswith(f"Examiner {examiner}\n")
    mine = flags[flags["examiner_id"] == examiner]
    assert text.count("FLAGGED") == int(mine["flagged"].sum()) > 0
    assert text.count("not flagged") == int((~mine["flagged"]).sum())


@pytest.mark.parametrize(
    "command",
    [["flags", "--explain", "NO-SUCH-EXAMINER"], ["report", "examiner", "NO-SUCH-EXAMINER"]],
    ids=["flags-explain", "report-examiner"],
)
def test_cli_an_unknown_examiner_exits_2_and_says_so_on_stderr(demo, capsys, tmp_path, command):
    db, _, _, _ = demo
    code = main([*command, "--db", str(db), "--out", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert (code, captured.out) == (2, "")
    assert "examiner 'NO-SUCH-EXAMINER'" in captured.err and "check the id" in captured.err
    assert not (tmp_path / "out").exists()


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
