-- name: exams_unique_exam_id
-- Every exam_id appears once.
-- checks: exams
SELECT exam_id, count(*) AS n FROM exams GROUP BY exam_id HAVING count(*) > 1
