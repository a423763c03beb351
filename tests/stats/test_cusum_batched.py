"""Batched risk-adjusted CUSUM: batch weights, the batched chart and its panel threshold."""

import itertools
import math

import numpy as np
import pytest
from scipy import special, stats

from imestats.cusum import (
    NORMAL_APPROXIMATION_VARIANCE,
    baseline_log_odds_ratio,
    baseline_log_odds_ratios,
    batch_log_terms,
    batched_cusum,
    cusum_weights,
    recalibrate_risks,
    risk_adjusted_cusum,
    threshold_for_batched_panel,
    threshold_for_panel,
)

LOG2, LOG1_5, LOG1_25 = math.log(2.0), math.log(1.5), math.log(1.25)


def _one_case_per_batch(y, p, threshold, odds_ratio=2.0):
    n = len(p)
    terms = batch_log_terms(p, np.arange(n), n, odds_ratio)
    return batched_cusum(np.asarray(y), terms, threshold, odds_ratio)


def test_one_case_per_batch_reproduces_the_hand_computed_per_case_chart():
    # The hand example of test_cusum.py: p = 0.5, R_A = 2, h = 0.8,
    # W(y=1) = log 2 - log 1.5 = 0.2876821, W(y=0) = -log 1.5 = -0.4054651.
    y, p = [1, 1, 1, 1, 0, 1, 1, 1], [0.5] * 8
    up = LOG2 - LOG1_5
    batched = _one_case_per_batch(y, p, threshold=0.8)
    expected = [up, 2 * up, 3 * up, up, 0.0, up, 2 * up, 3 * up]
    assert batched.path == pytest.approx(expected, abs=1e-12)
    assert batched.signal_indices.tolist() == [2, 7]
    assert batched.first_signal == 2
    assert batched.max_statistic == pytest.approx(3 * up, abs=1e-12)


def test_one_case_per_batch_reproduces_risk_adjusted_cusum_on_parsonnet_risks():
    # Steiner et al. (2000) risk model, logit p = -3.68 + 0.077 Parsonnet, scores 0..70.
    rng = np.random.default_rng(21)
    p = special.expit(-3.68 + 0.077 * rng.integers(0, 71, 300))
    y = (rng.random(300) < recalibrate_risks(p, np.log(2.5))).astype(int)
    per_case = risk_adjusted_cusum(y, p, threshold=2.5, odds_ratio=2.0)
    batched = _one_case_per_batch(y, p, threshold=2.5, odds_ratio=2.0)
    assert per_case.signal_indices.size >= 2  # the example exercises resets
    np.testing.assert_allclose(batched.path, per_case.path, rtol=0, atol=1e-14)
    assert batched.signal_indices.tolist() == per_case.signal_indices.tolist()
    assert batched.first_signal == per_case.first_signal
    assert batched.max_statistic == pytest.approx(per_case.max_statistic, abs=1e-14)


def test_two_units_three_batches_by_hand():
    # R_A = 2, h = 1. log 2 = 0.6931472, log 1.5 = 0.4054651, log 1.25 = 0.2231436.
    # Unit A: batch 0 p = (.5, .5), O = 2:        W = 2 log 2 - 2 log 1.5        =  0.5753641
    #         batch 1 p = (.25, .25, .5), O = 0:  W = -(2 log 1.25 + log 1.5)    = -0.8517522
    #         batch 2 p = (.5), O = 1:            W = log 2 - log 1.5            =  0.2876821
    #         path 0.5753641, max(0, -0.2763881) = 0, 0.2876821; no signal.
    # Unit B: batch 0 p = (.5, .5, .5, .5), O = 3: W = 3 log 2 - 4 log 1.5       =  0.4575811
    #         batch 1 p = (.25, .25), O = 2:       W = 2 log 2 - 2 log 1.25      =  0.9400073
    #         batch 2 p = (.5), O = 0:             W = -log 1.5                  = -0.4054651
    #         path 0.4575811, 1.3975884 >= 1 (signal, reset), max(0, -0.4054651) = 0.
    p = [0.5, 0.5, 0.25, 0.25, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.5]
    batch = [0, 0, 1, 1, 1, 2, 3, 3, 3, 3, 4, 4, 5]  # unit A: batches 0-2, unit B: 3-5
    terms = batch_log_terms(p, batch, 6, odds_ratio=2.0)
    expected_terms = [2 * LOG1_5, 2 * LOG1_25 + LOG1_5, LOG1_5, 4 * LOG1_5, 2 * LOG1_25, LOG1_5]
    assert terms == pytest.approx(expected_terms, abs=1e-12)

    unit_a = batched_cusum([2, 0, 1], terms[:3], threshold=1.0, odds_ratio=2.0)
    assert unit_a.path == pytest.approx([2 * LOG2 - 2 * LOG1_5, 0.0, LOG2 - LOG1_5], abs=1e-12)
    assert unit_a.path == pytest.approx([0.5753641, 0.0, 0.2876821], abs=1e-7)
    assert unit_a.signal_indices.size == 0 and unit_a.first_signal is None
    assert unit_a.max_statistic == pytest.approx(0.5753641, abs=1e-7)

    unit_b = batched_cusum([3, 2, 0], terms[3:], threshold=1.0, odds_ratio=2.0)
    b1 = 3 * LOG2 - 4 * LOG1_5
    assert unit_b.path == pytest.approx([b1, b1 + 2 * LOG2 - 2 * LOG1_25, 0.0], abs=1e-12)
    assert unit_b.path == pytest.approx([0.4575811, 1.3975884, 0.0], abs=1e-7)
    assert unit_b.signal_indices.tolist() == [1]
    assert unit_b.first_signal == 1
    assert unit_b.threshold == 1.0 and unit_b.odds_ratio == 2.0 and unit_b.start == 0


def _random_batches(seed, n_cases, log_odds_ratio):
    rng = np.random.default_rng(seed)
    p = np.clip(rng.beta(2, 8, n_cases), 0.01, 0.99)
    y = (rng.random(n_cases) < recalibrate_risks(p, log_odds_ratio)).astype(int)
    sizes = rng.integers(1, 25, n_cases)  # more than enough batches; cut at n_cases
    batch = np.repeat(np.arange(sizes.size), sizes)[:n_cases]
    return y, p, batch, int(batch[-1]) + 1


def test_batch_weight_is_the_sum_of_the_per_case_weights():
    y, p, batch, n_batches = _random_batches(31, 2000, 0.0)
    for odds_ratio in [2.0, 1.5, 3.0]:
        terms = batch_log_terms(p, batch, n_batches, odds_ratio)
        events = np.bincount(batch, weights=y, minlength=n_batches)
        per_case_sum = np.bincount(
            batch, weights=cusum_weights(y, p, odds_ratio), minlength=n_batches
        )
        np.testing.assert_allclose(
            events * np.log(odds_ratio) - terms, per_case_sum, rtol=0, atol=1e-12
        )


def test_batched_chart_equals_the_per_case_chart_at_batch_ends_without_resets():
    # Odds 4x the predicted and a first event: the per-case chart climbs and (checked) never
    # returns to 0, so both charts are the plain cumulative sum of the per-case weights.
    y, p, batch, n_batches = _random_batches(5, 600, np.log(4.0))
    y[0] = 1
    per_case = risk_adjusted_cusum(y, p, threshold=1e9)
    assert np.all(per_case.path > 0)
    batch_ends = np.flatnonzero(np.diff(batch, append=n_batches))
    events = np.bincount(batch, weights=y, minlength=n_batches)
    batched = batched_cusum(events, batch_log_terms(p, batch, n_batches), threshold=1e9)
    np.testing.assert_allclose(batched.path, per_case.path[batch_ends], rtol=0, atol=1e-10)
    np.testing.assert_allclose(
        batched.path, np.cumsum(cusum_weights(y, p))[batch_ends], rtol=0, atol=1e-10
    )


def test_batched_chart_never_exceeds_the_per_case_chart_at_batch_ends():
    # Null data: both charts return to 0 often. Without signals the per-case chart is the
    # largest weight sum since any case, the batched chart since any batch start.
    y, p, batch, n_batches = _random_batches(9, 3000, 0.0)
    per_case = risk_adjusted_cusum(y, p, threshold=1e9)
    batch_ends = np.flatnonzero(np.diff(batch, append=n_batches))
    events = np.bincount(batch, weights=y, minlength=n_batches)
    batched = batched_cusum(events, batch_log_terms(p, batch, n_batches), threshold=1e9)
    at_ends = per_case.path[batch_ends]
    assert np.all(batched.path <= at_ends + 1e-10)
    assert np.any(batched.path < at_ends - 1e-6)  # the example does show the difference


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: batch_log_terms([0.2, 1.0], [0, 1], 2), "strictly between"),
        (lambda: batch_log_terms([0.2, 0.3], [0, 2], 2), "batch_index must lie"),
        (lambda: batch_log_terms([0.2, 0.3], [0, -1], 2), "batch_index must lie"),
        (lambda: batch_log_terms([0.2, 0.3], [0], 2), "entries"),
        (lambda: batch_log_terms([0.2, 0.3], [0.0, 1.0], 2), "integers"),
        (lambda: batch_log_terms([0.2], [0], 1, odds_ratio=0.0), "odds_ratio"),
        (lambda: batched_cusum([1, 0], [0.1, 0.2], 4.5, odds_ratio=0.5), "R_A > 1"),
        (lambda: batched_cusum([1, -1], [0.1, 0.2], 4.5), "non-negative integer"),
        (lambda: batched_cusum([1, 0.5], [0.1, 0.2], 4.5), "non-negative integer"),
        (lambda: batched_cusum([1], [0.1, 0.2], 4.5), "equal length"),
        (lambda: batched_cusum([1, 0], [0.1, np.nan], 4.5), "finite"),
        (lambda: batched_cusum([1, 0], [0.1, 0.2], 0.0), "threshold"),
    ],
    ids=["risk_one", "index_too_big", "index_negative", "index_length", "index_float",
         "odds_ratio_zero", "lower_chart", "negative_events", "fractional_events",
         "length_mismatch", "nan_log_term", "threshold_zero"],
)  # fmt: skip
def test_batched_functions_reject_bad_inputs(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_empty_batches_get_zero_log_terms():
    terms = batch_log_terms([0.5, 0.25], [2, 0], 4, odds_ratio=2.0)
    assert terms == pytest.approx([LOG1_25, 0.0, LOG1_5, 0.0], abs=1e-15)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"trials_per_unit": [[1, 0]]}, "integers >= 1"),
        ({"trials_per_unit": [[1, 2.5]]}, "integers >= 1"),
        ({"trials_per_unit": [[1, 2, 3]]}, "batches"),
        ({"mean_risk_per_unit": [[0.2, 0.0]]}, "strictly between"),
        ({"log_terms_per_unit": [[0.1, np.inf]]}, "finite"),
        ({"log_terms_per_unit": []}, "same number of units"),
        ({"odds_ratio": 0.5}, "R_A > 1"),
        ({"target_false_alarm": 1.0}, "target_false_alarm"),
        ({"n_sim": 0}, "n_sim"),
    ],
    ids=["zero_trials", "fractional_trials", "length_mismatch", "risk_zero", "inf_log_term",
         "unit_count_mismatch", "lower_chart", "target_one", "no_replicates"],
)  # fmt: skip
def test_batched_panel_threshold_rejects_bad_inputs(kwargs, message):
    arguments = {
        "trials_per_unit": [[1, 2]],
        "mean_risk_per_unit": [[0.2, 0.3]],
        "log_terms_per_unit": [[0.1, 0.2]],
        "n_sim": 10,
        "rng": 0,
    } | kwargs
    with pytest.raises(ValueError, match=message):
        threshold_for_batched_panel(**arguments)


def _exact_batched_signal_probability(pmfs, log_terms, threshold, odds_ratio):
    """P(max_k S_k >= h) for one unit, enumerating all event counts of all batches.

    pmfs[k][o] = P(O_k = o); S_k = max(0, S_{k-1} + o_k log R_A - L_k), never reset.
    """
    total = 0.0
    for counts in itertools.product(*(range(len(pmf)) for pmf in pmfs)):
        s, highest = 0.0, 0.0
        for o, term in zip(counts, log_terms, strict=True):
            s = max(0.0, s + o * math.log(odds_ratio) - term)
            highest = max(highest, s)
        if highest >= threshold:
            total += math.prod(pmf[o] for pmf, o in zip(pmfs, counts, strict=True))
    return total


# Per-case risks of three units, grouped into batches (one list per batch).
BATCHED_PANEL = [
    [[0.3, 0.1], [0.5], [0.2, 0.4, 0.3], [0.6, 0.2], [0.1, 0.35]],
    [[0.15, 0.25, 0.45], [0.3], [0.2, 0.5, 0.4], [0.3]],
    [[0.6, 0.4], [0.3, 0.2, 0.5], [0.45]],
]


def _batch_summaries(panel, odds_ratio):
    trials = [[len(b) for b in unit] for unit in panel]
    mean_risks = [[float(np.mean(b)) for b in unit] for unit in panel]
    log_terms = [[float(np.sum(np.log1p((odds_ratio - 1) * np.array(b)))) for b in unit]
                 for unit in panel]  # fmt: skip
    return trials, mean_risks, log_terms


def test_batched_panel_simulation_matches_exact_binomial_enumeration():
    trials, mean_risks, log_terms = _batch_summaries(BATCHED_PANEL, 2.0)
    result = threshold_for_batched_panel(
        trials, mean_risks, log_terms, 0.05, odds_ratio=2.0, n_sim=40_000, rng=3
    )
    assert result.n_sim == 40_000 and result.odds_ratio == 2.0
    for h in [result.threshold, 0.8, 1.5]:
        exact = 1 - np.prod([
            1 - _exact_batched_signal_probability(
                [stats.binom.pmf(np.arange(m + 1), m, pb) for m, pb in zip(ms, pbs, strict=True)],
                terms, h, 2.0,
            )
            for ms, pbs, terms in zip(trials, mean_risks, log_terms, strict=True)
        ])  # fmt: skip
        simulated = np.mean(result.panel_maxima >= h)
        # 4 binomial standard errors of the simulated share.
        assert simulated == pytest.approx(exact, abs=4 * np.sqrt(exact * (1 - exact) / 40_000))


def _poisson_binomial_pmf(p):
    pmf = np.array([1.0])
    for risk in p:
        pmf = np.convolve(pmf, [1 - risk, risk])
    return pmf


def test_binomial_simulation_model_is_conservative_on_heterogeneous_batches():
    # Exact signal probabilities of the batched chart, once with the true Poisson-binomial
    # event counts and once with the Binomial(m, mean p) counts the simulation draws.
    trials, mean_risks, log_terms = _batch_summaries(BATCHED_PANEL, 2.0)
    for unit, ms, pbs, terms in zip(BATCHED_PANEL, trials, mean_risks, log_terms, strict=True):
        binomial = [stats.binom.pmf(np.arange(m + 1), m, pb) for m, pb in zip(ms, pbs, strict=True)]
        poisson_binomial = [_poisson_binomial_pmf(b) for b in unit]
        for h in [0.5, 0.8, 1.2, 1.6]:
            approx = _exact_batched_signal_probability(binomial, terms, h, 2.0)
            true = _exact_batched_signal_probability(poisson_binomial, terms, h, 2.0)
            assert approx >= true - 1e-12


def test_batched_panel_with_one_case_per_batch_matches_the_per_case_panel():
    rng = np.random.default_rng(8)
    panel = [np.clip(rng.beta(2, 8, size), 0.01, 0.99) for size in rng.integers(80, 200, 10)]
    n_sim = 4000
    per_case = threshold_for_panel(panel, 0.05, odds_ratio=2.0, n_sim=n_sim, rng=9)
    batched = threshold_for_batched_panel(
        [np.ones(p.size, dtype=int) for p in panel],
        panel,
        [np.log1p(p) for p in panel],  # log(1 - p + 2p) with R_A = 2
        0.05,
        odds_ratio=2.0,
        n_sim=n_sim,
        rng=19,
    )
    se = math.sqrt(0.05 * 0.95 / n_sim)  # 0.0034
    assert batched.false_alarm_rate == pytest.approx(0.05, abs=3 * se)
    assert batched.monte_carlo_se == pytest.approx(se, rel=0.1)
    # The batched h applied to the independent per-case replicates: error of the quantile
    # (about se) plus that of the per-case share (se), independent: 4 x sqrt(2) se = 0.019.
    share = np.mean(per_case.panel_maxima >= batched.threshold)
    assert share == pytest.approx(0.05, abs=4 * math.sqrt(2) * se)
    assert batched.threshold == pytest.approx(per_case.threshold, abs=0.15)


def test_batched_panel_threshold_is_reproducible_and_ignores_empty_units():
    trials, mean_risks, log_terms = _batch_summaries(BATCHED_PANEL, 2.0)
    first = threshold_for_batched_panel(trials, mean_risks, log_terms, 0.1, n_sim=500, rng=4)
    again = threshold_for_batched_panel(
        trials + [[]], mean_risks + [[]], log_terms + [[]], 0.1, n_sim=500, rng=4
    )
    assert first.threshold == again.threshold
    np.testing.assert_array_equal(first.panel_maxima, again.panel_maxima)
    small_blocks = threshold_for_batched_panel(
        trials, mean_risks, log_terms, 0.1, n_sim=500, rng=4, max_block_elements=5
    )
    assert small_blocks.panel_maxima.shape == (500,)


def test_normal_approximation_of_large_batches_keeps_the_false_alarm_rate():
    # Batches of 40 exams with equal risks 0.35-0.65 (binomial variance 9.1-10, just above the
    # normal-approximation cut of 9) get their events from the rounded normal. The achieved
    # false-alarm rate of the threshold is checked against an independent exact simulation:
    # binomial events, the un-reset upper chart per unit, the panel maximum per replicate.
    rng = np.random.default_rng(11)
    n_units, n_batches, m, odds_ratio = 40, 12, 40, 2.0
    p_bar = rng.uniform(0.35, 0.65, size=(n_units, n_batches))
    trials = np.full((n_units, n_batches), m)
    log_terms = m * np.log1p((odds_ratio - 1.0) * p_bar)
    assert (m * p_bar * (1 - p_bar) >= NORMAL_APPROXIMATION_VARIANCE).all()
    n_sim = 4000
    panel = threshold_for_batched_panel(
        list(trials), list(p_bar), list(log_terms), 0.05, odds_ratio, n_sim=n_sim, rng=5
    )
    exact = np.random.default_rng(6)
    events = exact.binomial(m, p_bar, size=(n_sim, n_units, n_batches))
    weights = events * np.log(odds_ratio) - log_terms
    chart = np.zeros((n_sim, n_units))
    highest = np.zeros((n_sim, n_units))
    for k in range(n_batches):
        chart = np.maximum(chart + weights[:, :, k], 0.0)
        highest = np.maximum(highest, chart)
    achieved = float(np.mean(highest.max(axis=1) >= panel.threshold))
    tolerance = 4 * np.sqrt(2 * 0.05 * 0.95 / n_sim)
    assert abs(achieved - 0.05) <= tolerance, (achieved, panel.threshold)


def test_baseline_log_odds_ratios_solve_each_units_equation_as_brentq_does():
    # The scalar baseline_log_odds_ratio (Brent's method, xtol 1e-12) is the independent value.
    rng = np.random.default_rng(11)
    sizes = [30, 31, 57, 200, 1000, 45, 30]
    ys, ps, units = [], [], []
    for k, n in enumerate(sizes):
        p = special.expit(rng.normal(-1.0 + 0.3 * k, 1.2, n))
        y = (rng.random(n) < special.expit(special.logit(p) + 0.8 - 0.3 * k)).astype(float)
        if k == 5:
            y[:] = 0.0  # no event: O is taken as 0.5
        if k == 6:
            y[:] = 1.0  # only events: O is taken as n - 0.5
        ys.append(y), ps.append(p), units.append(np.full(n, k))
    order = rng.permutation(sum(sizes))  # cases of the units interleaved
    y, p, unit = (np.concatenate(a)[order] for a in (ys, ps, units))
    deltas = baseline_log_odds_ratios(y, p, unit, len(sizes))
    for k, (yk, pk) in enumerate(zip(ys, ps, strict=True)):
        one = baseline_log_odds_ratio(np.r_[yk, 0.0], np.r_[pk, 0.5], len(yk))
        assert deltas[k] == pytest.approx(one, abs=1e-10)


def test_baseline_log_odds_ratios_need_a_case_for_every_unit():
    with pytest.raises(ValueError, match="at least one baseline case"):
        baseline_log_odds_ratios([0.0, 1.0], [0.3, 0.4], [0, 2], 3)
