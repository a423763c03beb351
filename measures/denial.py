"""Denials or terminations that followed the exam (docs/methods.md, post-exam denial rate)."""

from measures.base import LogisticModel
from measures.binary import binary_measure

MEASURE = binary_measure(
    "denial",
    LogisticModel(outcome="is_denied"),
    label="Denials after the exam",
    words=(
        "Denials or terminations that followed the exam within 90 days (or that name the "
        "exam), against the number expected for the examiner's cases, by the same kind of "
        "model as adverse opinions."
    ),
    method="case-mix adjusted O/E of post-exam denials, exact Poisson interval",
    rate="denied or terminated among exams followed by a decision",
    peer="same-specialty peers",
    export_prefix="denial",
    export_counts=("n_denied", "n_with_decision"),
)
