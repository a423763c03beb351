"""Data quality: loads, row counts, quarantined rows (summary and browser), contract checks."""

from __future__ import annotations

import streamlit as st

from dashboard import charts, data, layout

PAGE_ROWS = 50

st.title("Data quality")
layout.require_database()
if not data.can_see_bookkeeping():
    st.info(
        "Load bookkeeping (files, quarantined rows, contract checks) is shown to regulators only."
    )
    st.stop()
st.caption(
    "Every row a load reads is either loaded or quarantined with the file, row, column, rule "
    "and value seen: read = loaded + quarantined. Nothing is dropped silently. The sidebar "
    "filters do not apply to this page: it describes every load."
)

history = data.query("dq_load_history")
files = data.query("dq_load_files")
summary = data.query("dq_quarantine_summary")
contracts = data.query("dq_contract_results")

st.subheader("Loads")
if history.empty:
    st.info("No load has been recorded in this database.")
else:
    last = history.iloc[0]
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Loads", f"{len(history):,}")
    c2.metric("Rows read (last load)", f"{int(last['n_read']):,}")
    c3.metric("Loaded (last load)", f"{int(last['n_loaded']):,}")
    c4.metric("Quarantined (last load)", f"{int(last['n_quarantined']):,}")
    c4.caption("rows held back; the browser below counts entries (row and rule)")
    st.plotly_chart(charts.load_history(history), width="stretch")
    st.dataframe(
        history,
        hide_index=True,
        width="stretch",
        column_config={"seconds": st.column_config.NumberColumn(format="%.1f s")},
    )

st.subheader("Files per load")
load_ids = history["load_id"].tolist()
chosen_load = (
    st.selectbox("Load", load_ids, format_func=lambda i: f"load {i}") if load_ids else None
)
st.dataframe(
    files[files["load_id"] == chosen_load] if chosen_load else files,
    hide_index=True,
    width="stretch",
)

st.subheader("Quarantined rows by file and rule")
st.plotly_chart(charts.quarantine_bars(summary), width="stretch")
# A rule in words (the message its definition gives, stored at load), its code beside it.
RULE_HEADINGS = {"message": "rule broken", "rule": "rule (code)", "column_name": "column",
                 "n_rows": "rows"}
if not summary.empty:
    st.dataframe(
        summary,
        hide_index=True,
        width="stretch",
        column_order=["load_id", "file", "entity", "column_name", "message", "action", "n_rows",
                      "rule"],
        column_config=RULE_HEADINGS,
    )

st.subheader("Browse quarantined rows")
if summary.empty:
    st.info("No row has been quarantined.")
else:
    left, right, page_col = st.columns([3, 2, 1])
    file_choice = left.selectbox(
        "File", ["(all files)", *sorted(summary["file"].unique())], key="dq_file"
    )
    rules = summary if file_choice == "(all files)" else summary[summary["file"] == file_choice]
    rule_words = dict(zip(rules["rule"], rules["message"], strict=True))
    rule_choice = right.selectbox(
        "Rule",
        ["(all rules)", *sorted(rule_words)],
        key="dq_rule",
        format_func=lambda r: f"{rule_words[r]} ({r})" if r in rule_words else r,
    )
    file_param = None if file_choice == "(all files)" else file_choice
    rule_param = None if rule_choice == "(all rules)" else rule_choice
    matching = summary
    if file_param:
        matching = matching[matching["file"] == file_param]
    if rule_param:
        matching = matching[matching["rule"] == rule_param]
    n_pages = max(1, -(-int(matching["n_rows"].sum()) // PAGE_ROWS))
    page_no = page_col.number_input("Page", min_value=1, max_value=n_pages, value=1, step=1)
    rows = data.query(
        "dq_quarantine_rows",
        file=file_param,
        rule=rule_param,
        limit=PAGE_ROWS,
        offset=(int(page_no) - 1) * PAGE_ROWS,
    )
    total = int(rows["n_matching"].iloc[0]) if len(rows) else 0
    held_back = int(rows["n_rows_matching"].iloc[0]) if len(rows) else 0
    st.caption(
        f"Page {int(page_no)} of {n_pages}: {len(rows):,} of {total:,} matching entries, "
        f"from {held_back:,} rows held back. An entry is one row and one broken rule: a row "
        "breaking two rules has two entries, and a rule that only warns adds an entry for a "
        "row that was loaded. Entries of every load are here; the count above is the last "
        "load's rows. The raw row is shown without the claimant pseudonym."
    )
    st.dataframe(
        rows,
        hide_index=True,
        width="stretch",
        column_config=RULE_HEADINGS,
        column_order=["load_id", "file", "row_number", "column_name", "message", "raw_value",
                      "action", "raw_row", "rule"],
    )

st.subheader("Data-contract checks")
if contracts.empty:
    st.info("No contract check has run yet.")
else:
    latest = contracts[contracts["load_id"] == contracts["load_id"].max()]
    broken = latest[latest["n_violations"] > 0]
    if broken.empty:
        st.success(f"All {len(latest)} checks pass after load {int(latest['load_id'].iloc[0])}.")
    else:
        st.error(f"{len(broken)} of {len(latest)} checks find violating rows after the last load.")
    st.dataframe(latest, hide_index=True, width="stretch")
