"""Each generated corruption against the reference's own output: CIFAR-10-C's distribution, severity by severity.

The pinned figures are the reference's. ``make_cifar_c.py`` (public repository ``hendrycks/robustness``,
``ImageNet-C/create_c/make_cifar_c.py`` at commit ca360085) was run once, outside this project, in a scratch
environment: numpy 1.26.4, SciPy 1.17.1, scikit-image 0.25.2, OpenCV 4.11.0, Pillow 13.0.0, Wand 0.7.2 with
ImageMagick 6.9.11-60 Q16, and the frost photographs of imagecorruptions 1.1.2. Its corruption functions ran
unchanged but for shims to today's library names (scikit-image's ``channel_axis``, SciPy's ``map_coordinates``
path) and the salt-and-pepper draw of the scikit-image it was written for (two masks from numpy's global
state: today's draws from an unseeded generator of its own), on ``photo_like_images(2000)``, after
``np.random.seed(0)``, image after image as the script's loop does. For each corruption and severity: the mean
absolute change from the clean images (0..255, over the images compared) and the mean SSIM to them
(torchmetrics, data range 255, over the first 500 of them).

Ours must be within 5% of both. The random ones draw from other random numbers than the reference (only
the distribution is the same), so they are compared on 2,000 images, where the draws' own spread is under
1.5%; the deterministic ones, which match to 0.1%, on 200.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchmetrics.functional.image import structural_similarity_index_measure

from cifar.evaluation import corruptions
from cifar.evaluation.corrupted_sets import CORRUPTIONS
from helpers import photo_like_images

TOLERANCE = 0.05
SSIM_IMAGES = 500
DETERMINISTIC = ("defocus_blur", "zoom_blur", "brightness", "contrast", "pixelate", "jpeg_compression")

# (mean absolute change, SSIM) at severities 1..5: make_cifar_c.py's output, measured as the docstring says
REFERENCE = {
    "gaussian_noise": ((8.104, 0.8209), (12.110, 0.6922), (16.073, 0.5805), (18.030, 0.5312), (19.982, 0.4871)),
    "shot_noise": ((5.560, 0.9050), (7.850, 0.8351), (12.381, 0.6955), (14.278, 0.6416), (17.434, 0.5609)),
    "impulse_noise": ((1.280, 0.8644), (2.551, 0.7521), (3.825, 0.6634), (6.379, 0.5270), (8.921, 0.4314)),
    "defocus_blur": ((0.769, 0.9981), (1.699, 0.9895), (2.443, 0.9778), (3.527, 0.9518), (4.017, 0.9406)),
    "glass_blur": ((6.784, 0.8611), (6.894, 0.8708), (6.717, 0.8849), (11.493, 0.7611), (11.160, 0.7814)),
    "motion_blur": ((4.727, 0.9644), (7.452, 0.9254), (9.997, 0.8815), (9.958, 0.8819), (12.294, 0.8370)),
    "zoom_blur": ((5.469, 0.9515), (6.185, 0.9338), (7.576, 0.9104), (8.990, 0.8854), (10.663, 0.8562)),
    "snow": ((10.431, 0.9006), (23.598, 0.7818), (25.449, 0.7368), (37.790, 0.6802), (53.777, 0.6467)),
    "frost": ((31.811, 0.9004), (47.721, 0.8197), (53.505, 0.7487), (49.438, 0.7513), (47.563, 0.7097)),
    "fog": ((8.972, 0.9554), (17.244, 0.8404), (21.974, 0.7430), (25.696, 0.6510), (30.677, 0.5168)),
    "brightness": ((8.784, 0.9907), (18.144, 0.9651), (27.359, 0.9283), (36.311, 0.8843), (52.902, 0.7859)),
    "contrast": ((8.529, 0.9566), (17.054, 0.8164), (20.464, 0.7280), (23.875, 0.6210), (28.991, 0.4308)),
    "elastic_transform": ((15.949, 0.7082), (14.263, 0.7530), (12.451, 0.7982), (11.181, 0.8194), (8.808, 0.8566)),
    "pixelate": ((1.125, 0.9862), (2.379, 0.9679), (2.197, 0.9692), (3.752, 0.9476), (5.131, 0.9247)),
    "jpeg_compression": ((5.487, 0.9054), (6.381, 0.8847), (6.777, 0.8757), (7.245, 0.8653), (7.876, 0.8510)),
}


@pytest.fixture(scope="module")
def images():
    return photo_like_images(2000)


def figures(corrupted: np.ndarray, clean: np.ndarray) -> tuple[float, float]:
    change = float(np.abs(corrupted.astype(np.float64) - clean).mean())
    as_tensor = lambda x: torch.from_numpy(x[:SSIM_IMAGES]).permute(0, 3, 1, 2).float()  # noqa: E731
    return change, float(structural_similarity_index_measure(as_tensor(corrupted), as_tensor(clean), data_range=255.0))


def test_every_corruption_is_pinned():
    assert tuple(REFERENCE) == CORRUPTIONS


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_each_severity_matches_the_reference(name, images, frost_photographs):
    clean = images[:200] if name in DETERMINISTIC else images
    off = []
    for severity, (change, ssim) in enumerate(REFERENCE[name], start=1):
        ours = figures(corruptions.corrupt(clean, name, severity, seed=0, frost_dir=frost_photographs), clean)
        for what, value, reference in (("mean absolute change", ours[0], change), ("SSIM", ours[1], ssim)):
            if abs(value / reference - 1) > TOLERANCE:
                off.append(f"severity {severity}: {what} {value:.4f}, the reference's {reference:.4f}")
    assert not off, f"{name} differs from make_cifar_c.py's: " + "; ".join(off)
