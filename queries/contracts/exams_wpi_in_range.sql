-- name: exams_wpi_in_range
-- Whole-person impairment is a percentage from 0 to 100.
-- checks: exams
SELECT exam_id, wpi_percent FROM exams WHERE wpi_percent < 0 OR wpi_percent > 100
