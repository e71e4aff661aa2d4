"""Half-precision weights with normalization layers in fp32: ``precision=16-true-bn32`` (and
``bf16-true-bn32``).

This is how the CIFAR-10 speed record trains on a GPU: the network's weights, inputs and
activations are fp16, so no autocast recasts the weights in every forward pass and no GradScaler
checks the gradients (a wait for the GPU every step); BatchNorm keeps fp32 weights and running
statistics, whose small eps (speednet's is 1e-12, which is 0 in fp16) and running averages need
the range. The loss is not scaled, so use it with a summed loss (``loss_reduction=sum``), as the
speedruns do, or gradients may underflow. On a CPU, ``bf16-true-bn32`` rounds away small weight
updates (bf16 keeps 8 significant bits): keep ``bf16-mixed`` there.
"""

from __future__ import annotations

from typing import Any

import torch
from omegaconf import DictConfig, open_dict
from lightning.pytorch.plugins.precision import HalfPrecision
from torch import nn

from cifar.errors import check_choice
from cifar.training.devices import cpu_bf16_flags, resolve_device

HALF_WEIGHTS = {"16-true-bn32": torch.float16, "bf16-true-bn32": torch.bfloat16}
NORM_LAYERS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


def half_weights(net: nn.Module, dtype: torch.dtype) -> nn.Module:
    """``net`` with its floating-point weights and buffers in ``dtype``, except its normalization layers'."""
    net.to(dtype=dtype)
    for module in net.modules():
        if isinstance(module, NORM_LAYERS):
            module.float()
    return net


class HalfWeightsPrecision(HalfPrecision):
    """Lightning's ``16-true``/``bf16-true`` (weights, inputs and forward in half precision, no
    autocast, no loss scaling), except that normalization layers stay fp32 (see the module doc).
    torchmetrics states keep their own dtype."""

    def __init__(self, precision: str = "16-true-bn32") -> None:
        check_choice("precision", precision, HALF_WEIGHTS)
        super().__init__("16-true" if HALF_WEIGHTS[precision] is torch.float16 else "bf16-true")

    def convert_module(self, module: nn.Module) -> nn.Module:
        return half_weights(module, self._desired_input_dtype)


def precision_plugins(precision: str) -> list[Any]:
    """The Trainer plugins a ``precision`` setting needs beyond Lightning's own names:
    ``*-true-bn32`` becomes a :class:`HalfWeightsPrecision` (and the Trainer's own ``precision``
    argument must then stay unset); Lightning's settings need none."""
    return [HalfWeightsPrecision(precision)] if precision in HALF_WEIGHTS else []


def cpu_precision() -> str:
    """What ``precision: auto`` trains with on this CPU: bf16-mixed where it has bf16 instructions, else 32-true."""
    return "bf16-mixed" if cpu_bf16_flags() else "32-true"


def resolve_precision(cfg: DictConfig) -> str:
    """Sets ``cfg.precision`` where the config leaves the choice open, and returns it: ``null`` means
    16-mixed on a CUDA GPU and 32-true elsewhere; ``auto`` the same, except bf16-mixed on a CPU with
    bf16 instructions (``amx_bf16``/``avx512_bf16``)."""
    wanted = cfg.get("precision")
    if wanted is None or wanted == "auto":
        accelerator = str(cfg.trainer.get("accelerator", "auto"))
        device = resolve_device(accelerator) if accelerator in ("auto", "cpu", "gpu", "cuda") else None
        if device is not None and device.type == "cuda":
            chosen = "16-mixed"
        elif wanted == "auto" and device is not None and device.type == "cpu":
            chosen = cpu_precision()
        else:
            chosen = "32-true"
        with open_dict(cfg):
            cfg.precision = chosen
    return cfg.precision
