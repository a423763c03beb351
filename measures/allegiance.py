"""Allegiance: within one examiner, the odds of an adverse opinion when retained by an insurer
or employer against when retained by the claimant or a neutral (board, panel, agreed).

A binary outcome tested as one (docs/methods.md): per examiner, a 2x2 table of side against adverse
opinion in each case-mix risk band (the adverse-opinion model's probability without its
requested_by term, in tenths, stored per exam at load), so each side's cases are compared
with cases of like risk. The common odds ratio is Mantel-Haenszel's with its RGB interval; the
one-sided test is the exact conditional test (Fisher's exact test stratified), or the
Cochran-Mantel-Haenszel statistic with continuity correction for large examiners
(imestats.stratified).
"""

from __future__ import annotations

import pandas as pd

from imestats.stratified import mantel_haenszel_by_unit
from measures.base import FlagSettings, Measure, View, q_values_and_flags

NAME = "allegiance"
BANDS = 10
# The exam's case-mix risk of an adverse opinion whatever side retained the examiner, in
# tenths: the stratum of the comparison.
RISK_BAND = (
    f"least({BANDS - 1}, CAST(floor({BANDS} / (1 + exp(-(eta_adverse_opinion "
    "- term_requested_by_adverse_opinion)))) AS INTEGER))"
)
# One row per examiner and risk band: trials and adverse opinions on each side. The sides are
# fct_exams.retained_by's; 'other' retainers take no part.
STRATA_SQL = """
SELECT
    examiner_id,
    any_value(specialty) AS specialty,
    allegiance_band AS band,
    count(*) FILTER (retained_by = 'insurer_or_employer') AS n_insurer,
    count(*) FILTER (retained_by = 'insurer_or_employer' AND is_adverse) AS adverse_insurer,
    count(*) FILTER (retained_by = 'claimant_or_neutral') AS n_neutral,
    count(*) FILTER (retained_by = 'claimant_or_neutral' AND is_adverse) AS adverse_neutral
FROM exams_in_view()
WHERE retained_by <> 'other' AND allegiance_band IS NOT NULL
GROUP BY examiner_id, allegiance_band
ORDER BY examiner_id, allegiance_band
"""


def score(view: View, settings: FlagSettings) -> pd.DataFrame:
    strata = view.run_sql(STRATA_SQL)
    if strata.empty:
        return pd.DataFrame()
    test = mantel_haenszel_by_unit(
        strata["examiner_id"].to_numpy(),
        strata["n_insurer"].to_numpy(),
        strata["adverse_insurer"].to_numpy(),
        strata["n_neutral"].to_numpy(),
        strata["adverse_neutral"].to_numpy(),
    )
    sides = strata.groupby("examiner_id", sort=True)[
        ["n_insurer", "adverse_insurer", "n_neutral", "adverse_neutral"]
    ].sum()
    rows = pd.DataFrame(
        {
            "examiner_id": test.units,
            "peer_group": "own exams retained by claimant or neutral, like case-mix risk",
            # Both sides need the volume: the smaller one limits what can be told apart.
            "n": sides[["n_insurer", "n_neutral"]].min(axis=1).astype(int).to_numpy(),
            "observed": sides["adverse_insurer"].to_numpy(dtype=float),
            # Adverse opinions on the insurer side expected if the side made no difference
            # within each risk band (given the band's margins).
            "expected": test.expected,
            "ratio": test.odds_ratio,
            "ci_low": test.ci_low,
            "ci_high": test.ci_high,
            "raw_rate": (sides["adverse_insurer"] / sides["n_insurer"]).to_numpy(),
            "peer_rate": (sides["adverse_neutral"] / sides["n_neutral"]).to_numpy(),
            "p_value": test.p_greater,
            # The exact test's two tails both count P(T = observed): the low side's own.
            "p_low": test.p_less,
        }
    )
    return q_values_and_flags(rows, NAME, settings)


MEASURE = Measure(
    name=NAME,
    label="Allegiance",
    words=(
        "Within the examiner's own exams: the odds of an adverse opinion when retained by an "
        "insurer or employer, against the odds when retained by the claimant or a neutral "
        "(board, panel, agreed), compared within bands of like case-mix risk (Mantel-Haenszel "
        "odds ratio; one-sided exact conditional test, Fisher's test stratified by risk "
        "band). "
        "Examiners need the minimum volume on both sides."
    ),
    method="Mantel-Haenszel odds ratio across case-mix risk bands (RGB interval); one-sided "
    "exact conditional test (the CMH statistic above 1,000 exams)",
    rate="adverse rate when retained by an insurer or employer",
    peer="the examiner's own rate when retained by a claimant or neutral",
    chart="odds_ratio",
    score=score,
    stored=(("allegiance_band", RISK_BAND),),
    planted_by="allegiance",
    export_prefix="allegiance",
    export_counts=(
        "n_insurer_side",
        "n_adverse_insurer_side",
        "n_neutral_side",
        "n_adverse_neutral_side",
    ),
    # SPEC 3: a ratio whose two sides each hold at least k exams is published.
    disclosure_counts=("n_insurer_side", "n_neutral_side"),
    high_means=(
        "adverse opinions more often when retained by an insurer or employer than by a claimant"
        " or neutral, on cases of like risk: the examiner favours the insurer when an insurer "
        "retains them"
    ),
    low_means=(
        "adverse opinions less often when retained by an insurer or employer than by a claimant"
        " or neutral, on cases of like risk: the examiner favours the claimant when an insurer "
        "retains them"
    ),
)
