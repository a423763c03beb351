"""Concentration of counts over categories: how dependent an examiner is on one referrer.

Referral dependence (docs/methods.md): the share of an examiner's exams from the top insurer,
and the Herfindahl(-Hirschman) index of the insurers' shares.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from imestats._checks import count_array


@dataclass(frozen=True)
class Concentration:
    """How concentrated a set of counts is.

    ``hhi`` is on the 0-1 scale (multiply by 10,000 for the antitrust convention);
    ``hhi_normalised`` rescales it to 0 (equal shares) .. 1 (one category), and
    ``equivalent_number`` = 1 / hhi is the number of equal-sized categories with the same
    index. ``top_position`` is the index in the input of the largest count (first on ties).
    """

    n_total: int
    n_categories: int
    top_position: int
    top_count: int
    top_share: float
    hhi: float
    hhi_normalised: float
    equivalent_number: float


def _counts(counts) -> np.ndarray:
    values = count_array(counts, "counts", whole=False, nonempty=True).ravel()
    if values.sum() <= 0:
        raise ValueError("counts are all zero: the shares are undefined")
    return values


def herfindahl_index(counts) -> float:
    """Herfindahl index: the sum of squared shares, from 1/N (equal) to 1 (one category).

    Parameters
    ----------
    counts : array_like
        Non-negative counts per category (here: an examiner's exams per insurer); categories
        with zero count do not change the index.

    Returns
    -------
    float
        sum((c_i / sum c)^2), on the 0-1 scale.

    Raises
    ------
    ValueError
        If ``counts`` is empty, has missing, infinite or negative values, or is all zero.

    References
    ----------
    Hirschman AO. The paternity of an index. Am Econ Rev 1964;54(5):761.
    Rhoades SA. The Herfindahl-Hirschman index. Fed Reserve Bull 1993;79:188-189.
    """
    values = _counts(counts)
    shares = values / values.sum()
    return float(np.sum(shares**2))


def top_share(counts) -> float:
    """Share of the total held by the largest category.

    Raises ValueError if ``counts`` is empty, has missing, infinite or negative values, or
    is all zero.
    """
    values = _counts(counts)
    return float(values.max() / values.sum())


def concentration(counts) -> Concentration:
    """Top share, Herfindahl index, its normalised form and the equivalent number of categories.

    Parameters
    ----------
    counts : array_like
        Non-negative counts per category, at least one of them positive.

    Returns
    -------
    Concentration
        Categories with a zero count are not counted in ``n_categories``. With a single
        category the normalised index is 1.

    Raises
    ------
    ValueError
        If ``counts`` is empty, has missing, infinite or negative values, or is all zero.

    Notes
    -----
    The normalised index is (H - 1/N) / (1 - 1/N) with N the categories present; it
    depends on N, so compare the raw index between examiners with different numbers of
    insurers. Both are descriptive: the top insurer is picked after looking, so its share
    is the largest of N and is biased upwards for small volumes.

    References
    ----------
    Rhoades SA. The Herfindahl-Hirschman index. Fed Reserve Bull 1993;79:188-189.
    """
    values = _counts(counts)
    total = values.sum()
    hhi = herfindahl_index(values)
    present = int((values > 0).sum())
    top = int(np.argmax(values))
    normalised = 1.0 if present == 1 else (hhi - 1.0 / present) / (1.0 - 1.0 / present)
    return Concentration(
        n_total=int(round(total)),
        n_categories=present,
        top_position=top,
        top_count=int(round(values[top])),
        top_share=float(values[top] / total),
        hhi=hhi,
        hhi_normalised=float(normalised),
        equivalent_number=float(1.0 / hhi),
    )


def concentration_by_group(frame: pd.DataFrame, by: list[str], count: str) -> pd.DataFrame:
    """`concentration` of each group's counts at once: one row per group, sorted by `by`.

    Columns: `by`, n_total, n_categories, top_share, hhi. A page shows the figures of every
    examiner of a specialty; one pass over the groups replaces one call per examiner.

    Raises ValueError if the `count` column has missing, infinite or negative values, a `by`
    column has missing labels (their rows would drop out of every group), or a group's
    counts are all zero; KeyError if a column is not in `frame`.
    """
    values = frame[count].astype(float)
    if not np.isfinite(values).all() or (values < 0).any():
        raise ValueError(f"{count} must be finite and >= 0")
    unlabelled = frame[by].isna().any(axis=1)
    if unlabelled.any():
        raise ValueError(
            f"by columns {by} have missing labels in {int(unlabelled.sum())} rows; label or "
            "drop them first"
        )
    parts = frame[by].assign(
        _n=values, _present=values > 0, _squared=values**2
    ).groupby(by, sort=True, observed=True)
    sums = parts.agg(
        n_total=("_n", "sum"), n_categories=("_present", "sum"), top=("_n", "max"),
        squared=("_squared", "sum"),
    )
    if (sums["n_total"] <= 0).any():
        raise ValueError("a group's counts are all zero: its shares are undefined")
    return pd.DataFrame(
        {
            "n_total": sums["n_total"].round().astype("int64"),
            "n_categories": sums["n_categories"].astype("int64"),
            "top_share": sums["top"] / sums["n_total"],
            "hhi": sums["squared"] / sums["n_total"] ** 2,
        }
    ).reset_index()
