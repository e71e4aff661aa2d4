"""ImageClassifier: the one LightningModule that trains, validates and tests every network."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MaxMetric, MeanMetric
from torchmetrics.classification import MulticlassAccuracy, MulticlassCalibrationError

from cifar import metric_names as M
from cifar.data.constants import NUM_CLASSES
from cifar.errors import ConfigError, check_choice, check_range, is_number
from cifar.evaluation.calibration import N_BINS, brier_per_image, probabilities
from cifar.training.param_groups import build_optimizer
from cifar.inference.tta import check_level, tta_logits

LOSSES = ("cross_entropy", "nll")
REDUCTIONS = ("mean", "sum")
INTERVALS = ("epoch", "step")


class ImageClassifier(L.LightningModule):
    """Wraps a plain ``nn.Module`` with its loss, optimizer, scheduler and metrics.

    Args:
        net: the network; maps normalized images [N, 3, 32, 32] to [N, num_classes].
        optimizer: ``functools.partial`` of a torch optimizer, missing only the parameters (None: test only).
        scheduler: optional ``functools.partial`` of a torch LR scheduler, missing only the
            optimizer. ``total_steps`` (OneCycleLR) and ``T_max`` (CosineAnnealingLR) are filled
            from the trainer when the config leaves them out.
        scheduler_interval: ``epoch`` or ``step``: when the scheduler steps.
        scheduler_monitor: the metric a ReduceLROnPlateau scheduler watches (e.g. ``val/acc``).
        loss: ``cross_entropy`` (on logits, with ``label_smoothing``) or ``nll`` (for networks
            that end in LogSoftmax).
        loss_reduction: ``mean`` over the batch, or ``sum`` (the learning rate then scales with
            the batch size); ``train/loss`` is logged as the mean either way.
        param_groups: optimizer parameter groups with their own lr/decay scales (see
            ``cifar/training/param_groups.py``); empty = one group.
        tta: test-time augmentation in the test step: ``none``, ``flip`` or ``flip_translate``
            (``cifar/inference/tta.py``); ``test/acc_no_tta`` is logged beside ``test/acc`` when it is on.
            The test step also logs the calibration of those outputs: ``test/ece`` and ``test/brier``.
        run_config: the resolved run config, saved as hyperparameters so that the checkpoint carries it
            (TensorBoard gets the curated set of ``cifar/reporting/hparams.py`` instead).
        channels_last: keep the network's weights and its inputs in NHWC memory format.
    """

    def __init__(
        self,
        net: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer] | None,
        scheduler: Callable[..., Any] | None = None,
        scheduler_interval: str = "epoch",
        scheduler_monitor: str | None = None,
        loss: str = "cross_entropy",
        label_smoothing: float = 0.0,
        num_classes: int = NUM_CLASSES,
        run_config: dict[str, Any] | None = None,
        channels_last: bool = False,
        loss_reduction: str = "mean",
        param_groups: list[dict[str, Any]] | None = None,
        tta: str = "none",
    ):
        super().__init__()
        check_choice("loss", loss, LOSSES)
        check_range("label_smoothing", label_smoothing, is_number(label_smoothing) and 0 <= label_smoothing < 1,
                    "a number in [0, 1)")
        if loss == "nll" and label_smoothing:
            raise ConfigError("label_smoothing must be 0 with loss=nll (use loss=cross_entropy to smooth labels)")
        check_choice("loss_reduction", loss_reduction, REDUCTIONS)
        check_choice("scheduler.interval", scheduler_interval, INTERVALS)
        self.save_hyperparameters(run_config or {}, logger=False)
        self.net = net
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.scheduler_interval = scheduler_interval
        self.scheduler_monitor = scheduler_monitor
        self.loss_name = loss
        self.label_smoothing = label_smoothing
        self.channels_last = channels_last
        self.loss_reduction = loss_reduction
        self.param_group_specs = list(param_groups or [])
        self.tta = check_level(tta)
        if channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)

        # The training metrics run every step, so they are the cheapest torchmetrics can do and none
        # waits for the GPU: running means of per-image loss and correctness (micro accuracy), with no
        # NaN check (a host sync; FiniteLossCallback checks the loss every few steps instead).
        self.train_loss = MeanMetric(nan_strategy="disable")
        self.train_acc = MeanMetric(nan_strategy="disable")
        self._epoch_means_logged = False
        self.val_acc = MulticlassAccuracy(num_classes, average="micro")
        self.test_acc = MulticlassAccuracy(num_classes, average="micro")
        self.test_acc_no_tta = MulticlassAccuracy(num_classes, average="micro")
        self.test_ece = MulticlassCalibrationError(num_classes, n_bins=N_BINS, norm="l1")
        self.test_brier = MeanMetric(nan_strategy="disable")
        self.val_acc_best = MaxMetric()
        self.val_acc_best.persistent(True)  # kept in checkpoints, so a resumed run keeps its best
        self.weights_epoch: int | None = None  # the epoch (0 = the first) whose end the weights are from

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.loss_name == "nll":
            return F.nll_loss(outputs, targets, reduction=self.loss_reduction)
        return F.cross_entropy(outputs, targets, label_smoothing=self.label_smoothing, reduction=self.loss_reduction)

    # -- steps --------------------------------------------------------------------------------

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        images, targets = batch
        outputs = self(images)
        loss = self.loss(outputs, targets)
        mean_loss = loss.detach() / len(targets) if self.loss_reduction == "sum" else loss.detach()
        # ``self.log`` costs about 1 ms of host time per call, so the epoch means are logged once per
        # epoch (as metric objects, computed at its end) and the step loss only on the steps the
        # logger writes (``trainer.log_every_n_steps``). The step loss stays off the progress bar:
        # Lightning converts progress-bar values to numbers after every batch, a GPU sync each time.
        self.train_loss.update(mean_loss.expand(len(targets)))  # per image, so the mean weighs batches by size
        self.train_acc.update((outputs.detach().argmax(dim=1) == targets).float())
        if not self._epoch_means_logged:  # the first batch of the epoch (or of a resumed one)
            self.log(M.TRAIN_LOSS + "_epoch", self.train_loss, on_step=False, on_epoch=True, prog_bar=True)
            self.log(M.TRAIN_ACC, self.train_acc, on_step=False, on_epoch=True)
            self._epoch_means_logged = True
        if self._logs_this_step():
            self.log(M.TRAIN_LOSS + "_step", mean_loss, on_step=True, on_epoch=False)
        return loss

    def on_train_epoch_start(self) -> None:
        self._epoch_means_logged = False

    def on_train_epoch_end(self) -> None:
        self.weights_epoch = self.current_epoch

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.weights_epoch = checkpoint.get("epoch")  # (saved at the end of that epoch)

    def _logs_this_step(self) -> bool:
        """Whether the logger writes this training step's metrics (every ``trainer.log_every_n_steps``)."""
        connector = getattr(self._trainer, "_logger_connector", None)
        return connector is None or connector.should_update_logs

    def _eval_step(self, batch, accuracy: MulticlassAccuracy, loss_name: str, acc_name: str,
                   tta: str = "none", plain: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        images, targets = batch
        outputs = tta_logits(self, images, tta, plain=plain)
        loss = self.loss(outputs, targets)
        if self.loss_reduction == "sum":
            loss = loss / len(targets)
        preds = outputs.argmax(dim=1)
        accuracy.update(preds, targets)
        self.log(loss_name, loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(targets))
        self.log(acc_name, accuracy, on_step=False, on_epoch=True, prog_bar=True)
        probs = probabilities(outputs)  # (the softmax of log-probabilities is the probabilities too)
        return {"preds": preds, "targets": targets, "confidence": probs.amax(dim=1), "probs": probs,
                "outputs": outputs.detach()}

    def validation_step(self, batch, batch_idx: int) -> dict[str, torch.Tensor]:
        return self._eval_step(batch, self.val_acc, M.VAL_LOSS, M.VAL_ACC)

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        self.val_acc_best(self.val_acc.compute())
        self.log(M.VAL_ACC_BEST, self.val_acc_best.compute(), prog_bar=True)

    def test_step(self, batch, batch_idx: int) -> dict[str, torch.Tensor]:
        plain = None
        if self.tta != "none":  # the un-augmented view is one of the TTA views: computed once
            images, targets = batch
            plain = self(images)
            self.test_acc_no_tta.update(plain.argmax(dim=1), targets)
            self.log(M.TEST_ACC_NO_TTA, self.test_acc_no_tta, on_step=False, on_epoch=True)
        result = self._eval_step(batch, self.test_acc, M.TEST_LOSS, M.TEST_ACC, tta=self.tta, plain=plain)
        self.test_ece.update(result["probs"], result["targets"])
        self.test_brier.update(brier_per_image(result["probs"], result["targets"]))
        self.log(M.TEST_ECE, self.test_ece, on_step=False, on_epoch=True)
        self.log(M.TEST_BRIER, self.test_brier, on_step=False, on_epoch=True)
        return result

    def predict_step(self, batch, batch_idx: int) -> torch.Tensor:
        images = batch[0] if isinstance(batch, (tuple, list)) else batch
        return probabilities(self(images))

    # -- optimization -------------------------------------------------------------------------

    def configure_optimizers(self):
        optimizer = build_optimizer(self.net, self.optimizer_factory, self.param_group_specs)
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer=optimizer, **self._schedule_length())
        config = {"scheduler": scheduler, "interval": self.scheduler_interval, "frequency": 1}
        if self.scheduler_monitor:
            config["monitor"] = self.scheduler_monitor
        return {"optimizer": optimizer, "lr_scheduler": config}

    def _schedule_length(self) -> dict[str, int]:
        """``total_steps``/``T_max`` for schedulers that need them and were not given them."""
        func = getattr(self.scheduler_factory, "func", self.scheduler_factory)
        given = getattr(self.scheduler_factory, "keywords", {})
        wanted = [n for n in ("total_steps", "T_max") if n in inspect.signature(func).parameters and n not in given]
        if not wanted:
            return {}
        if self.scheduler_interval == "step":
            length = int(self.trainer.estimated_stepping_batches)
        else:
            length = self.trainer.max_epochs
            if length is None or length < 1:
                raise ConfigError(
                    f"{func.__name__} needs trainer.max_epochs (got {length}) or an explicit "
                    f"scheduler.scheduler.{wanted[0]}"
                )
        return {name: length for name in wanted}
