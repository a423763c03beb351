-- name: cases_unique_case_id
-- Every case_id appears once.
-- checks: cases
SELECT case_id, count(*) AS n FROM cases GROUP BY case_id HAVING count(*) > 1
