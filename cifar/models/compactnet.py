"""CompactNet, from a Keras project.

Three blocks of [Conv 3x3 + ReLU -> BN -> Conv 3x3 + ReLU] with 24, 48 and 68 filters ("same"
padding); MaxPool 2 + Dropout 0.3 after blocks 1 and 2, Dropout 0.3 after block 3; global average
pooling; Dense 120 + ReLU + Dropout 0.4; Dense 10. 117,978 trainable parameters (Keras reports
118,258 because it also counts the 280 BatchNorm running statistics).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn


def block(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [
        nn.Conv2d(in_channels, out_channels, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.BatchNorm2d(out_channels),
        nn.Conv2d(out_channels, out_channels, 3, padding=1),
        nn.ReLU(inplace=True),
    ]


class CompactNet(nn.Module):
    def __init__(
        self,
        widths: Sequence[int] = (24, 48, 68),
        hidden: int = 120,
        dropout: float = 0.3,
        head_dropout: float = 0.4,
        num_classes: int = 10,
    ):
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = 3
        for i, width in enumerate(widths):
            layers += block(in_channels, width)
            if i < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
            layers.append(nn.Dropout(dropout))
            in_channels = width
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(in_channels, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(head_dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))
