-- name: examiner_rulings
-- Later rulings on each examiner's reports (docs/methods.md, downstream): exams whose report a ruling
-- rejected, and exams whose decision a ruling reversed, out of all the examiner's exams in
-- view; n_ruled counts the exams with any ruling.
-- grain: one row per examiner_id
-- params:
-- columns: examiner_id VARCHAR, specialty VARCHAR, n_exams BIGINT, n_ruled BIGINT, n_report_rejected BIGINT, n_decision_reversed BIGINT
-- source: exams_in_view()
SELECT
    examiner_id,
    any_value(specialty) AS specialty,
    count(*) AS n_exams,
    count_true(n_rulings > 0) AS n_ruled,
    count_true(is_report_rejected) AS n_report_rejected,
    count_true(is_decision_reversed) AS n_decision_reversed
FROM exams_in_view()
WHERE examiner_id IS NOT NULL
GROUP BY examiner_id
ORDER BY examiner_id
