"""Learning-rate schedules the torch ones do not cover (``conf/scheduler/<name>.yaml``)."""

from __future__ import annotations

from collections.abc import Mapping

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from cifar.errors import ConfigError, check_range, is_int, is_number


class WarmupLinearDecay:
    """Multiplier of the peak learning rate at step ``s`` of ``total_steps``: rises linearly from
    ``start`` to 1 over the first ``warmup`` fraction of the steps, then falls linearly to ``end``
    at the last step. A plain object (not a lambda), so a checkpoint keeps it."""

    def __init__(self, total_steps: int, warmup: float = 0.23, start: float = 0.2, end: float = 0.07):
        check_range("scheduler.scheduler.total_steps", total_steps, is_int(total_steps, 1), "an integer >= 1")
        check_range("scheduler.scheduler.warmup", warmup, is_number(warmup) and 0 <= warmup < 1, "a number in [0, 1)")
        self.total_steps = int(total_steps)
        self.warmup_steps = int(total_steps * warmup)
        self.start, self.end = float(start), float(end)

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            frac = step / self.warmup_steps
            return self.start + (1.0 - self.start) * frac
        frac = min(1.0, (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps))
        return 1.0 + (self.end - 1.0) * frac


def warmup_linear_decay(optimizer: Optimizer, total_steps: int, warmup: float = 0.23, start: float = 0.2,
                        end: float = 0.07, group_steps: Mapping[str, int] | None = None) -> LambdaLR:
    """``LambdaLR`` with :class:`WarmupLinearDecay` for every parameter group (each keeps its own
    peak: the group's ``lr``). ``total_steps`` is filled from the trainer when the config leaves it out.
    ``group_steps`` gives named groups (``param_groups[].name``) the same schedule over that many
    steps instead, after which they stay at ``end`` (the 2025 record's whitening bias: 7 steps to 0)."""
    group_steps = dict(group_steps or {})
    names = [group.get("name") for group in optimizer.param_groups]
    unknown = sorted(set(group_steps) - set(names))
    if unknown:
        raise ConfigError(f"scheduler.scheduler.group_steps: no parameter group named {', '.join(unknown)}; "
                          f"the groups are {', '.join(str(n) for n in names)}")
    return LambdaLR(optimizer, [WarmupLinearDecay(group_steps.get(name, total_steps), warmup, start, end)
                                for name in names])
