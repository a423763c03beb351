-- name: fct_exams
-- Every exam with its case's features, the examiner's specialty, the opinion flags of docs/methods.md,
-- the time to MMI, the decision that followed it and later rulings on it.
-- Opinion flags are NULL where the exam gives no opinion (the denominator excludes them):
-- is_not_related among causation opinions other than undetermined, is_zero_wpi among rated
-- exams. Adverse opinion = not_related, or no further treatment, or MMI reached with 0% WPI.
-- Post-exam decision: the decision linked to the exam by exam_id, else the first unlinked
-- decision on the case within 90 days of report_date (exam_date when there is no report).
-- Time to MMI: days from injury to mmi_date when reached (event), else to exam_date (censored).
-- Time since injury at the exam, in bands (injury_to_exam_band): what early MMI's case-mix model
-- reads, since whether a claimant is at MMI depends above all on how long ago the injury was.
-- grain: one row per exam_id
-- materialized: table
-- source: exams, stg_cases, examiners, decisions, rulings
WITH post_exam AS (
    SELECT
        e.exam_id,
        arg_min(d.outcome, (d.exam_id IS NULL, d.decision_date, d.decision_id)) AS outcome,
        min(d.decision_date) AS decided_on
    FROM exams AS e
    JOIN decisions AS d
        ON d.case_id = e.case_id
        AND (
            d.exam_id = e.exam_id
            OR (d.exam_id IS NULL
                AND d.decision_date BETWEEN coalesce(e.report_date, e.exam_date)
                AND coalesce(e.report_date, e.exam_date) + INTERVAL 90 DAY)
        )
    GROUP BY e.exam_id
),
later_rulings AS (
    SELECT
        exam_id,
        count(*) AS n_rulings,
        bool_or(outcome = 'report_rejected') AS is_report_rejected,
        bool_or(outcome = 'decision_reversed') AS is_decision_reversed
    FROM rulings
    WHERE exam_id IS NOT NULL
    GROUP BY exam_id
)
SELECT
    e.exam_id,
    e.case_id,
    e.examiner_id,
    coalesce(x.specialty, 'other') AS specialty,
    c.insurer_id,
    c.claim_type,
    c.jurisdiction,
    c.body_part,
    c.injury_nature,
    c.claimant_sex,
    c.represented,
    c.age_band,
    e.requested_by,
    CASE
        WHEN e.requested_by IN ('insurer', 'employer') THEN 'insurer_or_employer'
        WHEN e.requested_by IN ('claimant', 'board', 'panel', 'agreed') THEN 'claimant_or_neutral'
        ELSE 'other'
    END AS retained_by,
    e.exam_type,
    c.injury_date,
    e.referral_date,
    e.exam_date,
    e.report_date,
    year(e.exam_date) AS exam_year,
    CAST(date_trunc('month', e.exam_date) AS DATE) AS exam_month,
    e.causation,
    e.mmi_status,
    e.mmi_date,
    e.wpi_percent,
    e.guides_edition,
    e.work_capacity,
    e.further_treatment,
    CASE WHEN e.causation IN ('related', 'partially_related', 'not_related')
        THEN e.causation = 'not_related' END AS is_not_related,
    CASE WHEN e.wpi_percent IS NOT NULL THEN e.wpi_percent = 0 END AS is_zero_wpi,
    CASE WHEN e.further_treatment IN ('recommended', 'not_recommended')
        THEN e.further_treatment = 'not_recommended' END AS is_no_treatment,
    CASE WHEN e.work_capacity IN ('full_duty', 'restricted', 'no_work')
        THEN e.work_capacity = 'full_duty' END AS is_full_duty,
    coalesce(e.causation = 'not_related', false)
        OR coalesce(e.further_treatment = 'not_recommended', false)
        OR coalesce(e.mmi_status = 'reached' AND e.wpi_percent = 0, false) AS is_adverse,
    CASE WHEN e.mmi_status IS NOT NULL THEN e.mmi_status = 'reached' END AS mmi_reached,
    -- Bands of about a month early on, wider later, where the share at MMI changes slowly. The
    -- label is the band's first day (ime/bench.py mirrors these edges).
    CASE
        WHEN e.exam_date - c.injury_date < 30 THEN '0'
        WHEN e.exam_date - c.injury_date < 60 THEN '30'
        WHEN e.exam_date - c.injury_date < 90 THEN '60'
        WHEN e.exam_date - c.injury_date < 120 THEN '90'
        WHEN e.exam_date - c.injury_date < 150 THEN '120'
        WHEN e.exam_date - c.injury_date < 180 THEN '150'
        WHEN e.exam_date - c.injury_date < 240 THEN '180'
        WHEN e.exam_date - c.injury_date < 300 THEN '240'
        WHEN e.exam_date - c.injury_date < 365 THEN '300'
        WHEN e.exam_date - c.injury_date < 450 THEN '365'
        WHEN e.exam_date - c.injury_date < 540 THEN '450'
        WHEN e.exam_date - c.injury_date < 730 THEN '540'
        WHEN e.exam_date - c.injury_date < 1095 THEN '730'
        ELSE '1095'
    END AS injury_to_exam_band,
    CASE
        WHEN e.mmi_status = 'reached' THEN e.mmi_date - c.injury_date
        WHEN e.mmi_status IS NOT NULL THEN e.exam_date - c.injury_date
    END AS days_injury_to_mmi,
    p.outcome AS decision_outcome,
    p.decided_on,
    CASE WHEN p.outcome IS NOT NULL THEN p.outcome IN ('denied', 'terminated') END AS is_denied,
    CASE WHEN p.outcome IS NOT NULL
        THEN p.outcome IN ('partially_denied', 'reduced') END AS is_partially_denied,
    coalesce(r.n_rulings, 0) AS n_rulings,
    r.is_report_rejected,
    r.is_decision_reversed
FROM exams AS e
JOIN stg_cases AS c USING (case_id)
LEFT JOIN examiners AS x USING (examiner_id)
LEFT JOIN post_exam AS p USING (exam_id)
LEFT JOIN later_rulings AS r USING (exam_id)
-- One examiner's exams, and one specialty's, sit together: a query for one examiner or their
-- peers (the profile and impairment pages) reads only their row groups: DuckDB skips a row
-- group whose min and max examiner (or specialty) rule it out.
ORDER BY specialty, examiner_id
