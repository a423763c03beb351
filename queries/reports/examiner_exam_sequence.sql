-- name: examiner_exam_sequence
-- Every exam in date order with its case features, adverse opinion and time to MMI: the input
-- of the drift (CUSUM) and early-MMI (Cox) measures, which need one row per exam.
-- grain: one row per exam_id
-- params:
-- columns: examiner_id VARCHAR, specialty VARCHAR, exam_date DATE, claim_type VARCHAR, jurisdiction VARCHAR, body_part VARCHAR, injury_nature VARCHAR, age_band VARCHAR, claimant_sex VARCHAR, represented VARCHAR, requested_by VARCHAR, exam_year VARCHAR, is_adverse BOOLEAN, mmi_reached BOOLEAN, days_injury_to_mmi BIGINT
-- source: case_features_in_view()
SELECT
    examiner_id,
    specialty,
    exam_date,
    claim_type,
    jurisdiction,
    body_part,
    injury_nature,
    age_band,
    claimant_sex,
    represented,
    requested_by,
    exam_year,
    is_adverse,
    mmi_reached,
    days_injury_to_mmi
FROM case_features_in_view()
ORDER BY examiner_id, exam_date, exam_id
