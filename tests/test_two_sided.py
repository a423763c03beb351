"""Two-sided flags (measures.base.q_values_and_flags): two one-sided Benjamini-Hochberg
families, each at the same q, on a hand-built table whose q-values are worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from measures.base import FLAG_COLUMNS, FlagSettings, q_values_and_flags
from measures.engine import explain
from measures.registry import MEASURES

SETTINGS = FlagSettings(q=0.05, min_volume=30)


def _rows() -> pd.DataFrame:
    # p_value is each measure's upper tail (more than expected). F is below the minimum volume.
    return pd.DataFrame(
        {
            "examiner_id": ["A", "B", "C", "D", "E", "F"],
            "n": [200, 150, 120, 180, 300, 10],
            "observed": [90.0, 70.0, 50.0, 30.0, 40.0, 9.0],
            "expected": [60.0, 55.0, 50.0, 45.0, 75.0, 3.0],
            "ratio": [1.5, 70 / 55, 1.0, 30 / 45, 40 / 75, 3.0],
            "ci_low": np.nan,
            "ci_high": np.nan,
            "p_value": [0.001, 0.02, 0.5, 0.985, 0.9995, 0.0001],
            "peer_group": "x",
        }
    )


def test_each_side_is_its_own_bh_family_at_the_same_q():
    out = q_values_and_flags(_rows(), "adverse_opinion", SETTINGS).set_index("examiner_id")
    assert list(out.reset_index().columns) == FLAG_COLUMNS
    # High family, the 5 eligible upper tails sorted: .001 .02 .5 .985 .9995;
    # m p / k = .005, .05, .8333, 1.23 (-> 1), .9995; running minimum from the top:
    # A .005, B .05, C .8333 (then D .9995, E .9995: not their side).
    # Low family, the lower tails 1 - p sorted: E .0005, D .015, C .5, B .98, A .999;
    # m p / k = .0025, .0375, .8333, 1.225 (-> 1), .999: E .0025, D .0375.
    assert out["direction"].to_dict() == {
        "A": "high", "B": "high", "C": "high", "D": "low", "E": "low", "F": "high",
    }
    assert out.loc[["A", "B", "C", "D", "E"], "q_value"].to_numpy() == pytest.approx(
        [0.005, 0.05, 2.5 / 3, 0.0375, 0.0025]
    )
    # A row's p-value is its side's tail.
    assert out.loc[["A", "D", "E"], "p_value"].to_numpy() == pytest.approx([0.001, 0.015, 0.0005])
    assert out["flagged"].to_dict() == {
        "A": True, "B": True, "C": False, "D": True, "E": True, "F": False,
    }
    assert np.isnan(out.loc["F", "q_value"]) and not out.loc["F", "eligible"]


def test_an_exact_tests_own_lower_tail_is_used_where_it_gives_one():
    # An exact test's two tails both count P(T = observed), so its lower tail is not 1 - p.
    # Lower tails given: A .9995, B .99, C .6, D .03, E .002 (each above 1 - p by the point
    # mass). Low family sorted: E .002, D .03, C .6, B .99, A .9995; m p / k = .01, .075, 1,
    # 1.2375 (-> 1), .9995; running minimum from the top: E .01, D .075 (not flagged at .05).
    rows = _rows().assign(p_low=[0.9995, 0.99, 0.6, 0.03, 0.002, 0.99995])
    out = q_values_and_flags(rows, "allegiance", SETTINGS).set_index("examiner_id")
    assert out.loc[["D", "E"], "direction"].tolist() == ["low", "low"]
    assert out.loc[["D", "E"], "p_value"].to_numpy() == pytest.approx([0.03, 0.002])
    assert out.loc[["D", "E"], "q_value"].to_numpy() == pytest.approx([0.075, 0.01])
    assert out.loc[["D", "E"], "flagged"].tolist() == [False, True]


def test_the_high_side_is_what_a_one_sided_analysis_gives():
    # The high family's q-values are BH over the upper tails alone, as before the low side.
    rows = _rows()
    out = q_values_and_flags(rows, "adverse_opinion", SETTINGS).set_index("examiner_id")
    one_sided = {"A": 0.005, "B": 0.05, "C": 2.5 / 3}
    for examiner, q in one_sided.items():
        assert out.loc[examiner, "q_value"] == pytest.approx(q)


def test_a_monitoring_chart_flags_high_only():
    rows = _rows()
    signal = np.array([False, False, False, True, True, True])
    out = q_values_and_flags(rows, "drift", SETTINGS, signal=signal).set_index("examiner_id")
    assert set(out["direction"]) == {"high"}
    assert out["flagged"].to_dict() == {
        "A": False, "B": False, "C": False, "D": True, "E": True, "F": False,
    }


def test_the_words_say_what_each_side_means():
    out = q_values_and_flags(_rows(), "allegiance", SETTINGS)
    text = explain(out, "E", SETTINGS)
    assert "allegiance: FLAGGED low" in text
    assert MEASURES["allegiance"].low_means in text
    assert "favours the claimant" in MEASURES["allegiance"].low_means
    assert "favours the insurer" in MEASURES["allegiance"].high_means
    high = explain(out, "A", SETTINGS)
    assert "FLAGGED high" in high and MEASURES["allegiance"].high_means in high


@pytest.mark.parametrize("name", [n for n, m in MEASURES.items() if m.name != "drift"])
def test_every_two_sided_measure_words_both_sides(name):
    m = MEASURES[name]
    assert m.high_means and m.low_means


def test_validation_counts_each_kind_on_each_side():
    from devtools.validation import both_sides, both_sides_table

    truth = pd.DataFrame(
        {
            "examiner_id": ["B1", "B2", "C1", "C2", "C3", "F1"],
            "pattern": ["allegiance", "allegiance", "claimant_allegiance",
                        "claimant_allegiance", "claimant_allegiance", "fair"],
        }
    )
    flags = pd.DataFrame(
        {
            "examiner_id": ["B1", "B2", "C1", "C2", "C3", "F1"],
            "flagged": [True, False, True, True, False, True],
            "direction": ["high", "low", "low", "high", "low", "low"],
        }
    )
    # The textbook tests, a row per examiner and side: high finds B1 and B2 (and the fair F1),
    # low finds C3 only (C1 is tested low but not flagged).
    textbook = pd.DataFrame(
        {
            "examiner_id": ["B1", "B2", "F1", "C1", "C3"],
            "flagged": [True, True, True, False, True],
            "direction": ["high", "high", "high", "low", "low"],
        }
    )
    counted = both_sides(flags, textbook, truth, 1, "allegiance")
    # By hand: biased B1 found high, B2 not flagged; claimant-favouring C1 found low, C2
    # flagged on the wrong side, C3 not flagged; the fair examiner counts in neither.
    assert (counted.biased, counted.biased_high, counted.biased_low) == (2, 1, 0)
    assert (counted.favouring, counted.favouring_low, counted.favouring_high) == (3, 1, 1)
    assert (counted.textbook_biased_high, counted.textbook_favouring_low) == (2, 1)
    table = both_sides_table([counted, counted]).set_index("measure")
    assert table.loc["allegiance", "biased_found_share"] == pytest.approx(0.5)
    assert table.loc["allegiance", "favouring_found_share"] == pytest.approx(1 / 3)
