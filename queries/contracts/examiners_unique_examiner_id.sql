-- name: examiners_unique_examiner_id
-- Every examiner_id appears once.
-- checks: examiners
SELECT examiner_id, count(*) AS n FROM examiners GROUP BY examiner_id HAVING count(*) > 1
