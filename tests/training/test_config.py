"""Every option of every config group composes and instantiates."""

from __future__ import annotations

import re
from pathlib import Path

import lightning as L
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from cifar.reporting.callbacks.confusion_matrix import ConfusionMatrixCallback
from cifar.reporting.callbacks.learning_rate import LearningRateCallback
from cifar.reporting.callbacks.progress_bar import RunningLossProgressBar
from cifar.reporting.callbacks.sample_predictions import SamplePredictionsCallback
from cifar.reporting.callbacks.training_curves import TrainingCurvesCallback
from cifar.training.callbacks.epoch_seed import EpochSeedCallback
from cifar.training.callbacks.finite_loss import FiniteLossCallback
from cifar.training.callbacks.target_accuracy import TargetAccuracyCallback
from cifar.training.callbacks.whitening import WhiteningInit
from cifar.data.datamodule import CIFAR10DataModule
from cifar.reporting.mlflow_tracker import MLflowRunLogger
from cifar.reporting.tensorboard import RunLogger
from cifar.reporting.wandb_tracker import WandbRunLogger
from cifar.training.factory import build, build_group, build_module, build_run, build_trainer, prepare
from cifar.training.devices import cpu_bf16_flags
from cifar.training.precision import resolve_precision

from helpers import CONF, compose_run


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def test_every_config_group_a_user_swaps_exists():
    assert {"adam", "adamw", "muon", "sgd"} <= set(options("optimizer"))
    assert {"none", "onecycle", "plateau", "cosine"} <= set(options("scheduler"))
    assert {"cpu", "gpu", "mps", "auto"} <= set(options("accelerator"))
    assert {"tensorboard", "csv"} <= set(options("logger"))
    assert options("experiment") and options("model") and options("data") and options("trainer")


@pytest.mark.parametrize("name", options("data"))
def test_data_options(tmp_path, name):
    cfg = compose_run(tmp_path, f"data={name}", "data.batch_size=77", "data.val_size=123")
    datamodule = build(cfg.data, "data")
    assert isinstance(datamodule, CIFAR10DataModule)
    assert (datamodule.batch_size, datamodule.val_size) == (77, 123)  # what the user typed is what is built
    assert str(datamodule.data_dir) == cfg.paths.data_dir


@pytest.mark.parametrize("name", options("model"))
def test_model_options_map_images_to_ten_scores(tmp_path, name):
    cfg = compose_run(tmp_path, f"model={name}")
    net = build(cfg.model, "model")
    assert isinstance(net, torch.nn.Module)
    net.eval()
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("name", options("optimizer"))
def test_optimizer_options(tmp_path, name):
    cfg = compose_run(tmp_path, f"optimizer={name}", "optimizer.lr=0.0123")
    layer = torch.nn.Linear(2, 2)
    # Muon needs a group it orthogonalizes (a matrix); the others take every parameter in one group
    params = [{"params": [layer.bias]}, {"params": [layer.weight], "orthogonalize": True}] if name == "muon" \
        else layer.parameters()
    optimizer = build(cfg.optimizer, "optimizer")(params=params)
    assert isinstance(optimizer, torch.optim.Optimizer)
    assert optimizer.param_groups[0]["lr"] == 0.0123


@pytest.mark.parametrize("name", options("scheduler"))
def test_scheduler_options_drive_a_real_fit(tmp_path, tiny_data, name):
    cfg = compose_run(
        tmp_path, f"scheduler={name}", "optimizer=sgd", "optimizer.lr=0.1", "data.val_size=40", data_dir=tiny_data
    )
    module = build_module(cfg)
    trainer = L.Trainer(
        max_epochs=3, limit_train_batches=2, limit_val_batches=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
    )
    trainer.fit(module, datamodule=build(cfg.data, "data"))
    lr = trainer.optimizers[0].param_groups[0]["lr"]
    if name == "none":
        assert lr == 0.1
    elif name == "plateau":
        assert [c.monitor for c in trainer.lr_scheduler_configs] == ["val/acc"]
    else:  # onecycle and cosine end far below their peak
        assert lr < 0.02


@pytest.mark.parametrize("name", options("trainer"))
def test_trainer_options(tmp_path, name):
    cfg = compose_run(tmp_path, f"trainer={name}", "trainer.max_epochs=3")
    resolve_precision(cfg)
    trainer = build_trainer(cfg)
    assert isinstance(trainer, L.Trainer) and trainer.max_epochs == 3
    assert type(trainer.strategy.checkpoint_io).__name__ == "AtomicCheckpointIO"  # checkpoints written once, whole


def test_accelerator_options_set_device_and_precision(tmp_path):
    expected = {"cpu": ("cpu", "auto"), "gpu": ("gpu", "16-mixed"), "mps": ("mps", "32-true"), "auto": ("auto", "auto")}
    for name in options("accelerator"):
        cfg = compose_run(tmp_path, f"accelerator={name}")
        assert (cfg.trainer.accelerator, cfg.precision) == expected[name], name
    cfg = compose_run(tmp_path, "accelerator=cpu", "precision=bf16-mixed")
    assert cfg.trainer.precision == "bf16-mixed"
    trainer = build_trainer(cfg)
    assert trainer.precision == "bf16-mixed"
    cfg = compose_run(tmp_path, "accelerator=auto")
    on_cpu = "bf16-mixed" if cpu_bf16_flags() else "32-true"  # the CPU default: bf16 where the CPU has it
    assert resolve_precision(cfg) == ("16-mixed" if torch.cuda.is_available() else on_cpu)
    cfg = compose_run(tmp_path, "accelerator=cpu")
    assert resolve_precision(cfg) == on_cpu
    assert isinstance(build_trainer(cfg), L.Trainer)


@pytest.mark.parametrize("name", options("callbacks"))
def test_callbacks_options(tmp_path, name):
    cfg = compose_run(tmp_path, f"callbacks={name}", "target_acc=0.9")
    callbacks = build_group(cfg.get("callbacks"), "callbacks")
    kinds = {type(c) for c in callbacks}
    if name == "default":
        assert kinds == {
            ModelCheckpoint, EarlyStopping, LearningRateCallback, RunningLossProgressBar, ConfusionMatrixCallback,
            TrainingCurvesCallback, TargetAccuracyCallback, SamplePredictionsCallback, FiniteLossCallback,
            EpochSeedCallback, WhiteningInit,
        }
        stopper = next(c for c in callbacks if isinstance(c, EarlyStopping))
        assert stopper.monitor == "val/acc" and stopper.patience == 10
        target = next(c for c in callbacks if isinstance(c, TargetAccuracyCallback))
        assert target.target == 0.9 and target.monitor == "val/acc"
        checkpoint = next(c for c in callbacks if isinstance(c, ModelCheckpoint))
        assert checkpoint.dirpath == str(tmp_path / "checkpoints") and checkpoint.save_last
    else:
        assert callbacks == []


@pytest.mark.parametrize("name", options("logger"))
def test_logger_options_write_into_the_run_dir(tmp_path, name, monkeypatch):
    monkeypatch.chdir(tmp_path)  # (MLflow's local store: outputs/mlruns where the command runs)
    monkeypatch.setenv("WANDB_MODE", "offline")
    cfg = compose_run(tmp_path, f"logger={name}")
    loggers = build_group(cfg.get("logger"), "logger")
    trackers = {RunLogger, WandbRunLogger, MLflowRunLogger}
    expected = {"tensorboard": {RunLogger}, "csv": {CSVLogger}, "wandb": {WandbRunLogger}, "mlflow": {MLflowRunLogger},
                "many": {CSVLogger, *trackers}, "none": set()}
    assert {type(x) for x in loggers} == expected[name]
    for logger in loggers:  # TensorBoard's events in the run folder itself (its run name), the CSV in csv/
        if isinstance(logger, RunLogger):
            assert Path(logger.log_dir) == tmp_path
        elif isinstance(logger, CSVLogger):
            assert Path(logger.log_dir) == tmp_path / "csv"
        else:  # W&B's run in <run>/wandb/, the ids of both trackers' runs in <run>/tracker_runs.json
            assert Path(logger.run_dir) == tmp_path


@pytest.mark.parametrize("name", options("experiment"))
def test_experiment_options_build_a_whole_run(tmp_path, name):
    cfg = prepare(compose_run(tmp_path, f"experiment={name}"))
    run = build_run(cfg)
    assert type(run.module.net) is type(build(cfg.model, "model"))  # the recipe's network
    assert run.datamodule.batch_size == cfg.data.batch_size and run.module.tta == cfg.tta
    assert run.trainer.max_epochs == cfg.trainer.max_epochs
    assert run.module.label_smoothing == cfg.label_smoothing and run.module.channels_last == cfg.speed.channels_last


def test_runs_land_in_outputs_by_date_and_time():
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", return_hydra_config=True)
    assert re.fullmatch(r"outputs/\d{4}-\d\d-\d\d/\d\d-\d\d-\d\d-smallnet", cfg.hydra.run.dir)  # <time>-<run name>
    assert re.fullmatch(r"outputs/multirun/\d{4}-\d\d-\d\d/\d\d-\d\d-\d\d", cfg.hydra.sweep.dir)
    assert {"seed", "ckpt_path", "optimized_metric"} <= set(cfg)


RECIPES = {
    "deepcnn": {"model._target_": "cifar.models.deepcnn.DeepCNN", "optimizer._target_": "torch.optim.Adam",
                "optimizer.lr": 1e-3, "loss": "nll", "data.batch_size": 64, "trainer.max_epochs": 10,
                "data.augment": "none", "data.format": "binary", "scheduler.scheduler": None},
    "basiccnn": {"model._target_": "cifar.models.basiccnn.BasicCNN", "optimizer._target_": "torch.optim.Adam",
                 "optimizer.lr": 1e-3, "optimizer.weight_decay": 1e-4, "loss": "cross_entropy",
                 "label_smoothing": 0.0, "data.batch_size": 64, "trainer.max_epochs": 10, "data.augment": "crop_flip"},
    "smallnet": {"model._target_": "cifar.models.smallnet.SmallNet", "optimizer._target_": "torch.optim.AdamW",
                 "scheduler.scheduler._target_": "torch.optim.lr_scheduler.OneCycleLR", "label_smoothing": 0.1,
                 "data.augment": "crop_flip", "data.val_size": 5000},
    "resnet18": {"model._target_": "cifar.models.resnet18.cifar_resnet18", "optimizer._target_": "torch.optim.AdamW",
                 "scheduler.scheduler._target_": "torch.optim.lr_scheduler.OneCycleLR", "label_smoothing": 0.1},
    "netv2": {"model._target_": "cifar.models.netv2.NetV2", "optimizer._target_": "torch.optim.Adam",
              "optimizer.lr": 1e-3, "optimizer.weight_decay": 1e-4,
              "scheduler.scheduler._target_": "torch.optim.lr_scheduler.ReduceLROnPlateau",
              "scheduler.scheduler.mode": "max", "scheduler.scheduler.factor": 0.5, "scheduler.scheduler.patience": 2,
              "scheduler.scheduler.min_lr": 1e-6, "scheduler.monitor": "val/acc", "data.batch_size": 128,
              "trainer.max_epochs": 50, "data.augment": "flip_affine_cutout", "target_acc": 0.85,
              "callbacks.target_accuracy.target": 0.85},
    "compactnet": {"model._target_": "cifar.models.compactnet.CompactNet", "optimizer._target_": "torch.optim.Adam",
                   "optimizer.lr": 1e-3, "scheduler.scheduler._target_": "torch.optim.lr_scheduler.ReduceLROnPlateau",
                   "data.batch_size": 32, "trainer.max_epochs": 100, "callbacks.early_stopping": None,
                   "callbacks.model_checkpoint.monitor": "val/acc"},
}
SPEEDRUN94 = {"model._target_": "cifar.models.speednet.SpeedNet", "model.widths": [64, 256, 256],
              "optimizer._target_": "torch.optim.SGD", "optimizer.lr": 11.5 / (1024 * (1 + 1 / 0.15)),
              "optimizer.momentum": 0.85, "optimizer.nesterov": True, "optimizer.weight_decay": 0.0153 * 1024 / 11.5,
              "param_groups.0.lr_scale": 64.0, "param_groups.0.weight_decay_scale": 1 / 64,
              "scheduler.scheduler._target_": "cifar.training.schedules.warmup_linear_decay", "scheduler.interval": "step",
              "scheduler.scheduler.warmup": 0.23, "scheduler.scheduler.start": 0.2, "scheduler.scheduler.end": 0.07,
              "label_smoothing": 0.2, "loss_reduction": "sum", "data.batch_size": 1024, "data.drop_last": True,
              "data.augment": "translate_altflip", "data.pipeline": "tensor", "data.val_size": 0,
              "trainer.max_steps": 476, "callbacks.lookahead.every_n_steps": 5,
              "callbacks.lookahead.base_decay": 0.95**5, "callbacks.whitening.bias_epochs": 3,
              "callbacks.whitening.images": 5000, "tta": "flip_translate", "optimized_metric": "test/acc"}
RECIPES["speedrun94"] = SPEEDRUN94
# airbench94_muon set for the CPU: Muon lr 0.12 momentum 0.7 on the filters; SGD lr 0.053 / 0.67 (head), momentum
# 0.85, decay 2e-6 per example at batch 1024 (torch divides by lr); linear decay to 0; 7 epochs of 48 batches
RECIPES["speedrun94_muon"] = {
    **{k: v for k, v in SPEEDRUN94.items() if not k.startswith(("param_groups", "callbacks.lookahead"))},
    "optimizer._target_": "cifar.training.optimizers.Muon", "optimizer.lr": 0.053, "optimizer.momentum": 0.85,
    "optimizer.nesterov": True, "optimizer.weight_decay": 2e-6 * 1024 / 0.053, "optimizer.orthogonalize": False,
    "optimizer.ns_steps": 3, "param_groups.0.module_types": ["torch.nn.Conv2d"], "param_groups.0.param_names": ["weight"],
    "param_groups.0.options": {"orthogonalize": True, "lr": 0.12, "momentum": 0.7, "weight_decay": 0.0},
    "param_groups.1.module_types": ["torch.nn.Linear"], "param_groups.1.options.lr": 0.67,
    "param_groups.1.options.weight_decay": 2e-6 * 1024 / 0.67, "model.scale": 1 / 256, "model.head_std": 1.0,
    "scheduler.scheduler.warmup": 0.0, "scheduler.scheduler.start": 1.0, "scheduler.scheduler.end": 0.0,
    "data.batch_size": 1024, "trainer.max_steps": 336, "callbacks.lookahead": None,
}
# the tiers are speedrun94_muon cut by epochs (and width), with the Muon settings they were measured with
TIER_FILTERS = {"param_groups.0.options": {"orthogonalize": True, "lr": 0.17, "momentum": 0.75, "weight_decay": 0.0}}
RECIPES["speedrun90"] = {**RECIPES["speedrun94_muon"], **TIER_FILTERS, "trainer.max_steps": 312}
RECIPES["speedrun85"] = {**RECIPES["speedrun94_muon"], **TIER_FILTERS, "trainer.max_steps": 168,
                         "model.widths": [32, 128, 128],
                         "model.scale": 1 / 128, "callbacks.whitening.bias_epochs": 2}

# the 2025 record (hiverge/cifar10-speedrun): batch 1536 for ceil(7.63 x 32) steps; SiLU, BatchNorm momentum 0.4434;
# Muon lr 0.205 momentum 0.655, rescaled every 8 steps, decoupled decay 1.0418e-6 x 1536; SGD momentum 0.825,
# lr 0.0573 (biases) / 0.5415 (head), torch-style decay (over the lr); the whitening bias for 7 steps; 960 images
WD_2025 = 0.0016002048  # 1.0418e-6 x 1536
RECIPES["speedrun94_2025"] = {
    **{k: v for k, v in RECIPES["speedrun94_muon"].items() if not k.startswith(("param_groups", "optimizer"))},
    "optimizer._target_": "cifar.training.optimizers.Muon", "optimizer.lr": 0.0573, "optimizer.momentum": 0.825,
    "optimizer.nesterov": True, "optimizer.weight_decay": WD_2025 / 0.0573,
    "param_groups.0.options": {"orthogonalize": True, "lr": 0.205, "momentum": 0.655, "weight_decay": WD_2025,
                               "normalize_every": 8, "ns_coefficients": [3.4576, -4.7391, 2.0843]},
    "param_groups.1.module_types": ["cifar.models.whitening.PatchWhitening"], "param_groups.1.param_names": ["bias"],
    "param_groups.1.options.lr": 0.0573, "param_groups.1.options.weight_decay": WD_2025 / 0.0573,
    "param_groups.2.module_types": ["torch.nn.Linear"], "param_groups.2.options.lr": 0.5415,
    "param_groups.2.options.weight_decay": WD_2025 / 0.5415, "scheduler.scheduler.group_steps": {"whitening_bias": 7},
    "model.activation": "silu", "model.bn_momentum": 1 - 0.5566, "label_smoothing": 0.09,
    "data.augment": "translate_altflip_jitter", "data.batch_size": 1536, "trainer.max_steps": 245,
    "callbacks.whitening.images": 960, "callbacks.whitening.bias_epochs": 1, "tta": "uncertain_flip_translate",
}
# the same set for the CPU: batch 1024 for 7 epochs of 48 batches, the Muon lr scaled linearly and momentum 0.7, the
# decay per example kept (1.0418e-6 x 1024), the whitening bias for ceil(0.19 x 48) steps
WD_2025_CPU = 1.0418e-6 * 1024
RECIPES["speedrun94_2025_cpu"] = {
    **RECIPES["speedrun94_2025"], "optimizer.weight_decay": WD_2025_CPU / 0.0573,
    "param_groups.0.options": {"orthogonalize": True, "lr": 0.205 * 1024 / 1536, "momentum": 0.7,
                               "weight_decay": WD_2025_CPU, "normalize_every": 8,
                               "ns_coefficients": [3.4576, -4.7391, 2.0843]},
    "param_groups.1.options.weight_decay": WD_2025_CPU / 0.0573, "param_groups.2.options.weight_decay": WD_2025_CPU / 0.5415,
    "scheduler.scheduler.group_steps": {"whitening_bias": 10}, "data.batch_size": 1024, "trainer.max_steps": 336,
}


def test_every_experiment_is_pinned():
    assert sorted(RECIPES) == options("experiment")


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_experiment_recipes_match_their_write_ups(tmp_path, name):
    cfg = compose_run(tmp_path, f"experiment={name}")
    for key, expected in RECIPES[name].items():
        value = OmegaConf.select(cfg, key)
        if isinstance(expected, float):
            assert value == pytest.approx(expected), key
        else:
            assert (OmegaConf.to_container(value) if OmegaConf.is_config(value) else value) == expected, key


def test_any_model_takes_a_step_with_any_optimizer_and_scheduler(tmp_path):
    lengths = {"onecycle": {"total_steps": 10}, "cosine": {"T_max": 10}, "plateau": {}}
    for model in options("model"):
        for optimizer, scheduler in [("sgd", "onecycle"), ("adam", "plateau"), ("adamw", "cosine")]:
            cfg = compose_run(tmp_path, f"model={model}", f"optimizer={optimizer}", f"scheduler={scheduler}")
            module = build_module(cfg)
            opt = module.optimizer_factory(params=module.parameters())
            sched = module.scheduler_factory(optimizer=opt, **lengths[scheduler])
            before = [p.detach().clone() for p in module.parameters()]
            loss = module.loss(module(torch.randn(4, 3, 32, 32)), torch.tensor([1, 2, 3, 4]))
            loss.backward()
            opt.step()
            sched.step(0.5) if scheduler == "plateau" else sched.step()
            assert torch.isfinite(loss), (model, optimizer, scheduler)
            assert any(not torch.equal(b, p) for b, p in zip(before, module.parameters())), (model, optimizer)
