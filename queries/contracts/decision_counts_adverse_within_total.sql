-- name: decision_counts_adverse_within_total
-- Adverse decisions are a part of all decisions.
-- checks: decision_counts
SELECT maker_id, group_name, period, n_decisions, n_adverse
FROM decision_counts
WHERE n_adverse > n_decisions OR n_adverse < 0
