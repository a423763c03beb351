-- name: rating_pair_counts
-- Rated exams beside the nearest treating rating of the same case, as counts per distinct
-- (IME rating, treating rating) pair, for the Bland-Altman comparison. Optionally one
-- examiner, one body part and one guides edition (NULL = all).
-- References: Bland JM, Altman DG. Lancet 1986;1(8476):307-310.
-- grain: one row per ime_wpi_percent and treating_wpi_percent
-- params: $examiner_id VARCHAR, $body_part VARCHAR, $guides_edition VARCHAR
-- columns: ime_wpi_percent DOUBLE, treating_wpi_percent DOUBLE, n_pairs BIGINT
-- source: rating_pairs_in_view()
SELECT ime_wpi_percent, treating_wpi_percent, count(*) AS n_pairs
FROM rating_pairs_in_view()
WHERE (CAST($examiner_id AS VARCHAR) IS NULL OR examiner_id = CAST($examiner_id AS VARCHAR))
    AND (CAST($body_part AS VARCHAR) IS NULL OR body_part = CAST($body_part AS VARCHAR))
    AND (CAST($guides_edition AS VARCHAR) IS NULL
        OR coalesce(guides_edition, 'unknown') = CAST($guides_edition AS VARCHAR))
GROUP BY ALL
ORDER BY ime_wpi_percent, treating_wpi_percent
