-- name: stored_casemix_terms
-- The case-mix model terms computed when the database was loaded, for the unfiltered view.
-- grain: one row per feature and level
-- params:
-- columns: feature VARCHAR, level VARCHAR, adverse DOUBLE, denial DOUBLE, zero_impairment DOUBLE, early_mmi DOUBLE
-- source: stored_casemix_terms_in_view()
SELECT * FROM stored_casemix_terms_in_view() ORDER BY feature, level
