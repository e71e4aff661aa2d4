"""data.pipeline=tensor: device-resident batches, same splits and normalization, batch augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cifar.data.datamodule import CIFAR10DataModule
from cifar.data.tensor_pipeline import TENSOR_RECIPES, BatchAugment, TensorBatches
from cifar.errors import ConfigError
from cifar.train import train
from helpers import TINY_RUN, compose_run, tiny_datamodule


def test_same_splits_and_normalization_as_the_albumentations_pipeline(tiny_data):
    tensor, classic = tiny_datamodule(tiny_data, pipeline="tensor"), tiny_datamodule(tiny_data, pipeline="albumentations")
    for a, b in zip(tensor.val_dataloader(), classic.val_dataloader()):
        images, labels = classic.on_after_batch_transfer(b, 0)
        same_images, same_labels = tensor.on_after_batch_transfer(a, 0)
        torch.testing.assert_close(same_images, images)
        assert torch.equal(same_labels, labels)
    assert len(tensor.train_dataloader()) == len(classic.train_dataloader())


def test_order_depends_on_seed_and_epoch_and_covers_every_image(tiny_arrays):
    rows, labels = tiny_arrays["data_batch_1"]
    images = np.ascontiguousarray(rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    batches = TensorBatches(images, np.arange(len(images)), batch_size=7, shuffle=True, seed=5)

    def order(epoch):
        batches.set_epoch(epoch)
        return torch.cat([y for _, y in batches]).tolist()

    assert order(0) == order(0) and order(0) != order(1)
    assert sorted(order(1)) == list(range(len(images)))


def constant_images(n=64, value=200):
    return np.full((n, 32, 32, 3), value, dtype=np.uint8)


def test_translation_pads_with_black_and_keeps_the_centre():
    batches = TensorBatches(constant_images(), np.zeros(64), batch_size=64, shuffle=True, augment=BatchAugment(translate=4))
    images, _ = next(iter(batches))
    reference = TensorBatches(constant_images(), np.zeros(64), batch_size=64).images
    image_value, black = reference[0, :, 0, 0], batches.black
    centre = images[:, :, 4:28, 4:28]
    assert torch.allclose(centre, image_value.view(1, 3, 1, 1).expand_as(centre))
    is_black = torch.isclose(images, black.view(1, 3, 1, 1)).all(1)
    assert is_black.any()  # some shift happened
    assert (is_black | torch.isclose(images, image_value.view(1, 3, 1, 1)).all(1)).all()


def test_alternating_flip_flips_each_image_the_other_way_every_epoch():
    ramp = np.tile((np.arange(32, dtype=np.uint8) * 8)[None, None, :, None], (16, 32, 1, 3))
    batches = TensorBatches(ramp, np.arange(16), batch_size=16, augment=BatchAugment(flip="alternate"))
    first = next(iter(batches))[0]
    batches.set_epoch(1)
    second = next(iter(batches))[0]
    flipped_first = first[:, 0, 0, 0] > first[:, 0, 0, -1]
    flipped_second = second[:, 0, 0, 0] > second[:, 0, 0, -1]
    assert torch.equal(flipped_first, ~flipped_second)
    assert flipped_first.any() and (~flipped_first).any()


def test_cutout_zeroes_one_square_per_image():
    batches = TensorBatches(constant_images(), np.zeros(64), batch_size=64, augment=BatchAugment(cutout=8))
    images, _ = next(iter(batches))
    zeros = (images == 0).all(1).flatten(1).sum(1)
    assert zeros.max() == 64 and zeros.min() > 0  # 8x8, less where it leaves the image


def test_unknown_combination_is_named(tiny_data):
    with pytest.raises(ConfigError, match=r"data\.augment='flip_affine_cutout' is not available with data\.pipeline=tensor"):
        CIFAR10DataModule(data_dir=str(tiny_data), pipeline="tensor", augment="flip_affine_cutout")
    with pytest.raises(ConfigError, match=r"data\.pipeline='dali' is unknown"):
        CIFAR10DataModule(data_dir=str(tiny_data), pipeline="dali")


def test_trains_end_to_end_with_the_tensor_pipeline(tmp_path, tiny_data):
    metrics = train(compose_run(tmp_path, *TINY_RUN, "logger=none", "data.pipeline=tensor",
                                "data.augment=crop_flip_cutout", data_dir=tiny_data))
    assert metrics["epochs"] == 2 and metrics["test/acc"] > 0.25  # separable tiny data: well above chance


def test_each_split_is_converted_once_per_datamodule(tiny_data):
    # Lightning asks for the training loader twice per fit, and the speedrun bench fits many times
    dm = tiny_datamodule(tiny_data, pipeline="tensor")
    first, second = dm.train_dataloader(), dm.train_dataloader()
    assert first.images is second.images and first.labels is second.labels
    assert dm.test_dataloader().images is dm.test_dataloader().images
    assert dm.test_dataloader().images is not first.images
    assert tiny_datamodule(tiny_data, pipeline="tensor").train_dataloader().images is not first.images
    torch.testing.assert_close(first.images, TensorBatches(dm.train_set.images, np.zeros(len(dm.train_set)), 16).images)


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


def test_jitter_shifts_and_scales_each_image_within_its_ranges_and_repeats_per_seed_and_epoch():
    images = np.random.default_rng(0).integers(0, 256, (64, 32, 32, 3), dtype=np.uint8)
    jitter = BatchAugment(brightness=0.14, contrast=0.13)
    batches = TensorBatches(images, np.arange(64), 64, augment=jitter, seed=3)
    plain = TensorBatches(images, np.arange(64), 64).images
    out, _ = next(iter(batches))
    # each image is a * plain + b: one factor and one shift per image, the same for every pixel
    x, y = plain.flatten(1), out.flatten(1)
    factor = ((y - y.mean(1, keepdim=True)) * (x - x.mean(1, keepdim=True))).sum(1) / ((x - x.mean(1, keepdim=True)) ** 2).sum(1)
    assert torch.allclose(y, factor[:, None] * x + (y - factor[:, None] * x).mean(1, keepdim=True), atol=1e-4)
    shift = (y - factor[:, None] * x).mean(1) / factor  # (x + shift) * factor
    assert factor.min() >= 1 - 0.13 - 1e-5 and factor.max() <= 1 + 0.13 + 1e-5 and factor.std() > 0.03
    assert shift.abs().max() <= 0.14 + 1e-4 and shift.std() > 0.03
    again, _ = next(iter(TensorBatches(images, np.arange(64), 64, augment=jitter, seed=3)))
    assert torch.equal(out, again)
    batches.set_epoch(1)
    assert not torch.allclose(next(iter(batches))[0], out)  # new draws every epoch


def test_the_2025_record_augmentation_is_translate_altflip_with_its_jitter():
    recipe = TENSOR_RECIPES["translate_altflip_jitter"]
    assert (recipe.translate, recipe.flip, recipe.pad) == (2, "alternate", "reflect")
    assert (recipe.brightness, recipe.contrast) == (0.1399, 0.1308)
