-- name: examiner_volumes
-- Examiners in view with their specialty and volumes: all exams, rated exams, and rated exams
-- with a treating rating of the same case (for the impairment comparison).
-- grain: one row per examiner_id
-- params:
-- columns: examiner_id VARCHAR, specialty VARCHAR, n_exams BIGINT, n_rated BIGINT, n_zero_wpi BIGINT
-- source: exams_in_view()
SELECT
    examiner_id,
    any_value(specialty) AS specialty,
    count(*) AS n_exams,
    count(wpi_percent) AS n_rated,
    count_true(is_zero_wpi) AS n_zero_wpi
FROM exams_in_view()
WHERE examiner_id IS NOT NULL
GROUP BY examiner_id
ORDER BY examiner_id
