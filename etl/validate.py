"""Turn a staged file into typed rows and a list of the rules each row breaks.

Every rule is checked in the one statement that types the staged rows: row rules (types,
enumerations, required fields, ranges, order of dates within a row) and rules that need other
tables (references, dates against the case), by joins with the database as this load has left
it so far, so that a reference to a row loaded earlier in the same load holds. Keys repeated
within the file are then found by a window over the typed keys alone.

The typed rows go into a table that every later step reads (the quarantine's counts, the
upsert): typing a value (trim, lower, a lookup, a cast) costs more than reading it back, and a
file of ten million rows was otherwise typed again by each step. The staged text is kept only
until the quarantine has copied the raw rows it holds back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import duckdb

from etl.profile import FileMapping
from etl.schema import (
    BOOL,
    DATE,
    ENTITIES,
    ENUM,
    FALSE_WORDS,
    INT,
    NUMBER,
    TEXT,
    TRUE_WORDS,
    Column,
    Entity,
)
from etl.sql import Query

RULE_MESSAGES = {
    "required": "a value is required",
    "type_date": "not a date in the form YYYY-MM-DD",
    "type_bool": "not a boolean (true/false, yes/no, y/n, 1/0)",
    "type_int": "not a whole number",
    "type_number": "not a number",
    "enum": "not one of the allowed values",
    "range": "outside the allowed range",
    "duplicate_key": "the same key appears earlier in this file",
    "reference": "refers to a row that is neither in the database nor in this load",
    "field_count": "the row has more or fewer fields than the header; its raw value is the line",
    "formula_without_value": "a formula cell without a stored value: the workbook was saved "
    "without calculating it (open and save it in a spreadsheet program)",
}


@dataclass(frozen=True)
class Checked:
    """The typed rows of a file and the rules they break, numbered as in the file (`_row`).

    `rows` is a query over the typed table; `problems` a table, one row per broken rule.

    `aggregated`: the rows are source records that the load rolls up into one row per key, so
    a key repeated across them is expected, not a duplicate.
    """

    rows: Query
    problems: str
    columns: tuple[str, ...]
    aggregated: bool = False


def type_and_check(
    con: duckdb.DuckDBPyConnection,
    staged_table: str,
    entity_name: str,
    mapping: FileMapping | None,
    row_number: str = "rowid + 1",
) -> Checked:
    """Type the rows of a staged table into `<staged>_typed`, and store the rules they break in
    `<staged>_problems`: every rule, those that need other tables too, in one pass over the
    staged rows, then repeated keys over the typed keys.

    `row_number` is the SQL for a staged row's number in its file (see StagedFile).
    """
    entity = ENTITIES[entity_name]
    columns = _checked_columns(entity, mapping)
    params: dict = {}
    if mapping and mapping.date_format:
        params["date_format"] = mapping.date_format
    typed = {c.name: _typed_expr(c, params) for c in columns}
    aggregated = bool(mapping and mapping.aggregate)
    problems = []
    for c in columns:
        problems.extend(_column_problems(c))
    for rule in entity.rules:
        if rule.join is None and rule.column in typed:
            problems.append(_problem(rule.column, rule.name, rule.violation))
    for i, rule in enumerate(mapping.rules if mapping else ()):
        problems.append(_problem(rule.column, f"profile:{rule.name}", f"t._rule_{i}"))
    # Each other table joined once, on its key (unique, as the upsert keeps it), so a join
    # never repeats a row: (entity, local column, target column) -> alias.
    joins: dict[tuple[str, str, str], str] = {}
    for ref in entity.references:
        if ref.column not in typed:
            continue
        alias = joins.setdefault((ref.entity, ref.column, ref.target), f"j{len(joins)}")
        problems.append(
            _problem(
                ref.column,
                "reference",
                f"t.{ref.column} IS NOT NULL AND {alias}.{ref.target} IS NULL",
                f"t.{ref.column}",
            )
        )
    for rule in entity.rules:
        if rule.join is None:
            continue
        alias = joins.setdefault(rule.join, f"j{len(joins)}")
        # A rule names the joined table `j` (RowRule); here it has the alias of its join.
        violation = re.sub(r"\bj\.", f"{alias}.", rule.violation)
        problems.append(
            _problem(rule.column, rule.name, violation, f"CAST(t.{rule.column} AS VARCHAR)")
        )
    flags = [f"_rule_{i}" for i in range(len(mapping.rules if mapping else ()))]
    if mapping and mapping.aggregate:
        flags += [f"_count_if_{i}" for i in range(len(mapping.aggregate.count_if))]
    inner = ", ".join(
        [
            f"{expr} AS {name}, nullif(trim({name}), '') AS raw_{name}"
            for name, expr in typed.items()
        ]
        + ["extra", *flags]
    )
    typed_rows = f"SELECT {row_number} AS _row, {inner} FROM {staged_table}"
    dropped = ", ".join(f"raw_{name}" for name in typed)
    joined = " ".join(
        f"LEFT JOIN {other} AS {alias} ON {alias}.{target} = t.{local}"
        for (other, local, target), alias in joins.items()
    )
    problem_list = f"list_filter([{', '.join(problems)}], lambda p: p IS NOT NULL)"
    typed_table, problems_table = f"{staged_table}_typed", f"{staged_table}_problems"
    # The rules are evaluated on the typed values as they are typed: each value once. (A WHERE
    # on the rules instead is slower: DuckDB pushes it into the scan, typing each value once
    # per rule that reads it.)
    con.execute(
        f"CREATE TEMP TABLE {typed_table} AS SELECT t.* EXCLUDE ({dropped}), "
        f"{problem_list} AS _problems FROM ({typed_rows}) AS t {joined}",
        params,
    )
    # A row that breaks no rule has an empty list: only the few that break some are unnested.
    con.execute(
        f"CREATE TEMP TABLE {problems_table} AS SELECT _row, p.column_name, p.rule, p.raw_value "
        f"FROM (SELECT _row, unnest(_problems) AS p FROM {typed_table} WHERE len(_problems) > 0)"
    )
    key = [k for k in entity.key if k in typed]
    if key and not aggregated:
        # A key seen earlier in the file. A window of its own, over the key columns alone: in
        # the typing statement it would hold and sort every column of every row (measured at
        # 10^6 exams: several times the cost of the typing itself).
        shown = ", ".join(f"CAST({k} AS VARCHAR)" for k in key)
        con.execute(
            f"INSERT INTO {problems_table} SELECT _row, '{key[0]}', 'duplicate_key', "
            f"concat_ws(' | ', {shown}) FROM (SELECT _row, {', '.join(key)}, row_number() OVER "
            f"(PARTITION BY {', '.join(key)} ORDER BY _row) AS seen FROM {typed_table}) "
            "WHERE seen > 1"
        )
    rows = Query(f"SELECT * EXCLUDE (_problems) FROM {typed_table}", {})
    return Checked(rows, problems_table, tuple(typed), aggregated)


def rule_message(rule: str, entity_name: str, mapping: FileMapping | None) -> str:
    """Words for a rule name, for the report and the quarantine table."""
    if rule in RULE_MESSAGES:
        return RULE_MESSAGES[rule]
    if rule.startswith("profile:") and mapping:
        return next(r.message for r in mapping.rules if f"profile:{r.name}" == rule)
    return next(r.message for r in ENTITIES[entity_name].rules if r.name == rule)


def _checked_columns(entity: Entity, mapping: FileMapping | None) -> list[Column]:
    """Aggregate mappings compute their counts later: only their other columns are checked."""
    agg = mapping.aggregate if mapping else None
    skip = {agg.count, *agg.count_if} if agg else set()
    return [c for c in entity.columns if c.name not in skip]


def _typed_expr(col: Column, params: dict) -> str:
    v = f"nullif(trim({col.name}), '')"
    if col.kind == ENUM:
        params[f"ek_{col.name}"] = [x.lower() for x in col.values]
        params[f"ev_{col.name}"] = list(col.values)
        return f"$ev_{col.name}[list_position($ek_{col.name}, lower({v}))]"
    if col.kind == DATE:
        parsed = f"TRY_CAST({v} AS DATE)"
        if "date_format" in params:
            parsed = f"coalesce({parsed}, CAST(try_strptime({v}, $date_format) AS DATE))"
        return parsed
    if col.kind == BOOL:
        params.update(true_words=list(TRUE_WORDS), false_words=list(FALSE_WORDS))
        return (
            f"CASE WHEN list_contains($true_words, lower({v})) THEN true "
            f"WHEN list_contains($false_words, lower({v})) THEN false END"
        )
    if col.kind == INT:
        d = f"TRY_CAST({v} AS DOUBLE)"
        return f"CASE WHEN {d} = trunc({d}) AND abs({d}) < 9e15 THEN CAST({d} AS BIGINT) END"
    if col.kind == NUMBER:
        d = f"TRY_CAST({v} AS DOUBLE)"
        return f"CASE WHEN isfinite({d}) THEN {d} END"
    return v


def _column_problems(col: Column) -> list[str]:
    raw, typed = f"t.raw_{col.name}", f"t.{col.name}"
    out = []
    if col.required:
        out.append(_problem(col.name, "required", f"{raw} IS NULL"))
    if col.kind == ENUM:
        out.append(_problem(col.name, "enum", f"{raw} IS NOT NULL AND {typed} IS NULL"))
    elif col.kind != TEXT:
        out.append(_problem(col.name, f"type_{col.kind}", f"{raw} IS NOT NULL AND {typed} IS NULL"))
    if col.low is not None:
        out.append(_problem(col.name, "range", f"{typed} < {float(col.low)!r}"))
    if col.high is not None:
        out.append(_problem(col.name, "range", f"{typed} > {float(col.high)!r}"))
    return out


def _problem(column: str, rule: str, condition: str, raw_value: str | None = None) -> str:
    """A list element: the broken rule when `condition` holds for the row `t`, else NULL.

    `raw_value` is the SQL of the value shown with it (default: the column as written).
    """
    return (
        f"CASE WHEN coalesce({condition}, false) THEN struct_pack(column_name := '{column}', "
        f"rule := '{rule}', raw_value := {raw_value or f't.raw_{column}'}) END"
    )
