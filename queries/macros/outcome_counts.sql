-- name: outcome_counts
-- The opinion and post-exam decision counts behind every rate of docs/methods.md, as one
-- struct: a report query groups its exams and selects `unnest(outcome_counts(e))`, where `e`
-- is the exams' table alias (a row of exams_in_view()), which expands to the columns below.
-- Each rate has its own denominator: not-related among causation opinions (undetermined
-- excluded), zero impairment among rated exams, no-treatment among treatment opinions,
-- full-duty among work-capacity opinions, adverse among all exams, denied and partially denied
-- among exams followed by a decision (dashboard.analysis.MEASURES pairs them).
CREATE OR REPLACE TEMP MACRO outcome_counts(exam) AS {
    'n_exams': count(*),
    'n_causation': count(exam.is_not_related),
    'n_not_related': count_true(exam.is_not_related),
    'n_rated': count(exam.is_zero_wpi),
    'n_zero_wpi': count_true(exam.is_zero_wpi),
    'n_treatment_opinion': count(exam.is_no_treatment),
    'n_no_treatment': count_true(exam.is_no_treatment),
    'n_capacity_opinion': count(exam.is_full_duty),
    'n_full_duty': count_true(exam.is_full_duty),
    'n_adverse': count_true(exam.is_adverse),
    'n_with_decision': count(exam.is_denied),
    'n_denied': count_true(exam.is_denied),
    'n_partially_denied': count_true(exam.is_partially_denied)
}
