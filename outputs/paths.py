"""File names built from data: the one place where text from the data becomes part of a path.

An examiner id, an insurer id or any other value that was loaded is text that someone else
wrote. Placed in a path as it is, ``../../outside/x`` leaves the folder it was meant for, a
leading dot hides the file, and a name longer than the file system allows fails late. Every
writer that names a file after a value (the audit report and its PDF, the dashboard's audit
pack, exports, a published site) takes the name from `safe_file_stem` and the folder from
`file_in`, so that no value from the data decides a directory.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from pathlib import Path

# Text kept of the value, before the hash: enough to recognise an id, short enough for any
# file system (255 bytes) once a prefix and a suffix are added.
MAX_TEXT = 40
# Hex digits of the sha256 of the value: 40 bits, so two ids of one data set share a stem
# with probability about n**2 / 2**41 (under 1e-6 for 1,000 ids).
N_HASH = 10
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def safe_file_stem(text: object) -> str:
    """A file-name component made from `text`: ASCII letters, digits, ``-`` and ``_`` only.

    Parameters
    ----------
    text : object
        A value from the data (converted with `str`).

    Returns
    -------
    str
        The readable part of the text (accents dropped, every run of other characters
        replaced by ``-``, no leading or trailing ``-`` or ``_``, at most `MAX_TEXT`
        characters), then ``-`` and the first `N_HASH` hex digits of the sha256 of the
        original text. The hash is always added, so two different values never share a stem
        merely because they read alike once cleaned (``a/b`` and ``a-b``, ``EX1`` and
        ``ex1`` on a case-insensitive file system). Never empty, never a path separator,
        never a dot.

    Examples
    --------
    >>> safe_file_stem("../../../../outside/PWNED")
    'outside-PWNED-...'
    """
    original = str(text)
    digest = hashlib.sha256(original.encode("utf-8", "surrogatepass")).hexdigest()[:N_HASH]
    ascii_text = unicodedata.normalize("NFKD", original).encode("ascii", "ignore").decode()
    readable = _UNSAFE.sub("-", ascii_text).strip("-_")[:MAX_TEXT].rstrip("-_")
    return f"{readable}-{digest}" if readable else digest


def file_in(folder: Path, name: str) -> Path:
    """``folder / name``, refusing a name that is not one plain component inside `folder`.

    A second guard behind `safe_file_stem`: a name built some other way that holds a
    separator, ``..`` or a leading dot raises ValueError instead of being written elsewhere.
    """
    folder = Path(folder)
    path = folder / name
    if (
        not name or name != Path(name).name or name.startswith(".") or "\\" in name
        or path.resolve().parent != folder.resolve()
    ):
        raise ValueError(
            f"file name {name!r} is not a plain name inside {folder}: build it with "
            "outputs.paths.safe_file_stem"
        )
    return path
