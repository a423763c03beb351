-- name: scored_exams_in_view
-- Every exam of the view with the linear predictors of the case-mix models: the log odds of an
-- adverse opinion, a denial and a 0% impairment rating, and the log relative hazard of MMI.
-- `terms` holds one term per model and feature level (ime.flags.CaseMix), the intercepts
-- under the feature '(intercept)'. A level the models never saw (rarer than their fitting
-- sample could show) scores as the reference level. NULL features are the level 'missing'.
-- grain: one row per exam_id
CREATE OR REPLACE TEMP MACRO scored_exams_in_view(terms) AS TABLE
WITH term AS (
    SELECT unnest(
        CAST(terms AS STRUCT(
            feature VARCHAR,
            level VARCHAR,
            adverse DOUBLE,
            denial DOUBLE,
            zero_impairment DOUBLE,
            early_mmi DOUBLE
        )[]),
        recursive := true
    )
),
intercept AS (SELECT * FROM term WHERE feature = '(intercept)')
SELECT
    f.*,
    i.adverse
        + coalesce(t1.adverse, 0) + coalesce(t2.adverse, 0) + coalesce(t3.adverse, 0)
        + coalesce(t4.adverse, 0) + coalesce(t5.adverse, 0) + coalesce(t6.adverse, 0)
        + coalesce(t7.adverse, 0) + coalesce(t8.adverse, 0) + coalesce(t9.adverse, 0)
        + coalesce(t10.adverse, 0) + coalesce(t11.adverse, 0) AS eta_adverse,
    i.denial
        + coalesce(t1.denial, 0) + coalesce(t2.denial, 0) + coalesce(t3.denial, 0)
        + coalesce(t4.denial, 0) + coalesce(t5.denial, 0) + coalesce(t6.denial, 0)
        + coalesce(t7.denial, 0) + coalesce(t8.denial, 0) + coalesce(t9.denial, 0)
        + coalesce(t10.denial, 0) + coalesce(t11.denial, 0) AS eta_denial,
    i.zero_impairment
        + coalesce(t1.zero_impairment, 0) + coalesce(t2.zero_impairment, 0)
        + coalesce(t3.zero_impairment, 0) + coalesce(t4.zero_impairment, 0)
        + coalesce(t5.zero_impairment, 0) + coalesce(t6.zero_impairment, 0)
        + coalesce(t7.zero_impairment, 0) + coalesce(t8.zero_impairment, 0)
        + coalesce(t9.zero_impairment, 0) + coalesce(t10.zero_impairment, 0)
        + coalesce(t11.zero_impairment, 0) AS eta_zero_impairment,
    i.early_mmi
        + coalesce(t1.early_mmi, 0) + coalesce(t2.early_mmi, 0) + coalesce(t3.early_mmi, 0)
        + coalesce(t4.early_mmi, 0) + coalesce(t5.early_mmi, 0) + coalesce(t6.early_mmi, 0)
        + coalesce(t7.early_mmi, 0) + coalesce(t8.early_mmi, 0) + coalesce(t9.early_mmi, 0)
        + coalesce(t10.early_mmi, 0) + coalesce(t11.early_mmi, 0) AS eta_early_mmi
FROM case_features_in_view() AS f
CROSS JOIN intercept AS i
LEFT JOIN term AS t1 ON t1.feature = 'claim_type' AND t1.level = coalesce(f.claim_type, 'missing')
LEFT JOIN term AS t2 ON t2.feature = 'jurisdiction' AND t2.level = coalesce(f.jurisdiction, 'missing')
LEFT JOIN term AS t3 ON t3.feature = 'body_part' AND t3.level = coalesce(f.body_part, 'missing')
LEFT JOIN term AS t4 ON t4.feature = 'injury_nature' AND t4.level = coalesce(f.injury_nature, 'missing')
LEFT JOIN term AS t5 ON t5.feature = 'age_band' AND t5.level = coalesce(f.age_band, 'missing')
LEFT JOIN term AS t6 ON t6.feature = 'claimant_sex' AND t6.level = coalesce(f.claimant_sex, 'missing')
LEFT JOIN term AS t7 ON t7.feature = 'represented' AND t7.level = coalesce(f.represented, 'missing')
LEFT JOIN term AS t8 ON t8.feature = 'requested_by' AND t8.level = coalesce(f.requested_by, 'missing')
LEFT JOIN term AS t9 ON t9.feature = 'exam_year' AND t9.level = coalesce(f.exam_year, 'missing')
LEFT JOIN term AS t10 ON t10.feature = 'specialty' AND t10.level = coalesce(f.specialty, 'missing')
LEFT JOIN term AS t11 ON t11.feature = 'guides_edition' AND t11.level = coalesce(f.guides_edition, 'missing')
