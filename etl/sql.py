"""SQL helpers: the one escaping helper for identifiers from files, and bound subqueries."""

from __future__ import annotations

from dataclasses import dataclass, field


def quote_ident(name: str) -> str:
    """Quote a SQL identifier for DuckDB, doubling embedded quotes."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Query:
    """A SELECT and the values it binds, read as a subquery: `FROM ({q.sql}) AS t`.

    It stands where a view would if views could bind values (DuckDB's cannot): rows computed
    where they are read instead of being stored a second time.
    """

    sql: str
    params: dict = field(default_factory=dict)
