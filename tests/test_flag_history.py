"""The flag history across two real loads: every load stores its flags, a swap keeps the
earlier loads' rows, and the flags raised and cleared are the difference of the two loads'."""

from __future__ import annotations

import io
import shutil

import pandas as pd
import pytest

import queries
from devtools.demo import generate
from etl.load import load
from ime.cli import main
from measures.base import OUTPUT_COLUMNS
from measures.engine import flag_changes, flag_history
from measures.precompute import after_load

KEY = ["examiner_id", "measure", "direction"]


@pytest.fixture(scope="module")
def two_loads(tmp_path_factory):
    """A demo's exams before July 2021 loaded first, then the whole demo: the flags stored
    after each load (read from examiner_flags, before the next), and the database."""
    root = tmp_path_factory.mktemp("history")
    generate(root / "demo", n_exams=12_000, seed=5)
    part = root / "part"
    part.mkdir()
    for name in ("examiners.csv", "cases.csv"):
        shutil.copy(root / "demo" / name, part / name)
    exams = pd.read_csv(root / "demo" / "exams.csv", dtype=str)
    exams[exams["exam_date"] < "2021-07-01"].to_csv(part / "exams.csv", index=False)
    db = root / "ime.duckdb"
    stored, load_ids = [], []
    for folder in (part, root / "demo"):
        report = load([folder], db, after_build=after_load)
        load_ids.append(report.load_id)
        con = queries.connect(db)
        stored.append(con.execute("SELECT * FROM examiner_flags").df()[OUTPUT_COLUMNS])
        con.close()
    return db, load_ids, stored


def _by_key(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["examiner_id", "measure"], ignore_index=True)


def test_every_load_keeps_its_flags_after_the_swap(two_loads):
    db, load_ids, stored = two_loads
    con = queries.connect(db)
    history = flag_history(con, queries.FULL_ACCESS)
    con.close()
    assert sorted(history["load_id"].unique()) == load_ids
    for load_id, flags in zip(load_ids, stored, strict=True):
        kept = history[history["load_id"] == load_id][OUTPUT_COLUMNS]
        pd.testing.assert_frame_equal(_by_key(kept), _by_key(flags), check_dtype=False)


def test_raised_and_cleared_are_the_difference_of_the_two_loads(two_loads):
    db, load_ids, stored = two_loads
    con = queries.connect(db)
    changes = flag_changes(con, queries.FULL_ACCESS)
    con.close()
    # Independently: the flagged (examiner, measure, side) of each load as Python sets.
    before, after = ({tuple(r) for r in f.loc[f["flagged"].astype(bool), KEY].to_numpy()}
                     for f in stored)
    raised = {tuple(r) for r in changes.loc[changes["change"] == "raised", KEY].to_numpy()}
    cleared = {tuple(r) for r in changes.loc[changes["change"] == "cleared", KEY].to_numpy()}
    assert raised == after - before
    assert cleared == before - after
    assert raised or cleared  # a fifth more data moves some flag
    assert set(changes["load_id"]) == {load_ids[1]}
    assert set(changes["previous_load_id"]) == {load_ids[0]}


def test_an_insurer_never_reads_the_history(two_loads):
    db, _, _ = two_loads
    con = queries.connect(db)
    insurer = queries.Scope("insurer", ("INS01",))
    assert flag_history(con, insurer).empty and flag_changes(con, insurer).empty
    con.close()


def test_cli_history_lists_one_examiner_oldest_load_first(two_loads, capsys):
    db, load_ids, stored = two_loads
    examiner = stored[1].loc[stored[1]["flagged"].astype(bool), "examiner_id"].iloc[0]
    assert main(["flags", "--db", str(db), "--history", examiner]) == 0
    out = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(out.columns) == ["load_id", "loaded_at", *OUTPUT_COLUMNS]
    assert set(out["examiner_id"]) == {examiner}
    assert out["load_id"].tolist() == sorted(out["load_id"]) and set(out["load_id"]) == set(
        load_ids
    )
    for load_id, flags in zip(load_ids, stored, strict=True):
        mine = flags[flags["examiner_id"] == examiner].set_index("measure")
        printed = out[out["load_id"] == load_id].set_index("measure")
        assert printed["flagged"].to_dict() == mine["flagged"].astype(bool).to_dict()
        assert printed["direction"].to_dict() == mine["direction"].to_dict()


def test_cli_history_of_an_unknown_examiner_says_so(two_loads, capsys):
    db, _, _ = two_loads
    assert main(["flags", "--db", str(db), "--history", "NOBODY"]) == 2
    assert "no stored flags for examiner 'NOBODY'" in capsys.readouterr().err
