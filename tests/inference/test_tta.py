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
