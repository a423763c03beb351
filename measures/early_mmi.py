"""Early MMI: examiners who find maximum medical improvement reached sooner than case mix predicts.

At the exam the examiner finds the claimant at MMI or not yet: one yes/no finding, made so
long after the injury. Each exam's expected probability of the finding comes from a logistic
model of the case features, the specialty and the time since injury at the exam (in bands),
fitted and stored at load like the other binary measures (measures.binary); exams without
an MMI status do not count, and an undetermined one is not a finding of MMI (as for time to
MMI, where it is censored at the exam). A logistic model of the finding given the time elapsed
is the regression model of current-status data (docs/methods.md): the finding says only
whether MMI came before the exam, and its date is often the exam's own ("at MMI as of today").
"""

from __future__ import annotations

from measures.base import LogisticModel
from measures.binary import binary_measure

NAME = "early_mmi"

MEASURE = binary_measure(
    NAME,
    LogisticModel(outcome="mmi_reached", extra_features=("injury_to_exam_band",)),
    label="Early MMI",
    words=(
        "Exams at which the examiner found MMI reached, against the number expected for the "
        "examiner's cases from a logistic model of case features and specialty (as for adverse "
        "opinions) plus the time since injury at the exam, in bands: whether a claimant is at "
        "MMI depends above all on how long ago the injury was. A ratio above 1 means MMI is "
        "found sooner than the case mix predicts."
    ),
    method="Logistic case-mix O/E of MMI found reached at the exam, given time since injury",
    rate="MMI found reached among exams with an MMI opinion",
    peer="examiners of the same specialty",
    planted_by="early_mmi",
    export_prefix="early_mmi",
    export_counts=("n_mmi_reached", "n_mmi_opinion"),
)
