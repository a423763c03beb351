-- name: examiner_counts
-- Per examiner, every count an examiner-level rate or comparison is built on, so that each
-- rate can be shown with its count and interval and suppressed with it: adverse opinions
-- among all exams; each opinion among the exams giving one; post-exam denials (and partial
-- denials) among exams followed by a decision; 0% ratings among rated exams; MMI declared
-- among exams with an MMI opinion; adverse opinions by who retained the examiner
-- (insurer or employer, against claimant or neutral: board, panel, agreed; addenda aside, as
-- the allegiance measure counts them); reports later
-- rejected and decisions reversed among exams with a ruling; and rated exams with a
-- treating rating of the same case, with the mean gap (IME minus treating, in WPI points).
-- grain: one row per examiner_id
-- params:
-- columns: examiner_id VARCHAR, specialty VARCHAR, first_exam_on DATE, last_exam_on DATE, n_exams BIGINT, n_adverse BIGINT, n_causation BIGINT, n_not_related BIGINT, n_treatment_opinion BIGINT, n_no_treatment BIGINT, n_capacity_opinion BIGINT, n_full_duty BIGINT, n_with_decision BIGINT, n_denied BIGINT, n_partially_denied BIGINT, n_rated BIGINT, n_zero_wpi BIGINT, n_mmi_opinion BIGINT, n_mmi_reached BIGINT, n_insurer_side BIGINT, n_adverse_insurer_side BIGINT, n_neutral_side BIGINT, n_adverse_neutral_side BIGINT, n_with_ruling BIGINT, n_report_rejected BIGINT, n_decision_reversed BIGINT, n_paired BIGINT, gap_mean_wpi_points DOUBLE
-- source: exams_in_view(), rating_pairs_in_view()
SELECT
    e.examiner_id,
    any_value(e.specialty) AS specialty,
    min(e.exam_date) AS first_exam_on,
    max(e.exam_date) AS last_exam_on,
    count(*) AS n_exams,
    count_true(e.is_adverse) AS n_adverse,
    count(e.is_not_related) AS n_causation,
    count_true(e.is_not_related) AS n_not_related,
    count(e.is_no_treatment) AS n_treatment_opinion,
    count_true(e.is_no_treatment) AS n_no_treatment,
    count(e.is_full_duty) AS n_capacity_opinion,
    count_true(e.is_full_duty) AS n_full_duty,
    count(e.is_denied) AS n_with_decision,
    count_true(e.is_denied) AS n_denied,
    count_true(e.is_partially_denied) AS n_partially_denied,
    count(e.is_zero_wpi) AS n_rated,
    count_true(e.is_zero_wpi) AS n_zero_wpi,
    -- As the early-MMI measure: an MMI opinion and a time from injury that is not negative.
    count_true(e.mmi_reached IS NOT NULL AND e.days_injury_to_mmi >= 0) AS n_mmi_opinion,
    count_true(e.mmi_reached AND e.days_injury_to_mmi >= 0) AS n_mmi_reached,
    -- As the allegiance measure: addenda aside (each adds to the examiner's own earlier report).
    count_true(e.retained_by = 'insurer_or_employer' AND NOT e.is_addendum) AS n_insurer_side,
    count_true(e.retained_by = 'insurer_or_employer' AND NOT e.is_addendum AND e.is_adverse)
        AS n_adverse_insurer_side,
    count_true(e.retained_by = 'claimant_or_neutral' AND NOT e.is_addendum) AS n_neutral_side,
    count_true(e.retained_by = 'claimant_or_neutral' AND NOT e.is_addendum AND e.is_adverse)
        AS n_adverse_neutral_side,
    count_true(e.n_rulings > 0) AS n_with_ruling,
    count_true(e.is_report_rejected) AS n_report_rejected,
    count_true(e.is_decision_reversed) AS n_decision_reversed,
    count(p.gap_wpi_points) AS n_paired,
    avg(p.gap_wpi_points) AS gap_mean_wpi_points
FROM (SELECT *, exam_type IS NOT DISTINCT FROM 'addendum' AS is_addendum FROM exams_in_view()) AS e
LEFT JOIN rating_pairs_in_view() AS p ON p.exam_id = e.exam_id
WHERE e.examiner_id IS NOT NULL
GROUP BY e.examiner_id
ORDER BY e.examiner_id
