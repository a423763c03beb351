-- name: examiner_mmi_expected
-- Observed and case-mix expected MMI declarations per examiner: each exam's expectation is the
-- Cox model's baseline cumulative hazard at its follow-up time ($hazard, a step function of
-- days) times its relative hazard from $terms (the survival analogue of indirect
-- standardisation). Exams with unknown MMI status or a negative follow-up are left out.
-- grain: one row per examiner_id
-- params: $terms STRUCT[], $hazard STRUCT[]
-- columns: examiner_id VARCHAR, n_exams BIGINT, observed BIGINT, expected DOUBLE
-- source: scored_exams_in_view($terms)
WITH hazard AS (
    SELECT unnest(
        CAST($hazard AS STRUCT(days DOUBLE, cumulative_hazard DOUBLE)[]), recursive := true
    )
),
followed AS (
    SELECT examiner_id, mmi_reached, days_injury_to_mmi, eta_early_mmi
    FROM scored_exams_in_view($terms)
    WHERE mmi_reached IS NOT NULL AND days_injury_to_mmi >= 0
)
SELECT
    f.examiner_id,
    count(*) AS n_exams,
    count(*) FILTER (f.mmi_reached) AS observed,
    -- Before the first event time the baseline has not stepped: nothing is expected yet.
    coalesce(sum(coalesce(h.cumulative_hazard, 0) * exp(f.eta_early_mmi)), 0) AS expected
FROM followed AS f
ASOF LEFT JOIN hazard AS h ON f.days_injury_to_mmi >= h.days
GROUP BY f.examiner_id
ORDER BY f.examiner_id
