"""SmallNet: a compact Conv-BN-ReLU CNN with global average pooling and dropout."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn


def conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class SmallNet(nn.Module):
    """Three stages of [conv3x3-BN-ReLU x2, max-pool 2] with widths 32, 64, 128
    (32x32 -> 16 -> 8 -> 4), global average pooling, dropout, and a linear classifier.

    Default widths give 288,746 parameters: small enough to train an epoch in about a minute on
    two CPU cores, wide enough to pass 85% on CIFAR-10 with crop+flip augmentation.
    """

    def __init__(self, widths: Sequence[int] = (32, 64, 128), dropout: float = 0.2, num_classes: int = 10):
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = 3
        for width in widths:
            layers += [conv_bn_relu(in_channels, width), conv_bn_relu(width, width), nn.MaxPool2d(2)]
            in_channels = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(in_channels, num_classes),
        )

    def forward(self, x):
        return self.head(self.features(x))
