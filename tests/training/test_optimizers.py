"""Muon: orthogonalized updates for its groups, SGD for the others."""

from __future__ import annotations

import pytest
import torch

from cifar.errors import ConfigError
from cifar.training.optimizers import Muon, orthogonalize, orthogonalize_all


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
            assert torch.allclose(conv, expected * (1 - 0.1 * 0.01), atol=1e-5)  # then the decoupled decay
        stepped = conv.detach() / (1 - 0.1 * 0.01)
        singular = torch.linalg.svdvals((stepped - start * (8**0.5 / start.norm())).reshape(8, -1) / -0.1)
        assert singular.min() > 0.3 and singular.max() < 1.6  # an orthogonalized step, whatever the gradient scale


def test_muon_mistakes_are_named():
    layer = torch.nn.Linear(4, 3)
    with pytest.raises(ConfigError, match="no parameter group is orthogonalized"):
        Muon(layer.parameters(), lr=0.1)
    with pytest.raises(ConfigError, match=r"group 'norms'.*at least 2 dimensions.*\(3,\)"):
        Muon([{"params": [layer.bias], "name": "norms", "orthogonalize": True}], lr=0.1)


def test_orthogonalizing_many_matrices_at_once_gives_each_its_own_result():
    g = torch.Generator().manual_seed(1)
    matrices = [torch.randn(*shape, generator=g) for shape in [(64, 216), (256, 576), (24, 96), (40, 12)]]
    together = orthogonalize_all(matrices, coefficients=(3.4576, -4.7391, 2.0843))
    for matrix, out in zip(matrices, together):
        alone = orthogonalize(matrix, coefficients=(3.4576, -4.7391, 2.0843))
        assert out.shape == matrix.shape and torch.allclose(out, alone, atol=1e-5)
    assert not torch.allclose(together[0], orthogonalize(matrices[0]), atol=1e-3)  # the coefficients are used


def test_weights_are_rescaled_every_normalize_every_steps_and_decay_in_between():
    torch.manual_seed(0)
    conv = torch.nn.Parameter(torch.randn(8, 4, 3, 3) * 3)
    muon = Muon([{"params": [conv], "orthogonalize": True}], lr=0.1, momentum=0.0, nesterov=False,
                weight_decay=0.5, normalize_every=3)
    norms = []
    for _ in range(6):
        conv.grad = torch.randn(8, 4, 3, 3)
        before = conv.detach().clone()
        muon.step()
        update = orthogonalize(conv.grad.reshape(8, -1)).view_as(conv)
        norms.append(before.norm().item())
        if len(norms) % 3 == 0:  # steps 3 and 6: rescaled to norm sqrt(8) first
            before = before * (8**0.5 / before.norm())
        assert torch.allclose(conv, (before - 0.1 * update) * (1 - 0.1 * 0.5), atol=1e-5)
    assert conv.norm() < 8**0.5  # the decay shrinks the weights between rescalings


def test_muon_settings_are_checked():
    conv = torch.nn.Parameter(torch.randn(8, 4, 3, 3))
    with pytest.raises(ConfigError, match=r"^optimizer.normalize_every=-1.*an integer >= 0"):
        Muon([{"params": [conv], "orthogonalize": True}], normalize_every=-1)
    with pytest.raises(ConfigError, match=r"optimizer.ns_coefficients=\[1, 2\]: expected 3 numbers"):
        Muon([{"params": [conv], "orthogonalize": True}], ns_coefficients=[1, 2])


def test_each_groups_own_settings_are_checked_and_the_old_key_is_named():
    conv = torch.nn.Parameter(torch.randn(8, 4, 3, 3))
    with pytest.raises(ConfigError, match=r"param_groups\[filters\].options.normalize_every=-2 is out of range"):
        Muon([{"params": [conv], "name": "filters", "orthogonalize": True, "normalize_every": -2}])
    with pytest.raises(ConfigError, match=r"optimizer.normalize_weights is replaced by optimizer.normalize_every"):
        Muon([{"params": [conv], "orthogonalize": True}], normalize_weights=True)


def test_a_checkpoint_saved_before_a_group_setting_existed_resumes_with_its_default():
    conv = torch.nn.Parameter(torch.randn(8, 4, 3, 3))
    muon = Muon([{"params": [conv], "orthogonalize": True}], lr=0.1)
    conv.grad = torch.randn(8, 4, 3, 3)
    muon.step()
    old = muon.state_dict()
    for group in old["param_groups"]:
        del group["normalize_every"], group["ns_coefficients"]
        group["normalize_weights"] = True  # what such a checkpoint held
    resumed = Muon([{"params": [conv], "orthogonalize": True}], lr=0.1)
    resumed.load_state_dict(old)
    assert resumed.param_groups[0]["normalize_every"] == 1 and len(resumed.param_groups[0]["ns_coefficients"]) == 3
    resumed.step()
