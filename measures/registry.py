"""Every measure of the engine, in the order pages, reports and exports show them."""

from measures import (
    adverse_opinion,
    allegiance,
    decision_counts,
    denial,
    drift,
    early_mmi,
    rulings,
    zero_impairment,
)
from measures.base import Measure

MEASURES: dict[str, Measure] = {
    m.name: m
    for m in (
        adverse_opinion.MEASURE,
        denial.MEASURE,
        zero_impairment.MEASURE,
        rulings.MEASURE,
        early_mmi.MEASURE,
        allegiance.MEASURE,
        drift.MEASURE,
        decision_counts.MEASURE,
    )
}
NAMES = tuple(MEASURES)
# The measures of case rows (every one but the published counts): what the examiner pages show.
EXAMINER_MEASURES = tuple(name for name, m in MEASURES.items() if m.needs_exams)
LABELS = {name: m.label for name, m in MEASURES.items()}


def ratio_label(names) -> str:
    """How an axis or heading names the ratios of the measures `names` (in their order): the
    measures' own ratio label when they share one, else the most common one and each other
    measure's by name ('observed / expected; allegiance: odds ratio (...)')."""
    labels = [MEASURES[n].ratio_label for n in names]
    if not labels:
        return MEASURES[NAMES[0]].ratio_label
    common = max(labels, key=labels.count)
    others = [
        f"{MEASURES[n].label.lower()}: {label}"
        for n, label in zip(names, labels, strict=True) if label != common
    ]
    return "; ".join([common, *dict.fromkeys(others)])


def ratio_short(names) -> str:
    """A heading's or legend's short name for the ratios of the measures `names`: theirs when
    they share one ('O/E', 'odds ratio'), else 'ratio'."""
    shorts = {MEASURES[n].ratio_short for n in names}
    return shorts.pop() if len(shorts) == 1 else "ratio"
