"""The examiner pages' glue and charts on small synthetic tables (no database)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from dashboard import charts, examiner_figures
from imestats.funnel import score_units
from measures.engine import funnel_dispersion


def _scored_units(seed: int = 7, n_units: int = 40) -> tuple[pd.DataFrame, float, np.ndarray]:
    """Over-dispersed binomial units scored as the flags engine scores them."""
    rng = np.random.default_rng(seed)
    n = rng.integers(20, 600, n_units)
    p = np.clip(0.3 * rng.lognormal(0, 0.3, n_units), 0.01, 0.95)
    observed = rng.binomial(n, p).astype(float)
    expected = n * 0.3
    variance = expected * 0.7
    scores = score_units(observed, expected, variance, "tau2")
    rows = pd.DataFrame(
        {
            "examiner_id": [f"U{i:02d}" for i in range(n_units)],
            "n": n,
            "observed": observed,
            "expected": expected,
            "ratio": scores.units["ratio"],
            "z": scores.units["z"],
            "z_adjusted": scores.units["z_adjusted"],
            "variance": variance,
            "tau2": scores.tau2,
        }
    )
    return rows, scores.tau2, variance / expected


def test_funnel_dispersion_is_the_stored_tau2_and_the_binomial_variance_scale():
    # The units' V / E is 0.7 by construction (binomial variance at a 30% rate).
    rows, tau2, _ = _scored_units()
    assert tau2 > 0, "the synthetic units must be over-dispersed for this test to mean much"
    got_tau2, got_scale = funnel_dispersion(rows)
    assert got_tau2 == tau2
    assert got_scale == pytest.approx(0.7, rel=1e-12)


def test_without_a_stored_tau2_the_funnel_allows_no_over_dispersion():
    rows, _, _ = _scored_units()
    assert funnel_dispersion(rows.assign(tau2=np.nan)) == (0.0, 1.0)


def test_funnel_limits_against_scipy():
    rows, tau2, scale = _scored_units()
    limits = examiner_figures.funnel_geometry(rows).limits
    for level in examiner_figures.LEVELS:
        tail = (1 - level) / 2
        exact = limits[(limits["kind"] == "exact") & (limits["level"] == level)]
        e = exact["expected"].to_numpy()
        # Exact Poisson limits for O/E (Spiegelhalter 2005): chi-square quantiles over 2E.
        np.testing.assert_allclose(exact["upper"], stats.chi2.isf(tail, 2 * (e + 1)) / (2 * e))
        np.testing.assert_allclose(exact["lower"], stats.chi2.ppf(tail, 2 * e) / (2 * e))
        adj = limits[(limits["kind"] == "tau2") & (limits["level"] == level)]
        e = adj["expected"].to_numpy()
        half = stats.norm.isf(tail) * np.sqrt(np.median(scale) / e + tau2)
        np.testing.assert_allclose(adj["upper"], 1 + half)
        np.testing.assert_allclose(adj["lower"], np.clip(1 - half, 0, None))


def test_binomial_limits_are_on_the_ratio_scale():
    rows, _, _ = _scored_units()
    theta0 = 0.3
    limits = examiner_figures.funnel_geometry(rows, null="binomial", theta0=theta0).limits
    exact = limits[(limits["kind"] == "exact") & (limits["level"] == 0.998)]
    n = np.round(exact["expected"].to_numpy() / theta0)
    # At whole n the interpolated exact limit (Spiegelhalter 2005, A.1.1) lies between the
    # binomial quantile and the count below it, over n, divided by the target rate.
    r_p = stats.binom.ppf(0.999, n, theta0)
    upper = exact["upper"].to_numpy() * theta0 * n
    assert np.all((upper <= r_p + 1e-9) & (upper >= r_p - 1 - 1e-9))


def test_funnel_labels_flagged_units_and_marks_small_ones():
    rows, _, _ = _scored_units()
    rows = rows.assign(
        ci_low=0.5, ci_high=1.5, shrunken_ratio=1.0, raw_rate=0.3, peer_rate=0.3,
        q_value=np.linspace(0.001, 0.9, len(rows)),
        flagged=[i < 3 for i in range(len(rows))],
        eligible=rows["n"] >= 30,
    )
    rows.loc[5, ["n", "eligible"]] = [12, False]
    fig = charts.funnel(rows, examiner_figures.funnel_geometry(rows).limits, max_labels=2)
    traces = {t.name.split(" (")[0]: t for t in fig.data if t.mode != "lines"}
    flagged = traces["flagged"]
    text = dict(zip(flagged.customdata, flagged.text, strict=True))
    assert text == {"U00": "U00", "U01": "U01", "U02": ""}  # the 2 smallest q labelled
    assert "U05" in list(traces["below minimum volume"].customdata)
    assert "U05" not in list(traces["not flagged"].customdata)
    small = traces["below minimum volume"]
    hover = dict(zip(small.customdata, small.hovertext, strict=True))
    assert "12 exams" in hover["U05"]
    limit_names = {t.name for t in fig.data if t.mode == "lines"}
    assert len(limit_names) == 4  # 95% and 99.8%, exact and over-dispersed


def test_forest_draws_interval_and_shrunken_estimate():
    rows = pd.DataFrame(
        {
            "label": ["A", "B"], "ratio": [1.5, 0.8], "ci_low": [1.1, 0.5], "ci_high": [2.0, 1.2],
            "shrunken_ratio": [1.3, 0.9], "flagged": [True, False], "eligible": [True, True],
            "n": [200, 80], "observed": [60.0, 16.0], "expected": [40.0, 20.0],
            "q_value": [0.01, 0.7], "raw_rate": [0.3, 0.2], "peer_rate": [0.2, 0.25],
        }
    )
    fig = charts.forest(rows, measure="adverse_opinion")
    shrunk, dots = fig.data  # the estimate drawn over its shrunken twin
    assert dots.name == "O/E with 95% CI"
    assert fig.layout.xaxis.title.text == "observed / expected (95% CI; 1 = no difference)"
    assert list(dots.x) == [1.5, 0.8]
    assert list(dots.error_x.array) == pytest.approx([0.5, 0.4])
    assert list(shrunk.x) == [1.3, 0.9]
    assert dots.marker.color[0] == charts.OKABE_ITO["vermillion"]


def _pair_counts(rows, n_other):
    return pd.DataFrame(
        rows, columns=["causation", "other_causation", "n_pairs"]
    ).assign(n_other_examiners=n_other)


def test_causation_kappa_from_counts_per_pair_of_opinions():
    # 2x2 table [[20, 5], [10, 15]]: p_o = 35/50 = 0.7, p_e = 0.5*0.6 + 0.5*0.4 = 0.5,
    # kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4 (Cohen 1960, by hand).
    counts = _pair_counts(
        [("not_related", "related", 5), ("related", "related", 20),
         ("not_related", "not_related", 15), ("related", "not_related", 10)],
        n_other=4,
    )
    result = examiner_figures.causation_agreement(counts)
    assert result.kappa.kappa == pytest.approx(0.4, abs=1e-12)
    assert (result.n_pairs, result.n_other_examiners) == (50, 4)
    assert list(result.table.index) == ["related", "not_related"]  # the order of the guide
    assert result.table.loc["related", "not_related"] == 10


def test_causation_agreement_without_pairs_has_no_kappa():
    result = examiner_figures.causation_agreement(_pair_counts([], n_other=0))
    assert (result.n_pairs, result.n_other_examiners, result.kappa) == (0, 0, None)


def test_explanations_give_each_measure_its_own_block_in_the_pages_order():
    from measures.base import FLAG_COLUMNS

    def row(measure, flagged, direction, ratio):
        r = dict.fromkeys(FLAG_COLUMNS, 0.5)
        r.update(examiner_id="EX1", measure=measure, flagged=flagged, direction=direction,
                 eligible=True, ratio=ratio, n=120, peer_group="orthopaedics")
        return r

    # Drift first and adverse opinions second: the page lists adverse opinions first.
    flags = pd.DataFrame([row("drift", False, "high", 1.0),
                          row("adverse_opinion", True, "high", 1.8),
                          {**row("adverse_opinion", False, "low", 0.9), "examiner_id": "EX2"}])
    mine = examiner_figures.examiner_measures(flags, "EX1")
    words, common = examiner_figures.explanations(mine, "EX1")
    assert [(w.measure, w.flagged, w.direction) for w in words] == [
        ("adverse_opinion", True, "high"), ("drift", False, "high")]
    assert words[0].lines[0].startswith("How: Observed adverse opinions")
    assert "O/E 1.80" in words[0].lines[1]
    assert words[0].lines[-1].startswith("p = 0.5, q = 0.5 on the high side: below")
    assert words[1].lines[-1] == (
        "The CUSUM reached 0.50 and did not cross the panel threshold 0.50.")
    assert "reason to look, not a verdict" in common
