"""Small-cell suppression of count tables: primary, derived and complementary (docs/methods.md).

A table is a DataFrame whose count columns hold non-negative integers, optionally with
margins: a row of column totals (``total_row``) and, in each row, count columns that are the
sum of others (``row_totals``). Primary suppression hides every count from 1 to k-1; a true
zero stays visible. Every rate, interval or ratio column declared in ``derived`` is hidden
wherever a count it is built on is hidden. Complementary suppression then hides further
cells until no hidden cell can be worked out from the published cells and margins.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import linprog

SUPPRESSED = "suppressed"
DEFAULT_K = 11
MIN_K = 11
FLAG_SUFFIX = "_suppressed"
# Bump when the rule changes, so that an export's metadata says which rule produced it.
RULE_VERSION = "1"

# How far a solver must move a cell, within a unit box, to show that the cell is not pinned.
# Well above solver tolerances; a real move smaller than this is treated as none, which can
# only hide more.
_MOVED = 1e-3


@dataclass(frozen=True)
class Suppressed:
    """A table after suppression.

    ``values`` is the input, unchanged. ``mask`` and ``primary`` are boolean frames of the
    same shape: ``mask`` is True for every hidden cell (primary, complementary or derived),
    ``primary`` only for counts from 1 to k-1. ``count_cols`` are the count columns.
    """

    values: pd.DataFrame
    mask: pd.DataFrame
    primary: pd.DataFrame
    k: int
    count_cols: tuple[str, ...]

    @property
    def display(self) -> pd.DataFrame:
        """The table to show or export as text: hidden cells read ``"suppressed"``."""
        out = self.values.copy()
        for col in self.mask.columns[self.mask.any()]:
            out[col] = self.values[col].astype(object).where(~self.mask[col], SUPPRESSED)
        return out

    def flagged(self) -> pd.DataFrame:
        """The table with typed columns: hidden cells are missing and flagged.

        Each column that has a hidden cell becomes a nullable column followed by a boolean
        ``<column>_suppressed``, so that a suppressed cell (missing, flag True), a true zero
        and a value missing from the data (missing, flag False) stay distinct in formats
        that cannot mix text and numbers, such as Parquet.
        """
        parts = {}
        for col in self.values.columns:
            series = self.values[col]
            if self.mask[col].any():
                parts[col] = _nullable(series).mask(self.mask[col])
                parts[col + FLAG_SUFFIX] = self.mask[col]
            else:
                parts[col] = series
        return pd.DataFrame(parts, index=self.values.index)

    def rule(self) -> dict[str, object]:
        """The rule applied and what it hid, for an export's metadata."""
        return {
            "rule": (
                f"CMS cell size suppression: counts from 1 to {self.k - 1} are suppressed, "
                "zero is shown; rates, intervals and ratios built on a suppressed count are "
                "suppressed; complementary suppression until no suppressed cell can be "
                "derived from the published cells and totals"
            ),
            "k": self.k,
            "version": RULE_VERSION,
            "counts_primary": int(self.primary.to_numpy().sum()),
            "counts_suppressed": int(self.mask[list(self.count_cols)].to_numpy().sum()),
            "cells_suppressed": int(self.mask.to_numpy().sum()),
        }


def _nullable(series: pd.Series) -> pd.Series:
    """The series in a dtype that can hold a missing value without changing its numbers."""
    if pd.api.types.is_integer_dtype(series):
        return series.astype("Int64")
    if pd.api.types.is_float_dtype(series):
        return series.astype("Float64")
    return series.astype(object)


@dataclass
class _Table:
    """Cells and additive lines: in each line, the total cell equals the sum of the parts.

    Cells are the published counts, then hidden remainders (a row total minus the parts that
    are published), which a reader cannot see but which must not be derivable when small.
    """

    values: np.ndarray
    published: np.ndarray
    is_total: np.ndarray
    lines: list[tuple[np.ndarray, np.ndarray]]  # (cell ids, +1 for a part, -1 for the total)


def check_k(k: int) -> int:
    """Return k if it is an integer of at least 11 (the threshold is configurable upward only).

    Raises ValueError otherwise (a float, a bool or NaN included).
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < MIN_K:
        raise ValueError(
            f"suppression threshold k={k!r} is not allowed: it must be an integer of at least "
            f"{MIN_K} (CMS cell size policy; it can be raised, never lowered)"
        )
    return int(k)


def suppress_counts(
    df: pd.DataFrame,
    count_cols: Sequence[str],
    k: int = DEFAULT_K,
    derived: Mapping[str, Iterable[str]] | None = None,
    *,
    total_row: Hashable | None = None,
    row_totals: Mapping[str, Iterable[str]] | None = None,
    keep: Iterable[str] = (),
) -> Suppressed:
    """Suppress small counts in a table, with what could reveal them.

    Parameters
    ----------
    df : DataFrame
        One row per category, with a unique index. A two-way table is passed wide: one count
        column per column category, plus its margin column and margin row.
    count_cols : sequence of str
        Columns of counts (non-negative integers), each subject to suppression.
    k : int, default 11
        Counts from 1 to k-1 are suppressed. At least 11; a lower value raises ValueError.
    derived : mapping of str to iterable of str, optional
        Each rate, interval or ratio column and the count columns (same row) it is built on.
    total_row : hashable, optional
        Index label of the row holding the total of every count column over the other rows.
        A one-way table with a published total is a frame with such a row.
    row_totals : mapping of str to iterable of str, optional
        Count columns that are, in every row, the total of the listed count columns. The
        parts need not cover the total: ``{"n_exams": ["n_adverse"]}`` says that
        n_exams - n_adverse is readable from the table, so it is protected like a cell.
    keep : iterable of str
        Float columns that are not built on the counts and are published as they are. Any
        other float column not in ``count_cols`` or ``derived`` raises ValueError, so that
        a rate cannot leak by being left undeclared.

    Returns
    -------
    Suppressed
        The mask of hidden cells, the primary mask and the display table. An empty table
        gives empty masks.

    Raises
    ------
    ValueError
        If ``k`` is not an integer of at least 11; if ``count_cols`` is empty; if a named
        column is not in the table; if a count is missing, negative or fractional; if the
        index has duplicate labels; if ``derived``, ``row_totals`` or ``total_row`` do not
        fit the count columns, the total row is not the sum of the other rows or a row
        total is below the sum of its parts; or if a float column is left undeclared.

    Notes
    -----
    Complementary suppression is the heuristic of docs/methods.md: while some line (a column
    with its total row, or a row total with its parts) has exactly one unknown cell that is
    suppressed or small, hide the smallest non-zero published cell of that line, preferring
    a part to a total. Zeros are never used, as a zero is often known to be empty. A line
    rule is not enough in general (a cell can be pinned through a chain of lines), so the
    result is then audited by linear programming: for every small cell, the smallest and
    largest value consistent with the published cells, the line equations and the bounds a
    reader knows (a suppressed cell is at least 1, since zeros are shown). A cell whose
    interval has width zero gets another complement in one of its lines, and the heuristic
    and audit repeat until no small cell is pinned. For two-way tables with margins the
    constraint matrix is totally unimodular, so an interval of positive width holds at
    least two integer solutions.

    References
    ----------
    Centers for Medicare & Medicaid Services, "CMS Cell Size Suppression Policy",
    ResDAC, 2024.
    Fischetti M, Salazar-Gonzalez JJ. "Models and algorithms for optimizing cell suppression
    in tabular data with linear constraints." Management Science 45(11):1540-1551, 1999.
    """
    k = check_k(k)
    count_cols = list(count_cols)
    derived = {col: list(sources) for col, sources in (derived or {}).items()}
    row_totals = {col: list(parts) for col, parts in (row_totals or {}).items()}
    _check_columns(df, count_cols, derived, row_totals, set(keep), total_row)

    table = _build_table(df, count_cols, total_row, row_totals)
    sensitive = (table.values >= 1) & (table.values < k)
    suppressed = sensitive & table.published
    _protect(table, suppressed, sensitive)

    n_rows = len(df)
    shape = (n_rows, len(count_cols))
    count_mask = suppressed[: n_rows * len(count_cols)].reshape(shape, order="F")
    count_primary = (sensitive & table.published)[: n_rows * len(count_cols)].reshape(
        shape, order="F"
    )
    mask = pd.DataFrame(False, index=df.index, columns=df.columns)
    primary = mask.copy()
    mask[count_cols] = count_mask
    primary[count_cols] = count_primary
    for col, sources in derived.items():
        mask[col] = mask[sources].any(axis=1)
    return Suppressed(values=df, mask=mask, primary=primary, k=k, count_cols=tuple(count_cols))


def _check_columns(
    df: pd.DataFrame,
    count_cols: list[str],
    derived: dict[str, list[str]],
    row_totals: dict[str, list[str]],
    keep: set[str],
    total_row: Hashable | None,
) -> None:
    if not count_cols:
        raise ValueError("count_cols is empty: name the count columns to suppress")
    if not df.index.is_unique:
        raise ValueError("the table's index has duplicate labels; give each row a unique label")
    named = set(count_cols) | set(derived) | {c for s in derived.values() for c in s}
    named |= set(row_totals) | {c for p in row_totals.values() for c in p} | keep
    missing = sorted(named - set(df.columns))
    if missing:
        raise ValueError(f"columns not in the table: {missing}; the table has {list(df.columns)}")
    for col, sources in derived.items():
        not_counts = [s for s in sources if s not in count_cols]
        if col in count_cols or not sources or not_counts:
            raise ValueError(
                f"derived column {col!r} must be built on count columns, not be one: "
                f"sources {sources}, count columns {count_cols}"
            )
    for col, parts in row_totals.items():
        if col not in count_cols or not set(parts) <= set(count_cols) or col in parts:
            raise ValueError(
                f"row total {col!r} and its parts {parts} must all be count columns "
                f"({count_cols}), and a total cannot be its own part"
            )
    undeclared = [
        c for c in df.columns
        if pd.api.types.is_float_dtype(df[c]) and c not in set(count_cols) | set(derived) | keep
    ]
    if undeclared:
        raise ValueError(
            f"float columns {undeclared} are neither counts nor declared in `derived`: declare "
            "the counts each is built on, pass them in `keep` if they do not depend on the "
            "counts, or drop them"
        )
    if total_row is not None and total_row not in df.index:
        raise ValueError(f"total_row {total_row!r} is not a row label of the table")
    for col in count_cols:
        values = pd.to_numeric(df[col], errors="coerce").astype("float64").to_numpy()
        bad = np.flatnonzero(~np.isfinite(values) | (values < 0) | (values != np.round(values)))
        if bad.size:
            row = df.index[bad[0]]
            raise ValueError(
                f"count column {col!r}, row {row!r}: {df[col].iloc[bad[0]]!r} is not a "
                "non-negative integer"
            )


def _build_table(
    df: pd.DataFrame,
    count_cols: list[str],
    total_row: Hashable | None,
    row_totals: dict[str, list[str]],
) -> _Table:
    n_rows = len(df)
    grid = df[count_cols].to_numpy(dtype="float64")
    # Published cell id: column position * n_rows + row position (column-major).
    cell_id = np.arange(grid.size).reshape(grid.shape, order="F")
    values = list(grid.ravel(order="F"))
    is_total = np.zeros(grid.size, dtype=bool)
    lines = []

    if total_row is not None:
        t = df.index.get_loc(total_row)
        others = np.delete(np.arange(n_rows), t)
        for j, col in enumerate(count_cols):
            if grid[t, j] != grid[others, j].sum():
                raise ValueError(
                    f"column {col!r}: the total row {total_row!r} holds {grid[t, j]:g} but the "
                    f"other rows sum to {grid[others, j].sum():g}; pass a table whose total row "
                    "is the sum of its rows, or no total_row"
                )
            is_total[cell_id[t, j]] = True
            ids = np.concatenate([[cell_id[t, j]], cell_id[others, j]])
            lines.append((ids, np.concatenate([[-1.0], np.ones(len(others))])))

    hidden_values = []
    for col, parts in row_totals.items():
        j = count_cols.index(col)
        part_js = [count_cols.index(p) for p in parts]
        remainder = grid[:, j] - grid[:, part_js].sum(axis=1)
        if (remainder < 0).any():
            row = df.index[int(np.flatnonzero(remainder < 0)[0])]
            raise ValueError(
                f"row {row!r}: {col!r} is smaller than the sum of its parts {parts}"
            )
        is_total[cell_id[:, j]] = True
        for i in range(n_rows):
            ids = [cell_id[i, j], *cell_id[i, part_js]]
            # A zero remainder is taken as known (the parts may be complete), which can only
            # make the protection stricter than a reader's real knowledge.
            if remainder[i] > 0:
                ids.append(grid.size + len(hidden_values))
                hidden_values.append(remainder[i])
            coef = np.ones(len(ids))
            coef[0] = -1.0
            lines.append((np.array(ids), coef))

    values = np.array(values + hidden_values)
    published = np.arange(values.size) < grid.size
    is_total = np.concatenate([is_total, np.zeros(len(hidden_values), dtype=bool)])
    return _Table(values=values, published=published, is_total=is_total, lines=lines)


def _protect(table: _Table, suppressed: np.ndarray, sensitive: np.ndarray) -> None:
    """Add complementary suppressions to `suppressed` in place until no small cell is pinned."""
    while True:
        _line_rule(table, suppressed, sensitive)
        pinned = _pinned_cells(table, suppressed, sensitive)
        if not pinned:
            return
        # One complement at a time: it may free other pinned cells too.
        lines = [ids for ids, _ in table.lines if pinned[0] in ids]
        candidates = _candidates(table, suppressed, lines)
        if not candidates.size:
            # Every cell beside it is hidden: widen to any line with a hidden cell.
            unknown = suppressed | ~table.published
            lines = [ids for ids, _ in table.lines if unknown[ids].any()]
            candidates = _candidates(table, suppressed, lines)
        suppressed[_smallest(table, candidates)] = True


def _line_rule(table: _Table, suppressed: np.ndarray, sensitive: np.ndarray) -> None:
    """Suppress complements until no line has exactly one unknown cell that needs protection."""
    changed = True
    while changed:
        changed = False
        for ids, _ in table.lines:
            unknown = ids[suppressed[ids] | ~table.published[ids]]
            if len(unknown) == 1 and (suppressed[unknown[0]] or sensitive[unknown[0]]):
                # Such a line always has a non-zero published cell left: its total if the
                # unknown cell is a part, else a part (the parts sum to a non-zero total).
                candidates = _candidates(table, suppressed, [ids])
                exposed = _exposed(table, suppressed, sensitive)
                suppressed[_smallest(table, candidates, exposed)] = True
                changed = True


def _exposed(table: _Table, suppressed: np.ndarray, sensitive: np.ndarray) -> np.ndarray:
    """For each cell, how many of its lines have one unknown cell, which needs protection."""
    unknown = suppressed | ~table.published
    exposed = np.zeros(table.values.size, dtype=int)
    for ids, _ in table.lines:
        alone = ids[unknown[ids]]
        if len(alone) == 1 and (suppressed[alone[0]] or sensitive[alone[0]]):
            exposed[ids] += 1
    return exposed


def _candidates(table: _Table, suppressed: np.ndarray, lines: list[np.ndarray]) -> np.ndarray:
    ids = np.unique(np.concatenate(lines)) if lines else np.array([], dtype=int)
    return ids[table.published[ids] & ~suppressed[ids] & (table.values[ids] > 0)]


def _smallest(table: _Table, candidates: np.ndarray, exposed: np.ndarray | None = None) -> int:
    """The cell to hide among `candidates`.

    First one that also protects a second exposed line (fewer cells hidden in all), then
    the smallest, then a part before a total, then the first in table order.
    """
    if exposed is None:
        exposed = np.zeros(table.values.size, dtype=int)
    return int(
        min(candidates, key=lambda c: (exposed[c] < 2, table.values[c], table.is_total[c], c))
    )


def _pinned_cells(table: _Table, suppressed: np.ndarray, sensitive: np.ndarray) -> list[int]:
    """Small cells whose value a reader can solve for exactly from what is published.

    A cell is pinned when every solution of the line equations, within the bounds a reader
    knows, gives it its true value. The solutions form a convex set, so a cell that can move
    at all can move within a unit box around the true values; bounding the search to that
    box keeps every linear programme finite. A few programmes over all cells at once clear
    most cells (any solution that moves a cell proves it is not pinned); the rest get one
    programme each way.
    """
    unknown = np.flatnonzero(suppressed | ~table.published)
    position = {cell: j for j, cell in enumerate(unknown)}
    a_eq, b_eq = _equations(table, unknown, position)
    truth = table.values[unknown]
    # A suppressed published cell is known to be at least 1 (zeros are shown); a hidden
    # remainder could be anything from 0.
    lower = np.where(table.published[unknown], 1.0, 0.0)
    bounds = np.column_stack([np.maximum(lower, truth - 1.0), truth + 1.0])

    def moved(objective: np.ndarray) -> np.ndarray:
        result = linprog(objective, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
        if result.status != 0:
            raise RuntimeError(f"suppression audit: linear programme failed: {result.message}")
        return np.abs(result.x - truth) > _MOVED

    undecided = np.array([position[cell] for cell in np.flatnonzero(sensitive)], dtype=int)
    rng = np.random.default_rng(0)  # a fixed seed: the same table is always suppressed alike
    for round_ in itertools.count():
        if not undecided.size:
            break
        # Minimise, then maximise, the small cells' sum; then try random directions until
        # one moves no further cell.
        objective = np.zeros(len(unknown))
        if round_ < 2:
            objective[undecided] = 1.0 if round_ == 0 else -1.0
        else:
            objective[undecided] = rng.standard_normal(undecided.size)
        still = undecided[~moved(objective)[undecided]]
        if round_ >= 2 and still.size == undecided.size:
            break
        undecided = still
    pinned = []
    for j in undecided:
        objective = np.zeros(len(unknown))
        objective[j] = 1.0
        if not (moved(objective)[j] or moved(-objective)[j]):
            pinned.append(int(unknown[j]))
    return pinned


def _equations(
    table: _Table, unknown: np.ndarray, position: dict[int, int]
) -> tuple[sparse.csr_array | None, np.ndarray | None]:
    """The line equations in the unknown cells, with the published cells moved to the right."""
    rows, cols, coefs, rhs = [], [], [], []
    for ids, coef in table.lines:
        is_unknown = np.isin(ids, unknown)
        if not is_unknown.any():
            continue
        for cell, c in zip(ids[is_unknown], coef[is_unknown], strict=True):
            rows.append(len(rhs))
            cols.append(position[int(cell)])
            coefs.append(c)
        rhs.append(-float(coef[~is_unknown] @ table.values[ids[~is_unknown]]))
    if not rhs:
        return None, None
    a_eq = sparse.csr_array((coefs, (rows, cols)), shape=(len(rhs), len(unknown)))
    return a_eq, np.array(rhs)
