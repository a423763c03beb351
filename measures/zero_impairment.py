"""0% whole-person impairment ratings among rated exams."""

from measures.base import LogisticModel
from measures.binary import binary_measure

MEASURE = binary_measure(
    "zero_impairment",
    LogisticModel(outcome="is_zero_wpi", extra_features=("guides_edition",)),
    label="Zero impairment ratings",
    words=(
        "0% whole-person impairment ratings among rated exams, against the number expected for "
        "the examiner's cases (the model adds the AMA Guides edition)."
    ),
    method="case-mix and guides-edition adjusted O/E of 0% ratings, exact Poisson interval",
    rate="0% WPI among rated exams",
    peer="same-specialty peers",
    planted_by="zero_impairment",
    export_prefix="zero_wpi",
    export_counts=("n_zero_wpi", "n_rated"),
    high_means=(
        "more ratings of 0% impairment than expected: ratings that favour the insurer"
    ),
    low_means=(
        "fewer ratings of 0% impairment than expected: ratings that favour the claimant"
    ),
)
