"""Long categorical charts draw the largest groups and pool the rest into one 'N others' row."""

from __future__ import annotations

import pandas as pd

from dashboard import analysis, charts


def _counts() -> pd.DataFrame:
    # Five groups by name; sizes 50, 40, 30, 20, 10 in a shuffled order.
    return pd.DataFrame(
        {
            "group_value": ["a", "b", "c", "d", "e"],
            "n_exams": [30, 50, 10, 40, 20],
            "n_adverse": [3, 5, 1, 4, 2],
        }
    )


def test_the_largest_groups_stay_in_their_order_and_the_rest_are_summed():
    out = analysis.top_n(_counts(), "group_value", n=3)
    # Room for 2 groups and the others row: b (50) and d (40), kept in the frame's order.
    assert list(out["group_value"]) == ["b", "d", "3 others"]
    # The others are a (30), c (10) and e (20): 60 exams, 6 adverse.
    assert out.iloc[-1][["n_exams", "n_adverse"]].tolist() == [60, 6]
    assert out["n_exams"].sum() == 150


def test_a_kept_group_is_shown_however_small():
    out = analysis.top_n(_counts(), "group_value", n=3, keep=["c"])
    assert list(out["group_value"]) == ["b", "c", "3 others"]
    assert out.iloc[-1]["n_exams"] == 30 + 40 + 20


def test_few_groups_are_all_shown_and_ties_go_by_name():
    assert analysis.top_n(_counts(), "group_value", n=5).equals(_counts())
    sizes = pd.Series({"y": 5, "x": 5, "z": 1})
    assert analysis.top_n_groups(sizes, 2) == (["x"], ["y", "z"])


def test_share_bars_use_the_same_rule():
    shares = _counts().assign(top=lambda f: f["group_value"] == "a")
    fig = charts.share_bars(shares, "group_value", max_bars=3)
    bars = fig.data[0]
    # Drawn bottom to top: the others, then the two largest.
    assert list(bars.y) == ["3 others", "d", "b"]
    assert list(bars.text) == ["60", "40", "50"]
