"""The reference networks: parameter counts, output shapes, receptive field, Lightning-free imports."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from cifar.models.netv2 import NetV2
from cifar.models.receptive_field import receptive_field
from helpers import CONF

# trainable parameters as the write-ups give them (compactnet: Keras's 118,258 minus 280 BN statistics)
PARAMETERS = {
    "deepcnn": 2_168_746,
    "basiccnn": 6_447_754,
    "smallnet": 288_746,
    "resnet18": 11_173_962,
    "netv2": 181_942,
    "compactnet": 117_978,
    "speednet": 1_971_352,  # airbench94's ~1.97 M (its frozen whitening filters and BN scales not counted)
}


def build(name: str) -> torch.nn.Module:
    return instantiate(OmegaConf.load(CONF / "model" / f"{name}.yaml"))


def test_every_model_config_is_pinned():
    assert sorted(p.stem for p in (CONF / "model").glob("*.yaml")) == sorted(PARAMETERS)


@pytest.mark.parametrize("name", sorted(PARAMETERS))
def test_parameter_count_and_output_shape(name):
    torch.manual_seed(0)
    net = build(name)
    assert sum(p.numel() for p in net.parameters() if p.requires_grad) == PARAMETERS[name]
    net.eval()
    assert net(torch.randn(3, 3, 32, 32)).shape == (3, 10)
    net.train()
    out = net(torch.randn(4, 3, 32, 32))
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)


def test_deepcnn_outputs_log_probabilities():
    net = build("deepcnn").eval()
    torch.testing.assert_close(net(torch.randn(5, 3, 32, 32)).exp().sum(1), torch.ones(5))


def test_netv2_receptive_field_is_81_not_the_claimed_49():
    assert receptive_field(NetV2()) == 81
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in NetV2().modules())
    assert all(m.bias is None for m in NetV2().modules() if isinstance(m, torch.nn.Conv2d))


def test_receptive_field_formula_on_known_stacks():
    conv = lambda k, s=1, d=1: torch.nn.Conv2d(1, 1, k, stride=s, dilation=d)  # noqa: E731
    assert receptive_field(torch.nn.Sequential(conv(3), conv(3))) == 5
    assert receptive_field(torch.nn.Sequential(conv(3, s=2), conv(3))) == 7
    assert receptive_field(torch.nn.Sequential(conv(3, d=2))) == 5
    assert receptive_field(torch.nn.Sequential(conv(3), torch.nn.MaxPool2d(2), conv(3))) == 8


def test_networks_import_without_lightning_or_hydra():
    code = (
        "import sys\n"
        "import cifar.models.deepcnn, cifar.models.basiccnn, cifar.models.smallnet, cifar.models.netv2, "
        "cifar.models.compactnet, cifar.models.resnet18, cifar.models.receptive_field\n"
        "bad = [m for m in ('lightning', 'hydra', 'omegaconf', 'albumentations') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_speednet_activation_is_that_of_its_conv_groups():
    from cifar.models.speednet import SpeedNet

    net = SpeedNet(activation="silu")
    acts = [type(m) for m in net.features.modules() if isinstance(m, (torch.nn.GELU, torch.nn.SiLU))]
    assert acts == [torch.nn.GELU] + [torch.nn.SiLU] * 6  # GELU after the whitening, SiLU in the 3 groups
    with pytest.raises(ValueError, match="SpeedNet: activation must be one of gelu, silu, got 'relu'"):
        SpeedNet(activation="relu")


def test_train_step_flops_count_the_forward_and_the_weight_gradient_and_leave_the_network_alone():
    from cifar.models.flops import train_step_flops

    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    forward = 2 * 8 * 3 * 32 * 32 * 10  # 2 FLOPs per multiply-add
    # backward: the weight's gradient only (the input needs none): one more product of the forward's size
    assert train_step_flops(net, 8) == 2 * forward
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items()) and net[1].weight.grad is None

