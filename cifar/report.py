"""Results tables from finished runs: ``python -m cifar.report PATH... [--csv FILE] [--by KEY,...] [--evaluations] [--records DIR]``.

Each PATH (glob patterns too) is a run folder or a folder holding runs (a sweep, a day, all of
``outputs/``). Runs are grouped by recipe: their resolved configs without seeds and paths, so
runs made on different days or machines land in one row. ``--by model._target_,precision`` groups
by those config keys instead. Prints a markdown table (mean ± std and n of the test accuracy, the
values per run, best val accuracy, test loss, epochs, precision, the machine and its seconds per epoch
with the fastest epoch (one of each per machine, with its seeds, where a recipe's runs ran on several),
and the write-up's own figure with the gap for a recipe that has one), then
names every run that failed or has not finished; ``--csv FILE`` writes the same table as CSV. ``--brief``
prints the short table instead: recipe, test accuracy, n, epochs and the median time of a run per machine.

``--evaluations``: the PATHs are (or hold) ``cifar.evaluate`` output folders instead, and the table is
their calibration and robustness: the TTA, test accuracy, ECE before and after temperature scaling, the mean
corruption accuracy and the worst corruption, one row per evaluation; ``--brief``: only the clean and
corruption figures. ``--baseline RECIPE`` adds each one's mCE and relative mCE against the evaluation of that
recipe (its name as the table shows it, or the start of it, e.g. ``experiment=basiccnn``).

``--records DIR``: also copies what the table is built from (each run's ``metrics.json``, ``curves.csv`` and
Hydra config; each evaluation's ``evaluation.json``) to ``DIR``, keeping each folder's path below the given
PATH's parent, so that ``python -m cifar.report DIR/...`` prints the same table where the runs are not.
"""

from __future__ import annotations

import argparse
import sys

from cifar.cli import command
from cifar.errors import CifarError
from cifar.reporting import evaluations, results
from cifar.files import write_csv
from cifar.reporting.records import copy_records


def parser() -> argparse.ArgumentParser:
    parse = argparse.ArgumentParser(prog="python -m cifar.report", description=__doc__.splitlines()[0],
                                    epilog=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parse.add_argument("paths", nargs="+", help="run folders, or folders holding runs (globs expanded)")
    parse.add_argument("--csv", default=None, help="also write the table to this CSV file")
    parse.add_argument("--by", default=None, help="group by these comma-separated config keys, not by recipe")
    parse.add_argument("--brief", action="store_true",
                       help="the short table: recipe, test accuracy, n, epochs, time per run and machine")
    parse.add_argument("--evaluations", action="store_true",
                       help="PATHs are cifar.evaluate folders: the calibration and robustness table")
    parse.add_argument("--baseline", default=None, metavar="RECIPE",
                       help="with --evaluations: the recipe whose corruption errors the mCE figures are relative to")
    parse.add_argument("--records", default=None, metavar="DIR",
                       help="also copy the small files the table is built from to DIR (no checkpoints or logs)")
    return parse


def report(paths: list[str], csv_file: str | None = None, by: str | None = None, records: str | None = None,
           brief: bool = False) -> str:
    folders = results.find_runs(paths)
    if records:
        copy_records(folders, paths, results.RUN_RECORD, records)
    runs = [results.read_run(folder) for folder in folders]
    groups = results.group_runs(runs, by=[k.strip() for k in by.split(",") if k.strip()] if by else None)
    if csv_file:
        write_csv(csv_file, results.CSV_COLUMNS, results.csv_rows(groups))
    return results.brief_markdown(groups) if brief else results.markdown(groups)


def evaluation_report(paths: list[str], csv_file: str | None = None, records: str | None = None,
                      brief: bool = False, baseline: str | None = None) -> str:
    files = evaluations.find_evaluations(paths)
    if records:
        copy_records([file.parent for file in files], paths, evaluations.EVALUATION_RECORD, records)
    rows = evaluations.with_corruption_errors([evaluations.row(path) for path in files], baseline)
    if csv_file:
        write_csv(csv_file, evaluations.CSV_COLUMNS, evaluations.csv_rows(rows))
    return evaluations.brief_markdown(rows) if brief else evaluations.markdown(rows)


@command
def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.evaluations:
        if args.by:
            raise CifarError("--by groups training runs; --evaluations lists one row per evaluation")
        print(evaluation_report(args.paths, args.csv, args.records, args.brief, args.baseline))
    else:
        if args.baseline:
            raise CifarError("--baseline names the recipe mCE is relative to: it goes with --evaluations")
        print(report(args.paths, args.csv, args.by, args.records, args.brief))


if __name__ == "__main__":
    main(sys.argv[1:])
