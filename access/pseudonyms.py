"""Examiner pseudonyms for researchers: stable labels that cannot be reversed without the key."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

import pandas as pd

from etl.privacy import pseudonym_key

# A domain label, so that an examiner's pseudonym never equals the keyed hash of a claimant
# (or anything else) with the same text, although both use the same secret key.
DOMAIN = b"ime/examiner-pseudonym/v1\x00"
PREFIX = "Examiner "
# 8 hex digits (32 bits): among 2,000 examiners two share a label with probability about
# 2000**2 / 2**33 = 0.05%; `pseudonymise` refuses a table where that happens.
N_HEX = 8


def examiner_pseudonym(examiner_id: str, key: str) -> str:
    """A stable label such as ``"Examiner 7F3A9C21"``: HMAC-SHA256 of the trimmed id."""
    message = DOMAIN + examiner_id.strip().encode("utf-8")
    digest = hmac.new(key.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return PREFIX + digest[:N_HEX].upper()


def pseudonymise(
    df: pd.DataFrame,
    id_column: str = "examiner_id",
    out_column: str = "examiner",
    drop: Iterable[str] = ("examiner_name",),
    key: str | None = None,
) -> pd.DataFrame:
    """Replace the examiner id column with pseudonyms and drop name columns.

    Parameters
    ----------
    df : DataFrame
        A result frame with one examiner id per row (missing ids stay missing).
    id_column, out_column : str
        The id column, and the name of the pseudonym column that takes its place.
    drop : iterable of str
        Columns that identify the examiner otherwise; dropped when present.
    key : str, optional
        The pseudonymisation key; by default `etl.privacy.pseudonym_key()`.

    Returns
    -------
    DataFrame
        A new frame; the input is not changed.
    """
    if id_column not in df.columns:
        raise ValueError(f"no column {id_column!r} to pseudonymise; columns: {list(df.columns)}")
    key = pseudonym_key() if key is None else key
    ids = df[id_column]
    labels = ids.map(lambda v: None if pd.isna(v) else examiner_pseudonym(str(v), key))
    pairs = pd.DataFrame({"id": ids.astype("string").str.strip(), "label": labels}).dropna()
    clashes = pairs.drop_duplicates().groupby("label")["id"].nunique()
    if (clashes > 1).any():
        raise ValueError(
            f"two examiners share the pseudonym {clashes[clashes > 1].index[0]!r}; "
            f"raise N_HEX in {__name__} (labels will change)"
        )
    out = df.drop(columns=[c for c in drop if c in df.columns])
    position = out.columns.get_loc(id_column)
    out = out.drop(columns=[id_column])
    out.insert(position, out_column, labels.astype("string"))
    return out
