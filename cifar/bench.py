"""Benchmarks: ``python -m cifar.bench latency [--models a,b] [--runs N] [--json FILE]``.

``latency``: batch-1 inference latency of every model config in ``conf/model`` (eval mode, no
grad, fp32, median over ``--runs`` after warm-up), with parameter counts. Prints a markdown
table and writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from datetime import date
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

CONF = Path(__file__).resolve().parents[1] / "conf"


def model_names() -> list[str]:
    return sorted(p.stem for p in (CONF / "model").glob("*.yaml"))


def load_model(name: str) -> torch.nn.Module:
    return instantiate(OmegaConf.load(CONF / "model" / f"{name}.yaml"))


def batch1_latency_ms(net: torch.nn.Module, runs: int, warmup: int = 20, device: str = "cpu") -> float:
    net = net.to(device).eval()
    x = torch.randn(1, 3, 32, 32, device=device)
    times = []
    with torch.inference_mode():
        for i in range(warmup + runs):
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            start = time.perf_counter()
            net(x)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            if i >= warmup:
                times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def latency(models: list[str], runs: int, device: str, threads: int | None) -> dict:
    if threads:
        torch.set_num_threads(threads)
    rows = []
    for name in models:
        net = load_model(name)
        params = sum(p.numel() for p in net.parameters() if p.requires_grad)
        rows.append({"model": name, "params": params, "batch1_ms": round(batch1_latency_ms(net, runs, device=device), 3)})
    return {
        "benchmark": "latency",
        "date": date.today().isoformat(),
        "device": device if device != "cpu" else f"cpu: {cpu_name()}, {torch.get_num_threads()} threads",
        "torch": torch.__version__,
        "runs": runs,
        "results": rows,
    }


def markdown(report: dict) -> str:
    lines = [
        f"batch-1 inference latency, {report['device']}, torch {report['torch']}, {report['date']}",
        "",
        "| model | parameters | batch-1 latency (ms, median) |",
        "|---|---:|---:|",
    ]
    lines += [f"| {r['model']} | {r['params']:,} | {r['batch1_ms']:.3f} |" for r in report["results"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cifar.bench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    lat = sub.add_parser("latency", help="batch-1 inference latency of every model config")
    lat.add_argument("--models", default=",".join(model_names()), help="comma-separated model configs")
    lat.add_argument("--runs", type=int, default=200)
    lat.add_argument("--device", default="cpu")
    lat.add_argument("--threads", type=int, default=None)
    lat.add_argument("--json", type=Path, default=Path("outputs/bench/latency.json"))
    args = parser.parse_args(argv)

    unknown = sorted(set(args.models.split(",")) - set(model_names()))
    if unknown:
        parser.error(f"--models: unknown {', '.join(unknown)}; expected some of {', '.join(model_names())}")
    report = latency(args.models.split(","), args.runs, args.device, args.threads)
    print(markdown(report))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten: {args.json}")


if __name__ == "__main__":
    main()
