"""Tables of the database: one per entity, plus quarantine and load bookkeeping."""

from __future__ import annotations

import duckdb

from etl.schema import ENTITIES, SQL_TYPES, Entity

BOOKKEEPING = """
CREATE SEQUENCE IF NOT EXISTS load_id_seq START 1;
CREATE TABLE IF NOT EXISTS load_history (
    load_id BIGINT PRIMARY KEY,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP NOT NULL,
    profile VARCHAR,
    n_files BIGINT NOT NULL,
    n_read BIGINT NOT NULL,
    n_loaded BIGINT NOT NULL,
    n_quarantined BIGINT NOT NULL,
    n_inserted BIGINT NOT NULL,
    n_replaced BIGINT NOT NULL,
    n_unchanged BIGINT NOT NULL,
    report JSON NOT NULL
);
CREATE TABLE IF NOT EXISTS load_files (
    load_id BIGINT NOT NULL,
    file VARCHAR NOT NULL,
    file_sha256 VARCHAR,
    entity VARCHAR,
    n_read BIGINT NOT NULL,
    n_loaded BIGINT NOT NULL,
    n_quarantined BIGINT NOT NULL,
    n_inserted BIGINT NOT NULL,
    n_replaced BIGINT NOT NULL,
    n_unchanged BIGINT NOT NULL,
    n_warnings BIGINT NOT NULL,
    dropped_columns VARCHAR[],
    note VARCHAR
);
-- One row per broken rule; a row breaking two rules appears twice. `action` says whether the
-- row was held back (quarantined) or loaded with a warning that a profile asked for.
CREATE TABLE IF NOT EXISTS quarantine (
    load_id BIGINT NOT NULL,
    file VARCHAR NOT NULL,
    file_sha256 VARCHAR NOT NULL,
    entity VARCHAR NOT NULL,
    row_number BIGINT NOT NULL,
    column_name VARCHAR NOT NULL,
    rule VARCHAR NOT NULL,
    message VARCHAR NOT NULL,
    raw_value VARCHAR,
    action VARCHAR NOT NULL,
    raw_row JSON
);
-- Every load's flags of the unfiltered view (measures.engine.store_flags): the flag history.
-- A load writes a copy of the previous database (etl.snapshot), so earlier loads' rows stay.
CREATE TABLE IF NOT EXISTS flag_history (
    load_id BIGINT NOT NULL,
    loaded_at TIMESTAMP NOT NULL,
    examiner_id VARCHAR,
    measure VARCHAR NOT NULL,
    n BIGINT,
    observed DOUBLE,
    expected DOUBLE,
    ratio DOUBLE,
    ci_low DOUBLE,
    ci_high DOUBLE,
    p_value DOUBLE,
    q_value DOUBLE,
    flagged BOOLEAN,
    direction VARCHAR
);
-- Every fit of the case-mix models (measures.casemix.store_models): the last row is the fit
-- whose coefficients (casemix_terms) score the exams; `n_exams` were in the database then, and
-- the exams added since decide the next refit.
CREATE TABLE IF NOT EXISTS casemix_fits (
    load_id BIGINT NOT NULL,
    fitted_at TIMESTAMP NOT NULL,
    n_exams BIGINT NOT NULL,
    reason VARCHAR NOT NULL
);
-- The drift measure's panel threshold for the unfiltered view (measures.drift), simulated by
-- the first load after each fit of the case-mix models and kept, like their coefficients,
-- until the next: one row per simulation.
CREATE TABLE IF NOT EXISTS drift_thresholds (
    load_id BIGINT NOT NULL,
    threshold DOUBLE NOT NULL
);
-- The fingerprint of queries/models the derived tables were last built with (etl.increment):
-- a load merges only into tables its own model SQL built.
CREATE TABLE IF NOT EXISTS model_builds (
    load_id BIGINT NOT NULL,
    models_sha256 VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS contract_results (
    load_id BIGINT NOT NULL,
    contract VARCHAR NOT NULL,
    description VARCHAR NOT NULL,
    n_violations BIGINT NOT NULL,
    sample JSON
);
"""


def entity_ddl(entity: Entity) -> str:
    """CREATE TABLE for an entity: its typed columns, `extra` JSON and the load that wrote it."""
    cols = [f"{c.name} {SQL_TYPES[c.kind]}" for c in entity.columns]
    return (
        f"CREATE TABLE IF NOT EXISTS {entity.name} ("
        f"{', '.join(cols)}, extra JSON, _load_id BIGINT NOT NULL)"
    )


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create every table that does not exist yet (a new database, or an older one)."""
    for entity in ENTITIES.values():
        con.execute(entity_ddl(entity))
        # A database written before a column was added to the format gains it, empty.
        for c in entity.columns:
            con.execute(
                f"ALTER TABLE {entity.name} ADD COLUMN IF NOT EXISTS {c.name} {SQL_TYPES[c.kind]}"
            )
    con.execute(BOOKKEEPING)
