"""Test-time augmentation: the average over its views."""

from __future__ import annotations

import pytest
import torch

from cifar.errors import ConfigError
from cifar.inference.tta import tta_logits


def test_tta_returns_the_average_over_its_views():
    x = torch.randn(4, 3, 32, 32)

    def pixels(images):  # "logits" = the pixels, so every view shows in the output
        return images.flatten(1)

    assert torch.equal(tta_logits(pixels, x, "none"), x.flatten(1))
    assert torch.allclose(tta_logits(pixels, x, "flip"), 0.5 * (x + x.flip(-1)).flatten(1))
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")
    views = [x, x.flip(-1)]
    shifted = [padded[..., :32, :32], padded[..., 2:34, 2:34]]
    views += [v for s in shifted for v in (s, s.flip(-1))]
    weights = [0.25, 0.25, 0.125, 0.125, 0.125, 0.125]
    expected = sum(w * v.flatten(1) for w, v in zip(weights, views))
    assert torch.allclose(tta_logits(pixels, x, "flip_translate"), expected, atol=1e-6)
    with pytest.raises(ConfigError, match="tta='rotate'"):
        tta_logits(pixels, x, "rotate")


def test_uncertain_tta_augments_only_the_least_confident_fifth_with_six_equal_views():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(20, 3, 32, 32, generator=g)
    head = torch.randn(3 * 32 * 32, 10, generator=g)
    confidence_scale = torch.linspace(0.1, 3, 20)  # image i's logits grow with i: the first are the least sure

    def net(images):
        return images.flatten(1) @ head * 0.05

    plain = net(x) * confidence_scale[:, None]
    out = tta_logits(net, x, "uncertain_flip_translate", plain=plain)
    chosen = torch.softmax(plain, 1).amax(1).argsort()[:4]  # 20% of 20
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")
    views = [x, padded[..., :32, :32], padded[..., 2:34, 2:34]]
    views += [v.flip(-1) for v in views]
    expected = plain.clone()
    expected[chosen] = sum(net(v) for v in views)[chosen] / 6
    assert torch.allclose(out, expected, atol=1e-5)
    assert torch.equal(out[~torch.isin(torch.arange(20), chosen)], plain[~torch.isin(torch.arange(20), chosen)])
    small = torch.randn(4, 3, 32, 32, generator=g)  # 20% of 4 rounds to no image
    assert torch.equal(tta_logits(net, small, "uncertain_flip_translate"), net(small))
