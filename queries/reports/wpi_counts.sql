-- name: wpi_counts
-- Distribution of whole-person impairment (wpi_percent) among rated exams, per examiner, for
-- every examiner of the same specialty as $examiner_id (the examiner's peers), optionally
-- restricted to one body part and one edition of the guides (NULL = all). Counts per distinct
-- rating keep the result small whatever the volume.
-- grain: one row per examiner_id and wpi_percent
-- params: $examiner_id VARCHAR, $body_part VARCHAR, $guides_edition VARCHAR
-- columns: examiner_id VARCHAR, specialty VARCHAR, wpi_percent DOUBLE, n_exams BIGINT
-- source: exams_in_view()
WITH target AS (
    SELECT any_value(specialty) AS specialty
    FROM exams_in_view()
    WHERE examiner_id = CAST($examiner_id AS VARCHAR)
)
SELECT e.examiner_id, e.specialty, e.wpi_percent, count(*) AS n_exams
FROM exams_in_view() AS e
JOIN target AS t ON e.specialty = t.specialty
WHERE e.wpi_percent IS NOT NULL
    AND e.examiner_id IS NOT NULL
    AND (CAST($body_part AS VARCHAR) IS NULL OR e.body_part = CAST($body_part AS VARCHAR))
    AND (CAST($guides_edition AS VARCHAR) IS NULL
        OR coalesce(e.guides_edition, 'unknown') = CAST($guides_edition AS VARCHAR))
GROUP BY ALL
ORDER BY e.examiner_id, e.wpi_percent
