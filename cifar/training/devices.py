"""What the machine is: CPU model and its bf16 instructions (read from /proc/cpuinfo on Linux)."""

from __future__ import annotations

import functools
import platform
from pathlib import Path

BF16_FLAGS = ("amx_bf16", "avx512_bf16")


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
