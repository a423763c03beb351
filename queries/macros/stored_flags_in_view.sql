-- name: stored_flags_in_view
-- The flags `ime load` stored (examiner_flags). They describe every examiner, unfiltered: only
-- a reader whose scope is every case and whose filters are empty may see them, which
-- measures.engine.flags_for_view checks; an insurer's scope sees no row.
-- grain: one row per examiner_id and measure
CREATE OR REPLACE TEMP MACRO stored_flags_in_view() AS TABLE
SELECT * FROM examiner_flags
WHERE getvariable('scope_insurers') IS NULL
