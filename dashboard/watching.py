"""The regulator's flag history and watchlist on the pages: flags per load, the flags raised
and cleared since the previous load, and the examiners the reader follows.

Regulators only: the pages call these after checking the role. The history is the flags each
load stored (measures.engine.flag_history); the watchlist is the reader's own
(access.watchlist), kept outside the database a load replaces.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from access import watchlist
from dashboard import data
from dashboard.examiner_figures import FIGURE_FORMATS, label
from dashboard.layout import MISSING, examiner_figure_headings, with_formats
from measures.registry import LABELS


def history_table(history: pd.DataFrame) -> pd.DataFrame:
    """One row per load (oldest first), one column per measure: 'high' or 'low' where the
    measure was flagged on that side at that load, else a dash."""
    rows = history.assign(
        shown=history["direction"].where(history["flagged"].fillna(False).astype(bool), MISSING),
        measure=history["measure"].map(LABELS),
    )
    wide = rows.pivot_table(
        index=["load_id", "loaded_at"], columns="measure", values="shown", aggfunc="first"
    )
    ordered = [m for m in LABELS.values() if m in wide.columns]
    wide = wide[ordered].fillna(MISSING).reset_index()
    wide.columns.name = None
    return wide.rename(columns={"load_id": "load", "loaded_at": "loaded at"})


def changes_words(changes: pd.DataFrame, names: pd.Series) -> pd.DataFrame:
    """The flag_changes rows as the Overview lists them: change, examiner, measure, side."""
    return pd.DataFrame(
        {
            "change": changes["change"],
            "examiner": [label(e, names) for e in changes["examiner_id"]],
            "measure": changes["measure"].map(LABELS),
            "side": changes["direction"],
            "ratio": changes["ratio"],
            "q": changes["q_value"],
        }
    )


def _latest_load(history: pd.DataFrame) -> int | None:
    return int(history["load_id"].max()) if not history.empty else None


def follow_toggle(examiner_id: str) -> None:
    """A button to follow the examiner, or to stop following them (recorded in the audit log)."""
    user, scope = data.current_username(), data.current_scope()
    followed = set(watchlist.watched(user)["examiner_id"])
    if examiner_id in followed:
        if st.button("Stop following this examiner", key="unfollow"):
            watchlist.unfollow(user, scope, examiner_id)
            st.rerun()
        st.caption("On your watchlist (Overview): you are told what changes at each load.")
    elif st.button("Follow this examiner", key="follow", icon=":material/visibility:"):
        watchlist.follow(user, scope, examiner_id, _latest_load(data.flag_history()))
        st.rerun()


def watchlist_section(names: pd.Series) -> None:
    """The reader's followed examiners with what changed since they last looked."""
    user, scope = data.current_username(), data.current_scope()
    entries = watchlist.watched(user)
    st.subheader("Your watchlist")
    if entries.empty:
        st.caption("You follow no examiner yet: use “Follow this examiner” on a profile.")
        return
    history = data.flag_history()
    latest = _latest_load(history)
    changes = watchlist.changes(entries, history)
    n_changed = int(changes["changed"].sum())
    st.caption(
        f"{len(changes)} examiner{'s' if len(changes) != 1 else ''} followed; "
        f"{n_changed} with flags raised or cleared since you last looked."
    )
    shown = changes.assign(
        examiner=[label(e, names) for e in changes["examiner_id"]],
        seen_load_id=changes["seen_load_id"].astype("Int64"),
    )
    st.dataframe(
        shown.replace("", MISSING),
        hide_index=True,
        width="stretch",
        column_order=["examiner", "flagged_now", "raised", "cleared", "seen_load_id",
                      "latest_load_id"],
        column_config={
            "flagged_now": "flagged now",
            "raised": "raised since you looked",
            "cleared": "cleared since you looked",
            "seen_load_id": "you looked at load",
            "latest_load_id": "latest load",
        },
    )
    if latest is not None and st.button("Mark as seen", key="watchlist_seen"):
        watchlist.mark_seen(user, scope, latest)
        st.rerun()


def flag_changes_section(names: pd.Series) -> None:
    """The flags raised and cleared between the previous load and the latest (Overview)."""
    st.markdown("**Flags raised and cleared since the previous load**")
    changes = data.flag_changes()
    if changes.empty:
        loads = data.flag_history()["load_id"].nunique()
        st.caption(
            "No load before this one stored its flags: the changes are listed from the next "
            "load on." if loads < 2 else "No flag was raised or cleared by the latest load."
        )
        return
    raised = int((changes["change"] == "raised").sum())
    cleared = int((changes["change"] == "cleared").sum())
    st.caption(
        f"Load {int(changes['load_id'].iloc[0])} against load "
        f"{int(changes['previous_load_id'].iloc[0])}: {raised} flag{'s' if raised != 1 else ''} "
        f"raised, {cleared} cleared (unfiltered, every insurer). A flag is one examiner, "
        "measure and side."
    )
    words = changes_words(changes, names)
    formats = {"ratio": FIGURE_FORMATS["ratio"], "q": FIGURE_FORMATS["q_value"]}
    # The ratio named as the registry names each measure's: O/E, or allegiance's odds ratio.
    headings = {"ratio": examiner_figure_headings(changes["measure"])["ratio"]}
    st.dataframe(words, hide_index=True, width="stretch", key="flag_changes",
                 column_config=with_formats(headings, formats, words.columns),
                 placeholder=MISSING)
