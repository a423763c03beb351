-- name: examiner_expected
-- Observed, expected and binomial variance of adverse opinions, denials and 0% impairment
-- ratings per examiner and retaining side, the expected counts from the case-mix models in
-- $terms (indirect standardisation: the sum of each exam's predicted probability).
-- grain: one row per examiner_id and side (insurer: retained by $insurer_side; neutral:
-- retained by $neutral_side; other)
-- params: $terms STRUCT[], $insurer_side VARCHAR[], $neutral_side VARCHAR[]
-- columns: examiner_id VARCHAR, specialty VARCHAR, side VARCHAR, n_exams BIGINT, n_adverse BIGINT, e_adverse DOUBLE, v_adverse DOUBLE, n_with_decision BIGINT, n_denied BIGINT, e_denied DOUBLE, v_denied DOUBLE, n_rated BIGINT, n_zero_wpi BIGINT, e_zero_wpi DOUBLE, v_zero_wpi DOUBLE
-- source: scored_exams_in_view($terms)
WITH risk AS (
    SELECT
        examiner_id,
        specialty,
        CASE
            WHEN list_contains($insurer_side, requested_by) THEN 'insurer'
            WHEN list_contains($neutral_side, requested_by) THEN 'neutral'
            ELSE 'other'
        END AS side,
        is_adverse,
        is_denied,
        is_zero_wpi,
        1 / (1 + exp(-eta_adverse)) AS p_adverse,
        1 / (1 + exp(-eta_denial)) AS p_denied,
        1 / (1 + exp(-eta_zero_impairment)) AS p_zero_wpi
    FROM scored_exams_in_view($terms)
)
SELECT
    examiner_id,
    any_value(specialty) AS specialty,
    side,
    count(*) AS n_exams,
    count(*) FILTER (is_adverse) AS n_adverse,
    coalesce(sum(p_adverse), 0) AS e_adverse,
    coalesce(sum(p_adverse * (1 - p_adverse)), 0) AS v_adverse,
    count(is_denied) AS n_with_decision,
    count(*) FILTER (is_denied) AS n_denied,
    coalesce(sum(p_denied) FILTER (is_denied IS NOT NULL), 0) AS e_denied,
    coalesce(sum(p_denied * (1 - p_denied)) FILTER (is_denied IS NOT NULL), 0) AS v_denied,
    count(is_zero_wpi) AS n_rated,
    count(*) FILTER (is_zero_wpi) AS n_zero_wpi,
    coalesce(sum(p_zero_wpi) FILTER (is_zero_wpi IS NOT NULL), 0) AS e_zero_wpi,
    coalesce(sum(p_zero_wpi * (1 - p_zero_wpi)) FILTER (is_zero_wpi IS NOT NULL), 0) AS v_zero_wpi
FROM risk
GROUP BY examiner_id, side
ORDER BY examiner_id, side
