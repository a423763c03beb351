-- name: exams_have_case_and_examiner
-- Every exam refers to a case and an examiner in the database.
-- checks: exams
SELECT e.exam_id, e.case_id, e.examiner_id
FROM exams AS e
WHERE NOT EXISTS (SELECT 1 FROM cases AS c WHERE c.case_id = e.case_id)
   OR NOT EXISTS (SELECT 1 FROM examiners AS x WHERE x.examiner_id = e.examiner_id)
