-- name: rates_by_crosstab
-- The counts of rates_by_group per pair of values of two case or exam features (a
-- cross-tabulation, e.g. jurisdiction by year). $first and $second each pick a feature from a
-- fixed list (jurisdiction, claim_type, body_part, specialty, requested_by, year, quarter);
-- outputs.tables checks them against the same list before the query runs. Missing feature
-- values form the group 'unknown'.
-- grain: one row per first_value and second_value
-- params: $first VARCHAR, $second VARCHAR
-- columns: first_value VARCHAR, second_value VARCHAR, n_exams BIGINT, n_causation BIGINT, n_not_related BIGINT, n_rated BIGINT, n_zero_wpi BIGINT, n_treatment_opinion BIGINT, n_no_treatment BIGINT, n_capacity_opinion BIGINT, n_full_duty BIGINT, n_adverse BIGINT, n_with_decision BIGINT, n_denied BIGINT, n_partially_denied BIGINT
-- source: exams_in_view(), outcome_counts()
WITH e AS (
    SELECT
        *,
        CAST(exam_year AS VARCHAR) AS year_value,
        CAST(exam_year AS VARCHAR) || '-Q' || CAST(quarter(exam_date) AS VARCHAR) AS quarter_value
    FROM exams_in_view()
)
SELECT
    coalesce(
        CASE $first
            WHEN 'jurisdiction' THEN jurisdiction
            WHEN 'claim_type' THEN claim_type
            WHEN 'body_part' THEN body_part
            WHEN 'specialty' THEN specialty
            WHEN 'requested_by' THEN requested_by
            WHEN 'year' THEN year_value
            WHEN 'quarter' THEN quarter_value
        END,
        'unknown'
    ) AS first_value,
    coalesce(
        CASE $second
            WHEN 'jurisdiction' THEN jurisdiction
            WHEN 'claim_type' THEN claim_type
            WHEN 'body_part' THEN body_part
            WHEN 'specialty' THEN specialty
            WHEN 'requested_by' THEN requested_by
            WHEN 'year' THEN year_value
            WHEN 'quarter' THEN quarter_value
        END,
        'unknown'
    ) AS second_value,
    unnest(outcome_counts(e))
FROM e
GROUP BY first_value, second_value
ORDER BY first_value, second_value
