"""Risk-adjusted Bernoulli CUSUM charts for monitoring examiners over time.

Each exam t has a case-mix predicted probability p_t of an adverse outcome
and an outcome y_t in {0, 1}. The chart accumulates the log-likelihood ratio
of "odds multiplied by R_A" against "odds as predicted".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from imestats._checks import broadcast, check_scalar, float_array


@dataclass(frozen=True)
class CusumResult:
    """One CUSUM chart.

    ``path`` is the chart value after each charted case (>= 0 for an upper
    chart, R_A > 1; <= 0 for a lower chart, R_A < 1), including the value
    that crossed the threshold before the reset to 0. ``start`` is the index
    in the input of ``path[0]``; ``signal_indices`` are input indices.
    ``max_statistic`` is the largest excursion towards the threshold
    (max |path|); ``first_signal`` is the first signal's input index or None.
    """

    path: np.ndarray
    start: int
    signal_indices: np.ndarray
    max_statistic: float
    first_signal: int | None
    threshold: float
    odds_ratio: float


@dataclass(frozen=True)
class PanelThreshold:
    """A threshold h for a panel of charts and the simulation behind it.

    ``false_alarm_rate`` is the simulated probability that at least one
    chart in the panel signals under the null at h, ``monte_carlo_se`` its
    binomial standard error, ``panel_maxima`` the simulated maximum chart
    value over the panel for each replicate (P(any signal at h') is the share
    of these >= h').
    """

    threshold: float
    false_alarm_rate: float
    monte_carlo_se: float
    n_sim: int
    odds_ratio: float
    panel_maxima: np.ndarray


def _checked_risks(p) -> np.ndarray:
    p_arr = float_array(p, "p", allow_nan=True)
    if np.any(~((p_arr > 0) & (p_arr < 1))):
        raise ValueError("predicted risks p must lie strictly between 0 and 1")
    return p_arr


def _risks_and_outcomes(y, p) -> tuple[np.ndarray, np.ndarray]:
    y_arr = float_array(y, "y", allow_nan=True)
    p_arr = _checked_risks(p)
    if y_arr.shape != p_arr.shape:
        raise ValueError(f"y has shape {y_arr.shape} but p has shape {p_arr.shape}")
    if np.any((y_arr != 0) & (y_arr != 1)):
        raise ValueError("outcomes y must be 0 or 1")
    return y_arr, p_arr


def _weight_pair(p: np.ndarray, odds_ratio: float, null_odds_ratio: float = 1.0):
    """Log-likelihood-ratio weights for y = 0 and y = 1 at risks p."""
    odds_ratio = check_scalar(odds_ratio, "odds_ratio")
    null_odds_ratio = check_scalar(null_odds_ratio, "null_odds_ratio")
    if odds_ratio <= 0 or null_odds_ratio <= 0 or odds_ratio == null_odds_ratio:
        raise ValueError(
            f"need positive, distinct odds ratios; got R_A={odds_ratio!r}, R_0={null_odds_ratio!r}"
        )
    log_normaliser = np.log1p(p * (odds_ratio - 1.0)) - np.log1p(p * (null_odds_ratio - 1.0))
    return -log_normaliser, np.log(odds_ratio / null_odds_ratio) - log_normaliser


def _check_threshold(threshold: float) -> None:
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0, got {threshold!r}")


def _cusum_from_weights(
    weights: np.ndarray, threshold: float, direction: float, odds_ratio: float
) -> CusumResult:
    """X_t = max(0, X_{t-1} + W_t) with reset to 0 after X_t >= h; path reported times direction."""
    magnitude = np.empty_like(weights)
    signals = []
    current = 0.0
    for t, weight in enumerate(weights):
        current = max(0.0, current + weight)
        magnitude[t] = current
        if current >= threshold:
            signals.append(t)
            current = 0.0
    signal_indices = np.asarray(signals, dtype=int)
    return CusumResult(
        path=direction * magnitude,
        start=0,
        signal_indices=signal_indices,
        max_statistic=float(magnitude.max()) if magnitude.size else 0.0,
        first_signal=int(signal_indices[0]) if signal_indices.size else None,
        threshold=float(threshold),
        odds_ratio=float(odds_ratio),
    )


def cusum_weights(y, p, odds_ratio: float = 2.0, null_odds_ratio: float = 1.0) -> np.ndarray:
    """Risk-adjusted CUSUM scores W_t (log-likelihood ratios), vectorised.

    Parameters
    ----------
    y : array_like
        Outcomes (0/1) per case, in time order.
    p : array_like
        Case-mix predicted risk per case, 0 < p < 1.
    odds_ratio : float, default 2.0
        Alternative odds ratio R_A (> 1 to detect deterioration, < 1 for
        improvement).
    null_odds_ratio : float, default 1.0
        Null odds ratio R_0.

    Returns
    -------
    numpy.ndarray
        W_t = y_t log(R_A/R_0) - log[(1 - p_t + R_A p_t) / (1 - p_t + R_0 p_t)].

    Raises
    ------
    ValueError
        If ``y`` is not 0/1, ``p`` is not strictly between 0 and 1 (missing included) or the two
        differ in shape; or if the odds ratios are not positive, finite and distinct.

    References
    ----------
    Steiner SH, Cook RJ, Farewell VT, Treasure T. Monitoring surgical
    performance using risk-adjusted cumulative sum charts. Biostatistics
    2000;1:441-452.
    """
    y_arr, p_arr = _risks_and_outcomes(y, p)
    weight_if_0, weight_if_1 = _weight_pair(p_arr, odds_ratio, null_odds_ratio)
    return np.where(y_arr == 1, weight_if_1, weight_if_0)


def risk_adjusted_cusum(y, p, threshold: float, odds_ratio: float = 2.0) -> CusumResult:
    """Risk-adjusted Bernoulli CUSUM with reset to 0 after each signal.

    Parameters
    ----------
    y : array_like
        Outcomes (0/1) per case, in time order.
    p : array_like
        Case-mix predicted risk per case.
    threshold : float
        Control limit h > 0 (e.g. from :func:`threshold_for_panel`).
    odds_ratio : float, default 2.0
        R_A. Above 1: upper chart X_t = max(0, X_{t-1} + W_t), signal when
        X_t >= h. Below 1: lower chart Z_t = min(0, Z_{t-1} - W_t), signal
        when Z_t <= -h (W_t computed with this R_A).

    Returns
    -------
    CusumResult
        With no cases, an empty path, no signal and ``max_statistic`` 0.

    Raises
    ------
    ValueError
        If ``y`` is not 0/1, ``p`` is not strictly between 0 and 1 (missing included) or the two
        differ in shape; if ``threshold`` is not > 0; or if ``odds_ratio`` is not a positive finite
        number other than 1.

    Notes
    -----
    Assumes the outcomes are independent given the risks and the risks are
    correct under the null. After a signal the chart restarts at 0, so a
    persisting problem signals again.

    References
    ----------
    Steiner SH, Cook RJ, Farewell VT, Treasure T. Monitoring surgical
    performance using risk-adjusted cumulative sum charts. Biostatistics
    2000;1:441-452.
    """
    _check_threshold(threshold)
    weights = cusum_weights(y, p, odds_ratio)
    # Both charts are the same recursion on the magnitude; the lower chart is
    # reported with a negative sign, as Steiner et al. plot it.
    direction = 1.0 if odds_ratio > 1 else -1.0
    return _cusum_from_weights(weights, threshold, direction, odds_ratio)


def _checked_upper_odds_ratio(odds_ratio: float) -> float:
    if not odds_ratio > 1:
        raise ValueError(
            f"batched charts are upper charts and need odds_ratio R_A > 1, got {odds_ratio!r}"
        )
    return float(odds_ratio)


def batch_log_terms(p, batch_index, n_batches: int, odds_ratio: float = 2.0) -> np.ndarray:
    """Per batch, the sum of the cases' log normalisers log(1 - p_i + R_A p_i).

    Parameters
    ----------
    p : array_like
        Case-mix predicted risk per case, 0 < p < 1 (for drift charts: the
        recalibrated post-baseline risks).
    batch_index : array_like of int
        Batch of each case, 0 <= batch_index < n_batches, same shape as p.
        Cases need not be sorted; a batch without cases gets 0.
    n_batches : int
        Number of batches.
    odds_ratio : float, default 2.0
        R_A; must be the one later passed to :func:`batched_cusum` or
        :func:`threshold_for_batched_panel`.

    Returns
    -------
    numpy.ndarray
        Length n_batches: L_k = sum over cases i in batch k of
        log(1 - p_i + R_A p_i), computed as log1p((R_A - 1) p_i).

    Raises
    ------
    ValueError
        If ``p`` is not strictly between 0 and 1 (missing included); if
        ``batch_index`` is not integers in [0, n_batches) or differs from ``p`` in
        size; or if ``odds_ratio`` is not > 0.

    Notes
    -----
    With O_k events in batch k, the sum of the per-case CUSUM weights of
    :func:`cusum_weights` (R_0 = 1) over the batch is exactly
    W_k = O_k log R_A - L_k, so a batch needs only (O_k, L_k) and no
    per-case data.

    References
    ----------
    Steiner SH, Cook RJ, Farewell VT, Treasure T. Monitoring surgical
    performance using risk-adjusted cumulative sum charts. Biostatistics
    2000;1:441-452.
    """
    if not odds_ratio > 0:
        raise ValueError(f"odds_ratio must be > 0, got {odds_ratio!r}")
    p_arr = _checked_risks(p).ravel()
    index = np.asarray(batch_index)
    if index.size != p_arr.size:
        raise ValueError(f"batch_index has {index.size} entries but p has {p_arr.size}")
    if index.size and not np.issubdtype(index.dtype, np.integer):
        raise ValueError(f"batch_index must be integers, got dtype {index.dtype}")
    index = index.ravel().astype(np.intp)
    if n_batches < 0 or (index.size and (index.min() < 0 or index.max() >= n_batches)):
        raise ValueError(f"batch_index must lie in [0, n_batches) = [0, {n_batches!r})")
    return np.bincount(
        index, weights=np.log1p((odds_ratio - 1.0) * p_arr), minlength=int(n_batches)
    )


def batched_cusum(events, log_terms, threshold: float, odds_ratio: float = 2.0) -> CusumResult:
    """Upper risk-adjusted Bernoulli CUSUM over batches of cases, reset after each signal.

    Parameters
    ----------
    events : array_like of int
        Number of events O_k (>= 0) in each batch, in time order.
    log_terms : array_like
        L_k per batch from :func:`batch_log_terms` with the same R_A.
    threshold : float
        Control limit h > 0 (e.g. from :func:`threshold_for_batched_panel`).
    odds_ratio : float, default 2.0
        R_A > 1 (upper chart, detects deterioration).

    Returns
    -------
    CusumResult
        As from :func:`risk_adjusted_cusum`, with batches in place of cases:
        ``path[k]`` is the chart after batch k and ``signal_indices`` are
        batch indices.

    Raises
    ------
    ValueError
        If ``events`` is not non-negative integer counts, ``log_terms`` is not finite, the
        two are not 1-D of one length, ``threshold`` is not > 0 or ``odds_ratio`` is not
        > 1.

    Notes
    -----
    The chart is S_k = max(0, S_{k-1} + W_k) with W_k = O_k log R_A - L_k,
    the exact sum of the batch's per-case weights, and signals when
    S_k >= h. With one case per batch it is the per-case chart of
    :func:`risk_adjusted_cusum`. Otherwise it is that chart seen only at
    batch ends, with the floor at 0 and the signal check applied only
    there: without signals the per-case chart is the largest sum of weights
    over the cases since any case, the batched chart the largest since any
    batch start, so the batched chart never exceeds the per-case chart at
    batch ends and equals it when the per-case chart's last visit to 0 is
    at a batch boundary. Use a threshold simulated for the batched chart
    (:func:`threshold_for_batched_panel`), not one for the per-case chart.

    References
    ----------
    Steiner SH, Cook RJ, Farewell VT, Treasure T. Monitoring surgical
    performance using risk-adjusted cumulative sum charts. Biostatistics
    2000;1:441-452.
    """
    _check_threshold(threshold)
    odds_ratio = _checked_upper_odds_ratio(odds_ratio)
    events_arr = np.asarray(events)
    terms = np.asarray(log_terms, dtype=float)
    if events_arr.shape != terms.shape or events_arr.ndim != 1:
        raise ValueError(
            f"events and log_terms must be 1-D of equal length, got shapes "
            f"{events_arr.shape} and {terms.shape}"
        )
    events_float = events_arr.astype(float)
    if np.any((events_float < 0) | (events_float != np.round(events_float))):
        raise ValueError("events must be non-negative integer counts")
    if not np.all(np.isfinite(terms)):
        raise ValueError("log_terms must be finite")
    weights = events_float * np.log(odds_ratio) - terms
    return _cusum_from_weights(weights, threshold, 1.0, odds_ratio)


def baseline_log_odds_ratio(y, p, baseline_end: int) -> float:
    """The examiner's own log odds ratio against the case-mix model on its first cases.

    Parameters
    ----------
    y, p : array_like
        Outcomes and case-mix risks in time order.
    baseline_end : int
        Cases 0 .. baseline_end - 1 form the baseline.

    Returns
    -------
    float
        delta solving sum_{t < baseline_end} expit(logit p_t + delta) = O,
        the maximum-likelihood constant log odds ratio (logistic model with
        offset logit p_t). O is kept within [0.5, baseline_end - 0.5] so
        delta stays finite when the baseline has no or only events.

    Raises
    ------
    ValueError
        If ``y`` is not 0/1, ``p`` is not strictly between 0 and 1 (missing included) or the two
        differ in shape; or if ``baseline_end`` is not a whole number from 1 to the number of cases
        minus 1.

    References
    ----------
    Steiner SH, Cook RJ, Farewell VT, Treasure T. Monitoring surgical
    performance using risk-adjusted cumulative sum charts. Biostatistics
    2000;1:441-452 (chart against a recalibrated standard).
    """
    y_arr, p_arr = _risks_and_outcomes(y, p)
    if check_scalar(baseline_end, "baseline_end") != int(baseline_end):
        raise ValueError(f"baseline_end must be a whole number, got {baseline_end!r}")
    baseline_end = int(baseline_end)
    if not 1 <= baseline_end < y_arr.size:
        raise ValueError(
            f"baseline_end must be between 1 and {y_arr.size - 1} (cases), got {baseline_end!r}"
        )
    baseline_logit = special.logit(p_arr[:baseline_end])
    observed = np.clip(y_arr[:baseline_end].sum(), 0.5, baseline_end - 0.5)
    return float(
        optimize.brentq(
            lambda delta: special.expit(baseline_logit + delta).sum() - observed,
            -50.0,
            50.0,
            xtol=1e-12,
        )
    )


def baseline_log_odds_ratios(y, p, unit, n_units: int) -> np.ndarray:
    """:func:`baseline_log_odds_ratio` of many examiners at once, from their baseline cases.

    Parameters
    ----------
    y, p : array_like
        Outcomes and case-mix risks of the baseline cases only (order does not matter).
    unit : array_like of int
        The examiner of each case, 0 <= unit < n_units; every unit needs a case.
    n_units : int
        Number of examiners.

    Returns
    -------
    numpy.ndarray
        Length n_units: per unit the delta solving
        sum expit(logit p_t + delta) = O over its cases, O kept within
        [0.5, n - 0.5] as in :func:`baseline_log_odds_ratio`.

    Raises
    ------
    ValueError
        If ``y`` is not 0/1, ``p`` is not strictly between 0 and 1 (missing included) or the two
        differ in shape; if ``unit`` is not whole numbers in [0, n_units) with one per case; or if a
        unit has no case.

    Notes
    -----
    Every unit's equation is solved at once by Newton's method from the
    solution for equal risks, which converges in a few steps because the sum
    is increasing in delta; a step that would leave the bracket kept so far
    (starting at [-50, 50]) is replaced by bisection, so the solution is
    found whatever the start.
    """
    y_arr, p_arr = _risks_and_outcomes(y, p)
    unit_arr = float_array(unit, "unit").ravel()
    if unit_arr.size != y_arr.size:
        raise ValueError(f"unit has {unit_arr.size} entries but y has {y_arr.size}")
    if np.any((unit_arr < 0) | (unit_arr >= n_units) | (unit_arr != np.round(unit_arr))):
        raise ValueError(f"unit must hold whole numbers in [0, n_units) = [0, {n_units!r})")
    index = unit_arr.astype(np.intp)
    n = np.bincount(index, minlength=n_units)
    if n.size != n_units or np.any(n == 0):
        raise ValueError(f"every unit in [0, {n_units}) needs at least one baseline case")
    logit = special.logit(p_arr)
    observed = np.clip(np.bincount(index, weights=y_arr, minlength=n_units), 0.5, n - 0.5)
    low, high = np.full(n_units, -50.0), np.full(n_units, 50.0)
    # The solution when every risk of a unit is the same: a start a few steps closer.
    mean_risk = np.bincount(index, weights=p_arr, minlength=n_units) / n
    delta = np.clip(special.logit(observed / n) - special.logit(mean_risk), -49.0, 49.0)
    for _ in range(200):
        q = special.expit(logit + delta[index])
        excess = np.bincount(index, weights=q, minlength=n_units) - observed
        slope = np.bincount(index, weights=q * (1.0 - q), minlength=n_units)
        low = np.where(excess < 0, delta, low)
        high = np.where(excess > 0, delta, high)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = delta - excess / slope
        outside = ~((step > low) & (step < high))
        step = np.where(outside, (low + high) / 2.0, step)
        converged = np.abs(step - delta) <= 1e-12
        delta = step
        if converged.all():
            return delta
    raise RuntimeError("baseline log odds ratios did not converge in 200 steps")


def recalibrate_risks(p, log_odds_ratio: float) -> np.ndarray:
    """Risks with their odds multiplied by exp(log_odds_ratio): expit(logit p + delta).

    ``log_odds_ratio`` is a number or an array that broadcasts against ``p`` (one per
    case). Raises ValueError if ``p`` is not strictly between 0 and 1 (missing included),
    ``log_odds_ratio`` is missing or infinite, or the two do not broadcast.
    """
    p_arr, delta = broadcast(
        p=_checked_risks(p), log_odds_ratio=float_array(log_odds_ratio, "log_odds_ratio")
    )
    return special.expit(special.logit(p_arr) + delta)


def _time_major_layout(risks: Sequence[np.ndarray]):
    """Flatten ragged risk sequences time-major, longest unit first.

    At step t the active units are the first ``active[t]`` (longest first), and
    their risks are ``flat[offsets[t]:offsets[t] + active[t]]``; memory is the
    total number of cases, not units x longest history.
    """
    lengths = np.array([r.size for r in risks])
    order = np.argsort(-lengths, kind="stable")
    sorted_lengths = lengths[order]
    steps = np.arange(sorted_lengths[0])
    active = lengths.size - np.searchsorted(np.sort(lengths), steps, side="right")
    offsets = np.concatenate([[0], np.cumsum(active)[:-1]])
    step = np.concatenate([np.arange(length) for length in sorted_lengths])
    rank = np.repeat(np.arange(order.size), sorted_lengths)
    flat = np.empty(step.size)
    flat[offsets[step] + rank] = np.concatenate([risks[i] for i in order])
    return flat, offsets, active


def _check_simulation_settings(target_false_alarm: float, n_sim: int) -> None:
    if not 0.0 < target_false_alarm < 1.0:
        raise ValueError(f"target_false_alarm must be in (0, 1), got {target_false_alarm!r}")
    if n_sim < 1:
        raise ValueError(f"n_sim must be at least 1, got {n_sim!r}")


def _simulated_panel_maxima(
    offsets: np.ndarray,
    active: np.ndarray,
    n_sim: int,
    max_block_elements: int,
    draw_weights: Callable[[slice, int], np.ndarray],
) -> np.ndarray:
    """Per replicate, the largest un-reset chart value over all units and steps.

    Steps through the time-major layout of :func:`_time_major_layout` in
    blocks of replicates; ``draw_weights(cases, replicates)`` returns the
    simulated weights (active units x replicates) of the step whose cases
    are ``flat[cases]``.
    """
    n_units = int(active[0])
    block = max(1, max_block_elements // n_units)
    maxima = []
    for first in range(0, n_sim, block):
        replicates = min(block, n_sim - first)
        # Unit-major state: the active units of a step are one contiguous block.
        chart = np.zeros((n_units, replicates))
        highest = np.zeros((n_units, replicates))
        for offset, k in zip(offsets, active, strict=True):
            weights = draw_weights(slice(offset, offset + k), replicates)
            np.add(chart[:k], weights, out=chart[:k])
            np.maximum(chart[:k], 0.0, out=chart[:k])
            np.maximum(highest[:k], chart[:k], out=highest[:k])
        maxima.append(highest.max(axis=0))
    return np.concatenate(maxima)


def _panel_threshold(
    panel_maxima: np.ndarray, target_false_alarm: float, odds_ratio: float
) -> PanelThreshold:
    """The (1 - target) quantile of the simulated panel maxima and its achieved rate."""
    n_sim = panel_maxima.size
    threshold = float(np.quantile(panel_maxima, 1.0 - target_false_alarm))
    achieved = float(np.mean(panel_maxima >= threshold))
    return PanelThreshold(
        threshold=threshold,
        false_alarm_rate=achieved,
        monte_carlo_se=float(np.sqrt(achieved * (1.0 - achieved) / n_sim)),
        n_sim=int(n_sim),
        odds_ratio=float(odds_ratio),
        panel_maxima=panel_maxima,
    )


def threshold_for_panel(
    risk_arrays_per_unit: Sequence,
    target_false_alarm: float = 0.05,
    odds_ratio: float = 2.0,
    n_sim: int = 2000,
    rng: np.random.Generator | int | None = None,
    max_block_elements: int = 4_000_000,
) -> PanelThreshold:
    """Threshold h giving a panel-wide false-alarm probability, by simulation.

    Parameters
    ----------
    risk_arrays_per_unit : sequence of array_like
        For each examiner, the case-mix risks p_t of its cases in time order
        (for drift charts: the recalibrated post-baseline risks).
    target_false_alarm : float, default 0.05
        Probability that ANY chart in the panel signals over the whole
        period when every examiner performs as predicted.
    odds_ratio : float, default 2.0
        R_A of the charts (> 1 upper, < 1 lower charts).
    n_sim : int, default 2000
        Simulated replicates of the whole panel.
    rng : numpy.random.Generator or int, optional
        Random generator or seed; pass one for reproducible thresholds.
    max_block_elements : int, default 4_000_000
        Replicates x units simulated at once (bounds memory).

    Returns
    -------
    PanelThreshold

    Raises
    ------
    ValueError
        If a unit's risks are not strictly between 0 and 1 (missing included), no unit
        has a case, ``target_false_alarm`` is not strictly between 0 and 1, ``n_sim`` is
        below 1, or ``odds_ratio`` is not a positive finite number other than 1.

    Notes
    -----
    Under the null y_t ~ Bernoulli(p_t) independently, with each unit's own
    risk sequence. A chart signals (at least once) iff its un-reset path
    reaches h, so P(any signal) = P(max over units and t of X_t >= h), and h
    is the (1 - target) quantile of the simulated panel maxima. The
    recursion is vectorised over replicates and units, stepping through time
    with only the units that still have cases; cost is proportional to
    n_sim x total cases (1,000 examiners x 300 cases x 1,000 replicates took
    about 6 s on 2 cores). The Monte Carlo standard error of the achieved
    rate is about sqrt(target (1 - target) / n_sim).

    References
    ----------
    Aylin P, Best N, Bottle A, Marshall C. Following Shipman: a pilot system
    for monitoring mortality rates in primary care. Lancet 2003;362:485-491.
    Steiner SH, Cook RJ, Farewell VT, Treasure T. Monitoring surgical
    performance using risk-adjusted cumulative sum charts. Biostatistics
    2000;1:441-452.
    """
    _check_simulation_settings(target_false_alarm, n_sim)
    risks = [_checked_risks(r).ravel() for r in risk_arrays_per_unit]
    risks = [r for r in risks if r.size]
    if not risks:
        raise ValueError("no unit has any case to simulate")
    generator = np.random.default_rng(rng)
    flat_p, offsets, active = _time_major_layout(risks)
    weight_if_0, weight_if_1 = _weight_pair(flat_p, odds_ratio)

    def draw_weights(cases: slice, replicates: int) -> np.ndarray:
        # Drawn replicate-major (the random stream of earlier versions), used unit-major.
        events = (generator.random((replicates, cases.stop - cases.start)) < flat_p[cases]).T
        return np.where(events, weight_if_1[cases, None], weight_if_0[cases, None])

    panel_maxima = _simulated_panel_maxima(offsets, active, n_sim, max_block_elements, draw_weights)
    return _panel_threshold(panel_maxima, target_false_alarm, odds_ratio)


# Binomial variance from which a batch's simulated events come from the normal approximation
# (the usual rule of thumb n p (1 - p) > 9; tests/stats/test_cusum_batched.py checks the
# achieved false-alarm rate just above it against an exact binomial simulation).
NORMAL_APPROXIMATION_VARIANCE = 9.0


def threshold_for_batched_panel(
    trials_per_unit: Sequence,
    mean_risk_per_unit: Sequence,
    log_terms_per_unit: Sequence,
    target_false_alarm: float = 0.05,
    odds_ratio: float = 2.0,
    n_sim: int = 2000,
    rng: np.random.Generator | int | None = None,
    max_block_elements: int = 4_000_000,
) -> PanelThreshold:
    """Threshold h for a panel of batched charts (:func:`batched_cusum`), by simulation.

    Parameters
    ----------
    trials_per_unit : sequence of array_like of int
        For each examiner, the number of cases m_k >= 1 of each batch, in
        time order.
    mean_risk_per_unit : sequence of array_like
        For each examiner, the mean case-mix risk of each batch,
        0 < mean p_k < 1 (for drift charts: of the recalibrated risks).
    log_terms_per_unit : sequence of array_like
        For each examiner, L_k of each batch from :func:`batch_log_terms`
        with the same R_A.
    target_false_alarm : float, default 0.05
        Probability that ANY chart in the panel signals over the whole
        period when every examiner performs as predicted.
    odds_ratio : float, default 2.0
        R_A > 1 of the (upper) charts.
    n_sim : int, default 2000
        Simulated replicates of the whole panel.
    rng : numpy.random.Generator or int, optional
        Random generator or seed; pass one for reproducible thresholds.
    max_block_elements : int, default 4_000_000
        Replicates x units simulated at once (bounds memory).

    Returns
    -------
    PanelThreshold

    Raises
    ------
    ValueError
        If the three sequences differ in number of units or a unit's three arrays differ
        in length; if trials are not integers >= 1, mean risks not strictly between 0
        and 1 or log terms not finite; if no unit has a batch; if
        ``target_false_alarm`` is not strictly between 0 and 1, ``n_sim`` is below 1 or
        ``odds_ratio`` is not > 1.

    Notes
    -----
    As :func:`threshold_for_panel`, with batches in place of cases: the
    weight of batch k is W_k = O_k log R_A - L_k and h is the (1 - target)
    quantile of the simulated maxima over units and batches of the
    un-reset charts. Cost is proportional to n_sim x total batches instead
    of n_sim x total cases.

    Under the null the events of a batch are independent Bernoulli(p_i), so
    O_k is Poisson-binomial with mean m_k mean p_k. It is simulated as
    Binomial(m_k, mean p_k): the same mean and a variance
    m_k mean p_k (1 - mean p_k) that is at least the Poisson-binomial
    variance sum p_i (1 - p_i), larger by m_k times the variance of the
    risks within the batch. The simulated weights are therefore slightly
    too dispersed, so h comes out slightly too high and the achieved
    false-alarm probability slightly below the target (conservative); with
    one case per batch, or equal risks within each batch, the simulation is
    exact. The risks are treated as known, as in :func:`threshold_for_panel`.
    Batches whose binomial variance is at least NORMAL_APPROXIMATION_VARIANCE
    (9) draw O_k from the normal distribution with the same mean and
    variance, rounded and kept within [0, m_k] (De Moivre-Laplace), several
    times cheaper than the binomial sampler at the batch sizes of millions
    of exams; smaller batches draw the binomial itself.

    References
    ----------
    Steiner SH, Cook RJ, Farewell VT, Treasure T. Monitoring surgical
    performance using risk-adjusted cumulative sum charts. Biostatistics
    2000;1:441-452.
    Aylin P, Best N, Bottle A, Marshall C. Following Shipman: a pilot system
    for monitoring mortality rates in primary care. Lancet 2003;362:485-491.
    """
    _check_simulation_settings(target_false_alarm, n_sim)
    log_odds_ratio = np.log(_checked_upper_odds_ratio(odds_ratio))
    if not len(trials_per_unit) == len(mean_risk_per_unit) == len(log_terms_per_unit):
        raise ValueError(
            f"need the same number of units in trials ({len(trials_per_unit)}), mean risks "
            f"({len(mean_risk_per_unit)}) and log terms ({len(log_terms_per_unit)})"
        )
    trials, mean_risks, log_terms = [], [], []
    for unit, (m, p_bar, terms) in enumerate(
        zip(trials_per_unit, mean_risk_per_unit, log_terms_per_unit, strict=True)
    ):
        m = np.asarray(m, dtype=float).ravel()
        p_bar = _checked_risks(p_bar).ravel()
        terms = np.asarray(terms, dtype=float).ravel()
        if not m.size == p_bar.size == terms.size:
            raise ValueError(
                f"unit {unit}: trials, mean risks and log terms have {m.size}, {p_bar.size} "
                f"and {terms.size} batches"
            )
        if np.any((m < 1) | (m != np.round(m))):
            raise ValueError(f"unit {unit}: trials per batch must be integers >= 1")
        if not np.all(np.isfinite(terms)):
            raise ValueError(f"unit {unit}: log terms must be finite")
        if m.size:
            trials.append(m)
            mean_risks.append(p_bar)
            log_terms.append(terms)
    if not trials:
        raise ValueError("no unit has any batch to simulate")
    generator = np.random.default_rng(rng)
    # Equal lengths per unit, so the three layouts share offsets and active.
    flat_m, offsets, active = _time_major_layout(trials)
    flat_m = flat_m.astype(np.int64)
    flat_p_bar = _time_major_layout(mean_risks)[0]
    flat_terms = _time_major_layout(log_terms)[0]

    variance = flat_m * flat_p_bar * (1.0 - flat_p_bar)
    normal = variance >= NORMAL_APPROXIMATION_VARIANCE
    flat_mean, flat_sd = flat_m * flat_p_bar, np.sqrt(variance)

    def draw_weights(cases: slice, replicates: int) -> np.ndarray:
        m, large = flat_m[cases], normal[cases]
        events = np.empty((m.size, replicates))
        small = np.flatnonzero(~large)
        if small.size:
            # Unit-major, so consecutive draws share (m, p) and NumPy reuses the
            # binomial sampler's setup (markedly faster than replicate-major).
            events[small] = generator.binomial(
                m[small, None], flat_p_bar[cases][small, None], size=(small.size, replicates)
            )
        big = np.flatnonzero(large)
        if big.size:
            # In place: at millions of exams these arrays hold most of the simulation.
            draws = generator.standard_normal((big.size, replicates))
            draws *= flat_sd[cases][big, None]
            draws += flat_mean[cases][big, None]
            np.rint(draws, out=draws)
            np.clip(draws, 0, m[big, None], out=draws)
            events[big] = draws
        events *= log_odds_ratio
        events -= flat_terms[cases, None]
        return events

    panel_maxima = _simulated_panel_maxima(offsets, active, n_sim, max_block_elements, draw_weights)
    return _panel_threshold(panel_maxima, target_false_alarm, odds_ratio)
