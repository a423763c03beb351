-- name: decisions_refer_to_cases
-- Every decision refers to a case in the database, and to an exam when it names one.
-- checks: decisions
SELECT d.decision_id, d.case_id, d.exam_id
FROM decisions AS d
WHERE NOT EXISTS (SELECT 1 FROM cases AS c WHERE c.case_id = d.case_id)
   OR (d.exam_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM exams AS e WHERE e.exam_id = d.exam_id))
