"""The callbacks that change training: the whitening fit and lookahead."""

from __future__ import annotations

import lightning as L
import pytest
import torch

from cifar.training.callbacks.lookahead import Lookahead
from cifar.training.factory import build, build_module
from cifar.training.precision import resolve_precision
from cifar.models.whitening import PatchWhitening
from helpers import TINY_SPEEDRUN, compose_run


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
