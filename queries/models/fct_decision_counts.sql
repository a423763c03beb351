-- name: fct_decision_counts
-- Published counts per decision-maker (examiner, judge, office), with the adverse rate.
-- grain: one row per maker_id, group_name, period
-- materialized: table
-- source: decision_counts
SELECT
    maker_id,
    coalesce(group_name, 'all') AS group_name,
    coalesce(period, 'all') AS period,
    n_decisions,
    n_adverse,
    n_expected,
    coalesce(source, 'unnamed') AS source,
    CASE WHEN n_decisions > 0 THEN n_adverse / n_decisions END AS adverse_rate
FROM decision_counts
