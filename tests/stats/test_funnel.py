"""Funnel limits, z-scores and over-dispersion against docs/methods.md checks O1-O3."""

import numpy as np
import pytest
from statsmodels.stats.meta_analysis import combine_effects

from imestats.funnel import (
    FunnelLimits,
    clip_limits,
    dersimonian_laird_tau2,
    dispersion_test,
    exact_binomial_limits,
    exact_poisson_ratio_limits,
    oe_zscores,
    overdispersion_phi,
    proportion_zscores,
    score_units,
    winsorise,
)

# BUGS Examples Vol. 1 "Surgical": infant cardiac surgery deaths in 12 hospitals A-L.
SURGICAL_N = np.array([47, 148, 119, 810, 211, 196, 148, 215, 207, 97, 256, 360])
SURGICAL_R = np.array([0, 18, 8, 46, 8, 13, 9, 31, 14, 8, 29, 24])
THETA0 = 208 / 2814
# docs/methods.md, O1/O2 (computed by two implementations), z to 6 decimals.
SURGICAL_Z = [
    -1.936838, 2.218219, -0.278905, -1.862962, -1.998786, -0.406118,
    -0.609374, 3.938165, -0.345523, 0.322157, 2.407336, -0.525730,
]  # fmt: skip
PHI = 3.212970
PHI_WINSORISED = 2.363287
TAU2 = 7.776300e-4
TAU2_WINSORISED = 4.898897e-4
FIVE_DECIMALS = 5e-6

# docs/methods.md, O1: limits at (0.001, 0.025, 0.975, 0.999), i.e. 99.8% and 95%.
EXACT = {
    47: (-0.02049, -0.00163, 0.14643, 0.20574),
    148: (0.01362, 0.03090, 0.11522, 0.14493),
    810: (0.04642, 0.05578, 0.09183, 0.10319),
}
NORMAL = {
    47: (-0.04402, -0.00088, 0.14871, 0.19185),
    148: (0.00746, 0.03176, 0.11607, 0.14038),
    810: (0.04551, 0.05590, 0.09193, 0.10232),
}
PHI_INFLATED = {
    47: (-0.13748, -0.06016, 0.20799, 0.28531),
    148: (-0.04521, -0.00164, 0.14947, 0.19304),
    810: (0.02300, 0.04162, 0.10621, 0.12484),
}
TAU2_ADDITIVE = {
    47: (-0.07215, -0.01872, 0.16656, 0.21998),
    148: (-0.03491, 0.00489, 0.14294, 0.18274),
    810: (-0.01682, 0.01637, 0.13147, 0.16465),
}


def _four_limits(limits_at):
    alarm, alert = limits_at(0.998), limits_at(0.95)
    return (alarm.lower, alert.lower, alert.upper, alarm.upper)


@pytest.mark.parametrize("n", [47, 148, 810], ids=lambda n: f"n_{n}")
def test_exact_binomial_limits_against_o1(n):
    computed = _four_limits(lambda level: exact_binomial_limits(n, THETA0, level))
    assert np.array(computed, dtype=float) == pytest.approx(EXACT[n], abs=FIVE_DECIMALS)


def test_exact_binomial_limits_are_unclipped_below_zero_for_n_47():
    # docs/methods.md, O1: the interpolated 0.001 limit for n = 47 is negative.
    limits = exact_binomial_limits(47, THETA0, 0.998)
    assert float(limits.lower) < 0
    assert float(clip_limits(limits).lower) == 0.0


def test_exact_binomial_limits_are_smooth_not_steps_in_n():
    # Without interpolation binom.ppf(p)/n is constant r/n between jumps of r;
    # interpolated limits change with every n.
    upper = exact_binomial_limits(np.arange(100, 130), THETA0, 0.95).upper
    assert np.all(np.diff(upper) != 0)


def test_exact_poisson_ratio_limits_against_chi_square_table_e_10():
    # lower = chi2_{0.025, 20}/20, upper = chi2_{0.975, 22}/20; table values 9.591 and 36.781
    # (NIST/SEMATECH e-Handbook 1.3.6.7.4).
    limits = exact_poisson_ratio_limits(10.0, 0.95)
    assert float(limits.lower) == pytest.approx(9.591 / 20, abs=5e-5)
    assert float(limits.upper) == pytest.approx(36.781 / 20, abs=5e-5)


def test_clip_limits_for_ratios_keeps_upper_unbounded():
    limits = FunnelLimits(level=0.95, lower=np.array([-0.2]), upper=np.array([3.5]))
    clipped = clip_limits(limits, low=0.0, high=np.inf)
    assert clipped.lower[0] == 0.0 and clipped.upper[0] == 3.5


def test_proportion_zscores_against_surgical():
    z = proportion_zscores(SURGICAL_R, SURGICAL_N, THETA0)
    assert z == pytest.approx(SURGICAL_Z, abs=5e-7)


def test_oe_zscores_equal_proportion_zscores_for_constant_risk():
    e = SURGICAL_N * THETA0
    z = oe_zscores(SURGICAL_R, e, e * (1 - THETA0))
    assert z == pytest.approx(SURGICAL_Z, abs=5e-7)


def test_oe_zscores_are_nan_for_units_without_variance():
    z = oe_zscores([0, 2], [0.0, 1.0], [0.0, 0.5])
    assert np.isnan(z[0]) and np.isfinite(z[1])


def test_winsorise_cutoffs_against_o2():
    # docs/methods.md, O2: numpy linear quantiles at 0.1/0.9 are -1.929451 and 2.388424.
    z_w = winsorise(proportion_zscores(SURGICAL_R, SURGICAL_N, THETA0), 0.1)
    assert z_w.min() == pytest.approx(-1.929451, abs=5e-7)
    assert z_w.max() == pytest.approx(2.388424, abs=5e-7)


@pytest.mark.parametrize(
    ("trim", "expected"),
    [(0.0, PHI), (0.1, PHI_WINSORISED)],
    ids=["phi_against_o2", "winsorised_phi_against_o2"],
)
def test_overdispersion_phi_against_o2(trim, expected):
    z = proportion_zscores(SURGICAL_R, SURGICAL_N, THETA0)
    assert overdispersion_phi(z, trim) == pytest.approx(expected, abs=5e-7)


def test_dispersion_test_against_surgical_o2():
    # Sum z^2 = 38.55564 on 11 df, p = 6.30e-5 (docs/methods.md, O2).
    result = dispersion_test(proportion_zscores(SURGICAL_R, SURGICAL_N, THETA0))
    assert result.statistic == pytest.approx(38.55564, abs=5e-6)
    assert result.df == 11
    assert result.p_value == pytest.approx(6.30e-5, abs=5e-8)


# R qcc docs, qcc.overdispersion.test examples (Wetherill & Brown 1991, pp. 212-218).
QCC_BINOMIAL = [12, 11, 18, 11, 10, 16, 9, 11, 14, 15, 11, 9, 10, 13, 12, 8, 12, 13, 10, 12,
                13, 16, 12, 18, 16, 10, 16, 10, 12, 14]  # fmt: skip
QCC_POISSON = [11, 8, 13, 11, 13, 17, 25, 23, 11, 16, 9, 15, 10, 16, 12, 8, 9, 15, 4, 12,
               12, 12, 15, 17, 14, 17, 12, 12, 7, 16]  # fmt: skip


def test_dispersion_test_binomial_against_qcc_docs():
    # qcc printout: Obs.Var/Theor.Var 0.7644566, Statistic 22.16924, p-value 0.81311.
    x = np.array(QCC_BINOMIAL)
    z = proportion_zscores(x, 50, x.sum() / (50 * x.size))
    result = dispersion_test(z)
    assert result.ratio == pytest.approx(0.7644566, abs=5e-8)
    assert result.statistic == pytest.approx(22.16924, abs=5e-6)
    assert result.p_value == pytest.approx(0.81311, abs=5e-6)


def test_dispersion_test_poisson_against_qcc_docs():
    # qcc printout: Obs.Var/Theor.Var 1.472203, Statistic 42.69388, p-value 0.048579.
    x = np.array(QCC_POISSON, dtype=float)
    mean = np.full_like(x, x.mean())
    result = dispersion_test(oe_zscores(x, mean, mean))
    assert result.ratio == pytest.approx(1.472203, abs=5e-7)
    assert result.statistic == pytest.approx(42.69388, abs=5e-6)
    assert result.p_value == pytest.approx(0.048579, abs=5e-7)


@pytest.mark.parametrize(
    ("trim", "expected"),
    [(0.0, TAU2), (0.1, TAU2_WINSORISED)],
    ids=["tau2_against_o2", "winsorised_tau2_against_o2"],
)
def test_dersimonian_laird_tau2_against_o2(trim, expected):
    z = proportion_zscores(SURGICAL_R, SURGICAL_N, THETA0)
    s2 = THETA0 * (1 - THETA0) / SURGICAL_N
    assert dersimonian_laird_tau2(z, s2, trim) == pytest.approx(expected, abs=5e-10)


def test_dersimonian_laird_tau2_equals_statsmodels_combine_effects():
    s2 = THETA0 * (1 - THETA0) / SURGICAL_N
    reference = combine_effects(SURGICAL_R / SURGICAL_N, s2, method_re="dl").tau2
    z = proportion_zscores(SURGICAL_R, SURGICAL_N, THETA0)
    assert dersimonian_laird_tau2(z, s2, trim=0.0) == pytest.approx(reference, abs=1e-12)


def test_dersimonian_laird_tau2_is_zero_without_overdispersion():
    # z all 0.5: I phi = 3 < I - 1 = 11.
    assert dersimonian_laird_tau2(np.full(12, 0.5), np.full(12, 0.01), trim=0.0) == 0.0


def test_dersimonian_laird_tau2_needs_two_units():
    with pytest.raises(ValueError, match="at least 2 units"):
        dersimonian_laird_tau2([1.5, np.nan], [0.01, 0.02])


def test_score_units_phi_adjustment_divides_by_root_phi():
    e = SURGICAL_N * THETA0
    scores = score_units(SURGICAL_R, e, e * (1 - THETA0), adjustment="phi", trim=0.0)
    expected = np.array(SURGICAL_Z) / np.sqrt(PHI)
    assert scores.units["z_adjusted"].to_numpy() == pytest.approx(expected, abs=5e-7)


def test_score_units_ignores_empty_units_in_estimates():
    e = np.append(SURGICAL_N * THETA0, 0.0)
    scores = score_units(np.append(SURGICAL_R, 0), e, e * (1 - THETA0))
    assert scores.phi == pytest.approx(PHI_WINSORISED, abs=5e-7)
    assert np.isnan(scores.units["z_adjusted"].iloc[-1])
    assert np.isnan(scores.units["p_two_sided"].iloc[-1])


def test_score_units_rejects_unknown_adjustment():
    e = SURGICAL_N * THETA0
    with pytest.raises(ValueError, match="adjustment"):
        score_units(SURGICAL_R, e, e, adjustment="random")
