-- name: rating_pairs_in_view
-- The examiner and treating-doctor rating pairs of fct_rating_pairs in the reader's view. The
-- table carries its exam's filter columns, so the filter applies to it directly rather than
-- through a join with every exam.
-- grain: one row per exam_id that has a treating rating on its case
CREATE OR REPLACE TEMP MACRO rating_pairs_in_view() AS TABLE
SELECT * FROM fct_rating_pairs
WHERE row_in_view(
    exam_date, jurisdiction, claim_type, body_part, insurer_id, specialty, requested_by, exam_type
)
