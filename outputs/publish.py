"""`ime publish --out DIR`: the static public site (SPEC sections 3 and 4).

Plain HTML files that open from disk without a server or a network (no script, no font, no
image, no link outside the folder), and beside them the CSV of every table they show:

- ``index.html``: market figures (outcome rates, time to MMI, impairment distribution) with
  95% intervals, and the examiners whose review has ended;
- ``examiner-<id>.html``: for each examiner whose review is closed or expired, the measures
  frozen when the review was opened, against peers, with intervals, the flags in words, the
  method, and the examiner's reply beside the figures;
- ``methods.html``: the methods and the data the figures cover;
- ``tables/*.csv``: each table as shown.

Examiners under open review, or never reviewed, are not named anywhere. Counts follow the
researcher's disclosure rules (access.roles): counts from 1 to 10 suppressed (with any rate
built on them and complementary cells), every count shown rounded to a multiple of 11, whole
calendar years, no claimant data. Every page says which snapshot it was generated from.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from access import audit, reviews
from access.roles import for_role
from imestats.suppression import DEFAULT_K
from measures.engine import COMMON_WORDS
from measures.labels import human
from measures.registry import EXAMINER_MEASURES, MEASURES, ratio_label
from outputs.files import neutralise_formulas, snapshot_hash
from outputs.paths import file_in, safe_file_stem
from outputs.tables import METHOD_VERSIONS, database_file, present
from queries import Scope

# The public sees what a researcher may export: suppressed, rounded, whole years.
PUBLIC = Scope("researcher")
VERDICT = "A flag is a reason to look, not a verdict."
TABLES_DIR = "tables"
CSS = """
body { font-family: Arial, Helvetica, sans-serif; font-size: 14px; color: #111;
       max-width: 1240px; margin: 24px auto; padding: 0 12px; line-height: 1.45; }
nav a { margin-right: 14px; } h1 { font-size: 24px; } h2 { font-size: 19px;
  border-bottom: 2px solid #0072B2; padding-bottom: 3px; margin-top: 30px; }
table { border-collapse: collapse; margin: 6px 0 4px; font-size: 12.5px; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: right; vertical-align: top; }
th { background: #eef3f8; } td.text, th.text { text-align: left; }
tr.flagged td { background: #fbe9e0; font-weight: 600; }
.generated { color: #444; font-size: 12px; } .note { color: #444; font-size: 12.5px; }
.side { display: flex; gap: 20px; align-items: flex-start; flex-wrap: wrap; }
.side .figures { flex: 3 1 640px; min-width: 0; overflow-x: auto; }
.side .answer { flex: 1 1 280px; min-width: 0; }
.reply { white-space: pre-wrap; border: 1px solid #333; padding: 10px; background: #fafafa; }
.verdict { font-weight: 600; }
"""


@dataclass
class Site:
    """What a publication wrote: page and table files, and the examiners it names."""

    out: Path
    snapshot_sha256: str
    generated_on: str
    pages: list[Path] = field(default_factory=list)
    tables: list[Path] = field(default_factory=list)
    named: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Shown:
    """A table as the site shows it: its columns (header words) and its CSV file."""

    frame: pd.DataFrame
    headers: dict[str, str]
    csv_name: str
    text_cols: tuple[str, ...] = ()


def _e(value: object) -> str:
    return html.escape(str(value))


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return "–"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return _e(value)


def _write_table(site: Site, shown: Shown) -> str:
    """Write the table's CSV (formulas neutralised) and return its HTML with a link to it."""
    frame = shown.frame[list(shown.headers)].reset_index(drop=True)
    path = file_in(site.out / TABLES_DIR, shown.csv_name)
    # Values come from the data: none may reach a spreadsheet as a live formula.
    neutralise_formulas(frame).to_csv(path, index=False)
    site.tables.append(path)
    text = [c in shown.text_cols for c in shown.headers]
    head = "".join(
        f'<th{" class=text" if text[i] else ""}>{_e(h)}</th>'
        for i, h in enumerate(shown.headers.values())
    )
    rows = []
    flagged = (frame["flag"].astype(str).str.startswith("flagged") if "flag" in frame.columns
               else pd.Series(False, frame.index))
    for i, row in frame.iterrows():
        cells = "".join(
            f'<td{" class=text" if text[j] else ""}>{_cell(v)}</td>'
            for j, v in enumerate(row.tolist())
        )
        rows.append(f'<tr{" class=flagged" if flagged.iloc[i] else ""}>{cells}</tr>')
    return (f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            f'<p class="note">This table as CSV: <a href="{TABLES_DIR}/{_e(shown.csv_name)}">'
            f"{_e(shown.csv_name)}</a></p>")


def _page(site: Site, title: str, body: list[str]) -> str:
    generated = (f'<p class="generated">Generated from snapshot <code>{_e(site.snapshot_sha256)}'
                 f"</code> on {_e(site.generated_on)}.</p>")
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        # No request leaves the page: nothing is loaded from anywhere, not even this folder.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'\">",
        f"<title>{_e(title)}</title>", f"<style>{CSS}</style>", "</head><body>",
        '<nav><a href="index.html">Market figures</a><a href="methods.html">Methods and data '
        "coverage</a></nav>",
        f"<h1>{_e(title)}</h1>", generated, *body,
        f'<footer><p class="verdict">{VERDICT}</p>{generated}</footer>', "</body></html>",
    ])


def _save(site: Site, name: str, document: str) -> None:
    path = file_in(site.out, name)
    path.write_text(document, encoding="utf-8")
    site.pages.append(path)


# --- market figures --------------------------------------------------------------------------

RATES = (("adverse", "Adverse opinion"), ("not_related", "Condition found not related"),
         ("no_treatment", "No further treatment"), ("full_duty", "Full duty"),
         ("zero_wpi", "Zero impairment (0% WPI)"), ("denial", "Denial after the exam"),
         ("partial_denial", "Partial denial after the exam"))
RATE_COUNTS = {"adverse": ("n_adverse", "n_exams"), "not_related": ("n_not_related", "n_causation"),
               "no_treatment": ("n_no_treatment", "n_treatment_opinion"),
               "full_duty": ("n_full_duty", "n_capacity_opinion"),
               "zero_wpi": ("n_zero_wpi", "n_rated"), "denial": ("n_denied", "n_with_decision"),
               "partial_denial": ("n_partially_denied", "n_with_decision")}


def _outcome_rates(con: duckdb.DuckDBPyConnection) -> Shown:
    """Every outcome rate over the whole market: the total row of the researcher's table."""
    table = present(con, "insurer_rates", PUBLIC).display
    total = table.iloc[-1]
    rows = [{
        "outcome": words, "n_outcome": total[RATE_COUNTS[name][0]],
        "n_exams_asked": total[RATE_COUNTS[name][1]], "rate": total[f"{name}_rate"],
        "ci_low": total[f"{name}_rate_ci_low"], "ci_high": total[f"{name}_rate_ci_high"],
    } for name, words in RATES]
    headers = {"outcome": "Outcome", "n_outcome": "Exams with the outcome",
               "n_exams_asked": "Exams that could have it", "rate": "Rate",
               "ci_low": "95% low", "ci_high": "95% high"}
    return Shown(pd.DataFrame(rows), headers, "market-outcome-rates.csv", ("outcome",))


def _mmi(con: duckdb.DuckDBPyConnection) -> Shown:
    table = present(con, "mmi_summary", PUBLIC).display
    headers = {"grouping": "Grouping", "group": "Group", "n_exams": "Exams",
               "n_mmi_reached": "MMI reached", "median_days_to_mmi": "Median days to MMI",
               "median_ci_low": "95% low", "median_ci_high": "95% high",
               "logrank_p": "Log-rank p"}
    return Shown(table, headers, "market-time-to-mmi.csv", ("grouping", "group"))


def _impairment(con: duckdb.DuckDBPyConnection) -> Shown:
    table = present(con, "impairment_distribution", PUBLIC).display
    headers = {"body_part": "Body part", "guides_edition": "Guides edition",
               "n_rated": "Rated exams", "n_wpi_zero": "0%", "n_wpi_over_0_to_5": "over 0 to 5%",
               "n_wpi_over_5_to_10": "over 5 to 10%", "n_wpi_over_10_to_20": "over 10 to 20%",
               "n_wpi_over_20": "over 20%", "zero_wpi_rate": "Share at 0%",
               "zero_wpi_rate_ci_low": "95% low", "zero_wpi_rate_ci_high": "95% high",
               "wpi_median": "Median WPI %"}
    return Shown(table, headers, "market-impairment-distribution.csv",
                 ("body_part", "guides_edition"))


def _coverage(con: duckdb.DuckDBPyConnection) -> Shown:
    """Exams per calendar year, under the same rules as every other count."""
    years = con.execute(
        "SELECT CAST(year(exam_date) AS VARCHAR) AS year, count(*) AS n_exams, "
        "CAST(min(exam_date) AS VARCHAR) AS first_exam, CAST(max(exam_date) AS VARCHAR) "
        "AS last_exam FROM fct_exams GROUP BY 1 ORDER BY 1"
    ).df()
    total = pd.DataFrame({"year": ["all years"], "n_exams": [years["n_exams"].sum()],
                          "first_exam": [years["first_exam"].min()],
                          "last_exam": [years["last_exam"].max()]})
    frame = pd.concat([years, total], ignore_index=True)
    frame.index = frame["year"]
    shown = for_role(frame, PUBLIC, count_cols=["n_exams"], id_columns=(),
                     margins=[("all years", list(years["year"]))]).display
    headers = {"year": "Calendar year of the exam", "n_exams": "Exams",
               "first_exam": "First exam", "last_exam": "Last exam"}
    return Shown(shown, headers, "data-coverage.csv", ("year", "first_exam", "last_exam"))


# --- one examiner ------------------------------------------------------------------------------

def _flag_words(row: pd.Series) -> str:
    if not bool(row.get("eligible", True)):
        return "not flagged: below the minimum volume"
    if not bool(row["flagged"]):
        return "not flagged"
    # The measure's own words for the side, as neutral one way as the other (a low allegiance
    # finding favours the claimant, which "lower than expected" did not say).
    measure = MEASURES[row["measure"]]
    return f"flagged: {measure.low_means if row.get('direction') == 'low' else measure.high_means}"


EXAMINER_COLUMNS = ("label", "n", "observed", "expected", "ratio", "ci_low", "ci_high",
                    "raw_rate", "peer_rate", "peer_group", "flag")


def _examiner_table(review: reviews.Review) -> Shown:
    """The frozen figures under the public rules: counts below 11 suppressed, with the
    ratios and rates built on them; counts rounded to multiples of 11."""
    figures = review.figures.copy()
    figures["flag"] = figures.apply(_flag_words, axis=1)
    # The peers' pooled rate rests on the counts of every peer, not on this table's: shown as
    # words (a percentage to one decimal), outside the suppression of this examiner's counts.
    figures["peer_rate"] = figures["peer_rate"].map(
        lambda r: "–" if pd.isna(r) else f"{100 * r:.1f}%")
    figures.index = figures["measure"]
    shown = for_role(
        figures[list(EXAMINER_COLUMNS)], PUBLIC, count_cols=["n", "observed"], id_columns=(),
        derived={"expected": ["n"], "ratio": ["observed"], "ci_low": ["observed"],
                 "ci_high": ["observed"], "raw_rate": ["observed", "n"]},
        # No relation between the columns: `observed` is not a part of `n` for every measure
        # (allegiance, drift), and every figure that could give a suppressed count back (the
        # ratio, its interval, the rate) is suppressed with it.
    ).display
    # As the comparison rate beside it: a percentage (of 2 significant figures, as suppressed).
    shown["raw_rate"] = shown["raw_rate"].map(
        lambda r: r if isinstance(r, str) else f"{100 * r:.2g}%")
    shown["peer_group"] = shown["peer_group"].map(human)
    headers = {"label": "Measure", "n": "Volume", "observed": "Observed",
               "expected": "Expected", "ratio": "Ratio", "ci_low": "95% low",
               "ci_high": "95% high", "raw_rate": "Examiner's rate",
               "peer_rate": "Comparison rate", "peer_group": "Comparison group",
               "flag": "Flag in words"}
    return Shown(shown, headers, f"examiner-{safe_file_stem(review.examiner_id)}.csv",
                 ("label", "peer_group", "flag"))


def _examiner_page(site: Site, review: reviews.Review) -> str:
    name = review.examiner_id + (f" — {review.examiner_name}" if review.examiner_name else "")
    ended = (f"closed on {review.closed_at_utc:%Y-%m-%d}" if review.closed_at_utc
             else f"expired on {review.deadline_utc:%Y-%m-%d} without a close")
    reply = review.reply
    reply_html = (
        f'<p class="note">Received {reply.at_utc:%Y-%m-%d}.</p>'
        f'<div class="reply">{_e(reply.text)}</div>' if reply
        else "<p>The examiner did not reply by the deadline.</p>"
    )
    method = "".join(
        f"<p><b>{_e(r.label)}.</b> {_e(r.words)}</p>" for r in review.figures.itertuples()
    )
    body = [
        f'<p>Specialty: {_e(human(review.specialty) if review.specialty else "–")}. '
        "Review opened on "
        f"{review.opened_at_utc:%Y-%m-%d}, reply due {review.deadline_utc:%Y-%m-%d}, "
        f"{ended}. The figures are those frozen when the review was opened (from snapshot "
        f"<code>{_e(review.snapshot_sha256)}</code>), the figures the examiner was shown and "
        "replied to.</p>",
        f'<p class="verdict">{VERDICT}</p>',
        '<div class="side"><div class="figures"><h2>Measures against peers</h2>',
        _write_table(site, _examiner_table(review)),
        f'<p class="note">Ratio: {_e(ratio_label(list(review.figures["measure"])))}; 1 is no '
        "difference (for observed / expected, what an average examiner of the same specialty "
        "would give for these cases); the interval is 95%. \"suppressed\": a count "
        f"from 1 to {DEFAULT_K - 1}, or a figure built on one, is not published.</p>",
        '</div><div class="answer"><h2>The examiner\'s reply</h2>', reply_html, "</div></div>",
        "<h2>The method in words</h2>", method, f"<p>{_e(COMMON_WORDS)}</p>",
    ]
    return _page(site, f"Examiner {name}", body)


# --- the site ------------------------------------------------------------------------------------

def publish(con: duckdb.DuckDBPyConnection, out: Path, *, username: str) -> Site:
    """Write the public site to `out` (created if needed) and record it in the audit log."""
    out = Path(out)
    (out / TABLES_DIR).mkdir(parents=True, exist_ok=True)
    site = Site(out, snapshot_hash(database_file(con)), audit.utc_now().strftime("%Y-%m-%d"))
    # An examiner is named by their newest review, once it has ended: a review opened since
    # the last one ended takes the name off the site until it ends too.
    newest = {r.examiner_id: r for r in reviews.reviews()}
    named = sorted((r for r in newest.values() if r.ended()), key=lambda r: r.examiner_id)
    links = []
    for review in named:
        page = f"examiner-{safe_file_stem(review.examiner_id)}.html"
        _save(site, page, _examiner_page(site, review))
        site.named.append(review.examiner_id)
        links.append(f'<li><a href="{_e(page)}">{_e(review.examiner_id)}'
                     f'{" — " + _e(review.examiner_name) if review.examiner_name else ""}</a>'
                     f'{" (with the examiner&#39;s reply)" if review.reply else ""}</li>')
    index = [
        "<p>Outcomes of independent medical examinations over every insurer. Rates carry 95% "
        "Wilson intervals; counts from 1 to 10 are suppressed and every count is rounded to a "
        f"multiple of {DEFAULT_K}, so that no published figure points to a person.</p>",
        f'<p class="verdict">{VERDICT}</p>',
        "<h2>Outcome rates</h2>", _write_table(site, _outcome_rates(con)),
        "<h2>Time to maximum medical improvement</h2>",
        '<p class="note">Kaplan-Meier median days from injury to MMI, exams without MMI '
        "counted until the exam date; the interval is Brookmeyer-Crowley's.</p>",
        _write_table(site, _mmi(con)),
        "<h2>Impairment ratings</h2>", _write_table(site, _impairment(con)),
        "<h2>Examiners</h2>",
        "<p>An examiner is named here only after a review: the regulator froze their figures, "
        "gave them time to reply, and closed the review or let its deadline pass. Examiners "
        "under review, or never reviewed, are not named.</p>",
        f"<ul>{''.join(links)}</ul>" if links else "<p>No review has ended yet.</p>",
    ]
    _save(site, "index.html", _page(site, "IME outcomes: public figures", index))
    methods = [
        "<h2>The measures</h2>",
        "".join(f"<p><b>{_e(MEASURES[m].label)}.</b> {_e(MEASURES[m].words)}</p>"
                for m in EXAMINER_MEASURES),
        f"<p>{_e(COMMON_WORDS)}</p>",
        "<h2>Disclosure rules</h2>",
        f"<p>Counts from 1 to {DEFAULT_K - 1} are suppressed (shown as \"suppressed\"), with "
        "every rate, interval or ratio built on them and any cell from which one could be "
        f"recovered; every other count is rounded to the nearest multiple of {DEFAULT_K}, and "
        "rates are computed from the rounded counts; other figures are rounded to 2 "
        "significant figures. Periods are whole calendar years. No claimant data is "
        "published.</p>",
        "<h2>Method versions</h2>",
        "<table><tbody>" + "".join(
            f"<tr><td class=text>{_e(k)}</td><td class=text>{_e(v)}</td></tr>"
            for k, v in METHOD_VERSIONS.items()) + "</tbody></table>",
        "<h2>Data coverage</h2>", _write_table(site, _coverage(con)),
    ]
    _save(site, "methods.html", _page(site, "Methods and data coverage", methods))
    audit.record("published", username, None, {
        "out": str(out.resolve()), "snapshot_sha256": site.snapshot_sha256,
        "examiners_named": site.named, "pages": len(site.pages), "tables": len(site.tables),
    })
    return site
