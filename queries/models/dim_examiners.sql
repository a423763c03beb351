-- name: dim_examiners
-- Examiners with their volume and active period.
-- grain: one row per examiner_id
-- materialized: table
-- source: examiners, exams
SELECT
    x.examiner_id,
    x.examiner_name,
    x.specialty,
    x.credential,
    x.license_state,
    x.board_certified,
    count(e.exam_id) AS n_exams,
    min(e.exam_date) AS first_exam_on,
    max(e.exam_date) AS last_exam_on
FROM examiners AS x
LEFT JOIN exams AS e USING (examiner_id)
GROUP BY ALL
