-- name: rates_by_group
-- Opinion and post-exam decision counts per value of one case or exam feature, so every rate
-- of docs/methods.md can be shown with its count and interval (the counts and their
-- denominators are those of the outcome_counts macro).
-- $dimension picks the feature from a fixed list (jurisdiction, claim_type, body_part,
-- insurer_id, specialty, requested_by, retained_by, exam_type, exam_year); any other value
-- gives one group 'all'. Missing feature values form the group 'unknown'.
-- grain: one row per group_value
-- params: $dimension VARCHAR
-- columns: group_value VARCHAR, n_exams BIGINT, n_causation BIGINT, n_not_related BIGINT, n_rated BIGINT, n_zero_wpi BIGINT, n_treatment_opinion BIGINT, n_no_treatment BIGINT, n_capacity_opinion BIGINT, n_full_duty BIGINT, n_adverse BIGINT, n_with_decision BIGINT, n_denied BIGINT, n_partially_denied BIGINT
-- counts: n_exams, n_causation, n_not_related, n_rated, n_zero_wpi, n_treatment_opinion, n_no_treatment, n_capacity_opinion, n_full_duty, n_adverse, n_with_decision, n_denied, n_partially_denied
-- source: exams_in_view(), outcome_counts()
SELECT
    coalesce(
        CASE $dimension
            WHEN 'jurisdiction' THEN jurisdiction
            WHEN 'claim_type' THEN claim_type
            WHEN 'body_part' THEN body_part
            WHEN 'insurer_id' THEN insurer_id
            WHEN 'specialty' THEN specialty
            WHEN 'requested_by' THEN requested_by
            WHEN 'retained_by' THEN retained_by
            WHEN 'exam_type' THEN exam_type
            WHEN 'exam_year' THEN CAST(exam_year AS VARCHAR)
            ELSE 'all'
        END,
        'unknown'
    ) AS group_value,
    unnest(outcome_counts(e))
FROM exams_in_view() AS e
GROUP BY group_value
ORDER BY group_value
