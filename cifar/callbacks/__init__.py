"""Callbacks Lightning does not already provide."""

from cifar.callbacks.confusion_matrix import ConfusionMatrixCallback
from cifar.callbacks.finite_loss import DivergedError, FiniteLossCallback
from cifar.callbacks.sample_predictions import SamplePredictionsCallback
from cifar.callbacks.target_accuracy import TargetAccuracyCallback
from cifar.callbacks.training_curves import TrainingCurvesCallback

__all__ = [
    "ConfusionMatrixCallback",
    "DivergedError",
    "FiniteLossCallback",
    "SamplePredictionsCallback",
    "TargetAccuracyCallback",
    "TrainingCurvesCallback",
]
