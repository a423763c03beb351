-- name: flag_changes
-- The flags raised and cleared between the two latest loads of the flag history: a flag is
-- one examiner, measure and direction with flagged true. 'raised': flagged now, not at the
-- previous load; 'cleared': flagged at the previous load, not now (the row is the previous
-- load's). Empty until two loads have stored flags.
-- grain: one row per change (examiner, measure, direction)
-- params:
-- columns: change VARCHAR, load_id BIGINT, previous_load_id BIGINT, examiner_id VARCHAR, measure VARCHAR, n BIGINT, observed DOUBLE, expected DOUBLE, ratio DOUBLE, ci_low DOUBLE, ci_high DOUBLE, p_value DOUBLE, q_value DOUBLE, flagged BOOLEAN, direction VARCHAR
-- source: flag_history_in_view()
WITH latest AS (
    SELECT load_id FROM (SELECT DISTINCT load_id FROM flag_history_in_view())
    ORDER BY load_id DESC LIMIT 2
),
pair AS (
    SELECT max(load_id) AS current_id, min(load_id) AS previous_id
    FROM latest
    HAVING count(*) = 2
),
now_flagged AS (
    SELECT h.* FROM flag_history_in_view() AS h, pair
    WHERE h.load_id = pair.current_id AND h.flagged
),
then_flagged AS (
    SELECT h.* FROM flag_history_in_view() AS h, pair
    WHERE h.load_id = pair.previous_id AND h.flagged
)
SELECT 'raised' AS change, n.load_id, pair.previous_id AS previous_load_id,
    n.* EXCLUDE (load_id, loaded_at)
FROM now_flagged AS n, pair
WHERE NOT EXISTS (
    SELECT 1 FROM then_flagged AS t
    WHERE t.examiner_id = n.examiner_id AND t.measure = n.measure AND t.direction = n.direction
)
UNION ALL
SELECT 'cleared' AS change, pair.current_id AS load_id, t.load_id AS previous_load_id,
    t.* EXCLUDE (load_id, loaded_at)
FROM then_flagged AS t, pair
WHERE NOT EXISTS (
    SELECT 1 FROM now_flagged AS n
    WHERE n.examiner_id = t.examiner_id AND n.measure = t.measure AND n.direction = t.direction
)
ORDER BY change DESC, examiner_id, measure
