"""Muon: orthogonalized updates for its groups, SGD for the others."""

from __future__ import annotations

import pytest
import torch

from cifar.errors import ConfigError
from cifar.training.optimizers import Muon, orthogonalize


@pytest.mark.parametrize("shape", [(64, 216), (256, 64), (24, 96)])
def test_orthogonalize_brings_every_singular_value_near_one(shape):
    g = torch.Generator().manual_seed(0)
    matrix = torch.randn(*shape, generator=g) @ torch.diag(torch.logspace(-1, 1, shape[1]))  # condition number 10-120
    out = orthogonalize(matrix, steps=5)
    singular = torch.linalg.svdvals(out)
    assert out.shape == matrix.shape and out.dtype == matrix.dtype
    assert singular.max() < 1.3 and singular.min() > 0.6
    u, _, vh = torch.linalg.svd(matrix, full_matrices=False)
    assert torch.nn.functional.cosine_similarity((u @ vh).flatten(), out.flatten(), dim=0) > 0.95


def test_muon_orthogonalizes_its_groups_and_matches_sgd_on_the_others():
    torch.manual_seed(0)
    conv, bias = torch.nn.Parameter(torch.randn(8, 4, 3, 3)), torch.nn.Parameter(torch.randn(8))
    twin = torch.nn.Parameter(bias.detach().clone())
    muon = Muon([{"params": [conv], "orthogonalize": True, "lr": 0.1}, {"params": [bias]}], lr=0.05, momentum=0.85,
                nesterov=True, weight_decay=0.01)
    sgd = torch.optim.SGD([twin], lr=0.05, momentum=0.85, nesterov=True, weight_decay=0.01)
    for step in range(3):
        grads = torch.randn(8, 4, 3, 3), torch.randn(8)
        start = conv.detach().clone()
        conv.grad, bias.grad, twin.grad = grads[0], grads[1].clone(), grads[1].clone()
        muon.step()
        sgd.step()
        assert torch.allclose(bias, twin, atol=1e-6)  # the SGD group is torch's SGD, step for step
        if step == 0:  # first step: momentum buffer = gradient, Nesterov direction = (1 + 0.85) x gradient
            normalized = start * (8**0.5 / start.norm())
            expected = normalized - 0.1 * orthogonalize(1.85 * grads[0].reshape(8, -1)).view(8, 4, 3, 3)
            assert torch.allclose(conv, expected, atol=1e-5)
        singular = torch.linalg.svdvals((conv.detach() - start * (8**0.5 / start.norm())).reshape(8, -1) / -0.1)
        assert singular.min() > 0.3 and singular.max() < 1.6  # an orthogonalized step, whatever the gradient scale


def test_muon_mistakes_are_named():
    layer = torch.nn.Linear(4, 3)
    with pytest.raises(ConfigError, match="no parameter group is orthogonalized"):
        Muon(layer.parameters(), lr=0.1)
    with pytest.raises(ConfigError, match=r"group 'norms'.*at least 2 dimensions.*\(3,\)"):
        Muon([{"params": [layer.bias], "name": "norms", "orthogonalize": True}], lr=0.1)
