"""The examiner-comparison engine behind `ime flags`, the pages, the exports and audit packs.

Every view (default or filtered, any role) gets each measure's unit table from the per-exam
expectations stored at load (measures.casemix): one grouped pass over the view's exams, then
over-dispersion, q-values and flags. Nothing is refitted. The default view's flags are also
stored at load (examiner_flags), so it opens without even that pass. Data come through the
one query runner, so the access scope holds.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import duckdb
import numpy as np
import pandas as pd

import queries
from measures import drift
from measures.base import (
    DEFAULT_SETTINGS,
    FLAG_COLUMNS,
    OUTPUT_COLUMNS,
    FlagSettings,
    View,
)
from measures.casemix import ModelFit, store_models
from measures.registry import MEASURES, NAMES


def _units_sql(aggregates: list[tuple[str, str]]) -> str:
    """The one grouped pass over the view's exams that the measures' aggregates share."""
    columns = ",\n    ".join(f"{sql} AS {alias}" for alias, sql in aggregates)
    return (
        "SELECT examiner_id, any_value(specialty) AS specialty,\n    "
        f"{columns}\nFROM exams_in_view()\nWHERE examiner_id IS NOT NULL\n"
        "GROUP BY examiner_id\nORDER BY examiner_id"
    )


def expectations_stored(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether `ime load` has scored the exams (fct_exams carries the expected_ columns)."""
    return MEASURES["adverse_opinion"].expected_column in queries.table_columns(con, "fct_exams")


def compute_flags(
    con: duckdb.DuckDBPyConnection,
    scope: queries.Scope = queries.FULL_ACCESS,
    filters: queries.Filters = queries.NO_FILTERS,
    measures: tuple[str, ...] = NAMES,
    settings: FlagSettings = DEFAULT_SETTINGS,
) -> pd.DataFrame:
    """Flags for every examiner and measure of a view, with the detail columns."""
    unknown = set(measures) - set(NAMES)
    if unknown:
        raise ValueError(f"unknown measure(s) {sorted(unknown)}; known: {', '.join(NAMES)}")
    chosen = [MEASURES[name] for name in measures]
    needs_exams = [m for m in chosen if m.needs_exams]
    if needs_exams and not expectations_stored(con):
        raise RuntimeError(
            "the exams have not been scored by the case-mix models: load the data with "
            "`ime load`, which fits them and stores every exam's expectations"
        )
    view = View(con, scope, filters)
    aggregates = [a for m in chosen for a in m.aggregates]
    # Side by side: a measure waiting on its own query in DuckDB (allegiance's strata, drift's
    # exams), which releases the GIL, leaves Python to the others' statistics. The measures
    # with queries of their own start first, while the shared grouped pass runs; those that
    # read it (View.units) once it is there.
    with ThreadPoolExecutor(max_workers=len(chosen)) as pool:
        scoring = {
            m.name: pool.submit(m.score, view, settings) for m in chosen if not m.aggregates
        }
        if aggregates:
            view.units = queries.run_sql(con, _units_sql(aggregates), scope, filters)
        scoring |= {m.name: pool.submit(m.score, view, settings) for m in chosen if m.aggregates}
        frames = [scoring[m.name].result() for m in chosen]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=FLAG_COLUMNS)
    return pd.concat(frames, ignore_index=True)


def store_flags(con: duckdb.DuckDBPyConnection, refit: bool = False) -> ModelFit:
    """Once per load: refit the case-mix models if due (`refit` asks for it), store every
    exam's expectations, then the flags of the default view (examiner_flags), which it then
    reads, and add them to the flag history (flag_history, made with the load bookkeeping by
    etl.database and never rebuilt) under this load's id. Returns the models' fit."""
    fit = store_models(con, DEFAULT_SETTINGS, refit)
    flags = compute_flags(con)
    drift.keep_threshold(con, flags)
    con.register("computed_flags", flags[FLAG_COLUMNS])
    try:
        con.execute("DELETE FROM examiner_flags").fetchall()
        con.execute("INSERT INTO examiner_flags BY NAME SELECT * FROM computed_flags").fetchall()
    finally:
        con.unregister("computed_flags")
    # The load's id, drawn by etl.load on this connection before the files were read.
    load_id = con.execute("SELECT currval('load_id_seq')").fetchall()[0][0]
    # Column names from the fixed OUTPUT_COLUMNS.
    columns = ", ".join(OUTPUT_COLUMNS)
    con.execute(
        f"INSERT INTO flag_history SELECT $load_id, now(), {columns} FROM examiner_flags",  # noqa: S608
        {"load_id": load_id},
    ).fetchall()
    return fit


def flag_history(
    con: duckdb.DuckDBPyConnection, scope: queries.Scope, examiner_id: str | None = None
) -> pd.DataFrame:
    """The flags every stored load computed (one examiner's, or everyone's), oldest load first.

    Like the stored flags, they describe every examiner unfiltered: an insurer never reads them.
    """
    return queries.run(con, "flag_history", scope, examiner_id=examiner_id)


def flag_changes(con: duckdb.DuckDBPyConnection, scope: queries.Scope) -> pd.DataFrame:
    """The flags raised and cleared between the two latest stored loads (empty with fewer)."""
    return queries.run(con, "flag_changes", scope)


def _is_default_view(
    scope: queries.Scope, filters: queries.Filters, settings: FlagSettings
) -> bool:
    """The view whose flags `ime load` stored: no filters, every insurer."""
    unfiltered = filters == queries.NO_FILTERS and scope.role != "insurer"
    return unfiltered and settings == DEFAULT_SETTINGS


def stored_flags(
    con: duckdb.DuckDBPyConnection,
    scope: queries.Scope,
    filters: queries.Filters,
    settings: FlagSettings = DEFAULT_SETTINGS,
) -> pd.DataFrame | None:
    """The flags `ime load` stored, when the view is the default and they exist; else None."""
    if _is_default_view(scope, filters, settings):
        stored = queries.run(con, "stored_flags", scope, filters)
        if not stored.empty:
            return stored
    return None


def flags_for_view(
    con: duckdb.DuckDBPyConnection,
    scope: queries.Scope = queries.FULL_ACCESS,
    filters: queries.Filters = queries.NO_FILTERS,
    settings: FlagSettings = DEFAULT_SETTINGS,
) -> pd.DataFrame:
    """Flags for a view: the ones stored at load when the view is the default, else computed."""
    stored = stored_flags(con, scope, filters, settings)
    if stored is not None:
        return stored
    return compute_flags(con, scope, filters, settings=settings)


def funnel_dispersion(rows: pd.DataFrame) -> tuple[float, float]:
    """A funnel measure's over-dispersion as its flags allowed for it: (tau2, c).

    tau2 is stored with the flags (one per measure and view); c is the within-unit variance
    scale in var(O/E) = c / E, the median of V / E over units (1 for Poisson counts, about
    1 - rate for binomial ones). The funnel's limits are 1 +/- z sqrt(c / E + tau2).
    """
    tau2 = rows["tau2"].dropna()
    usable = rows[(rows["expected"] > 0) & rows["variance"].notna()]
    if tau2.empty or usable.empty:
        return 0.0, 1.0
    return float(tau2.iloc[0]), float(np.median(usable["variance"] / usable["expected"]))


COMMON_WORDS = (
    "The variation between examiners that case mix does not explain is allowed for (additive "
    "over-dispersion, Spiegelhalter 2005). Neutrality is tested both ways: a figure above "
    "expected (high) and one below (low) are two one-sided families, and in each the q-values "
    "control the false discovery rate across examiners at the same threshold "
    "(Benjamini-Hochberg). Examiners below the minimum volume are shown but never flagged. A "
    "flag is a reason to look, not a verdict."
)


def finding(measure: str, direction: str) -> str:
    """What a flag on this side of this measure means, in words (from the measure)."""
    m = MEASURES[measure]
    return m.low_means if direction == "low" else m.high_means


def _verdict(r, settings: FlagSettings) -> str:
    """Why a measure is flagged or not, for one row of the flags table."""
    if not r.eligible:
        return f"Below the minimum volume of {settings.min_volume}: shown, never flagged."
    if MEASURES[r.measure].chart == "cusum":
        crossed = "crossed" if r.flagged else "did not cross"
        return (
            f"The CUSUM reached {r.z:.2f} and {crossed} the panel threshold "
            f"{r.cusum_threshold:.2f}."
        )
    figures = f"p = {r.p_value:.3g}, q = {r.q_value:.3g} on the {r.direction} side"
    if r.flagged:
        return (
            f"{figures}: below the false-discovery threshold {settings.q}. Flagged {r.direction}:"
            f" {finding(r.measure, r.direction)}."
        )
    return f"{figures}: not below the false-discovery threshold {settings.q}."


def explain(
    flags: pd.DataFrame, examiner_id: str, settings: FlagSettings = DEFAULT_SETTINGS
) -> str:
    """The reasoning behind one examiner's figures, in plain words."""
    rows = flags[flags["examiner_id"] == examiner_id]
    if rows.empty:
        return f"No figures for examiner {examiner_id} under the current filters."
    lines = [f"Examiner {examiner_id}"]
    for r in rows.itertuples():
        lines.append("")
        lines.append(f"{r.measure}: {f'FLAGGED {r.direction}' if r.flagged else 'not flagged'}")
        lines.append(f"  How: {MEASURES[r.measure].words}")
        ratio = MEASURES[r.measure].ratio_short
        shrunken = (f"; shrunken {ratio} {r.shrunken_ratio:.2f}"
                    if np.isfinite(r.shrunken_ratio) else "")
        lines.append(
            f"  Volume {r.n:,}; observed {r.observed:,.0f}, expected {r.expected:,.1f}; {ratio} "
            f"{r.ratio:.2f} (95% interval {r.ci_low:.2f} to {r.ci_high:.2f}){shrunken}."
        )
        lines.append(
            f"  Raw rate {r.raw_rate:.1%} against {r.peer_rate:.1%} for the comparison group "
            f"({r.peer_group})."
        )
        lines.append(f"  {_verdict(r, settings)}")
    lines += ["", COMMON_WORDS]
    return "\n".join(lines)
