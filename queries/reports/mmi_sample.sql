-- name: mmi_sample
-- A fixed pseudo-random sample of about $sample_size exams of the view with a known MMI status
-- and time from injury: what the Cox model of time to MMI is fitted on. Chosen by a hash of
-- exam_id (never by outcome or time, which would bias the hazard), so a view always gets the
-- same model; a view of up to $sample_size such exams uses every one.
-- grain: one row per sampled exam_id
-- params: $sample_size BIGINT
-- columns: claim_type VARCHAR, jurisdiction VARCHAR, body_part VARCHAR, injury_nature VARCHAR, age_band VARCHAR, claimant_sex VARCHAR, represented VARCHAR, requested_by VARCHAR, exam_year VARCHAR, mmi_reached BOOLEAN, days_injury_to_mmi BIGINT
-- source: case_features_in_view()
WITH followed AS (
    SELECT *
    FROM case_features_in_view()
    WHERE mmi_reached IS NOT NULL AND days_injury_to_mmi >= 0
)
SELECT
    claim_type,
    jurisdiction,
    body_part,
    injury_nature,
    age_band,
    claimant_sex,
    represented,
    requested_by,
    exam_year,
    mmi_reached,
    days_injury_to_mmi
FROM followed
WHERE hash(exam_id) % 1000000
    < 1000000 * CAST($sample_size AS BIGINT) / greatest((SELECT count(*) FROM followed), 1)
ORDER BY exam_id
