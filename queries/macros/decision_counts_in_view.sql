-- name: decision_counts_in_view
-- Published decision counts (fct_decision_counts). They carry no insurer or claimant: every
-- role may read them, and the sidebar filters do not apply.
-- grain: one row per row of fct_decision_counts
CREATE OR REPLACE TEMP MACRO decision_counts_in_view() AS TABLE
SELECT * FROM fct_decision_counts
