-- name: fct_rating_pairs
-- Each rated exam beside the treating physician's rating of the same case nearest in time.
-- gap_wpi_points = IME minus treating: negative when the IME rates lower. The exam's filter
-- columns come along (queries/macros/rating_pairs_in_view.sql filters on them); rows are ordered by
-- examiner so that a scan for one examiner skips the rest.
-- grain: one row per exam_id that has a treating rating on its case
-- materialized: table
-- source: fct_exams, treating_ratings
WITH nearest AS (
    SELECT
        e.exam_id,
        e.examiner_id,
        e.specialty,
        e.body_part,
        e.guides_edition,
        e.exam_date,
        e.insurer_id,
        e.jurisdiction,
        e.claim_type,
        e.requested_by,
        e.exam_type,
        e.wpi_percent AS ime_wpi_percent,
        arg_min(t.wpi_percent, (abs(t.rating_date - e.exam_date), t.rating_date))
            AS treating_wpi_percent,
        min(abs(t.rating_date - e.exam_date)) AS days_apart
    FROM fct_exams AS e
    JOIN treating_ratings AS t
        ON t.case_id = e.case_id AND t.rater_role = 'treating' AND t.wpi_percent IS NOT NULL
    WHERE e.wpi_percent IS NOT NULL
    GROUP BY ALL
)
SELECT *, ime_wpi_percent - treating_wpi_percent AS gap_wpi_points
FROM nearest
ORDER BY examiner_id, exam_id
