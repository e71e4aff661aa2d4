"""What a run writes for TensorBoard beyond Lightning's scalars: the HParams session, the custom-scalars
layout, and one step convention for everything logged at an epoch's end.

``RunLogger`` is Lightning's ``TensorBoardLogger`` with the events in the run folder itself (so that
``tensorboard --logdir outputs`` names each run by its folder), and a :class:`~cifar.reporting.trackers.Tracker`:
its session is the HParams table's row.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only

from cifar import metric_names as M
from cifar.reporting.trackers import Tracker

# train and val of one quantity on one chart (TensorBoard's Custom Scalars tab); the epoch/* series
# are written by cifar/reporting/callbacks/training_curves.py, with the epoch as their step
LAYOUT = {
    "per epoch": {
        "accuracy": ["Multiline", [r"epoch/acc_(train|val)"]],
        "loss": ["Multiline", [r"epoch/loss_(train|val)"]],
        "learning rate": ["Multiline", [r"epoch/lr_.*"]],
        "seconds per epoch": ["Multiline", [r"epoch/seconds"]],
    },
    "per step": {
        "accuracy": ["Multiline", [M.TRAIN_ACC, M.VAL_ACC, M.VAL_ACC_BEST]],
        "loss": ["Multiline", [M.TRAIN_LOSS + "_step", M.TRAIN_LOSS + "_epoch", M.VAL_LOSS]],
        "learning rate": ["Multiline", [r"lr/.*"]],
    },
}
STATUS = {"success": "STATUS_SUCCESS", "failed": "STATUS_FAILURE", "interrupted": "STATUS_FAILURE",
          "running": "STATUS_RUNNING"}


class RunLogger(Tracker, TensorBoardLogger):
    """TensorBoard events in ``save_dir`` itself; see the module docstring."""

    def __init__(self, save_dir: str, **kwargs: Any):
        kwargs.update(name="", version="", default_hp_metric=False)
        super().__init__(save_dir, **kwargs)

    @rank_zero_only
    def start_session(self, hparams: Mapping[str, Any], tags: Mapping[str, str], metrics: Sequence[str],
                      shown_first: Sequence[str] = ()) -> None:
        """The run's row of the HParams table: ``hparams`` (text, numbers, booleans as they are), the
        ``metrics`` columns (scalar tags whose last value the table shows) and the columns ticked when
        the table opens (``shown_first``); plus the custom-scalars layout. (The tags are columns already.)"""
        self.log_hyperparams_file(hparams)
        writer = self.experiment._get_file_writer()  # (torch's add_hparams writes the same way)
        for summary in (experiment_summary(hparams, metrics, shown_first), session_start_summary(hparams)):
            writer.add_summary(summary)
        self.experiment.add_custom_scalars(LAYOUT)

    @rank_zero_only
    def end_session(self, status: str) -> None:
        """Marks the run ``success`` or ``failed`` in the HParams table."""
        self.experiment._get_file_writer().add_summary(session_end_summary(status))
        self.experiment.flush()

    @rank_zero_only
    def log_card(self, tag: str, image: Any, step: int) -> None:
        self.experiment.add_image(tag, image, global_step=step, dataformats="HWC")

    def log_hyperparams_file(self, hparams: Mapping[str, Any]) -> None:
        """``hparams.yaml`` in the run folder holds the same curated settings."""
        self.hparams.update(hparams)
        self.save()


def logging_step(trainer: L.Trainer) -> int:
    """The step at which Lightning's loggers put what is logged now: at an epoch's end validation that is
    one less than ``trainer.global_step`` (the epoch's last batch has not been counted yet), so a figure
    logged at ``global_step`` would sit one step after the scalars of its epoch."""
    loop = getattr(getattr(trainer, "fit_loop", None), "epoch_loop", None)
    return int(getattr(loop, "_batches_that_stepped", trainer.global_step))


# -- the hparams plugin's records (torch's ``hparams()`` writes booleans as numbers and always ends
#    the session as a success, so these are built here) ---------------------------------------------

def _plugin_summary(tag: str, **content: Any):
    from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboard.plugins.hparams.metadata import PLUGIN_DATA_VERSION, PLUGIN_NAME
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

    data = HParamsPluginData(version=PLUGIN_DATA_VERSION, **content)
    metadata = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name=PLUGIN_NAME,
                                                                      content=data.SerializeToString()))
    return Summary(value=[Summary.Value(tag=tag, metadata=metadata)])


def _data_type(value: Any) -> str:
    if isinstance(value, bool):
        return "DATA_TYPE_BOOL"
    return "DATA_TYPE_FLOAT64" if isinstance(value, (int, float)) else "DATA_TYPE_STRING"


def experiment_summary(hparams: Mapping[str, Any], metrics: Sequence[str], shown_first: Sequence[str] = ()):
    """The table's columns: every hparam with its type (no domain: each run adds its own values). The
    table ticks five columns when it opens, those marked ``differs`` first: ``shown_first`` are marked."""
    from tensorboard.plugins.hparams import api_pb2
    from tensorboard.plugins.hparams.metadata import EXPERIMENT_TAG

    experiment = api_pb2.Experiment(
        hparam_infos=[api_pb2.HParamInfo(name=k, type=api_pb2.DataType.Value(_data_type(v)), differs=k in shown_first)
                      for k, v in hparams.items()],
        metric_infos=[api_pb2.MetricInfo(name=api_pb2.MetricName(tag=m), display_name=m) for m in metrics],
        time_created_secs=time.time(),
    )
    return _plugin_summary(EXPERIMENT_TAG, experiment=experiment)


def session_start_summary(hparams: Mapping[str, Any]):
    from tensorboard.plugins.hparams import plugin_data_pb2
    from tensorboard.plugins.hparams.metadata import SESSION_START_INFO_TAG

    info = plugin_data_pb2.SessionStartInfo(start_time_secs=time.time())
    for name, value in hparams.items():
        if isinstance(value, bool):
            info.hparams[name].bool_value = value
        elif isinstance(value, (int, float)):
            info.hparams[name].number_value = float(value)
        else:
            info.hparams[name].string_value = str(value)
    return _plugin_summary(SESSION_START_INFO_TAG, session_start_info=info)


def session_end_summary(status: str):
    from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2
    from tensorboard.plugins.hparams.metadata import SESSION_END_INFO_TAG

    info = plugin_data_pb2.SessionEndInfo(status=api_pb2.Status.Value(STATUS.get(status, "STATUS_UNKNOWN")),
                                          end_time_secs=time.time())
    return _plugin_summary(SESSION_END_INFO_TAG, session_end_info=info)
