"""The device-resident pipeline (``data.pipeline=tensor``): whole splits as tensors on the
training device, augmented a batch at a time there.

Each split is converted and normalized once (float32 on the device: GPU memory on a GPU, RAM on
the CPU), shuffled every epoch with a randperm seeded by (seed, epoch), and augmented per batch
with tensor operations: no per-sample Python work and no worker processes. Same splits and
normalization as the albumentations pipeline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from cifar.data.normalization import normalize
from cifar.seeding import flip_start_seed, tensor_batches_seed
from cifar.errors import ConfigError


@dataclass(frozen=True)
class BatchAugment:
    """What happens to every training batch: translate by up to ``translate`` px (a random crop
    from the image padded by ``pad``: ``zeros``, black pixels, or ``reflect``, mirrored edges),
    horizontal flip (``random``: each image with p=0.5; ``alternate``: random in the first
    epoch, then each image the opposite of its previous epoch; ``none``), ``cutout`` (a
    square of that side set to 0, the mean colour after normalization; 0 = off), and a colour
    jitter per image on the normalized pixels: a shift drawn from [-``brightness``, ``brightness``]
    is added, then they are scaled by a factor drawn from [1 - ``contrast``, 1 + ``contrast``]
    (0 = off; the 2025 record's)."""

    translate: int = 0
    flip: str = "none"
    cutout: int = 0
    pad: str = "zeros"
    brightness: float = 0.0
    contrast: float = 0.0


TENSOR_RECIPES: dict[str, BatchAugment] = {
    "none": BatchAugment(),
    "crop_flip": BatchAugment(translate=4, flip="random"),
    "crop_altflip": BatchAugment(translate=2, flip="alternate"),
    "translate_altflip": BatchAugment(translate=2, flip="alternate", pad="reflect"),  # airbench94's
    "crop_flip_cutout": BatchAugment(translate=4, flip="random", cutout=12),
    # the 2025 record's (hiverge/cifar10-speedrun): airbench94's, then brightness and contrast jitter
    "translate_altflip_jitter": BatchAugment(translate=2, flip="alternate", pad="reflect", brightness=0.1399,
                                             contrast=0.1308),
}


def tensor_augmentation(name: str) -> BatchAugment:
    if name not in TENSOR_RECIPES:
        raise ConfigError(
            f"data.augment={name!r} is not available with data.pipeline=tensor: expected one of "
            f"{', '.join(TENSOR_RECIPES)} (or data.pipeline=albumentations for the others)"
        )
    return TENSOR_RECIPES[name]


def to_device(images: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 ``[N, 32, 32, 3]`` images as normalized float32 ``[N, 3, 32, 32]`` on ``device``."""
    return normalize(torch.from_numpy(images).to(device).permute(0, 3, 1, 2)).contiguous()


class TensorBatches:
    """An iterable of ``(normalized float images [B, 3, 32, 32], labels [B])`` on ``device``.

    ``images`` are uint8 ``[N, 32, 32, 3]`` (normalized here) or a tensor that :func:`to_device`
    returned, which is used as it is (the datamodule keeps one per split and device, so that a
    run's loaders, and runs after it, do not convert the split again).

    Lightning calls ``sampler.set_epoch(epoch)`` before each training epoch (``sampler`` is the
    object itself), so epoch N's order and augmentation depend on (seed, N) alone.
    """

    def __init__(
        self,
        images: np.ndarray | torch.Tensor,
        labels: np.ndarray | torch.Tensor,
        batch_size: int,
        device: torch.device | str = "cpu",
        shuffle: bool = False,
        augment: BatchAugment = BatchAugment(),
        seed: int = 0,
        drop_last: bool = False,
    ):
        self.device = torch.device(device)
        self.images = images.to(self.device) if isinstance(images, torch.Tensor) else to_device(images, self.device)
        self.labels = torch.as_tensor(labels, dtype=torch.long, device=self.device)
        self.black = normalize(torch.zeros(1, 3, 1, 1, dtype=torch.uint8, device=self.device)).view(3)  # padding colour
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.augment = augment
        self.seed = int(seed)
        self.drop_last = drop_last
        self.epoch = 0
        self.sampler = self  # where Lightning looks for set_epoch
        self.batch_sampler = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        if self.drop_last:
            return len(self.labels) // self.batch_size
        return math.ceil(len(self.labels) / self.batch_size)

    def __iter__(self):
        n = len(self.labels)
        generator = torch.Generator().manual_seed(tensor_batches_seed(self.seed, self.epoch))
        order = torch.randperm(n, generator=generator) if self.shuffle else torch.arange(n)
        flips = self._flips(n, generator)
        draws = self._draws(n, generator)
        # One host-to-device copy per epoch: a copy from host memory waits for the GPU to finish its
        # queue, so copying per batch would stall every training step.
        order = order.to(self.device)
        flips = flips.to(self.device) if flips is not None else None
        draws = {k: v.to(self.device) for k, v in draws.items()}
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            index = order[start : start + self.batch_size]
            images = self.images[index]
            drawn = {k: v[start : start + len(index)] for k, v in draws.items()}
            if self.augment.translate:
                images = self._translate(images, drawn["dy"], drawn["dx"])
            if flips is not None:
                images = torch.where(flips[index].view(-1, 1, 1, 1), images.flip(3), images)
            if self.augment.cutout:
                images = self._cutout(images, drawn["cy"], drawn["cx"])
            if "brightness" in drawn:
                images = self._jitter(images, drawn["brightness"], drawn["contrast"])
            yield images, self.labels[index]

    def _draws(self, n: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """The epoch's per-image random offsets (translation ``dy``/``dx``, cutout centre ``cy``/``cx``)
        and jitter (``brightness``/``contrast``, uniform in [-1, 1)), drawn batch by batch on the CPU in
        the order the batches use them."""
        _, h, w = self.images.shape[1:]
        p, names = self.augment.translate, []
        if p:
            names += [("dy", 2 * p + 1), ("dx", 2 * p + 1)]
        if self.augment.cutout:
            names += [("cy", h), ("cx", w)]
        if self.augment.brightness or self.augment.contrast:
            names += [("brightness", None), ("contrast", None)]
        draws: dict[str, list[torch.Tensor]] = {name: [] for name, _ in names}
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            b = min(self.batch_size, n - start)
            for name, high in names:
                draws[name].append(torch.rand(b, generator=generator) * 2 - 1 if high is None
                                   else torch.randint(0, high, (b,), generator=generator))
        return {name: torch.cat(parts) for name, parts in draws.items()}

    def _flips(self, n: int, generator: torch.Generator) -> torch.Tensor | None:
        if self.augment.flip == "random":
            return torch.rand(n, generator=generator) < 0.5
        if self.augment.flip == "alternate":  # a fixed random start per image, then alternate
            start = torch.rand(n, generator=torch.Generator().manual_seed(flip_start_seed(self.seed))) < 0.5
            return start ^ bool(self.epoch % 2)
        return None

    def _translate(self, images: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
        """Each image shifted by (``dy``, ``dx``) - ``translate`` px: a crop of the padded image."""
        b, c, h, w = images.shape
        p = self.augment.translate
        if self.augment.pad == "reflect":
            padded = F.pad(images, (p, p, p, p), mode="reflect")
        else:
            padded = self.black.view(1, c, 1, 1).expand(b, c, h + 2 * p, w + 2 * p).clone()
            padded[:, :, p : p + h, p : p + w] = images
        rows = (dy.view(b, 1) + torch.arange(h, device=self.device)).view(b, 1, h, 1).expand(b, c, h, w + 2 * p)
        cropped = padded.gather(2, rows)
        cols = (dx.view(b, 1) + torch.arange(w, device=self.device)).view(b, 1, 1, w).expand(b, c, h, w)
        return cropped.gather(3, cols)

    def _jitter(self, images: torch.Tensor, brightness: torch.Tensor, contrast: torch.Tensor) -> torch.Tensor:
        """``(images + brightness shift) * contrast factor``, one of each per image (draws in [-1, 1))."""
        b = len(images)
        shift = (brightness * self.augment.brightness).view(b, 1, 1, 1)
        factor = (1 + contrast * self.augment.contrast).view(b, 1, 1, 1)
        return (images + shift) * factor

    def _cutout(self, images: torch.Tensor, cy: torch.Tensor, cx: torch.Tensor) -> torch.Tensor:
        """A ``cutout`` x ``cutout`` square centred on (``cy``, ``cx``) set to 0 in each image."""
        b, _, h, w = images.shape
        s = self.augment.cutout
        cy, cx = cy.view(b, 1, 1), cx.view(b, 1, 1)
        y = torch.arange(h, device=self.device).view(1, h, 1)
        x = torch.arange(w, device=self.device).view(1, 1, w)
        top, left = cy - s // 2, cx - s // 2
        inside = (y >= top) & (y < top + s) & (x >= left) & (x < left + s)
        return images.masked_fill(inside.unsqueeze(1), 0.0)
