-- name: case_features_in_view
-- The exams of the view with the case features of the case-mix models as text (the models treat
-- every feature as categorical), the examiner and the outcomes the flags measure: the one
-- place that says how a feature is read, for fitting and for scoring alike.
-- grain: one row per exam_id
CREATE OR REPLACE TEMP MACRO case_features_in_view() AS TABLE
SELECT
    exam_id,
    examiner_id,
    exam_date,
    specialty,
    claim_type,
    jurisdiction,
    body_part,
    injury_nature,
    age_band,
    claimant_sex,
    CAST(represented AS VARCHAR) AS represented,
    requested_by,
    CAST(exam_year AS VARCHAR) AS exam_year,
    guides_edition,
    is_adverse,
    is_denied,
    is_zero_wpi,
    mmi_reached,
    days_injury_to_mmi
FROM exams_in_view()
