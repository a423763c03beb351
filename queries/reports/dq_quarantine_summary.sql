-- name: dq_quarantine_summary
-- Rows held back (or loaded with a warning) per load, file, column and broken rule.
-- A row breaking two rules is counted under each.
-- grain: one row per load_id, file, entity, column_name, rule and action
-- params:
-- columns: load_id BIGINT, file VARCHAR, entity VARCHAR, column_name VARCHAR, rule VARCHAR, message VARCHAR, action VARCHAR, n_rows BIGINT
-- source: quarantine
SELECT load_id, file, entity, column_name, rule, any_value(message) AS message, action,
    count(*) AS n_rows
FROM quarantine
GROUP BY load_id, file, entity, column_name, rule, action
ORDER BY load_id DESC, n_rows DESC, file, rule
