-- name: fct_shared_exams
-- The exams of cases that two or more examiners examined, with what inter-rater agreement
-- compares (causation, WPI) and the columns the view filters read: the few exams the
-- agreement queries join, instead of every exam. Ordered by examiner so that one
-- examiner's exams sit together and a scan for them skips the rest.
-- grain: one row per exam_id of a case with exams by more than one examiner
-- materialized: table
-- source: fct_exams
SELECT
    exam_id,
    case_id,
    examiner_id,
    causation,
    wpi_percent,
    exam_date,
    insurer_id,
    jurisdiction,
    claim_type,
    body_part,
    specialty,
    requested_by,
    exam_type
FROM fct_exams
WHERE examiner_id IS NOT NULL
    AND case_id IN (
        SELECT case_id
        FROM fct_exams
        WHERE examiner_id IS NOT NULL
        GROUP BY case_id
        HAVING min(examiner_id) <> max(examiner_id)
    )
ORDER BY examiner_id, exam_id
