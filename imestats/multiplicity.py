"""False-discovery-rate control when many examiners are tested at once."""

from __future__ import annotations

import numpy as np
from scipy import stats

from imestats._checks import (
    check_level,
    check_probabilities,
    check_scalar,
    count_array,
    float_array,
)


def bh_qvalues(pvals) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values), NaN-safe.

    Parameters
    ----------
    pvals : array_like
        One p-value per examiner (e.g. one-sided from the over-dispersion
        adjusted z). NaN marks an examiner that was not tested.

    Returns
    -------
    numpy.ndarray
        q_(i) = min over j >= i of min(1, m p_(j) / j), in input order, where
        m counts the non-NaN p-values only. NaN stays NaN.

    Raises
    ------
    ValueError
        If ``pvals`` holds text or a value outside [0, 1] (infinite included).

    Notes
    -----
    Controls the false discovery rate at q when the tests are independent or
    positively dependent (PRDS); rejecting every unit with q-value <= q is
    the BH step-up procedure. Untested units do not count in m, so an
    examiner with no data does not make the others harder to flag.

    References
    ----------
    Benjamini Y, Hochberg Y. Controlling the false discovery rate: a practical
    and powerful approach to multiple testing. J R Stat Soc B 1995;57:289-300.
    Jones HE, Ohlssen DI, Spiegelhalter DJ. Use of the false discovery rate
    when comparing multiple health care providers. J Clin Epidemiol
    2008;61:232-240.
    """
    p = float_array(pvals, "pvals", allow_nan=True)
    tested = ~np.isnan(p)
    if np.any((p[tested] < 0) | (p[tested] > 1)):
        raise ValueError(
            f"p-values must lie in [0, 1]; got min {p[tested].min()!r}, max {p[tested].max()!r}"
        )
    q = np.full(p.shape, np.nan)
    if tested.any():
        q[tested] = stats.false_discovery_control(p[tested], method="bh")
    return q


def flag_units(qvalues, volumes, q: float = 0.05, min_volume: int = 30) -> np.ndarray:
    """Which examiners to flag: q-value <= q and volume >= min_volume.

    Parameters
    ----------
    qvalues : array_like
        BH q-values from :func:`bh_qvalues`; NaN is never flagged.
    volumes : array_like
        Number of exams per examiner, aligned with ``qvalues``.
    q : float, default 0.05
        False discovery rate.
    min_volume : int, default 30
        Examiners below this volume are never flagged, whatever their q-value.

    Returns
    -------
    numpy.ndarray of bool

    Raises
    ------
    ValueError
        If ``qvalues`` has a value outside [0, 1] (NaN is allowed: never flagged); if
        ``volumes`` has missing or negative values or differs from ``qvalues`` in shape;
        if ``q`` is not strictly between 0 and 1; or if ``min_volume`` is negative.

    Notes
    -----
    The minimum volume is a display rule applied after the BH step: the
    q-values are computed over all tested examiners so that m is not changed
    by the volume rule. ``<=`` follows the BH step-up definition
    (p_(i) <= i q / m).

    References
    ----------
    Benjamini Y, Hochberg Y. Controlling the false discovery rate: a practical
    and powerful approach to multiple testing. J R Stat Soc B 1995;57:289-300.
    """
    q_arr = check_probabilities(float_array(qvalues, "qvalues", allow_nan=True), "qvalues")
    v_arr = count_array(volumes, "volumes", whole=False)
    if q_arr.shape != v_arr.shape:
        raise ValueError(f"qvalues shape {q_arr.shape} differs from volumes shape {v_arr.shape}")
    q = check_level(q, "q")
    min_volume = check_scalar(min_volume, "min_volume", low=0)
    # NaN compares False, so untested examiners are never flagged.
    return (q_arr <= q) & (v_arr >= min_volume)
