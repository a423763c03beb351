-- name: causation_pair_counts
-- Cases examined by more than one examiner: the causation opinions of two exams of the same
-- case by different examiners, as counts per pair of opinions, for inter-rater agreement
-- (Cohen's kappa). With $examiner_id: each exam of that examiner beside every other
-- examiner's exam of the same case (causation is the examiner's, other_causation the other's).
-- With $examiner_id NULL: every such pair of exams once, the earlier exam_id first (the
-- panel's reference). Both exams must be in view and both must give a causation opinion;
-- undetermined is kept as a category. n_other_examiners counts the distinct other examiners
-- over all the pairs, the same in every row.
-- References: Cohen J. Educ Psychol Meas 1960;20:37-46.
-- grain: one row per causation and other_causation
-- params: $examiner_id VARCHAR
-- columns: causation VARCHAR, other_causation VARCHAR, n_pairs BIGINT, n_other_examiners BIGINT
-- source: shared_exams_in_view()
WITH e AS NOT MATERIALIZED (
    SELECT exam_id, case_id, examiner_id, causation
    FROM shared_exams_in_view()
    WHERE causation IS NOT NULL
),
-- The examiner's own exams first, so the join builds on them rather than on every exam.
chosen AS (
    SELECT * FROM e
    WHERE CAST($examiner_id AS VARCHAR) IS NULL OR examiner_id = CAST($examiner_id AS VARCHAR)
),
pairs AS (
    SELECT a.causation, b.causation AS other_causation, b.examiner_id AS other_examiner_id
    FROM chosen AS a
    JOIN e AS b ON a.case_id = b.case_id AND a.examiner_id <> b.examiner_id
    WHERE CAST($examiner_id AS VARCHAR) IS NOT NULL OR a.exam_id < b.exam_id
)
SELECT
    causation,
    other_causation,
    count(*) AS n_pairs,
    (SELECT count(DISTINCT other_examiner_id) FROM pairs) AS n_other_examiners
FROM pairs
GROUP BY causation, other_causation
ORDER BY causation, other_causation
