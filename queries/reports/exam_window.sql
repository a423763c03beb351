-- name: exam_window
-- The first and last exam date in view: the range the date filter offers.
-- grain: one row
-- params:
-- columns: first_exam_on DATE, last_exam_on DATE, n_exams BIGINT
-- source: exams_in_view()
SELECT
    min(exam_date) AS first_exam_on,
    max(exam_date) AS last_exam_on,
    count(*) AS n_exams
FROM exams_in_view()
