"""Filter values checked against the values the data hold: an unknown value is refused with
the list of known ones, never applied as a filter that silently matches nothing.

`--filter jurisdiction=XX` once wrote an all-zero table; a link with `?jurisdiction=XX` showed
"no exams". Both now say which value is unknown and which values are known (those in the
data the reader may see: an insurer's own cases).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import duckdb

from queries import FILTER_COLUMNS, Filters, Scope, run

# How many known values a message lists before it says how many more there are.
LISTED = 40


def known_values(con: duckdb.DuckDBPyConnection, scope: Scope) -> dict[str, list[str]]:
    """Every value each filter column takes in the data `scope` may see."""
    values = run(con, "filter_values", scope)
    return {
        column: sorted(values.loc[values["filter"] == column, "value"].astype(str))
        for column in FILTER_COLUMNS
    }


def unknown_values(
    filters: Filters, known: Mapping[str, Collection[str]]
) -> dict[str, list[str]]:
    """The values of `filters` that `known` does not hold, per filter column."""
    out = {}
    for column in FILTER_COLUMNS:
        missing = [v for v in getattr(filters, column) if v not in set(known.get(column, ()))]
        if missing:
            out[column] = missing
    return out


def refusal(unknown: Mapping[str, list[str]], known: Mapping[str, Collection[str]]) -> str:
    """The words refusing `unknown` values, listing the known ones of each column."""
    parts = []
    for column, values in unknown.items():
        listed = sorted(known.get(column, ()))
        more = f" and {len(listed) - LISTED} more" if len(listed) > LISTED else ""
        parts.append(
            f"unknown {column} {', '.join(repr(v) for v in values)}: known values are "
            f"{', '.join(listed[:LISTED]) or 'none'}{more}"
        )
    return "; ".join(parts)


def check_known(con: duckdb.DuckDBPyConnection, scope: Scope, filters: Filters) -> Filters:
    """Return `filters` if every value is one the data hold; else raise ValueError naming
    the unknown values and the known ones."""
    if not any(getattr(filters, column) for column in FILTER_COLUMNS):
        return filters
    known = known_values(con, scope)
    unknown = unknown_values(filters, known)
    if unknown:
        raise ValueError(refusal(unknown, known))
    return filters
