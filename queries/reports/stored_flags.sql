-- name: stored_flags
-- The flags computed when the database was loaded, for the unfiltered view of all examiners.
-- grain: one row per examiner (or decision-maker) and measure
-- params:
-- columns: examiner_id VARCHAR, measure VARCHAR, n BIGINT, observed DOUBLE, expected DOUBLE, ratio DOUBLE, ci_low DOUBLE, ci_high DOUBLE, p_value DOUBLE, q_value DOUBLE, flagged BOOLEAN, direction VARCHAR, peer_group VARCHAR, raw_rate DOUBLE, peer_rate DOUBLE, shrunken_ratio DOUBLE, z DOUBLE, z_adjusted DOUBLE, eligible BOOLEAN, cusum_threshold DOUBLE, variance DOUBLE, tau2 DOUBLE, phi DOUBLE
-- source: stored_flags_in_view()
SELECT * FROM stored_flags_in_view()
