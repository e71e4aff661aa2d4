"""Results tables from finished runs: ``python -m cifar.report PATH... [--csv FILE] [--by KEY,...]``.

Each PATH (glob patterns too) is a run folder or a folder holding runs (a sweep, a day, all of
``outputs/``). Runs are grouped by recipe: their resolved configs without seeds and paths, so
runs made on different days or machines land in one row. ``--by model._target_,precision`` groups
by those config keys instead. Prints a markdown table (mean ± std and n of the test accuracy, the
values per run, best val accuracy, test loss, epochs, seconds per epoch, precision, machine), then
names every run that failed or has not finished; ``--csv FILE`` writes the same table as CSV.
"""

from __future__ import annotations

import argparse
import sys

from cifar.cli import fail
from cifar.errors import CifarError
from cifar.reporting import results
from cifar.reporting.files import write_csv


def parser() -> argparse.ArgumentParser:
    parse = argparse.ArgumentParser(prog="python -m cifar.report", description=__doc__.splitlines()[0],
                                    epilog=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parse.add_argument("paths", nargs="+", help="run folders, or folders holding runs (globs expanded)")
    parse.add_argument("--csv", default=None, help="also write the table to this CSV file")
    parse.add_argument("--by", default=None, help="group by these comma-separated config keys, not by recipe")
    return parse


def report(paths: list[str], csv_file: str | None = None, by: str | None = None) -> str:
    runs = [results.read_run(folder) for folder in results.find_runs(paths)]
    groups = results.group_runs(runs, by=[k.strip() for k in by.split(",") if k.strip()] if by else None)
    if csv_file:
        write_csv(csv_file, results.CSV_COLUMNS, results.csv_rows(groups))
    return results.markdown(groups)


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        print(report(args.paths, args.csv, args.by))
    except CifarError as exc:
        fail(exc)


if __name__ == "__main__":
    main(sys.argv[1:])
