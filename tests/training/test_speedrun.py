"""The speedrun recipes and their parts: whitening, alternating flips, TTA, parameter groups,
schedule, lookahead, training on all images, and the experiments end to end on tiny data."""

from __future__ import annotations

import json

import lightning as L
import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from cifar import metric_names as M
from cifar.bench import speedrun as speedrun_bench
from cifar.training.callbacks.lookahead import Lookahead
from cifar.errors import ConfigError
from cifar.training.factory import build, build_module
from cifar.training.precision import resolve_precision
from cifar.models.speednet import SpeedNet
from cifar.models.whitening import PatchWhitening, patches
from cifar.training.optimizers import Muon, orthogonalize
from cifar.training.param_groups import build_optimizer, build_param_groups
from cifar.training.schedules import WarmupLinearDecay
from cifar.data.tensor_pipeline import TENSOR_RECIPES, TensorBatches
from cifar.train import train
from cifar.inference.tta import tta_logits
from helpers import TINY_RUN, accuracy_from_confusion, compose_run, run_cli

TIERS = ("speedrun85", "speedrun90", "speedrun94", "speedrun94_muon")
# one epoch on the tiny data (200 training images, all used: no validation split)
TINY_SPEEDRUN = [
    "data.batch_size=32", "data.eval_batch_size=20", "trainer.max_epochs=1", "trainer.max_steps=-1",
    "trainer.enable_progress_bar=false", "logger=none", "precision=32-true",
]


def correlated_images(n: int = 64, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, 16, 16, generator=g)
    x = x + 0.8 * x.roll(1, dims=3) + 0.5 * x.roll(1, dims=2)  # neighbouring pixels correlate
    mix = torch.tensor([[1.0, 0.6, 0.3], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
    return torch.einsum("dc,nchw->ndhw", mix, x)  # and so do the channels


def test_whitening_makes_the_patch_covariance_the_identity_on_its_data():
    images = correlated_images()
    rows = patches(images, 2)
    assert not torch.allclose(rows.T @ rows / len(rows), torch.eye(12), atol=0.3)  # far from white before
    layer = PatchWhitening(3, 2)
    layer.fit(images)
    with torch.no_grad():
        out = layer(images)[:, :12].permute(0, 2, 3, 1).reshape(-1, 12).double()
    covariance = out.T @ out / len(out)
    assert torch.allclose(covariance, torch.eye(12, dtype=torch.double), atol=0.02)
    assert torch.equal(layer.weight[12:], -layer.weight[:12])  # the negatives follow
    assert not layer.weight.requires_grad and bool(layer.fitted)


def test_whitening_callback_fits_on_the_datamodule_training_images_and_freezes_the_bias(tmp_path, tiny_data):
    cfg = compose_run(tmp_path, "experiment=speedrun85", *TINY_SPEEDRUN, "trainer.max_epochs=3",
                      "callbacks.whitening.bias_epochs=1", "callbacks.whitening.images=100",
                      data_dir=tiny_data)  # no lookahead in speedrun85 (it would move all weights)
    resolve_precision(cfg)
    datamodule = build(cfg.data, "data")
    module = build_module(cfg)
    seen = []

    class Watch(L.Callback):
        def on_train_epoch_end(self, trainer, pl_module):
            seen.append(pl_module.net.whiten.bias.detach().clone())

    from cifar.training.factory import build_trainer

    trainer = build_trainer(cfg)
    trainer.callbacks.append(Watch())
    trainer.fit(module, datamodule=datamodule)
    from cifar.data.tensor_pipeline import normalize

    expected = PatchWhitening(3, 2)
    expected.fit(normalize(torch.as_tensor(datamodule.train_set.images[:100]).permute(0, 3, 1, 2)))
    assert torch.allclose(module.net.whiten.weight, expected.weight, atol=1e-6)
    assert not torch.equal(seen[0], torch.zeros(24))  # trained in epoch 0
    assert torch.equal(seen[1], seen[0]) and torch.equal(seen[2], seen[0])  # frozen after


def test_alternating_flip_is_exact_every_epoch_with_translation():
    images = np.random.default_rng(0).integers(0, 256, (50, 32, 32, 3), dtype=np.uint8)
    batches = TensorBatches(images, np.zeros(50), 50, augment=TENSOR_RECIPES["translate_altflip"], shuffle=True)
    flips = []
    for epoch in range(4):
        batches.set_epoch(epoch)
        flips.append(batches._flips(50, torch.Generator().manual_seed(epoch)))
    for e in range(3):
        assert torch.equal(flips[e + 1], ~flips[e])
    assert 0 < int(flips[0].sum()) < 50  # the first epoch's flips are random


def test_reflect_translation_keeps_image_content_at_the_border():
    ramp = np.tile((np.arange(32, dtype=np.uint8) * 8)[None, None, :, None], (64, 32, 1, 3))
    batches = TensorBatches(ramp, np.zeros(64), 64, augment=TENSOR_RECIPES["translate_altflip"])
    reference = TensorBatches(ramp, np.zeros(64), 64).images
    out, _ = next(iter(batches))
    # every output column is some column of the original image: reflection adds no black
    columns = {round(v, 4) for v in reference[0, 0, 0].tolist()}
    assert {round(v, 4) for v in out[:, 0, 0].flatten().tolist()} <= columns


def test_tta_returns_the_average_over_its_views():
    x = torch.randn(4, 3, 32, 32)

    def pixels(images):  # "logits" = the pixels, so every view shows in the output
        return images.flatten(1)

    assert torch.equal(tta_logits(pixels, x, "none"), x.flatten(1))
    assert torch.allclose(tta_logits(pixels, x, "flip"), 0.5 * (x + x.flip(-1)).flatten(1))
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")
    views = [x, x.flip(-1)]
    shifted = [padded[..., :32, :32], padded[..., 2:34, 2:34]]
    views += [v for s in shifted for v in (s, s.flip(-1))]
    weights = [0.25, 0.25, 0.125, 0.125, 0.125, 0.125]
    expected = sum(w * v.flatten(1) for w, v in zip(weights, views))
    assert torch.allclose(tta_logits(pixels, x, "flip_translate"), expected, atol=1e-6)
    with pytest.raises(ConfigError, match="tta='rotate'"):
        tta_logits(pixels, x, "rotate")


def test_parameter_groups_get_the_learning_rates_the_config_says(tmp_path):
    cfg = compose_run(tmp_path, "experiment=speedrun94")
    net = instantiate(cfg.model)
    lr, wd = cfg.optimizer.lr, cfg.optimizer.weight_decay
    groups = build_param_groups(net, OmegaConf.to_container(cfg.param_groups), lr, wd)
    norm, default = groups
    assert norm["name"] == "norm_biases" and norm["lr"] == pytest.approx(64 * lr)
    assert norm["weight_decay"] == pytest.approx(wd / 64)
    bn_biases = [m.bias for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert {id(p) for p in norm["params"]} == {id(p) for p in bn_biases}
    assert "lr" not in default  # the optimizer's own
    trainable = {id(p) for p in net.parameters() if p.requires_grad}
    assert {id(p) for g in groups for p in g["params"]} == trainable  # frozen ones left out, none twice
    assert id(net.whiten.weight) not in trainable

    optimizer = build(cfg.optimizer, "optimizer")(params=groups)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([64 * lr, lr])
    assert [g["weight_decay"] for g in optimizer.param_groups] == pytest.approx([wd / 64, wd])


def test_parameter_group_mistakes_are_named():
    net = SpeedNet()
    with pytest.raises(ConfigError, match=r"param_groups\[0\].module_types.*torch.nn.NoSuchNorm"):
        build_param_groups(net, [{"module_types": ["torch.nn.NoSuchNorm"]}], 0.1, 0.0)
    with pytest.raises(ConfigError, match=r"param_groups\[0\]: unknown key.*lr_scal\b"):
        build_param_groups(net, [{"param_names": ["bias"], "lr_scal": 2}], 0.1, 0.0)


def test_parameter_group_options_reach_the_optimizer_and_unknown_ones_are_refused(tmp_path):
    cfg = compose_run(tmp_path, "experiment=speedrun94_muon")
    net = instantiate(cfg.model)
    optimizer = build_optimizer(net, build(cfg.optimizer, "optimizer"), OmegaConf.to_container(cfg.param_groups))
    filters, head, default = optimizer.param_groups
    convs = [m.weight for m in net.modules() if isinstance(m, torch.nn.Conv2d) and m.weight.requires_grad]
    assert {id(p) for p in filters["params"]} == {id(p) for p in convs} and len(convs) == 6
    assert filters["orthogonalize"] and filters["lr"] == 0.12 and filters["momentum"] == 0.7
    assert head["params"] == [net.head.weight] and head["lr"] == 0.67 and not head["orthogonalize"]
    assert default["lr"] == 0.053 and default["momentum"] == 0.85 and not default["orthogonalize"]
    assert id(net.whiten.bias) in {id(p) for p in default["params"]}

    spec = [{"param_names": ["weight"], "options": {"orthogonalise": True}}]
    with pytest.raises(ConfigError, match=r"param_groups\[0\].options: Muon has no setting orthogonalise"):
        build_optimizer(net, build(cfg.optimizer, "optimizer"), spec + OmegaConf.to_container(cfg.param_groups))
    with pytest.raises(ConfigError, match=r"param_groups\[0\]: give lr_scale or options.lr"):
        build_param_groups(net, [{"param_names": ["bias"], "lr_scale": 2, "options": {"lr": 0.1}}], 0.1, 0.0)


@pytest.mark.parametrize("shape", [(64, 216), (256, 64), (24, 96)])
def test_orthogonalize_brings_every_singular_value_near_one(shape):
    g = torch.Generator().manual_seed(0)
    matrix = torch.randn(*shape, generator=g) @ torch.diag(torch.logspace(-1, 1, shape[1]))  # condition number 10-120
    out = orthogonalize(matrix, steps=5)
    singular = torch.linalg.svdvals(out)
    assert out.shape == matrix.shape and out.dtype == matrix.dtype
    assert singular.max() < 1.3 and singular.min() > 0.6
    u, _, vh = torch.linalg.svd(matrix, full_matrices=False)
    assert torch.nn.functional.cosine_similarity((u @ vh).flatten(), out.flatten(), dim=0) > 0.95


def test_muon_orthogonalizes_its_groups_and_matches_sgd_on_the_others():
    torch.manual_seed(0)
    conv, bias = torch.nn.Parameter(torch.randn(8, 4, 3, 3)), torch.nn.Parameter(torch.randn(8))
    twin = torch.nn.Parameter(bias.detach().clone())
    muon = Muon([{"params": [conv], "orthogonalize": True, "lr": 0.1}, {"params": [bias]}], lr=0.05, momentum=0.85,
                nesterov=True, weight_decay=0.01)
    sgd = torch.optim.SGD([twin], lr=0.05, momentum=0.85, nesterov=True, weight_decay=0.01)
    for step in range(3):
        grads = torch.randn(8, 4, 3, 3), torch.randn(8)
        start = conv.detach().clone()
        conv.grad, bias.grad, twin.grad = grads[0], grads[1].clone(), grads[1].clone()
        muon.step()
        sgd.step()
        assert torch.allclose(bias, twin, atol=1e-6)  # the SGD group is torch's SGD, step for step
        if step == 0:  # first step: momentum buffer = gradient, Nesterov direction = (1 + 0.85) x gradient
            normalized = start * (8**0.5 / start.norm())
            expected = normalized - 0.1 * orthogonalize(1.85 * grads[0].reshape(8, -1)).view(8, 4, 3, 3)
            assert torch.allclose(conv, expected, atol=1e-5)
        singular = torch.linalg.svdvals((conv.detach() - start * (8**0.5 / start.norm())).reshape(8, -1) / -0.1)
        assert singular.min() > 0.3 and singular.max() < 1.6  # an orthogonalized step, whatever the gradient scale


def test_muon_mistakes_are_named():
    layer = torch.nn.Linear(4, 3)
    with pytest.raises(ConfigError, match="no parameter group is orthogonalized"):
        Muon(layer.parameters(), lr=0.1)
    with pytest.raises(ConfigError, match=r"group 'norms'.*at least 2 dimensions.*\(3,\)"):
        Muon([{"params": [layer.bias], "name": "norms", "orthogonalize": True}], lr=0.1)


def test_warmup_then_linear_decay():
    f = WarmupLinearDecay(total_steps=100, warmup=0.2, start=0.2, end=0.1)
    assert f(0) == pytest.approx(0.2)
    assert f(10) == pytest.approx(0.6)
    assert f(20) == pytest.approx(1.0)
    assert f(60) == pytest.approx(0.55)
    assert f(100) == pytest.approx(0.1)


def test_lookahead_pulls_the_weights_to_their_average_and_keeps_it_at_the_end():
    look = Lookahead(every_n_steps=5, base_decay=0.5, power=1.0)
    assert look.decay(0, 100) == 0.0 and look.decay(50, 100) == pytest.approx(0.25)
    module = L.LightningModule()
    module.net = torch.nn.Linear(2, 1, bias=False)
    torch.nn.init.zeros_(module.net.weight)

    class Trainer:
        global_step, estimated_stepping_batches = 50, 100

    look.on_train_start(Trainer, module)

    module.net.weight.data.fill_(4.0)
    look.on_train_batch_end(Trainer, module, None, None, 0)  # decay 0.25: 0.25 * 0 + 0.75 * 4
    assert torch.allclose(module.net.weight, torch.full((1, 2), 3.0))
    module.net.weight.data.fill_(7.0)
    Trainer.global_step = 100  # the last step: the weights become the average, unchanged
    look.on_train_batch_end(Trainer, module, None, None, 0)
    assert torch.allclose(module.net.weight, torch.full((1, 2), 3.0))


@pytest.mark.parametrize("tier", TIERS)
def test_experiment_composes_for_cpu_and_gpu(tmp_path, tier):
    for accelerator, precision in (("cpu", "auto"), ("gpu", "auto")):
        cfg = compose_run(tmp_path, f"experiment={tier}", f"accelerator={accelerator}")
        assert cfg.precision == precision and cfg.model._target_ == "cifar.models.speednet.SpeedNet"
        assert cfg.data.val_size == 0 and cfg.data.pipeline == "tensor" and cfg.tta == "flip_translate"
    cfg = compose_run(tmp_path, f"experiment={tier}", "accelerator=cpu")
    resolve_precision(cfg)
    from cifar.training.devices import cpu_bf16_flags

    assert cfg.precision == ("bf16-mixed" if cpu_bf16_flags() else "32-true")


@pytest.mark.parametrize("tier", ["speedrun85", "speedrun94"])  # Muon and SGD
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


def test_bench_speedrun_reports_accuracy_time_and_ratio(tmp_path, tiny_data):
    out = tmp_path / "speedrun.json"
    result = run_cli("bench", "speedrun", "experiment=speedrun85", "seeds=2", *TINY_SPEEDRUN, "--warmup-steps", "1",
                     "--json", str(out), f"paths.data_dir={tiny_data}")  # overrides may follow options
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    report = json.loads(out.read_text())
    assert lines[-1] == f"acc={report['acc_mean']:.4f} time_s={report['time_median_s']:.1f}"
    assert any(line.startswith("ratio=") for line in lines) and report["ratio"] > 0
    assert [r["path"] for r in report["runs"]] == ["lightning", "lightning", "plain"]
    assert report["n"] == 2 and "amx_bf16" in report and report["precision"] == "32-true"
    # both paths train on the same number of images, and the harness reports the rate
    assert len({r["train_images"] for r in report["runs"]}) == 1 and report["runs"][0]["train_images"] % 32 == 0
    for r in report["runs"]:
        assert r["images_per_s"] == pytest.approx(r["train_images"] / r["seconds"], rel=0.02)
    assert "training images/s" in result.stdout


def test_trained_images_counts_partial_last_batches():
    assert speedrun_bench.trained_images(336, 50_000, 1024, drop_last=True) == 336 * 1024
    # 100 images in batches of 32: 32, 32, 32, 4 per epoch when the last batch is kept
    assert speedrun_bench.trained_images(5, 100, 32, drop_last=False) == 100 + 32
    assert speedrun_bench.trained_images(8, 100, 32, drop_last=False) == 200
    assert speedrun_bench.trained_images(3, 100, 32, drop_last=True) == 96
