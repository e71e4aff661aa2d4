"""``record``: the 2024 CIFAR-10 speed record's own code (the PyPI package ``airbench==0.1.8``, its
``train94``) run on the CPU, on the data the project trains on, timed as ``speedrun`` times the
project's recipes, so that the two can be compared.

    python -m cifar.bench record [--runs N] [--first-seed S] [data.data_dir=...]

airbench is written for a CUDA GPU. Here it runs unchanged, inside :func:`on_cpu`, which for the run
only (everything is undone on exit): writes the project's training and test images where airbench's
``CifarLoader`` reads them (``cifar10/train.pt``, ``cifar10/test.pt`` under a temporary working
directory) and maps its ``torch.load`` to the CPU; makes ``.cuda()`` an identity; keeps the weights in
fp32 (``Module.half`` does nothing, ``Tensor.half`` is ``.float()``: CPUs run fp16 convolutions
slowly or not at all); and puts CPU stand-ins in place of ``torch.cuda.Event`` and
``torch.cuda.synchronize``. On CPUs with bf16 instructions the network's forward runs under bf16
autocast (as the project's recipes do there, ``precision=bf16-mixed``); the whitening fit does not.

Each run is seeded (``torch.manual_seed``) and timed from the call of ``train94`` to its test
accuracy with airbench's own TTA (``evaluate(model, test_loader, tta_level=2)``); the accuracy
without TTA is measured after, untimed. A short warm-up run (``--warmup-steps`` steps and one test
batch) comes first and is reported apart. The last line printed is
``acc=<mean test accuracy> time_s=<median seconds>``.
"""

from __future__ import annotations

import contextlib
import math
import os
import statistics
import tempfile
import time
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator

import numpy as np
import torch

from cifar.bench.common import header
from cifar.bench.speedrun import compose_recipe, summary_lines, trained_images
from cifar.data.constants import CLASS_NAMES
from cifar.errors import ConfigError, check_range
from cifar.models.flops import train_step_flops
from cifar.training.devices import cpu_bf16_flags, cpu_name
from cifar.training.factory import build

VERSION = "0.1.8"
CODE = f"airbench {VERSION} train94"
OVERRIDE_PREFIXES = ("data.", "paths.")  # the data only: the recipe is airbench's own
WARMUP_TEST_IMAGES = 2000  # one of airbench's evaluation batches


def import_airbench() -> ModuleType:
    """The installed ``airbench``, which must be the release reported (one line if not)."""
    install = 'pip install -e ".[bench]"'
    benchmark = torch.backends.cudnn.benchmark
    try:
        import airbench
    except ImportError:
        raise ConfigError(f"bench record runs the speed record's own code, airbench {VERSION}, which is not "
                          f"installed: {install}") from None
    finally:
        torch.backends.cudnn.benchmark = benchmark  # (airbench sets it on import)
    try:
        installed = metadata.version("airbench")
    except metadata.PackageNotFoundError:
        installed = "unknown"
    if installed != VERSION:
        raise ConfigError(f"airbench {installed} is installed: bench record runs airbench {VERSION}: {install}")
    return airbench


def check_overrides(overrides: list[str]) -> list[str]:
    for item in overrides:
        if not item.lstrip("+~").startswith(OVERRIDE_PREFIXES):
            raise ConfigError(f"{item}: bench record takes data overrides only (data.*, paths.*): the recipe is "
                              f"{CODE}'s own")
    return overrides


# -- airbench on the CPU --------------------------------------------------------------------------


class CpuEvent:
    """``torch.cuda.Event`` for CPU code: ``record()`` notes the time, ``elapsed_time`` is in ms."""

    def __init__(self, *args: Any, **kwargs: Any):
        self.time: float | None = None

    def record(self, *args: Any, **kwargs: Any) -> None:
        self.time = time.perf_counter()

    def synchronize(self) -> None:
        pass

    def query(self) -> bool:
        return True

    def elapsed_time(self, end: "CpuEvent") -> float:
        return 1000.0 * (end.time - self.time)


def _load_on_cpu(original: Callable[..., Any]) -> Callable[..., Any]:
    def load(f: Any, *args: Any, map_location: Any = None, **kwargs: Any) -> Any:
        return original(f, *args, map_location="cpu", **kwargs)

    return load


def _identity(self: Any, *args: Any, **kwargs: Any) -> Any:
    return self


def _float(self: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    return self.float(*args, **kwargs)


@contextlib.contextmanager
def patched(replacements: list[tuple[Any, str, Any]]) -> Iterator[None]:
    """Each ``(owner, name, value)`` set for the block; then each attribute as it was (an attribute the
    owner only inherited is deleted again, not copied onto it)."""
    saved = [(owner, name, vars(owner).get(name, _MISSING)) for owner, name, _ in replacements]
    try:
        for owner, name, value in replacements:
            setattr(owner, name, value)
        yield
    finally:
        for owner, name, value in reversed(saved):
            if value is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, value)


_MISSING = object()


@contextlib.contextmanager
def on_cpu(directory: str | Path) -> Iterator[None]:
    """airbench's CUDA calls made CPU ones, and ``directory`` the working directory, for the block."""
    cwd = os.getcwd()
    with patched([
        (torch, "load", _load_on_cpu(torch.load)),
        (torch.nn.Module, "cuda", _identity),
        (torch.Tensor, "cuda", _identity),
        (torch.nn.Module, "half", _identity),  # fp32 weights
        (torch.Tensor, "half", _float),
        (torch.cuda, "Event", CpuEvent),
        (torch.cuda, "synchronize", lambda *args, **kwargs: None),
    ]):
        os.chdir(directory)
        try:
            yield
        finally:
            os.chdir(cwd)


def write_data(datamodule: Any, directory: Path) -> tuple[int, int]:
    """The datamodule's training and test sets as airbench's ``cifar10/{train,test}.pt`` files under
    ``directory``; (training images, test images)."""
    (directory / "cifar10").mkdir(parents=True, exist_ok=True)
    sizes = []
    for name, dataset in (("train", datamodule.train_set), ("test", datamodule.test_set)):
        images = torch.from_numpy(np.ascontiguousarray(dataset.images, dtype=np.uint8))
        labels = torch.as_tensor(dataset.labels, dtype=torch.int64)
        torch.save({"images": images, "labels": labels, "classes": list(CLASS_NAMES)},
                   directory / "cifar10" / f"{name}.pt")
        sizes.append(len(labels))
    return sizes[0], sizes[1]


def net_maker(airbench: ModuleType, bf16: bool) -> Callable[[], torch.nn.Module]:
    """``make_net`` for ``train94``: airbench's network, its forward under bf16 autocast when ``bf16``
    (float logits); the whitening fit, which does not go through the forward, stays fp32."""

    def make_net() -> torch.nn.Module:
        net = airbench.make_net94()
        if bf16:
            forward = net.forward

            def autocast_forward(x: torch.Tensor) -> torch.Tensor:
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    return forward(x).float()

            net.forward = autocast_forward
        return net

    return make_net


# -- the harness ----------------------------------------------------------------------------------


def record(overrides: list[str], runs: int = 1, first_seed: int = 0, warmup_steps: int = 5,
           batch_size: int | None = None, epochs: float | None = None) -> dict:
    """``runs`` seeded runs of airbench's ``train94`` (``batch_size``, ``epochs``: None = airbench's)."""
    check_range("--runs", runs, runs >= 1, "an integer >= 1")
    check_range("--warmup-steps", warmup_steps, warmup_steps >= 0, "an integer >= 0")
    check_overrides(overrides)
    airbench = import_airbench()
    hyp = airbench.lib_airbench94.hyp
    batch_size = hyp["opt"]["batch_size"] if batch_size is None else batch_size
    epochs = hyp["opt"]["train_epochs"] if epochs is None else epochs
    check_range("--batch-size", batch_size, batch_size >= 1, "an integer >= 1")
    check_range("--epochs", epochs, epochs > 0, "a number > 0")
    tta_level = hyp["net"]["tta_level"]
    bf16_flags = cpu_bf16_flags()
    make_net = net_maker(airbench, bool(bf16_flags))

    with tempfile.TemporaryDirectory() as out:
        cfg = compose_recipe(["experiment=speedrun94", *overrides], out)
        datamodule = build(cfg.data, "data")
        datamodule.prepare_data()
        datamodule.setup("fit")
        datamodule.setup("test")
        train_size, test_size = write_data(datamodule, Path(out))
        del datamodule
        check_range("--batch-size", batch_size, batch_size <= train_size,
                    f"at most the {train_size} training images")
        per_epoch = train_size // batch_size  # airbench drops the last partial batch
        steps = math.ceil(epochs * per_epoch)
        images = trained_images(steps, train_size, batch_size, drop_last=True)

        with on_cpu(out):
            train_loader = airbench.CifarLoader("cifar10", train=True, batch_size=batch_size, aug=hyp["aug"],
                                                altflip=True)
            test_loader = airbench.CifarLoader("cifar10", train=False, batch_size=2000)

            flops_per_step = train_step_flops(airbench.make_net94(), batch_size)  # (not the autocast forward)
            warm_start = time.perf_counter()
            if warmup_steps:
                # (K - 0.5) / per_epoch epochs: ceil(per_epoch * epochs) = K steps in train94
                torch.manual_seed(first_seed)
                model = airbench.train94(train_loader=train_loader, epochs=(warmup_steps - 0.5) / per_epoch,
                                         run=-1, verbose=False, make_net=make_net)
                warm_test = airbench.CifarLoader("cifar10", train=False, batch_size=2000)
                warm_test.images = warm_test.images[:WARMUP_TEST_IMAGES]
                warm_test.labels = warm_test.labels[:WARMUP_TEST_IMAGES]
                airbench.evaluate(model, warm_test, tta_level=tta_level)
                del model, warm_test
            warmup_s = time.perf_counter() - warm_start
            print(f"warm-up ({warmup_steps} steps + 1 test batch): {warmup_s:.1f} s", flush=True)

            rows: list[dict[str, Any]] = []
            for run, seed in enumerate(range(first_seed, first_seed + runs)):
                torch.manual_seed(seed)
                start = time.perf_counter()
                model = airbench.train94(train_loader=train_loader, epochs=epochs, run=run, verbose=False,
                                         make_net=make_net)
                acc = airbench.evaluate(model, test_loader, tta_level=tta_level)
                seconds = time.perf_counter() - start
                no_tta = airbench.evaluate(model, test_loader, tta_level=0)  # (untimed)
                rows.append({"seed": seed, "test_acc": acc, "test_acc_no_tta": no_tta, "seconds": round(seconds, 2),
                             "train_images": images, "images_per_s": round(images / seconds, 1)})
                print(f"seed {seed}: test acc {acc:.4f} (without TTA {no_tta:.4f}) in {seconds:.1f} s, "
                      f"{images / seconds:.1f} training images/s", flush=True)
                del model

    accs = [r["test_acc"] for r in rows]
    times = [r["seconds"] for r in rows]
    return {
        "benchmark": "record",
        **header("cpu"),
        "cpu": cpu_name(), "amx_bf16": "amx_bf16" in bf16_flags, "bf16_flags": bf16_flags,
        "code": CODE, "overrides": overrides,
        "precision": "bf16-mixed" if bf16_flags else "32-true",
        "batch_size": batch_size, "epochs": epochs, "steps": steps, "tta_level": tta_level,
        "train_size": train_size, "test_size": test_size,
        "warmup_steps": warmup_steps, "warmup_s": round(warmup_s, 2), "runs": rows,
        "acc_mean": statistics.mean(accs), "acc_std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
        "acc_no_tta_mean": statistics.mean(r["test_acc_no_tta"] for r in rows),
        "n": len(accs), "time_median_s": statistics.median(times), "time_max_s": max(times),
        "images_per_s_median": statistics.median(r["images_per_s"] for r in rows),
        "flops_per_step": flops_per_step, "train_flops": steps * flops_per_step,
    }


def markdown(report: dict) -> str:
    precision = ("bf16-mixed (bf16 autocast of the forward, fp32 weights)" if report["precision"] == "bf16-mixed"
                 else "32-true")
    lines = [
        f"record {report['code']}{''.join(' ' + o for o in report['overrides'])}: {report['device']} (amx_bf16: "
        f"{'yes' if report['amx_bf16'] else 'no'}), torch {report['torch']}, precision {precision}, "
        f"batch {report['batch_size']}, {report['epochs']} epochs ({report['steps']} steps), "
        f"{report['train_size']} training / {report['test_size']} test images, {report['date']}",
        f"warm-up (excluded): {report['warmup_s']:.1f} s",
        "",
        "| seed | test acc | test acc without TTA | seconds (train94 call to test accuracy) | training images/s |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in report["runs"]:
        lines.append(f"| {r['seed']} | {r['test_acc']:.4f} | {r['test_acc_no_tta']:.4f} | {r['seconds']:.1f} "
                     f"| {r['images_per_s']:.1f} |")
    lines += ["", *summary_lines(report), f"acc={report['acc_mean']:.4f} time_s={report['time_median_s']:.1f}"]
    return "\n".join(lines)
