"""``python -m cifar.bench <what> [options]``: see ``cifar/bench/__init__.py``."""

from __future__ import annotations

import argparse
from pathlib import Path

from cifar.bench import __doc__ as DOC
from cifar.bench.common import check_models, model_names, write_report
from cifar.cli import command
from cifar.errors import ConfigError, check_range
from cifar.training.devices import resolve_device

PRECISIONS = ("32-true", "bf16-mixed", "16-mixed")


def _models(text: str) -> list[str]:
    return check_models(text.split(","))


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m cifar.bench", description=DOC.splitlines()[0],
                                   formatter_class=argparse.RawDescriptionHelpFormatter, epilog=DOC)
    sub = root.add_subparsers(dest="what", required=True)
    every = ",".join(model_names())

    lat = sub.add_parser("latency", help="batch-1 inference latency of every model config")
    lat.add_argument("--models", type=_models, default=every, help="comma-separated model configs")
    lat.add_argument("--runs", type=int, default=200)
    lat.add_argument("--device", default="cpu")
    lat.add_argument("--threads", type=int, default=None)
    lat.add_argument("--json", type=Path, default=Path("outputs/bench/latency.json"))

    thr = sub.add_parser("throughput", help="train/inference images/s and batch-1 latency: eager, channels_last, compiled")
    thr.add_argument("--models", type=_models, default=every, help="comma-separated model configs")
    thr.add_argument("--variants", default="eager,channels_last,compiled", help="some of eager,channels_last,compiled")
    thr.add_argument("--batch-size", type=int, default=128)
    thr.add_argument("--eval-batch-size", type=int, default=500)
    thr.add_argument("--steps", type=int, default=10, help="timed steps (after the warm-up steps)")
    thr.add_argument("--warmup", type=int, default=3, help="untimed steps first (they compile, if compiled)")
    thr.add_argument("--latency-runs", type=int, default=50)
    thr.add_argument("--device", default="cpu", help="cpu | cuda")
    thr.add_argument("--precision", default="32-true", choices=PRECISIONS)
    thr.add_argument("--threads", type=int, default=None)
    thr.add_argument("--json", type=Path, default=Path("outputs/bench/throughput.json"))

    dat = sub.add_parser("data", help="each data pipeline alone, against the fastest model's training rate")
    dat.add_argument("--images", type=int, default=20000, help="random images per epoch")
    dat.add_argument("--batch-size", type=int, default=128)
    dat.add_argument("--workers", default="0", help="comma-separated DataLoader worker counts (albumentations)")
    dat.add_argument("--epochs", type=int, default=2, help="timed epochs (after one untimed)")
    dat.add_argument("--device", default="cpu", help="cpu | cuda")
    dat.add_argument("--precision", default="32-true", choices=PRECISIONS, help="of the reference model rate")
    dat.add_argument("--reference", type=Path, default=Path("outputs/bench/throughput.json"),
                     help="a `bench throughput` report of this machine; measured now when absent or foreign")
    dat.add_argument("--threads", type=int, default=None)
    dat.add_argument("--json", type=Path, default=Path("outputs/bench/data.json"))

    run = sub.add_parser("speedrun", help="a recipe N times (Lightning) and as a plain loop: accuracy, time, ratio")
    run.add_argument("overrides", nargs="*", help="experiment=<name> seeds=N and any other Hydra overrides")
    run.add_argument("--plain-runs", type=int, default=1, help="plain-loop runs (seeds from the first); 0 = none")
    run.add_argument("--warmup-steps", type=int, default=5, help="steps of the untimed warm-up run (0 = none)")
    run.add_argument("--first-seed", type=int, default=0)
    run.add_argument("--json", type=Path, default=None, help="default: outputs/bench/speedrun_<experiment>.json")

    rec = sub.add_parser("record", help="the speed record's own code (airbench 0.1.8) on the CPU: accuracy, time")
    rec.add_argument("overrides", nargs="*", help="Hydra data overrides (data.data_dir=..., paths.data_dir=...)")
    rec.add_argument("--runs", type=int, default=1, help="timed runs, seeded from --first-seed")
    rec.add_argument("--first-seed", type=int, default=0)
    rec.add_argument("--warmup-steps", type=int, default=5, help="steps of the untimed warm-up run (0 = none)")
    rec.add_argument("--batch-size", type=int, default=None, help="default: airbench's (1024)")
    rec.add_argument("--epochs", type=float, default=None, help="default: airbench's (9.9)")
    rec.add_argument("--json", type=Path, default=Path("outputs/bench/record_airbench94.json"))

    over = sub.add_parser("overhead", help="the project's Lightning loop against a plain PyTorch loop, or a logger's cost")
    over.add_argument("overrides", nargs="*", help="Hydra overrides of the Lightning path (logger.mlflow.tracking_uri=...)")
    over.add_argument("--logger", default=None, help="compare logger=none with this logger (wandb, mlflow, ...)")
    over.add_argument("--model", default="smallnet", choices=model_names())
    over.add_argument("--steps", type=int, default=300, help="steps per round (fewer: the machine's drift decides the ratio)")
    over.add_argument("--batch-size", type=int, default=128)
    over.add_argument("--rounds", type=int, default=6)
    over.add_argument("--warmup", type=int, default=5, help="untimed steps at the start of each path")
    over.add_argument("--accelerator", default="cpu", choices=("cpu", "gpu"))
    over.add_argument("--precision", default="32-true", choices=PRECISIONS)
    over.add_argument("--threads", type=int, default=None)
    over.add_argument("--json", type=Path, default=None, help="default: outputs/bench/overhead_<model>.json")
    return root


@command
def main(argv: list[str] | None = None) -> None:
    args, extra = parser().parse_known_args(argv)
    # Hydra overrides may also follow the options (speedrun ... --plain-runs 0 model.widths=[32,64,64])
    if extra and args.what in ("speedrun", "record", "overhead") and all("=" in e and not e.startswith("-") for e in extra):
        args.overrides += extra
    elif extra:
        parser().error(f"unrecognized arguments: {' '.join(extra)}")
    if hasattr(args, "device"):  # the device as training chooses it (an absent GPU: one line)
        args.device = str(resolve_device(args.device))
    if args.what == "latency":
        from cifar.bench import latency

        report = latency.latency(args.models, args.runs, args.device, args.threads)
        text = latency.markdown(report)
    elif args.what == "throughput":
        from cifar.bench import throughput

        variants = args.variants.split(",")
        unknown = sorted(set(variants) - set(throughput.VARIANTS))
        if unknown:
            raise ConfigError(f"--variants: unknown {', '.join(unknown)}: expected some of {', '.join(throughput.VARIANTS)}")
        report = throughput.throughput(args.models, variants, args.batch_size, args.eval_batch_size, args.steps,
                                       args.warmup, args.latency_runs, args.device, args.precision, args.threads)
        text = throughput.markdown(report)
    elif args.what == "data":
        from cifar.bench import data

        workers = [int(w) for w in args.workers.split(",")]
        report = data.data_bench(args.images, args.batch_size, workers, args.epochs, args.device, args.precision,
                                 args.reference, args.threads)
        text = data.markdown(report)
    elif args.what == "speedrun":
        from cifar.bench import speedrun

        overrides, seeds = speedrun.parse_overrides(args.overrides)
        report = speedrun.speedrun(overrides, seeds, args.plain_runs, args.warmup_steps, args.first_seed)
        text = speedrun.markdown(report)
        args.json = args.json or speedrun.default_json(overrides)
    elif args.what == "record":
        from cifar.bench import record

        report = record.record(args.overrides, args.runs, args.first_seed, args.warmup_steps, args.batch_size,
                               args.epochs)
        text = record.markdown(report)
    else:
        from cifar.bench import overhead

        check_range("--warmup", args.warmup, 0 <= args.warmup < args.steps, f"0 <= warmup < --steps ({args.steps})")
        suffix = f"_{args.logger}" if args.logger else ""
        args.json = args.json or Path(f"outputs/bench/overhead_{args.model}{suffix}.json")
        report = overhead.overhead(args.model, args.steps, args.batch_size, args.rounds, args.threads,
                                   args.accelerator, args.precision, args.warmup, args.logger, args.overrides)
        text = overhead.markdown(report)
    write_report(args.json, report, text)


if __name__ == "__main__":
    main()
