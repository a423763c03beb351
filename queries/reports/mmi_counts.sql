-- name: mmi_counts
-- Time to MMI as counts for the Kaplan-Meier estimate: per group and day since injury, the
-- exams whose examiner declared MMI that day (events) and the exams examined that day without
-- MMI (censored: not yet at MMI when seen). Exams without an MMI opinion are left out.
-- $group_by picks the grouping feature from a fixed list (jurisdiction, claim_type, body_part,
-- insurer_id, specialty, requested_by, retained_by, exam_type, represented, age_band,
-- claimant_sex, guides_edition); any other value gives one group 'all'.
-- References: Kaplan EL, Meier P. J Am Stat Assoc 1958;53:457-481.
-- grain: one row per group_value and days_injury_to_mmi
-- params: $group_by VARCHAR
-- columns: group_value VARCHAR, days_injury_to_mmi BIGINT, n_event BIGINT, n_censored BIGINT
-- counts: n_event, n_censored
-- source: exams_in_view()
SELECT
    coalesce(
        CASE $group_by
            WHEN 'jurisdiction' THEN jurisdiction
            WHEN 'claim_type' THEN claim_type
            WHEN 'body_part' THEN body_part
            WHEN 'insurer_id' THEN insurer_id
            WHEN 'specialty' THEN specialty
            WHEN 'requested_by' THEN requested_by
            WHEN 'retained_by' THEN retained_by
            WHEN 'exam_type' THEN exam_type
            WHEN 'represented' THEN CASE WHEN represented THEN 'represented' WHEN NOT represented THEN 'not represented' END
            WHEN 'age_band' THEN age_band
            WHEN 'claimant_sex' THEN claimant_sex
            WHEN 'guides_edition' THEN guides_edition
            ELSE 'all'
        END,
        'unknown'
    ) AS group_value,
    days_injury_to_mmi,
    count_true(mmi_reached) AS n_event,
    count_true(NOT mmi_reached) AS n_censored
FROM exams_in_view()
WHERE days_injury_to_mmi IS NOT NULL AND mmi_reached IS NOT NULL
GROUP BY ALL
ORDER BY group_value, days_injury_to_mmi
