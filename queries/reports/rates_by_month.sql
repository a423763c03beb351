-- name: rates_by_month
-- Opinion and post-exam decision counts per calendar month of the exam date, for trend lines.
-- The counts of the outcome_counts macro, as in rates_by_group.
-- grain: one row per exam_month
-- params:
-- columns: exam_month DATE, n_exams BIGINT, n_causation BIGINT, n_not_related BIGINT, n_rated BIGINT, n_zero_wpi BIGINT, n_treatment_opinion BIGINT, n_no_treatment BIGINT, n_capacity_opinion BIGINT, n_full_duty BIGINT, n_adverse BIGINT, n_with_decision BIGINT, n_denied BIGINT, n_partially_denied BIGINT
-- counts: n_exams, n_causation, n_not_related, n_rated, n_zero_wpi, n_treatment_opinion, n_no_treatment, n_capacity_opinion, n_full_duty, n_adverse, n_with_decision, n_denied, n_partially_denied
-- source: exams_in_view(), outcome_counts()
SELECT
    exam_month,
    unnest(outcome_counts(e))
FROM exams_in_view() AS e
GROUP BY exam_month
ORDER BY exam_month
