"""Mantel-Haenszel odds ratios by unit, against scipy, statsmodels and enumeration."""

import itertools

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import StratifiedTable

from imestats import stratified
from imestats.stratified import mantel_haenszel_by_unit

# (exposed trials, exposed events, unexposed trials, unexposed events) per stratum.
ONE_STRATUM = [(20, 14, 25, 8)]
THREE_STRATA = [(12, 7, 10, 3), (15, 9, 14, 6), (8, 6, 11, 4)]


def _tables(strata):
    """statsmodels' 2x2 layout: rows exposed/unexposed, columns event/non-event."""
    return [np.array([[a, n1 - a], [c, n0 - c]]) for n1, a, n0, c in strata]


def _run(strata, unit="u"):
    n1, a, n0, c = np.array(strata, dtype=float).T
    return mantel_haenszel_by_unit([unit] * len(strata), n1, a, n0, c)


def test_one_stratum_p_value_is_fishers_exact_test():
    # scipy.stats.fisher_exact is the independent oracle for a single 2x2 table: with one
    # stratum the exact conditional test is Fisher's one-sided test.
    result = _run(ONE_STRATUM)
    (n1, a, n0, c), = ONE_STRATUM
    _, p = stats.fisher_exact([[a, n1 - a], [c, n0 - c]], alternative="greater")
    assert result.exact[0]
    assert result.p_greater[0] == pytest.approx(p, rel=1e-10)
    # With one stratum the MH odds ratio is the sample odds ratio ad/bc.
    assert result.odds_ratio[0] == pytest.approx((14 * 17) / (6 * 8))


def test_lower_tail_is_fishers_exact_test_below():
    # scipy.stats.fisher_exact(alternative="less") is the oracle of the lower tail, which
    # counts P(T = observed) as the upper one does: the two add up to 1 + P(T = observed).
    low_table = [(20, 5, 25, 15)]
    result = _run(low_table)
    (n1, a, n0, c), = low_table
    _, p_less = stats.fisher_exact([[a, n1 - a], [c, n0 - c]], alternative="less")
    _, p_greater = stats.fisher_exact([[a, n1 - a], [c, n0 - c]], alternative="greater")
    assert result.p_less[0] == pytest.approx(p_less, rel=1e-10)
    assert result.p_greater[0] == pytest.approx(p_greater, rel=1e-10)
    at_observed = stats.hypergeom.pmf(a, n1 + n0, a + c, n1)
    assert result.p_less[0] + result.p_greater[0] == pytest.approx(1 + at_observed, rel=1e-10)


def test_odds_ratio_and_interval_match_statsmodels_stratified_table():
    # statsmodels' StratifiedTable: MH pooled odds ratio and the RGB interval.
    result = _run(THREE_STRATA)
    table = StratifiedTable(_tables(THREE_STRATA))
    low, high = table.oddsratio_pooled_confint()
    assert result.odds_ratio[0] == pytest.approx(table.oddsratio_pooled, rel=1e-10)
    assert result.ci_low[0] == pytest.approx(low, rel=1e-8)
    assert result.ci_high[0] == pytest.approx(high, rel=1e-8)


def test_exact_stratified_p_value_matches_enumeration():
    # A second implementation: every combination of a_k within each stratum's support,
    # weighted by the product of hypergeometric probabilities.
    result = _run(THREE_STRATA)
    supports = []
    for n1, a, n0, c in THREE_STRATA:
        n, m1 = n1 + n0, a + c
        ks = range(max(0, n1 + m1 - n), min(n1, m1) + 1)
        supports.append([(k, stats.hypergeom.pmf(k, n, m1, n1)) for k in ks])
    observed = sum(a for _, a, _, _ in THREE_STRATA)
    p = sum(
        np.prod([p for _, p in combo])
        for combo in itertools.product(*supports)
        if sum(k for k, _ in combo) >= observed
    )
    assert result.p_greater[0] == pytest.approx(p, rel=1e-9)


def test_large_unit_uses_the_cmh_statistic(monkeypatch):
    # Above the exact limit: the one-sided CMH test with continuity correction.
    # statsmodels' test_null_odds(correction=True) gives the two-sided chi-square
    # ((|D| - 1/2)^2 / V); with the excess D above 1/2, as here, its root is the one-sided z.
    monkeypatch.setattr(stratified, "EXACT_MAX_TRIALS", 10)
    result = _run(THREE_STRATA)
    test = StratifiedTable(_tables(THREE_STRATA)).test_null_odds(correction=True)
    assert not result.exact[0]
    assert result.p_greater[0] == pytest.approx(stats.norm.sf(np.sqrt(test.statistic)), rel=1e-9)


def test_units_are_kept_apart_and_sorted():
    n1, a, n0, c = np.array(ONE_STRATUM + THREE_STRATA, dtype=float).T
    both = mantel_haenszel_by_unit(["b", "a", "a", "a"], n1, a, n0, c)
    assert list(both.units) == ["a", "b"]
    assert both.odds_ratio[0] == pytest.approx(_run(THREE_STRATA).odds_ratio[0])
    assert both.odds_ratio[1] == pytest.approx(_run(ONE_STRATUM).odds_ratio[0])
    # Observed exposed events and their expectation under no association, by hand:
    # stratum 1 of unit b: 20 * 22 / 45.
    assert both.observed[1] == 14
    assert both.expected[1] == pytest.approx(20 * 22 / 45)


def test_unit_with_one_side_only_has_nothing_to_compare():
    result = mantel_haenszel_by_unit(["u"], [30], [12], [0], [0])
    assert np.isnan(result.odds_ratio[0]) and np.isnan(result.p_greater[0])


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((["u"], [5], [6], [5], [1]), "exposed_events"),
        ((["u"], [5], [1], [5], [-1]), "unexposed_events"),
        ((["u"], [5.5], [1], [5], [1]), "exposed_trials"),
        ((["u", "v"], [5], [1], [5], [1]), "same length"),
    ],
    ids=["events-above-trials", "negative", "not-whole", "lengths"],
)
def test_bad_counts_are_refused(args, match):
    with pytest.raises(ValueError, match=match):
        mantel_haenszel_by_unit(*args)


def test_p_value_holds_its_level_under_no_association():
    # Under no association the exact conditional test never rejects more often than its
    # level: the size is the sum of the hypergeometric probabilities (scipy.stats.hypergeom)
    # of every table whose p-value is at or below 0.05, over the whole support of one 2x2
    # table's margins (30 exposed, 25 unexposed, 27 events).
    n1, n0, m1 = 30, 25, 27
    ks = np.arange(max(0, n1 + m1 - (n1 + n0)), min(n1, m1) + 1)
    result = mantel_haenszel_by_unit(
        [f"u{k}" for k in ks], [n1] * len(ks), ks, [n0] * len(ks), m1 - ks
    )
    p = dict(zip(result.units, result.p_greater, strict=True))
    size = sum(
        stats.hypergeom.pmf(k, n1 + n0, m1, n1) for k in ks if p[f"u{k}"] <= 0.05
    )
    assert 0 < size <= 0.05
