-- name: dq_load_history
-- Every load of the database, newest first: when, how long, and how many rows were read,
-- loaded (new, replaced, unchanged) and quarantined. Bookkeeping, not case data.
-- grain: one row per load_id
-- params:
-- columns: load_id BIGINT, started_at TIMESTAMP, finished_at TIMESTAMP, seconds DOUBLE, profile VARCHAR, n_files BIGINT, n_read BIGINT, n_loaded BIGINT, n_quarantined BIGINT, n_inserted BIGINT, n_replaced BIGINT, n_unchanged BIGINT
-- source: load_history
SELECT
    load_id,
    started_at,
    finished_at,
    epoch(finished_at - started_at) AS seconds,
    profile,
    n_files,
    n_read,
    n_loaded,
    n_quarantined,
    n_inserted,
    n_replaced,
    n_unchanged
FROM load_history
ORDER BY load_id DESC
