"""Callbacks Lightning does not already provide."""

from cifar.callbacks.confusion_matrix import ConfusionMatrixCallback
from cifar.callbacks.epoch_seed import EpochSeedCallback
from cifar.callbacks.finite_loss import DivergedError, FiniteLossCallback
from cifar.callbacks.learning_rate import LearningRateCallback
from cifar.callbacks.lookahead import Lookahead
from cifar.callbacks.progress_bar import RunningLossProgressBar
from cifar.callbacks.sample_predictions import SamplePredictionsCallback
from cifar.callbacks.target_accuracy import TargetAccuracyCallback
from cifar.callbacks.test_outputs import TestOutputsCallback
from cifar.callbacks.training_curves import TrainingCurvesCallback
from cifar.callbacks.whitening import WhiteningInit

__all__ = [
    "ConfusionMatrixCallback",
    "DivergedError",
    "EpochSeedCallback",
    "FiniteLossCallback",
    "LearningRateCallback",
    "Lookahead",
    "RunningLossProgressBar",
    "SamplePredictionsCallback",
    "TargetAccuracyCallback",
    "TestOutputsCallback",
    "TrainingCurvesCallback",
    "WhiteningInit",
]
