-- name: row_in_view
-- Whether a row of fct_exams, or of a table carrying its exam's columns, is in the reader's
-- view: the access scope (an insurer's own insurer_ids) and the sidebar filters (a date window
-- on exam_date, and value lists, any value when empty). The values are DuckDB variables that
-- only queries.scoped_cursor sets, bound as parameters: no value is ever formatted into SQL.
-- The parameters are exam_date and queries.FILTER_COLUMNS, in that order.
CREATE OR REPLACE TEMP MACRO row_in_view(
    exam_date, jurisdiction, claim_type, body_part, insurer_id, specialty, requested_by, exam_type
) AS
    (getvariable('scope_insurers') IS NULL
        OR list_contains(getvariable('scope_insurers'), insurer_id))
    AND (getvariable('filter_start') IS NULL OR exam_date >= getvariable('filter_start'))
    AND (getvariable('filter_end') IS NULL OR exam_date <= getvariable('filter_end'))
    AND (getvariable('filter_jurisdiction') IS NULL
        OR list_contains(getvariable('filter_jurisdiction'), jurisdiction))
    AND (getvariable('filter_claim_type') IS NULL
        OR list_contains(getvariable('filter_claim_type'), claim_type))
    AND (getvariable('filter_body_part') IS NULL
        OR list_contains(getvariable('filter_body_part'), body_part))
    AND (getvariable('filter_insurer_id') IS NULL
        OR list_contains(getvariable('filter_insurer_id'), insurer_id))
    AND (getvariable('filter_specialty') IS NULL
        OR list_contains(getvariable('filter_specialty'), specialty))
    AND (getvariable('filter_requested_by') IS NULL
        OR list_contains(getvariable('filter_requested_by'), requested_by))
    AND (getvariable('filter_exam_type') IS NULL
        OR list_contains(getvariable('filter_exam_type'), exam_type))
