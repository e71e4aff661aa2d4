"""Training curves: loss, accuracy (with the target line) and learning rate, per epoch, as PNG + CSV."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import lightning as L
import matplotlib.pyplot as plt

from cifar import metric_names as M
from cifar.errors import check_bool, check_range, is_int
from cifar.reporting.figures import save_and_log_figure, save_figure
from cifar.reporting.files import write_csv

COLUMNS = ("epoch", M.TRAIN_LOSS, M.VAL_LOSS, M.TRAIN_ACC, M.VAL_ACC, "lr", "seconds")


class TrainingCurvesCallback(L.Callback):
    """After every training epoch, rewrites ``curves.csv`` (with each epoch's wall time, training
    plus validation) in ``output_dir``, and ``curves.png`` after every ``plot_every_n_epochs``-th
    epoch (0: only at the end of fit; drawing takes 0.3-0.7 s, more than a whole epoch of a GPU
    speedrun). At the end of fit the figure is drawn once more and also logged to TensorBoard as
    ``curves``. ``figure=False`` draws nothing: the CSV (and TensorBoard's scalars) only.

    The history is part of the checkpoint, so a resumed run continues its curves.
    """

    def __init__(self, output_dir: str | Path, target_acc: float | None = None, plot_every_n_epochs: int = 1,
                 figure: bool = True):
        check_range("callbacks.training_curves.plot_every_n_epochs", plot_every_n_epochs,
                    is_int(plot_every_n_epochs, 0), "an integer >= 0 (0 = draw curves.png only at the end of fit)")
        check_bool("callbacks.training_curves.figure", figure)
        self.output_dir = Path(output_dir)
        self.target_acc = target_acc
        self.plot_every_n_epochs = plot_every_n_epochs
        self.draws_figure = bool(figure)
        self.history: list[dict[str, float | None]] = []
        self._epoch_started = 0.0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._epoch_started = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or any(h["epoch"] == trainer.current_epoch for h in self.history):
            return  # (a resumed run ends the checkpoint's epoch again: its row is already there)
        metrics = trainer.callback_metrics

        def value(name: str) -> float | None:
            return float(metrics[name]) if name in metrics else None

        row = {
            "epoch": trainer.current_epoch,
            M.TRAIN_LOSS: value(M.TRAIN_LOSS + "_epoch"),  # logged on step and epoch
            M.VAL_LOSS: value(M.VAL_LOSS),
            M.TRAIN_ACC: value(M.TRAIN_ACC),
            M.VAL_ACC: value(M.VAL_ACC),
            "lr": trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else None,
            "seconds": round(time.perf_counter() - self._epoch_started, 2),  # training + validation
        }
        self.history.append(row)
        if trainer.is_global_zero:
            write_csv(self.output_dir / "curves.csv", COLUMNS, ([h[c] for c in COLUMNS] for h in self.history))
            every = self.plot_every_n_epochs
            if self.draws_figure and every and (trainer.current_epoch + 1) % every == 0:
                save_figure(self.figure(), self.output_dir / "curves.png")

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not (self.draws_figure and trainer.is_global_zero and self.history):
            return
        save_and_log_figure(self.figure(), self.output_dir / "curves.png", trainer.loggers, "curves", trainer.global_step)

    def figure(self):
        epochs = [h["epoch"] + 1 for h in self.history]
        fig, (loss_ax, acc_ax, lr_ax) = plt.subplots(1, 3, figsize=(15, 4))

        def plot(ax, key, label):
            points = [(e, h[key]) for e, h in zip(epochs, self.history) if h[key] is not None]
            if points:
                ax.plot(*zip(*points), marker="o", markersize=3, label=label)

        plot(loss_ax, M.TRAIN_LOSS, "train")
        plot(loss_ax, M.VAL_LOSS, "val")
        loss_ax.set(title="loss", xlabel="epoch")
        plot(acc_ax, M.TRAIN_ACC, "train")
        plot(acc_ax, M.VAL_ACC, "val")
        if self.target_acc is not None:
            acc_ax.axhline(self.target_acc, color="red", linestyle="--", label=f"target {self.target_acc:g}")
        acc_ax.set(title="accuracy", xlabel="epoch")
        plot(lr_ax, "lr", "learning rate")
        # log scale where it can show something (a schedule that ends at 0 has no positive last value)
        positive = any((h["lr"] or 0) > 0 for h in self.history)
        lr_ax.set(title="learning rate (end of epoch)", xlabel="epoch", yscale="log" if positive else "linear")
        for ax in (loss_ax, acc_ax):
            if ax.get_legend_handles_labels()[0]:
                ax.legend()
            ax.grid(alpha=0.3)
        lr_ax.grid(alpha=0.3)
        fig.tight_layout()
        return fig

    def state_dict(self) -> dict[str, Any]:
        return {"history": list(self.history)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = list(state_dict.get("history", []))
