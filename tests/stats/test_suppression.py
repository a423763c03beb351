"""Tests for imestats.suppression on hand-made tables whose right answer is known.

Every complementary-suppression result is also attacked (docs/methods.md): an independent linear
programme, written here from the table's margins and not from the module's code, computes the
least and greatest value each suppressed cell can take given what is published. A cell is
protected when that interval has width > 0. A reader is assumed to know that a suppressed cell
is at least 1, since zeros are shown.
"""

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

from imestats.suppression import SUPPRESSED, suppress_counts


def feasible_intervals(
    shown: pd.DataFrame, total_row: str | None = None, total_col: str | None = None
) -> dict[tuple[str, str], tuple[float, float]]:
    """Attack a published table: for each suppressed cell, its least and greatest value.

    `shown` is the display table (every column a count). Lines: each column sums over the
    rows to `total_row`; each row sums over the columns to `total_col`.
    """
    cells = [(r, c) for r in shown.index for c in shown.columns if shown.at[r, c] == SUPPRESSED]
    var = {cell: j for j, cell in enumerate(cells)}
    lines = []
    if total_row is not None:
        for c in shown.columns:
            lines.append(((total_row, c), [(r, c) for r in shown.index if r != total_row]))
    if total_col is not None:
        for r in shown.index:
            lines.append(((r, total_col), [(r, c) for c in shown.columns if c != total_col]))
    a_eq, b_eq = [], []
    for total, parts in lines:
        row, rhs = np.zeros(len(cells)), 0.0
        for cell, sign in [(total, -1.0)] + [(p, 1.0) for p in parts]:
            if cell in var:
                row[var[cell]] += sign
            else:
                rhs -= sign * float(shown.at[cell])
        if row.any():
            a_eq.append(row)
            b_eq.append(rhs)
    intervals = {}
    for cell, j in var.items():
        c = np.zeros(len(cells))
        c[j] = 1.0
        low = linprog(c, A_eq=a_eq, b_eq=b_eq, bounds=(1, None), method="highs")
        high = linprog(-c, A_eq=a_eq, b_eq=b_eq, bounds=(1, None), method="highs")
        assert low.status == 0
        intervals[cell] = (low.fun, np.inf if high.status == 3 else -high.fun)
    return intervals


def assert_protected(result, total_row=None, total_col=None) -> None:
    """No suppressed cell can be solved for exactly from the published table."""
    intervals = feasible_intervals(result.display, total_row, total_col)
    pinned = {cell: iv for cell, iv in intervals.items() if iv[1] - iv[0] < 1e-6}
    assert not pinned, f"suppressed cells recoverable from the margins: {pinned}"


def two_way(grid: list[list[int]]) -> tuple[pd.DataFrame, list[str]]:
    """A wide two-way table with a margin column `all` and a margin row `All`."""
    cols = [f"c{j + 1}" for j in range(len(grid[0]))]
    df = pd.DataFrame(grid, columns=cols, index=[f"r{i + 1}" for i in range(len(grid))])
    df["all"] = df.sum(axis=1)
    df.loc["All"] = df.sum()
    return df, cols


def suppress_two_way(df: pd.DataFrame, cols: list[str], **kwargs):
    return suppress_counts(
        df, list(df.columns), total_row="All", row_totals={"all": cols}, **kwargs
    )


# --- primary suppression ------------------------------------------------------------------


def test_primary_hides_1_to_10_and_shows_zero():
    df = pd.DataFrame({"n": [0, 1, 10, 11, 25]}, index=list("abcde"))
    result = suppress_counts(df, ["n"])
    assert result.mask["n"].tolist() == [False, True, True, False, False]
    assert result.display["n"].tolist() == [0, SUPPRESSED, SUPPRESSED, 11, 25]
    # A true zero is the number 0, distinct from the text "suppressed".
    assert result.display.at["a", "n"] == 0 and result.display.at["a", "n"] != SUPPRESSED


def test_higher_k_hides_more():
    df = pd.DataFrame({"n": [10, 11, 12, 20]})
    assert suppress_counts(df, ["n"], k=12).mask["n"].tolist() == [True, True, False, False]
    assert suppress_counts(df, ["n"], k=20).mask["n"].tolist() == [True, True, True, False]


@pytest.mark.parametrize("k", [10, 5, 1, 0, -3, 11.0, True], ids=repr)
def test_k_below_11_or_not_an_integer_refused(k):
    df = pd.DataFrame({"n": [5, 50]})
    with pytest.raises(ValueError, match="at least 11"):
        suppress_counts(df, ["n"], k=k)


def test_input_table_not_modified():
    df = pd.DataFrame({"n": [3, 40]})
    before = df.copy()
    suppress_counts(df, ["n"])
    pd.testing.assert_frame_equal(df, before)


# --- propagation to derived columns -------------------------------------------------------


def test_rates_and_intervals_built_on_a_suppressed_count_are_suppressed():
    df = pd.DataFrame(
        {
            "group": ["A", "B", "C"],
            "n_exams": [200, 7, 40],
            "n_adverse": [50, 2, 0],
            "adverse_rate": [0.25, 2 / 7, 0.0],
            "ci_low": [0.19, 0.08, 0.0],
            "ci_high": [0.31, 0.64, 0.09],
        }
    )
    derived = {c: ["n_adverse", "n_exams"] for c in ("adverse_rate", "ci_low", "ci_high")}
    result = suppress_counts(df, ["n_exams", "n_adverse"], derived=derived)
    shown = result.display
    assert shown.loc[1, ["n_exams", "n_adverse", "adverse_rate", "ci_low", "ci_high"]].eq(
        SUPPRESSED
    ).all()
    # Row C: zero adverse opinions is a true zero, and its rate 0.0 is shown.
    assert shown.loc[2, "n_adverse"] == 0 and shown.loc[2, "adverse_rate"] == 0.0
    assert not result.mask.loc[[0, 2]].to_numpy().any()
    assert shown["group"].tolist() == ["A", "B", "C"]


def test_small_difference_between_total_and_part_is_protected():
    # n_exams - n_adverse = 5 people without an adverse opinion: readable from the row unless
    # one of the two counts is hidden. The smaller, n_adverse, is hidden, and so is the rate.
    df = pd.DataFrame({"n_exams": [100, 60], "n_adverse": [95, 20], "rate": [0.95, 1 / 3]})
    result = suppress_counts(
        df, ["n_exams", "n_adverse"], derived={"rate": ["n_adverse", "n_exams"]},
        row_totals={"n_exams": ["n_adverse"]},
    )
    assert result.mask.to_dict("list") == {
        "n_exams": [False, False], "n_adverse": [True, False], "rate": [True, False],
    }
    assert result.primary.to_numpy().sum() == 0


def test_undeclared_float_column_refused():
    df = pd.DataFrame({"n": [3, 40], "rate": [0.1, 0.2]})
    with pytest.raises(ValueError, match=r"float columns \['rate'\]"):
        suppress_counts(df, ["n"])
    assert not suppress_counts(df, ["n"], keep=["rate"]).mask["rate"].any()


def test_flagged_keeps_numbers_typed_and_zero_distinct():
    df = pd.DataFrame({"n": [0, 4, 30], "rate": [0.0, 0.5, 0.1]})
    flagged = suppress_counts(df, ["n"], derived={"rate": ["n"]}).flagged()
    assert list(flagged.columns) == ["n", "n_suppressed", "rate", "rate_suppressed"]
    assert flagged["n"].dtype == "Int64" and flagged["rate"].dtype == "Float64"
    assert flagged["n"].iloc[0] == 0 and pd.isna(flagged["n"].iloc[1])
    assert flagged["n_suppressed"].tolist() == [False, True, False]


# --- complementary suppression ------------------------------------------------------------


def test_one_way_total_hides_smallest_nonzero_other_cell():
    # 5 could be recovered as 55 - 0 - 20 - 30; the complement is 20, the smallest non-zero
    # cell (the zero would protect nothing, a reader may know the category is empty).
    df = pd.DataFrame({"n": [5, 0, 20, 30, 55]}, index=["a", "b", "c", "d", "All"])
    result = suppress_counts(df, ["n"], total_row="All")
    assert result.display["n"].tolist() == [SUPPRESSED, 0, SUPPRESSED, 30, 55]
    assert feasible_intervals(result.display, total_row="All") == {
        ("a", "n"): (1.0, 24.0), ("c", "n"): (1.0, 24.0),
    }


def test_row_total_hides_second_cell_in_the_row():
    df = pd.DataFrame(
        {"x": [3, 40], "y": [50, 45], "z": [60, 12], "all": [113, 97]}, index=["r1", "r2"]
    )
    result = suppress_counts(df, ["x", "y", "z", "all"], row_totals={"all": ["x", "y", "z"]})
    assert result.mask.loc["r1"].tolist() == [True, True, False, False]
    assert not result.mask.loc["r2"].any()
    assert_protected(result, total_col="all")


def test_two_way_table_rows_and_columns():
    #        c1  c2  c3  all
    # r1     20  40  15   75
    # r2      5  25  30   60
    # r3     30   3  40   73
    # All    55  68  85  208
    # Column c1 exposes 5: its complement is r3/c1 (30) rather than the smaller 20, as 30
    # also protects row r3, which exposes 3. Then column c2 takes r2/c2 (25), which protects
    # row r2 too. Four cells, a cycle; solving the margins gives r2/c1 = t, r2/c2 = 30 - t,
    # r3/c1 = 35 - t, r3/c2 = t - 2, so with every cell >= 1, r2/c1 lies in [3, 29].
    df, cols = two_way([[20, 40, 15], [5, 25, 30], [30, 3, 40]])
    result = suppress_two_way(df, cols)
    hidden = {(r, c) for r in df.index for c in df.columns if result.mask.at[r, c]}
    assert hidden == {("r2", "c1"), ("r2", "c2"), ("r3", "c1"), ("r3", "c2")}
    intervals = feasible_intervals(result.display, total_row="All", total_col="all")
    assert intervals[("r2", "c1")] == (3.0, 29.0)
    assert intervals[("r3", "c2")] == (1.0, 27.0)


def test_small_margin_is_suppressed_and_protected():
    # Row r2 totals 9: the margin itself is a small count.
    df, cols = two_way([[30, 40, 50], [4, 0, 5], [20, 25, 35]])
    result = suppress_two_way(df, cols)
    assert result.mask.at["r2", "all"] and result.primary.at["r2", "all"]
    assert not result.mask.at["r2", "c2"]  # the zero stays shown
    assert_protected(result, total_row="All", total_col="all")


def test_chain_of_lines_caught_by_the_audit():
    # Every row and column has two or more small cells, so the line rule alone adds nothing,
    # yet r1/c3 = (r1 + r2 totals) - (c1 + c2 totals) minus published cells = 4: it bridges
    # two cycles. The audit must find it and hide one more cell.
    df, cols = two_way([[2, 3, 4, 20], [5, 6, 30, 40], [50, 60, 7, 8], [70, 80, 9, 1]])
    primary_only = df.astype(object).mask(
        (df >= 1) & (df <= 10), SUPPRESSED
    )
    assert feasible_intervals(primary_only, "All", "all")[("r1", "c3")] == (4.0, 4.0)

    result = suppress_two_way(df, cols)
    assert result.mask.to_numpy().sum() > result.primary.to_numpy().sum() == 9
    assert_protected(result, total_row="All", total_col="all")


def test_brute_force_no_unique_integer_solution():
    # Try every filling of the suppressed cells with integers from 1 to their smaller margin
    # that matches every published margin: each suppressed cell must take two values or more.
    df, cols = two_way([[2, 11, 20], [11, 3, 20]])
    result = suppress_two_way(df, cols)
    hidden = [(r, c) for r in df.index for c in df.columns if result.mask.at[r, c]]
    assert hidden == [("r1", "c1"), ("r1", "c2"), ("r2", "c1"), ("r2", "c2")]
    grid = df.to_numpy()
    position = {(r, c): (df.index.get_loc(r), df.columns.get_loc(c)) for r, c in hidden}
    seen = {cell: set() for cell in hidden}
    ranges = [range(1, int(min(df.at[r, "all"], df.at["All", c])) + 1) for r, c in hidden]
    for values in itertools.product(*ranges):
        trial = grid.copy()
        for cell, v in zip(hidden, values, strict=True):
            trial[position[cell]] = v
        rows_ok = (trial[:, :-1].sum(axis=1) == trial[:, -1]).all()
        cols_ok = (trial[:-1].sum(axis=0) == trial[-1]).all()
        if rows_ok and cols_ok:
            for cell, v in zip(hidden, values, strict=True):
                seen[cell].add(v)
    assert all(len(v) >= 2 for v in seen.values()), seen
    assert all(int(df.at[cell]) in seen[cell] for cell in hidden)


@pytest.mark.parametrize("seed", range(12), ids=lambda s: f"seed{s}")
def test_random_two_way_tables_are_protected(seed):
    rng = np.random.default_rng(seed)
    n_rows, n_cols = rng.integers(2, 7), rng.integers(2, 6)
    means = rng.choice([0.5, 4, 15, 60], size=(n_rows, n_cols))
    df, cols = two_way(rng.poisson(means).tolist())
    result = suppress_two_way(df, cols)
    small = (df >= 1) & (df <= 10)
    assert result.mask[small].fillna(True).to_numpy().all(), "a small count is shown"
    assert not result.mask[df == 0].fillna(False).to_numpy().any(), "a zero is suppressed"
    assert_protected(result, total_row="All", total_col="all")


def test_two_by_two_table_hides_the_four_inner_cells_worked_by_hand():
    #        c1  c2  all
    # r1      4  30   34
    # r2     20  50   70
    # All    24  80  104
    # 4 is small. Column c1 would give it as 24 - 20, so r2/c1 (20) goes; row r1 would give it
    # as 34 - 30, so r1/c2 (30, a part before the total 34) goes; column c2 would then give
    # r1/c2 as 80 - 50, so r2/c2 goes. The margins stay. Calling r1/c1 a, the lines give
    # r1/c2 = 34 - a, r2/c1 = 24 - a, r2/c2 = 46 + a, each at least 1: a is 1 to 23.
    df, cols = two_way([[4, 30], [20, 50]])
    result = suppress_two_way(df, cols)
    assert result.mask.to_dict("index") == {
        "r1": {"c1": True, "c2": True, "all": False},
        "r2": {"c1": True, "c2": True, "all": False},
        "All": {"c1": False, "c2": False, "all": False},
    }
    assert feasible_intervals(result.display, total_row="All", total_col="all") == {
        ("r1", "c1"): (1.0, 23.0), ("r1", "c2"): (11.0, 33.0),
        ("r2", "c1"): (1.0, 23.0), ("r2", "c2"): (47.0, 69.0),
    }


# --- errors name the problem --------------------------------------------------------------


def test_total_row_that_is_not_the_sum_refused():
    df = pd.DataFrame({"n": [20, 30, 60]}, index=["a", "b", "All"])
    with pytest.raises(ValueError, match="other rows sum to 50"):
        suppress_counts(df, ["n"], total_row="All")


@pytest.mark.parametrize("bad", [-1, 2.5, np.nan], ids=["negative", "fraction", "missing"])
def test_count_that_is_not_a_count_refused(bad):
    df = pd.DataFrame({"n": [20.0, bad]}, index=["a", "b"])
    with pytest.raises(ValueError, match="row 'b'"):
        suppress_counts(df, ["n"])


def test_derived_on_unknown_column_refused():
    df = pd.DataFrame({"n": [20, 30], "rate": [0.1, 0.2]})
    with pytest.raises(ValueError, match="not in the table"):
        suppress_counts(df, ["n"], derived={"rate": ["n_exams"]})
