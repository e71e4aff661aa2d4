"""The warm-up then linear-decay schedule."""

from __future__ import annotations

import pytest

from cifar.training.schedules import WarmupLinearDecay


def test_warmup_then_linear_decay():
    f = WarmupLinearDecay(total_steps=100, warmup=0.2, start=0.2, end=0.1)
    assert f(0) == pytest.approx(0.2)
    assert f(10) == pytest.approx(0.6)
    assert f(20) == pytest.approx(1.0)
    assert f(60) == pytest.approx(0.55)
    assert f(100) == pytest.approx(0.1)


def test_named_groups_can_run_the_schedule_over_fewer_steps():
    import torch

    from cifar.errors import ConfigError
    from cifar.training.schedules import warmup_linear_decay

    params = [torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))]
    optimizer = torch.optim.SGD([{"params": [params[0]], "name": "default"},
                                 {"params": [params[1]], "name": "whitening_bias", "lr": 0.5}], lr=1.0)
    schedule = warmup_linear_decay(optimizer, total_steps=20, warmup=0.0, start=1.0, end=0.0,
                                   group_steps={"whitening_bias": 4})
    seen = []
    for _ in range(6):
        seen.append([group["lr"] for group in optimizer.param_groups])
        optimizer.step()
        schedule.step()
    assert [lr for lr, _ in seen] == pytest.approx([1.0, 0.95, 0.9, 0.85, 0.8, 0.75])
    assert [lr for _, lr in seen] == pytest.approx([0.5, 0.375, 0.25, 0.125, 0.0, 0.0])  # then it stays at 0
    with pytest.raises(ConfigError, match="group_steps: no parameter group named head; the groups are default, whitening_bias"):
        warmup_linear_decay(optimizer, total_steps=20, group_steps={"head": 3})
