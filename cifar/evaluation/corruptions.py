"""CIFAR-10-C's fifteen corruptions, made here as ``make_cifar_c.py`` makes them, at its CIFAR-10 constants.

CIFAR-10-C (Hendrycks and Dietterich, ICLR 2019) was made by ``make_cifar_c.py`` (the public repository
``hendrycks/robustness``): 15 corruptions at 5 severities, each set by a constant for 32 x 32 images. Each
function below follows that script's steps with the same libraries' same operations (numpy, SciPy's
``ndimage``, OpenCV, Pillow); scikit-image's Gaussian filter is SciPy's, its HSV round trip is the channel
scaling it amounts to, and ImageMagick's motion blur (through ``wand``) is ported here exactly (``motion_blur``:
its one-sided Gaussian kernel, its offsets, its 16-bit rounding). Like the script, every float result is
clipped and truncated to uint8, and glass blur moves pixels as the script's swap does (a copy: numpy's
tuple swap of two views writes one of them twice). Only the random draws differ (numpy's ``Generator``, one
stream per corruption and severity), so a generated set follows CIFAR-10-C's distribution but is not its
images; ``tests/evaluation/test_corruption_fidelity.py`` holds each (corruption, severity) to the script's
own output on the same images. Frost overlays the script's photographs (``cifar/evaluation/frost.py``).

Deterministic: the images of (seed, corruption, severity) are a function of those and the input alone.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from scipy import ndimage

from cifar.evaluation import frost as frost_photos
from cifar.evaluation.corrupted_sets import CORRUPTIONS, SEVERITIES
from cifar.seeding import corruption_seed

# make_cifar_c.py's constants for CIFAR-10, severities 1..5 (not ImageNet-C's)
GAUSSIAN_STD = (0.04, 0.06, 0.08, 0.09, 0.10)  # noise std, of the 0..1 range
SHOT_PHOTONS = (500, 250, 100, 75, 50)  # Poisson events per unit of intensity (fewer: more noise)
IMPULSE_AMOUNT = (0.01, 0.02, 0.03, 0.05, 0.07)  # share of channel values set to 0 or 1, half each
DEFOCUS = ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1))  # disk radius (px), alias blur sigma
GLASS = ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2))  # sigma, max shift (px), passes
MOTION = ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5))  # ImageMagick radius, sigma; angle uniform in +-45 degrees
ZOOM_END = (1.06, 1.11, 1.16, 1.21, 1.26)  # zoom factors 1, 1.01, ... below this
SNOW = ((0.1, 0.2, 1, 0.6, 8, 3, 0.95), (0.1, 0.2, 1, 0.5, 10, 4, 0.9), (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
        (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85), (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8))
# (flake mean, std, zoom, threshold, blur radius, blur sigma, share of the image kept)
FROST = ((1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45))  # image weight, frost weight
FOG = ((0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75))  # fog weight, plasma fractal's wibble decay
BRIGHTNESS = (0.05, 0.1, 0.15, 0.2, 0.3)  # added to HSV value, of 0..1
CONTRAST = (0.75, 0.5, 0.4, 0.3, 0.15)  # (x - channel mean) * c + channel mean
ELASTIC = tuple((32 * a, 32 * s, 32 * j) for a, s, j in  # displacement, its smoothing sigma, affine jitter (px)
                ((0, 0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06), (0.1, 0.04, 0.05), (0.1, 0.03, 0.03)))
PIXELATE = (0.95, 0.9, 0.85, 0.75, 0.65)  # down to int(32 c) px and back, Pillow's box filter both ways
JPEG_QUALITY = (80, 65, 58, 50, 40)

VERSION = "make_cifar_c.py's steps, cifar corruptions 3"  # a cache made otherwise is made again

Rng = np.random.Generator


def corrupt(images: np.ndarray, name: str, severity: int, seed: int, frost_dir: str | Path | None = None) -> np.ndarray:
    """``images`` (uint8 [N, 32, 32, 3], RGB) corrupted by ``name`` at ``severity``; the same for the same seed.
    Frost needs ``frost_dir``, where its photographs are (fetched there when missing)."""
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, got {severity}")
    if name not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r}: expected one of {', '.join(CORRUPTIONS)}")
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (32, 32, 3):
        raise ValueError(f"expected uint8 [N, 32, 32, 3] images, got {images.dtype} {list(images.shape)}")
    rng = np.random.default_rng(corruption_seed(seed, CORRUPTIONS.index(name), severity, 0))
    if name == "frost":
        if frost_dir is None:
            raise ValueError("frost needs frost_dir, the folder of its photographs")
        return frost(images, severity - 1, rng, frost_photos.photographs(frost_dir))
    return FUNCTIONS[name](images, severity - 1, rng)


def to_uint8(x: np.ndarray, top: float = 1.0) -> np.ndarray:
    """The script's ``np.uint8(np.clip(x, 0, top) * (255 / top))``: clipped, then truncated (not rounded)."""
    return (np.clip(x, 0, 1) * 255).astype(np.uint8) if top == 1.0 else np.clip(x, 0, 255).astype(np.uint8)


def unit(images: np.ndarray, dtype=np.float64) -> np.ndarray:
    return (images / 255.).astype(dtype, copy=False)


def per_image(step: Callable[[np.ndarray, Rng], np.ndarray], images: np.ndarray, rng: Rng) -> np.ndarray:
    """``step(image, rng)`` on each image in turn, from one random stream."""
    return np.stack([step(image, rng) for image in images])


# noise

def gaussian_noise(images, i, rng):
    x = unit(images)
    return to_uint8(x + rng.normal(size=x.shape, scale=GAUSSIAN_STD[i]))


def shot_noise(images, i, rng):
    c = SHOT_PHOTONS[i]
    return to_uint8(rng.poisson(unit(images) * c) / c)


def impulse_noise(images, i, rng):  # scikit-image's random_noise(mode="s&p"): salt and pepper equally likely
    x = unit(images).copy()
    flipped = rng.random(x.shape) < IMPULSE_AMOUNT[i]
    salted = rng.random(x.shape) < 0.5
    x[flipped & salted] = 1
    x[flipped & ~salted] = 0
    return to_uint8(x)


# blur

def disk_kernel(radius: float, alias_blur: float) -> np.ndarray:
    """The script's ``disk``: a 17 x 17 aliased disk, normalized, blurred by a 3 x 3 Gaussian."""
    side = np.arange(-8, 9)
    xs, ys = np.meshgrid(side, side)
    aliased = np.array(xs ** 2 + ys ** 2 <= radius ** 2, dtype=np.float32)
    aliased /= aliased.sum()
    return cv2.GaussianBlur(aliased, ksize=(3, 3), sigmaX=alias_blur)


def defocus_blur(images, i, rng):
    kernel = disk_kernel(*DEFOCUS[i])
    x = unit(images)
    return to_uint8(np.stack([cv2.filter2D(image, -1, kernel) for image in x]))  # (OpenCV's default border)


def gaussian_blur_nearest(x: np.ndarray, sigma: float) -> np.ndarray:
    """scikit-image's ``gaussian(x, sigma, channel_axis=-1)`` on [N, H, W, C]: SciPy's filter, edges repeated."""
    return ndimage.gaussian_filter(x, sigma=(0, sigma, sigma, 0), mode="nearest", truncate=4.0)


def glass_blur(images, i, rng):
    sigma, delta, passes = GLASS[i]
    x = (gaussian_blur_nearest(unit(images), sigma) * 255).astype(np.uint8)
    n = len(x)
    span = np.arange(32 - delta, delta, -1)  # the script's positions, in its order
    rows, cols = np.meshgrid(span, span, indexing="ij")
    for _ in range(passes):
        # the script's swap x[h, w], x[h', w'] = x[h', w'], x[h, w] of numpy views only copies x[h', w'] into
        # x[h, w]; every (h', w') it reads (shifts in [-delta, delta)) is one its loop has not yet written
        dx, dy = np.moveaxis(rng.integers(-delta, delta, size=(n, len(span), len(span), 2)), -1, 0)
        moved = x.copy()
        moved[:, rows, cols] = x[np.arange(n)[:, None, None], rows + dy, cols + dx]
        x = moved
    return to_uint8(gaussian_blur_nearest(x / 255., sigma))


def motion_blur_kernel(radius: float, sigma: float, angle: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ImageMagick 6's ``MotionBlurImage``: weights of a one-sided Gaussian over 2 ceil(radius) + 1 pixels, and
    the (row, column) offset of each along ``angle`` (degrees, 0 = to the right)."""
    width = 2 * int(np.ceil(radius)) + 1
    steps = np.arange(width)
    weights = np.exp(-(steps * steps) / (2.0 * sigma * sigma))
    weights /= weights.sum()
    along_x, along_y = width * np.cos(np.deg2rad(angle)), width * np.sin(np.deg2rad(angle))
    length = np.hypot(along_x, along_y)
    cols = np.ceil(steps * along_x / length - 0.5).astype(int)
    rows = np.ceil(steps * along_y / length - 0.5).astype(int)
    return weights, rows, cols


def motion_blur_image(image: np.ndarray, radius: float, sigma: float, angle: float) -> np.ndarray:
    """ImageMagick's motion blur of a uint8 image ([H, W] or [H, W, C]), as ``wand``'s ``motion_blur`` returns it
    through an 8-bit PNG: edge pixels repeated, the sum kept in 16 bits, then scaled down to 8 (checked
    equal to ImageMagick 6.9's output)."""
    weights, dys, dxs = motion_blur_kernel(radius, sigma, angle)
    h, w = image.shape[:2]
    x = image.astype(np.float64)
    total = np.zeros_like(x)
    for weight, dy, dx in zip(weights, dys, dxs):
        rows = np.clip(np.arange(h) + dy, 0, h - 1)
        cols = np.clip(np.arange(w) + dx, 0, w - 1)
        total += weight * x[rows][:, cols]
    return np.floor(np.floor(total * 257 + 0.5) / 257).astype(np.uint8)


def motion_blur(images, i, rng):
    radius, sigma = MOTION[i]
    return per_image(lambda image, r: motion_blur_image(image, radius, sigma, r.uniform(-45, 45)), images, rng)


def clipped_zoom(x: np.ndarray, factor: float) -> np.ndarray:
    """The script's ``clipped_zoom`` on [N, H, W, C] at once: the centre ceil(H / factor) square, zoomed by SciPy
    (linear), its centre H x H kept."""
    h = x.shape[1]
    crop = int(np.ceil(h / factor))
    top = (h - crop) // 2
    zoomed = ndimage.zoom(x[:, top:top + crop, top:top + crop], (1, factor, factor, 1), order=1)
    trim = (zoomed.shape[1] - h) // 2
    return zoomed[:, trim:trim + h, trim:trim + h]


def zoom_blur(images, i, rng):
    x = unit(images, np.float32)
    factors = np.arange(1, ZOOM_END[i], 0.01)
    total = np.zeros_like(x)
    for factor in factors:
        total += clipped_zoom(x, factor)
    return to_uint8((x + total) / (len(factors) + 1))


# weather

def snow(images, i, rng):
    mean, std, zoom, threshold, radius, sigma, kept = SNOW[i]

    def one(image, r):
        x = unit(image, np.float32)
        flakes = clipped_zoom(r.normal(size=(1, 32, 32, 1), loc=mean, scale=std), zoom)[0, ..., 0]
        flakes[flakes < threshold] = 0
        flakes = to_uint8(flakes)
        flakes = motion_blur_image(flakes, radius, sigma, r.uniform(-135, -45)) / 255.
        flakes = flakes[..., None]
        grey = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY)[..., None]
        x = kept * x + (1 - kept) * np.maximum(x, grey * 1.5 + 0.5)
        return to_uint8(x + flakes + np.rot90(flakes, k=2))

    return per_image(one, images, rng)


def frost(images, i, rng, photographs: list[np.ndarray]):
    """``photographs``: the script's first five frost photographs, RGB, already scaled to a fifth."""
    weight, frost_weight = FROST[i]

    def one(image, r):
        photo = photographs[r.integers(len(photographs))]
        top, left = r.integers(0, photo.shape[0] - 32), r.integers(0, photo.shape[1] - 32)
        return to_uint8(weight * image + frost_weight * photo[top:top + 32, left:left + 32], top=255)

    return per_image(one, images, rng)


def plasma_fractal(rng: Rng, wibble_decay: float, size: int = 32) -> np.ndarray:
    """The script's diamond-square height map, [size, size] in 0..1."""
    heights = np.zeros((size, size))
    step, wibble = size, 100.0

    def wibbled_mean(total):
        return total / 4 + wibble * rng.uniform(-wibble, wibble, total.shape)

    while step >= 2:
        half = step // 2
        corners = heights[0:size:step, 0:size:step]
        squares = corners + np.roll(corners, -1, axis=0)
        squares += np.roll(squares, -1, axis=1)
        heights[half:size:step, half:size:step] = wibbled_mean(squares)
        centres = heights[half:size:step, half:size:step]
        corners = heights[0:size:step, 0:size:step]
        heights[0:size:step, half:size:step] = wibbled_mean(centres + np.roll(centres, 1, axis=0)
                                                            + corners + np.roll(corners, -1, axis=1))
        heights[half:size:step, 0:size:step] = wibbled_mean(centres + np.roll(centres, 1, axis=1)
                                                            + corners + np.roll(corners, -1, axis=0))
        step //= 2
        wibble /= wibble_decay
    heights -= heights.min()
    return heights / heights.max()


def fog(images, i, rng):
    weight, decay = FOG[i]

    def one(image, r):
        x = unit(image)
        top = x.max()
        x = x + weight * plasma_fractal(r, decay)[..., None]
        return to_uint8(x * top / (top + weight))

    return per_image(one, images, rng)


# digital

def brightness(images, i, rng):
    """HSV value + c, clipped: scikit-image's rgb2hsv / hsv2rgb keep hue and saturation, which scales each pixel's
    channels by new value / old value (black becomes grey at c)."""
    x = unit(images)
    value = x.max(axis=-1, keepdims=True)
    brighter = np.clip(value + BRIGHTNESS[i], 0, 1)
    scaled = np.divide(x * brighter, value, out=np.broadcast_to(brighter, x.shape).copy(), where=value > 0)
    return to_uint8(scaled)


def contrast(images, i, rng):
    x = unit(images)
    means = x.mean(axis=(1, 2), keepdims=True)  # one per image and channel
    return to_uint8((x - means) * CONTRAST[i] + means)


def elastic_transform(images, i, rng):
    strength, smoothing, jitter = ELASTIC[i]
    centre, half = np.float32([32, 32]) // 2, 32 // 3
    anchors = np.float32([centre + half, [centre[0] + half, centre[1] - half], centre - half])
    rows, cols, channels = np.meshgrid(np.arange(32), np.arange(32), np.arange(3), indexing="ij")

    def one(image, r):
        x = unit(image, np.float32)
        moved = anchors + r.uniform(-jitter, jitter, size=anchors.shape).astype(np.float32)
        x = cv2.warpAffine(x, cv2.getAffineTransform(anchors, moved), (32, 32), borderMode=cv2.BORDER_REFLECT_101)
        dx, dy = (((ndimage.gaussian_filter(r.uniform(-1, 1, size=(32, 32)), smoothing, mode="reflect", truncate=3)
                    * strength).astype(np.float32))[..., None] for _ in range(2))
        coordinates = np.stack([(rows + dy).ravel(), (cols + dx).ravel(), channels.ravel()])
        return to_uint8(ndimage.map_coordinates(x, coordinates, order=1, mode="reflect").reshape(x.shape))

    return per_image(one, images, rng)


def pixelate(images, i, rng):
    side = int(32 * PIXELATE[i])
    return np.stack([np.asarray(Image.fromarray(image).resize((side, side), Image.BOX).resize((32, 32), Image.BOX))
                     for image in images])


def jpeg_compression(images, i, rng):
    def one(image):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, "JPEG", quality=JPEG_QUALITY[i])
        return np.asarray(Image.open(buffer))

    return np.stack([one(image) for image in images])


FUNCTIONS: dict[str, Callable[[np.ndarray, int, Rng], np.ndarray]] = {
    "gaussian_noise": gaussian_noise, "shot_noise": shot_noise, "impulse_noise": impulse_noise,
    "defocus_blur": defocus_blur, "glass_blur": glass_blur, "motion_blur": motion_blur, "zoom_blur": zoom_blur,
    "snow": snow, "fog": fog, "brightness": brightness, "contrast": contrast,
    "elastic_transform": elastic_transform, "pixelate": pixelate, "jpeg_compression": jpeg_compression,
}  # (frost takes its photographs too: see corrupt)
