-- name: flag_history
-- The flags each stored load computed for the unfiltered view, oldest load first: one
-- examiner's ($examiner_id), or every examiner's when it is NULL.
-- grain: one row per load, examiner and measure
-- params: $examiner_id VARCHAR
-- columns: load_id BIGINT, loaded_at TIMESTAMP, examiner_id VARCHAR, measure VARCHAR, n BIGINT, observed DOUBLE, expected DOUBLE, ratio DOUBLE, ci_low DOUBLE, ci_high DOUBLE, p_value DOUBLE, q_value DOUBLE, flagged BOOLEAN, direction VARCHAR
-- source: flag_history_in_view()
SELECT *
FROM flag_history_in_view()
WHERE $examiner_id IS NULL OR examiner_id = $examiner_id
ORDER BY load_id, examiner_id, measure
