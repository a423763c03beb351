-- name: dq_load_files
-- Every file of every load with its row counts (read = loaded + quarantined), the columns
-- dropped as claimant identifiers, and any note (a skipped file says why).
-- grain: one row per load_id and file
-- params:
-- columns: load_id BIGINT, file VARCHAR, entity VARCHAR, n_read BIGINT, n_loaded BIGINT, n_quarantined BIGINT, n_inserted BIGINT, n_replaced BIGINT, n_unchanged BIGINT, n_warnings BIGINT, dropped_columns VARCHAR, note VARCHAR
-- source: load_files
SELECT
    load_id,
    file,
    entity,
    n_read,
    n_loaded,
    n_quarantined,
    n_inserted,
    n_replaced,
    n_unchanged,
    n_warnings,
    array_to_string(dropped_columns, ', ') AS dropped_columns,
    note
FROM load_files
ORDER BY load_id DESC, file
