"""What a role may see of an aggregate table: the one place where the role rules are applied.

- **regulator**: every figure as it is, examiner names included.
- **researcher**: aggregates only (never a table with one row per exam, case or decision);
  examiners as stable keyed pseudonyms, names dropped, rows in pseudonym order; every count
  from 1 to k-1 suppressed, with every rate, interval or ratio built on it, and complementary
  suppression wherever a suppressed value could be worked out from the published cells and
  totals; then every count shown rounded to a multiple of k, and the figures built on counts
  recomputed from the rounded counts or coarsened (see "Across outputs"); periods of whole
  calendar years only (`check_filters`).
- **insurer**: its own figures as they are (read under its scope, names dropped); market
  figures only as aggregates over all insurers, without examiner identities, suppressed and
  rounded as for a researcher. The part of a market cell that is not the insurer's own
  (market minus own) is protected too, since the insurer can subtract.

Across outputs (docs/methods.md): whoever holds two tables can subtract them. Suppression protects
one table; it cannot see the other. Hence the rounding: every count a researcher (or an
insurer, in market rows) is shown is 0 or a multiple of the rounding base, and the base is k
itself, so the difference of any two shown counts, in one table or in two exports under any
filters or snapshots, is a multiple of k: never a count from 1 to k-1. A base below k (5, as
OpenSAFELY uses) would not do: differences of 5 and 10 are counts from 1 to 10, and no filter
rule prevents them, since a single examiner's exams outside one jurisdiction or in one year can
be any number. Rates and Wilson intervals are computed from the rounded counts (an exact rate
beside a rounded denominator would give the exact numerator back), and every other figure
built on counts (a mean, a median, an expected count, a ratio, a p- or q-value) is rounded to
`SIGNIFICANT_DIGITS` significant figures. Researchers' periods are whole calendar years, so
that no two exports differ by a few days chosen to hold one case the reader knows of.

The queries already apply the scope where data are read (`queries.run`); this module decides
what of the result a role may take away.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from access.pseudonyms import pseudonymise

# The engine behind imestats.suppression.suppress_counts (line heuristic, then the linear-
# programming audit) is used directly: suppress_counts takes one partition per total column
# and one total row, and an export table links its counts in more ways (see `suppress`).
from imestats.suppression import (
    DEFAULT_K,
    FLAG_SUFFIX,
    Suppressed,
    _protect,
    _Table,
    check_k,
)
from queries import Filters, Scope

# The tables a role may export: all aggregates. Anything else is refused, so that no export
# path can hand a researcher a row-level table.
EXPORTABLE_TABLES = (
    "examiner_rates",
    "insurer_rates",
    "monthly_rates",
    "mmi_summary",
    "impairment_distribution",
    "decision_counts_flags",
    "crosstab",
)
# Columns that only a row-level table has; a researcher never gets them, and nobody gets the
# claimant's pseudonym.
ROW_LEVEL_COLUMNS = ("exam_id", "case_id", "decision_id")
NEVER_SHOWN = ("claimant_id",)
NAME_COLUMNS = ("examiner_name",)


def may_see_names(scope: Scope) -> bool:
    """Examiner names (a professional identity) are the regulator's alone: insurers and
    researchers see ids (researchers, pseudonyms) and never a name."""
    return scope.role == "regulator"


POPULATION = "population"
OWN = "own cases"
MARKET = "market (all insurers)"
# Figures built on counts that are not recomputed from the rounded counts keep this many
# significant figures: enough to read, too few to work a count back from.
SIGNIFICANT_DIGITS = 2
PERIOD_GRAIN = "calendar year"
# Bump when the disclosure rule of this module changes (rounding, grain, order).
DISCLOSURE_VERSION = "2"

# A relation (total column, part columns): in every row the total is at least the sum of
# the parts, and the difference is readable by anyone who has the table.
Relation = tuple[str, Sequence[str]]
# A margin (total row label, part row labels): in every count column the total row is the
# sum of the part rows.
Margin = tuple[Hashable, Sequence[Hashable]]


class NotExportable(PermissionError):
    """A table that is not in the fixed list of aggregate exports."""


@dataclass(frozen=True)
class Presented:
    """A table as a role may see it.

    ``display`` has the text "suppressed" in every hidden cell (for CSV, XLSX and the
    screen); ``typed`` has typed columns, hidden cells missing and a boolean
    ``<column>_suppressed`` beside each column with a hidden cell (for Parquet).
    ``suppression`` describes the rule applied and what it hid, for an export's metadata.
    """

    display: pd.DataFrame
    typed: pd.DataFrame
    suppression: dict[str, object]

    def for_format(self, fmt: str) -> pd.DataFrame:
        """The frame to write in `fmt`: typed for Parquet, which cannot mix text and numbers."""
        return self.typed if fmt == "parquet" else self.display


def check_exportable(name: str) -> str:
    """Return `name` if it is one of the aggregate tables a role may export, else raise."""
    if name not in EXPORTABLE_TABLES:
        raise NotExportable(
            f"{name!r} is not an exportable table; exports are aggregates only: "
            f"{', '.join(EXPORTABLE_TABLES)}"
        )
    return name


def check_filters(scope: Scope, filters: Filters) -> Filters:
    """Return `filters` if `scope` may use them; a researcher's period is whole calendar years.

    Two exports whose periods differ by a few days differ by those days' exams, which a
    reader can choose to hold one case. Whole years keep every difference of periods to whole
    years of exams. The other filters stay open: the rounding of `for_role` keeps any
    difference of counts a multiple of k whatever the filters.
    """
    if scope.role != "researcher":
        return filters
    wrong = []
    if filters.start is not None and (filters.start.month, filters.start.day) != (1, 1):
        wrong.append(f"start {filters.start.isoformat()} is not a 1 January")
    if filters.end is not None and (filters.end.month, filters.end.day) != (12, 31):
        wrong.append(f"end {filters.end.isoformat()} is not a 31 December")
    if wrong:
        raise ValueError(
            f"a researcher's period is whole calendar years ({'; '.join(wrong)}): start on "
            "1 January and end on 31 December, e.g. --start 2024-01-01 --end 2024-12-31, or "
            "leave either open"
        )
    return filters


def whole_years(filters: Filters) -> Filters:
    """The filters with the period widened to whole calendar years (for a researcher's page)."""
    start = filters.start and dt.date(filters.start.year, 1, 1)
    end = filters.end and dt.date(filters.end.year, 12, 31)
    return dataclasses.replace(filters, start=start, end=end)


def round_to_base(values: pd.Series, base: int) -> pd.Series:
    """Non-negative integer counts rounded to the nearest multiple of `base` (halves up)."""
    counts = values.astype("Int64")
    rounded = (counts + base // 2) // base * base
    return rounded.astype(values.dtype) if values.dtype != object else rounded


def significant(values: pd.Series, digits: int = SIGNIFICANT_DIGITS) -> pd.Series:
    """Numbers rounded to `digits` significant figures; missing and infinite stay as they are."""
    x = values.astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
    finite = np.isfinite(x) & (x != 0)
    magnitude = np.floor(np.log10(np.abs(np.where(finite, x, 1.0))))
    scale = 10.0 ** (digits - 1 - magnitude)
    out = np.where(finite, np.round(x * scale) / scale, x)
    dtype = values.dtype if pd.api.types.is_float_dtype(values.dtype) else "Float64"
    return pd.Series(out, index=values.index, name=values.name).astype(dtype)


def suppress(
    df: pd.DataFrame,
    count_cols: Sequence[str],
    derived: Mapping[str, Iterable[str]] | None = None,
    k: int = DEFAULT_K,
    *,
    relations: Iterable[Relation] = (),
    margins: Iterable[Margin] = (),
    prefer: Iterable[str] = (),
    robust: Iterable[str] = (),
) -> Suppressed:
    """Primary and complementary suppression of a table whose counts are linked in several ways.

    Parameters
    ----------
    df : DataFrame
        One row per category, with a unique index.
    count_cols : sequence of str
        Count columns (non-negative integers; a missing value means "not computed" and is
        treated as a known zero).
    derived : mapping of str to iterable of str, optional
        Each column built on counts of the same row (a rate, interval, ratio, expected
        count, p- or q-value, flag) and the count columns it is built on.
    k : int, default 11
        Counts from 1 to k-1 are suppressed; at least 11.
    relations : iterable of (str, sequence of str)
        Row-wise links: the total column is at least the sum of the part columns, and the
        difference (a count itself) must not be readable when it is small. A total may
        appear in several relations (exams: with a decision; rated; adverse; ...).
    margins : iterable of (label, sequence of labels)
        Column-wise links: the total row is the sum of the part rows in every count column
        (where the total is not missing). A margin without parts marks a total row whose
        parts are not in the table.
    prefer : iterable of str
        Count columns to keep visible where a choice exists (the denominators of the main
        rates). Where a row's difference between such a total and its parts is small, the
        parts are hidden to protect it, before the complements are chosen.
    robust : iterable of str
        Derived columns hidden only where one of their sources is a small count (from 1 to
        k-1), not where a source is hidden to protect another cell: model-based figures
        (a model's odds ratio, its interval, p, q, flag), published to
        `SIGNIFICANT_DIGITS` significant figures, from which no count can be worked back.
        A ratio whose two sides each hold at least k exams is then published even where a
        side's count is hidden to protect a small difference.

    Returns
    -------
    Suppressed
        As `imestats.suppression.suppress_counts` returns it.

    Notes
    -----
    `imestats.suppression.suppress_counts` takes one partition per total column and one
    total row. An export table links its counts in more ways than that (exams contain the
    exams with a decision and, separately, the rated exams; several margins), and a cell
    protected in one hierarchy could be pinned through another. The lines of every relation
    and margin therefore go into one system, which the same engine (line heuristic, then
    the linear-programming audit until no small cell or small difference is pinned)
    protects as a whole.
    """
    k = check_k(k)
    count_cols = list(count_cols)
    derived = {col: list(sources) for col, sources in (derived or {}).items()}
    relations = [(total, list(parts)) for total, parts in relations]
    margins = [(total, list(parts)) for total, parts in margins]
    _check(df, count_cols, derived, relations, margins)

    n_rows = len(df)
    grid = df[count_cols].astype("Float64").fillna(0).to_numpy(dtype="float64")
    cell = np.arange(grid.size).reshape(grid.shape, order="F")
    column = {c: j for j, c in enumerate(count_cols)}
    is_total = np.zeros(grid.size, dtype=bool)
    lines: list[tuple[np.ndarray, np.ndarray]] = []
    missing = df[count_cols].isna().to_numpy()
    for total, parts in filter(lambda margin: margin[1], margins):
        t = df.index.get_loc(total)
        rows = [df.index.get_loc(p) for p in parts]
        sums = grid[rows].sum(axis=0)
        # A missing total is not published, so it gives a reader no line.
        shown = ~missing[t]
        if not np.array_equal(grid[t][shown], sums[shown]):
            j = int(np.flatnonzero(shown & (grid[t] != sums))[0])
            raise ValueError(
                f"margin {total!r}, column {count_cols[j]!r}: the total holds {grid[t, j]:g} "
                f"but its parts sum to {sums[j]:g}"
            )
        is_total[cell[t]] = True
        for j in np.flatnonzero(shown):
            ids = np.concatenate([[cell[t, j]], cell[rows, j]])
            lines.append((ids, np.concatenate([[-1.0], np.ones(len(rows))])))
    hidden = []
    prefer = set(prefer)
    steered = np.zeros(grid.size, dtype=bool)
    for total, parts in relations:
        j = column[total]
        part_js = [column[p] for p in parts]
        remainder = grid[:, j] - grid[:, part_js].sum(axis=1)
        if (remainder < 0).any():
            row = df.index[int(np.flatnonzero(remainder < 0)[0])]
            raise ValueError(f"row {row!r}: {total!r} is smaller than the sum of {parts}")
        is_total[cell[:, j]] = True
        lesser = [column[p] for p in parts if p not in prefer]
        if total in prefer and lesser:
            # The engine would rather hide the total, which closes several small differences
            # at once but takes the main rates with it: hide the smallest lesser part instead
            # (the audit that follows adds more if that is not enough).
            values = np.where(grid[:, lesser] > 0, grid[:, lesser], np.inf)
            pick = np.asarray(lesser)[values.argmin(axis=1)]
            small = (remainder >= 1) & (remainder < k) & np.isfinite(values.min(axis=1))
            steered[cell[np.flatnonzero(small), pick[small]]] = True
        for i in range(n_rows):
            ids = [cell[i, j], *cell[i, part_js]]
            # A zero difference is taken as known, which can only protect more.
            if remainder[i] > 0:
                ids.append(grid.size + len(hidden))
                hidden.append(remainder[i])
            coef = np.ones(len(ids))
            coef[0] = -1.0
            lines.append((np.array(ids), coef))

    values = np.concatenate([grid.ravel(order="F"), hidden])
    published = np.arange(values.size) < grid.size
    table = _Table(
        values=values,
        published=published,
        is_total=np.concatenate([is_total, np.zeros(len(hidden), dtype=bool)]),
        lines=lines,
    )
    sensitive = (values >= 1) & (values < k)
    hidden_cells = (sensitive & published) | np.concatenate([steered, np.zeros(len(hidden), bool)])
    _protect(table, hidden_cells, sensitive)
    return _result(df, count_cols, derived, k, hidden_cells[: grid.size], sensitive[: grid.size],
                   robust)


def _result(
    df: pd.DataFrame,
    count_cols: list[str],
    derived: dict[str, list[str]],
    k: int,
    hidden: np.ndarray,
    primary: np.ndarray,
    robust: Iterable[str] = (),
) -> Suppressed:
    """The Suppressed result from flat (column-major) masks of the count cells.

    A derived column is hidden where one of its sources is, a `robust` one (see `suppress`)
    only where one of its sources is a small count.
    """
    shape = (len(df), len(count_cols))
    mask = pd.DataFrame(False, index=df.index, columns=df.columns)
    primary_mask = mask.copy()
    mask[count_cols] = hidden.reshape(shape, order="F")
    primary_mask[count_cols] = primary.reshape(shape, order="F")
    robust = set(robust)
    for col, sources in derived.items():
        mask[col] = (primary_mask if col in robust else mask)[sources].any(axis=1)
    return Suppressed(values=df, mask=mask, primary=primary_mask, k=k, count_cols=tuple(count_cols))


def _check(
    df: pd.DataFrame,
    count_cols: list[str],
    derived: dict[str, list[str]],
    relations: list[tuple[str, list[str]]],
    margins: list[tuple[Hashable, list[Hashable]]],
) -> None:
    """Refuse a table whose declaration could let a figure out unprotected."""
    if not count_cols:
        raise ValueError("count_cols is empty: name the count columns to suppress")
    if not df.index.is_unique:
        raise ValueError("the table's index has duplicate labels; give each row a unique label")
    named = set(count_cols) | set(derived) | {c for s in derived.values() for c in s}
    named |= {t for t, _ in relations} | {c for _, p in relations for c in p}
    missing = sorted(named - set(df.columns))
    if missing:
        raise ValueError(f"columns not in the table: {missing}; the table has {list(df.columns)}")
    for col, sources in derived.items():
        if col in count_cols or not sources or not set(sources) <= set(count_cols):
            raise ValueError(f"derived column {col!r} must be built on count columns: {sources}")
    for total, parts in relations:
        if not {total, *parts} <= set(count_cols) or total in parts:
            raise ValueError(f"relation {total!r} >= {parts}: all must be count columns")
    labels = {t for t, _ in margins} | {p for _, ps in margins for p in ps}
    unknown = [label for label in labels if label not in df.index]
    if unknown:
        raise ValueError(f"margin rows {unknown} are not row labels of the table")
    # Any number not declared could be a rate built on a small count: refuse it.
    undeclared = [
        c for c in df.columns
        if pd.api.types.is_float_dtype(df[c]) and c not in set(count_cols) | set(derived)
    ]
    if undeclared:
        raise ValueError(
            f"numeric columns {undeclared} are neither counts nor declared in `derived`"
        )
    for col in count_cols:
        values = pd.to_numeric(df[col], errors="coerce").astype("Float64")
        bad = values.notna() & ((values < 0) | (values != values.round()))
        bad |= df[col].notna() & values.isna()
        if bad.any():
            row = df.index[int(np.flatnonzero(bad.to_numpy(dtype=bool))[0])]
            raise ValueError(
                f"count column {col!r}, row {row!r}: {df.at[row, col]!r} is not a "
                "non-negative integer"
            )


def _pseudonymous(
    frame: pd.DataFrame, id_columns: Sequence[str], keep_rows: Iterable[Hashable]
) -> pd.DataFrame:
    """Examiner ids replaced by pseudonyms, names dropped; total rows keep their label."""
    keep = frame.index.isin(list(keep_rows))
    out = frame.drop(columns=[c for c in NAME_COLUMNS if c in frame.columns])
    for col in [c for c in id_columns if c in out.columns]:
        name = col.removesuffix("_id")
        # Only the id column goes through pseudonymise: a frame of many typed columns is
        # put back together in one concat rather than by insertion.
        labels = pseudonymise(out[[col]], id_column=col, out_column=name)[name]
        labels = labels.mask(keep, out[col].astype("string"))
        at = out.columns.get_loc(col)
        out = pd.concat([out.iloc[:, :at], labels, out.iloc[:, at + 1 :]], axis=1)
    return out


# Rebuilds derived columns (rates, intervals) from a frame's counts: for_role passes the
# rounded counts, and takes back the columns it returns.
Recompute = Callable[[pd.DataFrame], pd.DataFrame]


def _coarsened(
    result: Suppressed, derived: Mapping[str, Iterable[str]], recompute: Recompute | None
) -> Suppressed:
    """Counts rounded to a multiple of k, derived figures recomputed from them or coarsened.

    Suppression was decided on the exact counts; the mask is unchanged. A derived column
    that `recompute` returns is rebuilt from the rounded counts; any other numeric derived
    column keeps `SIGNIFICANT_DIGITS` significant figures; booleans (flags) stay as they are.
    """
    values = result.values.copy()
    for col in result.count_cols:
        values[col] = round_to_base(values[col], result.k)
    rebuilt = recompute(values) if recompute is not None else pd.DataFrame(index=values.index)
    for col in derived:
        series = values[col]
        if col in rebuilt:
            values[col] = rebuilt[col].astype(series.dtype)
        elif pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            values[col] = significant(series)
    return dataclasses.replace(result, values=values)


def _disclosure(rule: dict[str, object], k: int, period_grain: str) -> dict[str, object]:
    """The suppression rule with the rounding that holds across outputs, for the metadata."""
    return {
        **rule,
        "rounding_base": k,
        "rounding": (
            f"after suppression every count shown is rounded to the nearest multiple of {k} "
            "(halves up); a true zero is shown as 0; rates and their intervals are computed "
            "from the rounded counts; every other figure built on counts (means, medians, "
            "expected counts, ratios, p- and q-values) is rounded to "
            f"{SIGNIFICANT_DIGITS} significant figures"
        ),
        "across_outputs": (
            f"any two counts shown, in this export or in another under any filters, differ "
            f"by a multiple of {k}: never by a count from 1 to {k - 1}"
        ),
        "period_grain": period_grain,
        "row_order": "pseudonymised rows in pseudonym order, each total after its rows",
        "disclosure_version": DISCLOSURE_VERSION,
    }


def _in_pseudonym_order(
    frames: tuple[pd.DataFrame, pd.DataFrame], labels: Sequence[str], margins: Sequence[Margin]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both frames with the rows of each margin sorted by pseudonym, its total after them.

    The rows came in the order of the raw ids, which a reader of another export (a
    regulator's) could line up with the pseudonyms row by row. The index (raw ids) goes too.
    """
    first = frames[0]
    key = first[list(labels)].astype("string").fillna("").agg("|".join, axis=1)
    order: list[Hashable] = []
    for total, parts in margins:
        order += sorted((p for p in parts if p in first.index), key=key.__getitem__)
        order.append(total)
    placed = set(order)
    order += sorted((i for i in first.index if i not in placed), key=key.__getitem__)
    return tuple(f.loc[order].reset_index(drop=True) for f in frames)


def _no_suppression(why: str) -> dict[str, object]:
    return {"rule": f"none: {why}", "k": None, "cells_suppressed": 0}


def _check_columns_allowed(df: pd.DataFrame, role: str) -> None:
    shown = [c for c in NEVER_SHOWN if c in df.columns]
    if shown:
        raise PermissionError(f"columns {shown} are claimant identifiers and are never shown")
    row_level = [c for c in ROW_LEVEL_COLUMNS if c in df.columns]
    if role != "regulator" and row_level:
        raise PermissionError(
            f"a {role} gets aggregates only; this table has row-level columns {row_level}"
        )


def for_role(
    df: pd.DataFrame,
    scope: Scope,
    *,
    count_cols: Sequence[str],
    derived: Mapping[str, Iterable[str]] | None = None,
    k: int = DEFAULT_K,
    id_columns: Sequence[str] = ("examiner_id",),
    relations: Iterable[Relation] = (),
    margins: Iterable[Margin] = (),
    market: pd.DataFrame | None = None,
    market_margins: Iterable[Margin] = (),
    prefer: Iterable[str] = (),
    recompute: Recompute | None = None,
    robust: Iterable[str] = (),
) -> Presented:
    """The table as `scope` may see it.

    Parameters
    ----------
    df : DataFrame
        The aggregate read under `scope` (for an insurer: its own cases), indexed by a
        unique row label, total rows included.
    scope : Scope
        Who is reading.
    count_cols, derived, k, relations, margins, prefer, robust
        As `suppress`: the counts, the columns built on them, the threshold (at least 11),
        how the counts add up, the counts to keep visible where a choice exists, and the
        model-based figures hidden only where a count they rest on is small.
    id_columns : sequence of str
        Columns holding examiner (or decision-maker) ids: pseudonymised for a researcher,
        and in an insurer's market rows. The total rows keep their label.
    market : DataFrame, optional
        For an insurer: the same aggregate read over all insurers (same columns; its row
        labels include those of `df`'s rows it aggregates, e.g. the total). Ignored for
        other roles.
    market_margins : iterable of (label, sequence of labels)
        How the market rows add up.
    recompute : callable, optional
        Rebuilds derived columns (rates and their intervals) from a frame of counts: called
        with the rounded counts of suppressed rows (researcher, insurer's market), and the
        columns it returns replace the exact ones. Derived numbers it does not return are
        rounded to `SIGNIFICANT_DIGITS` significant figures.

    Returns
    -------
    Presented
        For an insurer, own rows then market rows, with a leading `population` column.
        Pseudonymised rows come in pseudonym order, with a plain row number as index.
    """
    _check_columns_allowed(df, scope.role)
    count_cols = list(count_cols)
    relations = [(t, list(p)) for t, p in relations]
    margins = [(t, list(p)) for t, p in margins]
    if scope.role == "regulator":
        return Presented(df, df, _no_suppression("a regulator sees every figure"))
    derived = {col: list(sources) for col, sources in (derived or {}).items()}
    if scope.role == "researcher":
        exact = suppress(df, count_cols, derived, k, relations=relations, margins=margins,
                         prefer=prefer, robust=robust)
        result = _coarsened(exact, derived, recompute)
        totals = [t for t, _ in margins]
        display = _pseudonymous(result.display, id_columns, totals)
        typed = _pseudonymous(result.flagged(), id_columns, totals)
        labels = [c.removesuffix("_id") for c in id_columns if c in df.columns]
        if labels:
            display, typed = _in_pseudonym_order((display, typed), labels, margins)
        return Presented(display, typed, _disclosure(result.rule(), result.k, PERIOD_GRAIN))

    own = _with_population(df, OWN)
    if market is None:
        reason = "an insurer's own cases only; this table has no market figures"
        return Presented(own, own, _no_suppression(reason))
    _check_columns_allowed(market, scope.role)
    market_margins = [(t, list(p)) for t, p in market_margins]
    totals = [t for t, _ in market_margins]
    # Market rows never name an examiner beside the insurer's own: only a table of market
    # rows alone (published decision counts) may list them, and then as pseudonyms.
    named = [
        c for c in id_columns
        if c in market.columns and market.drop(index=totals)[c].notna().any()
    ]
    if named and not df.empty:
        raise ValueError(f"market rows would name examiners ({named}) beside own rows")
    # Market figures keep the stricter rule (no `robust`): a cell is hidden with its sources.
    result = _suppress_market(
        df, market, count_cols, derived, k, relations, market_margins, list(prefer)
    )
    result = _coarsened(result, derived, recompute)
    display = _pseudonymous(result.display, named, totals)
    typed = _pseudonymous(result.flagged(), named, totals)
    if named:
        labels = [c.removesuffix("_id") for c in named]
        display, typed = _in_pseudonym_order((display, typed), labels, market_margins)
    display, typed = _with_population(display, MARKET), _with_population(typed, MARKET)
    rule = {
        **_disclosure(result.rule(), result.k,
                      "any: the insurer's own rows are its own, the market rows are rounded"),
        "applies_to": f"rows whose {POPULATION} is {MARKET!r}",
    }
    if df.empty:
        return Presented(display, typed, rule)
    flags = [c for c in typed.columns if c.endswith(FLAG_SUFFIX)]
    own_typed = own.assign(**dict.fromkeys(flags, False))
    return Presented(
        pd.concat([own, display]),
        pd.concat([own_typed, typed])[typed.columns],
        rule,
    )


def _with_population(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    """The frame without examiner names, led by a column saying whose cases it counts."""
    columns = [c for c in frame.columns if c not in NAME_COLUMNS]
    return frame[columns].assign(**{POPULATION: label})[[POPULATION, *columns]]


def _suppress_market(
    own: pd.DataFrame,
    market: pd.DataFrame,
    count_cols: list[str],
    derived: Mapping[str, Iterable[str]] | None,
    k: int,
    relations: list[tuple[str, list[str]]],
    margins: list[tuple[Hashable, list[Hashable]]],
    prefer: list[str],
) -> Suppressed:
    """Suppress market cells that are small, or whose other-insurer part is small.

    The insurer knows its own figures, so a market cell reveals the market minus own: the
    other insurers' count. Both tables are protected with the same lines; the union of the
    two masks protects both, since hiding more cells never narrows what a reader can infer.
    """
    aligned = own[count_cols].reindex(market.index).astype("Float64").fillna(0)
    others = market.copy()
    # A missing market count stays missing (not published), whatever the own count.
    others[count_cols] = (market[count_cols].astype("Float64") - aligned).astype("Int64")
    if (others[count_cols] < 0).any().any():
        raise ValueError("an own count exceeds the market count: the two were read differently")
    by_market = suppress(market, count_cols, derived, k, relations=relations, margins=margins,
                         prefer=prefer)
    by_others = suppress(others, count_cols, derived, k, relations=relations, margins=margins,
                         prefer=prefer)
    hidden = (by_market.mask[count_cols] | by_others.mask[count_cols]).to_numpy()
    return _result(
        market, count_cols,
        {col: list(sources) for col, sources in (derived or {}).items()}, k,
        hidden.ravel(order="F"), by_market.primary[count_cols].to_numpy().ravel(order="F"),
    )
