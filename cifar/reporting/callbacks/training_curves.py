"""Training curves: loss, accuracy (with the target line) and learning rate, per epoch, as PNG + CSV,
and as TensorBoard scalars indexed by epoch."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import lightning as L
import matplotlib.pyplot as plt

from cifar import metric_names as M
from cifar.errors import check_bool, check_range, is_int
from cifar.reporting.figures import CARD_INCHES, SMALL, log_figure, save_figure
from cifar.files import write_csv
from cifar.reporting.results import CURVES_FILE
from cifar.reporting.tensorboard import logging_step
from cifar.reporting.trackers import trackers
from cifar.training.param_groups import learning_rates

COLUMNS = ("epoch", M.TRAIN_LOSS, M.VAL_LOSS, M.TRAIN_ACC, M.VAL_ACC, "lr", "seconds")
# the per-epoch TensorBoard series (step = epoch), from the columns above
EPOCH_SERIES = {M.TRAIN_LOSS: "epoch/loss_train", M.VAL_LOSS: "epoch/loss_val", M.TRAIN_ACC: "epoch/acc_train",
                M.VAL_ACC: "epoch/acc_val", "seconds": "epoch/seconds"}
PANELS = ("loss", "accuracy", "learning rate")


class TrainingCurvesCallback(L.Callback):
    """After every training epoch, rewrites ``curves.csv`` (with each epoch's wall time, training
    plus validation) in ``output_dir``, logs the row to TensorBoard as ``epoch/*`` scalars whose step is
    the epoch (``epoch/lr_<group>`` for each parameter group), and redraws ``curves.png`` after every
    ``plot_every_n_epochs``-th epoch (0: only at the end of fit; drawing takes 0.3-0.7 s, more than a
    whole epoch of a GPU speedrun). At the end of fit the figure is drawn once more, and each of its
    panels goes to TensorBoard as ``curves/loss``, ``curves/accuracy``, ``curves/learning_rate``.
    ``figure=False`` draws nothing: the CSV and the scalars only.

    Epochs are numbered as Lightning numbers them (0 = the first, as in the checkpoint names). The
    history is part of the checkpoint, so a resumed run continues its curves.
    """

    def __init__(self, output_dir: str | Path, target_acc: float | None = None, plot_every_n_epochs: int = 1,
                 figure: bool = True, run_name: str = ""):
        check_range("callbacks.training_curves.plot_every_n_epochs", plot_every_n_epochs,
                    is_int(plot_every_n_epochs, 0), "an integer >= 0 (0 = draw curves.png only at the end of fit)")
        check_bool("callbacks.training_curves.figure", figure)
        self.output_dir = Path(output_dir)
        self.target_acc = target_acc
        self.plot_every_n_epochs = plot_every_n_epochs
        self.draws_figure = bool(figure)
        self.run_name = run_name
        self.history: list[dict[str, Any]] = []
        self._epoch_started = 0.0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._epoch_started = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or any(h["epoch"] == trainer.current_epoch for h in self.history):
            return  # (a resumed run ends the checkpoint's epoch again: its row is already there)
        metrics = trainer.callback_metrics

        def value(name: str) -> float | None:
            return float(metrics[name]) if name in metrics else None

        rates = learning_rates(trainer.optimizers[0]) if trainer.optimizers else {}
        row = {
            "epoch": trainer.current_epoch,
            M.TRAIN_LOSS: value(M.TRAIN_LOSS + "_epoch"),  # logged on step and epoch
            M.VAL_LOSS: value(M.VAL_LOSS),
            M.TRAIN_ACC: value(M.TRAIN_ACC),
            M.VAL_ACC: value(M.VAL_ACC),
            "lr": next(iter(rates.values()), None),  # the first parameter group's
            "lrs": rates,
            "seconds": round(time.perf_counter() - self._epoch_started, 2),  # training + validation
        }
        self.history.append(row)
        if not trainer.is_global_zero:
            return
        write_csv(self.output_dir / CURVES_FILE, COLUMNS, ([h.get(c) for c in COLUMNS] for h in self.history))
        series = {tag: row[key] for key, tag in EPOCH_SERIES.items() if row[key] is not None}
        series.update({f"epoch/lr_{group}": lr for group, lr in rates.items()})
        for tracker in trackers(trainer.loggers):
            tracker.log_epoch_series(series, row["epoch"])
        every = self.plot_every_n_epochs
        if self.draws_figure and every and (trainer.current_epoch + 1) % every == 0:
            save_figure(self.figure(), self.output_dir / "curves.png")

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not (self.draws_figure and trainer.is_global_zero and self.history):
            return
        save_figure(self.figure(), self.output_dir / "curves.png")
        step = logging_step(trainer)
        for panel in PANELS:
            fig, ax = plt.subplots(figsize=CARD_INCHES, layout="constrained")
            self.draw(ax, panel, SMALL)
            ax.set_title(f"{self.run_name}: {panel}" if self.run_name else panel, fontsize=SMALL + 1)
            log_figure(fig, trainer.loggers, f"curves/{panel.replace(' ', '_')}", step)

    def figure(self):
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.3))
        for ax, panel in zip(axes, PANELS):
            self.draw(ax, panel)
        if self.run_name:
            fig.suptitle(self.run_name)
        fig.tight_layout()
        return fig

    def draw(self, ax, panel: str, fontsize: float | None = None) -> None:
        """One panel of the curves on ``ax``: ``loss``, ``accuracy`` or ``learning rate``; x = epoch (0 first)."""

        def plot(key: str, label: str) -> None:
            points = [(h["epoch"], h[key]) for h in self.history if h.get(key) is not None]
            if points:
                ax.plot(*zip(*points), marker="o", markersize=3, label=label)

        if panel == "learning rate":
            rates = [(h["epoch"], group_rates(h)) for h in self.history]
            for group in dict.fromkeys(g for _, r in rates for g in r):
                points = [(epoch, r[group]) for epoch, r in rates if r.get(group) is not None]
                if points:
                    ax.plot(*zip(*points), marker="o", markersize=3, label=group)
            ax.set_yscale(lr_scale([lr for _, r in rates for lr in r.values()]))
            ax.set_title("learning rate (end of epoch)")
        else:
            train, val = (M.TRAIN_LOSS, M.VAL_LOSS) if panel == "loss" else (M.TRAIN_ACC, M.VAL_ACC)
            plot(train, "train")
            plot(val, "val")
            if panel == "accuracy" and self.target_acc is not None:
                ax.axhline(self.target_acc, color="red", linestyle="--", label=f"target {self.target_acc:g}")
            ax.set_title(panel)
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=fontsize)
        ax.grid(alpha=0.3)
        if fontsize:
            ax.tick_params(labelsize=fontsize)
            ax.xaxis.label.set_size(fontsize)

    def state_dict(self) -> dict[str, Any]:
        return {"history": list(self.history)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = list(state_dict.get("history", []))


def group_rates(row: dict[str, Any]) -> dict[str, float | None]:
    """A history row's lr per parameter group (rows from checkpoints older than ``lrs`` have one ``lr``)."""
    return row.get("lrs") or {"default": row.get("lr")}


def lr_scale(rates: list[float | None]) -> str:
    """``log`` where the rates span two orders of magnitude and none is 0 (a one-cycle or step schedule),
    else ``linear`` (a constant or linear schedule, or one that ends at 0)."""
    values = [r for r in rates if r is not None]
    if not values or min(values) <= 0:
        return "linear"
    return "log" if max(values) / min(values) >= 100 else "linear"
