"""``throughput``: for every model config, training images/s (forward, loss, backward, SGD step on
a fixed random batch), inference images/s (eval mode, no grad) and batch-1 latency, each in
three variants:

- ``eager``: the network as configured (NCHW);
- ``channels_last``: weights and inputs in NHWC (``speed.channels_last=true``);
- ``compiled``: ``torch.compile`` in place (``speed.compile=true``); the first steps, which
  compile, are reported apart as ``warmup_s``.

Only the model is timed: the inputs are already on the device (``bench data`` times the data).
"""

from __future__ import annotations

import torch

from cifar.bench.common import Stopwatch, autocast, header, load_model, train_step
from cifar.bench.latency import batch1_latency_ms

VARIANTS = ("eager", "channels_last", "compiled")


def prepare(name: str, variant: str, device: str) -> tuple[torch.nn.Module, torch.memory_format]:
    if variant not in VARIANTS:
        raise ValueError(f"variant {variant!r}: expected one of {', '.join(VARIANTS)}")
    torch.manual_seed(0)
    net = load_model(name).to(device)
    memory_format = torch.channels_last if variant == "channels_last" else torch.contiguous_format
    net = net.to(memory_format=memory_format)
    if variant == "compiled":
        net.compile()
    return net, memory_format


def train_rate(net: torch.nn.Module, memory_format: torch.memory_format, batch_size: int, steps: int, warmup: int,
               device: str, precision: str) -> tuple[float, float]:
    """(training images/s over ``steps``, seconds of the ``warmup`` steps before them)."""
    net.train()
    x = torch.randn(batch_size, 3, 32, 32, device=device).contiguous(memory_format=memory_format)
    y = torch.randint(0, 10, (batch_size,), device=device)
    optimizer = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)
    scaler = torch.amp.GradScaler(device.split(":")[0], enabled=precision == "16-mixed")

    def step() -> None:
        train_step(net, optimizer, scaler, x, y, device, precision)

    with Stopwatch(device) as first:
        for _ in range(warmup):
            step()
    with Stopwatch(device) as timed:
        for _ in range(steps):
            step()
    return batch_size * steps / timed.seconds, first.seconds


def inference_rate(net: torch.nn.Module, memory_format: torch.memory_format, batch_size: int, steps: int,
                   warmup: int, device: str, precision: str) -> float:
    net.eval()
    x = torch.randn(batch_size, 3, 32, 32, device=device).contiguous(memory_format=memory_format)
    with torch.inference_mode(), autocast(device, precision):
        for _ in range(warmup):
            net(x)
        with Stopwatch(device) as timed:
            for _ in range(steps):
                net(x)
    return batch_size * steps / timed.seconds


def throughput(models: list[str], variants: list[str], batch_size: int, eval_batch_size: int, steps: int,
               warmup: int, latency_runs: int, device: str, precision: str, threads: int | None) -> dict:
    if threads:
        torch.set_num_threads(threads)
    rows = []
    for name in models:
        for variant in variants:
            net, memory_format = prepare(name, variant, device)
            train_ips, warmup_s = train_rate(net, memory_format, batch_size, steps, warmup, device, precision)
            infer_ips = inference_rate(net, memory_format, eval_batch_size, steps, warmup, device, precision)
            with autocast(device, precision):
                latency = batch1_latency_ms(net, latency_runs, warmup=max(3, warmup), device=device,
                                            memory_format=memory_format)
            rows.append({
                "model": name, "variant": variant,
                "train_images_per_s": round(train_ips, 1), "infer_images_per_s": round(infer_ips, 1),
                "batch1_ms": round(latency, 3), "warmup_s": round(warmup_s, 2),
            })
            print(f"{name:12s} {variant:14s} train {train_ips:9.1f}/s  infer {infer_ips:9.1f}/s  "
                  f"batch-1 {latency:7.3f} ms  warm-up {warmup_s:6.1f} s", flush=True)
    return {
        "benchmark": "throughput",
        **header(device),
        "precision": precision, "batch_size": batch_size, "eval_batch_size": eval_batch_size,
        "steps": steps, "warmup_steps": warmup, "latency_runs": latency_runs,
        "results": rows,
    }


def fastest_training(report: dict) -> dict:
    """The row with the highest training images/s."""
    return max(report["results"], key=lambda r: r["train_images_per_s"])


def markdown(report: dict) -> str:
    lines = [
        f"throughput, {report['device']}, torch {report['torch']}, {report['precision']}, "
        f"train batch {report['batch_size']}, inference batch {report['eval_batch_size']}, "
        f"{report['steps']} timed steps after {report['warmup_steps']} warm-up steps, {report['date']}",
        "",
        "| model | variant | train images/s | inference images/s | batch-1 latency (ms) | warm-up (s) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['model']} | {r['variant']} | {r['train_images_per_s']:,.0f} | {r['infer_images_per_s']:,.0f} "
        f"| {r['batch1_ms']:.3f} | {r['warmup_s']:.1f} |"
        for r in report["results"]
    ]
    best = fastest_training(report)
    lines += ["", f"fastest training: {best['model']} ({best['variant']}) {best['train_images_per_s']:,.0f} images/s"]
    return "\n".join(lines)
