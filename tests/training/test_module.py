"""ImageClassifier: losses, learning, metrics, prediction."""

from __future__ import annotations

import functools

import lightning as L
import pytest
import torch
from torch import nn

from cifar import metric_names as M
from cifar.data.datamodule import CIFAR10DataModule
from cifar.errors import ConfigError
from cifar.models.smallnet import SmallNet
from cifar.training.module import ImageClassifier


def make_module(net=None, **kwargs) -> ImageClassifier:
    return ImageClassifier(
        net=net or SmallNet(widths=(8, 16, 16)),
        optimizer=functools.partial(torch.optim.Adam, lr=1e-2),
        **kwargs,
    )


def test_learns_a_fixed_batch():
    torch.manual_seed(0)
    module = make_module()
    images, targets = torch.randn(20, 3, 32, 32), torch.arange(20) % 10
    optimizer = module.configure_optimizers()
    losses = []
    for _ in range(60):
        loss = module.loss(module(images), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    module.eval()
    assert losses[-1] < 0.3 * losses[0]
    assert (module(images).argmax(1) == targets).float().mean() > 0.9


def test_nll_loss_is_for_log_softmax_networks():
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10), nn.LogSoftmax(dim=1))
    module = make_module(net, loss="nll")
    x, y = torch.randn(4, 3, 32, 32), torch.tensor([1, 2, 3, 4])
    torch.testing.assert_close(module.loss(module(x), y), nn.functional.nll_loss(net(x), y))
    probs = module.predict_step((x, y), 0)
    torch.testing.assert_close(probs.sum(1), torch.ones(4))


def test_cross_entropy_uses_label_smoothing():
    module = make_module(label_smoothing=0.1)
    logits, y = torch.randn(4, 10), torch.tensor([0, 1, 2, 3])
    torch.testing.assert_close(module.loss(logits, y), nn.functional.cross_entropy(logits, y, label_smoothing=0.1))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"loss": "hinge"}, r"loss='hinge' is unknown: expected one of cross_entropy, nll"),
        ({"label_smoothing": 1.5}, r"label_smoothing=1.5 is out of range"),
        ({"loss": "nll", "label_smoothing": 0.1}, r"label_smoothing must be 0 with loss=nll"),
        ({"scheduler_interval": "batch"}, r"scheduler\.interval='batch' is unknown"),
    ],
)
def test_bad_settings_are_named(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        make_module(**kwargs)


class RecordValAcc(L.Callback):
    def __init__(self):
        self.history = []

    def on_validation_epoch_end(self, trainer, pl_module):
        if not trainer.sanity_checking:
            self.history.append(float(pl_module.val_acc.compute()))


def test_best_val_accuracy_is_the_max_over_epochs(tiny_data):
    torch.manual_seed(0)
    recorder = RecordValAcc()
    trainer = L.Trainer(
        max_epochs=4, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[recorder], num_sanity_val_steps=1,
    )
    dm = CIFAR10DataModule(data_dir=str(tiny_data), val_size=40, batch_size=32, num_workers=0, download=False)
    trainer.fit(make_module(), datamodule=dm)
    assert len(recorder.history) == 4
    assert trainer.callback_metrics[M.VAL_ACC_BEST].item() == pytest.approx(max(recorder.history))
    assert {M.TRAIN_LOSS + "_epoch", M.TRAIN_ACC, M.VAL_LOSS, M.VAL_ACC} <= set(trainer.callback_metrics)


class MemoryLogger(L.pytorch.loggers.Logger):
    """Keeps what Lightning writes: [(step, {name: value})]."""

    def __init__(self):
        super().__init__()
        self.rows = []

    name, version = "memory", 0

    def log_metrics(self, metrics, step=None):
        self.rows.append((step, dict(metrics)))

    def log_hyperparams(self, params, *args, **kwargs):
        pass


@pytest.mark.filterwarnings("ignore:You defined a `validation_step` but have no `val_dataloader`")
def test_training_metrics_are_per_image_means_and_the_step_loss_is_logged_when_the_logger_writes():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))  # no BatchNorm: train mode changes nothing
    module = ImageClassifier(net=net, optimizer=functools.partial(torch.optim.SGD, lr=0.0), loss_reduction="sum")
    images, targets = torch.randn(10, 3, 32, 32), torch.arange(10) % 10
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, targets), batch_size=4)  # 4, 4, 2
    logger = MemoryLogger()
    trainer = L.Trainer(max_epochs=2, logger=logger, log_every_n_steps=2, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, train_dataloaders=loader)

    with torch.no_grad():
        logits = net(images)
    per_image = nn.functional.cross_entropy(logits, targets, reduction="none")
    metrics = trainer.callback_metrics
    assert metrics[M.TRAIN_LOSS + "_epoch"].item() == pytest.approx(per_image.mean().item(), rel=1e-5)  # not the mean of batch means
    assert metrics[M.TRAIN_ACC].item() == pytest.approx((logits.argmax(1) == targets).float().mean().item())
    steps = {step: row[M.TRAIN_LOSS + "_step"] for step, row in logger.rows if M.TRAIN_LOSS + "_step" in row}
    second, third = per_image[4:8].mean().item(), per_image[8:].mean().item()
    assert steps == {1: pytest.approx(second, rel=1e-5), 3: pytest.approx(per_image[:4].mean().item(), rel=1e-5),
                     5: pytest.approx(third, rel=1e-5)}  # every 2nd of the 6 steps
    epochs = [row for _, row in logger.rows if M.TRAIN_LOSS + "_epoch" in row]
    assert len(epochs) == 2 and all(M.TRAIN_ACC in row for row in epochs)  # each epoch's means


@pytest.mark.filterwarnings("ignore:You defined a `validation_step` but have no `val_dataloader`")
def test_the_progress_bar_shows_the_running_epoch_loss():
    from cifar.reporting.callbacks.progress_bar import RunningLossProgressBar

    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))
    module = ImageClassifier(net=net, optimizer=functools.partial(torch.optim.SGD, lr=0.0))
    images, targets = torch.randn(12, 3, 32, 32), torch.arange(12) % 10
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, targets), batch_size=4)
    bar, seen = RunningLossProgressBar(refresh_rate=1), {}

    class Peek(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            seen[batch_idx] = bar.get_metrics(trainer, pl_module).get(M.TRAIN_LOSS_RUNNING)

    trainer = L.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_model_summary=False,
                        callbacks=[bar, Peek()])
    trainer.fit(module, train_dataloaders=loader)
    with torch.no_grad():
        per_image = nn.functional.cross_entropy(net(images), targets, reduction="none")
    assert seen == {i: pytest.approx(per_image[: 4 * (i + 1)].mean().item(), rel=1e-5) for i in range(3)}
