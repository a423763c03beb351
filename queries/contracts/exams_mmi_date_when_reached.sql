-- name: exams_mmi_date_when_reached
-- An exam that finds MMI reached gives its date.
-- checks: exams
SELECT exam_id, mmi_status, mmi_date FROM exams WHERE mmi_status = 'reached' AND mmi_date IS NULL
