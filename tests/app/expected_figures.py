"""Expected figures computed straight from the database tables, independently of the app.

Rates come from fct_exams with plain SQL (not the report queries or their macros); intervals
from statsmodels (not imestats), Kaplan-Meier medians and log-rank from statsmodels.duration.
"""

from __future__ import annotations

import base64

import numpy as np
from statsmodels.duration.survfunc import SurvfuncRight, survdiff
from statsmodels.stats.proportion import proportion_confint

COUNTS = {
    "n": "count(*)",
    "adverse": "count(*) FILTER (is_adverse)",
    "with_decision": "count(is_denied)",
    "denied": "count(*) FILTER (is_denied)",
    "partially_denied": "count(*) FILTER (is_partially_denied)",
    "rated": "count(is_zero_wpi)",
    "zero": "count(*) FILTER (is_zero_wpi)",
    "causation": "count(is_not_related)",
    "not_related": "count(*) FILTER (is_not_related)",
    "examiners": "count(DISTINCT examiner_id)",
}


def counts(con, where: str = "true", params: dict | None = None) -> dict[str, int]:
    """Headline counts of fct_exams rows matching `where` (a fixed test condition)."""
    select = ", ".join(f"{sql} AS {name}" for name, sql in COUNTS.items())
    row = con.execute(f"SELECT {select} FROM fct_exams WHERE {where}", params or {}).fetchone()  # noqa: S608
    return dict(zip(COUNTS, row, strict=True))


def wilson_caption(k: int, n: int) -> str:
    low, high = proportion_confint(k, n, alpha=0.05, method="wilson")
    return f"95% CI {100 * low:.1f}–{100 * high:.1f}% · {k:,} of {n:,}"


def km_median(con, where: str = "true", params: dict | None = None) -> float:
    """Kaplan-Meier median days from injury to MMI (statsmodels), exams with an MMI opinion."""
    rows = con.execute(
        "SELECT days_injury_to_mmi, mmi_reached FROM fct_exams "  # noqa: S608
        f"WHERE days_injury_to_mmi IS NOT NULL AND mmi_reached IS NOT NULL AND {where}",
        params or {},
    ).fetchnumpy()
    sf = SurvfuncRight(rows["days_injury_to_mmi"].astype(float), rows["mmi_reached"].astype(float))
    return float(sf.quantile(0.5))


def logrank_chi2(con, column: str) -> float:
    # `column` is a fixed name chosen by the test, not input.
    group = f"coalesce({column}, 'unknown')"
    rows = con.execute(
        f"SELECT days_injury_to_mmi, mmi_reached, {group} AS g FROM fct_exams "  # noqa: S608
        "WHERE days_injury_to_mmi IS NOT NULL AND mmi_reached IS NOT NULL"
    ).df()
    chi2, _ = survdiff(
        rows["days_injury_to_mmi"].astype(float),
        rows["mmi_reached"].astype(float),
        rows["g"].to_numpy(),
    )
    return float(chi2)


def array(value) -> np.ndarray:
    """A plotly JSON array: a plain list, or the typed {'dtype', 'bdata'} form plotly 6 writes."""
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
    return np.asarray(value)
