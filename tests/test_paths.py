"""outputs.paths: any text from the data reduced to one safe file-name component."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from outputs.paths import MAX_TEXT, N_HASH, file_in, safe_file_stem

SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


@pytest.mark.parametrize(
    "text",
    [
        "../../../../outside/PWNED", "..", ".", "", "/etc/passwd", "C:\\Windows\\x", ".hidden",
        "a\x00b", "-rf", "__init__", "EX0001", "Dr. Müller / Ørsted", "名前", "x" * 500,
        '=HYPERLINK("http://x")', "CON", "a\nb", "\u202eevil",
    ],
    ids=["climb", "dotdot", "dot", "empty", "absolute", "windows", "hidden", "nul", "dash",
         "dunder", "plain", "accents", "cjk", "long", "formula", "reserved", "newline", "bidi"],
)
def test_stem_is_one_short_safe_component(text, tmp_path):
    stem = safe_file_stem(text)
    assert SAFE.fullmatch(stem), stem
    assert len(stem) <= MAX_TEXT + 1 + N_HASH
    assert file_in(tmp_path, f"examiner-{stem}.html").parent == tmp_path


def test_readable_part_is_kept():
    assert safe_file_stem("EX0001").startswith("EX0001-")
    assert safe_file_stem("../../../../outside/PWNED").startswith("outside-PWNED-")
    assert safe_file_stem("Dr. Müller").startswith("Dr-Muller-")


@pytest.mark.parametrize(
    "a, b",
    [("a/b", "a-b"), ("EX1", "ex1"), ("a b", "a_b"), ("x" * 60 + "1", "x" * 60 + "2"),
     ("名前", "名字")],
    ids=["separator", "case", "space", "truncated", "all-dropped"],
)
def test_ids_that_read_alike_get_different_stems(a, b):
    assert safe_file_stem(a).lower() != safe_file_stem(b).lower()


def test_stem_is_stable():
    assert safe_file_stem("EX0001") == safe_file_stem("EX0001")


@pytest.mark.parametrize("name", ["../x.html", "a/b.html", ".x", "", "..", "a\\b"],
                         ids=["climb", "sub", "hidden", "empty", "dotdot", "backslash"])
def test_file_in_refuses_anything_but_a_plain_name(tmp_path, name):
    with pytest.raises(ValueError, match="safe_file_stem"):
        file_in(tmp_path, name)


def test_file_in_accepts_a_plain_name(tmp_path):
    assert file_in(tmp_path, "panel.html") == tmp_path / "panel.html"
    assert file_in(Path("reports"), "panel.html") == Path("reports") / "panel.html"
