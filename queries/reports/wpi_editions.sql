-- name: wpi_editions
-- Editions of the impairment guides used by the rated exams in view, with their counts.
-- grain: one row per guides_edition ('unknown' when not stated)
-- params:
-- columns: guides_edition VARCHAR, n_rated BIGINT
-- source: exams_in_view()
SELECT coalesce(guides_edition, 'unknown') AS guides_edition, count(*) AS n_rated
FROM exams_in_view()
WHERE wpi_percent IS NOT NULL
GROUP BY ALL
ORDER BY n_rated DESC, guides_edition
