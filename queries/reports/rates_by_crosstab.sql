-- name: rates_by_crosstab
-- The counts of rates_by_group per pair of values of two case or exam features (a
-- cross-tabulation, e.g. jurisdiction by year). $first and $second each pick a feature from a
-- fixed list (jurisdiction, claim_type, body_part, specialty, requested_by, year, quarter);
-- outputs.tables checks them against the same list before the query runs. Missing feature
-- values form the group 'unknown'.
-- grain: one row per first_value and second_value
-- params: $first VARCHAR, $second VARCHAR
-- columns: first_value VARCHAR, second_value VARCHAR, n_exams BIGINT, n_causation BIGINT, n_not_related BIGINT, n_rated BIGINT, n_zero_wpi BIGINT, n_treatment_opinion BIGINT, n_no_treatment BIGINT, n_capacity_opinion BIGINT, n_full_duty BIGINT, n_adverse BIGINT, n_with_decision BIGINT, n_denied BIGINT, n_partially_denied BIGINT
-- source: exams_in_view()
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
FROM e
GROUP BY ALL
ORDER BY first_value, second_value
