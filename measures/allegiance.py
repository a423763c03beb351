"""Allegiance: within one examiner, the odds of an adverse opinion when retained by an insurer
or employer against when retained by the claimant or a neutral (board, panel, agreed).

A binary outcome tested as one (docs/methods.md): within each examiner, a logistic model of
the adverse opinion with the exam's case-mix log odds as offset (the adverse-opinion model's
linear predictor without its requested_by term, stored per exam at load), the examiner's own
level and a term for the side: each side's cases are compared with allowance for their risk,
exam by exam. The one-sided test is the score test of the side term with a continuity
correction of one half: with every exam at the same risk it is Yates's chi-square of the
examiner's 2x2 table, the normal counterpart of Fisher's exact test, and with case-mix risks the
counterpart of the exact conditional logistic test. The odds ratio is the model's, with its
interval (imestats.offset_logistic).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from imestats.offset_logistic import exposure_effect_by_unit
from measures.base import FlagSettings, Measure, View, q_values_and_flags

NAME = "allegiance"
# The exam's case-mix log odds of an adverse opinion whatever side retained the examiner.
RISK_LOGIT = "eta_adverse_opinion - term_requested_by_adverse_opinion"
# Exams of one examiner and side whose risks differ by less than this on the log-odds scale
# are summed into one row at their mean risk: a difference of 0.02 in log odds moves a
# probability by at most half a percentage point, and the rows stay few at any volume.
RISK_STEP = 0.02
# The score test's continuity correction. Without it the test rejects as often as its level,
# which is more often than Fisher's exact test does: over twenty demo data sets it flagged 7 of
# 3,794 examiners without a planted allegiance where Fisher's test flagged 4. With it, 2, while
# still finding more of the planted ones than Fisher's test (131 of 160 against 129; the exact
# conditional test gave the same counts). docs/methods.md gives the comparison.
CONTINUITY = 0.5
# One row per examiner, side and step of risk: exams, adverse opinions and their mean case-mix
# log odds. The sides are fct_exams.retained_by's; 'other' retainers take no part. Addenda
# take no part either: an addendum adds to the examiner's own earlier report on the same case
# for the same side, so it is not a second opinion, and counting it would count one opinion
# twice and claim more evidence than there is (docs/methods.md gives the figures).
SIDES_SQL = f"""
SELECT
    examiner_id,
    retained_by = 'insurer_or_employer' AS insurer_side,
    avg(allegiance_risk_logit) AS risk_logit,
    count(*) AS n,
    count_if(is_adverse) AS adverse
FROM exams_in_view()
WHERE retained_by <> 'other' AND exam_type IS DISTINCT FROM 'addendum'
    AND is_adverse IS NOT NULL AND allegiance_risk_logit IS NOT NULL
GROUP BY examiner_id, insurer_side, round(allegiance_risk_logit / {RISK_STEP})
ORDER BY examiner_id, insurer_side, risk_logit
"""


def score(view: View, settings: FlagSettings) -> pd.DataFrame:
    # Read through Arrow like a result of a row per exam: filtered to one jurisdiction at 10^7
    # exams, its 309,269 rows took 0.17 s less of CPU than DuckDB's own conversion.
    rows = view.run_sql(SIDES_SQL, per_exam=True)
    if rows.empty:
        return pd.DataFrame()
    # Examiners as whole numbers, from the Arrow strings as they came: 309,269 rows' ids
    # turned into Python strings and then factorised took 0.06 s of CPU, this 0.02 s.
    examiner, examiners = pd.factorize(rows["examiner_id"], sort=True)
    test = exposure_effect_by_unit(
        examiner,
        rows["insurer_side"].to_numpy(dtype=bool),
        rows["risk_logit"].to_numpy(dtype=float),
        rows["n"].to_numpy(),
        rows["adverse"].to_numpy(),
        continuity=CONTINUITY,
    )
    # Each side's exams and adverse opinions per examiner (row 0 neutral, row 1 insurer).
    (n_neutral, n_insurer), (adverse_neutral, adverse_insurer) = test.trials, test.events
    with np.errstate(divide="ignore", invalid="ignore"):
        raw_rate = adverse_insurer / n_insurer
        peer_rate = adverse_neutral / n_neutral
    table = pd.DataFrame(
        {
            "examiner_id": examiners.to_numpy()[test.units],
            "peer_group": "own exams retained by claimant or neutral, allowing for case-mix risk",
            # Both sides need the volume: the smaller one limits what can be told apart.
            "n": np.minimum(n_insurer, n_neutral).astype(int),
            "observed": adverse_insurer,
            # Adverse opinions on the insurer side expected if the side made no difference,
            # given the examiner's own level and each exam's case-mix risk.
            "expected": test.expected,
            "ratio": test.odds_ratio,
            "ci_low": test.ci_low,
            "ci_high": test.ci_high,
            "raw_rate": raw_rate,
            "peer_rate": peer_rate,
            # With the continuity correction the two tails do not add up to one.
            "p_value": test.p_greater,
            "p_low": test.p_less,
        }
    )
    # The ratio is an odds ratio within the examiner: no observed/expected ratio to shrink.
    return q_values_and_flags(table, NAME, settings, shrink=False)


MEASURE = Measure(
    name=NAME,
    label="Allegiance",
    words=(
        "Within the examiner's own exams: the odds of an adverse opinion when retained by an "
        "insurer or employer, against the odds when retained by the claimant or a neutral "
        "(board, panel, agreed), allowing for each exam's case-mix risk (a logistic model "
        "within the examiner with the case-mix risk as offset; odds ratio with its 95% "
        "interval; one-sided score test with a continuity correction). "
        "Addenda are left out: each adds to the examiner's own earlier report on the same "
        "case. Examiners need the minimum volume on both sides."
    ),
    method="logistic model within the examiner, case-mix log odds as offset: odds ratio of the "
    "side (Wald interval); one-sided score test with a continuity correction of 1/2",
    rate="adverse rate when retained by an insurer or employer",
    peer="the examiner's own rate when retained by a claimant or neutral",
    chart="odds_ratio",
    ratio_label="odds ratio (insurer/employer vs claimant/neutral)",
    ratio_short="odds ratio",
    score=score,
    stored=(("allegiance_risk_logit", RISK_LOGIT),),
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
