"""`ime load`: files in, one atomic, idempotent update of the database out, every row counted."""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import json
import stat
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
from tqdm import tqdm

from etl import increment
from etl.build import (
    build_models,
    publish_scored_model,
    refuse_privacy_breaches,
    run_contracts,
)
from etl.database import ensure_schema
from etl.errors import LoadError
from etl.privacy import pseudonym_key
from etl.profile import FileMapping, Profile, read_profile
from etl.schema import ENTITIES
from etl.snapshot import next_snapshot
from etl.sources import FORMATS, StagedFile, stage_file
from etl.sql import Query, quote_ident
from etl.validate import Checked, rule_message, type_and_check

ENTITY_ORDER = list(ENTITIES)


@dataclass
class FileReport:
    """What happened to one file: read = loaded + quarantined, always."""

    file: str
    entity: str | None
    read: int = 0
    loaded: int = 0
    quarantined: int = 0
    inserted: int = 0
    replaced: int = 0
    unchanged: int = 0
    warnings: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    dropped_columns: list[str] = field(default_factory=list)
    zip_columns_cut: list[str] = field(default_factory=list)
    note: str = ""


@dataclass
class LoadReport:
    """The load report: per file, and the totals."""

    load_id: int
    database: str
    profile: str | None
    files: list[FileReport]
    seconds: float = 0.0
    contracts: dict[str, int] = field(default_factory=dict)
    # What the loaded folders say of themselves (DATASET_FILE): source, synthetic, citation.
    datasets: list[dict] = field(default_factory=list)
    # What `after_build` says it stored, by name, each with a one-line `summary` (the case-mix
    # models: refitted or kept, and why).
    precomputed: dict[str, dict] = field(default_factory=dict)
    # The cases whose derived rows (fct_exams and the tables built from it) this load rebuilt
    # and merged (etl.increment); None when it rebuilt them whole.
    merged_cases: int | None = None

    def total(self, name: str) -> int:
        return sum(getattr(f, name) for f in self.files)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["totals"] = {
            k: self.total(k)
            for k in (
                "read",
                "loaded",
                "quarantined",
                "inserted",
                "replaced",
                "unchanged",
                "warnings",
            )
        }
        return out

    def to_text(self) -> str:
        lines = [
            f"Load {self.load_id} into {self.database}"
            + (f" (profile {self.profile})" if self.profile else "")
        ]
        for f in self.files:
            if f.entity is None:
                lines.append(f"  {f.file}: skipped ({f.note})")
                continue
            lines.append(
                f"  {f.file} -> {f.entity}: read {f.read:,}, loaded {f.loaded:,} "
                f"(new {f.inserted:,}, replaced {f.replaced:,}, unchanged {f.unchanged:,}), "
                f"quarantined {f.quarantined:,}"
                + (f", warnings {f.warnings:,}" if f.warnings else "")
            )
            for reason, n in sorted(f.reasons.items(), key=lambda kv: -kv[1]):
                lines.append(f"      {n:>8,}  {reason}")
            if f.dropped_columns:
                lines.append(f"      dropped direct identifiers: {', '.join(f.dropped_columns)}")
            if f.zip_columns_cut:
                lines.append(f"      ZIP codes cut to 3 digits: {', '.join(f.zip_columns_cut)}")
            if f.note:
                lines.append(f"      {f.note}")
        lines.append(
            f"Total: read {self.total('read'):,} = loaded {self.total('loaded'):,} "
            f"+ quarantined {self.total('quarantined'):,}; {self.seconds:.1f} s"
        )
        lines.append(
            "Derived tables rebuilt whole"
            if self.merged_cases is None
            else f"Derived tables rebuilt for the {self.merged_cases:,} cases this load touched"
        )
        failing = {k: v for k, v in self.contracts.items() if v}
        lines += [part["summary"] for part in self.precomputed.values()]
        lines.append(
            "Contract checks: all pass"
            if not failing
            else "Contract checks failing: " + ", ".join(f"{k} ({v})" for k, v in failing.items())
        )
        return "\n".join(lines)


@dataclass(frozen=True)
class PlannedFile:
    path: Path
    entity: str | None
    mapping: FileMapping | None
    note: str = ""


def plan_files(paths: list[Path], profile: Profile | None) -> list[PlannedFile]:
    """Expand folders, decide each file's entity, and order files so references resolve.

    An entry of a folder that has a data file's suffix but is not a readable file (a folder, a
    symbolic link loop or to nothing, a pipe) is never passed over in silence: if its name says
    it should load, the load stops; otherwise the report lists it as skipped, with the reason.
    """
    files: list[Path] = []
    skipped: list[PlannedFile] = []
    for p in paths:
        if p.is_dir():
            for f in sorted(p.iterdir()):
                if f.suffix.lower() not in FORMATS:
                    continue
                if f.is_file():
                    files.append(f)
                    continue
                why = _not_a_file(f)
                if f.stem in ENTITIES or (profile and profile.mapping_for(f)):
                    raise LoadError(f"{f}: is {why}, not a file that can be loaded")
                skipped.append(PlannedFile(f, None, None, f"{why}, not a file"))
        elif p.is_file():
            files.append(p)
        elif p.is_symlink() or p.exists():
            raise LoadError(f"{p}: is {_not_a_file(p)}, not a file or folder that can be loaded")
        else:
            raise LoadError(f"{p}: no such file or folder")
    planned = []
    for f in files:
        mapping = profile.mapping_for(f) if profile else None
        if mapping:
            planned.append(PlannedFile(f, mapping.entity, mapping))
        elif f.stem in ENTITIES:
            planned.append(PlannedFile(f, f.stem, None))
        else:
            why = (
                f"not named by profile {profile.name}"
                if profile
                else f"its name is not an entity ({', '.join(ENTITIES)})"
            )
            planned.append(PlannedFile(f, None, None, why))
    order = {name: i for i, name in enumerate(ENTITY_ORDER)}
    return sorted(planned + skipped, key=lambda pf: order.get(pf.entity, len(order)))


# A folder may describe itself in this file (docs/format.md): the data's source, a citation,
# and whether it is synthetic (`ime demo` writes one saying so). Exports cite it.
DATASET_FILE = "dataset.json"
DATASET_KEYS = ("name", "source", "citation", "synthetic")


def describe_datasets(paths: list[Path]) -> list[dict]:
    """The DATASET_FILE of each loaded folder (or of a loaded file's folder), known keys only."""
    found = []
    for folder in dict.fromkeys(p if p.is_dir() else p.parent for p in paths):
        path = folder / DATASET_FILE
        if not path.is_file():
            continue
        try:
            described = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise LoadError(f"{path}: not a readable JSON description of the data ({exc})") from exc
        if not isinstance(described, dict):
            raise LoadError(f"{path}: must hold one JSON object with keys {DATASET_KEYS}")
        found.append({key: described[key] for key in DATASET_KEYS if key in described})
    return found


def _not_a_file(path: Path) -> str:
    """What a path that is not a regular file is, in words."""
    try:
        target = path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link loop"
        if path.is_symlink():
            return "a symbolic link to nothing"
        return f"unreadable ({exc.strerror})"
    if stat.S_ISDIR(target.st_mode):
        return "a symbolic link to a folder" if path.is_symlink() else "a folder"
    return "not a regular file (a pipe, socket or device)"


def load(
    paths: list[Path],
    db_path: Path,
    profile_path: Path | None = None,
    progress: bool = False,
    after_build: Callable[[duckdb.DuckDBPyConnection], dict | None] | None = None,
) -> LoadReport:
    """Load files or folders into `db_path` as one transaction; raise LoadError if unreadable.

    `after_build` runs on the new snapshot after the models are built and before it is swapped
    in, for figures that should be ready when the first reader opens it; what it returns
    (names to dicts with a `summary` line) goes into the report as `precomputed`.
    """
    started = time.perf_counter()
    started_at = dt.datetime.now()
    profile = read_profile(profile_path) if profile_path else None
    planned = plan_files(paths, profile)
    if not any(pf.entity for pf in planned):
        raise LoadError("nothing to load: no file is named after an entity or by the profile")
    hash_key = pseudonym_key()
    bar = tqdm(total=len(planned) + 1, desc="load", unit="file", disable=not progress)
    with next_snapshot(db_path) as con:
        ensure_schema(con)
        load_id = con.execute("SELECT nextval('load_id_seq')").fetchall()[0][0]
        reports = []
        for i, pf in enumerate(planned):
            bar.set_postfix_str(pf.path.name)
            if pf.entity is None:
                reports.append(FileReport(str(pf.path), None, note=pf.note))
            else:
                reports.append(_load_file(con, pf, f"load_{i}", hash_key, load_id))
            bar.update()
        bar.set_postfix_str("building tables")
        merged_cases = build_models(con, stage_scored=True, load_id=load_id)
        contracts = run_contracts(con, load_id, merged=merged_cases is not None)
        refuse_privacy_breaches(con, load_id, contracts)
        precomputed = {}
        if after_build:
            bar.set_postfix_str("precomputing")
            precomputed = after_build(con) or {}
        publish_scored_model(con)
        increment.forget_changes(con)
        report = LoadReport(
            load_id,
            str(db_path),
            profile.name if profile else None,
            reports,
            round(time.perf_counter() - started, 2),
            contracts,
            describe_datasets(paths),
            precomputed,
            merged_cases,
        )
        _record_history(con, report, started_at)
        bar.update()
    bar.close()
    return report


def _load_file(
    con: duckdb.DuckDBPyConnection, pf: PlannedFile, table: str, hash_key: str, load_id: int
) -> FileReport:
    try:
        return _load_rows(con, pf, table, hash_key, load_id)
    finally:
        # The staged rows of one file are as large as the file: gone before the next file is read.
        _drop_temporaries(con, table)


def _load_rows(
    con: duckdb.DuckDBPyConnection, pf: PlannedFile, table: str, hash_key: str, load_id: int
) -> FileReport:
    entity = pf.entity
    # The checksum is computed while DuckDB reads the file (hashlib and DuckDB both release
    # the interpreter lock): the file is read from the page cache twice, but in one wait.
    with ThreadPoolExecutor(max_workers=1) as pool:
        checksum = pool.submit(_sha256, pf.path)
        try:
            staged = stage_file(con, pf.path, entity, pf.mapping, table, hash_key)
        finally:
            sha = checksum.result()
    checked = type_and_check(con, staged.table, entity, pf.mapping, staged.row_number)
    for problems in staged.problems:
        # Rules broken while reading: rows set aside by the reader, formula cells without value.
        con.execute(
            f"INSERT INTO {checked.problems} SELECT _row, column_name, rule, raw_value "
            f"FROM {problems}"
        )
    warn_rules = [
        f"profile:{r.name}" for r in (pf.mapping.rules if pf.mapping else ()) if r.action == "warn"
    ]
    report = FileReport(
        str(pf.path),
        entity,
        read=staged.rows,
        dropped_columns=list(staged.dropped_columns),
        zip_columns_cut=list(staged.zip_columns),
        note=staged.note,
    )
    _quarantine(con, pf, staged, checked, sha, load_id, warn_rules, report)
    # The raw text was kept for the quarantine's raw rows only: freed before the upsert.
    con.execute(f"DROP TABLE {staged.table}")
    good = _good_rows(checked, entity, pf.mapping, warn_rules)
    _upsert(con, entity, good, load_id, report)
    report.loaded = report.read - report.quarantined
    con.execute(
        "INSERT INTO load_files VALUES ($load_id, $file, $sha, $entity, $read, $loaded, $q, $ins, "
        "$rep, $unch, $warn, $dropped, $note)",
        {
            "load_id": load_id,
            "file": str(pf.path),
            "sha": sha,
            "entity": entity,
            "read": report.read,
            "loaded": report.loaded,
            "q": report.quarantined,
            "ins": report.inserted,
            "rep": report.replaced,
            "unch": report.unchanged,
            "warn": report.warnings,
            "dropped": report.dropped_columns,
            "note": report.note,
        },
    )
    return report


def _drop_temporaries(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Drop the temporary tables and views of one file: `table` and those named `<table>_...`."""
    temporaries = con.execute(
        "SELECT 'TABLE', table_name FROM duckdb_tables() WHERE temporary "
        "UNION ALL SELECT 'VIEW', view_name FROM duckdb_views() WHERE temporary AND NOT internal"
    ).fetchall()
    for kind, name in temporaries:
        if name == table or name.startswith(f"{table}_"):
            con.execute(f"DROP {kind} {quote_ident(name)}")


def _quarantine(
    con: duckdb.DuckDBPyConnection,
    pf: PlannedFile,
    staged: StagedFile,
    checked: Checked,
    sha: str,
    load_id: int,
    warn_rules: list[str],
    report: FileReport,
) -> None:
    """Store every broken rule with its raw row; count rows held back and reasons."""
    rules = [r[0] for r in con.execute(f"SELECT DISTINCT rule FROM {checked.problems}").fetchall()]
    columns = ", ".join(ENTITIES[pf.entity].column_names)
    con.execute(
        f"""
        INSERT INTO quarantine
        SELECT $load_id, $file, $sha, $entity, p._row, p.column_name, p.rule,
               $messages[list_position($rules, p.rule)], p.raw_value,
               CASE WHEN list_contains($warn_rules, p.rule) THEN 'loaded_with_warning'
                    ELSE 'quarantined' END,
               CASE WHEN s._row IS NOT NULL THEN to_json(s) END
        FROM {checked.problems} p
        -- A row the reader set aside (a wrong field count) has no staged row: no raw_row.
        LEFT JOIN (SELECT {staged.row_number} AS _row, {columns}, extra FROM {staged.table}) s
            ON s._row = p._row
        WHERE NOT EXISTS (
            SELECT 1 FROM quarantine q
            WHERE q.file_sha256 = $sha AND q.entity = $entity AND q.row_number = p._row
              AND q.rule = p.rule AND q.column_name = p.column_name)
        """,
        {
            "load_id": load_id,
            "file": str(pf.path),
            "sha": sha,
            "entity": pf.entity,
            "rules": rules,
            "messages": [rule_message(r, pf.entity, pf.mapping) for r in rules],
            "warn_rules": warn_rules,
        },
    )
    for column, rule, n in con.execute(
        f"SELECT column_name, rule, count(*) FROM {checked.problems} GROUP BY ALL ORDER BY ALL"
    ).fetchall():
        words = rule_message(rule, pf.entity, pf.mapping)
        kind = "warning" if rule in warn_rules else "quarantined"
        report.reasons[f"{kind}: {column}: {rule} ({words})"] = n
    report.quarantined, report.warnings = con.execute(
        f"SELECT count(DISTINCT _row) FILTER (NOT list_contains($w, rule)), "
        f"count(DISTINCT _row) FILTER (list_contains($w, rule)) FROM {checked.problems}",
        {"w": warn_rules},
    ).fetchall()[0]


def _good_rows(
    checked: Checked,
    entity: str,
    mapping: FileMapping | None,
    warn_rules: list[str],
) -> Query:
    """The rows to store, in the entity's columns (aggregated if asked): a query, not a table."""
    held = f"SELECT DISTINCT _row FROM {checked.problems} WHERE NOT list_contains($w, rule)"
    source = f"SELECT t.* FROM ({checked.rows.sql}) t ANTI JOIN ({held}) h ON h._row = t._row"
    params = {**checked.rows.params, "w": warn_rules}
    agg = mapping.aggregate if mapping else None
    cols = ENTITIES[entity].column_names
    if agg is None:
        return Query(f"SELECT {', '.join(cols)}, extra FROM ({source})", params)
    exprs = []
    for c in cols:
        if c == agg.count:
            exprs.append(f"count(*) AS {c}")
        elif c in agg.count_if:
            exprs.append(f"count_if(_count_if_{list(agg.count_if).index(c)}) AS {c}")
        elif c in agg.by:
            exprs.append(c)
        else:
            exprs.append(f"NULL AS {c}")
    return Query(
        f"SELECT {', '.join(exprs)}, CAST(NULL AS JSON) AS extra "
        f"FROM ({source}) GROUP BY {', '.join(agg.by)}",
        params,
    )


def _upsert(
    con: duckdb.DuckDBPyConnection, entity: str, good: Query, load_id: int, report: FileReport
) -> None:
    """Insert new keys, replace changed rows, leave identical rows untouched."""
    e = ENTITIES[entity]
    names = [*e.column_names, "extra"]
    cols = ", ".join(names)
    same_key = " AND ".join(f"t.{k} IS NOT DISTINCT FROM g.{k}" for k in e.key)
    differs = " OR ".join(f"t.{c} IS DISTINCT FROM g.{c}" for c in names)
    if not con.execute(f"SELECT count(*) FROM (FROM {entity} LIMIT 1)").fetchall()[0][0]:
        # Nothing stored (a first load): every good row is new, written in one pass over them.
        written = con.execute(
            f"INSERT INTO {entity} ({cols}, _load_id) SELECT {cols}, $load_id FROM ({good.sql})",
            {**good.params, "load_id": load_id},
        ).fetchall()[0][0]
        report.inserted, report.replaced, report.unchanged = written, 0, 0
        _note_aggregation(entity, written, report)
        return
    # Changed rows are deleted first; what is left to write is then every good row whose key is
    # not stored (new and changed rows), in one pass. Both statements join on the key: rows are
    # compared column by column only where their keys match. The rows about to be replaced are
    # noted first: what their old version reached must be rebuilt (etl.increment).
    replaced = f"SELECT t.* FROM {entity} t SEMI JOIN ({good.sql}) g ON {same_key} AND ({differs})"
    increment.record_replaced(con, entity, replaced, good.params)
    report.replaced = con.execute(
        f"DELETE FROM {entity} t USING ({good.sql}) g WHERE {same_key} AND ({differs})",
        good.params,
    ).fetchall()[0][0]
    written = con.execute(
        f"INSERT INTO {entity} ({cols}, _load_id) SELECT {cols}, $load_id "
        f"FROM ({good.sql}) g ANTI JOIN {entity} t ON {same_key}",
        {**good.params, "load_id": load_id},
    ).fetchall()[0][0]
    n_good = con.execute(f"SELECT count(*) FROM ({good.sql})", good.params).fetchall()[0][0]
    report.inserted = written - report.replaced
    report.unchanged = n_good - written
    _note_aggregation(entity, n_good, report)


def _note_aggregation(entity: str, n_good: int, report: FileReport) -> None:
    """Say in the report when the good rows were rolled up into fewer (a profile's aggregate)."""
    if n_good != report.read - report.quarantined:
        aggregated = f"aggregated into {n_good:,} {entity} rows"
        report.note = "; ".join(filter(None, [report.note, aggregated]))


def _record_history(
    con: duckdb.DuckDBPyConnection, report: LoadReport, started_at: dt.datetime
) -> None:
    con.execute(
        "INSERT INTO load_history VALUES ($id, $started, now(), $profile, $n_files, $read, "
        "$loaded, $q, $ins, $rep, $unch, $report)",
        {
            "id": report.load_id,
            "started": started_at,
            "profile": report.profile,
            "n_files": len(report.files),
            "read": report.total("read"),
            "loaded": report.total("loaded"),
            "q": report.total("quarantined"),
            "ins": report.total("inserted"),
            "rep": report.total("replaced"),
            "unch": report.total("unchanged"),
            "report": json.dumps(report.to_dict()),
        },
    )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
