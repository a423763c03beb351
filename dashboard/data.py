"""The dashboard's only way to the database: a cached connection and cached report queries.

A load builds a new database file and renames it over the old one. The dashboard notices
by the file's *snapshot* identity (inode, modification time, size): the shared connection
is then closed, once the queries running on it have finished, and the new file opened.
Closing first matters: DuckDB hands a new connect() to a path the database instance that
is already open for that path, which would still be the replaced file. Query results are
cached per snapshot, scope, filters and parameters, so a new load never serves stale
figures.

Many sessions read at once (one thread each). Each reader gets a cursor of its own on the
shared connection: DuckDB runs the queries of different cursors in parallel, while two
threads calling one connection object wait for each other. Cached results are shared by
every session, and Streamlit computes a missing one once: a session asking for a result
another session is computing waits for it rather than computing it again.

The access scope is decided here, in one place (`current_scope`), and passed to every
query; no page builds its own.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import astuple, dataclass, fields
from pathlib import Path

import duckdb
import pandas as pd
import streamlit as st

from dashboard import signin
from ime.config import database_path
from queries import Filters, Scope, connect, run

# Results stay cached for an hour at most; a new load changes the key anyway.
RESULT_TTL_SECONDS = 3600
RESULT_MAX_ENTRIES = 512

# Bookkeeping reports (loads, quarantine, contracts) describe every source row, whoever it
# belongs to: only a reader with the regulator role may see them.
BOOKKEEPING_PREFIX = "dq_"

CREATE_HINT = (
    "Create a demo database with `ime demo` then `ime load data/demo`, "
    "or load your own files with `ime load PATH`."
)


class NoDatabase(RuntimeError):
    """There is no database file at the configured path yet."""


@dataclass(frozen=True)
class Snapshot:
    """Identity of the database file as it is now; a load that swaps the file changes it."""

    path: str
    inode: int
    mtime_ns: int
    size: int


def db_path() -> Path:
    """$IME_DB, else data/ime.duckdb (read at every rerun, so tests can point elsewhere)."""
    return database_path()


def snapshot(path: Path | None = None) -> Snapshot | None:
    """The current snapshot of `path` (default: the configured database), None if absent."""
    path = path or db_path()
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return Snapshot(str(path.resolve()), stat.st_ino, stat.st_mtime_ns, stat.st_size)


def current_scope() -> Scope:
    """Who is reading: the signed-in user's scope (full access in demo mode)."""
    return signin.scope()


def current_username() -> str:
    """Who is signed in, for the audit log ("demo" in demo mode)."""
    return signin.username()


# Researchers see aggregates only, and only suppressed: the Exports page serves them through
# access.roles; the other pages show unsuppressed counts and examiner-level figures.
RESEARCHER_PAGES = ("exports", "methods")


def researcher_may_open(url_path: str) -> bool:
    """False for a researcher on a page that is not theirs."""
    return current_scope().role != "researcher" or url_path in RESEARCHER_PAGES


class SharedConnection:
    """One read-only connection per database path, reopened when a load replaces the file.

    Each reader gets a cursor of its own for the duration of its work, so readers never wait
    for each other; a reopen waits until no reader is left, so a new load never breaks a
    query that is running.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cond = threading.Condition()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._snap: Snapshot | None = None
        self._active = 0

    @contextmanager
    def reading(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor of the current snapshot's connection, closed when the reader is done."""
        with self._cond:
            while True:
                snap = snapshot(self.path)
                if snap is None:
                    raise NoDatabase(f"No database at {self.path}. {CREATE_HINT}")
                if snap == self._snap:
                    break
                if self._active == 0:
                    self.close()
                    self._con = connect(Path(snap.path))
                    self._snap = snap
                    break
                self._cond.wait(timeout=1.0)
            self._active += 1
            con = self._con
        try:
            # Not the connection itself: calls on one connection object wait for each other
            # (DuckDB serialises them), those on distinct cursors run in parallel.
            cursor = con.cursor()
            try:
                yield cursor
            finally:
                cursor.close()
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify_all()

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
        self._con = None
        self._snap = None


def _release(shared: SharedConnection) -> None:
    with shared._cond:
        shared.close()


@st.cache_resource(max_entries=4, on_release=_release, show_spinner=False)
def _shared(path: str) -> SharedConnection:
    return SharedConnection(Path(path))


def connection() -> SharedConnection:
    """The shared connection to the configured database."""
    return _shared(str(db_path().resolve()))


def require_snapshot() -> Snapshot:
    """The current snapshot; raises NoDatabase (with how to create one) when there is none."""
    snap = snapshot()
    if snap is None:
        raise NoDatabase(f"No database at {db_path()}. {CREATE_HINT}")
    return snap


def _filters_key(filters: Filters) -> tuple:
    return astuple(filters)


def view_key(filters: Filters) -> tuple:
    """What decides every figure of the reader's view: the snapshot, the whole scope (role,
    insurers, examiner) and the filters.

    A page caches what it computes from the view's cached results under this key, so that
    every session showing the same view shares one computation, and a load never serves stale
    figures.
    """
    scope = current_scope()
    return (require_snapshot(), astuple(scope), _filters_key(filters))


def _filters_from_key(key: tuple) -> Filters:
    return Filters(*key)


@st.cache_data(ttl=RESULT_TTL_SECONDS, max_entries=RESULT_MAX_ENTRIES, show_spinner=False)
def _cached_run(
    snap: Snapshot, scope_key: tuple, filters_key: tuple, name: str, params_key: tuple
) -> pd.DataFrame:
    scope = Scope(scope_key[0], tuple(scope_key[1]))
    with connection().reading() as con:
        return run(con, name, scope, _filters_from_key(filters_key), **dict(params_key))


def can_see_bookkeeping() -> bool:
    """Whether the reader may see load bookkeeping (loads, quarantine, contract checks)."""
    return current_scope().role == "regulator"


def query(name: str, filters: Filters | None = None, **params: object) -> pd.DataFrame:
    """Run report query `name` for the current reader under `filters`, cached per snapshot."""
    scope = current_scope()
    if name.startswith(BOOKKEEPING_PREFIX) and not can_see_bookkeeping():
        raise PermissionError(f"{name}: load bookkeeping is shown to regulators only")
    snap = require_snapshot()
    return _cached_run(
        snap,
        (scope.role, scope.insurer_ids),
        _filters_key(filters or Filters()),
        name,
        tuple(sorted(params.items())),
    )


@st.cache_data(ttl=RESULT_TTL_SECONDS, max_entries=64, show_spinner=False)
def _cached_filter_options(snap: Snapshot, scope_key: tuple) -> dict[str, list[str]]:
    values = _cached_run(snap, scope_key, _filters_key(Filters()), "filter_values", ())
    names = [f.name for f in fields(Filters) if f.name not in ("start", "end")]
    out: dict[str, list[str]] = {name: [] for name in names}
    for name, group in values.groupby("filter", sort=False):
        out[str(name)] = group.sort_values("value")["value"].astype(str).tolist()
    return out


def filter_options() -> dict[str, list[str]]:
    """Values each sidebar filter can take in the data the reader may see, sorted.

    Every page load draws the sidebar: the lists are cached per snapshot and scope, not
    rebuilt from the query's rows each time.
    """
    scope = current_scope()
    return _cached_filter_options(require_snapshot(), (scope.role, scope.insurer_ids))


def exam_window() -> tuple[object, object]:
    """First and last exam date the reader may see (None, None when there are no exams)."""
    row = query("exam_window").iloc[0]
    if row["n_exams"] == 0:
        return None, None
    return row["first_exam_on"].date(), row["last_exam_on"].date()


@dataclass(frozen=True)
class FlagsResult:
    """The flags engine's table, or the reason it could not compute one for this view."""

    table: pd.DataFrame | None
    error: str | None = None


@st.cache_data(ttl=RESULT_TTL_SECONDS, max_entries=64, show_spinner="Computing flags…")
def _cached_flags(snap: Snapshot, scope_key: tuple, filters_key: tuple) -> FlagsResult:
    from measures.engine import flags_for_view

    scope = Scope(scope_key[0], tuple(scope_key[1]))
    filters = _filters_from_key(filters_key)
    try:
        with connection().reading() as con:
            return FlagsResult(flags_for_view(con, scope, filters))
    except Exception as exc:  # noqa: BLE001 - a failing engine must not take the page down
        # Deterministic for a snapshot and filters, so the failure is cached like a result.
        return FlagsResult(None, f"{type(exc).__name__}: {exc}")


def flags(filters: Filters) -> FlagsResult:
    """Examiner flags from the measure engine for these filters."""
    scope = current_scope()
    return _cached_flags(require_snapshot(), (scope.role, scope.insurer_ids), _filters_key(filters))


# ---------------------------------------------------------------------------------------------
# Examiner-level data: every read the Examiners and Examiner profile pages make goes through
# the functions below, so that who may see which examiner is decided here.
# ---------------------------------------------------------------------------------------------

_LAST_VIEWED = "audit_last_viewed_examiner"


def examiners(filters: Filters) -> pd.DataFrame:
    """Examiners in view: examiner_id, specialty, n_exams, n_rated, n_zero_wpi."""
    return query("examiner_volumes", filters)


def examiner_names() -> pd.Series:
    """Examiner names by id for a reader who may see them (access.roles.may_see_names), else
    an empty series. Unfiltered, so that a picker's labels stay the same whatever the filters."""
    from access.roles import may_see_names

    if not may_see_names(current_scope()):
        return pd.Series(dtype="string", name="examiner_name")
    names = query("examiner_names", Filters())
    return names.set_index("examiner_id")["examiner_name"]


def flag_history(examiner_id: str | None = None) -> pd.DataFrame:
    """The flags each stored load computed (measures.engine.flag_history's query), oldest
    first; for a regulator only (the Overview and profile sections check the role).

    Cached per snapshot like every report: the regulator's Overview and each profile read it
    on every run, and only a load changes it.
    """
    return query("flag_history", examiner_id=examiner_id)


def flag_changes() -> pd.DataFrame:
    """The flags raised and cleared between the two latest loads (measures.engine.flag_changes'
    query, cached per snapshot; regulators only)."""
    return query("flag_changes")


def examiner_requesters(filters: Filters, examiner_id: str) -> pd.DataFrame:
    """Adverse opinions by requester for the examiner and same-specialty peers."""
    return query("examiner_adverse_by_requester", filters, examiner_id=examiner_id)


def examiner_insurers(filters: Filters) -> pd.DataFrame:
    """Exams per examiner and insurer (referral dependence)."""
    return query("examiner_insurer_counts", filters)


def causation_pairs(filters: Filters, examiner_id: str | None) -> pd.DataFrame:
    """Causation opinions of two examiners on the same case, counted per pair of opinions.

    One of the two is `examiner_id`; None: every pair of examiners.
    """
    return query("causation_pair_counts", filters, examiner_id=examiner_id)


def examiner_treating_pairs(filters: Filters, examiner_id: str) -> pd.DataFrame:
    """The examiner's WPI ratings beside treating ratings of the same case, as counts."""
    return query(
        "rating_pair_counts", filters, examiner_id=examiner_id, body_part=None, guides_edition=None
    )


def examiner_rulings(filters: Filters) -> pd.DataFrame:
    """Later rulings on each examiner's reports (rejected, reversed) with volumes."""
    return query("examiner_rulings", filters)


@dataclass(frozen=True)
class DriftChart:
    """One examiner's drift (CUSUM) input (None below the volume a chart needs), or why not."""

    chart: object | None
    error: str | None = None


@st.cache_data(
    ttl=RESULT_TTL_SECONDS, max_entries=64, show_spinner="Computing the drift chart…"
)
def _cached_drift_chart(
    snap: Snapshot, scope_key: tuple, filters_key: tuple, examiner_id: str
) -> DriftChart:
    from measures import drift
    from measures.base import DEFAULT_SETTINGS, View

    scope = Scope(scope_key[0], tuple(scope_key[1]))
    filters = _filters_from_key(filters_key)
    try:
        with connection().reading() as con:
            charts = drift.drift_charts(View(con, scope, filters), DEFAULT_SETTINGS, examiner_id)
        return DriftChart(charts[0] if charts else None)
    except Exception as exc:  # noqa: BLE001 - as for the flags: say why, keep the page
        return DriftChart(None, f"{type(exc).__name__}: {exc}")


def examiner_drift(filters: Filters, examiner_id: str, threshold: float) -> pd.DataFrame | None:
    """The examiner's CUSUM over time (measures.drift.drift_path); None without a drift chart.

    Raises RuntimeError with the reason when the chart could not be computed.
    """
    from measures.drift import drift_path

    scope = current_scope()
    result = _cached_drift_chart(
        require_snapshot(), (scope.role, scope.insurer_ids), _filters_key(filters), examiner_id
    )
    if result.error:
        raise RuntimeError(result.error)
    return None if result.chart is None else drift_path(result.chart, threshold)


def examiner_viewed(examiner_id: str) -> None:
    """Record in the audit log that the reader is shown this examiner's profile.

    The profile page calls this for every examiner it shows; a rerun showing the same examiner
    to the same reader again (a filter change, a click elsewhere on the page) is not a new view.
    """
    from access import audit

    username, scope = current_username(), current_scope()
    key = (username, scope.role, scope.insurer_ids, examiner_id)
    if st.session_state.get(_LAST_VIEWED) == key:
        return
    audit.record("view_examiner", username, scope, {"examiner_id": examiner_id})
    st.session_state[_LAST_VIEWED] = key


@st.cache_data(
    ttl=RESULT_TTL_SECONDS, max_entries=8, show_spinner="Computing the decision-count flags…"
)
def _cached_decision_flags(snap: Snapshot, scope_key: tuple) -> FlagsResult:
    from measures.engine import compute_flags

    scope = Scope(scope_key[0], tuple(scope_key[1]))
    try:
        with connection().reading() as con:
            stored = run(con, "stored_flags", scope)
            rows = stored[stored["measure"] == "decision_counts"]
            if rows.empty:
                rows = compute_flags(con, scope, Filters(), measures=("decision_counts",))
        return FlagsResult(rows.reset_index(drop=True))
    except Exception as exc:  # noqa: BLE001 - a failing engine must not take the page down
        return FlagsResult(None, f"{type(exc).__name__}: {exc}")


def decision_count_flags() -> FlagsResult:
    """Flags of the published decision counts (every source), stored at load or computed.

    Published counts carry no case features, so the sidebar filters never apply to them.
    """
    scope = current_scope()
    return _cached_decision_flags(require_snapshot(), (scope.role, scope.insurer_ids))


@st.cache_data(ttl=RESULT_TTL_SECONDS, max_entries=64, show_spinner="Preparing the table…")
def _cached_export_preview(
    snap: Snapshot, scope_key: tuple, what: str, filters_key: tuple, by: tuple = ()
) -> pd.DataFrame:
    from outputs.tables import present

    scope = Scope(scope_key[0], tuple(scope_key[1]))
    with connection().reading() as con:
        return present(con, what, scope, _filters_from_key(filters_key), by=by).display


def export_preview(what: str, filters: Filters, by: tuple[str, ...] = ()) -> pd.DataFrame:
    """An export table as the reader's role may take it away (suppressed where it must be);
    `by`: the cross-tab's two features."""
    scope = current_scope()
    scope_key = (scope.role, scope.insurer_ids)
    return _cached_export_preview(
        require_snapshot(), scope_key, what, _filters_key(filters), tuple(by)
    )


def export_dictionary(what: str, by: tuple[str, ...] = ()) -> pd.DataFrame:
    """The data dictionary of an export table."""
    from outputs.tables import table_for

    items = table_for(what, by).dictionary.items()
    return pd.DataFrame(list(items), columns=["column", "description"])


def export_zip(
    what: str, fmt: str, filters: Filters, by: tuple[str, ...] = ()
) -> tuple[str, bytes]:
    """Write an export (table, dictionary, metadata; audited) and return it as a zip file."""
    import io
    import json
    import tempfile
    import zipfile

    from outputs import provenance
    from outputs.paths import file_in
    from outputs.tables import export

    with tempfile.TemporaryDirectory() as tmp, connection().reading() as con:
        files = export(
            con, what, current_scope(), file_in(Path(tmp), f"{what}.{fmt}"), fmt,
            username=current_username(), filters=filters, by=by,
        )
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in (files.data, files.dictionary, files.metadata):
                archive.write(path, path.name)
            # The methods, coverage, source, citation and "synthetic" travel with the table.
            metadata = json.loads(files.metadata.read_text(encoding="utf-8"))
            archive.writestr("README.md", provenance.readme(metadata))
            archive.write(provenance.METHODS_DOCUMENT, "methods.md")
    return f"{what}.zip", buffer.getvalue()


@dataclass(frozen=True)
class AuditPack:
    """The audit pack to download; `note` says why the PDF is missing, when it is."""

    name: str
    payload: bytes
    note: str | None = None


def audit_pack(examiner_id: str, filters: Filters) -> AuditPack:
    """One examiner's audit report as HTML and PDF in a zip (regulators; audited); the HTML
    alone, with a note saying why, when the PDF cannot be printed (no Chromium)."""
    import io
    import tempfile
    import zipfile

    from outputs.paths import file_in, safe_file_stem
    from outputs.report import PdfUnavailable, write_report

    # The id is data: it names the files only through safe_file_stem, never a folder.
    stem = safe_file_stem(examiner_id)
    with tempfile.TemporaryDirectory() as tmp, connection().reading() as con:
        html_path = file_in(Path(tmp), f"examiner-{stem}.html")
        note = None
        try:
            write_report(con, current_scope(), html_path, username=current_username(),
                         examiner_id=examiner_id, pdf=True, filters=filters)
        except PdfUnavailable as exc:
            note = f"The pack holds the HTML report only: {exc.reason} on the server."
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in (html_path, html_path.with_suffix(".pdf")):
                if path.exists():
                    archive.write(path, path.name)
    return AuditPack(f"audit-pack-{stem}.zip", buffer.getvalue(), note)


def audit_entries(event: str | None) -> pd.DataFrame:
    """The newest audit entries (regulators only: the page checks the role)."""
    from access import audit

    return audit.read(500, event=event)


# ---------------------------------------------------------------------------------------------
# Examiner reviews (access.reviews) and the examiner role. An examiner's figures are read only
# here, for the examiner id of the signed-in user (never a page's or a URL's choice), and
# returned without any other examiner's id or name, insurer or claimant.
# ---------------------------------------------------------------------------------------------

# What the examiner sees of each measure: its own figures and the comparison group's rate
# (the measure's code names its ratio: O/E, or allegiance's odds ratio).
OWN_PROFILE_COLUMNS = (
    "measure", "label", "n", "observed", "expected", "ratio", "ci_low", "ci_high", "shrunken_ratio",
    "raw_rate", "peer_rate", "peer_group", "n_peers", "q_value", "flagged", "eligible",
)


def own_examiner_id() -> str:
    """The signed-in examiner's id; PermissionError for any other reader."""
    from queries import EXAMINER

    scope = current_scope()
    if scope.role != EXAMINER or not scope.examiner_id:
        raise PermissionError("only a signed-in examiner has figures of their own")
    return scope.examiner_id


@dataclass(frozen=True)
class OwnProfile:
    """The examiner's measures against unnamed peers, and the reasons in words."""

    specialty: str | None
    n_exams: int
    measures: pd.DataFrame
    explanation: str


@st.cache_data(ttl=RESULT_TTL_SECONDS, max_entries=64, show_spinner=False)
def _cached_own_profile(snap: Snapshot, examiner_id: str) -> OwnProfile:
    from dashboard.examiner_figures import examiner_measures
    from measures.engine import explain, flags_for_view

    with connection().reading() as con:
        # Every examiner's flags under full access, as the peers' comparison needs them; only
        # the examiner's own rows, and counts of peers, leave this function.
        flags = flags_for_view(con)
        counts = con.execute(
            "SELECT specialty, count(*) FROM fct_exams WHERE examiner_id = $e GROUP BY 1",
            {"e": examiner_id},
        ).fetchall()
    mine = examiner_measures(flags, examiner_id)
    if mine.empty:
        return OwnProfile(None, 0, mine, "")
    peers = flags[flags["examiner_id"] != examiner_id].groupby(["measure", "peer_group"]).size()
    mine["n_peers"] = [int(peers.get((m, g), 0))
                       for m, g in zip(mine["measure"], mine["peer_group"], strict=True)]
    specialty = counts[0][0] if counts else None
    return OwnProfile(specialty, int(sum(n for _, n in counts)),
                      mine[list(OWN_PROFILE_COLUMNS)], explain(flags, examiner_id))


def own_profile() -> OwnProfile:
    """The signed-in examiner's figures in the current snapshot."""
    return _cached_own_profile(require_snapshot(), own_examiner_id())


def own_reviews() -> list:
    """The signed-in examiner's reviews, newest first."""
    from access import reviews

    return list(reversed(reviews.reviews(own_examiner_id())))


def _review_of_reader(review_id: int):
    """A review the reader may act on: any for a regulator, their own for an examiner."""
    from access import reviews

    scope = current_scope()
    found = [r for r in reviews.reviews() if r.review_id == review_id]
    if not found or (scope.role != "regulator" and found[0].examiner_id != own_examiner_id()):
        raise PermissionError(f"review {review_id} is not yours to read")
    return found[0]


def review_audit_pack(review_id: int) -> tuple[str, bytes]:
    """The frozen audit pack of a review (file name, HTML), recorded in the audit log."""
    from access import audit
    from outputs.paths import safe_file_stem
    from outputs.report import review_audit_pack as pack_of

    review = _review_of_reader(review_id)
    document = pack_of(review)
    audit.record("export", current_username(), current_scope(), {
        "table": "review_audit_pack", "review_id": review.review_id,
        "examiner_id": review.examiner_id, "snapshot_sha256": review.snapshot_sha256,
    })
    name = f"audit-pack-review-{review.review_id}-{safe_file_stem(review.examiner_id)}.html"
    return name, document.encode("utf-8")


def review_attachment(review_id: int) -> tuple[str, bytes] | None:
    """The file attached to a review's latest reply (stored name, bytes), if any."""
    from access import reviews

    return reviews.attachment(_review_of_reader(review_id))


def send_reply(review_id: int, text: str, file_name: str | None, file_bytes: bytes | None):
    """The signed-in examiner's reply to their own review."""
    from access import reviews

    review = _review_of_reader(review_id)
    if review.examiner_id != own_examiner_id():
        raise PermissionError("an examiner replies to their own review only")
    return reviews.reply(review.examiner_id, text, current_username(), channel="dashboard",
                         attachment_name=file_name, attachment_bytes=file_bytes)


def all_reviews() -> list:
    """Every review, newest first (regulators only)."""
    from access import reviews

    if current_scope().role != "regulator":
        raise PermissionError("the review list is for regulators")
    return list(reversed(reviews.reviews()))


def close_review(review_id: int):
    """Close a review (regulators only), recorded in the audit log."""
    from access import reviews

    if current_scope().role != "regulator":
        raise PermissionError("only a regulator closes a review")
    return reviews.close(_review_of_reader(review_id).examiner_id, current_username())
