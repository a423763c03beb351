-- name: exams_in_view
-- The exams of fct_exams in the reader's view (row_in_view): what every report query and measure
-- reads instead of fct_exams.
-- grain: one row per exam_id
CREATE OR REPLACE TEMP MACRO exams_in_view() AS TABLE
SELECT * FROM fct_exams
WHERE row_in_view(
    exam_date, jurisdiction, claim_type, body_part, insurer_id, specialty, requested_by, exam_type
)
