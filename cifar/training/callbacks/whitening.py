"""WhiteningInit: fit every ``PatchWhitening`` layer of the network on the datamodule's training
images before training, and train its bias for the first ``bias_epochs`` epochs only."""

from __future__ import annotations

import logging

import lightning as L
import torch

from cifar.data.normalization import normalize
from cifar.errors import ConfigError, check_range, is_int
from cifar.models.whitening import PatchWhitening

log = logging.getLogger(__name__)


def whitening_layers(module: torch.nn.Module) -> list[PatchWhitening]:
    return [m for m in module.modules() if isinstance(m, PatchWhitening)]


def fit_whitening(net: torch.nn.Module, images, count: int, device: torch.device | str | None = None) -> int:
    """Fit every PatchWhitening layer of ``net`` on the first ``count`` of uint8 [N, 32, 32, 3]
    ``images`` (normalized as the pipelines do), computing on ``device`` (default: the layer's);
    returns how many layers it fitted."""
    layers = whitening_layers(net)
    for layer in layers:
        pixels = torch.as_tensor(images[:count]).to(device or layer.weight.device)
        layer.fit(normalize(pixels.permute(0, 3, 1, 2)))
    return len(layers)


class WhiteningInit(L.Callback):
    """Does nothing for networks without a ``PatchWhitening`` layer.

    Args:
        images: how many training images (the first of the training split, not augmented) to fit on.
        bias_epochs: the layer's bias trains in epochs ``0 .. bias_epochs-1`` and is frozen after;
            ``null`` = never frozen.
    """

    def __init__(self, images: int = 5000, bias_epochs: int | None = 3):
        check_range("callbacks.whitening.images", images, is_int(images, 1), "an integer >= 1")
        check_range("callbacks.whitening.bias_epochs", bias_epochs, bias_epochs is None or is_int(bias_epochs, 0),
                    "null or an integer >= 0")
        self.images = int(images)
        self.bias_epochs = bias_epochs

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        # runs after the datamodule's setup and before a resumed checkpoint's weights are loaded
        layers = whitening_layers(pl_module)
        if stage != "fit" or not layers:
            return
        train_set = getattr(trainer.datamodule, "train_set", None)
        if train_set is None:
            raise ConfigError("callbacks.whitening needs a datamodule with a training split (train_set) to fit on")
        # on the training device: the module is still on the CPU here, where the fit takes seconds
        fitted = fit_whitening(pl_module, train_set.images, self.images, device=trainer.strategy.root_device)
        log.info("fitted %d whitening layer(s) on %d training images", fitted, min(self.images, len(train_set)))

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.bias_epochs is None:
            return
        for layer in whitening_layers(pl_module):
            layer.bias.requires_grad_(trainer.current_epoch < self.bias_epochs)
