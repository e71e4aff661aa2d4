"""The speedrun recipes end to end on tiny data: they compose for CPU and GPU, train one epoch on all training
images, and refuse what needs a validation split they do not have."""

from __future__ import annotations

import json

import pytest

from cifar import metric_names as M
from cifar.errors import ConfigError
from cifar.training.precision import resolve_precision
from cifar.train import train
from helpers import TINY_RUN, TINY_SPEEDRUN, accuracy_from_confusion, compose_run


TIERS = ("speedrun85", "speedrun90", "speedrun94", "speedrun94_muon", "speedrun94_2025",
         "speedrun94_2025_cpu")


@pytest.mark.parametrize("tier", TIERS)
def test_experiment_composes_for_cpu_and_gpu(tmp_path, tier):
    for accelerator, precision in (("cpu", "auto"), ("gpu", "auto")):
        cfg = compose_run(tmp_path, f"experiment={tier}", f"accelerator={accelerator}")
        assert cfg.precision == precision and cfg.model._target_ == "cifar.models.speednet.SpeedNet"
        assert cfg.data.val_size == 0 and cfg.data.pipeline == "tensor" and cfg.tta.endswith("flip_translate")
    cfg = compose_run(tmp_path, f"experiment={tier}", "accelerator=cpu")
    resolve_precision(cfg)
    from cifar.training.devices import cpu_bf16_flags

    assert cfg.precision == ("bf16-mixed" if cpu_bf16_flags() else "32-true")


@pytest.mark.parametrize("tier", ["speedrun85", "speedrun94", "speedrun94_2025"])  # Muon, SGD, the 2025 record
def test_experiment_trains_one_epoch_on_all_training_images(tmp_path, tiny_data, tier):
    metrics = train(compose_run(tmp_path, f"experiment={tier}", *TINY_SPEEDRUN, data_dir=tiny_data))
    assert metrics["status"] == "ok" and metrics["epochs"] == 1
    assert metrics["steps"] == 200 // 32  # all 200 images, the last partial batch dropped
    assert metrics[M.TEST_ACC] == pytest.approx(accuracy_from_confusion(tmp_path / "confusion_test.csv"))  # TTA's predictions
    assert metrics[M.TEST_ACC_NO_TTA] is not None
    assert metrics[M.VAL_ACC] is None  # no validation split
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    # the reports a speedrun keeps (the tables), and the figures it skips
    for report in ("curves.csv", "confusion_test.csv", "per_class_accuracy_test.csv"):
        assert (tmp_path / report).is_file(), report
    assert not list(tmp_path.glob("*.png"))


def test_muon_trains_any_model_once_param_groups_select_its_weights(tmp_path, tiny_data):
    groups = "param_groups=[{module_types: [torch.nn.Conv2d], param_names: [weight], options: {orthogonalize: true}}]"
    metrics = train(compose_run(tmp_path / "a", "model=smallnet", "optimizer=muon", groups, *TINY_RUN,
                                "trainer.max_epochs=1", "logger=none", data_dir=tiny_data))
    assert metrics["status"] == "ok"
    assert metrics[M.TEST_ACC] == pytest.approx(accuracy_from_confusion(tmp_path / "a" / "confusion_test.csv"))
    with pytest.raises(ConfigError, match="no parameter group is orthogonalized.*param_groups"):
        train(compose_run(tmp_path / "b", "model=smallnet", "optimizer=muon", *TINY_RUN, "logger=none",
                          data_dir=tiny_data))


def test_no_validation_split_refuses_what_needs_one(tmp_path, tiny_data):
    cfg = compose_run(tmp_path, "data.val_size=0", data_dir=tiny_data)
    with pytest.raises(ConfigError, match="data.val_size=0.*optimized_metric=val/acc_best.*callbacks.model_checkpoint"):
        train(cfg)


def test_a_validation_split_in_a_recipe_that_never_validates_is_refused_before_training(tmp_path, tiny_data):
    cfg = compose_run(tmp_path, "experiment=speedrun94", "data.val_size=40", data_dir=tiny_data)
    with pytest.raises(ConfigError, match=r"^data\.val_size=40 asks for a validation split, but "
                                          r"trainer\.limit_val_batches=0 never validates on it: set data\.val_size=0"):
        train(cfg)
    assert json.loads((tmp_path / "metrics.json").read_text())["status"] == "failed"
