"""Chart layout: labels that never touch, checked on figures built from hand-made frames."""

from __future__ import annotations

import pandas as pd

from dashboard import charts

LABELS = {"denied": "Denied", "adverse": "Adverse", "not_related": "Not related"}


def _rates(highs: dict[str, float]) -> pd.DataFrame:
    """Two groups per measure; each measure's largest interval end is `highs[measure]`."""
    rows = []
    for measure, high in highs.items():
        for group, share in (("A", 1.0), ("B", 0.5)):
            rows.append(
                dict(group=group, measure=measure, k=10, n=100, rate=0.6 * high * share,
                     ci_low=0.3 * high * share, ci_high=high * share)
            )
    return pd.DataFrame(rows)


def test_small_multiple_ticks_stop_short_of_the_panel_edge_and_never_repeat():
    # 0.23 is the case that drew "20%0%": a "20%" tick at the right edge beside the next "0%".
    highs = {"denied": 0.23, "adverse": 0.019, "not_related": 0.004}
    fig = charts.rate_dots(_rates(highs), "group", list(highs), LABELS)
    axes = [fig.layout[name] for name in ("xaxis", "xaxis2", "xaxis3")]
    expected_text = {  # worked by hand: steps of 10/20%, 1% and 0.2%
        "denied": ["0%", "20%"],
        "adverse": ["0%", "1%"],
        "not_related": ["0.0%", "0.2%", "0.4%"],
    }
    for axis, measure in zip(axes, highs, strict=True):
        start, end = axis.range
        assert start == 0
        assert end >= highs[measure]  # every interval is inside the panel
        assert list(axis.ticktext) == expected_text[measure]
        assert len(set(axis.ticktext)) == len(axis.ticktext) <= 3
        # The last label is centred at least 15% of the panel width from its right edge,
        # so it cannot reach the next panel's first label.
        assert max(axis.tickvals) <= end - 0.15 * (end - start)
    # Panels are separated by a gap, not drawn edge to edge.
    for left, right in zip(axes, axes[1:]):
        assert right.domain[0] - left.domain[1] >= 0.02
