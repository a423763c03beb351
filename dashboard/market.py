"""The market beside an insurer's own figures: the same rates over every insurer.

SPEC 3: an insurer sees its own cases, and market figures only as aggregates over all
insurers, suppressed. The market is read here under full access with the insurer filter
dropped (the market is every insurer), and never shown as read: it goes through
`access.roles.for_role` with the insurer's own table beside it, which suppresses small
market cells and cells whose part from other insurers is small, and rounds every market count
to a multiple of k. Rates and intervals are then computed from the rounded counts, as in an
export. Nothing of the market is shown to other roles (a regulator sees every insurer already;
a researcher has no outcome pages).
"""

from __future__ import annotations

import dataclasses
from dataclasses import astuple, dataclass

import numpy as np
import pandas as pd
import streamlit as st

import queries
from access.roles import MARKET, POPULATION, for_role
from dashboard import analysis, charts, data, periods
from outputs.tables import MAIN_COUNTS, RATES_LAYOUT, RATES_RELATIONS, Count
from queries import FULL_ACCESS, Filters, Scope

RATE_COUNTS = tuple(item.name for item in RATES_LAYOUT if isinstance(item, Count))
TOTAL = "total"
LABEL = "market (all insurers)"
MARKET_ROWS = MARKET  # the population label of an export's market rows
# Per insurer, the market is only the total: a row per other insurer would name them.
TOTAL_ONLY = ("insurer_id",)


def shown() -> bool:
    """Whether the pages put the market beside the reader's own figures (insurers only)."""
    return data.current_scope().role == "insurer"


@dataclass(frozen=True)
class Benchmark:
    """Own and market counts by row label (a group, a period, or TOTAL), as rates_* counts.

    ``market`` has missing counts where suppression hid them; its counts are rounded.
    """

    own: pd.DataFrame
    market: pd.DataFrame

    def rates(self, which: str, measures=tuple(analysis.MEASURES)) -> pd.DataFrame:
        """Long rates (label, measure, k, n, rate, ci_low, ci_high, suppressed) of one side."""
        frame = self.own if which == "own" else self.market
        return long_rates(frame, measures)

    def total(self, which: str, measures=tuple(analysis.MEASURES)) -> pd.DataFrame:
        """The TOTAL row's long rates of one side, indexed by measure."""
        rates = self.rates(which, measures)
        return rates[rates["label"] == TOTAL].set_index("measure")


def rate_words(row) -> str:
    """A market rate in words for a caption ('31.2% (95% CI ...), 1,111 of 3,564'), or why
    it is not shown."""
    if row["suppressed"]:
        return "suppressed (too few exams to show)"
    if row["n"] == 0:
        return "no exams"
    return charts.rate_text(
        row["rate"], row["ci_low"], row["ci_high"], int(row["k"]), int(row["n"])
    )


def long_rates(frame: pd.DataFrame, measures) -> pd.DataFrame:
    """As analysis.rates_long, for counts that may be missing (suppressed): rate missing too."""
    parts = []
    for key in measures:
        m = analysis.MEASURES[key]
        k = frame[m.k].astype("Float64")
        n = frame[m.n].astype("Float64")
        hidden = (k.isna() | n.isna()).to_numpy(dtype=bool)
        rate, low, high = analysis.wilson(k.fillna(0), n.fillna(0))
        part = frame.drop(columns=list(RATE_COUNTS)).copy()
        part["measure"] = key
        part["k"] = k.fillna(0).to_numpy(dtype=np.int64)
        part["n"] = np.where(hidden, 0, n.fillna(0).to_numpy(dtype=np.int64))
        part["rate"] = np.where(hidden, np.nan, rate)
        part["ci_low"] = np.where(hidden, np.nan, low)
        part["ci_high"] = np.where(hidden, np.nan, high)
        part["suppressed"] = hidden
        exams = frame["n_exams"].astype("Float64").fillna(0)
        part["thin"] = ~(exams >= periods.MIN_EXAMS_PER_PERIOD)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def _read(con, scope: Scope, filters: Filters, by: str, grain: str | None) -> pd.DataFrame:
    """Counts by label: periods at `grain` (from rates_by_month), else groups of `by`."""
    if grain is not None:
        monthly = queries.run(con, "rates_by_month", scope, filters)
        rows = periods.aggregate(monthly, grain)
        rows["label"] = rows.pop("period").dt.strftime("%Y-%m-%d")
        rows = rows.drop(columns="thin")
    else:
        rows = queries.run(con, "rates_by_group", scope, filters, dimension=by)
        rows = rows.rename(columns={"group_value": "label"})
    rows = rows.set_index(rows["label"].astype(str))
    total = pd.DataFrame(
        {"label": [TOTAL], **{c: [rows[c].sum()] for c in RATE_COUNTS}}, index=[TOTAL]
    )
    return pd.concat([rows[["label", *RATE_COUNTS]], total]).astype(
        {c: "int64" for c in RATE_COUNTS}
    )


@st.cache_data(ttl=data.RESULT_TTL_SECONDS, max_entries=128, show_spinner=False)
def _benchmark(snap, scope_key: tuple, filters_key: tuple, by: str, grain: str | None):
    scope = Scope(scope_key[0], tuple(scope_key[1]))
    filters = Filters(*filters_key)
    # The market is every insurer: an insurer filter would narrow it to the insurer itself.
    everyone = dataclasses.replace(filters, insurer_id=())
    with data.connection().reading() as con:
        own = _read(con, scope, filters, by, grain)
        market = _read(con, FULL_ACCESS, everyone, by, grain)
    if by in TOTAL_ONLY:
        market = market.loc[[TOTAL]]
    parts = [label for label in market.index if label != TOTAL]
    presented = for_role(
        own, scope,
        count_cols=RATE_COUNTS, relations=RATES_RELATIONS, prefer=MAIN_COUNTS,
        id_columns=(),
        margins=[(TOTAL, [label for label in own.index if label != TOTAL])],
        market=market, market_margins=[(TOTAL, parts)],
    )
    typed = presented.typed
    market_rows = typed[typed[POPULATION] == MARKET]
    keep = ["label", *RATE_COUNTS]
    return Benchmark(own=own[keep].reset_index(drop=True),
                     market=market_rows[keep].reset_index(drop=True))


def benchmark(filters: Filters, *, by: str = "all", grain: str | None = None) -> Benchmark:
    """The reader's own counts and the suppressed market's, by group `by` or period `grain`.

    Only for an insurer (`shown()`): any other reader gets a PermissionError, so the
    market's read under full access can never reach a page for another role.
    """
    scope = data.current_scope()
    if scope.role != "insurer":
        raise PermissionError("the market benchmark is an insurer's view")
    return _benchmark(
        data.require_snapshot(), (scope.role, scope.insurer_ids), astuple(filters), by, grain
    )


def with_periods(rates: pd.DataFrame) -> pd.DataFrame:
    """Long rates of a period benchmark with `period` as a date (the TOTAL row dropped)."""
    out = rates[rates["label"] != TOTAL].copy()
    out["period"] = pd.to_datetime(out["label"])
    return out


# ---------------------------------------------------------------------------------------------
# Our examiners: per examiner the insurer uses, its figures on our cases and over the market.
# ---------------------------------------------------------------------------------------------

EXAMINER_COUNTS = (
    "n_exams", "n_adverse", "n_with_decision", "n_denied",
    "n_with_ruling", "n_report_rejected", "n_decision_reversed",
)
EXAMINER_RELATIONS = (
    ("n_exams", ["n_adverse"]),
    ("n_exams", ["n_with_decision"]),
    ("n_with_decision", ["n_denied"]),
    ("n_exams", ["n_with_ruling"]),
    ("n_with_ruling", ["n_report_rejected"]),
    ("n_with_ruling", ["n_decision_reversed"]),
)
ALL_OUR_EXAMINERS = "all these examiners"


@st.cache_data(ttl=data.RESULT_TTL_SECONDS, max_entries=32, show_spinner=False)
def _our_examiners(snap, scope_key: tuple, filters_key: tuple) -> Benchmark:
    scope = Scope(scope_key[0], tuple(scope_key[1]))
    filters = Filters(*filters_key)
    everyone = dataclasses.replace(filters, insurer_id=())
    with data.connection().reading() as con:
        own = queries.run(con, "examiner_counts", scope, filters)
        market = queries.run(con, "examiner_counts", FULL_ACCESS, everyone)
    own = own.set_index("examiner_id", drop=False)
    # Only the examiners the insurer uses, whom it names itself: no other examiner's figures.
    market = market.set_index("examiner_id", drop=False).reindex(own.index)
    frames = []
    for frame in (own, market):
        rows = frame[["examiner_id", *EXAMINER_COUNTS]].astype(
            {c: "int64" for c in EXAMINER_COUNTS}
        )
        total = pd.DataFrame(
            {"examiner_id": [ALL_OUR_EXAMINERS], **{c: [rows[c].sum()] for c in EXAMINER_COUNTS}},
            index=[ALL_OUR_EXAMINERS],
        )
        frames.append(pd.concat([rows, total]))
    own, market = frames
    parts = [i for i in own.index if i != ALL_OUR_EXAMINERS]
    # The rows name examiners the insurer itself sent cases to (id_columns empty: the ids are
    # its own knowledge); each market cell is suppressed where it, or the part of it from
    # other insurers, is small, and rounded to a multiple of k (access.roles).
    presented = for_role(
        own, scope, count_cols=EXAMINER_COUNTS, relations=EXAMINER_RELATIONS,
        prefer=("n_exams", "n_adverse"), id_columns=(),
        margins=[(ALL_OUR_EXAMINERS, parts)],
        market=market, market_margins=[(ALL_OUR_EXAMINERS, parts)],
    )
    typed = presented.typed
    theirs = typed[typed[POPULATION] == MARKET]
    keep = ["examiner_id", *EXAMINER_COUNTS]
    return Benchmark(
        own=own[keep].reset_index(drop=True), market=theirs[keep].reset_index(drop=True)
    )


def our_examiners(filters: Filters) -> Benchmark:
    """Per examiner the insurer uses: its counts on our cases and the market's (suppressed)."""
    scope = data.current_scope()
    if scope.role != "insurer":
        raise PermissionError("Our examiners is an insurer's view")
    return _our_examiners(data.require_snapshot(), (scope.role, scope.insurer_ids),
                          astuple(filters))


# ---------------------------------------------------------------------------------------------
# Tables whose market rows the exports already hold (outputs.tables: time to MMI, impairment).
# ---------------------------------------------------------------------------------------------


@st.cache_data(ttl=data.RESULT_TTL_SECONDS, max_entries=32, show_spinner="Reading the market…")
def _export_rows(snap, scope_key: tuple, filters_key: tuple, what: str) -> pd.DataFrame:
    from outputs.tables import present

    scope = Scope(scope_key[0], tuple(scope_key[1]))
    with data.connection().reading() as con:
        return present(con, what, scope, Filters(*filters_key)).typed.reset_index(drop=True)


def export_rows(what: str, filters: Filters) -> pd.DataFrame:
    """An export table as the insurer may take it: own rows, then market rows (population)."""
    scope = data.current_scope()
    if scope.role != "insurer":
        raise PermissionError("the market benchmark is an insurer's view")
    return _export_rows(data.require_snapshot(), (scope.role, scope.insurer_ids),
                        astuple(filters), what)
