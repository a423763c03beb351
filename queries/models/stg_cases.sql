-- name: stg_cases
-- Cases as loaded, without the claimant pseudonym, with the age band the case-mix model uses.
-- grain: one row per case_id
-- materialized: view
-- source: cases
SELECT
    case_id,
    insurer_id,
    insurer_name,
    claim_type,
    jurisdiction,
    injury_date,
    body_part,
    injury_nature,
    claimant_sex,
    represented,
    year(injury_date) - claimant_birth_year AS claimant_age_years,
    CASE
        WHEN claimant_birth_year IS NULL THEN 'unknown'
        WHEN year(injury_date) - claimant_birth_year < 30 THEN 'under_30'
        WHEN year(injury_date) - claimant_birth_year < 45 THEN '30_44'
        WHEN year(injury_date) - claimant_birth_year < 55 THEN '45_54'
        WHEN year(injury_date) - claimant_birth_year < 65 THEN '55_64'
        ELSE '65_plus'
    END AS age_band
FROM cases
