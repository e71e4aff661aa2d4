"""Receptive field of a feed-forward stack of convolutions and poolings."""

from __future__ import annotations

from torch import nn


def _pair_first(value) -> int:
    return value[0] if isinstance(value, tuple) else value


def receptive_field(net: nn.Module) -> int:
    """Receptive field (in input pixels) of one output position of the spatial layers of ``net``.

    Walks the Conv2d/MaxPool2d/AvgPool2d layers in the order they are defined (the forward order
    for networks built from nn.Sequential) with the standard recurrence, per layer of kernel k,
    stride s and dilation d:  r += (d * (k - 1)) * j;  j *= s  (starting from r = 1, j = 1).
    Global pooling and linear layers are not counted.
    """
    r, j = 1, 1
    for layer in net.modules():
        if isinstance(layer, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            k = _pair_first(layer.kernel_size)
            s = _pair_first(layer.stride)
            d = _pair_first(getattr(layer, "dilation", 1))
            r += d * (k - 1) * j
            j *= s
    return r
