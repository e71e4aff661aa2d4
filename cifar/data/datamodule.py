"""CIFAR10DataModule: find (or download) the data, validate it, split it, augment it, batch it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from cifar.data.augment import RECIPES, build_augmentation
from cifar.data.dataset import EpochShuffleSampler, ImageArrayDataset
from cifar.data.download import fetch
from cifar.data.formats import FORMATS, LAYOUT_DIRS, Format, is_present, is_started, layout_problem, read_split
from cifar.data.normalization import mean_std, normalize
from cifar.data.tensor_pipeline import TENSOR_RECIPES, BatchAugment, TensorBatches, tensor_augmentation, to_device
from cifar.errors import ConfigError, DataError, check_choice, check_range, is_int

log = logging.getLogger(__name__)

PIPELINES = ("albumentations", "tensor")


class CIFAR10DataModule(L.LightningDataModule):
    """CIFAR-10 from the official python or binary layout, or from image folders (``data.format``).

    The 50,000 training images are split into train and validation with a fixed generator
    (``split_seed``), so every run sees the same validation set whatever its ``seed``; training
    batches are shuffled by (``seed``, epoch) (see ``EpochShuffleSampler``); the 10,000
    test images are only used for testing. Loaders yield uint8 images; they become float and are
    normalized with the CIFAR-10 mean/std once per batch on the training device.
    """

    def __init__(
        self,
        data_dir: str = "data",
        format: str = "auto",
        download: bool = True,
        url: str | None = None,
        md5: str | None = None,
        val_size: int = 5000,
        split_seed: int = 0,
        augment: str = "crop_flip",
        batch_size: int = 128,
        eval_batch_size: int | None = None,
        num_workers: int = 2,
        pin_memory: bool = False,
        persistent_workers: bool = False,
        seed: int = 0,
        pipeline: str = "albumentations",
        drop_last: bool = False,
    ):
        super().__init__()
        check_choice("data.format", format, ("auto", *FORMATS))
        check_choice("data.pipeline", pipeline, PIPELINES)
        if pipeline == "tensor":
            tensor_augmentation(augment)  # raises for recipes only albumentations has
        else:
            check_choice("data.augment", augment, RECIPES, hint=f" (data.pipeline=tensor has {', '.join(TENSOR_RECIPES)})")
        check_range("data.val_size", val_size, is_int(val_size, 0), "an integer >= 0 (and below the training-set size)")
        check_range("data.batch_size", batch_size, is_int(batch_size, 1), "an integer >= 1")
        check_range("data.eval_batch_size", eval_batch_size, eval_batch_size is None or is_int(eval_batch_size, 1),
                    "null or an integer >= 1")
        check_range("data.num_workers", num_workers, is_int(num_workers, 0), "an integer >= 0")
        self.data_dir = Path(data_dir).expanduser()
        self.format = format
        self.download = download
        self.url = url
        self.md5 = md5
        self.val_size = val_size
        self.split_seed = split_seed
        self.augment = augment
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.persistent_workers = persistent_workers and num_workers > 0
        self.seed = seed
        self.pipeline = pipeline
        self.drop_last = drop_last
        self._format: Format | None = None
        self.train_set: ImageArrayDataset | None = None
        self.val_set: ImageArrayDataset | None = None
        self.test_set: ImageArrayDataset | None = None
        self._norm: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}
        # (id(dataset), device) -> (dataset, images, labels); holding the dataset keeps its id unique
        self._on_device: dict[tuple[int, str], tuple[ImageArrayDataset, torch.Tensor, torch.Tensor]] = {}

    # -- finding the data ---------------------------------------------------------------------

    def resolved_format(self) -> Format:
        """The layout to read: the configured one, or for ``auto`` the first one present (python, binary,
        folder), saying so in one line when a partial copy of another layout is passed over."""
        if self.format != "auto":
            return self.format  # type: ignore[return-value]
        if self._format is not None:
            return self._format
        present = [fmt for fmt in FORMATS if is_present(self.data_dir, fmt)]
        partial = [fmt for fmt in FORMATS if fmt not in present and is_started(self.data_dir, fmt)]
        if not present:
            return partial[0] if partial else "python"  # (prepare_data names what is wrong, or downloads)
        self._format = present[0]
        for fmt in partial:
            log.warning("data.format=auto: %s; reading the %s layout instead", layout_problem(self.data_dir, fmt),
                        self._format)
        return self._format

    def prepare_data(self) -> None:
        fmt = self.resolved_format()
        if is_present(self.data_dir, fmt):
            return
        if is_started(self.data_dir, fmt):  # a partial copy: say which file or folder is wrong
            raise DataError(f"CIFAR-10 incomplete: {layout_problem(self.data_dir, fmt)}; complete or remove it, "
                            "or set data.data_dir to a complete copy")
        if not self.download:
            expected = layout_problem(self.data_dir, fmt) if self.format != "auto" else (
                f"expected {', '.join(d + '/' for d in LAYOUT_DIRS.values())} or train/ and test/ image folders "
                f"in {self.data_dir}")
            raise DataError(f"CIFAR-10 not found: {expected}; set data.data_dir to where it is, or data.download=true")
        fetch(self.data_dir, self.format, url=self.url, md5=self.md5)
        self._format = None  # (auto: what the archive held)

    # -- splits -------------------------------------------------------------------------------

    def setup(self, stage: str | None = None) -> None:
        fmt = self.resolved_format()
        if stage in (None, "fit", "validate") and self.train_set is None:
            full = read_split(self.data_dir, fmt, "train")
            if self.val_size >= len(full):
                raise ConfigError(
                    f"data.val_size={self.val_size} must be smaller than the {len(full)} training images"
                )
            order = torch.randperm(len(full), generator=torch.Generator().manual_seed(self.split_seed)).numpy()
            val_idx, train_idx = order[: self.val_size], order[self.val_size :]
            if self.val_size == 0:  # train on all 50,000 images, in their file order
                train_idx = np.arange(len(full))
            augmentation = build_augmentation(self.augment) if self.pipeline == "albumentations" else None
            self.train_set = ImageArrayDataset(
                full.images[train_idx], full.labels[train_idx], augmentation, seed=self.seed
            )
            self.val_set = ImageArrayDataset(full.images[val_idx], full.labels[val_idx]) if self.val_size else None
            log.info("CIFAR-10 %s layout: %d train, %d val images", fmt, len(self.train_set), self.val_size)
        if stage in (None, "test", "predict") and self.test_set is None:
            test = read_split(self.data_dir, fmt, "test")
            self.test_set = ImageArrayDataset(test.images, test.labels)

    def use_as_test_set(self, images: np.ndarray, labels: np.ndarray) -> None:
        """Test on other uint8 ``[N, 32, 32, 3]`` images from now on (the validation split, corrupted copies
        of the test set): the next test loader yields them, batched and normalized as the test set is."""
        if self.test_set is not None:  # (the tensor pipeline's copy of the previous set is let go)
            self._on_device = {k: v for k, v in self._on_device.items() if v[0] is not self.test_set}
        self.test_set = ImageArrayDataset(images, labels)

    # -- loaders ------------------------------------------------------------------------------

    def _loader(self, dataset: ImageArrayDataset | None, batch_size: int, shuffle: bool) -> DataLoader | TensorBatches:
        if dataset is None:
            raise RuntimeError("call setup() before asking for a dataloader")
        drop_last = self.drop_last and shuffle
        if self.pipeline == "tensor":
            images, labels = self.on_device(dataset, self._device())
            return TensorBatches(
                images, labels, batch_size, device=images.device, shuffle=shuffle,
                augment=tensor_augmentation(self.augment) if shuffle else BatchAugment(), seed=self.seed,
                drop_last=drop_last,
            )
        return DataLoader(
            dataset,
            batch_size=batch_size,
            drop_last=drop_last,
            sampler=EpochShuffleSampler(dataset, self.seed) if shuffle else None,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.persistent_workers,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader | list:
        if self.val_size == 0:
            return []  # no validation split: Lightning skips validation
        return self._loader(self.val_set, self.eval_batch_size, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, self.eval_batch_size, shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self.test_dataloader()

    def on_device(self, dataset: ImageArrayDataset, device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor]:
        """``dataset`` as normalized float images and labels on ``device``, converted once and kept:
        Lightning asks for the training loader twice per fit, and the bench runs many fits."""
        device = torch.device(device)
        key = (id(dataset), str(device))
        if key not in self._on_device:
            self._on_device[key] = (dataset, to_device(dataset.images, device), dataset.labels.to(device))
        return self._on_device[key][1:]

    def _device(self) -> torch.device:
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return torch.device("cpu")
        if trainer.world_size > 1:
            raise ConfigError("data.pipeline=tensor runs on one device; use data.pipeline=albumentations with DDP")
        return trainer.strategy.root_device

    # -- on the device ------------------------------------------------------------------------

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        images, labels = batch
        if images.dtype != torch.uint8:  # the tensor pipeline normalized them already
            return images, labels
        return normalize(images, self._mean_std(images.device)), labels

    def _mean_std(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        if device not in self._norm:
            self._norm[device] = mean_std(device)
        return self._norm[device]
