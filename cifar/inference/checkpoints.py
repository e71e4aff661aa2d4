"""Rebuild a trained network from a checkpoint alone, safely.

Checkpoints written by ``cifar.train`` carry the resolved run config as their hyperparameters,
so the network is rebuilt from ``model`` in that config and gets the ``net.*`` weights; no
command-line overrides need to match. Loading uses ``torch.load(weights_only=True)``: tensors
and plain containers only, so a file crafted to run code when unpickled is refused and its code
never runs; and the model config it carries may only name classes from ``cifar.models``.
"""

from __future__ import annotations

import importlib
import inspect
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from cifar.data.normalization import Normalize
from cifar.errors import CifarError

NET_PREFIX = "net."
MODEL_PACKAGE = "cifar.models."  # the only code a checkpoint's config may name


class CheckpointError(CifarError):
    """A checkpoint is missing, unreadable, unsafe, or does not fit its network."""


@dataclass
class TrainedModel:
    net: nn.Module  # in eval mode, on the CPU
    config: DictConfig  # the run config the checkpoint was trained with
    path: Path
    epoch: int | None


def load_checkpoint_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path}: refused: the file holds objects other than tensors and plain data "
            f"(a checkpoint that could run code when loaded): {str(exc).splitlines()[0]}"
        ) from None
    except Exception as exc:  # noqa: BLE001 - torch.load fails in many ways on a foreign file
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint: {str(exc).splitlines()[0]}") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise CheckpointError(f"{path}: not a Lightning checkpoint (no 'state_dict')")
    return checkpoint


def load_trained_model(path: str | Path) -> TrainedModel:
    """The network of a ``cifar.train`` checkpoint, with its weights, in eval mode."""
    path = Path(path)
    checkpoint = load_checkpoint_file(path)
    hparams = checkpoint.get("hyper_parameters") or {}
    if "model" not in hparams:
        raise CheckpointError(f"{path}: no model config inside: not written by cifar.train")
    config = OmegaConf.create(hparams)
    for target in _targets(hparams["model"]):
        if not is_network(target):
            raise CheckpointError(
                f"{path}: refused: its model config names {target!r}; only networks from "
                f"{MODEL_PACKAGE}* are rebuilt from checkpoints"
            )
    try:
        net = instantiate(config.model)
    except Exception as exc:  # noqa: BLE001 - any failure here is the checkpoint's config
        raise CheckpointError(f"{path}: cannot rebuild its model {config.model.get('_target_')}: {exc}") from None
    if not isinstance(net, nn.Module):
        raise CheckpointError(f"{path}: its model config does not build a network ({type(net).__name__})")
    weights = {k[len(NET_PREFIX) :]: v for k, v in checkpoint["state_dict"].items() if k.startswith(NET_PREFIX)}
    try:
        net.load_state_dict(weights)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit {config.model._target_}: {str(exc).splitlines()[0]}") from None
    return TrainedModel(net=net.eval(), config=config, path=path, epoch=checkpoint.get("epoch"))


def is_network(target: str) -> bool:
    """``target`` names, by its own module and name, a network class or builder defined in ``cifar.models``
    (not something reached through a module's attributes, such as ``cifar.models.speednet.torch.save``)."""
    module_name, _, name = target.rpartition(".")
    if not module_name.startswith(MODEL_PACKAGE) or not name.isidentifier():
        return False
    try:
        obj = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError):
        return False
    defined_here = getattr(obj, "__module__", None) == module_name and getattr(obj, "__qualname__", None) == name
    return defined_here and (isinstance(obj, type) and issubclass(obj, nn.Module) or inspect.isfunction(obj))


def _targets(node: Any) -> list[str]:
    """Every ``_target_`` in a nested config (what ``instantiate`` would call)."""
    if isinstance(node, dict):
        found = [str(node["_target_"])] if "_target_" in node else []
        return found + [t for value in node.values() for t in _targets(value)]
    if isinstance(node, list):
        return [t for value in node for t in _targets(value)]
    return []


class NormalizedClassifier(nn.Module):
    """Takes float RGB in [0, 1], NCHW; normalizes with the CIFAR-10 mean/std; returns logits.

    (For networks ending in LogSoftmax the outputs are log-probabilities; softmax of either gives
    the class probabilities.)
    """

    def __init__(self, net: nn.Module):
        super().__init__()
        self.normalize = Normalize()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalize(x))
