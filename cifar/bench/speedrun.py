"""``speedrun``: a recipe (``experiment=<name>``) run ``seeds=N`` times in one process through the
project's Lightning path, each timed from the start of fit to the final test accuracy, with the
data already in memory; then the same recipe as a plain PyTorch loop written here, timed the same
way, for ``ratio=<lightning speed / plain speed>``.

A short warm-up run comes first (``--warmup-steps`` steps and one test batch, through both paths),
so that one-off costs (``torch.compile``, oneDNN/cuDNN kernel selection, allocator growth) are
reported apart as ``warmup_s`` and not counted in any run.

    python -m cifar.bench speedrun experiment=speedrun94 seeds=3 [other overrides]

Each run also reports its training images per second (the images it trained on over its timed
seconds) and its training FLOPs (its steps times the network's forward + backward FLOPs at its batch). The last line printed is ``acc=<mean test accuracy> time_s=<median seconds>``.
"""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from omegaconf import DictConfig, open_dict

from cifar import metric_names as M
from cifar.bench.common import autocast, header, synchronize, train_step
from cifar.training.callbacks.lookahead import Lookahead, pull_to_average
from cifar.training.callbacks.whitening import WhiteningInit, fit_whitening, whitening_layers
from cifar.cli import compose_config
from cifar.data.datamodule import CIFAR10DataModule
from cifar.errors import ConfigError
from cifar.data.tensor_pipeline import BatchAugment, TensorBatches, tensor_augmentation
from cifar.inference.tta import tta_logits
from cifar.models.flops import train_step_flops
from cifar.training.devices import cpu_bf16_flags, cpu_name, resolve_device
from cifar.reporting.trackers import end_runs
from cifar.training.factory import build, build_group, build_module, build_run, prepare
from cifar.training.param_groups import build_optimizer
from cifar.training.precision import HALF_WEIGHTS, half_weights


def compose_recipe(overrides: list[str], output_dir: str) -> DictConfig:
    cfg = prepare(compose_config([*overrides, f"paths.output_dir={output_dir}"]))
    if cfg.data.pipeline != "tensor":
        raise ConfigError(f"data.pipeline={cfg.data.pipeline}: bench speedrun times recipes with data.pipeline=tensor "
                          "(the data in memory)")
    return cfg


def device_of(cfg: DictConfig) -> str:
    return str(resolve_device(cfg.trainer.accelerator))


# -- the Lightning path ---------------------------------------------------------------------------


def lightning_run(cfg: DictConfig, datamodule: CIFAR10DataModule, seed: int, max_steps: int | None = None,
                  test_batches: int | float | None = None) -> tuple[float, float, float | None, int]:
    """(test accuracy, seconds from fit start to test accuracy, accuracy without TTA, training steps)."""
    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.seed = seed
        if max_steps is not None:
            cfg.trainer.max_steps = max_steps
        if test_batches is not None:
            cfg.trainer.limit_test_batches = test_batches
    datamodule.seed = seed
    datamodule.train_set.seed = seed
    run = build_run(cfg, datamodule)
    module, trainer = run.module, run.trainer
    device = device_of(cfg)
    synchronize(device)
    start = time.perf_counter()
    trainer.fit(module, datamodule=datamodule)
    results = trainer.test(module, datamodule=datamodule, verbose=False)[0]
    synchronize(device)
    seconds = time.perf_counter() - start
    end_runs(trainer.loggers, "success")  # (untimed) each seed is a run of its own in a tracker
    no_tta = results.get(M.TEST_ACC_NO_TTA)
    return float(results[M.TEST_ACC]), seconds, None if no_tta is None else float(no_tta), trainer.global_step


# -- the same recipe as a plain loop --------------------------------------------------------------


def plain_run(cfg: DictConfig, datamodule: CIFAR10DataModule, seed: int, max_steps: int | None = None,
              test_batches: int | None = None) -> tuple[float, float, float | None, int]:
    """The recipe written as a plain PyTorch loop: whitening fit, device-resident augmented batches,
    parameter groups, schedule, lookahead, TTA. Its settings come from the objects the config builds
    for the Lightning path (the module's network, optimizer, schedule and loss settings, the whitening
    and lookahead callbacks, the datamodule), so the two paths cannot run different recipes."""
    device = device_of(cfg)
    precision = str(cfg.precision)
    L.seed_everything(seed, workers=True, verbose=False)
    module = build_module(cfg)  # the network, built (and seeded) as the Lightning path builds it
    callbacks = build_group(cfg.get("callbacks"), "callbacks")
    whitening = next((c for c in callbacks if isinstance(c, WhiteningInit)), None)
    lookahead = next((c for c in callbacks if isinstance(c, Lookahead)), None)
    synchronize(device)
    start = time.perf_counter()

    net = module.net.to(device)
    memory_format = torch.channels_last if module.channels_last else torch.contiguous_format
    if whitening is not None:
        fit_whitening(net, datamodule.train_set.images, whitening.images)
    input_dtype = HALF_WEIGHTS.get(precision)  # *-true-bn32: half weights and inputs, no autocast
    if input_dtype is not None:
        net = half_weights(net, input_dtype)
    layers = whitening_layers(net)
    bias_epochs = whitening.bias_epochs if whitening is not None else None

    train = TensorBatches(*datamodule.on_device(datamodule.train_set, device), datamodule.batch_size,
                          device=device, shuffle=True, augment=tensor_augmentation(datamodule.augment), seed=seed,
                          drop_last=datamodule.drop_last)
    total_steps = min(cfg.trainer.max_steps if cfg.trainer.max_steps not in (None, -1) else math.inf,
                      cfg.trainer.max_epochs * len(train))
    if max_steps is not None:
        total_steps = min(total_steps, max_steps)
    total_steps = int(total_steps)

    optimizer = build_optimizer(net, module.optimizer_factory, module.param_group_specs)
    scheduler = module.scheduler_factory(optimizer=optimizer, total_steps=total_steps) \
        if module.scheduler_factory is not None else None
    tracked = {k: v for k, v in net.state_dict().items() if v.is_floating_point()}
    average = {k: v.detach().clone() for k, v in tracked.items()} if lookahead else {}
    scaler = torch.amp.GradScaler(device, enabled=precision == "16-mixed")

    step = 0
    net.train()
    for epoch in range(cfg.trainer.max_epochs):
        if step >= total_steps:
            break
        train.set_epoch(epoch)
        for layer in layers:
            if bias_epochs is not None:
                layer.bias.requires_grad_(epoch < bias_epochs)
        for images, labels in train:
            if input_dtype is not None:
                images = images.to(input_dtype)
            train_step(net, optimizer, scaler, images.contiguous(memory_format=memory_format), labels, device,
                       precision, label_smoothing=module.label_smoothing, reduction=module.loss_reduction)
            if scheduler is not None:
                scheduler.step()
            step += 1
            if lookahead is not None and (step % lookahead.every_n_steps == 0 or step >= total_steps):
                decay = 1.0 if step >= total_steps else lookahead.decay(step, total_steps)
                pull_to_average(average, tracked, decay)
            if step >= total_steps:
                break

    net.eval()
    test = TensorBatches(*datamodule.on_device(datamodule.test_set, device), datamodule.eval_batch_size,
                         device=device, augment=BatchAugment())
    correct = correct_plain = seen = 0
    with torch.inference_mode(), autocast(device, precision):
        for i, (images, labels) in enumerate(test):
            if test_batches is not None and i >= test_batches:
                break
            images = images.contiguous(memory_format=memory_format)
            if input_dtype is not None:
                images = images.to(input_dtype)
            plain = net(images)
            # the plain view is scored before the TTA views run: under CUDA graphs
            # (speed.compile_mode=reduce-overhead) the next call reuses its output's memory
            correct_plain += (plain.argmax(1) == labels).sum()
            correct += (tta_logits(net, images, module.tta, plain=plain).argmax(1) == labels).sum()
            seen += len(labels)
    accuracy = float(correct) / seen
    synchronize(device)
    seconds = time.perf_counter() - start
    return accuracy, seconds, (float(correct_plain) / seen if module.tta != "none" else None), step


# -- the harness ----------------------------------------------------------------------------------


def speedrun(overrides: list[str], seeds: int, plain_runs: int, warmup_steps: int, first_seed: int = 0) -> dict:
    with tempfile.TemporaryDirectory() as out:
        cfg = compose_recipe(overrides, out)
        datamodule = build(cfg.data, "data")
        datamodule.prepare_data()
        datamodule.setup("fit")
        datamodule.setup("test")

        warm_start = time.perf_counter()
        if warmup_steps:
            lightning_run(cfg, datamodule, seed=first_seed, max_steps=warmup_steps, test_batches=1)
            if plain_runs:
                plain_run(cfg, datamodule, seed=first_seed, max_steps=warmup_steps, test_batches=1)
        warmup_s = time.perf_counter() - warm_start
        print(f"warm-up ({warmup_steps} steps + 1 test batch, both paths): {warmup_s:.1f} s", flush=True)

        runs: list[dict[str, Any]] = []
        for path, count, run in (("lightning", seeds, lightning_run), ("plain", plain_runs, plain_run)):
            for seed in range(first_seed, first_seed + count):
                acc, seconds, no_tta, steps = run(cfg, datamodule, seed)
                images = trained_images(steps, len(datamodule.train_set), cfg.data.batch_size,
                                        bool(cfg.data.drop_last))
                runs.append({"path": path, "seed": seed, "test_acc": acc, "test_acc_no_tta": no_tta,
                             "seconds": round(seconds, 2), "steps": steps, "train_images": images,
                             "images_per_s": round(images / seconds, 1)})
                print(f"{path} seed {seed}: test acc {acc:.4f} (without TTA {no_tta}) in {seconds:.1f} s, "
                      f"{images / seconds:.1f} training images/s", flush=True)

    flops_per_step = train_step_flops(build_module(cfg).net, int(cfg.data.batch_size))
    for r in runs:
        r["train_flops"] = r.pop("steps") * flops_per_step
    ours = [r for r in runs if r["path"] == "lightning"]
    plain = [r for r in runs if r["path"] == "plain"]
    accs = [r["test_acc"] for r in ours]
    times = [r["seconds"] for r in ours]
    report = {
        "benchmark": "speedrun",
        **header(device_of(cfg)),
        "cpu": cpu_name(), "amx_bf16": "amx_bf16" in cpu_bf16_flags(), "bf16_flags": cpu_bf16_flags(),
        "overrides": overrides, "precision": str(cfg.precision),
        "compile": bool(cfg.speed.compile), "channels_last": bool(cfg.speed.channels_last),
        "warmup_s": round(warmup_s, 2), "runs": runs,
        "acc_mean": statistics.mean(accs), "acc_std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
        "n": len(accs), "time_median_s": statistics.median(times), "time_max_s": max(times),
        "images_per_s_median": statistics.median(r["images_per_s"] for r in ours),
        "batch_size": int(cfg.data.batch_size), "flops_per_step": flops_per_step,
        "train_flops": statistics.median(r["train_flops"] for r in ours),
    }
    no_tta = [r["test_acc_no_tta"] for r in ours if r["test_acc_no_tta"] is not None]
    if no_tta:
        report["acc_no_tta_mean"] = statistics.mean(no_tta)
    if plain:
        report["plain_time_median_s"] = statistics.median(r["seconds"] for r in plain)
        report["plain_acc_mean"] = statistics.mean(r["test_acc"] for r in plain)
        report["ratio"] = round(report["plain_time_median_s"] / report["time_median_s"], 4)
    return report


def markdown(report: dict) -> str:
    lines = [
        f"speedrun {' '.join(report['overrides'])}: {report['device']} (amx_bf16: "
        f"{'yes' if report['amx_bf16'] else 'no'}), torch {report['torch']}, precision {report['precision']}, "
        f"compile {report['compile']}, channels_last {report['channels_last']}, {report['date']}",
        f"warm-up (excluded): {report['warmup_s']:.1f} s",
        "",
        "| path | seed | test acc | test acc without TTA | seconds (fit start to test accuracy) | training images/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in report["runs"]:
        no_tta = f"{r['test_acc_no_tta']:.4f}" if r["test_acc_no_tta"] is not None else "-"
        lines.append(f"| {r['path']} | {r['seed']} | {r['test_acc']:.4f} | {no_tta} | {r['seconds']:.1f} "
                     f"| {r['images_per_s']:.1f} |")
    lines += ["", *summary_lines(report)]
    if "ratio" in report:
        lines.append(f"plain loop: median {report['plain_time_median_s']:.1f} s, accuracy "
                     f"{100 * report['plain_acc_mean']:.2f}%")
        lines.append(f"ratio={report['ratio']}")
    lines.append(f"acc={report['acc_mean']:.4f} time_s={report['time_median_s']:.1f}")
    return "\n".join(lines)


def summary_lines(report: dict) -> list[str]:
    """A timed report's accuracy, time and rate over its runs, and its training FLOPs per run."""
    return [
        f"accuracy {100 * report['acc_mean']:.2f} ± {100 * report['acc_std']:.2f}% (n={report['n']}), "
        f"median {report['time_median_s']:.1f} s, max {report['time_max_s']:.1f} s, "
        f"{report['images_per_s_median']:.1f} training images/s (median; training images over the timed seconds)",
        f"training FLOPs per run: {report['train_flops'] / 1e15:.3f} PFLOP (steps x {report['flops_per_step'] / 1e9:.1f} "
        f"GFLOP, forward + backward at batch {report['batch_size']})",
    ]


def trained_images(steps: int, train_size: int, batch_size: int, drop_last: bool) -> int:
    """Images a run trained on in ``steps`` steps: full batches, except the last batch of each
    epoch when it is partial and kept (``drop_last=False``)."""
    per_epoch = train_size // batch_size if drop_last else math.ceil(train_size / batch_size)
    last = batch_size if drop_last or train_size % batch_size == 0 else train_size % batch_size
    epochs, rest = divmod(steps, per_epoch)
    return epochs * ((per_epoch - 1) * batch_size + last) + rest * batch_size


def parse_overrides(items: list[str]) -> tuple[list[str], int]:
    """Split ``seeds=N`` from the Hydra overrides."""
    seeds, rest = 1, []
    for item in items:
        if item.startswith("seeds="):
            value = item.split("=", 1)[1]
            if not value.isdigit() or int(value) < 1:
                raise ConfigError(f"seeds={value!r} is out of range: expected an integer >= 1")
            seeds = int(value)
        else:
            rest.append(item)
    return rest, seeds


def default_json(overrides: list[str]) -> Path:
    name = next((o.split("=", 1)[1] for o in overrides if o.startswith("experiment=")), "run")
    return Path("outputs/bench") / f"speedrun_{name}.json"
