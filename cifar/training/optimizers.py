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

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch.optim import Optimizer

from cifar.errors import ConfigError, check_range, is_int, is_number

# quintic Newton-Schulz coefficients chosen for a steep slope at zero: a few iterations push every
# singular value into roughly [0.5, 1.5] instead of converging exactly to 1 (Keller Jordan's Muon)
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)


def orthogonalize_all(matrices: Sequence[torch.Tensor], steps: int = 3, eps: float = 1e-7,
                      coefficients: Sequence[float] = NS_COEFFICIENTS) -> list[torch.Tensor]:
    """An approximation of ``U V^T`` for each 2-D ``matrix = U S V^T``, by ``steps`` Newton-Schulz
    iterations run on all of them at once: each is zero-padded to the largest rows and columns and
    the padded matrices are stacked into one batch (the zero block stays zero, so each result is
    the one it would get alone). bf16 on CUDA (as airbench94_muon does; the 2025 record's runs in
    fp16), fp32 elsewhere (CPUs without bf16 matmul units would emulate it slowly). Returns the
    inputs' shapes and dtypes."""
    for matrix in matrices:
        if matrix.ndim != 2:
            raise ValueError(f"orthogonalize: expected 2-D matrices, got shape {tuple(matrix.shape)}")
    if not matrices:
        return []
    a, b, c = coefficients
    rows, cols = max(m.size(0) for m in matrices), max(m.size(1) for m in matrices)
    dtype = torch.bfloat16 if matrices[0].is_cuda else torch.float32
    x = torch.stack([F.pad(m.to(dtype), (0, cols - m.size(1), 0, rows - m.size(0))) for m in matrices])
    x = x / (x.norm(dim=(1, 2), keepdim=True) + eps)  # spectral norm <= Frobenius norm <= 1
    wide = rows <= cols
    if not wide:
        x = x.mT
    for _ in range(steps):
        gram = x @ x.mT
        x = a * x + (b * gram + c * (gram @ gram)) @ x
    if not wide:
        x = x.mT
    return [x[i, : m.size(0), : m.size(1)].to(m.dtype) for i, m in enumerate(matrices)]


def orthogonalize(matrix: torch.Tensor, steps: int = 3, eps: float = 1e-7,
                  coefficients: Sequence[float] = NS_COEFFICIENTS) -> torch.Tensor:
    """:func:`orthogonalize_all` of one 2-D matrix."""
    return orthogonalize_all([matrix], steps, eps, coefficients)[0]


class Muon(Optimizer):
    """SGD with momentum whose orthogonalized groups take Newton-Schulz-orthogonalized steps.

    Args:
        lr: step size (per group, scheduled as usual).
        momentum, nesterov: momentum buffer ``buf = momentum * buf + grad``; the step direction is
            ``grad + momentum * buf`` with Nesterov, else ``buf``.
        weight_decay: for the groups that are not orthogonalized, coupled decay (``grad +
            weight_decay * p``, as torch's SGD); for orthogonalized groups, decoupled decay after
            the step (``p *= 1 - lr * weight_decay``, as ``torch.optim.Muon`` and the 2025 record).
        orthogonalize: whether a group's steps are orthogonalized (set it per group with
            ``param_groups[].options``); its parameters must have at least 2 dimensions. Each
            step orthogonalizes the whole group's directions in one batch (:func:`orthogonalize_all`).
        ns_steps, ns_coefficients: Newton-Schulz iterations per step and their quintic's coefficients.
        normalize_every: every this many steps (0 = never), before the step, rescale each
            orthogonalized weight to Frobenius norm ``sqrt(rows)``, so every row has unit norm on
            average: 1 = every step (the 2024 record's Muon variant), 8 = the 2025 record's.
    """

    def __init__(self, params: Iterable[Any], lr: float = 0.01, momentum: float = 0.9, nesterov: bool = True,
                 weight_decay: float = 0.0, orthogonalize: bool = False, ns_steps: int = 3,
                 ns_coefficients: Sequence[float] = NS_COEFFICIENTS, normalize_every: int = 1,
                 normalize_weights: Any = None):
        # (optimizer.lr and optimizer.momentum are checked for every optimizer in cifar.training.preflight)
        if normalize_weights is not None:
            raise ConfigError("optimizer.normalize_weights is replaced by optimizer.normalize_every: 1 rescales the "
                              "orthogonalized weights every step (normalize_weights=true), 0 never (false)")
        if nesterov and momentum == 0.0:
            raise ConfigError("optimizer.nesterov=true needs optimizer.momentum > 0")
        defaults = dict(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay,
                        orthogonalize=orthogonalize, ns_steps=ns_steps, ns_coefficients=tuple(ns_coefficients),
                        normalize_every=normalize_every)
        super().__init__(params, defaults)
        for i, group in enumerate(self.param_groups):  # the optimizer's settings, and each group's own

            def where(key: str) -> str:
                own = group[key] != self.defaults[key]
                return f"param_groups[{group.get('name', i)}].options.{key}" if own else f"optimizer.{key}"

            check_range(where("ns_steps"), group["ns_steps"], is_int(group["ns_steps"], 1), "an integer >= 1")
            check_range(where("normalize_every"), group["normalize_every"], is_int(group["normalize_every"], 0),
                        "an integer >= 0")
            coefficients = group["ns_coefficients"] = tuple(group["ns_coefficients"])
            if len(coefficients) != 3 or not all(is_number(v) for v in coefficients):
                raise ConfigError(f"{where('ns_coefficients')}={list(coefficients)}: expected 3 numbers (a, b, c)")
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

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Also a checkpoint saved before a group setting existed: the missing settings take their defaults."""
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            for key, value in self.defaults.items():
                group.setdefault(key, value)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, momentum, nesterov = group["lr"], group["momentum"], group["nesterov"]
            orthogonalized, decay = group["orthogonalize"], group["weight_decay"]
            params, directions = [], []
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if decay and not orthogonalized:
                    grad = grad.add(p, alpha=decay)
                state = self.state[p]
                if orthogonalized:  # (normalize_every counts each weight's steps)
                    state["step"] = state.get("step", 0) + 1
                if momentum:
                    if "momentum_buffer" not in state:
                        state["momentum_buffer"] = grad.clone()
                    else:
                        state["momentum_buffer"].mul_(momentum).add_(grad)
                    buf = state["momentum_buffer"]
                    grad = grad.add(buf, alpha=momentum) if nesterov else buf
                params.append(p)
                directions.append(grad)
            if not params:
                continue
            if orthogonalized:
                every = group["normalize_every"]
                for p in params:
                    if every and self.state[p]["step"] % every == 0:
                        p.mul_(p.size(0) ** 0.5 / p.norm().clamp_min(1e-12))
                flat = orthogonalize_all([d.reshape(len(d), -1) for d in directions], group["ns_steps"],
                                         coefficients=group["ns_coefficients"])
                directions = [o.view_as(p) for o, p in zip(flat, params)]
            for p, direction in zip(params, directions):
                p.add_(direction, alpha=-lr)
                if orthogonalized and decay:
                    p.mul_(1 - lr * decay)
        return loss
