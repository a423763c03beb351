-- name: examiner_shared_cases
-- Cases examined by more than one examiner: each exam of $examiner_id beside every other
-- examiner's exam of the same case, with both causation opinions and WPI ratings, for
-- inter-rater agreement (Cohen's kappa on causation). With $examiner_id NULL: every pair of
-- exams of the same case by two different examiners, once (the panel's reference).
-- Both exams must be in view. Undetermined causation is kept as a category.
-- References: Cohen J. Educ Psychol Meas 1960;20:37-46.
-- grain: one row per pair of exams of the same case by different examiners
-- params: $examiner_id VARCHAR
-- columns: examiner_id VARCHAR, other_examiner_id VARCHAR, causation VARCHAR, other_causation VARCHAR, wpi_percent DOUBLE, other_wpi_percent DOUBLE
-- source: exams_in_view()
WITH e AS NOT MATERIALIZED (
    SELECT exam_id, case_id, examiner_id, causation, wpi_percent
    FROM exams_in_view()
    WHERE examiner_id IS NOT NULL
),
-- The examiner's own exams first, so the join builds on them rather than on every exam.
chosen AS (
    SELECT * FROM e
    WHERE CAST($examiner_id AS VARCHAR) IS NULL OR examiner_id = CAST($examiner_id AS VARCHAR)
)
SELECT
    a.examiner_id,
    b.examiner_id AS other_examiner_id,
    a.causation,
    b.causation AS other_causation,
    a.wpi_percent,
    b.wpi_percent AS other_wpi_percent
FROM chosen AS a
JOIN e AS b ON a.case_id = b.case_id AND a.examiner_id <> b.examiner_id
WHERE CAST($examiner_id AS VARCHAR) IS NOT NULL OR a.exam_id < b.exam_id
ORDER BY a.examiner_id, b.examiner_id, a.exam_id, b.exam_id
