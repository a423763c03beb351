"""Risk-adjusted CUSUM: weights (O5), charts, drift and panel-wide thresholds."""

import itertools
import math

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import special

from imestats.cusum import (
    baseline_log_odds_ratio,
    cusum_weights,
    recalibrate_risks,
    risk_adjusted_cusum,
    threshold_for_panel,
)


def _parsonnet_risk(score: float) -> float:
    # Steiner et al. (2000) risk model: logit p = -3.68 + 0.077 Parsonnet.
    return float(special.expit(-3.68 + 0.077 * score))


# Steiner et al. (2000) Biostatistics 1:441, p. 446, and Steiner (2014) p. 234, as pinned
# by the R vlad test file test-llr_score.R (docs/methods.md, O5), 3 decimals.
STEINER_WEIGHTS = [
    (0, 2.0, 0, -0.024),
    (0, 2.0, 1, 0.669),
    (50, 2.0, 0, -0.433),
    (50, 2.0, 1, 0.260),
    (0, 0.5, 0, 0.012),
    (0, 0.5, 1, -0.681),
    (50, 0.5, 0, 0.316),
    (50, 0.5, 1, -0.377),
]


@pytest.mark.parametrize(
    ("parsonnet", "odds_ratio", "y", "expected"),
    STEINER_WEIGHTS,
    ids=[f"parsonnet_{s}_RA_{r}_y_{y}" for s, r, y, _ in STEINER_WEIGHTS],
)
def test_cusum_weights_against_steiner_2000_o5(parsonnet, odds_ratio, y, expected):
    weight = cusum_weights([y], [_parsonnet_risk(parsonnet)], odds_ratio)[0]
    assert weight == pytest.approx(expected, abs=5e-4)


def test_parsonnet_risks_match_methods_o5():
    # docs/methods.md, O5: p(0) = 0.02460, p(50) = 0.54240.
    assert _parsonnet_risk(0) == pytest.approx(0.02460, abs=5e-6)
    assert _parsonnet_risk(50) == pytest.approx(0.54240, abs=5e-6)


# p = 0.5, R_A = 2: W(y=1) = log 2 - log 1.5 = 0.2876821, W(y=0) = -log 1.5 = -0.4054651.
UP, DOWN = math.log(2) - math.log(1.5), -math.log(1.5)


def test_upper_chart_by_hand_with_reset_after_signal():
    y = [1, 1, 1, 1, 0, 1, 1, 1]
    chart = risk_adjusted_cusum(y, [0.5] * 8, threshold=0.8, odds_ratio=2.0)
    # 1 UP, 2 UP, 3 UP = 0.863 >= 0.8 -> signal, reset; then UP, 0 (floored), UP, 2 UP, 3 UP.
    expected = [UP, 2 * UP, 3 * UP, UP, 0.0, UP, 2 * UP, 3 * UP]
    assert chart.path == pytest.approx(expected, abs=1e-12)
    assert chart.signal_indices.tolist() == [2, 7]
    assert chart.first_signal == 2
    assert chart.max_statistic == pytest.approx(3 * UP, abs=1e-12)
    assert chart.start == 0


def test_lower_chart_by_hand_is_negative_and_signals_at_minus_h():
    # R_A = 1/2, p = 0.5: W(y=0) = -log 0.75 = 0.2876821, so Z falls by that per non-event.
    y = [0, 0, 0, 1, 0]
    chart = risk_adjusted_cusum(y, [0.5] * 5, threshold=0.8, odds_ratio=0.5)
    step = -math.log(0.75)
    expected = [-step, -2 * step, -3 * step, 0.0, -step]
    assert chart.path == pytest.approx(expected, abs=1e-12)
    assert chart.signal_indices.tolist() == [2]
    assert chart.max_statistic == pytest.approx(3 * step, abs=1e-12)


def test_chart_without_signal_reports_none():
    chart = risk_adjusted_cusum([0, 0, 1], [0.2, 0.2, 0.2], threshold=4.5)
    assert chart.first_signal is None
    assert chart.signal_indices.size == 0


@pytest.mark.parametrize(
    ("y", "p", "message"),
    [([0, 2], [0.1, 0.1], "0 or 1"), ([0, 1], [0.0, 0.1], "strictly between"),
     ([0, 1], [0.1], "shape")],
    ids=["outcome_not_binary", "risk_zero", "length_mismatch"],
)  # fmt: skip
def test_cusum_rejects_bad_inputs(y, p, message):
    with pytest.raises(ValueError, match=message):
        risk_adjusted_cusum(y, p, threshold=4.5)


def test_baseline_log_odds_ratio_equals_logistic_fit_with_offset():
    rng = np.random.default_rng(11)
    p = rng.uniform(0.05, 0.6, 400)
    y = (rng.random(400) < recalibrate_risks(p, 0.7)).astype(int)
    delta = baseline_log_odds_ratio(y, p, baseline_end=300)
    reference = sm.GLM(
        y[:300], np.ones((300, 1)), family=sm.families.Binomial(), offset=special.logit(p[:300])
    ).fit()
    assert delta == pytest.approx(reference.params[0], abs=1e-8)


def test_baseline_without_events_gives_a_finite_ratio_from_half_an_event():
    p = np.full(50, 0.1)
    delta = baseline_log_odds_ratio(np.zeros(50), p, baseline_end=40)
    # 40 expit(logit 0.1 + delta) = 0.5  =>  delta = logit(0.5/40) - logit(0.1).
    assert delta == pytest.approx(special.logit(0.5 / 40) - special.logit(0.1), abs=1e-9)


def _examiners(seed, n_examiners, log_odds_ratio_by_case):
    """Examiners with peer risks p and outcomes at the given log odds ratio to peers."""
    rng = np.random.default_rng(seed)
    n_cases = np.broadcast_to(log_odds_ratio_by_case, (2000,)).size
    for _ in range(n_examiners):
        p = np.clip(rng.beta(2, 8, n_cases), 0.01, 0.99)
        yield (rng.random(n_cases) < recalibrate_risks(p, log_odds_ratio_by_case)).astype(int), p


# h = 8: for one examiner with 1,000 post-baseline cases of these risks, the simulated null
# probability of any signal is about 1% (threshold_for_panel, 4,000 replicates).
DRIFT_THRESHOLD = 8.0


def _exact_signal_probability(p, threshold, odds_ratio):
    """P(max_t X_t >= h) for one unit by enumerating all 2^T outcome sequences."""
    p = np.asarray(p)
    total = 0.0
    for outcome in itertools.product([0, 1], repeat=p.size):
        y = np.array(outcome)
        x, highest = 0.0, 0.0
        for w in cusum_weights(y, p, odds_ratio):
            x = max(0.0, x + w)
            highest = max(highest, x)
        if highest >= threshold:
            total += np.prod(np.where(y == 1, p, 1 - p))
    return total


PANEL = [
    np.array([0.3, 0.1, 0.5, 0.2, 0.4, 0.3, 0.6, 0.2, 0.1, 0.35]),
    np.array([0.15, 0.25, 0.45, 0.3, 0.2, 0.5, 0.4, 0.3]),
    np.array([0.6, 0.4, 0.3, 0.2, 0.5, 0.45]),
]


def test_panel_simulation_matches_exact_enumeration():
    result = threshold_for_panel(PANEL, 0.05, odds_ratio=2.0, n_sim=40_000, rng=3)
    for h in [result.threshold, 1.0, 1.5]:
        exact = 1 - np.prod([1 - _exact_signal_probability(p, h, 2.0) for p in PANEL])
        simulated = np.mean(result.panel_maxima >= h)
        # 4 binomial standard errors of the simulated share.
        tolerance = 4 * np.sqrt(exact * (1 - exact) / result.n_sim)
        assert simulated == pytest.approx(exact, abs=tolerance)


def test_panel_threshold_gives_target_rate_in_independent_sequential_simulation():
    rng = np.random.default_rng(8)
    panel = [np.clip(rng.beta(2, 8, size), 0.01, 0.99) for size in rng.integers(80, 200, 10)]
    result = threshold_for_panel(panel, 0.05, odds_ratio=2.0, n_sim=4000, rng=9)
    assert result.false_alarm_rate == pytest.approx(0.05, abs=3 * result.monte_carlo_se)
    # Independent check with the reset chart itself, fresh random numbers.
    check = np.random.default_rng(10)
    replicates = 1000
    alarms = sum(
        any(
            risk_adjusted_cusum(
                (check.random(p.size) < p).astype(int), p, result.threshold
            ).first_signal
            is not None
            for p in panel
        )
        for _ in range(replicates)
    )
    # Binomial SE of 1,000 replicates at 0.05 is 0.0069; allow 3 SE plus the error in h.
    assert alarms / replicates == pytest.approx(0.05, abs=0.025)


def test_panel_threshold_is_reproducible_with_a_seed_and_independent_of_block_size():
    first = threshold_for_panel(PANEL, 0.1, n_sim=500, rng=4)
    again = threshold_for_panel(PANEL, 0.1, n_sim=500, rng=4)
    assert first.threshold == again.threshold
    small_blocks = threshold_for_panel(PANEL, 0.1, n_sim=500, rng=4, max_block_elements=30)
    assert small_blocks.panel_maxima.shape == (500,)


def test_more_examiners_need_a_higher_threshold():
    rng = np.random.default_rng(6)
    panel = [np.clip(rng.beta(2, 8, 150), 0.01, 0.99) for _ in range(40)]
    few = threshold_for_panel(panel[:4], 0.05, n_sim=2000, rng=7).threshold
    many = threshold_for_panel(panel, 0.05, n_sim=2000, rng=7).threshold
    assert many > few
