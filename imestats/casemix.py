"""Case-mix (risk) adjustment on covariate-pattern counts.

Exams are collapsed to one row per covariate pattern (n trials, y events)
before fitting, so a model over millions of exams is fitted on the distinct
patterns only. The model excludes the examiner: it describes what an average
examiner would conclude for that case mix, and each examiner's expected count
is the sum of its cases' predicted probabilities (indirect standardisation).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import linalg, sparse, special

from imestats._checks import (
    check_scalar,
)

MISSING_LEVEL = "missing"
POOLED_LEVEL = "(rare levels)"


@dataclass(frozen=True)
class CovariateCoding:
    """How one categorical covariate enters the model.

    ``levels`` are the model levels, reference first (the level with most
    trials). ``raw_levels`` and ``model_codes`` map every level seen at fit
    time to the position of its model level. ``pooled`` lists raw levels
    that were merged because they were rare or had all or no events.
    """

    name: str
    levels: tuple[str, ...]
    raw_levels: tuple[str, ...]
    model_codes: tuple[int, ...]
    pooled: tuple[str, ...]


@dataclass(frozen=True)
class CaseMixModel:
    """A fitted grouped-binomial logistic case-mix model.

    ``params`` and ``bse`` are indexed by design column ("Intercept",
    "covariate[level]"). ``dropped`` lists covariates with a single level;
    ``aliased`` lists design columns that were linear combinations of others
    (one level always occurring with another covariate's level): their
    coefficient is fixed at 0 and their ``bse`` is NaN, as R reports NA.
    """

    codings: tuple[CovariateCoding, ...]
    dropped: tuple[str, ...]
    aliased: tuple[str, ...]
    params: pd.Series
    bse: pd.Series
    n_col: str
    y_col: str
    n_patterns: int
    n_trials: float
    deviance: float
    penalised: bool

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        """Predicted event probability for each row (covariate pattern) of ``df``.

        Raises ValueError when a covariate value was not seen at fit time:
        expected counts for unseen case types would be a guess.
        """
        return special.expit(_design_matrix(df, self.codings) @ self.params.to_numpy())

    def level_terms(self) -> pd.DataFrame:
        """The model as one additive log-odds term per covariate level, for scoring elsewhere.

        One row per covariate and raw level seen at fit time (``covariate``, ``level``,
        ``term``), the intercept first as covariate and level "(intercept)". A pattern's
        log odds is the intercept plus the term of each of its levels; reference levels,
        aliased columns and dropped covariates contribute 0, pooled levels the pooled
        level's coefficient. This lets a database score millions of exams by joins
        instead of building the design matrix in memory.
        """
        rows = [("(intercept)", "(intercept)", float(self.params["Intercept"]))]
        for coding in self.codings:
            for raw, code in zip(coding.raw_levels, coding.model_codes, strict=True):
                name = f"{coding.name}[{coding.levels[code]}]"
                rows.append((coding.name, raw, float(self.params[name]) if code else 0.0))
        return pd.DataFrame(rows, columns=["covariate", "level", "term"])


def _labels(values: pd.Series) -> pd.Series:
    # Every covariate is treated as categorical text; NULL is a level of its
    # own because "not recorded" is itself informative about the case.
    return values.astype("string").fillna(MISSING_LEVEL)


def _is_sparse(trials, events, min_level_trials: float) -> np.ndarray:
    # A level with no events or only events makes its coefficient infinite
    # (separation); a level with few trials has a coefficient that is mostly noise.
    trials, events = np.asarray(trials, dtype=float), np.asarray(events, dtype=float)
    return (trials < min_level_trials) | (events <= 0) | (events >= trials)


def _code_covariate(
    labels: pd.Series, n: pd.Series, y: pd.Series, name: str, min_level_trials: float
) -> CovariateCoding:
    totals = (
        pd.DataFrame({"level": labels, "n": n, "y": y})
        .groupby("level", sort=True)[["n", "y"]]
        .sum()
    )
    sparse = _is_sparse(totals["n"], totals["y"], min_level_trials)
    kept = totals[~sparse].sort_values("n", ascending=False, kind="stable")
    pooled = tuple(totals.index[sparse])
    if not kept.empty:
        reference = str(kept.index[0])
    else:
        # Every level is sparse: the covariate carries no estimable effect.
        reference = str(totals["n"].idxmax())
    levels = [reference, *map(str, kept.index[1:])]
    target = {level: level for level in levels}
    pool = totals.loc[list(pooled)].sum()
    if pooled and not kept.empty and not _is_sparse(pool["n"], pool["y"], min_level_trials):
        levels.append(POOLED_LEVEL)
        target.update(dict.fromkeys(pooled, POOLED_LEVEL))
    else:
        # The pool itself would be sparse: fold it into the reference level.
        target.update(dict.fromkeys(pooled, reference))
    position = {level: i for i, level in enumerate(levels)}
    raw_levels = tuple(map(str, totals.index))
    return CovariateCoding(
        name=name,
        levels=tuple(levels),
        raw_levels=raw_levels,
        model_codes=tuple(position[target[raw]] for raw in raw_levels),
        pooled=tuple(map(str, pooled)),
    )


def _design_matrix(df: pd.DataFrame, codings: Sequence[CovariateCoding]) -> sparse.csc_array:
    """The dummy-coded design, sparse: a row has a one for the intercept and at most one per
    covariate (a dozen of some eighty columns), so the products of Newton's method cost the
    ones, not rows times columns (docs/benchmarks.md: the dense products were half a load)."""
    n_columns = 1 + sum(len(c.levels) - 1 for c in codings)
    rows = np.arange(len(df))
    row_index, column_index = [rows], [np.zeros(len(df), dtype=np.int64)]
    offset = 1
    for coding in codings:
        labels = _labels(df[coding.name])
        raw_codes = pd.Index(coding.raw_levels).get_indexer(labels)
        if np.any(raw_codes < 0):
            unseen = sorted(set(labels[raw_codes < 0]))
            raise ValueError(
                f"covariate {coding.name!r} has levels not seen when the case-mix model was "
                f"fitted: {unseen[:10]}; refit the model on data that includes them"
            )
        model_codes = np.asarray(coding.model_codes)[raw_codes]
        non_reference = model_codes > 0
        row_index.append(rows[non_reference])
        column_index.append(offset + model_codes[non_reference] - 1)
        offset += len(coding.levels) - 1
    rows, columns = np.concatenate(row_index), np.concatenate(column_index)
    return sparse.csc_array(
        (np.ones(rows.size), (rows, columns)), shape=(len(df), n_columns)
    )


def _aliased_columns(design: sparse.csc_array) -> np.ndarray:
    # Pivoted QR of the small Gram matrix finds dependent columns without a
    # factorisation of the full 100k-row design.
    gram = (design.T @ design).toarray()
    _, r, pivot = linalg.qr(gram, pivoting=True)
    diagonal = np.abs(np.diag(r))
    rank = int(np.sum(diagonal > diagonal[0] * 1e-10))
    return np.sort(pivot[rank:])


def _column_names(codings: Sequence[CovariateCoding]) -> list[str]:
    return ["Intercept"] + [f"{c.name}[{level}]" for c in codings for level in c.levels[1:]]


def _trials_and_events(df: pd.DataFrame, n_col: str, y_col: str) -> tuple[np.ndarray, np.ndarray]:
    n = df[n_col].to_numpy(dtype=float)
    y = df[y_col].to_numpy(dtype=float)
    bad = (n < 0) | (y < 0) | (y > n) | ~np.isfinite(n) | ~np.isfinite(y)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"need 0 <= {y_col} <= {n_col} in every pattern; row {row} has "
            f"{n_col}={n[row]!r}, {y_col}={y[row]!r}"
        )
    return n, y


# Ridge penalty per pattern row on the slopes when maximum likelihood does not converge.
RIDGE_ALPHA = 1e-4
# A slope beyond this many log-odds units means an odds ratio above 1e13: separation, not
# a case-mix effect. Newton's steps grow without end there, so stop and penalise instead.
SEPARATION_LOG_ODDS = 30.0


def _newton(
    design: sparse.csc_array, n: np.ndarray, y: np.ndarray, start: np.ndarray, ridge: float = 0.0
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Maximise the grouped binomial log-likelihood (minus ridge/2 times the squared slopes).

    Newton's method with step halving; the objective is concave, so from the pooled log-odds
    it needs no warm-up. Each step is one X'WX product of the sparse design: no QR or SVD of
    it, which on a few hundred thousand patterns costs more than the whole fit. Returns the
    coefficients, the Hessian of the negative objective there, and whether it converged to
    finite values.
    """
    penalty = np.full(start.size, ridge)
    penalty[0] = 0.0

    def objective(beta: np.ndarray, eta: np.ndarray) -> float:
        return float(np.sum(y * eta - n * np.logaddexp(0.0, eta)) - 0.5 * penalty @ beta**2)

    def hessian(eta: np.ndarray) -> np.ndarray:
        mu = special.expit(eta)
        # X'WX: the rows weighted, then one sparse product (a few ones per row).
        weighted = sparse.diags_array(n * mu * (1.0 - mu)) @ design
        return (design.T @ weighted).toarray() + np.diag(penalty)

    beta, eta = start.copy(), design @ start
    value = objective(beta, eta)
    for _ in range(100):
        gradient = design.T @ (y - n * special.expit(eta)) - penalty * beta
        try:
            with warnings.catch_warnings():
                # A nearly singular X'WX means fitted probabilities near 0 or 1: separation.
                warnings.simplefilter("error", linalg.LinAlgWarning)
                step = linalg.solve(hessian(eta), gradient, assume_a="pos")
        except (linalg.LinAlgError, linalg.LinAlgWarning, ValueError):
            return beta, hessian(eta), False
        scale = 1.0
        while True:
            candidate = beta + scale * step
            candidate_eta = design @ candidate
            candidate_value = objective(candidate, candidate_eta)
            if candidate_value >= value or scale < 1e-6:
                break
            scale /= 2.0
        beta, eta, value = candidate, candidate_eta, candidate_value
        if np.max(np.abs(beta[1:]), initial=0.0) > SEPARATION_LOG_ODDS:
            return beta, hessian(eta), False
        if np.max(np.abs(scale * step)) < 1e-10:
            return beta, hessian(eta), True
    return beta, hessian(eta), False


def fit_casemix(
    patterns_df: pd.DataFrame,
    covariates: Sequence[str],
    n_col: str = "n",
    y_col: str = "y",
    min_level_trials: float = 50,
) -> CaseMixModel:
    """Fit a main-effects logistic model to covariate-pattern counts.

    Parameters
    ----------
    patterns_df : pandas.DataFrame
        One row per covariate pattern, with the covariate columns and the
        trial and event counts. Rows with zero trials are ignored.
    covariates : sequence of str
        Categorical covariate columns (claim type, jurisdiction, body part,
        ...). Never include the examiner.
    n_col, y_col : str
        Columns with trials (exams) and events (e.g. adverse opinions).
    min_level_trials : float, default 50
        Levels with fewer trials, or with no events or only events, are
        pooled into one level "(rare levels)"; if that pool is itself sparse it
        is merged into the reference level.

    Returns
    -------
    CaseMixModel
        With ``predict(df)`` giving per-pattern probabilities.

    Raises
    ------
    ValueError
        If ``patterns_df`` lacks a named column or has no pattern with trials; if a row
        has missing or negative counts or more events than trials; if ``y_col`` is never
        or always an event; or if ``min_level_trials`` is missing or negative.

    Notes
    -----
    Grouped binomial GLM (logit link) fitted by Newton's method; its
    likelihood is the one-row-per-exam Bernoulli likelihood up to a constant,
    so coefficients are identical to the ungrouped fit (the tests compare
    them and their standard errors with statsmodels' GLM). Covariates are
    dummy-coded with the largest level as reference; NULL becomes the level
    "missing"; covariates left with a single level are dropped; aliased
    columns (collinear levels) are fixed at 0, which leaves predictions
    unchanged.
    Guard against separation and empty cells: pooling sparse levels (rather
    than a ridge penalty) keeps the fit an ordinary maximum-likelihood one
    whose coefficients stay interpretable, and removes the common cause of
    infinite coefficients in a main-effects model: a level with all or none
    of its cases adverse. Separation by a combination of levels can remain;
    maximum likelihood then does not converge (or a slope passes
    SEPARATION_LOG_ODDS), and the model is refitted with a light ridge penalty
    on the slopes (``penalised`` is True, ``bse`` NaN).
    Assumes exams are independent given the covariates; no interactions.

    References
    ----------
    Hosmer DW, Lemeshow S, Sturdivant RX. Applied Logistic Regression, 3rd ed.
    Wiley 2013, ch. 3 (design variables) and 4.5 (sparse cells).
    Spiegelhalter DJ et al. Statistical methods for healthcare regulation:
    rating, screening and surveillance. J R Stat Soc A 2012;175:1-47.
    """
    absent = [c for c in [*covariates, n_col, y_col] if c not in patterns_df.columns]
    if absent:
        raise ValueError(f"patterns_df lacks columns {absent}; it has {list(patterns_df.columns)}")
    check_scalar(min_level_trials, "min_level_trials", low=0)
    n_all, _ = _trials_and_events(patterns_df, n_col, y_col)
    data = patterns_df.loc[n_all > 0]
    if data.empty:
        raise ValueError(f"patterns_df has no pattern with {n_col} > 0: nothing to fit")
    n, y = _trials_and_events(data, n_col, y_col)
    if y.sum() in (0, n.sum()):
        raise ValueError(f"{y_col} is {'never' if y.sum() == 0 else 'always'} an event")
    n_series, y_series = pd.Series(n, index=data.index), pd.Series(y, index=data.index)
    codings, dropped = [], []
    for name in covariates:
        coding = _code_covariate(_labels(data[name]), n_series, y_series, name, min_level_trials)
        (codings if len(coding.levels) > 1 else dropped).append(coding)
    design = _design_matrix(data, codings)
    names = _column_names(codings)
    aliased = _aliased_columns(design)
    estimable = np.setdiff1d(np.arange(design.shape[1]), aliased)
    if aliased.size:
        design = design[:, estimable]
    start = np.zeros(estimable.size)
    start[0] = np.log(y.sum() / (n.sum() - y.sum()))
    fitted, hessian, converged = _newton(design, n, y, start)
    if converged:
        bse_estimable, penalised = np.sqrt(np.diag(linalg.inv(hessian))), False
    else:
        # Quasi-separation by a combination of levels (say, a jurisdiction whose few
        # exams under another Guides edition all have the same outcome) drives two
        # coefficients to opposite infinities. A light ridge penalty on the slopes keeps
        # them finite; predictions for the other patterns barely move.
        fitted, _, _ = _newton(design, n, y, start, ridge=RIDGE_ALPHA * len(n))
        bse_estimable, penalised = np.full(estimable.size, np.nan), True
    params = pd.Series(0.0, index=names)
    params.iloc[estimable] = fitted
    bse = pd.Series(np.nan, index=names)
    bse.iloc[estimable] = bse_estimable
    eta = design @ fitted
    mu = special.expit(eta)
    with np.errstate(divide="ignore", invalid="ignore"):
        deviance = 2.0 * np.sum(
            special.xlogy(y, y / (n * mu)) + special.xlogy(n - y, (n - y) / (n * (1 - mu)))
        )
    return CaseMixModel(
        codings=tuple(codings),
        dropped=tuple(c.name for c in dropped),
        aliased=tuple(names[i] for i in aliased),
        params=params,
        bse=bse,
        n_col=n_col,
        y_col=y_col,
        n_patterns=len(data),
        n_trials=float(n.sum()),
        deviance=float(deviance),
        penalised=penalised,
    )


