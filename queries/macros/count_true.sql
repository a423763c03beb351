-- name: count_true
-- The number of rows for which `condition` is true (NULL and false not counted): what
-- `count(*) FILTER (condition)` gives, a BIGINT and 0 when no row counts, about twice as fast.
-- DuckDB 2.0 evaluates each FILTER clause of an aggregate as a selection of its own, and the
-- report queries count a dozen conditions per group over every exam; count_if counts in one
-- pass, but returns a HUGEINT, and NULL when every condition is NULL.
CREATE OR REPLACE TEMP MACRO count_true(condition) AS
    coalesce(CAST(count_if(condition) AS BIGINT), 0)
