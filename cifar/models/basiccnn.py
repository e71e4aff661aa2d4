"""BasicCNN, from a PyTorch tutorial-style project.

Conv 3->32 3x3 (no padding) -> ReLU -> BN; Conv 32->64 3x3 (no padding) -> ReLU -> MaxPool 2 -> BN;
Flatten (64x14x14 = 12,544) -> Linear 512 -> ReLU -> Dropout 0.5 -> Linear 10: 6,447,754
parameters, almost all in the first linear layer.
"""

from __future__ import annotations

from torch import nn


class BasicCNN(nn.Module):
    def __init__(self, num_classes: int = 10, dropout: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 3),  # 32 -> 30
            nn.ReLU(inplace=True),
            nn.BatchNorm2d(32),
            nn.Conv2d(32, 64, 3),  # 30 -> 28
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # 28 -> 14
            nn.BatchNorm2d(64),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(64 * 14 * 14, 512),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(512, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))
