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
