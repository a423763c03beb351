-- name: rates_by_month
-- Opinion and post-exam decision counts per calendar month of the exam date, for trend lines.
-- Denominators as in rates_by_group.
-- grain: one row per exam_month
-- params:
-- columns: exam_month DATE, n_exams BIGINT, n_causation BIGINT, n_not_related BIGINT, n_rated BIGINT, n_zero_wpi BIGINT, n_treatment_opinion BIGINT, n_no_treatment BIGINT, n_capacity_opinion BIGINT, n_full_duty BIGINT, n_adverse BIGINT, n_with_decision BIGINT, n_denied BIGINT, n_partially_denied BIGINT
-- source: exams_in_view()
SELECT
    exam_month,
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
GROUP BY exam_month
ORDER BY exam_month
