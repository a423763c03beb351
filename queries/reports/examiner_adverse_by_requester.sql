-- name: examiner_adverse_by_requester
-- Adverse opinions by who asked for the exam, for one examiner ($examiner_id) and, together,
-- for the other examiners of the same specialty (peers): the allegiance comparison of docs/methods.md
-- (retained by insurer or employer against claimant or neutral). Adverse opinion = not
-- related, or no further treatment, or MMI reached with 0% WPI (fct_exams.is_adverse).
-- grain: one row per cohort ('examiner' or 'peers') and requested_by
-- params: $examiner_id VARCHAR
-- columns: cohort VARCHAR, requested_by VARCHAR, retained_by VARCHAR, n_exams BIGINT, n_adverse BIGINT
-- source: exams_in_view()
WITH target AS (
    SELECT any_value(specialty) AS specialty
    FROM exams_in_view()
    WHERE examiner_id = CAST($examiner_id AS VARCHAR)
)
SELECT
    CASE WHEN e.examiner_id = CAST($examiner_id AS VARCHAR) THEN 'examiner' ELSE 'peers' END
        AS cohort,
    coalesce(e.requested_by, 'unknown') AS requested_by,
    e.retained_by,
    count(*) AS n_exams,
    count_true(e.is_adverse) AS n_adverse
FROM exams_in_view() AS e
JOIN target AS t ON e.specialty = t.specialty
WHERE e.examiner_id IS NOT NULL
GROUP BY ALL
ORDER BY cohort, retained_by, requested_by
