"""Optimizer parameter groups with their own learning rate and weight decay (``param_groups`` in
``conf/train.yaml``), for any network.

Each group takes the trainable parameters named ``param_names`` (the last part of the name, e.g.
``bias``) of modules of the given ``module_types`` (e.g. ``torch.nn.BatchNorm2d``, which also
matches subclasses), and multiplies the optimizer's ``lr`` and ``weight_decay`` by its
``lr_scale`` and ``weight_decay_scale``. A parameter goes to the first group that takes it; the
rest form the default group, with the optimizer's own settings. ``options`` sets any other
group setting the optimizer knows as it is (e.g. ``momentum``, or ``lr`` outright, or ``Muon``'s
``orthogonalize``). Frozen parameters (``requires_grad=False`` when the optimizer is built) are
left out.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from hydra.utils import get_class
from torch import nn

from cifar.errors import ConfigError

KEYS = {"name", "module_types", "param_names", "lr_scale", "weight_decay_scale", "options"}


def _types(spec: Mapping[str, Any], where: str) -> tuple[type, ...]:
    types = []
    for path in spec.get("module_types") or []:
        try:
            cls = get_class(path)
        except Exception as exc:  # noqa: BLE001 - hydra raises several kinds
            raise ConfigError(f"{where}.module_types: cannot import {path!r}: {exc}") from None
        if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
            raise ConfigError(f"{where}.module_types: {path!r} is not an nn.Module class")
        types.append(cls)
    return tuple(types)


def build_param_groups(net: nn.Module, specs: Iterable[Mapping[str, Any]], lr: float | None,
                       weight_decay: float | None) -> list[dict[str, Any]]:
    """``torch.optim`` parameter groups for ``net``: the configured ones, then the default group."""
    groups: list[dict[str, Any]] = []
    taken: set[int] = set()
    for i, spec in enumerate(specs):
        where = f"param_groups[{i}]"
        unknown = set(spec) - KEYS
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; expected {', '.join(sorted(KEYS))}")
        types, names = _types(spec, where), set(spec.get("param_names") or [])
        if not types and not names:
            raise ConfigError(f"{where} ({spec.get('name')}): give module_types and/or param_names to select parameters")
        params = []
        for module in net.modules():
            if types and not isinstance(module, types):
                continue
            for pname, param in module.named_parameters(recurse=False):
                if (names and pname not in names) or not param.requires_grad or id(param) in taken:
                    continue
                params.append(param)
                taken.add(id(param))
        group: dict[str, Any] = {"params": params, "name": spec.get("name", f"group{i}"),
                                 **group_settings(spec, lr, weight_decay, where)}
        if params:
            groups.append(group)
    rest = [p for p in net.parameters() if p.requires_grad and id(p) not in taken]
    return groups + [{"params": rest, "name": "default"}]


def group_settings(spec: Mapping[str, Any], lr: float | None, weight_decay: float | None,
                   where: str = "param_groups[]") -> dict[str, Any]:
    """What a group sets beside its parameters: ``lr`` and ``weight_decay`` scaled from the optimizer's,
    then its ``options`` as they are."""
    settings: dict[str, Any] = {}
    if "lr_scale" in spec:
        if lr is None:
            raise ConfigError(f"{where}.lr_scale needs the optimizer's lr")
        settings["lr"] = lr * float(spec["lr_scale"])
    if "weight_decay_scale" in spec and weight_decay is not None:
        settings["weight_decay"] = weight_decay * float(spec["weight_decay_scale"])
    options = dict(spec.get("options") or {})
    for key in ("lr", "weight_decay"):
        if key in options and f"{key}_scale" in spec:
            raise ConfigError(f"{where}: give {key}_scale or options.{key}, not both")
    if "params" in options or "name" in options:
        raise ConfigError(f"{where}.options: 'params' and 'name' are set by the group itself")
    return {**settings, **options}


def learning_rates(optimizer: torch.optim.Optimizer) -> dict[str, float]:
    """The current lr of each parameter group, by group name (``default`` for an unnamed single group)."""
    groups = optimizer.param_groups
    return {group.get("name") or ("default" if len(groups) == 1 else f"group{i}"): float(group["lr"])
            for i, group in enumerate(groups)}


def build_optimizer(net: nn.Module, optimizer_factory: Any, specs: Iterable[Mapping[str, Any]]) -> torch.optim.Optimizer:
    """The optimizer from its config (a partial missing ``params``) over ``net``'s trainable
    parameters, in the configured groups; refuses group ``options`` the optimizer does not take."""
    specs = list(specs or [])
    if not specs:
        return optimizer_factory(params=[p for p in net.parameters() if p.requires_grad])
    func = getattr(optimizer_factory, "func", optimizer_factory)
    accepted = inspect.signature(func).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
        known = sorted(set(accepted) - {"self", "params"})
        for i, spec in enumerate(specs):
            unknown = sorted(set(spec.get("options") or {}) - set(known))
            if unknown:
                raise ConfigError(f"param_groups[{i}].options: {func.__name__} has no setting "
                                  f"{', '.join(unknown)}; it takes {', '.join(known)}")
    given = getattr(optimizer_factory, "keywords", {})
    return optimizer_factory(params=build_param_groups(net, specs, given.get("lr"), given.get("weight_decay")))
