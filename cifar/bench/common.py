"""What every benchmark shares: the model configs, the machine's description, timing, reports."""

from __future__ import annotations

import contextlib
import time
from datetime import date
from pathlib import Path

import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import OmegaConf

from cifar import CONF_DIR as CONF
from cifar.errors import ConfigError
from cifar.files import write_json
from cifar.training.devices import describe_machine
AUTOCAST = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}


def model_names() -> list[str]:
    return sorted(p.stem for p in (CONF / "model").glob("*.yaml"))


def load_model(name: str) -> torch.nn.Module:
    return instantiate(OmegaConf.load(CONF / "model" / f"{name}.yaml"))


def check_models(names: list[str]) -> list[str]:
    unknown = sorted(set(names) - set(model_names()))
    if unknown:
        raise ConfigError(f"--models: unknown {', '.join(unknown)}: expected some of {', '.join(model_names())}")
    return names


def header(device: str = "cpu") -> dict:
    return {"date": date.today().isoformat(), "device": describe_machine(device), "torch": torch.__version__}


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


class Stopwatch:
    """Wall time of a block, synchronized with the device at both ends."""

    def __init__(self, device: str = "cpu"):
        self.device = device
        self.seconds = 0.0

    def __enter__(self) -> "Stopwatch":
        synchronize(self.device)
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        synchronize(self.device)
        self.seconds = time.perf_counter() - self.start


def write_report(path: Path, report: dict, text: str) -> None:
    print(f"written: {write_json(path, report)}\n")
    print(text)


def autocast(device: str, precision: str):
    """The autocast context of a Lightning precision (``32-true``: none)."""
    if precision in AUTOCAST:
        return torch.autocast(device.split(":")[0], dtype=AUTOCAST[precision])
    return contextlib.nullcontext()


def train_step(net: torch.nn.Module, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
               x: torch.Tensor, y: torch.Tensor, device: str, precision: str, **loss_options) -> torch.Tensor:
    """One plain training step: forward under autocast, cross entropy, backward, optimizer step."""
    with autocast(device, precision):
        outputs = net(x)
    loss = F.cross_entropy(outputs.float(), y, **loss_options)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return loss
