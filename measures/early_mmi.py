"""Early MMI: examiners who declare maximum medical improvement sooner than case mix predicts.

Each exam's expected number of MMI declarations is the Cox model's baseline cumulative hazard
at its follow-up time times its relative hazard (the survival analogue of indirect
standardisation), stored at load; exams with unknown MMI status or a negative follow-up do
not count.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from imestats.funnel import score_units
from imestats.proportions import oe_ratio_interval
from measures.base import CoxModel, FlagSettings, Measure, View, finish

NAME = "early_mmi"
_FOLLOWED = "mmi_reached IS NOT NULL AND days_injury_to_mmi >= 0"


def score(view: View, settings: FlagSettings) -> pd.DataFrame:
    units = view.units
    mmi = units[units[f"n_{NAME}"] > 0]
    if mmi.empty or not (mmi[f"e_{NAME}"] > 0).any():
        return pd.DataFrame()
    observed = mmi[f"o_{NAME}"].to_numpy(dtype=float)
    expected = mmi[f"e_{NAME}"].to_numpy(dtype=float)
    n = mmi[f"n_{NAME}"].to_numpy(dtype=float)
    # Poisson variance: the expected count is a sum of cumulative hazards, not of risks.
    scores = score_units(observed, expected, expected, settings.adjustment)
    interval = oe_ratio_interval(observed, expected)
    with np.errstate(divide="ignore", invalid="ignore"):
        rows = pd.DataFrame(
            {
                "examiner_id": mmi["examiner_id"].to_numpy(),
                "peer_group": "all examiners, case mix by Cox model",
                "n": n.astype(int),
                "observed": observed,
                "expected": expected,
                "variance": expected,
                "ratio": interval.estimate,
                "ci_low": interval.low,
                "ci_high": interval.high,
                "raw_rate": observed / n,
                "peer_rate": observed.sum() / n.sum(),
                "z": scores.units["z"].to_numpy(),
                "z_adjusted": scores.units["z_adjusted"].to_numpy(),
                "p_value": scores.units["p_one_sided"].to_numpy(),
                "tau2": scores.tau2,
                "phi": scores.phi,
            }
        )
    return finish(rows, NAME, settings)


MEASURE = Measure(
    name=NAME,
    label="Early MMI",
    words=(
        "MMI declarations against the number expected from a Cox model of time from injury to "
        "MMI given the case features (exams without MMI are censored at the exam date), fitted "
        "on a fixed sample of about 25,000 exams; a ratio above 1 means MMI is declared sooner "
        "than the case mix predicts."
    ),
    method="Cox proportional hazards O/E of MMI declarations",
    rate="MMI declared among exams with an MMI opinion",
    peer="all examiners",
    chart="funnel",
    score=score,
    aggregates=(
        (f"n_{NAME}", f"count(*) FILTER ({_FOLLOWED})"),
        (f"o_{NAME}", f"count(*) FILTER ({_FOLLOWED} AND mmi_reached)"),
        (f"e_{NAME}", f"coalesce(sum(expected_{NAME}) FILTER ({_FOLLOWED}), 0)"),
    ),
    model=CoxModel(),
    planted_by="early_mmi",
    export_prefix="early_mmi",
    export_counts=("n_mmi_reached", "n_mmi_opinion"),
    high_means=(
        "maximum medical improvement declared sooner than expected: earlier ends of treatment, "
        "which favour the insurer"
    ),
    low_means=(
        "maximum medical improvement declared later than expected: longer treatment, which "
        "favours the claimant"
    ),
)
