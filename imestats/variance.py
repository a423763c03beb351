"""How much of the variation in a binary outcome is due to the examiner.

The examiner variance sigma2_u is on the logit scale of a random-intercept
logistic model; it is reported as a median odds ratio and a latent-scale
intra-class correlation.
"""

from __future__ import annotations

import warnings

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sparse
from scipy import stats
from statsmodels.genmod.bayes_mixed_glm import BinomialBayesMixedGLM

from imestats._checks import check_at_most, count_array, float_array, same_shape
from imestats.funnel import dersimonian_laird_tau2

# sigma_u below this (MOR < 1.01) is what fit_map's collapse looks like
# (log sigma driven to about -12); report it instead of trusting it.
_BOUNDARY_SIGMA = 0.01


@dataclass(frozen=True)
class ExaminerVariance:
    """Examiner variance on the logit scale.

    ``sigma2`` is the between-examiner variance of the log-odds, ``method``
    'vb' (variational Bayes random-intercept model) or 'dl' (DerSimonian-Laird
    on one-step log odds ratios), ``n_units`` the number of examiners and
    ``at_boundary`` True when sigma < 0.01 (no detectable examiner
    variation, or a collapsed fit).
    """

    sigma2: float
    method: Literal["vb", "dl"]
    n_units: int
    at_boundary: bool

    @property
    def sigma(self) -> float:
        return float(np.sqrt(self.sigma2))


def median_odds_ratio(sigma2_u):
    """Median odds ratio MOR = exp(sqrt(2 sigma2_u) Phi^-1(0.75)).

    Parameters
    ----------
    sigma2_u : float or array_like
        Between-examiner variance on the logit scale.

    Returns
    -------
    float or numpy.ndarray
        The median of the odds ratio between the higher- and lower-risk of
        two randomly chosen examiners for the same claimant (1 = no
        examiner effect).

    Raises
    ------
    ValueError
        If ``sigma2_u`` has missing, infinite or negative values.

    References
    ----------
    Larsen K, Merlo J. Appropriate assessment of neighborhood effects on
    individual health: integrating random and fixed effects in multilevel
    logistic regression. Am J Epidemiol 2005;161:81-88.
    Larsen K, Petersen JH, Budtz-Jorgensen E, Endahl L. Interpreting
    parameters in the logistic regression model with random effects.
    Biometrics 2000;56:909-914.
    """
    s2 = count_array(sigma2_u, "sigma2_u", whole=False)
    result = np.exp(np.sqrt(2.0 * s2) * stats.norm.ppf(0.75))
    return float(result) if result.ndim == 0 else result


def latent_icc(sigma2_u):
    """Latent-variable intra-class correlation sigma2_u / (sigma2_u + pi^2/3).

    Parameters
    ----------
    sigma2_u : float or array_like
        Between-examiner variance on the logit scale.

    Returns
    -------
    float or numpy.ndarray
        Share of the latent (logistic) outcome variance due to the examiner.

    Raises
    ------
    ValueError
        If ``sigma2_u`` has missing, infinite or negative values.

    Notes
    -----
    pi^2/3 is the variance of the standard logistic distribution, the
    residual variance of the latent-threshold reading of a logistic model.

    References
    ----------
    Snijders TAB, Bosker RJ. Multilevel Analysis, 2nd ed. Sage 2012,
    section 17.3.
    Goldstein H, Browne W, Rasbash J. Partitioning variation in multilevel
    models. Understanding Statistics 2002;1:223-231.
    """
    s2 = count_array(sigma2_u, "sigma2_u", whole=False)
    result = s2 / (s2 + np.pi**2 / 3.0)
    return float(result) if result.ndim == 0 else result


def examiner_variance_dl(observed, expected, variance) -> ExaminerVariance:
    """Examiner variance on the logit scale by DerSimonian-Laird, from O, E and V.

    Parameters
    ----------
    observed, expected, variance : array_like
        Per examiner: observed events, expected events and V = sum p (1 - p)
        from the case-mix model (:func:`imestats.casemix.expected_by_unit`).

    Returns
    -------
    ExaminerVariance
        method 'dl'.

    Raises
    ------
    ValueError
        If ``observed``, ``expected`` or ``variance`` has missing, infinite or negative
        values, if they differ in shape, or if fewer than 2 units have V > 0.

    Notes
    -----
    Each examiner's log odds ratio against the case-mix model is estimated
    by the one-step (Peto) estimator u_j = (O_j - E_j)/V_j with variance
    1/V_j, the score step of the random-intercept model from u = 0; DL then
    gives the between-examiner variance of u. This scales to any number of
    examiners (it needs only O, E, V) where :func:`examiner_variance_vb`
    does not. The Peto estimator is biased towards 0 for large effects
    (|u| > 1), so sigma2_u is slightly underestimated when examiner effects
    are large. Units with V = 0 are ignored.

    References
    ----------
    Yusuf S, Peto R, Lewis J, Collins R, Sleight P. Beta blockade during and
    after myocardial infarction: an overview of the randomized trials. Prog
    Cardiovasc Dis 1985;27:335-371.
    DerSimonian R, Laird N. Meta-analysis in clinical trials. Control Clin
    Trials 1986;7:177-188.
    """
    o_arr = count_array(observed, "observed", whole=False)
    e_arr = count_array(expected, "expected", whole=False)
    v_arr = count_array(variance, "variance", whole=False)
    same_shape(observed=o_arr, expected=e_arr, variance=v_arr)
    usable = v_arr > 0
    if usable.sum() < 2:
        raise ValueError(
            f"variance is > 0 in {int(usable.sum())} units: the between-examiner variance "
            "needs at least 2"
        )
    log_odds_ratio = (o_arr[usable] - e_arr[usable]) / v_arr[usable]
    weights = v_arr[usable]
    pooled = np.sum(weights * log_odds_ratio) / weights.sum()
    # Untrimmed: this estimates a variance component, not an outlier allowance.
    sigma2 = dersimonian_laird_tau2(
        (log_odds_ratio - pooled) * np.sqrt(weights), 1.0 / weights, trim=0.0
    )
    return ExaminerVariance(
        sigma2=sigma2,
        method="dl",
        n_units=int(usable.sum()),
        at_boundary=bool(np.sqrt(sigma2) < _BOUNDARY_SIGMA),
    )


def examiner_variance_vb(
    units, n, y, case_mix_logit=None, max_exams: int = 50_000
) -> ExaminerVariance:
    """Examiner variance from a random-intercept logistic model fitted by variational Bayes.

    Parameters
    ----------
    units : array_like
        Examiner label per row of grouped data (one row per examiner, or per
        examiner x covariate pattern).
    n, y : array_like
        Trials and events per row.
    case_mix_logit : array_like, optional
        Case-mix linear predictor logit(p) per row; entered as a fixed-effect
        covariate (the model has no offset), so the examiner variance is net
        of case mix.
    max_exams : int, default 50_000
        Refuse larger data: the model needs one row per exam, and fit_vb took
        16 s for 500 examiners with 52k exams and did not finish in 14 minutes
        for 2,000 examiners with 210k exams (2-core machine). Use
        :func:`examiner_variance_dl` beyond this.

    Returns
    -------
    ExaminerVariance
        method 'vb'; ``sigma2`` = exp(2 * posterior mean of log sigma).

    Raises
    ------
    ValueError
        If ``n`` or ``y`` has missing, negative or fractional values or y > n; if
        ``units``, ``n``, ``y`` (and ``case_mix_logit``) differ in length; if ``units``
        has missing labels; if ``case_mix_logit`` has missing or infinite values; if
        there are no exams; or if the exams exceed ``max_exams``.

    Notes
    -----
    statsmodels ``BinomialBayesMixedGLM`` accepts only 0/1 outcomes, so
    grouped counts are expanded to one row per exam. ``fit_vb`` (not
    ``fit_map``, which can collapse sigma to 0) with priors vcp_p = 1 and
    fe_p = 2. Check ``at_boundary`` and compare with
    :func:`examiner_variance_dl`.

    References
    ----------
    Blei DM, Kucukelbir A, McAuliffe JD. Variational inference: a review for
    statisticians. J Am Stat Assoc 2017;112:859-877.
    Spiegelhalter DJ, Thomas A, Best NG, Gilks WR. BUGS 0.5 Examples Volume 1
    (Surgical: random-effects model). MRC Biostatistics Unit, Cambridge 1996.
    """
    n_checked = count_array(n, "n", ndim=1)
    y_checked = count_array(y, "y", ndim=1)
    unit_labels = np.asarray(units)
    same_shape(units=unit_labels, n=n_checked, y=y_checked)
    check_at_most(y_checked, n_checked, "y", "n")
    if pd.isna(unit_labels).any():
        raise ValueError("units has missing labels; give every row its examiner")
    if case_mix_logit is not None:
        same_shape(
            units=unit_labels,
            case_mix_logit=float_array(case_mix_logit, "case_mix_logit", ndim=1),
        )
    if n_checked.sum() == 0:
        raise ValueError("n has no exams: nothing to fit")
    n_arr = n_checked.astype(np.int64)
    y_arr = y_checked.astype(np.int64)
    if n_arr.sum() > max_exams:
        raise ValueError(
            f"{n_arr.sum()} exams exceed max_exams={max_exams}; fit_vb needs one row per exam "
            "and is too slow at this size: use examiner_variance_dl"
        )
    labels, unit_index = np.unique(np.asarray(units), return_inverse=True)
    rows = np.repeat(np.arange(n_arr.size), n_arr)
    # Within a row the first y exams are events: order is irrelevant to the likelihood.
    position_in_row = np.arange(rows.size) - np.repeat(np.cumsum(n_arr) - n_arr, n_arr)
    outcome = (position_in_row < y_arr[rows]).astype(float)
    columns = [np.ones(rows.size)]
    if case_mix_logit is not None:
        columns.append(np.asarray(case_mix_logit, dtype=float)[rows])
    examiner_design = sparse.csr_matrix(
        (np.ones(rows.size), (np.arange(rows.size), unit_index[rows])),
        shape=(rows.size, labels.size),
    )
    model = BinomialBayesMixedGLM(
        outcome,
        np.column_stack(columns),
        examiner_design,
        np.zeros(labels.size, dtype=int),
        vcp_p=1,
        fe_p=2,
    )
    # BFGS's line search may try steps whose exp() overflows before backing off; the
    # accepted optimum is unaffected, so these trial overflows are not reported.
    with np.errstate(over="ignore"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "overflow", RuntimeWarning)
        result = model.fit_vb()
    sigma = float(np.exp(result.vcp_mean[0]))
    return ExaminerVariance(
        sigma2=sigma**2,
        method="vb",
        n_units=int(labels.size),
        at_boundary=sigma < _BOUNDARY_SIGMA,
    )
