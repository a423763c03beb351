"""Mapping profiles: TOML files that turn a vendor export or a public data set into canonical form.

A profile names, for each file it knows (matched by a glob on the file name), the entity the
file feeds and, for each canonical column, a SQL expression over the file's own columns. The
expressions are written by whoever writes the profile, like a view definition; values that
come from the data never enter SQL text.

```toml
[profile]
name = "SSA ALJ dispositions"
description = "Decisions per judge and hearing office."

[[files]]
match = "alj-disposition-by-judge-*.csv"   # glob on the file name; first matching entry wins
entity = "decision_counts"
delimiter = ","                           # CSV only; default: sniffed
encoding = "utf-8"                        # CSV only: utf-8, utf-16 or latin-1
date_format = "%m/%d/%Y"                  # how this file writes dates; default ISO

[files.columns]                           # canonical column = SQL over source columns
maker_id = 'trim("Judge")'
group_name = '"Office"'
period = "'FY2025'"
n_decisions = '"Decisions"'
n_adverse = '"Denials"'

[files.values.group_name]                 # mapped value (any case) -> canonical value
"Tulsa OHO" = "TULSA"

[[files.rules]]                           # extra data-quality rules; TRUE = the row breaks it
name = "decisions_equal_awards_plus_denials"   # [a-z0-9_]+, unique in the entry
column = "n_decisions"                    # a column of the entity, reported with the rule
violation = '''TRY_CAST("Decisions" AS BIGINT)
    <> TRY_CAST("Awards" AS BIGINT) + TRY_CAST("Denials" AS BIGINT)'''   # NULL = not broken
message = "Decisions is not Awards + Denials"
action = "warn"                           # warn: loaded and reported; quarantine: held back

[[files]]                                 # one row per review, rolled up to decision_counts
match = "Independent_Medical_Review_*.csv"
entity = "decision_counts"
delimiter = ";"
[files.columns]
maker_id = '"Diagnosis Category"'
period = '"Report Year"'
[files.aggregate]
by = ["maker_id", "group_name", "period"] # key columns only (default: the whole key)
count = "n_decisions"                     # rows per group
[files.aggregate.count_if]                # count column = SQL condition over source columns
n_adverse = "Determination = 'Upheld Decision of Health Plan'"
```
With [files.aggregate], each source row is checked (its `by` columns and the rules) before the
roll-up, rows held back are left out of the counts, and a key shared by many source rows is
expected, not a duplicate. `count` and the `count_if` columns are computed, so a rule cannot
name them. Rule names and columns, `by` and the count columns are checked against the entity
when the profile is read, because the loader writes them into SQL text.

Files that a profile does not name load by their stem when the stem is an entity name.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from etl.errors import LoadError
from etl.schema import ENTITIES, INT, Entity

ENCODINGS = ("utf-8", "utf-16", "latin-1")
ACTIONS = ("quarantine", "warn")
RULE_NAME = re.compile(r"[a-z0-9_]+")


@dataclass(frozen=True)
class ExtraRule:
    """A rule a profile adds for one file; `violation` is SQL over the source columns."""

    name: str
    column: str
    violation: str
    message: str
    action: str = "quarantine"


@dataclass(frozen=True)
class Aggregate:
    """Roll row-level source records up into decision_counts rows."""

    by: tuple[str, ...]
    count: str
    count_if: dict[str, str]


@dataclass(frozen=True)
class FileMapping:
    """How one kind of file maps to one entity."""

    match: str
    entity: str
    columns: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    rules: tuple[ExtraRule, ...] = ()
    delimiter: str | None = None
    encoding: str = "utf-8"
    date_format: str | None = None
    aggregate: Aggregate | None = None


@dataclass(frozen=True)
class Profile:
    """A parsed mapping profile."""

    name: str
    path: Path | None
    files: tuple[FileMapping, ...]

    def mapping_for(self, file: Path) -> FileMapping | None:
        """The first mapping whose glob matches the file name."""
        return next((m for m in self.files if fnmatch.fnmatch(file.name, m.match)), None)


def read_profile(path: Path) -> Profile:
    """Parse and check a profile file; errors name the file and the entry."""
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise LoadError(f"profile {path}: cannot be read: {exc}") from exc
    entries = doc.get("files")
    if not isinstance(entries, list) or not entries:
        raise LoadError(f"profile {path}: needs at least one [[files]] entry")
    return Profile(
        name=str(doc.get("profile", {}).get("name", path.stem)),
        path=path,
        files=tuple(_file_mapping(path, i, entry) for i, entry in enumerate(entries, 1)),
    )


def _file_mapping(path: Path, index: int, entry: dict) -> FileMapping:
    where = f"profile {path}, [[files]] entry {index}"
    for required in ("match", "entity"):
        if required not in entry:
            raise LoadError(f"{where}: '{required}' is required")
    entity = ENTITIES.get(entry["entity"])
    if entity is None:
        raise LoadError(f"{where}: entity '{entry['entity']}' is not one of {', '.join(ENTITIES)}")
    columns = {str(k): str(v) for k, v in entry.get("columns", {}).items()}
    aggregate = _aggregate(where, entry.get("aggregate"), entity)
    known = set(entity.column_names)
    unknown = set(columns) - known
    if unknown:
        raise LoadError(f"{where}: columns not in {entity.name}: {', '.join(sorted(unknown))}")
    values = {
        str(col): {str(k).strip().lower(): str(v) for k, v in mapping.items()}
        for col, mapping in entry.get("values", {}).items()
    }
    unknown = set(values) - known
    if unknown:
        raise LoadError(f"{where}: values for columns not in {entity.name}: {sorted(unknown)}")
    rules = tuple(_rule(where, r, entity, aggregate) for r in entry.get("rules", []))
    repeated = sorted({r.name for r in rules if sum(o.name == r.name for o in rules) > 1})
    if repeated:
        raise LoadError(f"{where}: rule names must be unique; repeated: {', '.join(repeated)}")
    encoding = str(entry.get("encoding", "utf-8")).lower()
    if encoding not in ENCODINGS:
        raise LoadError(f"{where}: encoding '{encoding}' is not one of {', '.join(ENCODINGS)}")
    return FileMapping(
        match=str(entry["match"]),
        entity=entity.name,
        columns=columns,
        values=values,
        rules=rules,
        delimiter=entry.get("delimiter"),
        encoding=encoding,
        date_format=entry.get("date_format"),
        aggregate=aggregate,
    )


def _rule(where: str, raw: dict, entity: Entity, aggregate: Aggregate | None) -> ExtraRule:
    missing = [k for k in ("name", "column", "violation", "message") if k not in raw]
    if missing:
        raise LoadError(f"{where}: a [[files.rules]] entry lacks {', '.join(missing)}")
    name, column = str(raw["name"]), str(raw["column"])
    # The loader writes rule names and columns into SQL text: only plain identifiers pass.
    if not RULE_NAME.fullmatch(name):
        raise LoadError(
            f"{where}: rule name {name!r} must be lower-case letters, digits and underscores"
        )
    computed = {aggregate.count, *aggregate.count_if} if aggregate else set()
    if column not in entity.column_names or column in computed:
        allowed = [c for c in entity.column_names if c not in computed]
        why = " checked row by row (the roll-up computes it)" if column in computed else ""
        raise LoadError(
            f"{where}: rule '{name}' column {column!r} is not a column of {entity.name}{why};"
            f" use one of {', '.join(allowed)}"
        )
    action = raw.get("action", "quarantine")
    if action not in ACTIONS:
        raise LoadError(f"{where}: rule '{name}' action must be one of {ACTIONS}")
    return ExtraRule(
        name=name,
        column=column,
        violation=str(raw["violation"]),
        message=str(raw["message"]),
        action=action,
    )


def _aggregate(where: str, raw: dict | None, entity: Entity) -> Aggregate | None:
    if raw is None:
        return None
    if entity.name != "decision_counts":
        raise LoadError(f"{where}: [files.aggregate] only builds decision_counts")
    if "count" not in raw:
        raise LoadError(f"{where}: [files.aggregate] needs 'count' (the column counting rows)")
    agg = Aggregate(
        by=tuple(str(b) for b in raw.get("by", entity.key)),
        count=str(raw["count"]),
        count_if={str(k): str(v) for k, v in raw.get("count_if", {}).items()},
    )
    # `by` becomes the GROUP BY of the load: key columns only, so rolled-up rows stay unique.
    outside_key = [b for b in agg.by if b not in entity.key]
    if outside_key or not agg.by:
        raise LoadError(
            f"{where}: [files.aggregate] 'by' must list key columns of {entity.name}"
            f" ({', '.join(entity.key)}); got {list(agg.by)}"
        )
    counts = [agg.count, *agg.count_if]
    not_counts = [
        c
        for c in counts
        if c in entity.key or c not in entity.column_names or entity.column(c).kind != INT
    ]
    if not_counts or len(set(counts)) != len(counts):
        raise LoadError(
            f"{where}: [files.aggregate] 'count' and 'count_if' must name distinct whole-number"
            f" columns of {entity.name} outside the key; got {counts}"
        )
    return agg
