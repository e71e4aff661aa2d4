"""The README's results tables are ``python -m cifar.report``'s output on the records kept in the project.

Each README code block whose last line is a ``python -m cifar.report ...`` command is followed by that
command's output, as the command prints it today on ``docs/records/``: a figure typed by hand, a record
changed or a report change that moves a figure fails here.
"""

from __future__ import annotations

import os
import shlex

import pytest

from cifar.report import evaluation_report, parser, report
from helpers import ROOT


def report_blocks() -> list[tuple[int, str, list[str]]]:
    """(line, command, the README lines after the block) for each block that ends with a report command."""
    lines = (ROOT / "README.md").read_text().splitlines()
    found, start = [], None
    for number, line in enumerate(lines):
        if line.startswith("```"):
            if start is None:
                start = number
                continue
            last = lines[number - 1].split(" #")[0].strip()
            if last.startswith("python -m cifar.report "):
                after = number + 1
                while after < len(lines) and not lines[after].strip():
                    after += 1
                found.append((number, last, lines[after:]))
            start = None
    return found


BLOCKS = report_blocks()


def test_the_readme_shows_both_tables():
    commands = [command for _, command, _ in BLOCKS]
    assert any("--evaluations" in c for c in commands) and any("--evaluations" not in c for c in commands), commands


@pytest.mark.parametrize(("line", "command", "following"), BLOCKS, ids=[f"README.md:{b[0]}" for b in BLOCKS])
def test_each_readme_table_is_its_commands_output(line, command, following, monkeypatch):
    args = parser().parse_args(shlex.split(command)[3:])
    assert not args.records and not args.csv, f"README.md:{line}: the table's own command writes nothing"
    monkeypatch.chdir(ROOT)  # (the command's paths are the project's own)
    printed = evaluation_report(args.paths) if args.evaluations else report(args.paths, by=args.by)
    expected = printed.splitlines()
    assert following[: len(expected)] == expected, (
        f"README.md:{line}: the table differs from `{command}`; print it again with that command")
    assert os.path.commonpath([ROOT / p for p in args.paths]).startswith(str(ROOT / "docs" / "records"))
