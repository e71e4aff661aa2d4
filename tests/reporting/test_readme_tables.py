"""The results tables of the README and docs/results.md are ``python -m cifar.report``'s output on the records
kept in the project: one source for every figure.

Each code block of those pages whose last line is a ``python -m cifar.report ...`` command is followed by that
command's output, as the command prints it today on ``docs/records/``: a figure typed by hand, a record
changed or a report change that moves a figure fails here.
"""

from __future__ import annotations

import os
import shlex

import pytest

from cifar.report import evaluation_report, parser, report
from helpers import ROOT


PAGES = ("README.md", "docs/results.md")


def report_blocks(page: str) -> list[tuple[str, str, list[str]]]:
    """(where, command, the page's lines after the block) for each block that ends with a report command."""
    lines = (ROOT / page).read_text().splitlines()
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
                found.append((f"{page}:{number}", last, lines[after:]))
            start = None
    return found


BLOCKS = [block for page in PAGES for block in report_blocks(page)]


def test_the_readme_shows_the_brief_tables_and_the_results_page_both_full_ones():
    commands = {page: [command for where, command, _ in BLOCKS if where.startswith(page)] for page in PAGES}
    assert [c for c in commands["README.md"] if "--brief" in c and "--evaluations" not in c], commands
    assert [c for c in commands["README.md"] if "--brief" in c and "--evaluations" in c and "--baseline" in c], commands
    assert any("--evaluations" in c for c in commands["docs/results.md"]), commands
    assert any("--evaluations" not in c and "--brief" not in c for c in commands["docs/results.md"]), commands


@pytest.mark.parametrize(("where", "command", "following"), BLOCKS, ids=[b[0] for b in BLOCKS])
def test_each_table_is_its_commands_output(where, command, following, monkeypatch):
    args = parser().parse_args(shlex.split(command)[3:])
    assert not args.records and not args.csv, f"{where}: the table's own command writes nothing"
    monkeypatch.chdir(ROOT)  # (the command's paths are the project's own)
    printed = (evaluation_report(args.paths, brief=args.brief, baseline=args.baseline) if args.evaluations
               else report(args.paths, by=args.by, brief=args.brief))
    expected = printed.splitlines()
    assert following[: len(expected)] == expected, (
        f"{where}: the table differs from `{command}`; print it again with that command")
    assert os.path.commonpath([ROOT / p for p in args.paths]).startswith(str(ROOT / "docs" / "records"))
