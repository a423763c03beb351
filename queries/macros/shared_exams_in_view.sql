-- name: shared_exams_in_view
-- The exams of cases seen by two examiners or more (fct_shared_exams) in the reader's view. The
-- table carries its exam's filter columns, so the filter applies to it directly rather than
-- through a join with every exam.
-- grain: one row per exam_id
CREATE OR REPLACE TEMP MACRO shared_exams_in_view() AS TABLE
SELECT * FROM fct_shared_exams
WHERE row_in_view(
    exam_date, jurisdiction, claim_type, body_part, insurer_id, specialty, requested_by, exam_type
)
