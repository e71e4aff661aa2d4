"""What a run gives TensorBoard, piece by piece: the curated hyperparameters, run names, learning-rate
names, the learning-rate axis, and the hparams records themselves."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf
from tensorboard.plugins.hparams import metadata

from helpers import compose_run

from cifar.reporting.callbacks.training_curves import lr_scale
from cifar.cli import run_name
from cifar.reporting.hparams import NONE, curated_hparams
from cifar.reporting.tensorboard import session_start_summary
from cifar.training.factory import build_module
from cifar.training.param_groups import build_optimizer, learning_rates

EXPERIMENTS = ["deepcnn", "basiccnn", "smallnet", "netv2", "compactnet", "resnet18", "speedrun85", "speedrun94_muon"]


def hparams_for(tmp_path, *overrides):
    cfg = compose_run(tmp_path, *overrides)
    return cfg, curated_hparams(OmegaConf.to_container(cfg, resolve=True))


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_recipe_logs_the_same_keys_with_plain_types(tmp_path, experiment):
    _, default = hparams_for(tmp_path)
    _, hparams = hparams_for(tmp_path, f"experiment={experiment}")
    assert list(hparams) == list(default)  # one column set: no run loses a column in TensorBoard
    for name, value in hparams.items():
        assert type(value) in (str, float), (name, value)  # numbers for rates, text for counts and choices
    assert hparams["data.batch_size"].isdigit() and hparams["seed"].isdigit()
    assert hparams["optimizer.lr"] > 0


def test_param_group_rates_are_those_the_optimizer_trains_with(tmp_path):
    cfg, hparams = hparams_for(tmp_path, "experiment=speedrun94_muon")
    optimizer = build_optimizer(build_module(cfg).net, build_module(cfg).optimizer_factory, cfg.param_groups)
    shown = dict(part.split(" ", 1) for part in hparams["param_groups"].split(" | "))
    assert set(shown) == set(learning_rates(optimizer))
    for name, lr in learning_rates(optimizer).items():
        assert shown[name].startswith(f"lr={lr:.5g} ")


def test_a_run_without_groups_or_widths_states_the_default(tmp_path):
    _, hparams = hparams_for(tmp_path, "experiment=netv2")
    assert hparams["param_groups"] == NONE and hparams["model.widths"] == NONE and hparams["trainer.max_steps"] == NONE
    assert hparams["optimizer.momentum"] == 0.9  # Adam's first beta


def test_one_group_is_named_default(tmp_path):
    cfg = compose_run(tmp_path)
    module = build_module(cfg)
    assert learning_rates(build_optimizer(module.net, module.optimizer_factory, [])) == {"default": cfg.optimizer.lr}


@pytest.mark.parametrize(("choices", "overrides", "name"), [
    ({"model": "smallnet"}, [], "smallnet"),
    ({"model": "netv2"}, ["model=netv2", "trainer.max_epochs=50"], "netv2+trainer.max_epochs-50"),
    ({"experiment": "speedrun85", "model": "speednet"}, ["experiment=speedrun85", "tta=flip", "seed=1"],
     "speedrun85+tta-flip+seed-1"),
    ({"model": "deepcnn"}, ["model=deepcnn", "paths.data_dir=/data/x", "ckpt_path=/a/last.ckpt",
                            "trainer.enable_progress_bar=false", "hydra.run.dir=/x"], "deepcnn"),  # not what ran
    ({"model": "smallnet"}, ["param_groups=[{name: a}]", "~callbacks.early_stopping", "+x.y=1"],
     "smallnet+param_groups-__name__a__+no-callbacks.early_stopping+x.y-1"),
])
def test_run_names_say_what_ran(choices, overrides, name):
    assert run_name(choices, overrides) == name


def test_a_run_folder_can_be_resumed_with_an_unquoted_override(tmp_path):
    """The name holds only characters Hydra takes unquoted: ``ckpt_path=<run>/checkpoints/last.ckpt`` as copied."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    name = run_name({"model": "smallnet"}, ["optimizer.lr=0.001,0.002".split(",")[0], "data.augment=none",
                                            "param_groups=[{name: a, lr_scale: 2}]", "tta=flip"])
    path = f"outputs/2026-12-01/10-00-00-{name}/checkpoints/last.ckpt"
    assert OverridesParser.create().parse_override(f"ckpt_path={path}").value() == path


def test_a_long_run_name_keeps_its_start_and_end():
    name = run_name({"model": "smallnet"}, [f"data.option_{i}={i}" for i in range(40)] + ["optimizer.lr=0.5"])
    assert len(name) <= 160 and name.startswith("smallnet+data.option_0-0+") and name.endswith("+optimizer.lr-0.5")
    assert ".." in name


@pytest.mark.parametrize(("rates", "scale"), [
    ([0.003, 0.003, 0.003], "linear"),              # constant
    ([0.1, 0.08, 0.06, 0.04, 0.0], "linear"),       # linear decay to 0
    ([1.2e-4, 3e-3, 1.5e-3, 3e-7], "log"),          # one-cycle: four orders of magnitude
    ([1e-3, 5e-4, 2.5e-4], "linear"),               # a few halvings
])
def test_the_lr_axis_is_linear_unless_the_rates_span_orders_of_magnitude(rates, scale):
    assert lr_scale(rates) == scale


def test_booleans_stay_booleans_in_the_hparams_record():
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

    summary = session_start_summary({"flag": True, "lr": 0.1, "batch": "128"})
    assert summary.value[0].tag == metadata.SESSION_START_INFO_TAG
    data = HParamsPluginData.FromString(summary.value[0].metadata.plugin_data.content)
    values = data.session_start_info.hparams
    assert values["flag"].WhichOneof("kind") == "bool_value" and values["flag"].bool_value is True
    assert values["lr"].number_value == 0.1 and values["batch"].string_value == "128"


def test_figure_titles_name_the_epoch_as_the_checkpoints_do():
    """During fit a validation is of the current epoch (0 = the first, as in ``epoch000-...ckpt``); a test
    or a later validation is of the weights it loaded, whose epoch the module keeps."""
    from types import SimpleNamespace

    from cifar.reporting.callbacks.confusion_matrix import ConfusionMatrixCallback

    words = ConfusionMatrixCallback._epoch_words
    fitting = SimpleNamespace(state=SimpleNamespace(fn="fit"), current_epoch=3)
    testing = SimpleNamespace(state=SimpleNamespace(fn="test"), current_epoch=10)
    assert words("val", fitting, SimpleNamespace(weights_epoch=2)) == "epoch 3"
    assert words("test", testing, SimpleNamespace(weights_epoch=7)) == "weights of epoch 7"
    assert words("val", SimpleNamespace(state=SimpleNamespace(fn="validate"), current_epoch=10),
                 SimpleNamespace(weights_epoch=7)) == "weights of epoch 7"
