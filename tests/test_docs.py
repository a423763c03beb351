"""The documentation against the code: docs/format.md, docs/methods.md, links, public data.

What a document must say is read from the code (etl/schema.py, etl/identifiers.py, the
measures' words), and the document is what is checked, so that a change to the code that the
document does not follow fails here. The examples of docs/format.md are loaded as written.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shlex
import subprocess
import tomllib
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from etl.identifiers import identifier_kind
from etl.load import load
from etl.schema import ENTITIES, ENUM
from ime.cli import build_parser, main
from measures.engine import COMMON_WORDS
from measures.registry import MEASURES

REPO = Path(__file__).resolve().parents[1]
FORMAT = REPO / "docs" / "format.md"
METHODS = REPO / "docs" / "methods.md"
PUBLIC = REPO / "data" / "public"
PROFILES = REPO / "data" / "profiles"

# Written in pieces so that this file does not contain what it looks for.
OUTSIDE = tuple(
    "".join(parts)
    for parts in (
        ("..", "/shared"),
        ("shared/", "SPEC.md"),
        ("shared/", "METHODS.md"),
        ("shared/", "realdata"),
    )
)


def sections(text: str, level: int) -> dict[str, str]:
    """Heading text -> the text under it, up to the next heading of this level or above."""
    out: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        heading = re.match(r"^(#{1,6}) (.*)$", line)
        if heading and len(heading.group(1)) <= level:
            current = heading.group(2).strip() if len(heading.group(1)) == level else None
            if current is not None:
                out[current] = ""
            continue
        if current is not None:
            out[current] += line + "\n"
    return out


def table_rows(text: str) -> list[list[str]]:
    """The cells of every Markdown table row in `text`, header and rule rows left out."""
    rows = []
    lines = [line.strip() for line in text.splitlines()]
    for i, line in enumerate(lines):
        if not line.startswith("|") or re.fullmatch(r"\|[\s|:-]+\|", line):
            continue
        if i + 1 < len(lines) and re.fullmatch(r"\|[\s|:-]+\|", lines[i + 1]):
            continue  # a header row
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def ticked(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def squeeze(text: str) -> str:
    return " ".join(text.split())


# --- docs/format.md against etl/schema.py ---------------------------------------------------


def entity_sections() -> dict[str, str]:
    found = sections(FORMAT.read_text(encoding="utf-8"), 3)
    return {ticked(h)[0]: body for h, body in found.items() if ticked(h) == [h.strip("`")]}


def test_format_has_a_section_for_every_entity_and_no_other():
    assert list(entity_sections()) == list(ENTITIES)


@pytest.mark.parametrize("entity", list(ENTITIES.values()), ids=list(ENTITIES))
def test_format_lists_every_column_type_value_and_key(entity):
    body = entity_sections().get(entity.name)
    assert body is not None, f"docs/format.md has no section ### `{entity.name}`"
    rows = {ticked(r[0])[0]: r for r in table_rows(body) if ticked(r[0])}
    assert list(rows) == list(entity.column_names), (
        f"{entity.name}: the column table of docs/format.md lists {list(rows)}, "
        f"etl/schema.py has {list(entity.column_names)}"
    )
    for col in entity.columns:
        _, kind, required, values, _ = rows[col.name]
        where = f"{entity.name}.{col.name}"
        assert kind == col.kind, f"{where}: type {kind!r} in the document, {col.kind!r} in code"
        assert (required == "yes") == col.required, f"{where}: required is {col.required}"
        if col.kind == ENUM:
            assert set(ticked(values)) == set(col.values), (
                f"{where}: values {ticked(values)} in the document, {list(col.values)} in code"
            )
        for bound in (col.low, col.high):
            if bound is not None:
                assert f"{bound:g}" in values, f"{where}: the range bound {bound:g} is missing"
    key = re.search(r"^Key: (.*)$", body, re.MULTILINE)
    assert key and ticked(key.group(1)) == list(entity.key), f"{entity.name}: key {entity.key}"
    for ref in entity.references:
        sentence = f"`{ref.column}` must exist in `{ref.entity}.{ref.target}`"
        assert sentence in squeeze(body), f"{entity.name}: missing reference: {sentence}"


def test_format_lists_every_rule_across_columns():
    body = sections(FORMAT.read_text(encoding="utf-8"), 3)["Rules across columns"]
    documented = {
        (ticked(r[0])[0], ticked(r[1])[0]): r for r in table_rows(body) if len(r) == 5
    }
    expected = {(e.name, rule.name): rule for e in ENTITIES.values() for rule in e.rules}
    assert set(documented) == set(expected)
    for key, rule in expected.items():
        _, _, column, violation, message = documented[key]
        assert ticked(column) == [rule.column], key
        assert ticked(violation) == [rule.violation], key
        assert message == rule.message, key


def test_format_identifier_examples_are_what_the_rule_does():
    body = sections(FORMAT.read_text(encoding="utf-8"), 2)["Direct identifiers: dropped by meaning"]
    examples = [(ticked(r[0])[0], r[1]) for r in table_rows(body) if ticked(r[0])]
    assert len(examples) >= 10
    for name, kind in examples:
        assert (identifier_kind(name) or "kept") == kind, name


def example_files(tmp_path: Path) -> Path:
    """Write the fenced blocks of docs/format.md marked `file=PATH` under tmp_path."""
    blocks = re.findall(
        r"^```\w+ file=(\S+)\n(.*?)^```$", FORMAT.read_text(encoding="utf-8"), re.M | re.S
    )
    assert {Path(p).parent.name for p, _ in blocks} == {"minimal", "bad", "vendor"}
    for path, text in blocks:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text, encoding="utf-8")
    return tmp_path


def test_format_examples_load_as_documented(tmp_path):
    root = example_files(tmp_path / "examples")
    db = tmp_path / "ime.duckdb"

    minimal = load([root / "minimal"], db)
    assert [(f.entity, f.read, f.quarantined) for f in minimal.files] == [
        ("examiners", 2, 0),
        ("cases", 2, 0),
        ("exams", 2, 0),
        ("decisions", 1, 0),
    ]
    assert "read 7 = loaded 7 + quarantined 0" in FORMAT.read_text(encoding="utf-8")

    bad = load([root / "bad"], db)
    assert [(f.read, f.loaded, f.quarantined) for f in bad.files] == [(2, 0, 2)]
    body = sections(FORMAT.read_text(encoding="utf-8"), 3)["Example"]
    documented = [
        (int(r[0]), ticked(r[1])[0], ticked(r[2])[0], r[3] or None)
        for r in table_rows(body)
        if r[0].isdigit()
    ]
    with duckdb.connect(str(db), read_only=True) as con:
        stored = con.execute(
            "SELECT row_number, column_name, rule, raw_value FROM quarantine "
            "WHERE load_id = 2 ORDER BY row_number, column_name"
        ).fetchall()
    assert stored == documented

    vendor = load([root / "vendor" / "acme_exams_2024.csv"], db, root / "vendor" / "acme.toml")
    (acme,) = vendor.files
    assert (acme.entity, acme.read, acme.loaded, acme.quarantined, acme.warnings) == (
        "exams", 2, 2, 0, 1,
    )
    assert acme.dropped_columns == ["Claimant Name"]
    with duckdb.connect(str(db), read_only=True) as con:
        exams = con.execute(
            "SELECT exam_id, requested_by, causation, mmi_status, CAST(mmi_date AS VARCHAR), "
            "wpi_percent, guides_edition, json_keys(extra) FROM exams "
            "WHERE exam_id LIKE 'A-%' ORDER BY exam_id"
        ).fetchall()
    assert [e[:7] for e in exams] == [
        ("A-17", "insurer", "not_related", "reached", "2023-11-02", 0.0, "AMA5"),
        ("A-18", "claimant", "related", "not_reached", None, 5.0, "AMA5"),
    ]
    assert all("Claimant Name" not in e[7] and "Exam No" in e[7] for e in exams)


# --- docs/methods.md and the Methods page -----------------------------------------------------


@pytest.mark.parametrize("name", list(MEASURES))
def test_methods_gives_each_measure_in_its_own_words(name):
    assert squeeze(MEASURES[name].words) in squeeze(METHODS.read_text(encoding="utf-8")), (
        f"docs/methods.md does not quote the words of measures/{name}.py"
    )


def test_methods_gives_the_engine_in_its_own_words():
    assert squeeze(COMMON_WORDS) in squeeze(METHODS.read_text(encoding="utf-8"))


def test_the_methods_page_is_docs_methods(tmp_path, monkeypatch):
    # One source: the package's methods.md is a link to the document (a built package ships
    # it as a copy, through the package data), and the page shows the document.
    assert (REPO / "dashboard" / "methods.md").resolve() == METHODS.resolve()
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "**/*.md" in package_data["package-data"]["dashboard"]
    monkeypatch.setenv("IME_DB", str(tmp_path / "missing.duckdb"))
    monkeypatch.setenv("IME_AUDIT_DB", str(tmp_path / "audit.duckdb"))
    at = AppTest.from_file(str(REPO / "dashboard" / "app.py"), default_timeout=120)
    at.switch_page("views/methods.py")
    at.run()
    assert not at.exception
    title, _, body = METHODS.read_text(encoding="utf-8").partition("\n")
    assert [t.value for t in at.title] == [title.removeprefix("# ")]
    assert [m.value for m in at.markdown] == [body.strip()]


# --- nothing refers outside the repository; every relative link resolves -------------------


def tracked_files() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.decode()
    return [REPO / name for name in out.split("\0") if name]


def test_no_tracked_file_refers_outside_the_repository():
    found = []
    for path in tracked_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, IsADirectoryError, FileNotFoundError):
            continue  # binary (screenshots), or deleted in the working tree
        name = path.relative_to(REPO).as_posix()
        for number, line in enumerate(text.splitlines(), 1):
            if any(s in line for s in OUTSIDE):
                found.append(f"{name}:{number}: {line.strip()}")
    assert not found, "files that refer outside the repository:\n" + "\n".join(found)


def markdown_files() -> list[Path]:
    return [
        REPO / "README.md",
        *sorted((REPO / "docs").glob("*.md")),
        *sorted(PUBLIC.rglob("*.md")),
    ]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"^```.*?^```$", "", path.read_text(encoding="utf-8"), flags=re.M | re.S)
    return {slug(h) for h in re.findall(r"^#{1,6} (.*)$", text, re.M)}


@pytest.mark.parametrize("doc", markdown_files(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_relative_link_points_at_a_file_that_exists(doc):
    text = doc.read_text(encoding="utf-8")
    text = re.sub(r"^```.*?^```$", "", text, flags=re.M | re.S)  # code blocks
    text = re.sub(r"`[^`\n]*`", "", text)  # code spans
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue  # https:, mailto:
        path, _, fragment = target.partition("#")
        resolved = (doc.parent / path).resolve() if path else doc
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
            broken.append(f"{target}: no heading #{fragment}")
        elif REPO not in (resolved, *resolved.parents):
            broken.append(f"{target}: outside the repository")
    assert not broken, f"{doc.relative_to(REPO)}: " + "; ".join(broken)


# --- the public data sets ---------------------------------------------------------------------


def public_folders() -> list[Path]:
    return sorted(p for p in PUBLIC.iterdir() if p.is_dir())


def test_each_public_data_set_has_its_profile_and_each_profile_its_data_set():
    assert [p.name for p in public_folders()] == sorted(p.stem for p in PROFILES.glob("*.toml"))


@pytest.mark.parametrize("folder", public_folders(), ids=lambda p: p.name)
def test_public_data_are_as_published_and_say_where_from(folder):
    source = (folder / "SOURCE.md").read_text(encoding="utf-8")
    fields = {r[0]: r[1] for r in table_rows(source) if len(r) == 2}
    for field in ("Publisher", "Address", "Retrieval date", "Terms"):
        assert fields.get(field), f"{folder.name}/SOURCE.md: no {field}"
    listed = {
        ticked(r[0])[0]: (int(r[1]), ticked(r[2])[0])
        for r in table_rows(source)
        if len(r) == 3 and r[1].isdigit()
    }
    files = {p.name: p for p in folder.iterdir() if p.name != "SOURCE.md"}
    assert set(listed) == set(files), f"{folder.name}/SOURCE.md lists {sorted(listed)}"
    for name, (size, sha256) in listed.items():
        data = files[name].read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (size, sha256), (
            f"{folder.name}/{name} is not byte for byte the file SOURCE.md describes"
        )


# --- the README's command table against the parser ------------------------------------------


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(subcommand path, its parser) for every leaf subcommand of `parser`."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for name, child in subs[0].choices.items():
        yield from commands(child, (*path, name))


def readme_synopses() -> list[str]:
    """Every `ime ...` synopsis in the first column of the README's command table."""
    table = sections((REPO / "README.md").read_text(encoding="utf-8"), 2)["The command line"]
    first_cells = [
        re.split(r"(?<!\\)\|", line)[1] for line in table.splitlines() if line.startswith("| `ime ")
    ]
    return [s for cell in first_cells for s in ticked(cell) if s.startswith("ime ")]


COMMANDS = list(commands(build_parser()))


@pytest.mark.parametrize("path, parser", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_readme_command_table_gives_every_subcommand_with_every_option(path, parser):
    # The parser is the truth: a subcommand or option added without the README fails here.
    prefix = "ime " + " ".join(path)
    found = [s for s in readme_synopses() if s == prefix or s.startswith(prefix + " ")]
    assert len(found) == 1, f"README's command table has {len(found)} synopses of `{prefix}`"
    words = set(re.findall(r"--[a-z][a-z-]*", found[0]))
    options = {
        o for a in parser._actions if not isinstance(a, argparse._HelpAction)
        for o in a.option_strings if o.startswith("--")
    }
    assert options - words == set(), f"`{prefix}` in README.md lacks {sorted(options - words)}"
    assert words - options == set(), f"`{prefix}` in README.md names {sorted(words - options)}"


def test_readme_command_table_names_no_subcommand_the_parser_lacks():
    known = {"ime " + " ".join(path) for path, _ in COMMANDS}
    for synopsis in readme_synopses():
        words = synopsis.split()
        assert any(" ".join(words[:n]) in known for n in (2, 3)), synopsis


# --- the README's load commands -----------------------------------------------------------------


def readme_public_loads() -> list[list[str]]:
    """The `ime load data/public/...` commands of the README's "Loading data", as arguments."""
    text = sections((REPO / "README.md").read_text(encoding="utf-8"), 2)["Loading data"]
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    return [
        shlex.split(line)[1:]
        for block in blocks
        for line in block.splitlines()
        if line.startswith(".venv/bin/ime load data/public/")
    ]


def test_readme_shows_one_load_command_for_each_public_data_set():
    loaded = sorted(Path(args[1]).name for args in readme_public_loads())
    assert loaded == [p.name for p in public_folders()]


@pytest.mark.parametrize("args", readme_public_loads(), ids=lambda a: Path(a[1]).name)
def test_readme_load_command_loads_its_public_data_set(args, tmp_path, capsys, monkeypatch):
    # Run as the README writes it, from the repository, into a database of the test's own.
    monkeypatch.chdir(REPO)
    assert main([*args, "--db", str(tmp_path / "ime.duckdb"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    files = {Path(f["file"]).name: f for f in report["files"]}
    data_files = {p.name for p in Path(args[1]).iterdir() if p.name != "SOURCE.md"}
    assert set(files) <= data_files and files
    for name, f in files.items():
        assert f["read"] == f["loaded"] + f["quarantined"], name
    # A lookup file (SSA's hearing office to state) is read through its profile, not loaded.
    assert sum(f["loaded"] for f in files.values()) > 0
