"""Grouped case-mix model, expected counts, c-statistic and calibration."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import special

from imestats.casemix import (
    MISSING_LEVEL,
    POOLED_LEVEL,
    fit_casemix,
)

COVARIATES = ["body_part", "jurisdiction", "sex", "line"]
BODY_EFFECT = {"back": 0.0, "knee": 0.5, "shoulder": -0.4, "neck": 0.8}
JURISDICTION_EFFECT = {"CA": 0.0, "NY": 0.3, "TX": -0.5}
SEX_EFFECT = {"F": 0.0, "M": 0.2, MISSING_LEVEL: -0.3}


def _cases(n_cases: int = 3000, seed: int = 20240611) -> pd.DataFrame:
    """One row per exam: synthetic, seeded; sex has NULLs; line has a single level."""
    rng = np.random.default_rng(seed)
    cases = pd.DataFrame(
        {
            "examiner": rng.integers(0, 20, n_cases).astype(str),
            "body_part": rng.choice(list(BODY_EFFECT), n_cases, p=[0.4, 0.3, 0.2, 0.1]),
            "jurisdiction": rng.choice(list(JURISDICTION_EFFECT), n_cases, p=[0.5, 0.3, 0.2]),
            "sex": rng.choice(["F", "M", None], n_cases, p=[0.45, 0.45, 0.1]),
            "line": "WC",
        }
    )
    eta = (
        -1.0
        + cases["body_part"].map(BODY_EFFECT)
        + cases["jurisdiction"].map(JURISDICTION_EFFECT)
        + cases["sex"].fillna(MISSING_LEVEL).map(SEX_EFFECT)
    )
    cases["adverse"] = (rng.random(n_cases) < special.expit(eta)).astype(int)
    return cases


def _patterns(cases: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return (
        cases.groupby(keys, dropna=False)
        .agg(n=("adverse", "size"), y=("adverse", "sum"))
        .reset_index()
    )


def test_grouped_fit_equals_one_row_per_exam_fit():
    cases = _cases()
    model = fit_casemix(_patterns(cases, COVARIATES), COVARIATES)
    # Independent fit: statsmodels formula GLM on the 3,000 binary rows, same references.
    per_exam = cases.assign(sex=cases["sex"].fillna(MISSING_LEVEL))
    references = {c.name: c.levels[0] for c in model.codings}
    formula = "adverse ~ " + " + ".join(
        f"C({name}, Treatment('{ref}'))" for name, ref in references.items()
    )
    reference_fit = smf.glm(formula, per_exam, family=sm.families.Binomial()).fit()
    for name, ref in references.items():
        for level in next(c for c in model.codings if c.name == name).levels[1:]:
            ungrouped = f"C({name}, Treatment('{ref}'))[T.{level}]"
            assert model.params[f"{name}[{level}]"] == pytest.approx(
                reference_fit.params[ungrouped], abs=1e-8
            )
            # Standard errors: Newton's Hessian vs IRLS's final weights, both at the optimum.
            assert model.bse[f"{name}[{level}]"] == pytest.approx(
                reference_fit.bse[ungrouped], abs=1e-6
            )
    assert model.params["Intercept"] == pytest.approx(reference_fit.params["Intercept"], abs=1e-8)


def test_missing_is_a_level_and_single_level_covariate_is_dropped():
    model = fit_casemix(_patterns(_cases(), COVARIATES), COVARIATES)
    sex = next(c for c in model.codings if c.name == "sex")
    assert MISSING_LEVEL in sex.levels
    assert model.dropped == ("line",)
    assert "line" not in {c.name for c in model.codings}


def test_reference_level_is_the_one_with_most_exams():
    cases = _cases()
    model = fit_casemix(_patterns(cases, COVARIATES), COVARIATES)
    most_exams = {
        name: cases[name].fillna(MISSING_LEVEL).value_counts().idxmax()
        for name in ["body_part", "jurisdiction", "sex"]
    }
    assert {c.name: c.levels[0] for c in model.codings} == most_exams


def _with_extra_body_parts(extra: dict[str, tuple[int, int]]) -> pd.DataFrame:
    patterns = _patterns(_cases(), COVARIATES)
    rows = [
        {"body_part": part, "jurisdiction": "CA", "sex": "F", "line": "WC", "n": n, "y": y}
        for part, (n, y) in extra.items()
    ]
    return pd.concat([patterns, pd.DataFrame(rows)], ignore_index=True)


def test_rare_and_all_or_none_levels_are_pooled():
    # hip: 20 exams (< 50); wrist: 200 exams and no event (infinite coefficient otherwise).
    patterns = _with_extra_body_parts({"hip": (20, 8), "wrist": (200, 0)})
    model = fit_casemix(patterns, COVARIATES)
    body = next(c for c in model.codings if c.name == "body_part")
    assert set(body.pooled) == {"hip", "wrist"}
    assert POOLED_LEVEL in body.levels
    assert np.isfinite(model.params).all()


def test_sparse_pool_is_merged_into_reference_level():
    patterns = _with_extra_body_parts({"wrist": (200, 0)})
    model = fit_casemix(patterns, COVARIATES)
    body = next(c for c in model.codings if c.name == "body_part")
    assert body.pooled == ("wrist",)
    assert POOLED_LEVEL not in body.levels
    wrist = pd.DataFrame([{"body_part": "wrist", "jurisdiction": "CA", "sex": "F", "line": "WC"}])
    back = wrist.assign(body_part="back")
    assert model.predict(wrist) == pytest.approx(model.predict(back), abs=1e-15)


def test_aliased_covariate_is_fixed_at_zero_without_changing_predictions():
    cases = _cases()
    # region is a relabelling of jurisdiction: its dummy columns are collinear.
    cases["region"] = cases["jurisdiction"].map({"CA": "west", "NY": "east", "TX": "south"})
    covariates = [*COVARIATES, "region"]
    patterns = _patterns(cases, covariates)
    with_alias = fit_casemix(patterns, covariates)
    without = fit_casemix(patterns, COVARIATES)
    assert set(with_alias.aliased) == {"region[east]", "region[south]"}
    assert with_alias.params[list(with_alias.aliased)].eq(0).all()
    assert with_alias.predict(patterns) == pytest.approx(without.predict(patterns), abs=1e-10)


def test_separation_by_a_combination_of_levels_falls_back_to_ridge():
    # Quasi-complete separation: a1 & b1 always adverse, a2 & b2 never, other cells 50%.
    patterns = pd.DataFrame(
        {
            "a": ["a1", "a2", "a1", "a2"],
            "b": ["b1", "b2", "b2", "b1"],
            "n": [100, 100, 100, 100],
            "y": [100, 0, 50, 50],
        }
    )
    model = fit_casemix(patterns, ["a", "b"], min_level_trials=1)
    # Maximum likelihood has no finite solution; the penalised fit keeps the order of the
    # cells and the symmetric 50% cells at exactly 0.5 (the logit is odd in this design).
    assert model.penalised
    p = model.predict(patterns)
    assert p[0] > 0.9 and p[1] < 0.1
    assert p[2] == pytest.approx(0.5, abs=1e-6) and p[3] == pytest.approx(0.5, abs=1e-6)
    assert np.isfinite(model.params).all()


def test_level_terms_add_up_to_the_predicted_log_odds():
    # Pooled (hip, wrist), reference, missing and a dropped covariate (line) all occur here;
    # the sum of the terms must reproduce predict() on every pattern.
    patterns = _with_extra_body_parts({"hip": (20, 8), "wrist": (200, 0)})
    model = fit_casemix(patterns, COVARIATES)
    terms = model.level_terms()
    assert terms.iloc[0].tolist() == ["(intercept)", "(intercept)", model.params["Intercept"]]
    lookup = terms.set_index(["covariate", "level"])["term"]
    log_odds = model.params["Intercept"] + sum(
        patterns[c.name]
        .fillna(MISSING_LEVEL)
        .map(lambda level, name=c.name: lookup[(name, level)])
        .to_numpy()
        for c in model.codings
    )
    assert special.logit(model.predict(patterns)) == pytest.approx(log_odds, abs=1e-9)
    assert lookup[("body_part", "hip")] == model.params[f"body_part[{POOLED_LEVEL}]"]
    assert "line" not in set(terms["covariate"])


def test_predict_unseen_level_names_the_covariate():
    model = fit_casemix(_patterns(_cases(), COVARIATES), COVARIATES)
    unseen = pd.DataFrame([{"body_part": "elbow", "jurisdiction": "CA", "sex": "F", "line": "WC"}])
    with pytest.raises(ValueError, match="body_part.*elbow"):
        model.predict(unseen)


def test_missing_column_is_named():
    with pytest.raises(ValueError, match="injury_nature"):
        fit_casemix(_patterns(_cases(), COVARIATES), [*COVARIATES, "injury_nature"])


def test_zero_trial_patterns_are_ignored():
    patterns = _patterns(_cases(), COVARIATES)
    padded = pd.concat([patterns, patterns.head(3).assign(n=0, y=0)], ignore_index=True)
    assert fit_casemix(padded, COVARIATES).params.to_numpy() == pytest.approx(
        fit_casemix(patterns, COVARIATES).params.to_numpy(), abs=1e-12
    )


# Hanley & McNeil (1982) Radiology 143:29-36, Table 1: CT images rated 1-5 (definitely
# normal .. definitely abnormal); 58 normal, 51 abnormal; area 0.893 (Wilcoxon).
HANLEY_MCNEIL_NORMAL = np.array([33, 6, 6, 11, 2])
HANLEY_MCNEIL_ABNORMAL = np.array([3, 2, 2, 11, 33])


