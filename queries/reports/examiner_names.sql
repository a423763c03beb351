-- name: examiner_names
-- The names of the examiners with exams in view. A professional identity: only a regulator's
-- tables and reports carry it (access.roles drops it for every other role).
-- grain: one row per examiner_id
-- params:
-- columns: examiner_id VARCHAR, examiner_name VARCHAR
-- source: dim_examiners, exams_in_view()
SELECT x.examiner_id, x.examiner_name
FROM dim_examiners AS x
SEMI JOIN exams_in_view() AS e ON e.examiner_id = x.examiner_id
ORDER BY x.examiner_id
