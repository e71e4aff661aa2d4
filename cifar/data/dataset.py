"""A map-style dataset over uint8 images in memory, with optional albumentations augmentation."""

from __future__ import annotations

import albumentations as A
import numpy as np
import torch
from torch.utils.data import Dataset


class ImageArrayDataset(Dataset):
    """Yields ``(uint8 CHW tensor, label)`` from uint8 ``[N, 32, 32, 3]`` images.

    albumentations pipelines keep their own random generator, which global seeding does not
    reach and which every DataLoader worker would otherwise copy unchanged. The pipeline is
    therefore re-seeded from ``torch.initial_seed()`` whenever that changes: in the main process
    it is the run's seed, in each worker the per-worker seed torch derives from it, so every
    worker draws different augmentations and a run with the same seed draws the same ones.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform: A.Compose | None = None):
        if images.ndim != 4 or images.shape[1:] != (32, 32, 3) or images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 [N, 32, 32, 3], got {images.dtype} {list(images.shape)}")
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images = images
        self.labels = torch.as_tensor(labels, dtype=torch.long)
        self.transform = transform
        self._seeded_with: int | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.images[index]
        if self.transform is not None:
            self._seed_transform()
            image = self.transform(image=image)["image"]
        return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))), self.labels[index]

    def _seed_transform(self) -> None:
        seed = torch.initial_seed()
        if seed != self._seeded_with:
            self.transform.set_random_seed(seed % 2**32)
            self._seeded_with = seed
