"""Benjamini-Hochberg q-values and flagging against docs/methods.md check O4."""

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from imestats.multiplicity import bh_qvalues, flag_units

# Benjamini & Hochberg (1995) JRSS B 57:289-300, worked example (15 p-values).
BH_1995_P = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459,
             0.3240, 0.4262, 0.5719, 0.6528, 0.7590, 1.0000]  # fmt: skip
# docs/methods.md, O4: BH-adjusted p, scipy = statsmodels, 6 decimals.
BH_1995_Q = [0.0015, 0.003, 0.0095, 0.035625, 0.0603, 0.063857, 0.063857, 0.0645, 0.0765,
             0.486, 0.581182, 0.714875, 0.753231, 0.813214, 1.0]  # fmt: skip


def test_bh_qvalues_against_bh_1995_example():
    assert bh_qvalues(BH_1995_P) == pytest.approx(BH_1995_Q, abs=5e-7)


def test_bh_rejects_4_of_15_in_bh_1995_example():
    # Published: BH rejects 4 at q = 0.05 (Bonferroni rejects 3).
    flags = flag_units(bh_qvalues(BH_1995_P), np.full(15, 100), q=0.05)
    assert flags.sum() == 4
    assert flags[:4].all()


def test_bh_qvalues_nan_is_untested_and_not_counted_in_m():
    p = np.array([np.nan, *BH_1995_P[:7], np.nan, *BH_1995_P[7:]])
    q = bh_qvalues(p)
    assert np.isnan(q[0]) and np.isnan(q[8])
    assert q[~np.isnan(p)] == pytest.approx(BH_1995_Q, abs=5e-7)


def test_bh_qvalues_equal_statsmodels_fdr_bh_in_input_order():
    p = np.random.default_rng(3).uniform(size=200) ** 2
    _, reference, _, _ = multipletests(p, method="fdr_bh")
    assert bh_qvalues(p) == pytest.approx(reference, abs=1e-15)


def test_bh_qvalues_all_nan_stays_nan():
    assert np.isnan(bh_qvalues([np.nan, np.nan])).all()


def test_bh_qvalues_reject_values_outside_unit_interval():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        bh_qvalues([0.2, 1.5])


def test_flag_units_never_flags_below_min_volume_or_nan():
    q = np.array([0.001, 0.001, np.nan, 0.2, 0.05])
    volumes = np.array([30, 29, 500, 500, 31])
    assert flag_units(q, volumes).tolist() == [True, False, False, False, True]


def test_flag_units_rejects_misaligned_inputs():
    with pytest.raises(ValueError, match="shape"):
        flag_units([0.01, 0.02], [40])
