"""The adverse-opinion flags of a view, computed again from fct_exams, independently of measures/.

From the per-exam expectations stored at load, written here from the papers: O, E and
V = sum p(1 - p) per examiner; z = (O - E) / sqrt(V); phi the mean of z^2 winsorised at the
10% and 90% quantiles; tau2 = max(0, (I phi - (I - 1)) / (sum w - sum w^2 / sum w)),
w = E^2 / V (DerSimonian & Laird 1986, with Spiegelhalter 2005's winsorised phi for
Cochran's Q); z_adjusted = (O/E - 1) / sqrt(V/E^2 + tau2); one-sided p; Benjamini-Hochberg
q-values by statsmodels over the examiners of 30 exams or more; flagged when q <= 0.05 with
O > E.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

MIN_VOLUME = 30
Q = 0.05


def adverse_opinion_flags(con, where: str = "true", params: dict | None = None) -> pd.DataFrame:
    """One row per examiner of the view `where` (a fixed test condition on fct_exams)."""
    units = con.execute(
        "SELECT examiner_id, count(is_adverse) AS n, count(*) FILTER (is_adverse) AS o, "
        "sum(expected_adverse_opinion) AS e, "
        "sum(expected_adverse_opinion * (1 - expected_adverse_opinion)) AS v "
        f"FROM fct_exams WHERE examiner_id IS NOT NULL AND is_adverse IS NOT NULL AND {where} "
        "GROUP BY examiner_id ORDER BY examiner_id",
        params or {},
    ).df()
    o, e, v = units["o"].to_numpy(float), units["e"].to_numpy(float), units["v"].to_numpy(float)
    z = (o - e) / np.sqrt(v)
    low, high = np.quantile(z, [0.1, 0.9])
    q_statistic = len(z) * np.mean(np.clip(z, low, high) ** 2)
    w = e**2 / v
    tau2 = max(0.0, (q_statistic - (len(z) - 1)) / (w.sum() - (w**2).sum() / w.sum()))
    z_adjusted = (o / e - 1) / np.sqrt(v / e**2 + tau2)
    p = stats.norm.sf(z_adjusted)
    eligible = units["n"].to_numpy() >= MIN_VOLUME
    q = np.full(len(p), np.nan)
    if eligible.any():
        q[eligible] = multipletests(p[eligible], method="fdr_bh")[1]
    return units.assign(
        tau2=tau2, z_adjusted=z_adjusted, eligible=eligible, q_value=q,
        flagged=eligible & (q <= Q) & (o > e),
    )
