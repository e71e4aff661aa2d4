"""The hyperparameters a person compares across runs: the knobs of a recipe, one fixed set of names.

TensorBoard's HParams table takes its columns from one run, so every run logs the same keys (a
setting a run does not have gets its stated default: ``-`` for text, 0 for numbers). Names are the
config paths that set them (``optimizer.lr``, ``data.batch_size``), or the config group for a choice
(``model``, ``optimizer``, ``scheduler``). TensorBoard prints every number to five significant digits
(128 as ``128.00``), so counts (batch size, epochs, steps, seed, widths) are logged as text and show
as written; rates and coefficients are numbers, so they sort, filter by range and plot on the
parallel-coordinates axes. The full config stays in the run folder (``.hydra/``) and ``metrics.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cifar import metric_names as M
from cifar.training.param_groups import group_settings

NONE = "-"  # a text setting the run does not have

# the columns the HParams table ticks when it opens (it shows five)
SHOWN_FIRST = ("experiment", "model", "optimizer", "optimizer.lr", "seed")
# the metric columns of the HParams table (scalars logged by every run), in this order
METRIC_COLUMNS = (M.VAL_ACC_BEST, M.TEST_ACC, M.TEST_LOSS, M.TEST_ACC_NO_TTA, M.TEST_ECE, M.TEST_BRIER, M.VAL_ACC,
                  M.WALL_SECONDS)


def curated_hparams(cfg: Mapping[str, Any], choices: Mapping[str, str | None] | None = None) -> dict[str, Any]:
    """The run's comparable settings from its resolved config (``cfg``, after ``resolve_precision``) and the
    config-group options it was composed from (``choices``: Hydra's ``runtime.choices``; without them the
    class names stand in). Always the same keys, in the same order."""
    choices = choices or {}
    model, optimizer = cfg.get("model") or {}, cfg.get("optimizer") or {}
    scheduler = (cfg.get("scheduler") or {}).get("scheduler") or {}
    data, trainer = cfg.get("data") or {}, cfg.get("trainer") or {}
    return {
        "experiment": choices.get("experiment") or NONE,
        "model": choices.get("model") or _class_name(model),
        "model.widths": _text(model.get("widths")),
        "model.dropout": float(model.get("dropout") or 0.0),
        "optimizer": choices.get("optimizer") or _class_name(optimizer),
        "optimizer.lr": float(optimizer.get("lr") or 0.0),
        "optimizer.weight_decay": float(optimizer.get("weight_decay") or 0.0),
        "optimizer.momentum": momentum(optimizer),
        "param_groups": param_group_rates(cfg.get("param_groups") or [], optimizer),
        "scheduler": choices.get("scheduler") or _class_name(scheduler, default="none"),
        "data.batch_size": _text(data.get("batch_size")),
        "data.augment": _text(data.get("augment")),
        "data.pipeline": _text(data.get("pipeline")),
        "data.val_size": _text(data.get("val_size")),
        "trainer.max_epochs": _text(trainer.get("max_epochs")),
        "trainer.max_steps": _text(trainer.get("max_steps") if (trainer.get("max_steps") or -1) > 0 else None),
        "loss": _text(cfg.get("loss")),
        "label_smoothing": float(cfg.get("label_smoothing") or 0.0),
        "precision": _text(trainer.get("precision") or cfg.get("precision")),
        "tta": _text(cfg.get("tta")),
        "seed": _text(cfg.get("seed")),
    }


def momentum(optimizer: Mapping[str, Any]) -> float:
    """SGD's and Muon's ``momentum``; Adam's and AdamW's first beta (their momentum: 0.9 unless set)."""
    if "momentum" in optimizer:
        return float(optimizer["momentum"] or 0.0)
    if "Adam" in str(optimizer.get("_target_", "")):
        return float((optimizer.get("betas") or (0.9,))[0])
    return 0.0


def param_group_rates(specs: list[Mapping[str, Any]], optimizer: Mapping[str, Any]) -> str:
    """Each configured parameter group's effective lr and weight decay, then the default group's (the
    optimizer's own), as ``filters lr=0.17 wd=0 | head lr=0.67 wd=0.0030567 | default lr=0.053 wd=0.0005``;
    ``-`` when there are no groups."""
    if not specs:
        return NONE
    lr, decay = optimizer.get("lr"), optimizer.get("weight_decay")
    parts = []
    for i, spec in enumerate(specs):
        settings = group_settings(spec, lr, decay, f"param_groups[{i}]")
        parts.append(f"{spec.get('name', f'group{i}')} lr={_number(settings.get('lr', lr))} "
                     f"wd={_number(settings.get('weight_decay', decay))}")
    parts.append(f"default lr={_number(lr)} wd={_number(decay)}")
    return " | ".join(parts)


def _class_name(node: Mapping[str, Any], default: str = NONE) -> str:
    target = node.get("_target_") if node else None
    return str(target).rsplit(".", 1)[-1] if target else default


def _text(value: Any) -> str:
    if value is None:
        return NONE
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _number(value: Any) -> str:
    return NONE if value is None else f"{float(value):.5g}"
