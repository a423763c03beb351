"""Published decision counts per decision-maker (docs/format.md, decision_counts): a funnel with
over-dispersion and false-discovery control on counts alone, where no case rows exist."""

from __future__ import annotations

import numpy as np
import pandas as pd

from imestats.funnel import score_units
from imestats.proportions import oe_ratio_interval
from measures.base import FlagSettings, Measure, View, q_values_and_flags

NAME = "decision_counts"


def score(view: View, settings: FlagSettings) -> pd.DataFrame:
    """Published counts per decision-maker: funnel with over-dispersion and FDR on counts alone.

    Each published series (`source`) is compared within itself against its pooled rate.
    """
    units = view.run("decision_counts_units")
    parts = []
    for source, data in units[units["n_decisions"] > 0].groupby("source"):
        if len(data) < 2:
            continue  # one decision-maker has no peers to be compared with
        n = data["n_decisions"].astype(float).to_numpy()
        r = data["n_adverse"].astype(float).to_numpy()
        theta0 = r.sum() / n.sum()
        has_expected = data["n_expected"].notna().to_numpy()
        expected = np.where(has_expected, data["n_expected"].astype(float).to_numpy(), n * theta0)
        variance = np.where(has_expected, expected * (1 - expected / n), n * theta0 * (1 - theta0))
        scores = score_units(r, expected, variance, settings.adjustment)
        interval = oe_ratio_interval(r, expected)
        parts.append(
            pd.DataFrame(
                {
                    "examiner_id": (data["maker_id"] + " @ " + data["group_name"]).to_numpy(),
                    "peer_group": source,
                    "n": n.astype(int),
                    "observed": r,
                    "expected": expected,
                    "ratio": scores.units["ratio"].to_numpy(),
                    "ci_low": interval.low,
                    "ci_high": interval.high,
                    "raw_rate": r / n,
                    "peer_rate": theta0,
                    "z": scores.units["z"].to_numpy(),
                    "z_adjusted": scores.units["z_adjusted"].to_numpy(),
                    "p_value": scores.units["p_one_sided"].to_numpy(),
                    "variance": variance,
                    "tau2": scores.tau2,
                    "phi": scores.phi,
                }
            )
        )
    if not parts:
        return pd.DataFrame()
    return q_values_and_flags(pd.concat(parts, ignore_index=True), NAME, settings)


MEASURE = Measure(
    name=NAME,
    label="Published decision counts",
    words=(
        "Published counts only: adverse decisions against the pooled rate of all "
        "decision-makers (or a supplied expected count), on a funnel plot."
    ),
    method="binomial funnel of published counts against the pooled (or supplied) expectation",
    rate="adverse decisions among decisions",
    peer="all decision-makers of the same published series",
    chart="counts_funnel",
    score=score,
    needs_exams=False,
)
