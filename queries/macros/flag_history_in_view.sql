-- name: flag_history_in_view
-- Every load's stored flags (flag_history, written by measures.engine.store_flags). Like
-- stored_flags_in_view, they describe every examiner, unfiltered: an insurer's scope sees no row.
-- grain: one row per load_id, examiner_id and measure
CREATE OR REPLACE TEMP MACRO flag_history_in_view() AS TABLE
SELECT * FROM flag_history
WHERE getvariable('scope_insurers') IS NULL
