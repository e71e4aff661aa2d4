"""Which device a command runs on, and what the machine is (CPU model and bf16 instructions, GPU name).

``resolve_device`` is the one place that turns a device or accelerator name into a torch device:
training's ``trainer.accelerator``, evaluate's and predict's ``device`` and the benchmarks all ask it.
"""

from __future__ import annotations

import functools
import platform
from pathlib import Path

import torch

from cifar.errors import ConfigError

BF16_FLAGS = ("amx_bf16", "avx512_bf16")
GPU_NAMES = ("gpu", "cuda")


def resolve_device(name: str = "auto") -> torch.device:
    """``auto``: the CUDA GPU when there is one, else the CPU; ``gpu``/``cuda``: the first CUDA GPU;
    ``cuda:N``; ``cpu``; ``mps``. A GPU that is asked for but absent is a :class:`ConfigError`."""
    name = str(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device("cuda" if name in GPU_NAMES else name)
    except (RuntimeError, ValueError):
        raise ConfigError(f"device {name!r} is unknown: expected auto, cpu, gpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r}: no CUDA GPU is available here (use cpu or auto)")
    return device


def trainer_device(device: torch.device) -> dict:
    """Lightning Trainer arguments that run on ``device`` (one device)."""
    if device.type == "cuda":
        return {"accelerator": "gpu", "devices": [device.index or 0]}
    return {"accelerator": device.type, "devices": 1}


@functools.cache
def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpu_name() -> str:
    for line in _cpuinfo().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cpu_flags() -> set[str]:
    for line in _cpuinfo().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_bf16_flags() -> list[str]:
    """The CPU's bf16 instruction sets (``amx_bf16``, ``avx512_bf16``): where bf16 autocast pays."""
    flags = cpu_flags()
    return [f for f in BF16_FLAGS if f in flags]


def describe_machine(device: torch.device | str = "cpu") -> str:
    """``gpu: <name>`` or ``cpu: <model name> (amx_bf16, avx512_bf16), N threads``."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"gpu: {torch.cuda.get_device_name(device)}"
    bf16 = cpu_bf16_flags()
    extra = f" ({', '.join(bf16)})" if bf16 else ""
    return f"cpu: {cpu_name()}{extra}, {torch.get_num_threads()} threads"
