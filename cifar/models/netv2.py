"""CIFAR10Netv2: no max-pooling, stride-2 transitions, a dilated and a depthwise-separable conv.

Every convolution is bias-free and followed by BatchNorm, ReLU and Dropout 0.1:

* block 1: 3x3 3->16, 16->16, 16->16; transition 1: 1x1 16->32, 3x3 stride 2 32->32 (32 -> 16 px)
* block 2: three 3x3 32->32; transition 2: 1x1 32->52, 3x3 stride 2 52->52 (16 -> 8 px)
* block 3: 3x3 52->52; 3x3 dilation 2 52->52; depthwise-separable 52->52 (depthwise 3x3 + BN,
  pointwise 1x1 + BN, then ReLU, Dropout)
* transition 3: 1x1 52->52, 3x3 stride 2 52->52 (8 -> 4 px); block 4: 3x3 52->52, three 1x1 52->52
* global average pooling, Linear 52->10

181,942 parameters. The write-up claims a receptive field of 49; computed from the layers
(``cifar.models.receptive_field``) it is 81.
"""

from __future__ import annotations

from torch import nn


def conv_unit(cin: int, cout: int, kernel: int = 3, stride: int = 1, dilation: int = 1, dropout: float = 0.1) -> nn.Sequential:
    """Conv (no bias) -> BN -> ReLU -> Dropout, padded to keep the size (stride 1)."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride=stride, padding=dilation * (kernel - 1) // 2, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Dropout(dropout),
    )


def depthwise_separable(channels: int, dropout: float = 0.1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False),
        nn.BatchNorm2d(channels),
        nn.Conv2d(channels, channels, 1, bias=False),
        nn.BatchNorm2d(channels),
        nn.ReLU(inplace=True),
        nn.Dropout(dropout),
    )


def transition(cin: int, cout: int, dropout: float) -> nn.Sequential:
    """1x1 to change the width, then a stride-2 3x3 to halve the resolution."""
    return nn.Sequential(conv_unit(cin, cout, 1, dropout=dropout), conv_unit(cout, cout, stride=2, dropout=dropout))


class NetV2(nn.Module):
    def __init__(self, num_classes: int = 10, dropout: float = 0.1):
        super().__init__()
        p = dropout
        self.features = nn.Sequential(
            nn.Sequential(conv_unit(3, 16, dropout=p), conv_unit(16, 16, dropout=p), conv_unit(16, 16, dropout=p)),
            transition(16, 32, p),
            nn.Sequential(*(conv_unit(32, 32, dropout=p) for _ in range(3))),
            transition(32, 52, p),
            nn.Sequential(conv_unit(52, 52, dropout=p), conv_unit(52, 52, dilation=2, dropout=p), depthwise_separable(52, p)),
            transition(52, 52, p),
            nn.Sequential(conv_unit(52, 52, dropout=p), *(conv_unit(52, 52, 1, dropout=p) for _ in range(3))),
        )
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(52, num_classes))

    def forward(self, x):
        return self.head(self.features(x))
