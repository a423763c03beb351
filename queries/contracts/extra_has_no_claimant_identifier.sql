-- name: extra_has_no_claimant_identifier
-- No key of a stored `extra` (the unknown columns kept from input files), nor of a quarantined
-- row's `extra`, is a column name the identifier rule drops (docs/format.md: in every file,
-- including `extra`). The rule is etl.identifiers.is_identifier, registered by the load as
-- ime_is_identifier: the same function decides what the load drops. A violation stops the load.
-- grain: one row per table and extra key
-- columns: table_name VARCHAR, extra_key VARCHAR, n_rows BIGINT
-- source: examiners, cases, exams, decisions, treating_ratings, rulings, decision_counts, quarantine
-- checks: examiners, cases, exams, decisions, treating_ratings, rulings, decision_counts, quarantine
WITH extra_keys AS (
    SELECT 'examiners' AS table_name, unnest(json_keys(extra)) AS extra_key FROM examiners
    UNION ALL
    SELECT 'cases', unnest(json_keys(extra)) FROM cases
    UNION ALL
    SELECT 'exams', unnest(json_keys(extra)) FROM exams
    UNION ALL
    SELECT 'decisions', unnest(json_keys(extra)) FROM decisions
    UNION ALL
    SELECT 'treating_ratings', unnest(json_keys(extra)) FROM treating_ratings
    UNION ALL
    SELECT 'rulings', unnest(json_keys(extra)) FROM rulings
    UNION ALL
    SELECT 'decision_counts', unnest(json_keys(extra)) FROM decision_counts
    UNION ALL
    SELECT 'quarantine', unnest(json_keys(raw_row -> 'extra')) FROM quarantine
),
-- The rule is a Python function: called once per distinct key, not once per row (MATERIALIZED
-- keeps the filter from being pushed below the grouping).
distinct_keys AS MATERIALIZED (
    SELECT table_name, extra_key, count(*) AS n_rows FROM extra_keys GROUP BY ALL
)
SELECT table_name, extra_key, n_rows
FROM distinct_keys
WHERE ime_is_identifier(extra_key)
ORDER BY table_name, extra_key
