"""The adverse-opinion flags of a view, computed again from fct_exams, independently of measures/.

From the per-exam expectations stored at load, written here from the papers: O, E and
V = sum p(1 - p) per examiner; z = (O - E) / sqrt(V); phi the mean of z^2 winsorised at the
10% and 90% quantiles; tau2 = max(0, (I phi - (I - 1)) / (sum w - sum w^2 / sum w)),
w = E^2 / V (DerSimonian & Laird 1986, with Spiegelhalter 2005's winsorised phi for
Cochran's Q); z_adjusted = (O/E - 1) / sqrt(V/E^2 + tau2). Both sides, as two one-sided
families: the upper tail p_high = 1 - Phi(z_adjusted) and the lower p_low = Phi(z_adjusted),
each with Benjamini-Hochberg q-values by statsmodels over the examiners of 30 exams or more.
A row takes the side of its smaller tail; flagged when that side's q <= 0.05 with O > E
(high) or O < E (low).
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
    p_high, p_low = stats.norm.sf(z_adjusted), stats.norm.cdf(z_adjusted)
    eligible = units["n"].to_numpy() >= MIN_VOLUME
    q_high, q_low = np.full(len(z), np.nan), np.full(len(z), np.nan)
    if eligible.any():
        q_high[eligible] = multipletests(p_high[eligible], method="fdr_bh")[1]
        q_low[eligible] = multipletests(p_low[eligible], method="fdr_bh")[1]
    low = p_low < p_high
    q = np.where(low, q_low, q_high)
    return units.assign(
        tau2=tau2, z_adjusted=z_adjusted, eligible=eligible, q_value=q,
        direction=np.where(low, "low", "high"),
        flagged=eligible & (q <= Q) & np.where(low, o < e, o > e),
    )
