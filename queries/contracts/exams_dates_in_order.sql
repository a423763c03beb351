-- name: exams_dates_in_order
-- injury <= referral <= exam <= report, and injury <= mmi_date <= report (or exam).
-- checks: fct_exams
SELECT exam_id, injury_date, referral_date, exam_date, report_date, mmi_date
FROM fct_exams
WHERE exam_date < injury_date
   OR referral_date > exam_date
   OR report_date < exam_date
   OR mmi_date < injury_date
   OR mmi_date > coalesce(report_date, exam_date)
