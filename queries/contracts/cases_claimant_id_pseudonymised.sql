-- name: cases_claimant_id_pseudonymised
-- claimant_id holds only keyed hashes (64 hex digits), never a raw identifier.
-- checks: cases
SELECT case_id FROM cases WHERE NOT regexp_full_match(claimant_id, '[0-9a-f]{64}')
