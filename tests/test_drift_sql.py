"""The drift charts (measures.drift) against a second implementation.

A hand-built table of exams goes through the product's query and arrays; the same exams go
through plain Python written here from docs/methods.md and Steiner et al. (2000): the
baseline log odds ratio by root finding (scipy's brentq), each later exam's risk
recalibrated, batches by calendar quarter, and the CUSUM by its recursion
S_k = max(0, S_(k-1) + W_k), W_k = O_k log R - sum log(1 - p + R p), one batch at a time.
"""

from __future__ import annotations

import datetime as dt
import math

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy import optimize

import queries
from measures import drift
from measures.base import FlagSettings, View

SETTINGS = FlagSettings(min_volume=5)
ODDS_RATIO = SETTINGS.drift_odds_ratio


def _exams() -> list[tuple]:
    """Three examiners over two and a half years: one turns adverse after a year, one stays
    level, one has too few exams for a chart (fewer than twice the minimum volume)."""
    rng = np.random.default_rng(20261205)
    rows = []
    for examiner, n, turn in (("EX-A", 40, 20), ("EX-B", 33, None), ("EX-C", 9, None)):
        days = np.sort(rng.choice(900, size=n, replace=False))
        for i, day in enumerate(days):
            risk = float(rng.uniform(0.15, 0.75))
            chance = min(0.95, risk * 2.5) if turn is not None and i >= turn else risk
            rows.append(
                (
                    f"{examiner}-{i:03d}",
                    examiner,
                    dt.date(2021, 1, 1) + dt.timedelta(days=int(day)),
                    bool(rng.random() < chance),
                    risk,
                )
            )
    # Two exams on one day: exam_id decides their order.
    rows.append(("EX-B-900", "EX-B", rows[-10][2], True, 0.5))
    return rows


@pytest.fixture(scope="module")
def con():
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE fct_exams (exam_id VARCHAR, examiner_id VARCHAR, exam_date DATE, "
        "is_adverse BOOLEAN, expected_adverse_opinion DOUBLE, insurer_id VARCHAR, "
        "jurisdiction VARCHAR, claim_type VARCHAR, body_part VARCHAR, specialty VARCHAR, "
        "requested_by VARCHAR, exam_type VARCHAR)"
    )
    con.executemany(
        "INSERT INTO fct_exams VALUES (?, ?, ?, ?, ?, 'INS1', 'CA', 'x', 'x', 'x', 'x', 'x')",
        _exams(),
    )
    yield con
    con.close()


def _by_hand() -> dict[str, dict]:
    """Each charted examiner's batches and CUSUM path, one exam and one batch at a time."""
    charts = {}
    for examiner in sorted({r[1] for r in _exams()}):
        exams = sorted((r for r in _exams() if r[1] == examiner), key=lambda r: (r[2], r[0]))
        n = len(exams)
        if n < 2 * SETTINGS.min_volume:
            continue
        end = max(SETTINGS.min_volume, int(n * SETTINGS.drift_baseline_share))
        baseline, later = exams[:end], exams[end:]
        observed = min(max(sum(r[3] for r in baseline), 0.5), end - 0.5)

        def excess(delta, baseline=baseline, observed=observed):
            return sum(1 / (1 + (1 - r[4]) / r[4] * math.exp(-delta)) for r in baseline) - observed

        delta = optimize.brentq(excess, -50, 50, xtol=1e-14)
        batches: dict[int, dict] = {}
        for r in later:
            odds = r[4] / (1 - r[4]) * math.exp(delta)
            p = odds / (1 + odds)
            quarter = ((r[2].year - 1970) * 12 + r[2].month - 1) // 3
            b = batches.setdefault(quarter, {"trials": 0, "adverse": 0, "risk": 0.0, "log": 0.0})
            b["trials"] += 1
            b["adverse"] += int(r[3])
            b["risk"] += p
            b["log"] += math.log(1 - p + ODDS_RATIO * p)
            b["end"] = r[2]
        path, s = [], 0.0
        for b in batches.values():
            s = max(0.0, s + b["adverse"] * math.log(ODDS_RATIO) - b["log"])
            path.append(s)
        charts[examiner] = {
            "n": n,
            "baseline_end": baseline[-1][2],
            "batches": list(batches.values()),
            "path": path,
        }
    return charts


def test_the_charts_match_a_batch_by_batch_recursion(con):
    charts = drift.drift_charts(View(con, queries.FULL_ACCESS, queries.NO_FILTERS), SETTINGS)
    expected = _by_hand()
    assert [c.examiner_id for c in charts] == sorted(expected) == ["EX-A", "EX-B"]
    for chart in charts:
        hand = expected[chart.examiner_id]
        batches = hand["batches"]
        assert chart.n_exams == hand["n"]
        assert pd.Timestamp(chart.baseline_end_date).date() == hand["baseline_end"]
        assert list(chart.batch_end_dates.astype(object)) == [b["end"] for b in batches]
        assert list(chart.trials) == [b["trials"] for b in batches]
        assert list(chart.adverse) == [b["adverse"] for b in batches]
        assert chart.risk == pytest.approx([b["risk"] / b["trials"] for b in batches], rel=1e-9)
        assert chart.log_terms == pytest.approx([b["log"] for b in batches], rel=1e-9)
        # Lindley's form over arrays against the recursion itself.
        assert chart.unreset_cusum == pytest.approx(hand["path"], abs=1e-9)
    # The examiner who turned adverse climbs; the recursion's path is not flat at 0.
    assert max(expected["EX-A"]["path"]) > 1


def test_the_peak_is_the_recursion_with_its_reset_after_a_signal(con):
    # A threshold below the turning examiner's highest value: the chart restarts at 0 after
    # crossing it, so its peak is that of the recursion with reset, not of the path without.
    view = View(con, queries.FULL_ACCESS, queries.NO_FILTERS)
    charts = drift.drift_charts(view, SETTINGS)
    hand = _by_hand()
    for chart in charts:
        highest = max(hand[chart.examiner_id]["path"])
        for threshold in (highest / 3, highest + 1):
            s, peak = 0.0, 0.0
            for b in hand[chart.examiner_id]["batches"]:
                s = max(0.0, s + b["adverse"] * math.log(ODDS_RATIO) - b["log"])
                peak = max(peak, s)
                if s >= threshold:
                    s = 0.0
            batches = drift.drift_batches(view, SETTINGS, chart.examiner_id)
            (row,) = drift.score_batches(batches, SETTINGS, threshold).itertuples()
            assert row.z == pytest.approx(peak, abs=1e-9)
            assert row.flagged == (peak >= threshold)


def test_one_examiners_chart_is_the_panels_chart_of_that_examiner(con):
    view = View(con, queries.FULL_ACCESS, queries.NO_FILTERS)
    (alone,) = drift.drift_charts(view, SETTINGS, "EX-A")
    panel = {c.examiner_id: c for c in drift.drift_charts(view, SETTINGS)}
    assert alone.unreset_cusum == pytest.approx(panel["EX-A"].unreset_cusum, abs=1e-12)
    assert drift.drift_charts(view, SETTINGS, "EX-C") == []
