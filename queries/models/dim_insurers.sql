-- name: dim_insurers
-- Claim holders (carriers, self-insured employers, TPAs, funds) with their volume.
-- grain: one row per insurer_id
-- materialized: table
-- source: cases
SELECT
    insurer_id,
    any_value(insurer_name) AS insurer_name,
    count(*) AS n_cases
FROM cases
GROUP BY insurer_id
