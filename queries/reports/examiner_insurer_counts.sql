-- name: examiner_insurer_counts
-- Exams per examiner and insurer of the case, for referral dependence (docs/methods.md): the share of
-- an examiner's exams from the top insurer and the Herfindahl index of insurers' shares.
-- Cases without an insurer form the group 'unknown'.
-- References: Rhoades SA. The Herfindahl-Hirschman index. Fed Reserve Bull 1993;79:188-189.
-- grain: one row per examiner_id and insurer_id
-- params:
-- columns: examiner_id VARCHAR, specialty VARCHAR, insurer_id VARCHAR, n_exams BIGINT
-- source: exams_in_view()
SELECT
    examiner_id,
    specialty,
    coalesce(insurer_id, 'unknown') AS insurer_id,
    count(*) AS n_exams
FROM exams_in_view()
WHERE examiner_id IS NOT NULL
GROUP BY ALL
ORDER BY examiner_id, n_exams DESC, insurer_id
