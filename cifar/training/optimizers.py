"""Optimizers torch does not provide in the form the recipes need (``conf/optimizer/<name>.yaml``).

``Muon`` orthogonalizes each step of a weight matrix (or conv filter bank, seen as a matrix of
``out_channels`` rows) with a few Newton-Schulz iterations, as in the CIFAR-10 speed record's
Muon variant (airbench94_muon). ``torch.optim.Muon`` takes 2-D parameters only and keeps no
plain-SGD groups, so it cannot run that recipe in one optimizer: this one can. Each parameter
group says whether it is orthogonalized (``orthogonalize``); the other groups take plain SGD
steps with (Nesterov) momentum and coupled weight decay, exactly as ``torch.optim.SGD`` does, so
the biases, norms and the classifier head can live in the same optimizer (one optimizer keeps
Lightning's automatic optimization, checkpoints and LR schedulers as they are).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.optim import Optimizer

from cifar.errors import ConfigError, check_range, is_int

# quintic Newton-Schulz coefficients chosen for a steep slope at zero: a few iterations push every
# singular value into roughly [0.5, 1.5] instead of converging exactly to 1 (Keller Jordan's Muon)
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)


def orthogonalize(matrix: torch.Tensor, steps: int = 3, eps: float = 1e-7) -> torch.Tensor:
    """An approximation of ``U V^T`` for ``matrix = U S V^T`` (2-D), by ``steps`` Newton-Schulz
    iterations; bf16 on CUDA (as the record does), fp32 elsewhere (CPUs without bf16 matmul
    units would emulate it slowly). Returns the input's dtype."""
    if matrix.ndim != 2:
        raise ValueError(f"orthogonalize: expected a 2-D matrix, got shape {tuple(matrix.shape)}")
    a, b, c = NS_COEFFICIENTS
    x = matrix.to(torch.bfloat16 if matrix.is_cuda else torch.float32)
    x = x / (x.norm() + eps)  # spectral norm <= Frobenius norm <= 1
    wide = x.size(0) <= x.size(1)
    if not wide:
        x = x.T
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * (gram @ gram)) @ x
    return (x if wide else x.T).to(matrix.dtype)


class Muon(Optimizer):
    """SGD with momentum whose orthogonalized groups take Newton-Schulz-orthogonalized steps.

    Args:
        lr: step size (per group, scheduled as usual).
        momentum, nesterov: momentum buffer ``buf = momentum * buf + grad``; the step direction is
            ``grad + momentum * buf`` with Nesterov, else ``buf``.
        weight_decay: coupled decay (``grad + weight_decay * p``, as torch's SGD) for the groups
            that are not orthogonalized; orthogonalized groups with ``normalize_weights`` keep a
            fixed weight norm instead and ignore it.
        orthogonalize: whether a group's steps are orthogonalized (set it per group with
            ``param_groups[].options``); its parameters must have at least 2 dimensions.
        ns_steps: Newton-Schulz iterations per step.
        normalize_weights: before each orthogonalized step, rescale each weight to Frobenius norm
            ``sqrt(rows)``, so every row has unit norm on average (the record's Muon variant).
    """

    def __init__(self, params: Iterable[Any], lr: float = 0.01, momentum: float = 0.9, nesterov: bool = True,
                 weight_decay: float = 0.0, orthogonalize: bool = False, ns_steps: int = 3,
                 normalize_weights: bool = True):
        # (optimizer.lr and optimizer.momentum are checked for every optimizer in cifar.training.preflight)
        if nesterov and momentum == 0.0:
            raise ConfigError("optimizer.nesterov=true needs optimizer.momentum > 0")
        check_range("optimizer.ns_steps", ns_steps, is_int(ns_steps, 1), "an integer >= 1")
        defaults = dict(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay,
                        orthogonalize=orthogonalize, ns_steps=ns_steps, normalize_weights=normalize_weights)
        super().__init__(params, defaults)
        if not any(group["orthogonalize"] for group in self.param_groups):
            raise ConfigError(
                "optimizer Muon: no parameter group is orthogonalized, which would make it plain SGD; select the "
                "weights to orthogonalize with param_groups, e.g. [{name: filters, module_types: [torch.nn.Conv2d], "
                "param_names: [weight], options: {orthogonalize: true}}] (see conf/experiment/speedrun94_muon.yaml)")
        for i, group in enumerate(self.param_groups):
            if not group["orthogonalize"]:
                continue
            flat = [tuple(p.shape) for p in group["params"] if p.ndim < 2]
            if flat:
                name = group.get("name", f"group {i}")
                raise ConfigError(f"optimizer Muon, parameter group {name!r}: orthogonalize=true needs parameters "
                                  f"with at least 2 dimensions (weight matrices, conv filters), got shapes {flat}")

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, momentum, nesterov = group["lr"], group["momentum"], group["nesterov"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if group["weight_decay"] and not (group["orthogonalize"] and group["normalize_weights"]):
                    grad = grad.add(p, alpha=group["weight_decay"])
                if momentum:
                    state = self.state[p]
                    if "momentum_buffer" not in state:
                        state["momentum_buffer"] = grad.clone()
                    else:
                        state["momentum_buffer"].mul_(momentum).add_(grad)
                    buf = state["momentum_buffer"]
                    grad = grad.add(buf, alpha=momentum) if nesterov else buf
                if group["orthogonalize"]:
                    if group["normalize_weights"]:
                        p.mul_(p.size(0) ** 0.5 / p.norm().clamp_min(1e-12))
                    grad = orthogonalize(grad.reshape(len(grad), -1), group["ns_steps"]).view_as(p)
                p.add_(grad, alpha=-lr)
        return loss
