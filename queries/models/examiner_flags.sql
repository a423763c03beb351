-- name: examiner_flags
-- The examiner flags of the unfiltered view, filled after each load by measures.engine.store_flags
-- (`ime load` does it) so that the default view opens without recomputing them. Empty until then.
-- grain: one row per examiner (or decision-maker) and measure
-- materialized: table
SELECT
    CAST(NULL AS VARCHAR) AS examiner_id,
    CAST(NULL AS VARCHAR) AS measure,
    CAST(NULL AS BIGINT) AS n,
    CAST(NULL AS DOUBLE) AS observed,
    CAST(NULL AS DOUBLE) AS expected,
    CAST(NULL AS DOUBLE) AS ratio,
    CAST(NULL AS DOUBLE) AS ci_low,
    CAST(NULL AS DOUBLE) AS ci_high,
    CAST(NULL AS DOUBLE) AS p_value,
    CAST(NULL AS DOUBLE) AS q_value,
    CAST(NULL AS BOOLEAN) AS flagged,
    CAST(NULL AS VARCHAR) AS direction,
    CAST(NULL AS VARCHAR) AS peer_group,
    CAST(NULL AS DOUBLE) AS raw_rate,
    CAST(NULL AS DOUBLE) AS peer_rate,
    CAST(NULL AS DOUBLE) AS shrunken_ratio,
    CAST(NULL AS DOUBLE) AS z,
    CAST(NULL AS DOUBLE) AS z_adjusted,
    CAST(NULL AS BOOLEAN) AS eligible,
    CAST(NULL AS DOUBLE) AS cusum_threshold,
    CAST(NULL AS DOUBLE) AS variance,
    CAST(NULL AS DOUBLE) AS tau2,
    CAST(NULL AS DOUBLE) AS phi
WHERE false
