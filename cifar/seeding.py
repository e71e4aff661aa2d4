"""The project's random streams: each a function of the run's ``seed`` and the epoch (or, for generated
corruptions, of the corruption, its severity and the transform's step) alone.

A resumed run must draw what an uninterrupted one draws, so nothing random may depend on what
was drawn before: every stream is seeded from (seed, epoch, which stream). The streams are
listed here, once, so that no two streams used together share a seed. (``flip_start_seed(s)``
equals ``shuffle_seed(s, 3)``: one belongs to the tensor pipeline, the other to the
albumentations pipeline, never both in one run; they keep these values so results repeat.)
"""

from __future__ import annotations

WORKER_STREAMS = 1000  # albumentations in DataLoader worker w: stream WORKER_STREAMS + w
CORRUPTION_STREAMS = 2000  # generated corruption number k (CIFAR-10-C's order): stream CORRUPTION_STREAMS + k


def stream_seed(*parts: int) -> int:
    """A 32-bit seed from integers (run seed, epoch, stream, ...), the same in every process."""
    value = 1
    for part in parts:
        value = (value * 1_000_003 + int(part) + 7_919) % 2**61
    return value % 2**32


def shuffle_seed(seed: int, epoch: int) -> int:
    """The training order of ``epoch`` (albumentations pipeline: ``EpochShuffleSampler``)."""
    return stream_seed(seed, epoch)


def augmentation_seed(seed: int, epoch: int, worker: int | None) -> int:
    """albumentations' draws in ``epoch``, per DataLoader worker (``None``: the main process)."""
    return stream_seed(seed, epoch, -1 if worker is None else WORKER_STREAMS + worker)


def global_seed(seed: int, epoch: int) -> int:
    """torch, numpy and ``random``'s global state at the start of ``epoch`` (dropout and the like)."""
    return stream_seed(seed, epoch, 1)


def tensor_batches_seed(seed: int, epoch: int) -> int:
    """The tensor pipeline's order, translations and cutouts in ``epoch``."""
    return stream_seed(seed, epoch, 2)


def flip_start_seed(seed: int) -> int:
    """Which images the alternating flip mirrors in even epochs (the tensor pipeline's ``alternate``)."""
    return stream_seed(seed, 3)


def corruption_seed(seed: int, corruption: int, severity: int, step: int) -> int:
    """Generated corruption number ``corruption`` (its index in CIFAR-10-C's list) at ``severity``: one stream
    (``step`` 0) draws everything it needs, image after image; stable across runs and machines."""
    return stream_seed(seed, CORRUPTION_STREAMS + corruption, severity, step)
