-- name: dq_quarantine_rows
-- One page of quarantine entries (one per row and broken rule), optionally of one file and one rule (NULL = all), in file and
-- row order. The raw row is shown without the claimant pseudonym.
-- grain: one row per quarantine entry
-- params: $file VARCHAR, $rule VARCHAR, $limit BIGINT, $offset BIGINT
-- columns: load_id BIGINT, file VARCHAR, entity VARCHAR, row_number BIGINT, column_name VARCHAR, rule VARCHAR, message VARCHAR, raw_value VARCHAR, action VARCHAR, raw_row VARCHAR, n_matching BIGINT, n_rows_matching BIGINT
-- source: quarantine
SELECT
    load_id,
    file,
    entity,
    row_number,
    column_name,
    rule,
    message,
    raw_value,
    action,
    CAST(json_merge_patch(raw_row, '{"claimant_id": null}') AS VARCHAR) AS raw_row,
    count(*) OVER () AS n_matching,
    -- The rows behind the entries: a row breaking two rules has an entry for each.
    count(DISTINCT (load_id, file, row_number)) FILTER (action = 'quarantined') OVER ()
        AS n_rows_matching
FROM quarantine
WHERE (CAST($file AS VARCHAR) IS NULL OR file = CAST($file AS VARCHAR))
    AND (CAST($rule AS VARCHAR) IS NULL OR rule = CAST($rule AS VARCHAR))
ORDER BY load_id DESC, file, row_number, column_name
LIMIT $limit OFFSET $offset
