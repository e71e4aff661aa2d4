"""Callbacks Lightning does not already provide."""

from cifar.callbacks.confusion_matrix import ConfusionMatrixCallback

__all__ = ["ConfusionMatrixCallback"]
