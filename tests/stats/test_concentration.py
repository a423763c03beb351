"""Herfindahl index and top share against the published worked example."""

import pandas as pd
import pytest

from imestats.concentration import (
    concentration,
    concentration_by_group,
    herfindahl_index,
    top_share,
)


def test_hhi_against_us_doj_four_firm_example():
    # U.S. Department of Justice, Antitrust Division, "Herfindahl-Hirschman Index": "a market
    # consisting of four firms with market shares of thirty, thirty, twenty, and twenty
    # percent has an HHI of 2,600 (30^2 + 30^2 + 20^2 + 20^2 = 2,600)".
    assert 10_000 * herfindahl_index([30, 30, 20, 20]) == pytest.approx(2600, abs=1e-9)
    # Counts rather than percentages: only the shares matter.
    assert herfindahl_index([3, 3, 2, 2]) == pytest.approx(0.26, abs=1e-15)


def test_concentration_of_the_same_example_by_hand():
    c = concentration([20, 30, 0, 30, 20])
    assert c.n_total == 100
    assert c.n_categories == 4  # the empty category does not count
    assert c.top_share == pytest.approx(0.30)
    assert (c.top_position, c.top_count) == (1, 30)  # first of the tied largest
    # (0.26 - 1/4) / (1 - 1/4) = 0.01 / 0.75
    assert c.hhi_normalised == pytest.approx(0.01 / 0.75)
    assert c.equivalent_number == pytest.approx(1 / 0.26)


def test_one_insurer_is_full_concentration_and_equal_shares_the_minimum():
    one = concentration([0, 42])
    assert (one.hhi, one.hhi_normalised, one.top_share) == (1.0, 1.0, 1.0)
    even = concentration([5, 5, 5, 5])
    assert even.hhi == pytest.approx(0.25)
    assert even.hhi_normalised == pytest.approx(0.0, abs=1e-15)
    assert top_share([5, 5, 5, 5]) == pytest.approx(0.25)


@pytest.mark.parametrize(
    "counts", [[], [0, 0], [3, -1], [1.0, float("nan")]], ids=["empty", "zeros", "negative", "nan"]
)
def test_counts_without_shares_are_refused(counts):
    with pytest.raises(ValueError):
        concentration(counts)


def test_grouped_concentration_equals_one_call_per_group():
    # The DOJ example above (HHI 0.26) as one examiner's insurers, beside two others.
    frame = pd.DataFrame(
        {
            "examiner_id": ["b"] * 5 + ["a", "a", "c"],
            "specialty": ["ortho"] * 5 + ["neuro", "neuro", "ortho"],
            "n_exams": [20, 30, 0, 30, 20, 1, 3, 7],
        }
    )
    grouped = concentration_by_group(frame, ["examiner_id", "specialty"], "n_exams")
    assert grouped["examiner_id"].tolist() == ["a", "b", "c"]
    for row in grouped.itertuples():
        one = concentration(frame.loc[frame["examiner_id"] == row.examiner_id, "n_exams"])
        assert (row.n_total, row.n_categories) == (one.n_total, one.n_categories)
        assert row.top_share == pytest.approx(one.top_share, abs=1e-15)
        assert row.hhi == pytest.approx(one.hhi, abs=1e-15)
    assert grouped.loc[grouped["examiner_id"] == "b", "hhi"].item() == pytest.approx(0.26)
    assert grouped.loc[grouped["examiner_id"] == "a", "hhi"].item() == pytest.approx(10 / 16)


def test_grouped_concentration_refuses_a_group_without_counts():
    frame = pd.DataFrame({"examiner_id": ["a", "b"], "n_exams": [0, 4]})
    with pytest.raises(ValueError, match="all zero"):
        concentration_by_group(frame, ["examiner_id"], "n_exams")
