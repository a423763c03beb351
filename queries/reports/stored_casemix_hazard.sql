-- name: stored_casemix_hazard
-- The baseline cumulative hazard of the time-to-MMI model computed when the database was
-- loaded, for the unfiltered view.
-- grain: one row per event time
-- params:
-- columns: days DOUBLE, cumulative_hazard DOUBLE
-- source: stored_casemix_hazard_in_view()
SELECT * FROM stored_casemix_hazard_in_view() ORDER BY days
