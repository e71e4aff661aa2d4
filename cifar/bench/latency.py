"""``latency``: batch-1 inference latency of every model config in ``conf/model`` (eval mode, no
grad, fp32, median over ``--runs`` after warm-up), with parameter counts."""

from __future__ import annotations

import statistics

import torch

from cifar.bench.common import Stopwatch, header, load_model


def batch1_latency_ms(net: torch.nn.Module, runs: int, warmup: int = 20, device: str = "cpu",
                      memory_format: torch.memory_format = torch.contiguous_format) -> float:
    """Median wall time of one forward pass of one image (eval mode, no grad), in ms."""
    net = net.to(device).eval()
    x = torch.randn(1, 3, 32, 32, device=device).contiguous(memory_format=memory_format)
    times = []
    with torch.inference_mode():
        for i in range(warmup + runs):
            with Stopwatch(device) as watch:
                net(x)
            if i >= warmup:
                times.append(watch.seconds * 1e3)
    return statistics.median(times)


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
        **header(device),
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


