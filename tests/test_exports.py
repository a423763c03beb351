"""Tests for outputs.files: the three files of an export, and formula neutralisation."""

import csv
import hashlib
import json

import openpyxl
import pandas as pd
import pytest

from imestats.suppression import SUPPRESSED, suppress_counts
from outputs.files import FORMATS, neutralise_formulas, snapshot_hash, write_export

DICTIONARY = {
    "group": "Body part examined",
    "n_exams": "Number of exams",
    "n_adverse": "Exams with an opinion adverse to the claimant",
    "adverse_rate": "n_adverse / n_exams",
}


@pytest.fixture
def suppressed():
    df = pd.DataFrame({
        "group": ["=HYPERLINK(\"http://x\")", "knee", "-shoulder", "spine"],
        "n_exams": [120, 40, 200, 8],
        "n_adverse": [30, 0, 90, 3],
        "adverse_rate": [0.25, 0.0, 0.45, 0.375],
    })
    return suppress_counts(df, ["n_exams", "n_adverse"],
                           derived={"adverse_rate": ["n_adverse", "n_exams"]})


@pytest.fixture
def metadata(suppressed):
    return {
        "role": "researcher",
        "filters": {"jurisdiction": ["NY"]},
        "suppression": suppressed.rule(),
        "snapshot_sha256": "ab" * 32,
        "method_versions": {"suppression": "1"},
    }


@pytest.mark.parametrize(
    "text", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "=cmd|' /C calc'!A0"],
    ids=["equals", "plus", "minus", "at", "tab", "carriage-return", "dde"],
)
def test_formula_like_text_prefixed(text):
    for dtype in (object, "str"):
        df = pd.DataFrame({"name": pd.Series([text, "plain"], dtype=dtype)})
        assert neutralise_formulas(df)["name"].tolist() == ["'" + text, "plain"]


def test_numbers_stay_numbers():
    mixed = pd.Series([-3, "-3"], dtype=object)
    df = pd.DataFrame({"x": [-1, 5], "y": [-0.5, 2.0], "mixed": mixed})
    out = neutralise_formulas(df)
    pd.testing.assert_frame_equal(out[["x", "y"]], df[["x", "y"]])
    assert out["mixed"].tolist() == [-3, "'-3"]


def test_categorical_text_prefixed():
    df = pd.DataFrame({"c": pd.Categorical(["=a", "b", "=a"])})
    assert neutralise_formulas(df)["c"].tolist() == ["'=a", "b", "'=a"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_three_files_written(tmp_path, suppressed, metadata, fmt):
    table = suppressed.flagged() if fmt == "parquet" else suppressed.display
    files = write_export(table, tmp_path / f"rates.{fmt}", fmt, DICTIONARY, metadata)
    assert files.data == tmp_path / f"rates.{fmt}"
    assert files.dictionary == tmp_path / "rates.dictionary.csv"
    assert files.metadata == tmp_path / "rates.metadata.json"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"rates.{fmt}", "rates.dictionary.csv", "rates.metadata.json"]
    )

    dictionary = pd.read_csv(files.dictionary)
    assert dictionary["column"].tolist() == [str(c) for c in table.columns]
    assert dictionary["description"].notna().all()

    meta = json.loads(files.metadata.read_text())
    assert {k: meta[k] for k in metadata} == json.loads(json.dumps(metadata))
    assert meta["suppression"]["k"] == 11
    assert meta["format"] == fmt and meta["rows"] == 4
    assert meta["file_sha256"] == hashlib.sha256(files.data.read_bytes()).hexdigest()
    assert "exported_at_utc" in meta


def test_csv_shows_suppressed_apart_from_zero_and_neutralised(tmp_path, suppressed, metadata):
    files = write_export(suppressed.display, tmp_path / "r.csv", "csv", DICTIONARY, metadata)
    with files.data.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["group"] == "'=HYPERLINK(\"http://x\")"
    assert rows[2]["group"] == "'-shoulder"
    assert rows[1]["n_adverse"] == "0" and rows[1]["adverse_rate"] == "0.0"
    assert rows[3]["n_exams"] == rows[3]["n_adverse"] == rows[3]["adverse_rate"] == SUPPRESSED
    dictionary = pd.read_csv(files.dictionary).set_index("column")
    assert dictionary.at["n_adverse", "type"] == f'integer, or "{SUPPRESSED}"'


def test_xlsx_has_no_formulas_and_numbers_as_numbers(tmp_path, suppressed, metadata):
    files = write_export(suppressed.display, tmp_path / "r.xlsx", "xlsx", DICTIONARY, metadata)
    wb = openpyxl.load_workbook(files.data)
    try:
        cells = [c for row in wb["data"].iter_rows(min_row=2) for c in row]
        assert not [c.coordinate for c in cells if c.data_type == "f"]
        assert wb["data"]["A2"].value == "'=HYPERLINK(\"http://x\")"
        assert wb["data"]["B2"].value == 120 and wb["data"]["B2"].data_type == "n"
        assert wb["data"]["B5"].value == SUPPRESSED
    finally:
        wb.close()


def test_parquet_keeps_zero_apart_from_suppressed(tmp_path, suppressed, metadata):
    files = write_export(suppressed.flagged(), tmp_path / "r.parquet", "parquet", DICTIONARY,
                         metadata)
    back = pd.read_parquet(files.data)
    assert back["n_adverse"].iloc[1] == 0 and not back["n_adverse_suppressed"].iloc[1]
    assert pd.isna(back["n_adverse"].iloc[3]) and back["n_adverse_suppressed"].iloc[3]


def test_parquet_refuses_text_mixed_with_numbers(tmp_path, suppressed, metadata):
    with pytest.raises(ValueError, match="Suppressed.flagged"):
        write_export(suppressed.display, tmp_path / "r.parquet", "parquet", DICTIONARY, metadata)


def test_undescribed_column_refused(tmp_path, suppressed, metadata):
    with pytest.raises(ValueError, match=r"does not describe columns \['adverse_rate'\]"):
        write_export(suppressed.display, tmp_path / "r.csv", "csv",
                     {k: v for k, v in DICTIONARY.items() if k != "adverse_rate"}, metadata)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("key", ["role", "filters", "suppression", "snapshot_sha256",
                                 "method_versions"])
def test_metadata_without_a_required_key_refused(tmp_path, suppressed, metadata, key):
    del metadata[key]
    with pytest.raises(ValueError, match=key):
        write_export(suppressed.display, tmp_path / "r.csv", "csv", DICTIONARY, metadata)


def test_unknown_format_refused(tmp_path, suppressed, metadata):
    with pytest.raises(ValueError, match="unknown export format 'json'"):
        write_export(suppressed.display, tmp_path / "r.json", "json", DICTIONARY, metadata)


def test_snapshot_hash_of_a_large_file(tmp_path):
    path = tmp_path / "ime.duckdb"
    data = bytes(range(256)) * 20_000  # 5 MB, several read chunks
    path.write_bytes(data)
    assert snapshot_hash(path) == hashlib.sha256(data).hexdigest()


def test_a_folder_as_the_table_file_is_refused_and_nothing_is_written(suppressed, metadata,
                                                                      tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    with pytest.raises(ValueError, match="is a folder: name the table file"):
        write_export(suppressed.display, folder, "csv", DICTIONARY, metadata)
    assert list(tmp_path.rglob("*")) == [folder]


def test_a_failure_part_way_leaves_no_file_and_no_temporary_file(suppressed, metadata, tmp_path):
    # The table and the dictionary are written before the metadata fails to serialise.
    bad = {**metadata, "filters": {"jurisdiction": object()}}
    with pytest.raises(TypeError, match="not JSON"):
        write_export(suppressed.display, tmp_path / "t.csv", "csv", DICTIONARY, bad)
    assert list(tmp_path.iterdir()) == []
