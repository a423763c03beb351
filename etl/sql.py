"""The one escaping helper for identifiers that come from files (column headers)."""


def quote_ident(name: str) -> str:
    """Quote a SQL identifier for DuckDB, doubling embedded quotes."""
    return '"' + name.replace('"', '""') + '"'
