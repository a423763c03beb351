-- name: casemix_terms
-- The case-mix models of the unfiltered view (adverse opinion, denial, 0% impairment, time to
-- MMI): one term per model and feature level, filled with the examiner flags after each load by
-- ime.flags.store_flags, so the default view scores exams without refitting. Empty until then.
-- grain: one row per feature and level
-- materialized: table
SELECT
    CAST(NULL AS VARCHAR) AS feature,
    CAST(NULL AS VARCHAR) AS level,
    CAST(NULL AS DOUBLE) AS adverse,
    CAST(NULL AS DOUBLE) AS denial,
    CAST(NULL AS DOUBLE) AS zero_impairment,
    CAST(NULL AS DOUBLE) AS early_mmi
WHERE false
