"""Human labels of the codes stored in the data: one mapping for pages, charts and exports.

A stored code (`orthopedic_surgery`, `insurer_or_employer`, `partially_denied`) is what the
format (etl.schema) and the SQL use; a reader sees its label. Legends, axes, filters, tables
and the words of exports all call `human`, so a code reads the same everywhere.
"""

from __future__ import annotations

# Codes whose label is more than the code with spaces for underscores.
WORDS = {
    # claim_type
    "workers_comp": "workers' compensation",
    # exam_type
    "ime": "IME",
    "qme": "QME",
    "ame": "AME",
    # retained_by: the two sides of the allegiance measure
    "insurer_or_employer": "insurer or employer",
    "claimant_or_neutral": "claimant or neutral",
}


def human(code: object) -> str:
    """A stored code as a reader sees it: 'upper_extremity' -> 'upper extremity'."""
    text = str(code)
    return WORDS.get(text, text.replace("_", " "))
