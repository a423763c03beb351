"""Reports later rejected, or whose decision was reversed, by a judge or board (docs/methods.md,
downstream). The rate is defined here once: among the examiner's exams that a ruling names,
the share whose report was rejected or whose decision was reversed."""

from measures.base import LogisticModel
from measures.binary import binary_measure

# True or false for an exam a ruling names; NULL for an exam no ruling names.
OVERTURNED = (
    "CASE WHEN n_rulings > 0 "
    "THEN coalesce(is_report_rejected, false) OR coalesce(is_decision_reversed, false) END"
)

MEASURE = binary_measure(
    "rulings",
    LogisticModel(outcome=OVERTURNED),
    label="Rulings against the report",
    words=(
        "Among the examiner's exams that a later ruling names, those whose report was rejected "
        "or whose decision was reversed, against the number expected for the examiner's cases "
        "from a logistic model of case features and specialty (as for adverse opinions), so "
        "the comparison is with same-specialty peers on similar cases."
    ),
    method="case-mix adjusted O/E of rulings rejecting the report or reversing the decision, "
    "among exams with a ruling; exact Poisson interval",
    rate="rejected or reversed among exams with a ruling",
    peer="same-specialty peers",
    export_prefix="rulings",
    export_counts=("n_with_ruling", "n_report_rejected", "n_decision_reversed"),
)
