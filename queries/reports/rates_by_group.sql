-- name: rates_by_group
-- Opinion and post-exam decision counts per value of one case or exam feature, so every rate
-- of docs/methods.md can be shown with its count and interval. Each rate has its own denominator:
-- not-related among causation opinions (undetermined excluded), zero impairment among rated
-- exams, no-treatment among treatment opinions, full-duty among work-capacity opinions,
-- adverse among all exams, denied and partially denied among exams followed by a decision.
-- $dimension picks the feature from a fixed list (jurisdiction, claim_type, body_part,
-- insurer_id, specialty, requested_by, retained_by, exam_type, exam_year); any other value
-- gives one group 'all'. Missing feature values form the group 'unknown'.
-- grain: one row per group_value
-- params: $dimension VARCHAR
-- columns: group_value VARCHAR, n_exams BIGINT, n_causation BIGINT, n_not_related BIGINT, n_rated BIGINT, n_zero_wpi BIGINT, n_treatment_opinion BIGINT, n_no_treatment BIGINT, n_capacity_opinion BIGINT, n_full_duty BIGINT, n_adverse BIGINT, n_with_decision BIGINT, n_denied BIGINT, n_partially_denied BIGINT
-- source: exams_in_view()
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
    count(*) AS n_exams,
    count(is_not_related) AS n_causation,
    count(*) FILTER (is_not_related) AS n_not_related,
    count(is_zero_wpi) AS n_rated,
    count(*) FILTER (is_zero_wpi) AS n_zero_wpi,
    count(is_no_treatment) AS n_treatment_opinion,
    count(*) FILTER (is_no_treatment) AS n_no_treatment,
    count(is_full_duty) AS n_capacity_opinion,
    count(*) FILTER (is_full_duty) AS n_full_duty,
    count(*) FILTER (is_adverse) AS n_adverse,
    count(is_denied) AS n_with_decision,
    count(*) FILTER (is_denied) AS n_denied,
    count(*) FILTER (is_partially_denied) AS n_partially_denied
FROM exams_in_view()
GROUP BY ALL
ORDER BY group_value
