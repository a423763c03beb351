"""An exposure's effect within units against a case-mix offset: against scipy and statsmodels."""

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats

from imestats.offset_logistic import exposure_effect_by_unit

# One unit's 2x2 table: exposed events a of a + b, unexposed events c of c + d.
A, B, C, D = 30, 20, 18, 32


def _one_table(a, b, c, d, offset=0.3, **options):
    return exposure_effect_by_unit(
        ["u", "u"], [True, False], [offset, offset], [a + b, c + d], [a, c], **options
    )


def test_constant_offset_with_correction_is_yates_chi_square():
    # scipy.stats.chi2_contingency(correction=True) is Yates's chi-square of the 2x2 table;
    # with every exam at the same risk the score test with the continuity correction is the
    # signed square root of it (Agresti 2013, 3.1.3), so the one-sided p is half its p.
    result = _one_table(A, B, C, D, continuity=0.5)
    chi2, p, _, _ = stats.chi2_contingency([[A, B], [C, D]], correction=True)
    assert result.p_greater[0] == pytest.approx(p / 2, rel=1e-9)
    assert stats.norm.isf(result.p_greater[0]) ** 2 == pytest.approx(chi2, rel=1e-9)
    # The same statistic read from below: the lower tail of a table with fewer exposed events.
    low = _one_table(C, D, A, B, continuity=0.5)
    assert low.p_less[0] == pytest.approx(p / 2, rel=1e-9)


def test_constant_offset_without_correction_is_pearson_chi_square():
    # scipy.stats.chi2_contingency(correction=False): Pearson's chi-square.
    result = _one_table(A, B, C, D)
    chi2, p, _, _ = stats.chi2_contingency([[A, B], [C, D]], correction=False)
    assert result.p_greater[0] == pytest.approx(p / 2, rel=1e-9)


def test_corrected_test_is_close_to_fishers_exact_test():
    # scipy.stats.fisher_exact: Yates's correction is the normal counterpart of Fisher's
    # one-sided test; on this table (100 exams) the two p-values agree within 5%.
    result = _one_table(A, B, C, D, continuity=0.5)
    _, fisher = stats.fisher_exact([[A, B], [C, D]], alternative="greater")
    assert result.p_greater[0] == pytest.approx(fisher, rel=0.05)
    # On a constant offset the model's odds ratio is the table's, ad / bc.
    assert result.odds_ratio[0] == pytest.approx(A * D / (B * C), rel=1e-9)
    assert result.observed[0] == A
    # Each exposure's trials and events, unexposed first: the table's rows.
    assert result.trials[:, 0].tolist() == [C + D, A + B]
    assert result.events[:, 0].tolist() == [C, A]
    # Expected exposed events with no effect: the exposed trials at the pooled rate.
    assert result.expected[0] == pytest.approx((A + B) * (A + C) / (A + B + C + D), rel=1e-9)


def _exams(seed, m=400):
    rng = np.random.default_rng(seed)
    offset = rng.normal(-0.3, 0.8, m)
    exposed = rng.random(m) < 0.45
    events = rng.random(m) < 1 / (1 + np.exp(-(offset + 0.2 + 0.6 * exposed)))
    return offset, exposed, events.astype(float)


def test_varying_offsets_match_statsmodels_glm_and_its_score_test():
    # statsmodels' GLM (binomial, offset) fitted per unit: the odds ratio and its Wald
    # interval from the fit with the exposure, the score statistic from the fit without it
    # (GLMResults.score_test). Two units at once, one row per exam.
    parts = [_exams(seed) for seed in (1, 2)]
    unit = np.repeat(["a", "b"], [len(p[0]) for p in parts])
    offset, exposed, events = (np.concatenate(x) for x in zip(*parts, strict=True))
    result = exposure_effect_by_unit(unit, exposed, offset, np.ones(len(unit)), events)
    for i, (o, s, y) in enumerate(parts):
        fit = sm.GLM(y, sm.add_constant(s.astype(float)), family=sm.families.Binomial(),
                     offset=o).fit()
        null = sm.GLM(y, np.ones((len(y), 1)), family=sm.families.Binomial(), offset=o).fit()
        score = null.score_test(exog_extra=s.astype(float)[:, None])
        low, high = np.exp(fit.conf_int()[1])
        assert result.odds_ratio[i] == pytest.approx(np.exp(fit.params[1]), rel=1e-8)
        assert (result.ci_low[i], result.ci_high[i]) == pytest.approx((low, high), rel=1e-7)
        assert stats.norm.isf(result.p_greater[i]) ** 2 == pytest.approx(
            float(score.statistic[0]), rel=1e-7
        )
        # Expected exposed events: the null fit's probabilities summed over the exposed.
        assert result.expected[i] == pytest.approx(null.fittedvalues[s].sum(), rel=1e-8)


def _size(n1, n0, p, level, continuity):
    """The exact probability that the test rejects at `level` when both sides share the
    rate p: every table (a1 of n1, a0 of n0) enumerated, weighted by scipy's binomial pmf."""
    a1, a0 = (grid.ravel() for grid in np.meshgrid(np.arange(n1 + 1), np.arange(n0 + 1),
                                                     indexing="ij"))
    tables = len(a1)
    result = exposure_effect_by_unit(
        np.repeat(np.arange(tables), 2), np.tile([True, False], tables), np.zeros(2 * tables),
        np.tile([n1, n0], tables), np.stack([a1, a0], axis=1).ravel(), continuity=continuity,
    )
    rejects = np.nan_to_num(result.p_greater, nan=1.0) <= level
    return float((stats.binom.pmf(a1, n1, p) * stats.binom.pmf(a0, n0, p))[rejects].sum())


@pytest.mark.parametrize(("n1", "n0", "p"), [(80, 70, 0.5), (150, 150, 0.3)])
def test_plain_score_test_rejects_about_as_often_as_its_level(n1, n0, p):
    # Exact size by enumeration (the sides of an examiner with 150 and 300 exams): the plain
    # score test stays within 15% of its level down to the levels Benjamini-Hochberg reaches
    # (0.001), while Yates's correction, like Fisher's test, rejects at most 77% as often
    # as its level, which is the power the product would give away.
    for level in (0.05, 0.01, 0.001):
        assert _size(n1, n0, p, level, 0.0) == pytest.approx(level, rel=0.15)
        assert _size(n1, n0, p, level, 0.5) < 0.77 * level


def test_grouped_rows_give_the_same_answer_as_single_exams():
    # Exams with a common offset summed into one binomial row: the likelihood is the same,
    # so the answer is too (statsmodels needs no check here: both sides are this code's input).
    offset, exposed, events = _exams(3, m=120)
    offset = np.round(offset, 1)
    single = exposure_effect_by_unit(np.zeros(120), exposed, offset, np.ones(120), events)
    keys = np.stack([exposed.astype(float), offset], axis=1)
    groups, at = np.unique(keys, axis=0, return_inverse=True)
    grouped = exposure_effect_by_unit(
        np.zeros(len(groups)), groups[:, 0].astype(bool), groups[:, 1],
        np.bincount(at), np.bincount(at, weights=events),
    )
    for field in ("odds_ratio", "ci_low", "ci_high", "p_greater", "p_less", "expected"):
        assert getattr(grouped, field)[0] == pytest.approx(getattr(single, field)[0], rel=1e-8)


def test_case_mix_moves_the_comparison():
    # Hand-built: the exposed exams are the risky ones (offset logit(0.6) against logit(0.3))
    # and their rates are exactly those risks, so with the offset there is no exposure effect
    # (odds ratio 1, score 0), while the raw table's odds ratio is (0.6/0.4) / (0.3/0.7) = 3.5.
    logit = np.log([0.6 / 0.4, 0.3 / 0.7])
    result = exposure_effect_by_unit(["u", "u"], [True, False], logit, [100, 100], [60, 30])
    assert result.odds_ratio[0] == pytest.approx(1.0, abs=1e-9)
    assert result.expected[0] == pytest.approx(60.0, abs=1e-9)
    raw = _one_table(60, 40, 30, 70)
    assert raw.odds_ratio[0] == pytest.approx(3.5, rel=1e-9)


def test_separated_and_uninformative_units():
    # No exposed event, or every exposed exam an event: no maximum-likelihood estimate, so
    # the table's odds ratio with a half added to each cell and Woolf's interval, worked by
    # hand here: (0.5 x 12.5) / (20.5 x 8.5) and (20.5 x 12.5) / (0.5 x 8.5), with
    # sqrt(1/0.5 + 1/20.5 + 1/8.5 + 1/12.5) on the log scale. A unit with one exposure only,
    # or one outcome only, has nothing to compare.
    result = exposure_effect_by_unit(
        ["none", "none", "all", "all", "one_side", "one_outcome", "one_outcome"],
        [True, False, True, False, True, True, False],
        np.zeros(7),
        [20, 20, 20, 20, 30, 10, 10],
        [0, 8, 20, 8, 12, 0, 0],
    )
    by_unit = dict(zip(result.units, range(len(result.units)), strict=True))
    half = 1.959963984540054 * np.sqrt(1 / 0.5 + 1 / 20.5 + 1 / 8.5 + 1 / 12.5)
    for unit, ratio in (("none", 0.5 * 12.5 / (20.5 * 8.5)), ("all", 20.5 * 12.5 / (0.5 * 8.5))):
        at = by_unit[unit]
        assert result.odds_ratio[at] == pytest.approx(ratio, rel=1e-12)
        assert result.ci_low[at] == pytest.approx(ratio * np.exp(-half), rel=1e-12)
        assert result.ci_high[at] == pytest.approx(ratio * np.exp(half), rel=1e-12)
    # The score test still exists for them: 0 of 20 against 8 of 20 is strong evidence below.
    assert result.p_less[by_unit["none"]] < 0.01 < result.p_greater[by_unit["none"]]
    for unit in ("one_side", "one_outcome"):
        assert np.isnan(result.p_greater[by_unit[unit]])
        assert np.isnan(result.odds_ratio[by_unit[unit]])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"events": [5, 12]}, "events must not exceed trials"),
        ({"trials": [10, -1]}, "trials must hold non-negative whole numbers"),
        ({"offset": [0.0, np.nan]}, "offset"),
        ({"level": 1.5}, "level must be strictly between 0 and 1"),
        ({"continuity": -0.5}, "continuity must be >= 0"),
        ({"unit": ["u"]}, "must have the same length"),
    ],
)
def test_bad_input_is_refused_with_the_argument_named(change, message):
    arguments = {
        "unit": ["u", "u"], "exposed": [True, False], "offset": [0.0, 0.0],
        "trials": [10, 10], "events": [5, 4],
    } | change
    with pytest.raises(ValueError, match=message):
        exposure_effect_by_unit(**arguments)
