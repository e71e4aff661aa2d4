"""Callbacks Lightning does not already provide."""

from cifar.callbacks.confusion_matrix import ConfusionMatrixCallback
from cifar.callbacks.training_curves import TrainingCurvesCallback

__all__ = ["ConfusionMatrixCallback", "TrainingCurvesCallback"]
