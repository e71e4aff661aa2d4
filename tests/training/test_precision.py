"""precision=16-true-bn32 / bf16-true-bn32: half-precision weights with BatchNorm in fp32, no autocast
and no loss scaling (the speed record's own way of training on a GPU). Checked here with bf16 on the CPU."""

from __future__ import annotations

import pytest
import torch

from cifar import metric_names as M
from cifar.bench import speedrun as speedrun_bench
from cifar.errors import ConfigError
from cifar.training.factory import build, build_trainer
from cifar.training.precision import resolve_precision
from cifar.models.speednet import SpeedNet
from cifar.training.precision import HalfWeightsPrecision, half_weights
from cifar.train import train
from helpers import accuracy_from_confusion, compose_run

TINY_SPEEDRUN = [
    "experiment=speedrun94", "accelerator=cpu", "precision=bf16-true-bn32", "model.widths=[8,16,16]",
    "data.batch_size=32", "data.eval_batch_size=50", "trainer.max_epochs=1", "trainer.max_steps=-1",
    "trainer.enable_progress_bar=false", "logger=none", "callbacks.whitening.images=100",
]


def test_half_weights_keep_batchnorm_in_fp32_and_run_in_half():
    net = half_weights(SpeedNet(widths=(8, 16, 16)), torch.bfloat16)
    norms = 0
    for module in net.modules():
        is_norm = isinstance(module, torch.nn.modules.batchnorm._NormBase)
        norms += is_norm
        for name, tensor in [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]:
            if tensor.is_floating_point():
                assert tensor.dtype == (torch.float32 if is_norm else torch.bfloat16), (type(module).__name__, name)
    assert norms > 0
    out = net(torch.randn(4, 3, 32, 32, dtype=torch.bfloat16))
    assert out.dtype == torch.bfloat16 and out.shape == (4, 10) and torch.isfinite(out.float()).all()


def test_the_trainer_gets_the_plugin_and_no_precision_flag(tmp_path, tiny_data):
    cfg = compose_run(tmp_path, *TINY_SPEEDRUN, data_dir=tiny_data)
    resolve_precision(cfg)
    trainer = build_trainer(cfg)
    assert isinstance(trainer.precision_plugin, HalfWeightsPrecision)
    assert type(trainer.strategy.checkpoint_io).__name__ == "AtomicCheckpointIO"  # the configured plugins stay
    with pytest.raises(ConfigError, match=r"precision='8-true-bn32' is unknown: expected one of 16-true-bn32, bf16-true-bn32"):
        HalfWeightsPrecision("8-true-bn32")


def test_speedrun_trains_and_tests_with_half_weights(tmp_path, tiny_data):
    metrics = train(compose_run(tmp_path, *TINY_SPEEDRUN, data_dir=tiny_data))
    assert metrics["status"] == "ok" and metrics[M.TEST_ACC] == pytest.approx(accuracy_from_confusion(tmp_path / "confusion_test.csv"))
    weights = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    dtypes = {name: t.dtype for name, t in weights.items() if name.startswith("net.") and t.is_floating_point()}
    assert torch.bfloat16 in dtypes.values() and torch.float32 in dtypes.values()
    assert all(dtypes[n] == torch.float32 for n in dtypes if "running_var" in n)  # BatchNorm statistics stay fp32


def test_the_bench_plain_loop_trains_with_half_weights(tmp_path, tiny_data):
    cfg = speedrun_bench.compose_recipe([*TINY_SPEEDRUN, f"paths.data_dir={tiny_data}"], str(tmp_path))
    datamodule = build(cfg.data, "data")
    datamodule.prepare_data()
    datamodule.setup("fit")
    datamodule.setup("test")
    accuracy, seconds, no_tta, steps = speedrun_bench.plain_run(cfg, datamodule, seed=0)
    reference = speedrun_bench.lightning_run(cfg, datamodule, seed=0)
    assert steps == reference[3] == 200 // 32 and seconds > 0
    assert (accuracy, no_tta) == pytest.approx(reference[0:3:2], abs=1e-6)  # the same recipe, the same predictions
