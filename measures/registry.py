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
