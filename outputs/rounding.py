"""The one rounding rule for numbers a person reads: export files and their previews.

Floating-point arithmetic leaves noise (5.55e-17 where 0 is meant, 0.34307692307692306 for a
rate); nobody reads 17 digits, and a spreadsheet shows them all. Every non-integer number
shown or exported keeps `DISPLAY_DIGITS` significant figures, and anything smaller in size
than `NOISE` is 0. Counts are integers and stay exact. (Disclosure control coarsens a
researcher's figures further, to access.roles.SIGNIFICANT_DIGITS, before this applies.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from access.roles import significant

DISPLAY_DIGITS = 4
# Below any figure the tool computes (p-values are floored far above it by their tests'
# precision): a difference of two equal sums, not a value.
NOISE = 1e-12


def _tidy_number(x: object) -> object:
    if isinstance(x, float | np.floating) and np.isfinite(x):
        value = 0.0 if abs(x) < NOISE else float(x)
        return float(significant(pd.Series([value]), DISPLAY_DIGITS).iloc[0])
    return x


def tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with every float rounded by the one display rule (text and counts as they are)."""
    out = frame.copy()
    for col in out.columns:
        series = out[col]
        if pd.api.types.is_float_dtype(series.dtype):
            values = series.mask((series.abs() < NOISE).fillna(False), 0.0)
            out[col] = significant(values, DISPLAY_DIGITS)
        elif series.dtype == object:
            out[col] = series.map(_tidy_number)
    return out
