"""The audit pack for regulators: one examiner's audit report, and a panel report of every
flagged examiner, as a self-contained HTML file (opens offline) and a PDF.

Each examiner section shows every measure against peers (a table and a forest chart of the
O/E ratios with their intervals and shrunken estimates), funnel plots against same-specialty
peers, allegiance, the drift CUSUM with its threshold, the other rates beside the peers',
volumes, the method in words, and a blank section for the examiner's reply. The report
carries the data snapshot hash and the time it was generated. Examiner names are shown, as
only a regulator may have the report; claimant identifiers never appear.
"""

from __future__ import annotations

import dataclasses
import html
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from access import audit, reviews
from access.reviews import Review, latest
from imestats import funnel
from imestats.proportions import wilson_interval
from measures.base import FlagSettings, View
from measures.drift import DriftChart, drift_charts, drift_path, drift_threshold
from measures.engine import COMMON_WORDS, explain, finding, flags_for_view, funnel_dispersion
from measures.labels import human
from measures.registry import EXAMINER_MEASURES, LABELS, MEASURES, ratio_label
from outputs.files import snapshot_hash
from outputs.tables import (
    ALL_EXAMINERS,
    EXAMINER_LAYOUT,
    METHOD_VERSIONS,
    Rate,
    database_file,
    examiner_figures,
)
from queries import FULL_ACCESS, Filters, Scope

DEFAULT_FILTERS = Filters()
DEFAULT_SETTINGS = FlagSettings()
# Okabe M, Ito K. Color Universal Design (2008): distinguishable by most colour-blind readers.
BLUE, VERMILLION, ORANGE, GREY, BLACK = "#0072B2", "#D55E00", "#E69F00", "#999999", "#000000"
FUNNEL_MEASURES = tuple(m for m in EXAMINER_MEASURES if MEASURES[m].chart == "funnel")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
)
# Section 8 (the review and the reply) sits between these, so that a frozen pack can show
# the reply that came after it was frozen (access.reviews.audit_pack).
REVIEW_BEGIN, REVIEW_END = "<!-- review section -->", "<!-- end of review section -->"
CHART_WIDTH = 680  # pixels: the printable width of an A4 page with 12 mm margins
CSS = """
body { font-family: "Source Sans Pro", Arial, sans-serif; font-size: 13px; color: #111;
       max-width: 760px; margin: 24px auto; line-height: 1.4; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 18px; border-bottom: 2px solid #0072B2;
  padding-bottom: 3px; margin-top: 28px; } h3 { font-size: 15px; margin: 18px 0 6px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 10px; font-size: 11.5px; }
th, td { border: 1px solid #ccc; padding: 3px 5px; text-align: right; vertical-align: top; }
th { background: #eef3f8; } td.text, th.text { text-align: left; }
tr.flagged td { background: #fbe9e0; font-weight: 600; }
.meta { color: #444; } .note { color: #444; font-size: 12px; }
pre.explain { white-space: pre-wrap; font-size: 11.5px; background: #f6f6f6; padding: 8px;
              border: 1px solid #ddd; }
.chart { page-break-inside: avoid; break-inside: avoid; }
.reply { border: 1px solid #333; min-height: 360px; padding: 8px; }
.reply .line { border-bottom: 1px solid #bbb; height: 28px; }
.reply-text { white-space: pre-wrap; border: 1px solid #333; padding: 8px; }
section.examiner { page-break-before: always; break-before: page; }
footer { margin-top: 24px; font-size: 11px; color: #444; border-top: 1px solid #ccc; }
@page { size: A4; margin: 14mm 12mm; }
"""


@dataclass(frozen=True)
class ReportFiles:
    """The files of one report: the HTML and, when asked for, the PDF."""

    html: Path
    pdf: Path | None


@dataclass(frozen=True)
class PanelData:
    """What every examiner section draws on, read once per report."""

    flags: pd.DataFrame
    figures: pd.DataFrame
    charts: dict[str, DriftChart]
    drift_threshold: float | None
    snapshot_sha256: str
    generated_at_utc: str
    filters: Filters
    settings: FlagSettings


def _check_regulator(scope: Scope) -> None:
    if scope.role != "regulator":
        raise PermissionError(
            f"audit reports are for regulators; a {scope.role} cannot generate one"
        )


def panel_data(
    con: duckdb.DuckDBPyConnection,
    filters: Filters = DEFAULT_FILTERS,
    settings: FlagSettings = DEFAULT_SETTINGS,
) -> PanelData:
    """Flags, figures and drift charts of every examiner, under full access."""
    flags = flags_for_view(con, FULL_ACCESS, filters, settings)
    flags = flags[flags["measure"] != "decision_counts"]
    figures = examiner_figures(con, FULL_ACCESS, filters, settings, flags, period=True)
    figures = figures.drop(index=ALL_EXAMINERS)
    charts = {c.examiner_id: c for c in drift_charts(View(con, FULL_ACCESS, filters), settings)}
    return PanelData(
        flags=flags,
        figures=figures,
        charts=charts,
        drift_threshold=drift_threshold(flags),
        snapshot_sha256=snapshot_hash(database_file(con)),
        generated_at_utc=audit.utc_now().isoformat(timespec="seconds"),
        filters=filters,
        settings=settings,
    )


# ---------------------------------------------------------------------------------------------
# Charts: pure functions, DataFrame in, Figure out.
# ---------------------------------------------------------------------------------------------


def _layout(fig: go.Figure, height: int, title: str) -> go.Figure:
    fig.update_layout(
        template="plotly_white", width=CHART_WIDTH, height=height, title=title,
        font=dict(family="Source Sans Pro, Arial, sans-serif", size=12),
        margin=dict(l=10, r=10, t=75, b=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0),
    )
    return fig


def _ratio(row) -> str:
    """A measure's ratio with its interval, named as the registry names it ('O/E 1.52 (...)',
    'odds ratio 2.10 (...)')."""
    return (f"{MEASURES[row.measure].ratio_short} {_number(row.ratio)} "
            f"({_number(row.ci_low)}–{_number(row.ci_high)})")


def forest_chart(rows: pd.DataFrame) -> go.Figure:
    """Each measure's ratio (O/E, or allegiance's odds ratio) with its 95% interval (bars) and
    shrunken estimate, on a log scale."""
    rows = rows[rows["ratio"].notna() & (rows["ratio"] > 0)]
    labels = [LABELS.get(m, m) for m in rows["measure"]]
    colours = [VERMILLION if f else BLUE for f in rows["flagged"]]
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=rows["ratio"], y=labels, mode="markers", name="ratio with 95% interval",
        marker=dict(color=colours, size=10),
        error_x=dict(type="data", symmetric=False, array=rows["ci_high"] - rows["ratio"],
                     arrayminus=rows["ratio"] - rows["ci_low"], color=GREY, thickness=1.5),
    ))
    fig.add_trace(go.Scatter(
        x=rows["shrunken_ratio"], y=labels, mode="markers", name="shrunken (empirical Bayes)",
        marker=dict(symbol="diamond-open", color=BLACK, size=10),
    ))
    fig.add_vline(x=1.0, line=dict(color=GREY, dash="dash"))
    fig.update_xaxes(type="log", title=f"{ratio_label(list(rows['measure']))} (log scale; "
                     "1 = no difference)")
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, 110 + 38 * len(rows), "Every measure against expectation")


def funnel_chart(panel: pd.DataFrame, examiner_id: str, measure: str) -> go.Figure:
    """One measure's O/E against expected count: the examiner among same-group peers."""
    label = LABELS.get(measure, measure)
    mine = panel[panel["examiner_id"] == examiner_id]
    group = mine["peer_group"].iloc[0]
    peers = panel[(panel["peer_group"] == group) & (panel["examiner_id"] != examiner_id)]
    tau2, c = funnel_dispersion(panel)
    shown = pd.concat([peers, mine])
    shown = shown[shown["expected"] > 0]
    grid = np.geomspace(max(shown["expected"].min() * 0.8, 0.5), shown["expected"].max() * 1.2, 80)
    fig = go.Figure()
    for level, dash, words in ((0.95, "dash", "95% limits"), (0.998, "dot", "99.8% limits")):
        limits = funnel.tau2_additive_limits(1.0, np.sqrt(c / grid), tau2, level)
        for bound, name in ((limits.upper, words), (np.maximum(limits.lower, 0), None)):
            fig.add_trace(go.Scatter(
                x=grid, y=bound, mode="lines", line=dict(color=GREY, dash=dash, width=1),
                name=name, showlegend=name is not None, hoverinfo="skip",
            ))
    fig.add_trace(go.Scatter(
        x=peers["expected"], y=peers["ratio"], mode="markers", name=f"peers ({group})",
        marker=dict(color=BLUE, size=7, opacity=0.6),
        text=[f"n = {n:,}" for n in peers["n"]], hovertemplate="E %{x:.1f}, O/E %{y:.2f}, %{text}",
    ))
    fig.add_trace(go.Scatter(
        x=mine["expected"], y=mine["ratio"], mode="markers", name="this examiner",
        marker=dict(color=VERMILLION, size=13, symbol="star"),
    ))
    fig.add_hline(y=1.0, line=dict(color=BLACK, width=1))
    fig.update_xaxes(type="log", title="expected count (volume of the comparison)")
    fig.update_yaxes(title="observed / expected")
    return _layout(fig, 330, f"{label}: funnel plot against peers")


def allegiance_chart(sides: pd.DataFrame) -> go.Figure:
    """Adverse rate by who retained the examiner, for the examiner and the peers."""
    fig = go.Figure()
    for cohort, colour in (("this examiner", VERMILLION), ("peers", BLUE)):
        part = sides[sides["cohort"] == cohort]
        fig.add_trace(go.Scatter(
            x=part["rate"], y=part["side"], mode="markers", name=cohort,
            marker=dict(color=colour, size=10),
            error_x=dict(type="data", symmetric=False, array=part["ci_high"] - part["rate"],
                         arrayminus=part["rate"] - part["ci_low"], color=colour),
            text=[f"{k:,} of {n:,}" for k, n in zip(part["k"], part["n"], strict=True)],
            hovertemplate="%{x:.1%} (%{text})",
        ))
    fig.update_xaxes(title="adverse-opinion rate (95% Wilson interval)", tickformat=".0%",
                     rangemode="tozero")
    return _layout(fig, 220, "Adverse opinions by who retained the examiner")


def drift_chart(path: pd.DataFrame, threshold: float) -> go.Figure:
    """The examiner's CUSUM after the baseline, with the panel threshold."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=path["exam_date"], y=path["cusum"], mode="lines", name="CUSUM",
        line=dict(color=BLUE, shape="hv"),
    ))
    signals = path[path["signal"]]
    fig.add_trace(go.Scatter(
        x=signals["exam_date"], y=signals["cusum"], mode="markers", name="signal",
        marker=dict(color=VERMILLION, size=9, symbol="x"),
    ))
    fig.add_hline(y=threshold, line=dict(color=VERMILLION, dash="dash"),
                  annotation_text=f"threshold h = {threshold:.2f}")
    fig.update_yaxes(title="CUSUM (log-likelihood ratio)", rangemode="tozero")
    fig.update_xaxes(title="exam date")
    return _layout(fig, 300, "Drift: risk-adjusted CUSUM against the examiner's own baseline")


# ---------------------------------------------------------------------------------------------
# HTML.
# ---------------------------------------------------------------------------------------------


def _escaped(value: object) -> str:
    return html.escape(str(value))


def _finite(value: object) -> bool:
    return value is not None and value is not pd.NA and bool(np.isfinite(float(value)))


def _number(value: object, fmt: str = ",.2f") -> str:
    return format(value, fmt) if _finite(value) else "–"


def _pct(value: object) -> str:
    return f"{100 * float(value):.1f}%" if _finite(value) else "–"


def _table(header: list[str], rows: list[list[str]], text_cols: int = 1,
           row_classes: list[str] | None = None) -> str:
    def cell(tag: str, i: int, value: str) -> str:
        attribute = ' class="text"' if i < text_cols else ""
        return f"<{tag}{attribute}>{value}</{tag}>"

    head = "".join(cell("th", i, _escaped(h)) for i, h in enumerate(header))
    body = "".join(
        f'<tr class="{(row_classes or [""] * len(rows))[r]}">'
        + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>"
        for r, row in enumerate(rows)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _chart(fig: go.Figure) -> str:
    body = fig.to_html(full_html=False, include_plotlyjs=False,
                       config={"displayModeBar": False, "responsive": False})
    return f'<div class="chart">{body}</div>'


def _measures_table(rows: pd.DataFrame) -> str:
    out = []
    for r in rows.itertuples():
        out.append([
            _escaped(LABELS.get(r.measure, r.measure)),
            _number(r.n, ",d"), _number(r.observed, ",.0f"), _number(r.expected, ",.1f"),
            _ratio(r), _number(r.shrunken_ratio), _pct(r.raw_rate),
            f"{_pct(r.peer_rate)} <span class='note'>{_escaped(human(r.peer_group))}</span>",
            _number(r.p_value, ".3g"), _number(r.q_value, ".3g"),
            f"FLAGGED {r.direction}: {_escaped(finding(r.measure, r.direction))}" if r.flagged
            else ("below minimum volume" if not r.eligible else "no"),
        ])
    header = ["Measure", "Volume", "Observed", "Expected", "Ratio (95% interval)", "Shrunken",
              "Raw rate", "Comparison rate (group)", "p", "q", "Flag"]
    classes = ["flagged" if f else "" for f in rows["flagged"]]
    return _table(header, out, row_classes=classes)


def _peers(figures: pd.DataFrame, examiner_id: str) -> pd.DataFrame:
    """The other examiners of the examiner's specialty."""
    specialty = figures.at[examiner_id, "specialty"]
    return figures[(figures["specialty"] == specialty) & (figures.index != examiner_id)]


def _peer_rates(figures: pd.DataFrame, examiner_id: str) -> str:
    """Every rate of the examiner beside the pooled rate of the specialty, this examiner
    included: the comparison rate of the measures table (section 1) is that same pooled rate,
    and the case-mix model that sets each test's expected count is fitted on every examiner,
    this one included. One comparison, one peer rate."""
    mine = figures.loc[examiner_id]
    specialty = figures.at[examiner_id, "specialty"]
    peers = figures[figures["specialty"] == specialty]
    rows = []
    for item in (i for i in EXAMINER_LAYOUT if isinstance(i, Rate)):
        k, n = int(mine[item.events]), int(mine[item.trials])
        pk, pn = int(peers[item.events].sum()), int(peers[item.trials].sum())
        own = wilson_interval(k, n) if n else None
        peer = wilson_interval(pk, pn) if pn else None
        rows.append([
            _escaped(item.words),
            f"{k:,} / {n:,}",
            f"{_pct(own.estimate)} ({_pct(own.low)}–{_pct(own.high)})" if own else "–",
            f"{pk:,} / {pn:,}",
            f"{_pct(peer.estimate)} ({_pct(peer.low)}–{_pct(peer.high)})" if peer else "–",
        ])
    gap = mine["gap_mean_wpi_points"]
    peer_pairs = peers["n_paired"].sum()
    weighted = (peers["gap_mean_wpi_points"] * peers["n_paired"]).sum()
    peer_gap = weighted / peer_pairs if peer_pairs else None
    rows.append([
        "Mean gap to the treating rating (WPI points, IME minus treating)",
        f"{int(mine['n_paired']):,} pairs", _number(gap), f"{int(peer_pairs):,} pairs",
        _number(peer_gap),
    ])
    header = ["Rate (not case-mix adjusted)", "Examiner k / n", "Examiner (95% interval)",
              f"Specialty k / n ({human(mine['specialty'])}, this examiner included)",
              "Specialty (95% interval)"]
    return _table(header, rows)


def _volumes(mine: pd.Series) -> str:
    items = [
        ("Exams", "n_exams"), ("followed by a decision", "n_with_decision"),
        ("rated (impairment)", "n_rated"), ("with an MMI opinion", "n_mmi_opinion"),
        ("retained by an insurer or employer", "n_insurer_side"),
        ("retained by the claimant or a neutral", "n_neutral_side"),
        ("with a later ruling", "n_with_ruling"), ("with a treating rating to compare", "n_paired"),
    ]
    rows = [[_escaped(w), _number(int(mine[c]), ",d")] for w, c in items]
    return _table(["Volume", "Exams"], rows)


def _allegiance_sides(figures: pd.DataFrame, examiner_id: str) -> pd.DataFrame:
    mine = figures.loc[[examiner_id]]
    peers = _peers(figures, examiner_id)
    rows = []
    for cohort, frame in (("this examiner", mine), ("peers", peers)):
        for side, k_col, n_col in (
            (human("insurer_or_employer"), "n_adverse_insurer_side", "n_insurer_side"),
            (human("claimant_or_neutral"), "n_adverse_neutral_side", "n_neutral_side"),
        ):
            k, n = int(frame[k_col].sum()), int(frame[n_col].sum())
            ci = wilson_interval(k, n)
            rows.append({"cohort": cohort, "side": side, "k": k, "n": n, "rate": ci.estimate,
                         "ci_low": ci.low, "ci_high": ci.high})
    return pd.DataFrame(rows)


def _examiner_section(data: PanelData, examiner_id: str, review: Review | None = None) -> str:
    mine = data.figures.loc[examiner_id]
    rows = data.flags[data.flags["examiner_id"] == examiner_id].copy()
    rows["order"] = rows["measure"].map({m: i for i, m in enumerate(EXAMINER_MEASURES)})
    rows = rows.sort_values("order")
    name = mine["examiner_name"]
    title = f"Examiner {examiner_id}" + (f" — {name}" if isinstance(name, str) and name else "")
    first, last = (pd.Timestamp(mine[c]).date() for c in ("first_exam_on", "last_exam_on"))
    parts = [
        f'<section class="examiner" id="examiner-{_escaped(examiner_id)}">',
        f"<h2>{_escaped(title)}</h2>",
        f'<p class="meta">Specialty: {_escaped(human(mine["specialty"]))} · '
        f"{int(mine['n_exams']):,} exams in view, {first} to {last} · "
        f"flagged on {int(rows['flagged'].sum())} of {len(rows)} measures</p>",
        "<h3>1. Every measure against peers</h3>",
        _measures_table(rows),
        _chart(forest_chart(rows)),
        f'<p class="note">Ratio: {_escaped(ratio_label(list(rows["measure"])))}. O/E: observed '
        "over the count expected for this examiner's own cases. Bars: 95% interval. "
        "Diamond: the estimate shrunk towards 1 (empirical Bayes), which allows for the volume. "
        "A flag needs q below "
        f"{data.settings.q} on one side (a ratio above 1 or below 1) and at least "
        f"{data.settings.min_volume} exams.</p>",
        "<h3>2. Funnel plots against peers</h3>",
    ]
    for measure in FUNNEL_MEASURES:
        panel = data.flags[data.flags["measure"] == measure]
        if examiner_id in set(panel["examiner_id"]):
            parts.append(_chart(funnel_chart(panel, examiner_id, measure)))
    parts.append(
        '<p class="note">Limits at 95% and 99.8% around 1, widened for the variation between '
        "examiners that case mix does not explain (additive over-dispersion, as the flags use "
        "it). Points outside the limits are candidates; the flag also controls the false "
        "discovery rate across all examiners.</p>"
    )
    sides = _allegiance_sides(data.figures, examiner_id)
    parts += ["<h3>3. Allegiance</h3>", _chart(allegiance_chart(sides))]
    parts.append("<h3>4. Drift over time</h3>")
    chart = data.charts.get(examiner_id)
    if chart is not None and data.drift_threshold is not None:
        path = drift_path(chart, data.drift_threshold, data.settings)
        parts += [
            _chart(drift_chart(path, data.drift_threshold)),
            f'<p class="note">Baseline: the examiner\'s exams up to '
            f"{pd.Timestamp(chart.baseline_end_date).date()}"
            f"; the chart follows the {chart.trials.sum():,} later exams in steps of "
            f"{data.settings.drift_batch_months} months. The threshold gives "
            f"a {data.settings.drift_false_alarm:.0%} chance that any examiner without a change "
            "would signal across the panel.</p>",
        ]
    else:
        parts.append(
            f'<p class="note">No drift chart: it needs at least {2 * data.settings.min_volume} '
            "exams (a baseline and a follow-up).</p>"
        )
    parts += [
        "<h3>5. Other rates against peers</h3>",
        "<p class='note'>The comparison rate is the specialty's pooled rate with this "
        "examiner's own exams included, here and in section 1: the case-mix model that sets "
        "each test's expected count is fitted on every examiner, this one included.</p>",
        _peer_rates(data.figures, examiner_id),
        "<h3>6. Volumes</h3>", _volumes(mine),
        "<h3>7. The method in words</h3>",
        "".join(
            f"<p><b>{_escaped(LABELS.get(m, m))}.</b> {_escaped(MEASURES[m].words)}</p>"
            for m in rows["measure"]
        ),
        f"<p>{_escaped(COMMON_WORDS)}</p>",
        f'<pre class="explain">{_escaped(explain(data.flags, examiner_id, data.settings))}</pre>',
        REVIEW_BEGIN, review_section(review), REVIEW_END,
        "</section>",
    ]
    return "\n".join(parts)


def _frozen_table(figures: pd.DataFrame) -> str:
    rows = [[
        _escaped(r.label), _number(r.n, ",d"), _number(r.observed, ",.0f"), _number(r.expected, ",.1f"),
        _ratio(r), _pct(r.raw_rate),
        f"{_pct(r.peer_rate)} <span class='note'>{_escaped(human(r.peer_group))}</span>",
        _number(r.q_value, ".3g"), "FLAGGED" if r.flagged else "no",
    ] for r in figures.itertuples()]
    header = ["Measure", "Volume", "Observed", "Expected", "Ratio (95% interval)", "Raw rate",
              "Comparison rate (group)", "q", "Flag"]
    return _table(header, rows, row_classes=["flagged" if f else "" for f in figures["flagged"]])


def _date(value: object) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value is not None else "–"


def review_section(review: Review | None) -> str:
    """Section 8: the review's dates, frozen figures and the examiner's reply.

    Without a review, or before a reply, ten blank lines for one; with a reply, its words.
    """
    parts = ["<h3>8. Examiner's reply</h3>"]
    if review is None:
        parts.append('<p class="note">No review of this examiner has been opened. The examiner '
                     "may reply to this report here or on attached pages. The reply is part of "
                     "the record.</p>")
    else:
        parts += [
            _table(["Review", "Value"], text_cols=2, rows=[
                ["Review number", _escaped(review.review_id)],
                ["Status", _escaped(review.status())],
                ["Opened", _escaped(f"{_date(review.opened_at_utc)} by {review.opened_by}")],
                ["Deadline for a reply", _escaped(_date(review.deadline_utc))],
                ["Reply received", _escaped(_date(review.reply.at_utc) + f" ({review.reply.channel})"
                                      if review.reply else "–")],
                ["Closed", _escaped(_date(review.closed_at_utc))],
                ["Figures frozen from snapshot", f"<code>{_escaped(review.snapshot_sha256)}</code>"],
            ]),
            "<p><b>The figures as frozen when the review was opened</b> (a later load does not "
            "change them):</p>",
            _frozen_table(review.figures),
        ]
    if review is not None and review.reply is not None:
        attached = (f'<p class="meta">Attached: {_escaped(review.reply.file_name)}</p>'
                    if review.reply.file_name else "")
        parts += ["<p><b>The examiner's reply</b></p>",
                  f'<div class="reply-text">{_escaped(review.reply.text)}</div>', attached]
    else:
        parts += [
            '<div class="reply">' + '<div class="line"></div>' * 10 + "</div>",
            '<p class="meta">Name: ______________________ Signature: ______________________ '
            "Date: ____________</p>",
        ]
    return "\n".join(parts)


def open_review(
    con: duckdb.DuckDBPyConnection, examiner_id: str, opened_by: str, **options
) -> Review:
    """Open a review of the examiner (access.reviews.open_review), freezing the figures and
    the audit pack of the database `con` reads as it stands now."""
    data = panel_data(con)
    return reviews.open_review(
        con, examiner_id, opened_by, data=data, method_versions=METHOD_VERSIONS,
        build_pack=lambda pending: examiner_report(con, examiner_id, data, review=pending),
        **options,
    )


def review_audit_pack(review: Review, *, path: Path | None = None) -> str:
    """The review's frozen audit pack, its review section brought up to date (reply, dates)."""
    return with_review_section(reviews.frozen_audit_pack(review, path=path), review)


def with_review_section(document: str, review: Review) -> str:
    """A stored report with its review section replaced by the review as it stands now."""
    head, begin, rest = document.partition(REVIEW_BEGIN)
    _, end, tail = rest.partition(REVIEW_END)
    if not begin or not end:
        raise ValueError("not an examiner report with a review section")
    return head + REVIEW_BEGIN + "\n" + review_section(review) + "\n" + REVIEW_END + tail


def _page(title: str, intro: str, sections: list[str], data: PanelData) -> str:
    filters = {
        k: list(v) if isinstance(v, tuple) else str(v)
        for k, v in dataclasses.asdict(data.filters).items() if v not in ((), None)
    }
    provenance = _table(["Item", "Value"], text_cols=2, rows=[
        ["Generated (UTC)", _escaped(data.generated_at_utc)],
        [
            "Data snapshot (sha256 of the database file)",
            f"<code>{_escaped(data.snapshot_sha256)}</code>",
        ],
        ["Filters", _escaped(filters or "none: every exam in the database")],
        ["Flag settings", _escaped(
            f"q < {data.settings.q}, minimum volume {data.settings.min_volume}, "
            f"over-dispersion {data.settings.adjustment}"
        )],
        *([_escaped(k), _escaped(v)] for k, v in METHOD_VERSIONS.items()),
    ])
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_escaped(title)}</title>",
        f"<style>{CSS}</style>",
        # plotly.js inline, once: the file must open without a network.
        f'<script type="text/javascript">{get_plotlyjs()}</script>',
        "</head><body>",
        f"<h1>{_escaped(title)}</h1>",
        f'<p class="meta">Generated {_escaped(data.generated_at_utc)} UTC · data snapshot '
        f"<code>{_escaped(data.snapshot_sha256[:16])}…</code></p>",
        intro,
        "<h2>Provenance</h2>",
        provenance,
        *sections,
        f"<footer>Data snapshot sha256 {_escaped(data.snapshot_sha256)} · generated "
        f"{_escaped(data.generated_at_utc)} UTC · A flag is a reason to look, not a "
        "verdict.</footer>",
        "</body></html>",
    ])


def examiner_report(
    con: duckdb.DuckDBPyConnection, examiner_id: str, data: PanelData | None = None,
    review: Review | None = None,
) -> str:
    """One examiner's audit report as a self-contained HTML document (with `review`, its
    frozen figures, dates and reply in section 8)."""
    data = panel_data(con) if data is None else data
    if examiner_id not in data.figures.index:
        raise KeyError(f"no exams of examiner {examiner_id!r} in view; check the id")
    intro = (
        '<p>This report sets every measure of the examiner against peers of the same specialty, '
        "with intervals and the method in words. It is a reason to look, not a verdict; the "
        "examiner's reply is invited in the last section.</p>"
    )
    section = _examiner_section(data, examiner_id, review)
    return _page(f"Audit report: examiner {examiner_id}", intro, [section], data)


def panel_report(con: duckdb.DuckDBPyConnection, data: PanelData | None = None) -> str:
    """Every flagged examiner: a summary table, then one section per examiner."""
    data = panel_data(con) if data is None else data
    flagged = data.flags[data.flags["flagged"].astype(bool)]
    ids = sorted(flagged["examiner_id"].unique())
    rows = []
    for examiner_id in ids:
        mine = data.figures.loc[examiner_id]
        measures = flagged[flagged["examiner_id"] == examiner_id]
        rows.append([
            f'<a href="#examiner-{_escaped(examiner_id)}">{_escaped(examiner_id)}</a>',
            _escaped(mine["examiner_name"] if isinstance(mine["examiner_name"], str) else ""),
            _escaped(human(mine["specialty"])), _number(int(mine["n_exams"]), ",d"),
            "<br>".join(
                f"{_escaped(LABELS.get(r.measure, r.measure))}: {_ratio(r)}, "
                f"q = {_number(r.q_value, '.3g')}"
                for r in measures.itertuples()
            ),
        ])
    summary = (
        _table(["Examiner", "Name", "Specialty", "Exams", "Flagged measures"], rows, text_cols=3)
        if rows else "<p>No examiner is flagged on any measure under these settings.</p>"
    )
    n_examiners = data.flags["examiner_id"].nunique()
    intro = (
        f"<p>{len(ids)} of {n_examiners} examiners are flagged on at least one measure "
        f"(q below {data.settings.q} after false-discovery-rate control on one side, above "
        f"or below expected, and at least {data.settings.min_volume} exams). A flag is a "
        "reason to look, not a verdict; "
        "each examiner's section ends with room for a reply.</p>"
        "<h2>Flagged examiners</h2>" + summary
    )
    sections = [_examiner_section(data, i, latest(i)) for i in ids]
    return _page("Panel report: flagged examiners", intro, sections, data)


class PdfUnavailable(RuntimeError):
    """The PDF could not be printed (no Chromium, or Chromium failed); the HTML was written.

    ``reason`` says what is missing or what failed; the message adds where the HTML is.
    """

    def __init__(self, reason: str, html_path: Path) -> None:
        super().__init__(
            f"{reason}; the HTML report was written to {html_path} and can be printed from a "
            "browser"
        )
        self.reason = reason


def write_pdf(html_path: Path, pdf_path: Path) -> Path:
    """Print an HTML report to PDF in headless Chromium (Playwright), charts rendered."""
    missing = None
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = "the playwright package (pip install playwright)"
    if missing is None and not Path(CHROMIUM).exists():
        missing = f"Chromium at {CHROMIUM} (apt-get install chromium)"
    if missing:
        raise PdfUnavailable(f"PDF output needs {missing}", html_path)
    pdf_path = Path(pdf_path)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_ARGS)
            )
            try:
                page = browser.new_page()
                page.goto(Path(html_path).resolve().as_uri(), wait_until="load")
                # Every plotly div gets the class js-plotly-plot once drawn.
                page.wait_for_function(
                    "() => [...document.querySelectorAll('.plotly-graph-div')]"
                    ".every(d => d.classList.contains('js-plotly-plot'))",
                    timeout=60_000,
                )
                page.pdf(path=str(pdf_path), format="A4", print_background=True,
                         margin={"top": "14mm", "bottom": "14mm", "left": "12mm",
                                 "right": "12mm"})
            finally:
                browser.close()
    except PlaywrightError as exc:
        pdf_path.unlink(missing_ok=True)
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PdfUnavailable(
            f"Chromium at {CHROMIUM} could not print the PDF ({first_line})", html_path
        ) from exc
    return pdf_path


def write_report(
    con: duckdb.DuckDBPyConnection,
    scope: Scope,
    out: Path,
    *,
    username: str,
    examiner_id: str | None = None,
    pdf: bool = False,
    filters: Filters = DEFAULT_FILTERS,
    settings: FlagSettings = DEFAULT_SETTINGS,
) -> ReportFiles:
    """Write an examiner's report (or, without `examiner_id`, the panel report) and audit it.

    Parameters
    ----------
    con : DuckDBPyConnection
        A connection to a database file (its hash goes into the report).
    scope : Scope
        The reader's scope: only a regulator may generate a report.
    out : Path
        The HTML file; with `pdf`, the PDF goes beside it (same stem, ``.pdf``).
    username : str
        Who generates it, for the audit log.
    examiner_id : str, optional
        The examiner; None for the panel report of every flagged examiner.
    pdf : bool
        Also print the report to PDF in headless Chromium.
    filters, settings
        The view and the flag settings the figures are computed under.

    Returns
    -------
    ReportFiles
        The files written.

    Raises
    ------
    PdfUnavailable
        With `pdf`, when the PDF could not be printed (no Chromium, or it failed). The HTML
        was written by then, and is recorded in the audit log with the reason.
    """
    _check_regulator(scope)
    data = panel_data(con, filters, settings)
    document = (examiner_report(con, examiner_id, data, latest(examiner_id)) if examiner_id
                else panel_report(con, data))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(document, encoding="utf-8")
    tmp.replace(out)
    pdf_path, pdf_error = None, None
    if pdf:
        try:
            pdf_path = write_pdf(out, out.with_suffix(".pdf"))
        except PdfUnavailable as exc:
            pdf_error = exc
    # The HTML is on disk whether or not the PDF could be printed: the log says so either way.
    audit.record("export", username, scope, {
        "table": "audit_report" if examiner_id else "panel_report",
        "examiner_id": examiner_id,
        "file": str(out.resolve()),
        "pdf": str(pdf_path.resolve()) if pdf_path else None,
        **({"pdf_error": str(pdf_error)} if pdf_error else {}),
        "snapshot_sha256": data.snapshot_sha256,
    })
    if pdf_error:
        raise pdf_error
    return ReportFiles(out, pdf_path)
