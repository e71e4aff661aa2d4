"""cifar.train in-process: end of run, reproducibility, target accuracy."""

from __future__ import annotations

import json

import pytest

from cifar import metric_names as M
from cifar.errors import ConfigError
from cifar.train import METRICS_FILE, train
from helpers import TINY_RUN, compose_run


def run(tmp_path, data_dir, *overrides):
    cfg = compose_run(tmp_path, *TINY_RUN, *overrides, data_dir=data_dir)
    return train(cfg)


def test_writes_metrics_of_the_best_checkpoint(tmp_path, tiny_data):
    metrics = run(tmp_path, tiny_data)
    on_disk = json.loads((tmp_path / METRICS_FILE).read_text())
    assert on_disk[M.TEST_ACC] == metrics[M.TEST_ACC]
    for key in (M.VAL_ACC_BEST, M.VAL_ACC, M.VAL_LOSS, M.TEST_ACC, M.TEST_LOSS):
        assert isinstance(on_disk[key], float), key
    assert on_disk["epochs"] == 2 and on_disk["wall_seconds"] > 0
    # the final validation re-runs the best checkpoint, so it reproduces the best epoch's figure
    assert on_disk[M.VAL_ACC] == pytest.approx(on_disk[M.VAL_ACC_BEST])
    assert on_disk["best_checkpoint"].startswith(str(tmp_path / "checkpoints"))
    assert on_disk["config"]["model"]["_target_"] == "cifar.models.smallnet.SmallNet"
    assert on_disk["config"]["precision"] == "32-true"


def test_a_run_that_max_steps_stops_part_way_records_the_fraction_of_epochs_trained(tmp_path, tiny_data):
    metrics = run(tmp_path, tiny_data, "+trainer.max_steps=8", "logger=none")  # 160 images, batches of 32: 5 a epoch
    assert metrics["epochs"] == 2 and metrics["steps"] == 8 and metrics["epochs_trained"] == 1.6


def test_same_seed_same_metrics_on_cpu(tmp_path, tiny_data):
    overrides = ("seed=123", "data.augment=crop_flip", "logger=none")
    first = run(tmp_path / "a", tiny_data, *overrides)
    second = run(tmp_path / "b", tiny_data, *overrides)
    third = run(tmp_path / "c", tiny_data, "seed=124", *overrides[1:])
    for key in (M.VAL_ACC_BEST, M.VAL_LOSS, M.TEST_ACC, M.TEST_LOSS):
        assert first[key] == second[key], key
    assert first[M.VAL_LOSS] != third[M.VAL_LOSS]


def test_target_accuracy_stops_training_once_reached(tmp_path, tiny_data):
    metrics = run(tmp_path, tiny_data, "target_acc=0.01", "trainer.max_epochs=5", "logger=none")
    assert metrics["epochs"] == 1 and metrics["stopped_early"] and metrics["target_reached_epoch"] == 1
    metrics = run(tmp_path / "b", tiny_data, "target_acc=1.0", "trainer.max_epochs=2", "logger=none")
    assert metrics["epochs"] == 2 and not metrics["stopped_early"] and metrics["target_reached_epoch"] is None


def test_runs_without_callbacks_or_loggers(tmp_path, tiny_data):
    metrics = run(tmp_path, tiny_data, "callbacks=none", "logger=none", "trainer.enable_checkpointing=false")
    assert metrics["best_checkpoint"] is None
    assert metrics[M.TEST_ACC] > 0.25  # the final weights, tested: separable tiny data, well above chance
    assert (tmp_path / METRICS_FILE).is_file()


def test_config_mistakes_fail_before_training(tmp_path, tiny_data):
    with pytest.raises(ConfigError, match=r"optimized_metric='val/accuracy' is unknown: expected one of val/acc_best"):
        run(tmp_path, tiny_data, "optimized_metric=val/accuracy")
    # plateau settings do not fit OneCycleLR: named at build time, not as a crash mid-fit
    with pytest.raises(ConfigError, match=r"scheduler \(torch\.optim\.lr_scheduler\.OneCycleLR\).*'mode'"):
        run(tmp_path, tiny_data, "experiment=netv2", "scheduler=onecycle")
    with pytest.raises(ConfigError, match=r"target_acc=1.5 is out of range"):
        run(tmp_path, tiny_data, "target_acc=1.5")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optimizer.lr=-0.1", r"optimizer\.lr=-0\.1 is out of range: expected a number > 0"),
        ("trainer.max_epochs=0", r"trainer\.max_epochs=0 is out of range: expected an integer >= 1"),
        ("data.batch_size=0", r"data\.batch_size=0 is out of range"),
        ("label_smoothing=1.0", r"label_smoothing=1\.0 is out of range: expected a number in \[0, 1\)"),
        ("data.num_workers=-1", r"data\.num_workers=-1 is out of range"),
        ("seed=-5", r"seed=-5 is out of range"),
    ],
)
def test_out_of_range_values_name_the_option_and_the_range(tmp_path, tiny_data, override, message):
    with pytest.raises(ConfigError, match=message):
        run(tmp_path, tiny_data, override)


def test_channels_last_gives_the_same_results(tmp_path, tiny_data):
    plain = run(tmp_path / "a", tiny_data, "logger=none", "trainer.max_epochs=1", "speed.channels_last=false")
    nhwc = run(tmp_path / "b", tiny_data, "logger=none", "trainer.max_epochs=1", "speed.channels_last=true")
    assert nhwc["val/loss"] == pytest.approx(plain["val/loss"], abs=1e-3)


@pytest.mark.slow
def test_compiled_network_trains_and_its_checkpoint_loads(tmp_path, tiny_data):
    from cifar.inference.checkpoints import load_trained_model

    metrics = run(tmp_path, tiny_data, "logger=none", "trainer.max_epochs=1", "speed.compile=true")
    assert type(load_trained_model(metrics["best_checkpoint"]).net).__name__ == "SmallNet"


def test_curves_png_every_n_epochs_and_always_at_the_end(tmp_path):
    from types import SimpleNamespace

    from cifar.reporting.callbacks.training_curves import TrainingCurvesCallback

    curves = TrainingCurvesCallback(tmp_path, plot_every_n_epochs=2)
    trainer = SimpleNamespace(sanity_checking=False, callback_metrics={}, optimizers=[], is_global_zero=True,
                              loggers=[], global_step=0, current_epoch=0)
    for epoch, png_expected in ((0, False), (1, True)):
        trainer.current_epoch = epoch
        curves.on_train_epoch_start(trainer, None)
        curves.on_train_epoch_end(trainer, None)
        assert len((tmp_path / "curves.csv").read_text().splitlines()) == epoch + 2  # header + a row per epoch
        assert (tmp_path / "curves.png").exists() == png_expected

    at_end = TrainingCurvesCallback(tmp_path / "end", plot_every_n_epochs=0)
    at_end.on_train_epoch_start(trainer, None)
    at_end.on_train_epoch_end(trainer, None)
    assert (tmp_path / "end" / "curves.csv").exists() and not (tmp_path / "end" / "curves.png").exists()
    at_end.on_fit_end(trainer, None)
    assert (tmp_path / "end" / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    never = TrainingCurvesCallback(tmp_path / "never", figure=False)  # the speedruns' setting: the CSV only
    never.on_train_epoch_start(trainer, None)
    never.on_train_epoch_end(trainer, None)
    never.on_fit_end(trainer, None)
    assert [p.name for p in (tmp_path / "never").iterdir()] == ["curves.csv"]

    with pytest.raises(ConfigError, match=r"callbacks\.training_curves\.plot_every_n_epochs=-1 is out of range: expected an integer >= 0"):
        TrainingCurvesCallback(tmp_path, plot_every_n_epochs=-1)
    with pytest.raises(ConfigError, match=r"callbacks\.training_curves\.figure='no' is not a boolean: expected true or false"):
        TrainingCurvesCallback(tmp_path, figure="no")


def test_a_failure_after_training_still_writes_metrics_with_the_fit_figures(tmp_path, tiny_data, monkeypatch):
    import cifar.train

    def broken(*args, **kwargs):
        raise RuntimeError("the test split is gone")

    monkeypatch.setattr(cifar.train, "final_figures", broken)
    with pytest.raises(RuntimeError):
        train(compose_run(tmp_path, *TINY_RUN, "trainer.max_epochs=1", "logger=none", data_dir=tiny_data))
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "failed" and metrics["error"] == "RuntimeError: the test split is gone"
    assert metrics["epochs"] == 1 and metrics["best_checkpoint"] and metrics["val/acc_best"] is not None



def test_a_failed_resume_keeps_the_finished_runs_metrics(tmp_path, tiny_data):
    finished = train(compose_run(tmp_path, *TINY_RUN, "trainer.max_epochs=1", "logger=none", data_dir=tiny_data))
    last = tmp_path / "checkpoints" / "last.ckpt"
    with pytest.raises(ConfigError):
        train(compose_run(tmp_path, *TINY_RUN, "logger=none", "optimizer.lr=-1", f"ckpt_path={last}", data_dir=tiny_data))
    kept = json.loads((tmp_path / METRICS_FILE).read_text())
    assert kept["status"] == "ok" and kept[M.TEST_ACC] == finished[M.TEST_ACC]
    failed = json.loads((tmp_path / "metrics_failed.json").read_text())
    assert failed["status"] == "failed" and failed["error"].startswith("optimizer.lr=-1 is out of range")
