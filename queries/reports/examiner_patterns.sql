-- name: examiner_patterns
-- Exam counts and outcome counts per examiner and covariate pattern: the input of the
-- case-mix models (a grouped binomial fit gives the same estimates as one row per exam).
-- grain: one row per examiner_id and distinct combination of the case features
-- params:
-- columns: examiner_id VARCHAR, specialty VARCHAR, claim_type VARCHAR, jurisdiction VARCHAR, body_part VARCHAR, injury_nature VARCHAR, age_band VARCHAR, claimant_sex VARCHAR, represented VARCHAR, requested_by VARCHAR, exam_year VARCHAR, guides_edition VARCHAR, n_exams BIGINT, n_adverse BIGINT, n_with_decision BIGINT, n_denied BIGINT, n_rated BIGINT, n_zero_wpi BIGINT
-- source: case_features_in_view()
SELECT
    examiner_id,
    specialty,
    claim_type,
    jurisdiction,
    body_part,
    injury_nature,
    age_band,
    claimant_sex,
    represented,
    requested_by,
    exam_year,
    guides_edition,
    count(*) AS n_exams,
    count_true(is_adverse) AS n_adverse,
    count(is_denied) AS n_with_decision,
    count_true(is_denied) AS n_denied,
    count(is_zero_wpi) AS n_rated,
    count_true(is_zero_wpi) AS n_zero_wpi
FROM case_features_in_view()
GROUP BY ALL
