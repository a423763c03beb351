-- name: overview_totals
-- Headline counts and rates for the filtered exams: volume, adverse opinions, post-exam denials,
-- zero-impairment ratings. Intervals are computed from these counts by the caller.
-- grain: one row
-- params:
-- columns: n_exams BIGINT, n_examiners BIGINT, n_adverse BIGINT, n_with_decision BIGINT, n_denied BIGINT, n_partially_denied BIGINT, n_rated BIGINT, n_zero_wpi BIGINT
-- source: exams_in_view()
SELECT
    count(*) AS n_exams,
    count(DISTINCT examiner_id) AS n_examiners,
    count_true(is_adverse) AS n_adverse,
    count(is_denied) AS n_with_decision,
    count_true(is_denied) AS n_denied,
    count_true(is_partially_denied) AS n_partially_denied,
    count(is_zero_wpi) AS n_rated,
    count_true(is_zero_wpi) AS n_zero_wpi
FROM exams_in_view()
