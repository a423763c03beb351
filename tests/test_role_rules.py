"""access.roles: what each role may see of an aggregate table, on hand-made tables.

Every suppressed table is attacked by an independent linear programme (exporthelp) that
tries to recover each small count, and each small difference between linked counts, from
what is published.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from exporthelp import K, pinned_small_values

from access.pseudonyms import examiner_pseudonym
from access.roles import (
    EXPORTABLE_TABLES,
    MARKET,
    OWN,
    NotExportable,
    check_exportable,
    check_filters,
    for_role,
    round_to_base,
    suppress,
    whole_years,
)
from imestats.suppression import SUPPRESSED
from queries import Filters, Scope

REGULATOR = Scope("regulator")
RESEARCHER = Scope("researcher")
INSURER = Scope("insurer", ("INS001",))
COUNTS = ["n_exams", "n_adverse"]
DERIVED = {"adverse_rate": ["n_adverse", "n_exams"]}
RELATIONS = [("n_exams", ["n_adverse"])]


def examiner_table(n_exams, n_adverse) -> pd.DataFrame:
    """Examiners E1..En with names and an adverse rate, then a total row labelled 'all'."""
    ids = [f"E{i + 1}" for i in range(len(n_exams))]
    rows = pd.DataFrame({
        "examiner_id": ids + ["all"],
        "examiner_name": [f"Dr {i}" for i in ids] + [None],
        "n_exams": [*n_exams, sum(n_exams)],
        "n_adverse": [*n_adverse, sum(n_adverse)],
    }, index=ids + ["all"])
    rows["adverse_rate"] = rows["n_adverse"] / rows["n_exams"]
    return rows


def margins_of(table: pd.DataFrame) -> list[tuple[str, list[str]]]:
    return [("all", [label for label in table.index if label != "all"])]


def positional(margins, index) -> list[tuple[int, list[int]]]:
    where = {label: i for i, label in enumerate(index)}
    return [(where[t], [where[p] for p in parts]) for t, parts in margins]


def by_examiner(shown: pd.DataFrame, key_file, column: str = "examiner") -> pd.DataFrame:
    """A pseudonymised table indexed by the raw id behind each pseudonym (totals by label)."""
    key = key_file.read_text().strip()
    raw = {examiner_pseudonym(f"E{i}", key): f"E{i}" for i in range(1, 50)}
    return shown.set_index(shown[column].map(lambda label: raw.get(label, label)))


def test_regulator_sees_the_table_as_it_is():
    table = examiner_table([40, 5], [12, 3])
    shown = for_role(table, REGULATOR, count_cols=COUNTS, derived=DERIVED,
                     relations=RELATIONS, margins=margins_of(table))
    pd.testing.assert_frame_equal(shown.display, table)
    assert shown.suppression["k"] is None


def test_researcher_gets_pseudonyms_without_names_and_the_total_keeps_its_label(pseudonym_key_file):
    table = examiner_table([40, 60, 80], [12, 20, 30])
    shown = for_role(table, RESEARCHER, count_cols=COUNTS, derived=DERIVED,
                     relations=RELATIONS, margins=margins_of(table))
    key = pseudonym_key_file.read_text().strip()
    assert "examiner_id" not in shown.display and "examiner_name" not in shown.display
    # In pseudonym order, not in the order of the raw ids; the total last.
    assert shown.display["examiner"].tolist() == [
        *sorted(examiner_pseudonym(e, key) for e in ("E1", "E2", "E3")), "all",
    ]
    assert shown.typed["examiner"].tolist() == shown.display["examiner"].tolist()
    assert not shown.display.isin(["E1", "E2", "E3", "Dr E1"]).any().any()
    assert list(shown.display.index) == list(range(4)), "the raw ids do not survive as index"


def test_researcher_rows_follow_the_pseudonyms_not_the_raw_ids(pseudonym_key_file):
    ids = [f"E{i}" for i in range(1, 31)]
    table = examiner_table([40 + i for i in range(30)], [12] * 30)
    shown = for_role(table, RESEARCHER, count_cols=COUNTS, derived=DERIVED,
                     relations=RELATIONS, margins=margins_of(table)).display
    behind = by_examiner(shown, pseudonym_key_file).index.tolist()
    assert behind[-1] == "all" and sorted(behind[:-1]) == sorted(ids)
    assert behind[:-1] != ids and behind[:-1] != sorted(ids)
    assert shown["examiner"].iloc[:-1].is_monotonic_increasing


def test_researcher_counts_are_rounded_to_k_and_rates_come_from_the_rounded_counts():
    # 16 -> 11 and 17 -> 22 (11 x 1.5 = 16.5 is the half), 105 -> 110; the zero stays 0.
    table = pd.DataFrame({
        "n_exams": [100, 105, 40, 245], "n_adverse": [16, 17, 0, 33],
        "mean_wpi": [12.3456, 7.891, 0.1234, 9.87654],
    }, index=["A", "B", "C", "all"])
    table["adverse_rate"] = table["n_adverse"] / table["n_exams"]
    derived = {"adverse_rate": ["n_adverse", "n_exams"], "mean_wpi": ["n_exams"]}

    def rates(counts: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"adverse_rate": counts["n_adverse"] / counts["n_exams"]})

    shown = for_role(table, RESEARCHER, count_cols=COUNTS, derived=derived,
                     relations=RELATIONS, margins=[("all", ["A", "B", "C"])], id_columns=(),
                     recompute=rates)
    out = shown.display
    assert out["n_exams"].tolist() == [99, 110, 44, 242]
    assert out["n_adverse"].tolist() == [11, 22, 0, 33]
    assert out["adverse_rate"].tolist() == pytest.approx([11 / 99, 22 / 110, 0.0, 33 / 242])
    assert out["mean_wpi"].tolist() == [12.0, 7.9, 0.12, 9.9]
    for col in COUNTS:
        assert (out[col] % K == 0).all(), col
    meta = shown.suppression
    assert meta["rounding_base"] == K and meta["period_grain"] == "calendar year"
    assert "never by a count from 1 to 10" in meta["across_outputs"]


@pytest.mark.parametrize("k", [11, 20], ids=["k11", "k20"])
def test_no_two_rounded_counts_differ_by_one_to_k_minus_one(k):
    # Every pair of counts from k to 400: what two exports under any filters could show.
    counts = pd.Series(np.arange(k, 401), dtype="int64")
    shown = round_to_base(counts, k).to_numpy()
    differences = np.abs(shown[:, None] - shown[None, :])
    assert not ((differences >= 1) & (differences < k)).any()
    assert (shown >= k).all()


def test_researcher_small_counts_and_their_rates_are_suppressed_and_zero_is_shown(
    pseudonym_key_file,
):
    table = examiner_table([40, 60, 80, 30], [4, 0, 30, 12])
    shown = for_role(table, RESEARCHER, count_cols=COUNTS, derived=DERIVED,
                     relations=RELATIONS, margins=margins_of(table)).display
    rows = by_examiner(shown, pseudonym_key_file)
    assert rows.at["E1", "n_adverse"] == SUPPRESSED
    assert rows.at["E1", "adverse_rate"] == SUPPRESSED
    assert rows.at["E2", "n_adverse"] == 0
    for col in COUNTS:
        published = pd.to_numeric(shown[col], errors="coerce").dropna()
        assert not published.between(1, K - 1).any(), col


def test_researcher_complementary_suppression_protects_against_the_total(pseudonym_key_file):
    # E1's 4 adverse opinions alone would be the total minus the rest: a second cell goes.
    table = examiner_table([40, 60, 80, 30], [4, 25, 30, 12])
    shown = for_role(table, RESEARCHER, count_cols=COUNTS, derived=DERIVED,
                     relations=RELATIONS, margins=margins_of(table)).display
    truth = table.loc[by_examiner(shown, pseudonym_key_file).index]
    hidden = shown["n_adverse"].eq(SUPPRESSED).to_numpy()
    assert hidden.sum() >= 2
    assert (truth.loc[hidden, "n_adverse"] >= K).any(), "a complement at least k is hidden too"
    assert pinned_small_values(shown, truth, COUNTS, RELATIONS,
                               positional(margins_of(table), truth.index), base=K) == []
    # Read as exact, the rounded cells would contradict the total; read as what they are
    # (each within 5 of the count), they leave every small value open.


def test_the_attack_recovers_a_cell_that_primary_suppression_alone_leaves_open():
    table = examiner_table([40, 60, 80, 30], [4, 25, 30, 12])
    shown = table.astype({"n_adverse": object, "adverse_rate": object})
    shown.loc["E1", ["n_adverse", "adverse_rate"]] = SUPPRESSED
    pinned = pinned_small_values(shown, table, COUNTS, RELATIONS,
                                 positional(margins_of(table), table.index))
    assert pinned == ["('cell', 0, 'n_adverse') = 4"]


def test_a_small_difference_between_linked_counts_is_protected():
    # 45 of 50 exams had a decision: the 5 without one must not be readable, although
    # every published count is at least k; the exams also split into adverse or not.
    table = pd.DataFrame({
        "n_exams": [50, 70, 120], "n_adverse": [20, 30, 50], "n_with_decision": [45, 40, 85],
    }, index=["A", "B", "all"])
    counts = ["n_exams", "n_adverse", "n_with_decision"]
    relations = [("n_exams", ["n_adverse"]), ("n_exams", ["n_with_decision"])]
    margins = [("all", ["A", "B"])]
    result = suppress(table, counts, relations=relations, margins=margins)
    assert result.mask.loc["A", ["n_exams", "n_with_decision"]].any()
    assert pinned_small_values(result.display, table, counts, relations,
                               positional(margins, table.index)) == []


def test_preferred_denominators_stay_visible_when_a_lesser_count_can_be_hidden_instead():
    # 3 exams without a causation opinion, in both rows: hiding n_exams would close both
    # differences, but the adverse rate needs it; the causation counts go instead.
    table = pd.DataFrame({
        "n_exams": [50, 70, 120], "n_adverse": [20, 30, 50], "n_causation": [47, 67, 114],
    }, index=["A", "B", "all"])
    counts = ["n_exams", "n_adverse", "n_causation"]
    relations = [("n_exams", ["n_adverse"]), ("n_exams", ["n_causation"])]
    margins = [("all", ["A", "B"])]
    result = suppress(table, counts, relations=relations, margins=margins, prefer=["n_exams"])
    assert not result.mask["n_exams"].any()
    assert result.mask.loc[["A", "B"], "n_causation"].all()
    assert pinned_small_values(result.display, table, counts, relations,
                               positional(margins, table.index)) == []


def test_insurer_own_rows_as_they_are_and_market_rows_suppressed():
    own = pd.DataFrame({"month": ["2024-01", "2024-02", "all"], "n_exams": [30, 8, 38],
                        "n_adverse": [9, 2, 11]}, index=["2024-01", "2024-02", "all"])
    market = pd.DataFrame({"month": ["2024-01", "2024-02", "2024-03", "all"],
                           "n_exams": [300, 200, 5, 505], "n_adverse": [90, 60, 2, 152]},
                          index=["2024-01", "2024-02", "2024-03", "all"])
    margins = [("all", ["2024-01", "2024-02"])]
    market_margins = [("all", ["2024-01", "2024-02", "2024-03"])]
    shown = for_role(own, INSURER, count_cols=COUNTS, relations=RELATIONS, margins=margins,
                     market=market, market_margins=market_margins, id_columns=())
    mine = shown.display[shown.display["population"] == OWN]
    theirs = shown.display[shown.display["population"] == MARKET]
    pd.testing.assert_frame_equal(mine.drop(columns="population"), own, check_dtype=False)
    assert theirs.loc["2024-03", "n_exams"] == SUPPRESSED
    for col in COUNTS:
        published = pd.to_numeric(theirs[col], errors="coerce").dropna()
        assert not published.between(1, K - 1).any(), col
    assert shown.suppression["k"] == K


def test_insurer_market_cell_is_suppressed_when_the_other_insurers_part_is_small():
    # The market's 40 exams in February are >= k, but the insurer has 35 of them: the other
    # insurers' 5 would be readable by subtraction.
    own = pd.DataFrame({"n_exams": [100, 35, 135], "n_adverse": [30, 12, 42]},
                       index=["2024-01", "2024-02", "all"])
    market = pd.DataFrame({"n_exams": [400, 40, 440], "n_adverse": [120, 14, 134]},
                          index=["2024-01", "2024-02", "all"])
    margins = [("all", ["2024-01", "2024-02"])]
    shown = for_role(own, INSURER, count_cols=COUNTS, relations=RELATIONS, margins=margins,
                     market=market, market_margins=margins, id_columns=())
    theirs = shown.display[shown.display["population"] == MARKET]
    assert theirs.loc["2024-02", "n_exams"] == SUPPRESSED
    # What the insurer learns of the other insurers: the published (rounded) market, less
    # its own counts, which it knows.
    assert pinned_small_values(theirs[COUNTS], market, COUNTS, RELATIONS,
                               positional(margins, market.index), base=K, offset=own) == []


def test_market_rows_never_name_examiners_beside_own_rows():
    own = examiner_table([40, 60], [12, 20])
    market = examiner_table([400, 600], [120, 200])
    with pytest.raises(ValueError, match="name examiners"):
        for_role(own, INSURER, count_cols=COUNTS, derived=DERIVED, relations=RELATIONS,
                 margins=margins_of(own), market=market, market_margins=margins_of(market))


def test_market_only_table_reaches_an_insurer_with_pseudonyms(pseudonym_key_file):
    market = examiner_table([400, 600, 30], [120, 200, 3])
    own = market.iloc[0:0]
    shown = for_role(own, INSURER, count_cols=COUNTS, derived=DERIVED, relations=RELATIONS,
                     market=market, market_margins=margins_of(market)).display
    assert "examiner_id" not in shown and "examiner_name" not in shown
    assert shown["examiner"].str.startswith("Examiner ").sum() == 3
    assert shown["examiner"].iloc[:3].is_monotonic_increasing
    assert by_examiner(shown, pseudonym_key_file).at["E3", "n_adverse"] == SUPPRESSED


@pytest.mark.parametrize("role", [RESEARCHER, INSURER], ids=["researcher", "insurer"])
def test_row_level_tables_are_refused(role):
    rows = pd.DataFrame({"exam_id": ["X1"], "n_exams": [1]})
    with pytest.raises(PermissionError, match="aggregates only"):
        for_role(rows, role, count_cols=["n_exams"])


@pytest.mark.parametrize("role", [REGULATOR, RESEARCHER, INSURER],
                         ids=["regulator", "researcher", "insurer"])
def test_claimant_identifiers_are_refused_for_every_role(role):
    rows = pd.DataFrame({"claimant_id": ["abc"], "n_exams": [20]})
    with pytest.raises(PermissionError, match="claimant"):
        for_role(rows, role, count_cols=["n_exams"])


def test_only_the_fixed_aggregate_tables_are_exportable():
    assert check_exportable("examiner_rates") == "examiner_rates"
    assert len(EXPORTABLE_TABLES) == 6
    with pytest.raises(NotExportable, match="aggregates only"):
        check_exportable("fct_exams")


def test_threshold_below_eleven_is_refused():
    table = examiner_table([40, 60], [12, 20])
    with pytest.raises(ValueError, match="at least 11"):
        for_role(table, RESEARCHER, count_cols=COUNTS, derived=DERIVED, k=5)


def test_an_undeclared_rate_is_refused():
    table = examiner_table([40, 60], [12, 20])
    with pytest.raises(ValueError, match="adverse_rate"):
        suppress(table, COUNTS)


def test_typed_table_keeps_suppressed_zero_and_missing_apart():
    table = pd.DataFrame({"n_exams": [40, 60, 100], "n_adverse": [4, 0, 4],
                          "mean_gap": [1.5, np.nan, 0.9]}, index=["A", "B", "all"])
    shown = for_role(table, RESEARCHER, count_cols=COUNTS,
                     derived={"mean_gap": ["n_exams"]}, relations=RELATIONS,
                     margins=[("all", ["A", "B"])], id_columns=())
    typed = shown.typed
    assert typed.at["A", "n_adverse_suppressed"] and pd.isna(typed.at["A", "n_adverse"])
    assert typed.at["B", "n_adverse"] == 0 and not typed.at["B", "n_adverse_suppressed"]
    assert pd.isna(typed.at["B", "mean_gap"])
    assert shown.for_format("parquet") is typed and shown.for_format("csv") is shown.display


@pytest.mark.parametrize(
    "start, end, allowed",
    [
        (None, None, True),
        (dt.date(2024, 1, 1), dt.date(2024, 12, 31), True),
        (dt.date(2019, 1, 1), None, True),
        (None, dt.date(2025, 4, 30), False),
        (dt.date(2024, 3, 1), None, False),
    ],
    ids=["open", "one-year", "from-a-year", "end-mid-year", "start-mid-year"],
)
def test_researcher_periods_are_whole_calendar_years(start, end, allowed):
    filters = Filters(start=start, end=end, jurisdiction=("CA",))
    assert check_filters(REGULATOR, filters) is filters
    assert check_filters(INSURER, filters) is filters
    if allowed:
        assert check_filters(RESEARCHER, filters) is filters
    else:
        with pytest.raises(ValueError, match="whole calendar years"):
            check_filters(RESEARCHER, filters)
    wide = whole_years(filters)
    assert check_filters(RESEARCHER, wide) is wide and wide.jurisdiction == ("CA",)
