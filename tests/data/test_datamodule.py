"""Splits, formats, augmentation and normalization of CIFAR10DataModule."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from cifar.data.augment import RECIPES, build_augmentation
from cifar.data.constants import MEAN, STD
from cifar.data.datamodule import CIFAR10DataModule
from cifar.data.dataset import ImageArrayDataset
from cifar.errors import ConfigError
from helpers import tiny_datamodule


def image_ids(dataset: ImageArrayDataset) -> set[int]:
    # tests/helpers.py writes each image's index into its first red pixels
    return {int(img[0, 0, 0]) + 256 * int(img[0, 1, 0]) for img in dataset.images}


def test_split_sizes_are_disjoint_and_the_same_every_run(tiny_data):
    torch.manual_seed(1)
    first = tiny_datamodule(tiny_data)
    torch.manual_seed(2)  # the run's seed does not move the validation split
    second = tiny_datamodule(tiny_data)
    assert (len(first.train_set), len(first.val_set), len(first.test_set)) == (150, 50, 40)
    assert image_ids(first.train_set).isdisjoint(image_ids(first.val_set))
    assert image_ids(first.train_set) | image_ids(first.val_set) == set(range(200))
    assert image_ids(first.val_set) == image_ids(second.val_set)
    assert image_ids(tiny_datamodule(tiny_data, split_seed=1).val_set) != image_ids(first.val_set)


def test_format_auto_uses_what_is_present(tiny_data, tmp_path):
    assert tiny_datamodule(tiny_data).resolved_format() == "python"
    only_binary = tmp_path / "bin_only"
    shutil.copytree(tiny_data / "cifar-10-batches-bin", only_binary / "cifar-10-batches-bin")
    dm = tiny_datamodule(only_binary)
    assert dm.resolved_format() == "binary"
    np.testing.assert_array_equal(dm.val_set.images, tiny_datamodule(tiny_data, format="python").val_set.images)


def test_batches_are_normalized_on_the_device(tiny_data):
    dm = tiny_datamodule(tiny_data, augment="none")
    images, labels = next(iter(dm.train_dataloader()))
    assert images.dtype == torch.uint8 and images.shape == (16, 3, 32, 32)
    normalized, same_labels = dm.on_after_batch_transfer((images, labels), 0)
    assert normalized.dtype == torch.float32 and torch.equal(labels, same_labels)
    for c in range(3):
        expected = (images[:, c].float() / 255 - MEAN[c]) / STD[c]
        torch.testing.assert_close(normalized[:, c], expected)


def test_eval_loaders_are_not_shuffled_or_augmented(tiny_data):
    dm = tiny_datamodule(tiny_data, augment="flip_affine_cutout")
    first = torch.cat([x for x, _ in dm.val_dataloader()])
    second = torch.cat([x for x, _ in dm.val_dataloader()])
    assert torch.equal(first, second)
    assert torch.equal(first.permute(0, 2, 3, 1), torch.from_numpy(dm.val_set.images))


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_augmentation_recipe_keeps_shape_and_dtype(tiny_data, name):
    dm = tiny_datamodule(tiny_data, augment=name)
    images, _ = next(iter(dm.train_dataloader()))
    assert images.dtype == torch.uint8 and images.shape == (16, 3, 32, 32)


def test_augmentation_is_random_but_seeded(tiny_arrays):
    rows, labels = tiny_arrays["data_batch_1"]
    images = np.ascontiguousarray(rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    plain = ImageArrayDataset(images, labels)

    def draw(seed, epoch=0):
        dataset = ImageArrayDataset(images, labels, build_augmentation("crop_flip"), seed=seed)
        dataset.set_epoch(epoch)
        return torch.stack([dataset[i][0] for i in range(len(dataset))])

    a, b, c = draw(7), draw(7), draw(8)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert not torch.equal(a, draw(7, epoch=1))  # each epoch draws anew
    assert torch.equal(draw(7, epoch=1), draw(7, epoch=1))
    untouched = torch.stack([plain[i][0] for i in range(len(plain))])
    changed = (a != untouched).flatten(1).any(1).float().mean()
    assert changed > 0.5  # crop offsets and flips move most images


def test_crop_flip_pads_with_zeros_and_shifts_at_most_4_pixels():
    transform = build_augmentation("crop_flip")
    transform.set_random_seed(0)
    image = np.full((32, 32, 3), 200, dtype=np.uint8)
    for _ in range(20):
        out = transform(image=image)["image"]
        assert out.shape == (32, 32, 3)
        assert out[4:28, 4:28].min() == 200  # the centre always stays image
        assert set(np.unique(out)) <= {0, 200}


def test_unknown_options_name_the_option_and_the_choices(tiny_data):
    with pytest.raises(ConfigError, match=r"data\.augment='mixup' is unknown: expected one of none, crop_flip"):
        CIFAR10DataModule(data_dir=str(tiny_data), augment="mixup")
    with pytest.raises(ConfigError, match=r"data\.format='hdf5' is unknown"):
        CIFAR10DataModule(data_dir=str(tiny_data), format="hdf5")
    with pytest.raises(ConfigError, match=r"data\.batch_size=0 is out of range: expected an integer >= 1"):
        CIFAR10DataModule(data_dir=str(tiny_data), batch_size=0)
    with pytest.raises(ConfigError, match=r"data\.val_size=200 must be smaller than the 200 training images"):
        tiny_datamodule(tiny_data, val_size=200)


def test_each_worker_draws_its_own_augmentations_and_a_seed_repeats_them():
    ramp = (np.arange(32, dtype=np.uint8) * 8)[None, None, :, None]
    images = np.ascontiguousarray(np.broadcast_to(ramp, (8, 32, 32, 3)))  # 8 identical images
    dataset = ImageArrayDataset(images, np.zeros(8, dtype=np.int64), build_augmentation("crop_flip"))

    def batches(seed):
        torch.manual_seed(seed)  # the global state does not matter
        loader = torch.utils.data.DataLoader(dataset, batch_size=4, num_workers=2)
        return [x for x, _ in loader]  # batch 0 from worker 0, batch 1 from worker 1

    first, second = batches(0)
    assert not torch.equal(first, second)  # workers do not share one random stream
    again = batches(1)
    assert torch.equal(first, again[0]) and torch.equal(second, again[1])


def test_training_order_depends_on_seed_and_epoch_only(tiny_data):
    dm = tiny_datamodule(tiny_data, seed=3, augment="none")

    def order(epoch):
        loader = dm.train_dataloader()
        loader.sampler.set_epoch(epoch)
        torch.manual_seed(epoch * 11)  # whatever happened before does not matter
        return torch.cat([y for _, y in loader]).tolist(), sorted(image_ids_of(loader))

    first, ids = order(0)
    assert order(0)[0] == first and order(1)[0] != first
    assert ids == sorted(image_ids(dm.train_set))  # every training image once per epoch


def image_ids_of(loader) -> list[int]:
    return [int(x[0, 0, 0]) + 256 * int(x[0, 1, 0]) for batch, _ in loader for x in batch.permute(0, 2, 3, 1)]
