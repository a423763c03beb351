-- name: examiner_mmi_expected
-- Observed and case-mix expected MMI declarations per examiner: each exam's expectation is the
-- Cox model's baseline cumulative hazard at its follow-up time ($hazard, a step function of
-- days) times its relative hazard from $terms (the survival analogue of indirect
-- standardisation). Exams with unknown MMI status or a negative follow-up are left out.
-- grain: one row per examiner_id
-- params: $terms STRUCT[], $hazard STRUCT[]
-- columns: examiner_id VARCHAR, n_exams BIGINT, observed BIGINT, expected DOUBLE
-- source: scored_exams_in_view($terms), exams_in_view()
WITH hazard AS (
    SELECT unnest(
        CAST($hazard AS STRUCT(days DOUBLE, cumulative_hazard DOUBLE)[]), recursive := true
    )
),
followed AS (
    SELECT examiner_id, mmi_reached, days_injury_to_mmi, eta_early_mmi
    FROM scored_exams_in_view($terms)
    WHERE mmi_reached IS NOT NULL AND days_injury_to_mmi >= 0
),
-- The step function read at every whole day of follow-up: a join on the day then finds each
-- exam's baseline, which is cheaper than an as-of join of every exam.
-- Before the first event time the baseline has not stepped: nothing is expected yet.
by_day AS (
    SELECT d.day, coalesce(h.cumulative_hazard, 0) AS cumulative_hazard
    FROM range(0, (SELECT coalesce(max(days_injury_to_mmi) + 1, 0) FROM exams_in_view())) AS d(day)
    ASOF LEFT JOIN hazard AS h ON d.day >= h.days
)
SELECT
    f.examiner_id,
    count(*) AS n_exams,
    count(*) FILTER (f.mmi_reached) AS observed,
    coalesce(sum(b.cumulative_hazard * exp(f.eta_early_mmi)), 0) AS expected
FROM followed AS f
JOIN by_day AS b ON b.day = f.days_injury_to_mmi
GROUP BY f.examiner_id
ORDER BY f.examiner_id
