"""Tests for access.pseudonyms: researchers see examiners only as stable keyed labels."""

import hashlib
import re

import pandas as pd
import pytest

from access.pseudonyms import examiner_pseudonym, pseudonymise
from etl.privacy import pseudonym_key

KEY = "k" * 64


def test_pseudonym_stable_short_and_not_the_id():
    label = examiner_pseudonym("EX-0042", KEY)
    assert re.fullmatch(r"Examiner [0-9A-F]{8}", label)
    assert label == examiner_pseudonym("EX-0042", KEY) == examiner_pseudonym(" EX-0042 ", KEY)
    assert "0042" not in label


def test_pseudonym_depends_on_id_and_key():
    assert examiner_pseudonym("EX-1", KEY) != examiner_pseudonym("EX-2", KEY)
    assert examiner_pseudonym("EX-1", KEY) != examiner_pseudonym("EX-1", "other key")


def test_pseudonym_unlike_the_claimant_hash_of_the_same_text():
    # etl.privacy hashes claimant ids as sha256(key || sha256(key || id)); the examiner label
    # uses its own domain, so the two never coincide for the same text.
    inner = hashlib.sha256((KEY + "X-1").encode()).hexdigest()
    claimant = hashlib.sha256((KEY + inner).encode()).hexdigest().upper()
    assert examiner_pseudonym("X-1", KEY).removeprefix("Examiner ") != claimant[:8]


def test_pseudonymise_replaces_ids_and_drops_names():
    df = pd.DataFrame({
        "examiner_id": ["EX-1", "EX-2", None, "EX-1"],
        "examiner_name": ["Dr A", "Dr B", None, "Dr A"],
        "n_exams": [50, 60, 70, 80],
    })
    out = pseudonymise(df, key=KEY)
    assert list(out.columns) == ["examiner", "n_exams"]
    assert out["examiner"].iloc[0] == out["examiner"].iloc[3] == examiner_pseudonym("EX-1", KEY)
    assert pd.isna(out["examiner"].iloc[2])
    text = out.astype(str).to_csv()
    assert "EX-" not in text and "Dr " not in text
    assert list(df.columns) == ["examiner_id", "examiner_name", "n_exams"]  # input unchanged


def test_pseudonymise_uses_the_key_outside_the_repo():
    df = pd.DataFrame({"examiner_id": ["EX-1"]})
    assert pseudonymise(df)["examiner"].iloc[0] == examiner_pseudonym("EX-1", pseudonym_key())


def test_pseudonymise_without_the_id_column_refused():
    with pytest.raises(ValueError, match="no column 'examiner_id'"):
        pseudonymise(pd.DataFrame({"id": ["EX-1"]}), key=KEY)
