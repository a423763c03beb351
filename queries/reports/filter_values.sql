-- name: filter_values
-- The values each sidebar filter can take, with their exam counts, so the sidebar offers only
-- values present in the data the reader may see.
-- grain: one row per filter and value
-- params:
-- columns: filter VARCHAR, value VARCHAR, n_exams BIGINT
-- counts: n_exams
-- source: exams_in_view()
WITH e AS (SELECT * FROM exams_in_view())
SELECT 'jurisdiction' AS filter, jurisdiction AS value, count(*) AS n_exams FROM e
WHERE jurisdiction IS NOT NULL GROUP BY ALL
UNION ALL
SELECT 'claim_type', claim_type, count(*) FROM e WHERE claim_type IS NOT NULL GROUP BY ALL
UNION ALL
SELECT 'body_part', body_part, count(*) FROM e WHERE body_part IS NOT NULL GROUP BY ALL
UNION ALL
SELECT 'insurer_id', insurer_id, count(*) FROM e WHERE insurer_id IS NOT NULL GROUP BY ALL
UNION ALL
SELECT 'specialty', specialty, count(*) FROM e WHERE specialty IS NOT NULL GROUP BY ALL
UNION ALL
SELECT 'requested_by', requested_by, count(*) FROM e WHERE requested_by IS NOT NULL GROUP BY ALL
UNION ALL
SELECT 'exam_type', exam_type, count(*) FROM e WHERE exam_type IS NOT NULL GROUP BY ALL
ORDER BY filter, value
