"""DeepCNN, from a CNN report written for a Go deep-learning library.

Conv 3->32, Conv 32->32, max-pool, Conv 32->64, Conv 64->64, max-pool (3x3, padding 1, each conv
followed by ReLU then BatchNorm), Flatten (64x8x8 = 4096), Dense 512 + ReLU, Dropout 0.5,
Dense 10 + LogSoftmax: 2,168,746 parameters. Outputs log-probabilities: train it with
``loss=nll``.
"""

from __future__ import annotations

from torch import nn


def conv_relu_bn(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.ReLU(inplace=True), nn.BatchNorm2d(out_channels)]


class DeepCNN(nn.Module):
    def __init__(self, num_classes: int = 10, dropout: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            *conv_relu_bn(3, 32),
            *conv_relu_bn(32, 32),
            nn.MaxPool2d(2),
            *conv_relu_bn(32, 64),
            *conv_relu_bn(64, 64),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(64 * 8 * 8, 512),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(512, num_classes),
            nn.LogSoftmax(dim=1),
        )

    def forward(self, x):
        return self.classifier(self.features(x))
