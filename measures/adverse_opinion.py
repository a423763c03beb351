"""Adverse opinions: not related, no treatment, or MMI reached at 0% WPI (docs/methods.md)."""

from measures.base import LogisticModel
from measures.binary import binary_measure

MEASURE = binary_measure(
    "adverse_opinion",
    LogisticModel(outcome="is_adverse"),
    label="Adverse opinions",
    words=(
        "Observed adverse opinions against the number expected for the examiner's own cases, "
        "from a logistic model of case features (claim type, jurisdiction, body part, injury "
        "nature, age band, sex, representation, who requested the exam, year) and the "
        "examiner's specialty, fitted on all examiners (a fixed sample of about 250,000 exams "
        "when there are more) without any examiner term: the expected count is what an average "
        "examiner of the same specialty would give for these cases."
    ),
    method="case-mix adjusted O/E (logistic model of case features with specialty, no "
    "examiner term), exact Poisson interval",
    rate="adverse opinions among all exams",
    peer="same-specialty peers",
    planted_by="excess_adverse",
    export_prefix="adverse",
    export_counts=("n_adverse", "n_exams"),
)
