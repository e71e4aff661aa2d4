"""ResNet-18, CIFAR variant: torchvision's ResNet-18 with a 3x3 stride-1 stem and no max-pool,
so the 32x32 input keeps its resolution into the first stage (11,173,962 parameters)."""

from __future__ import annotations

from torch import nn
from torchvision.models import resnet18


def cifar_resnet18(num_classes: int = 10) -> nn.Module:
    net = resnet18(weights=None, num_classes=num_classes)
    net.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    net.maxpool = nn.Identity()
    return net
