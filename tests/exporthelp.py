"""Shared by the export, role-rule and report tests: a demo database and an attacker.

`demo_db` builds a small seeded demo database once per test session (the module-level cache
outlives each test module's fixtures), from `devtools.demo.generate` with two additions made in
code: an insurer whose id begins with "=" (so that a real export must neutralise a formula),
and a published decision_counts file with small and large counts in two series.

`pinned_small_values` attacks a published table the way a reader would (docs/methods.md): an
independent linear programme, written here from the table's own margins and the relations
between its columns, not from the suppression code, finds every small count or small
difference of counts that the published cells fix to one value.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from scipy.optimize import linprog

from devtools.demo import generate
from etl.load import load
from measures.engine import store_flags

N_EXAMS = 4000
# At this size, seed 7 flags a few examiners (drift, early MMI): the panel report has sections.
SEED = 7
FORMULA_INSURER = "=1+2"
RENAMED_INSURER = "INS020"
K = 11


@dataclass(frozen=True)
class DemoDb:
    """The database file and the folder it was loaded from."""

    path: Path
    source: Path


_BUILT: dict[str, DemoDb] = {}


def _decision_counts(path: Path) -> None:
    rng = np.random.default_rng(SEED)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["maker_id", "group_name", "period", "n_decisions", "n_adverse", "source"])
        # The same makers in both series, in different periods (the key has no series).
        for series, periods in (("state_board", ("FY2024", "FY2025")),
                                ("appeals", ("FY2022", "FY2023"))):
            for i in range(24):
                for period in periods:
                    n = int(rng.choice([3, 6, 40, 120, 300]))
                    adverse = int(rng.binomial(n, 0.35))
                    writer.writerow([f"J{i:03d}", f"office{i % 3}", period, n, adverse, series])


def demo_db(tmp_path_factory: pytest.TempPathFactory) -> DemoDb:
    """The session's demo database, built on first use."""
    if "db" not in _BUILT:
        root = tmp_path_factory.mktemp("export_demo")
        source = root / "demo"
        generate(source, n_exams=N_EXAMS, seed=SEED)
        cases = source / "cases.csv"
        cases.write_text(cases.read_text().replace(RENAMED_INSURER, FORMULA_INSURER))
        _decision_counts(source / "decision_counts.csv")
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("IME_KEY_FILE", str(root / "pseudonym.key"))
            load([source], root / "ime.duckdb", after_build=store_flags)
        _BUILT["db"] = DemoDb(root / "ime.duckdb", source)
    return _BUILT["db"]


def _hidden(value: object) -> bool:
    return isinstance(value, str) and value == "suppressed"


def pinned_small_values(
    shown: pd.DataFrame,
    truth: pd.DataFrame,
    count_cols: list[str],
    relations: list[tuple[str, list[str]]],
    margins: list[tuple[int, list[int]]],
    k: int = K,
    *,
    base: int | None = None,
    offset: pd.DataFrame | None = None,
) -> list[str]:
    """Small hidden counts and small differences a reader can solve for exactly.

    Parameters
    ----------
    shown : DataFrame
        The published table (hidden cells "suppressed" or missing), positional rows.
    truth : DataFrame
        The same table unsuppressed (rows in the same order), to know what is small.
    count_cols : list of str
        The count columns.
    relations : list of (str, list of str)
        In every row, total >= sum(parts); the difference is a count a reader can see.
    margins : list of (int, list of int)
        Row positions: the total row is the sum of the part rows in every count column.
    k : int
        Counts from 1 to k-1 are small.
    base : int, optional
        The published counts are rounded to this base (halves up): a published v > 0 tells
        the reader only that the count lies in [v - base//2, v - base//2 + base - 1], and is
        at least k (smaller ones are hidden). Without it, published counts are exact.
    offset : DataFrame, optional
        Counts the reader knows and subtracts (an insurer's own, beside market rows; same
        rows and columns as `truth`): what must not be pinned when small is then
        truth - offset, a cell's and a difference's alike.

    Returns
    -------
    list of str
        A description of each pinned small value; empty when the table is safe.
    """
    variables: dict[tuple, int] = {}
    true_value: list[float] = []
    known_value: list[float] = []
    lower: list[float] = []
    upper: list[float] = []

    def own(row: int, col: str) -> float:
        if offset is None:
            return 0.0
        value = offset[col].iloc[row]
        return 0.0 if pd.isna(value) else float(value)

    def term(row: int, col: str) -> tuple[int | None, float]:
        value = shown[col].iloc[row]
        hidden = _hidden(value)
        if not hidden and (pd.isna(value) or base is None or float(value) == 0):
            # A missing count was not computed: nothing to add. A zero is exact.
            return None, 0.0 if pd.isna(value) else float(value)
        key = ("cell", row, col)
        if key not in variables:
            variables[key] = len(true_value)
            true_value.append(float(truth[col].iloc[row]))
            known_value.append(own(row, col))
            if hidden:
                # Zeros are shown, so a hidden count is at least 1.
                lower.append(1.0)
                upper.append(np.inf)
            else:
                low = float(value) - base // 2
                lower.append(max(low, float(k)))
                upper.append(low + base - 1)
        return variables[key], 0.0

    equations: list[tuple[dict[int, float], float]] = []
    for total, parts in margins:
        for col in count_cols:
            if pd.isna(shown[col].iloc[total]):
                continue  # a total that is missing, not hidden, gives no equation
            coef: dict[int, float] = {}
            rhs = 0.0
            for row, sign in [(total, -1.0)] + [(p, 1.0) for p in parts]:
                var, known = term(row, col)
                if var is None:
                    rhs -= sign * known
                else:
                    coef[var] = coef.get(var, 0.0) + sign
            equations.append((coef, rhs))
    for total, parts in relations:
        for row in range(len(shown)):
            slack = len(true_value)
            variables[("difference", row, total, tuple(parts))] = slack
            values = [truth[c].iloc[row] for c in (total, *parts)]
            values = [0.0 if pd.isna(v) else float(v) for v in values]
            true_value.append(values[0] - sum(values[1:]))
            known_value.append(own(row, total) - sum(own(row, p) for p in parts))
            lower.append(0.0)
            upper.append(np.inf)
            coef, rhs = {slack: 1.0}, 0.0
            for col, sign in [(total, -1.0)] + [(p, 1.0) for p in parts]:
                var, known = term(row, col)
                if var is None:
                    rhs -= sign * known
                else:
                    coef[var] = coef.get(var, 0.0) + sign
            equations.append((coef, rhs))

    n = len(true_value)
    truth_arr = np.array(true_value)
    sensitive = truth_arr - np.array(known_value)
    small = [j for j in range(n) if 1 <= sensitive[j] < k]
    if not small:
        return []
    assert all(lo <= t <= hi for lo, t, hi in zip(lower, truth_arr, upper, strict=True)), (
        "the truth lies outside what the published table allows: a wrong base or table"
    )
    rows, cols, values = [], [], []
    for i, (coef, _) in enumerate(equations):
        rows += [i] * len(coef)
        cols += list(coef)
        values += list(coef.values())
    a_eq = sparse.csr_array((values, (rows, cols)), shape=(len(equations), n))
    b_eq = np.array([rhs for _, rhs in equations])
    # A box around the truth keeps every programme bounded; a value that can move at all
    # can move inside it, since the solutions form a convex set.
    bounds = list(zip(np.maximum(lower, truth_arr - 1), np.minimum(upper, truth_arr + 1),
                      strict=True))
    rng = np.random.default_rng(1)
    undecided = set(small)
    for _ in range(6):
        objective = rng.standard_normal(n)
        result = linprog(objective, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
        assert result.status == 0, result.message
        undecided -= {j for j in undecided if abs(result.x[j] - truth_arr[j]) > 1e-6}
    names = {j: key for key, j in variables.items()}
    pinned = []
    for j in sorted(undecided):
        c = np.zeros(n)
        c[j] = 1.0
        low = linprog(c, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs").fun
        high = -linprog(-c, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs").fun
        if high - low < 1e-6:
            pinned.append(f"{names[j]} = {truth_arr[j]:g}")
    return pinned
