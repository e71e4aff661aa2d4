"""Optimizer parameter groups: their learning rates, options and mistakes."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from cifar.errors import ConfigError
from cifar.training.factory import build
from cifar.models.speednet import SpeedNet
from cifar.training.param_groups import build_optimizer, build_param_groups
from helpers import compose_run


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
