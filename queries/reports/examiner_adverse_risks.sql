-- name: examiner_adverse_risks
-- Every exam with an adverse-opinion outcome, in date order per examiner, with its case-mix
-- log odds of an adverse opinion from the model in $terms: the input of the drift (CUSUM)
-- measure, which follows each examiner's exams in time. $examiner_id NULL: every examiner.
-- grain: one row per exam_id with is_adverse known
-- params: $terms STRUCT[], $examiner_id VARCHAR
-- columns: examiner_id VARCHAR, exam_date DATE, is_adverse BOOLEAN, eta_adverse DOUBLE
-- source: scored_exams_in_view($terms)
SELECT examiner_id, exam_date, is_adverse, eta_adverse
FROM scored_exams_in_view($terms)
WHERE is_adverse IS NOT NULL AND ($examiner_id IS NULL OR examiner_id = $examiner_id)
ORDER BY examiner_id, exam_date, exam_id
