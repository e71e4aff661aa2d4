"""Test-set evaluation of a trained network: loss, accuracy, confusion matrix, optional flip TTA."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from torchmetrics.classification import MulticlassConfusionMatrix

from cifar.data.constants import NUM_CLASSES
from cifar.data.tensor_pipeline import normalize


@dataclass
class Evaluation:
    loss: float
    acc: float
    confusion: list[list[int]]  # rows true, columns predicted
    images: int


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@torch.inference_mode()
def evaluate(net: nn.Module, loader: DataLoader, device: torch.device, flip_tta: bool = False) -> Evaluation:
    """Runs ``net`` over ``loader`` (uint8 images, labels). With ``flip_tta`` the class
    probabilities are averaged over the image and its horizontal mirror.

    The loss is cross entropy of the outputs; for networks ending in LogSoftmax that equals
    their NLL, since log-softmax leaves log-probabilities unchanged.
    """
    net = net.to(device).eval()
    confusion = MulticlassConfusionMatrix(num_classes=NUM_CLASSES).to(device)
    total_loss, count = 0.0, 0
    for images, labels in loader:
        x, y = images.to(device), labels.to(device)
        if x.dtype == torch.uint8:  # (the tensor pipeline yields normalized floats already)
            x = normalize(x)
        if flip_tta:
            probs = (F.softmax(net(x), dim=1) + F.softmax(net(x.flip(3)), dim=1)) / 2
            loss = F.nll_loss(probs.clamp_min(1e-12).log(), y, reduction="sum")
            preds = probs.argmax(1)
        else:
            outputs = net(x)
            loss = F.cross_entropy(outputs.float(), y, reduction="sum")
            preds = outputs.argmax(1)
        total_loss += float(loss)
        count += len(y)
        confusion.update(preds, y)
    matrix = confusion.compute().cpu()
    return Evaluation(
        loss=total_loss / count,
        acc=float(matrix.diag().sum()) / count,
        confusion=matrix.tolist(),
        images=count,
    )
