-- name: casemix_hazard
-- The baseline cumulative hazard of the Cox model of time to MMI of the unfiltered view (the
-- companion of casemix_terms' early_mmi terms), a step function of days from injury, filled
-- after each load by measures.casemix.store_models. Empty until then, or without a Cox model.
-- grain: one row per event time of the fitting sample
-- materialized: table
SELECT
    CAST(NULL AS DOUBLE) AS days,
    CAST(NULL AS DOUBLE) AS cumulative_hazard
WHERE false
