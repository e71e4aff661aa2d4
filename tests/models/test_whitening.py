"""PatchWhitening: the patch covariance of its data becomes the identity."""

from __future__ import annotations

import torch

from cifar.models.whitening import PatchWhitening, patches


def correlated_images(n: int = 64, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, 16, 16, generator=g)
    x = x + 0.8 * x.roll(1, dims=3) + 0.5 * x.roll(1, dims=2)  # neighbouring pixels correlate
    mix = torch.tensor([[1.0, 0.6, 0.3], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
    return torch.einsum("dc,nchw->ndhw", mix, x)  # and so do the channels


def test_whitening_makes_the_patch_covariance_the_identity_on_its_data():
    images = correlated_images()
    rows = patches(images, 2)
    assert not torch.allclose(rows.T @ rows / len(rows), torch.eye(12), atol=0.3)  # far from white before
    layer = PatchWhitening(3, 2)
    bias = layer.bias.detach().clone()
    layer.fit(images)
    assert torch.equal(layer.bias, bias) and bias.abs().max() > 0  # the bias keeps its (random) init, as the records'
    with torch.no_grad():
        out = (layer(images) - bias.view(1, -1, 1, 1))[:, :12].permute(0, 2, 3, 1).reshape(-1, 12).double()
    covariance = out.T @ out / len(out)
    assert torch.allclose(covariance, torch.eye(12, dtype=torch.double), atol=0.02)
    assert torch.equal(layer.weight[12:], -layer.weight[:12])  # the negatives follow
    assert not layer.weight.requires_grad and bool(layer.fitted)
