"""The README's command table lists every subcommand of `ime` and every option of each."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from ime.cli import build_parser

README = Path(__file__).resolve().parents[1] / "README.md"


def _commands(parser: argparse.ArgumentParser, words: tuple[str, ...] = ("ime",)):
    """(words of the command, its long options) for every leaf command of the parser."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        options = [o for a in parser._actions for o in a.option_strings
                   if o.startswith("--") and o != "--help"]
        yield " ".join(words), options
        return
    for name, sub in subs[0].choices.items():
        yield from _commands(sub, (*words, name))


COMMANDS = list(_commands(build_parser()))


def _table_rows() -> list[str]:
    section = README.read_text(encoding="utf-8").split("## The command line", 1)[1]
    return [line for line in section.split("\n## ", 1)[0].splitlines() if line.startswith("| `ime")]


@pytest.mark.parametrize(("command", "options"), COMMANDS, ids=[c for c, _ in COMMANDS])
def test_the_readme_lists_the_command_and_each_option(command, options):
    rows = [row for row in _table_rows() if re.search(rf"`{re.escape(command)}\b", row)]
    assert rows, f"no row of the README's command table names `{command}`"
    cells = rows[0].split(" | ")[0]
    missing = [o for o in options if not re.search(rf"{re.escape(o)}\b", cells)]
    assert not missing, f"`{command}`: the README's command table lacks {missing}"
