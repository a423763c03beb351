-- name: casemix_patterns
-- Exam and outcome counts per covariate pattern (the case features and the specialty, never the
-- examiner) in a fixed pseudo-random sample of about $sample_size exams of the view: what the
-- case-mix models are fitted on. The sample is chosen by a hash of exam_id, so a view always
-- gets the same model; a view of up to $sample_size exams uses every exam.
-- grain: one row per distinct combination of the case features in the sample
-- params: $sample_size BIGINT
-- columns: specialty VARCHAR, claim_type VARCHAR, jurisdiction VARCHAR, body_part VARCHAR, injury_nature VARCHAR, age_band VARCHAR, claimant_sex VARCHAR, represented VARCHAR, requested_by VARCHAR, exam_year VARCHAR, guides_edition VARCHAR, n_exams BIGINT, n_adverse BIGINT, n_with_decision BIGINT, n_denied BIGINT, n_rated BIGINT, n_zero_wpi BIGINT
-- source: case_features_in_view()
SELECT
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
    count(*) FILTER (is_adverse) AS n_adverse,
    count(is_denied) AS n_with_decision,
    count(*) FILTER (is_denied) AS n_denied,
    count(is_zero_wpi) AS n_rated,
    count(*) FILTER (is_zero_wpi) AS n_zero_wpi
FROM case_features_in_view()
WHERE hash(exam_id) % 1000000
    < 1000000 * CAST($sample_size AS BIGINT) / greatest((SELECT count(*) FROM exams_in_view()), 1)
GROUP BY ALL
