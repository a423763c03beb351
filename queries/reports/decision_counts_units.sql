-- name: decision_counts_units
-- Published decision counts per decision-maker and group, summed over periods.
-- grain: one row per source, maker_id and group_name
-- params:
-- columns: source VARCHAR, maker_id VARCHAR, group_name VARCHAR, n_periods BIGINT, n_decisions HUGEINT, n_adverse HUGEINT, n_expected DOUBLE
-- source: decision_counts_in_view()
SELECT
    source,
    maker_id,
    group_name,
    count(*) AS n_periods,
    sum(n_decisions) AS n_decisions,
    sum(n_adverse) AS n_adverse,
    sum(n_expected) AS n_expected
FROM decision_counts_in_view()
GROUP BY source, maker_id, group_name
ORDER BY source, maker_id, group_name
