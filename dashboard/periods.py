"""The time grain of every trend line, chosen by volume, and which periods are too thin to read.

One definition for every page: a monthly line of a filtered view with a few hundred exams
swings between 0% and 100% because each month holds a handful of exams. The grain is the
finest of month, quarter and year at which a typical period holds `MIN_EXAMS_PER_PERIOD`
exams; a period with fewer (often the first or the last, which the data cover only in part)
is *thin*: the charts grey it out and leave it off the line, so it cannot spike.
"""

from __future__ import annotations

import pandas as pd

GRAINS = ("month", "quarter", "year")
# At 30 exams the 95% Wilson interval of a rate near 50% is about +-17 points wide: the
# narrowest a trend line can be read at. Below that a period is drawn as a grey dot only.
MIN_EXAMS_PER_PERIOD = 30
_FREQUENCY = {"month": "M", "quarter": "Q", "year": "Y"}
GRAIN_WORDS = {"month": "monthly", "quarter": "quarterly", "year": "yearly"}


def _periods(months: pd.Series, grain: str) -> pd.Series:
    """The start date of each month's period at `grain`."""
    return pd.to_datetime(months).dt.to_period(_FREQUENCY[grain]).dt.start_time


def choose_grain(monthly: pd.DataFrame, month_col: str = "exam_month") -> str:
    """The finest grain whose median period (over the span covered) holds enough exams.

    Empty periods inside the span count as periods with no exams, so sparse data do not look
    dense because only its busy months appear in the query result.
    """
    if monthly.empty:
        return "month"
    for grain in GRAINS[:-1]:
        per = monthly.groupby(_periods(monthly[month_col], grain))["n_exams"].sum()
        span = pd.period_range(per.index.min(), per.index.max(), freq=_FREQUENCY[grain])
        full = per.reindex(span.start_time, fill_value=0)
        if full.median() >= MIN_EXAMS_PER_PERIOD:
            return grain
    return "year"


def aggregate(monthly: pd.DataFrame, grain: str, month_col: str = "exam_month") -> pd.DataFrame:
    """Monthly counts summed to `grain`: a `period` column (its start date), every `n_`
    count, and `thin` (fewer than MIN_EXAMS_PER_PERIOD exams)."""
    if grain not in GRAINS:
        raise ValueError(f"unknown time grain {grain!r}: use one of {', '.join(GRAINS)}")
    numeric = [c for c in monthly.columns if c.startswith("n_")]
    period = _periods(monthly[month_col], grain).rename("period")
    out = monthly[numeric].groupby(period).sum().reset_index()
    out["thin"] = out["n_exams"] < MIN_EXAMS_PER_PERIOD
    return out


def label(value: object, grain: str) -> str:
    """A period as a reader names it: 'Mar 2021', '2021 Q1', '2021'."""
    stamp = pd.Timestamp(value)
    if grain == "quarter":
        return f"{stamp.year} Q{stamp.quarter}"
    if grain == "year":
        return f"{stamp.year}"
    return f"{stamp:%b %Y}"


def caption(grain: str) -> str:
    """The words under a trend chart saying what its grain and grey dots mean."""
    return (
        f"One point per {grain} (the finest grain at which a typical {grain} holds "
        f"{MIN_EXAMS_PER_PERIOD} exams or more). Grey dots are {grain}s with fewer exams: "
        "too few to read, so the line skips them."
    )
