"""Every ``python -m cifar.<command> ...`` line of the README and docs/ is a command that composes.

Each line (in a code block, or an inline code span that starts with it) is composed the way its
command would compose it, without running anything: Hydra's config for train / evaluate / predict /
export (a sweep takes the first value of each swept option), the argument parser for the
benchmarks and the report. A renamed key or option then fails here, not in a user's terminal. Placeholders the
user fills in (``<md5>``, ``<run>``) are filled with a dummy word first.
"""

from __future__ import annotations

import re
import shlex

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser

from cifar.bench.__main__ import parser as bench_parser
from cifar.bench.speedrun import parse_overrides
from cifar.cli import register_resolvers
from cifar.report import parser as report_parser
from helpers import CONF, ROOT

DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
HYDRA_COMMANDS = ("train", "evaluate", "predict", "export")
FLAGS = {"-m", "--multirun", "--help", "--cfg", "job", "--resolve"}


def documented_commands() -> list[tuple[str, str]]:
    """(where, command line) for every documented ``python -m cifar.`` line."""
    found = []
    for path in DOCUMENTS:
        in_block = False
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.lstrip().startswith("```"):
                in_block = not in_block
                continue
            where = f"{path.relative_to(ROOT)}:{number}"
            if in_block and line.lstrip().startswith("python -m cifar."):
                found.append((where, line.split(" #")[0].strip()))
            elif not in_block:
                found += [(where, span) for span in re.findall(r"`(python -m cifar\.[^`]+)`", line)]
    return found


COMMANDS = documented_commands()


def first_values(overrides: list[str]) -> list[str]:
    """Each sweep override (``a=1,2``, ``choice(...)``) replaced by its first value."""
    parsed = OverridesParser.create().parse_overrides(overrides)
    return [f"{o.get_key_element()}={next(iter(o.sweep_string_iterator()))}" if o.is_sweep_override() else o.input_line
            for o in parsed]


def compose_command(command: str, overrides: list[str]) -> None:
    register_resolvers()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        compose(command, overrides=first_values(overrides), return_hydra_config=True)


def test_the_docs_show_every_command():
    shown = {line.split()[2] for _, line in COMMANDS}
    assert {"cifar.train", "cifar.evaluate", "cifar.predict", "cifar.export", "cifar.bench", "cifar.report"} <= shown
    assert len(COMMANDS) >= 40


@pytest.mark.parametrize(("where", "line"), COMMANDS, ids=[where for where, _ in COMMANDS])
def test_documented_command_composes(where, line):
    words = shlex.split(re.sub(r"<[a-z0-9_ -]+>", "PLACEHOLDER", line))
    command, args = words[2].removeprefix("cifar."), words[3:]
    if command in HYDRA_COMMANDS:
        compose_command(command, [a for a in args if a not in FLAGS])
        return
    if command == "report":
        if args:  # (a bare name in prose is a mention; the paths are the user's)
            report_parser().parse_args(args)
        return
    assert command == "bench", f"{where}: unknown command {words[2]}"
    if "--help" in args:
        return
    options, extra = bench_parser().parse_known_args(args)
    if options.what == "speedrun":
        overrides, _ = parse_overrides([*options.overrides, *extra])
        compose_command("train", overrides)
    else:
        assert not extra, f"{where}: unknown options {extra}"
