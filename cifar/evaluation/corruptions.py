"""Corrupted test images made here, with albumentations, at the severities of CIFAR-10-C.

CIFAR-10-C (Hendrycks and Dietterich, ICLR 2019) was made by ``make_cifar_c.py`` with 15 corruptions at
5 severities, each set by a constant for 32 x 32 images. This module applies the same constants through
albumentations' transforms (a dependency already; ``imagecorruptions`` carries the ImageNet constants,
made for 224 x 224 images). Where albumentations' algorithm is CIFAR-10-C's, the images are close to the
release's, though not equal (other random draws, uint8 rounding); ``DIFFERENCES`` says where they part.
Five corruptions are left out, since no transform produces them at 32 x 32 (``LEFT_OUT`` says why):
``frost``, ``snow``, ``fog``, ``motion_blur`` and ``elastic_transform``. Generated figures are never
CIFAR-10-C's: the report names the source.

Deterministic: the images of (seed, corruption, severity) are a function of those alone.
"""

from __future__ import annotations

import albumentations as A
import cv2
import numpy as np

from cifar.evaluation.corrupted_sets import CORRUPTIONS, SEVERITIES
from cifar.seeding import corruption_seed

# CIFAR-10-C's constants, severities 1..5, in the units noted (make_cifar_c.py)
GAUSSIAN_STD = (0.04, 0.06, 0.08, 0.09, 0.10)  # noise std, of the 0..1 range
SHOT_PHOTONS = (500, 250, 100, 75, 50)  # photons per unit of intensity (fewer: more noise)
IMPULSE_AMOUNT = (0.01, 0.02, 0.03, 0.05, 0.07)  # share of channel values set to 0 or 255, half each
DEFOCUS = ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1))  # disk radius (px), alias blur sigma
GLASS = ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2))  # sigma, max shift (px), passes
ZOOM_MAX = (1.06, 1.11, 1.16, 1.21, 1.26)  # the largest zoom, in steps of 0.01
BRIGHTNESS = (0.05, 0.1, 0.15, 0.2, 0.3)  # added to HSV value, of 0..1
CONTRAST = (0.75, 0.5, 0.4, 0.3, 0.15)  # (x - mean) * c + mean
PIXELATE = (0.95, 0.9, 0.85, 0.75, 0.65)  # down to int(32 c) px and back
JPEG_QUALITY = (80, 65, 58, 50, 40)

LEFT_OUT = {
    "frost": "CIFAR-10-C overlays photographs of frost, which albumentations does not have",
    "snow": "albumentations' RandomSnow brightens regions; CIFAR-10-C draws motion-blurred snowflakes",
    "fog": "albumentations' RandomFog draws circles; CIFAR-10-C adds a plasma fractal and rescales",
    "motion_blur": "CIFAR-10-C's ImageMagick kernel is Gaussian-weighted (sigma 1-2.5 px); albumentations' "
                   "MotionBlur draws uniform lines of odd lengths, too coarse to tell its five severities apart",
    "elastic_transform": "CIFAR-10-C's random affine step has no transform, and its severity-5 smoothing "
                         "is below what ElasticTransform takes",
}
GENERATED = tuple(name for name in CORRUPTIONS if name not in LEFT_OUT)
DIFFERENCES = {
    "shot_noise": "Poisson noise in linear light (gamma 2.2), where CIFAR-10-C draws it on the pixel values",
    "defocus_blur": "severities 1-3 are the 3x3 alias blur alone (a disk of radius below 1 px is one pixel), "
                    "5 a 3x3 box, as CIFAR-10-C's kernels come out at 32 x 32",
    "glass_blur": "the same local pixel moves, other random draws",
    "contrast": "the mean is over all three channels, where CIFAR-10-C takes each channel's",
    "brightness": "in 8-bit HSV, where CIFAR-10-C works in floats",
}
VERSION = f"albumentations {A.__version__}, cifar corruptions 2"  # a cache made otherwise is made again


def transforms(name: str, severity: int) -> list[A.BasicTransform]:
    """The albumentations transforms that make ``name`` at ``severity`` (1..5), applied in order."""
    i = severity - 1
    if name == "gaussian_noise":
        return [A.GaussNoise(std_range=(GAUSSIAN_STD[i],) * 2, mean_range=(0, 0), per_channel=True,
                             noise_scale_factor=1, p=1)]
    if name == "shot_noise":
        return [A.ShotNoise(scale_range=(1 / SHOT_PHOTONS[i],) * 2, p=1)]
    if name == "impulse_noise":  # salt, then pepper: each value ends 255 or 0 with probability amount / 2
        half = IMPULSE_AMOUNT[i] / 2
        return [A.PixelDropout(dropout_prob=half / (1 - half), per_channel=True, drop_value=255, p=1),
                A.PixelDropout(dropout_prob=half, per_channel=True, drop_value=0, p=1)]
    if name == "defocus_blur":  # a disk of radius < 1 px is one pixel: only the 3x3 alias blur is left
        radius, alias = DEFOCUS[i]
        if radius < 1:
            return [A.GaussianBlur(blur_limit=(3, 3), sigma_limit=(alias, alias), p=1)]
        if radius == 1:
            return [A.Defocus(radius=(1, 1), alias_blur=(alias, alias), p=1)]
        return [A.Blur(blur_limit=(3, 3), p=1)]  # radius 1.5: the 3x3 square (alias blur 0.1: none)
    if name == "glass_blur":
        sigma, delta, passes = GLASS[i]
        return [A.GlassBlur(sigma=sigma, max_delta=delta, iterations=passes, mode="exact", p=1)]
    if name == "zoom_blur":
        return [A.ZoomBlur(max_factor=(ZOOM_MAX[i],) * 2, step_factor=(0.01, 0.01), p=1)]
    if name == "brightness":
        shift = int(255 * BRIGHTNESS[i])
        return [A.HueSaturationValue(hue_shift_limit=(0, 0), sat_shift_limit=(0, 0), val_shift_limit=(shift, shift),
                                     p=1)]
    if name == "contrast":  # c x + (1 - c) mean
        c = CONTRAST[i]
        return [A.RandomBrightnessContrast(contrast_limit=(c - 1, c - 1), brightness_limit=(1 - c, 1 - c),
                                           brightness_by_max=False, p=1)]  # (alpha x + beta mean)
    if name == "pixelate":
        scale = int(32 * PIXELATE[i]) / 32
        return [A.Downscale(scale_range=(scale, scale), p=1,
                            interpolation_pair={"downscale": cv2.INTER_AREA, "upscale": cv2.INTER_NEAREST_EXACT})]
    if name == "jpeg_compression":
        return [A.ImageCompression(compression_type="jpeg", quality_range=(JPEG_QUALITY[i],) * 2, p=1)]
    if name in LEFT_OUT:
        raise ValueError(f"{name} is not generated here: {LEFT_OUT[name]}")
    raise ValueError(f"unknown corruption {name!r}")


def corrupt(images: np.ndarray, name: str, severity: int, seed: int) -> np.ndarray:
    """``images`` (uint8 [N, 32, 32, 3], RGB) corrupted by ``name`` at ``severity``; the same for the same seed."""
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, got {severity}")
    steps = transforms(name, severity)
    for part, step in enumerate(steps):  # one stream each: A.Compose(seed=) would give every step the same
        step.set_random_seed(corruption_seed(seed, CORRUPTIONS.index(name), severity, part))
    # OpenCV's JPEG encoder takes BGR: the channels go in that order, so chroma is subsampled as in RGB JPEG
    bgr = name == "jpeg_compression"
    out = np.empty_like(images)
    for k, image in enumerate(images):
        x = image[..., ::-1] if bgr else image
        for step in steps:
            x = step(image=np.ascontiguousarray(x))["image"]
        out[k] = x[..., ::-1] if bgr else x
    return out
