"""Benchmarks: ``python -m cifar.bench latency|overhead [options]`` (``--help`` for each).

``latency``: batch-1 inference latency of every model config in ``conf/model`` (eval mode, no
grad, fp32, median over ``--runs`` after warm-up), with parameter counts.

``overhead``: the same model, data (the tensor pipeline over random images), batch size and
number of steps trained through the project's Lightning path (its config, callbacks and
logger) and through a plain PyTorch loop, interleaved in one process; the training loop alone is
timed in both. The last line printed is ``ratio=<lightning/plain>``.

Each prints a markdown table and writes its figures as JSON.
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


def overhead(model: str, steps: int, batch_size: int, rounds: int, threads: int | None) -> dict:
    import copy
    import tempfile

    import lightning as L
    import numpy as np
    import torch.nn.functional as F
    from hydra import compose, initialize_config_dir

    from cifar.data.tensor_pipeline import TensorBatches
    from cifar.instantiate import build_module, build_trainer, resolve_precision

    if threads:
        torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (steps * batch_size, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, steps * batch_size)
    lr = 1e-3

    def batches() -> TensorBatches:
        return TensorBatches(images, labels, batch_size, shuffle=True, seed=0)

    def plain(net: torch.nn.Module) -> float:
        net.train()
        optimizer = torch.optim.AdamW(net.parameters(), lr=lr)
        start = time.perf_counter()
        for x, y in batches():
            loss = F.cross_entropy(net(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return steps * batch_size / (time.perf_counter() - start)

    class EpochTimer(L.Callback):
        def on_train_epoch_start(self, trainer, pl_module):
            self.start = time.perf_counter()

        def on_train_epoch_end(self, trainer, pl_module):
            self.seconds = time.perf_counter() - self.start

    def lightning(net: torch.nn.Module, out: str) -> float:
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose("train", overrides=[
                f"model={model}", "optimizer=adamw", f"optimizer.lr={lr}", "optimizer.weight_decay=0.01",
                "scheduler=none", "label_smoothing=0.0", "accelerator=cpu", "trainer.max_epochs=1",
                "trainer.limit_val_batches=0", "trainer.num_sanity_val_steps=0", "trainer.enable_model_summary=false",
                "~callbacks.model_checkpoint", "~callbacks.early_stopping", f"paths.output_dir={out}",
            ])
        resolve_precision(cfg)
        module = build_module(cfg)
        module.net = net
        timer = EpochTimer()
        trainer = build_trainer(cfg)
        trainer.callbacks.append(timer)
        trainer.fit(module, train_dataloaders=batches())
        return steps * batch_size / timer.seconds

    torch.manual_seed(0)
    initial = load_model(model)
    results: dict[str, list[float]] = {"lightning": [], "plain": []}
    with tempfile.TemporaryDirectory() as out:
        for _ in range(rounds):
            results["plain"].append(plain(copy.deepcopy(initial)))
            results["lightning"].append(lightning(copy.deepcopy(initial), out))
    plain_ips = statistics.median(results["plain"])
    lightning_ips = statistics.median(results["lightning"])
    return {
        "benchmark": "overhead",
        "date": date.today().isoformat(),
        "device": f"cpu: {cpu_name()}, {torch.get_num_threads()} threads",
        "torch": torch.__version__,
        "model": model, "steps": steps, "batch_size": batch_size, "rounds": rounds,
        "images_per_s": results,
        "plain_median": round(plain_ips, 1),
        "lightning_median": round(lightning_ips, 1),
        "ratio": round(lightning_ips / plain_ips, 4),
    }


def overhead_markdown(report: dict) -> str:
    return "\n".join([
        f"Lightning path vs plain loop: {report['model']}, {report['steps']} steps of {report['batch_size']}, "
        f"{report['rounds']} interleaved rounds, {report['device']}, torch {report['torch']}, {report['date']}",
        "",
        "| path | images/s (median) | rounds |",
        "|---|---:|---|",
        f"| plain PyTorch loop | {report['plain_median']:.0f} | {', '.join(f'{v:.0f}' for v in report['images_per_s']['plain'])} |",
        f"| cifar (Lightning) | {report['lightning_median']:.0f} | {', '.join(f'{v:.0f}' for v in report['images_per_s']['lightning'])} |",
        "",
        f"ratio={report['ratio']}",
    ])


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
    over = sub.add_parser("overhead", help="the project's Lightning loop against a plain PyTorch loop")
    over.add_argument("--model", default="smallnet", choices=model_names())
    over.add_argument("--steps", type=int, default=100)
    over.add_argument("--batch-size", type=int, default=128)
    over.add_argument("--rounds", type=int, default=3)
    over.add_argument("--threads", type=int, default=None)
    over.add_argument("--json", type=Path, default=Path("outputs/bench/overhead.json"))
    args = parser.parse_args(argv)

    if args.what == "latency":
        unknown = sorted(set(args.models.split(",")) - set(model_names()))
        if unknown:
            parser.error(f"--models: unknown {', '.join(unknown)}; expected some of {', '.join(model_names())}")
        report = latency(args.models.split(","), args.runs, args.device, args.threads)
        text = markdown(report)
    else:
        report = overhead(args.model, args.steps, args.batch_size, args.rounds, args.threads)
        text = overhead_markdown(report)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written: {args.json}\n")
    print(text)


if __name__ == "__main__":
    main()
