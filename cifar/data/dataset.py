"""A map-style dataset over uint8 images in memory, with optional albumentations augmentation."""

from __future__ import annotations

import albumentations as A
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler, get_worker_info

from cifar.seeding import augmentation_seed, shuffle_seed


class ImageArrayDataset(Dataset):
    """Yields ``(uint8 CHW tensor, label)`` from uint8 ``[N, 32, 32, 3]`` images.

    albumentations pipelines keep their own random generator, which global seeding does not
    reach and which every DataLoader worker would otherwise copy unchanged. The pipeline is
    therefore re-seeded from (``seed``, epoch, worker id) whenever the epoch or the worker
    changes, so workers draw different augmentations, a run with the same seed draws the same
    ones, and epoch N's draws do not depend on what came before (a resumed run matches an
    uninterrupted one). ``set_epoch`` is called by :class:`EpochShuffleSampler`; persistent
    workers keep their copy, so they just continue their stream.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform: A.Compose | None = None, seed: int = 0):
        if images.ndim != 4 or images.shape[1:] != (32, 32, 3) or images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 [N, 32, 32, 3], got {images.dtype} {list(images.shape)}")
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images = images
        self.labels = torch.as_tensor(labels, dtype=torch.long)
        self.transform = transform
        self.seed = int(seed)
        self.epoch = 0
        self._seeded_for: tuple[int, int] | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.images[index]
        if self.transform is not None:
            self._seed_transform()
            image = self.transform(image=image)["image"]
        return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))), self.labels[index]

    def _seed_transform(self) -> None:
        worker = get_worker_info()
        key = (self.epoch, worker.id if worker is not None else None)
        if key != self._seeded_for:
            self.transform.set_random_seed(augmentation_seed(self.seed, *key))
            self._seeded_for = key


class EpochShuffleSampler(Sampler[int]):
    """A shuffle whose order for epoch N is a function of (seed, N) alone.

    Lightning calls ``set_epoch`` before every training epoch (also when resuming, before the
    data are read); it is passed on to the dataset for its augmentation. Unlike the default
    shuffle, which draws from the global random state, this gives a run resumed from a
    checkpoint the same data as an uninterrupted run.
    """

    def __init__(self, dataset: Dataset, seed: int):
        self.dataset = dataset
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.dataset)

    def __iter__(self):
        generator = torch.Generator().manual_seed(shuffle_seed(self.seed, self.epoch))
        return iter(torch.randperm(len(self.dataset), generator=generator).tolist())
