"""The generated corruptions, and the reader of the official CIFAR-10-C layout with its errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cifar.errors import ConfigError, DataError
from cifar.evaluation import corruptions
from cifar.evaluation.corrupted_sets import CORRUPTIONS, MANIFEST_FILE, GeneratedSet, OfficialSet
from cifar.evaluation.robustness import selected_names, selected_severities
from helpers import photo_like_images

# the ones that draw random numbers (the others are a function of the image alone)
RANDOM = ("gaussian_noise", "shot_noise", "impulse_noise", "glass_blur", "motion_blur", "snow", "frost", "fog",
          "elastic_transform")
# where CIFAR-10-C's own constants change the images less at a higher severity (make_cifar_c.py does the same):
# glass blur's severities 1-3 move each pixel once (blurs of sigma 0.05-0.4 barely differ at 32 px), 4-5 twice;
# frost 4 keeps less of the image than 3 with the same frost; elastic changes pixels less as it goes from a
# large affine jitter (1) to fine local warping (5), which costs accuracy more;
# pixelate's 2 and 3 (28 and 27 px) differ less than where the box filters' cells fall does
NOT_MONOTONIC = ("glass_blur", "frost", "elastic_transform", "pixelate")


def corrupt(images, name, severity, seed, frost_dir):
    return corruptions.corrupt(images, name, severity, seed, frost_dir=frost_dir)


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_each_corruption_changes_the_images_more_at_each_severity(name, frost_photographs):
    images = photo_like_images(24)
    change = []
    for severity in (1, 2, 3, 4, 5):
        out = corrupt(images, name, severity, 0, frost_photographs)
        assert out.dtype == np.uint8 and out.shape == images.shape
        change.append(np.abs(out.astype(int) - images).mean())
    assert min(change) > 0.5, change  # every severity changes the images
    if name not in NOT_MONOTONIC:
        assert all(a < b for a, b in zip(change, change[1:])), f"{name}: mean absolute change by severity {change}"


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_each_corruption_is_deterministic_for_a_seed(name, frost_photographs):
    images = photo_like_images(8)
    first = corrupt(images, name, 3, 0, frost_photographs)
    assert np.array_equal(first, corrupt(images, name, 3, 0, frost_photographs))
    if name in RANDOM:  # one stream per (corruption, severity): another seed or severity draws anew
        assert not np.array_equal(first, corrupt(images, name, 3, 1, frost_photographs))
    else:  # image by image: a subset gives the same images
        assert np.array_equal(first[2:5], corrupt(images[2:5], name, 3, 0, frost_photographs))


def test_the_names_and_severities_are_checked(frost_photographs):
    assert selected_names("all") == CORRUPTIONS and len(CORRUPTIONS) == 15
    assert selected_names([]) == ()
    assert selected_names(["fog", "contrast", "fog"]) == ("fog", "contrast")
    with pytest.raises(ConfigError, match="corruptions.names: 'gauss' is unknown: expected all or some of gaussian_noise"):
        selected_names(["gauss"])
    with pytest.raises(ConfigError, match=r"corruptions.severities=\[0, 3\] is out of range: expected a list of "
                                          r"severities 1..5"):
        selected_severities([0, 3])
    images = photo_like_images(2)
    with pytest.raises(ValueError, match="frost needs frost_dir, the folder of its photographs"):
        corruptions.corrupt(images, "frost", 1, 0)
    with pytest.raises(ValueError, match=r"expected uint8 \[N, 32, 32, 3\] images, got float32 \[2, 32, 32, 3\]"):
        corruptions.corrupt(images.astype(np.float32), "fog", 1, 0)


def write_official(folder, count=50, labels=None, **arrays):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    np.save(folder / "labels.npy", np.arange(count) % 10 if labels is None else labels)
    for name in ("gaussian_noise", "fog"):
        np.save(folder / f"{name}.npy", arrays.get(name, rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)))
    return folder


def test_the_official_layout_is_read_and_checked(tmp_path):
    source = OfficialSet(write_official(tmp_path / "ok"))
    source.check(("gaussian_noise", "fog"))
    assert source.labels().tolist()[:12] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    assert source.images("fog").shape == (50, 32, 32, 3)
    with pytest.raises(DataError, match=r"ok/contrast.npy: missing \(corruptions.data_dir holds the CIFAR-10-C release"):
        source.check(("gaussian_noise", "contrast"))
    bad = OfficialSet(write_official(tmp_path / "float", gaussian_noise=np.zeros((50, 32, 32, 3), np.float32)))
    with pytest.raises(DataError, match=r"float/gaussian_noise.npy: expected uint8 \[50, 32, 32, 3\] .* got float32"):
        bad.images("gaussian_noise")
    short = OfficialSet(write_official(tmp_path / "short", fog=np.zeros((40, 32, 32, 3), np.uint8)))
    with pytest.raises(DataError, match=r"short/fog.npy: expected uint8 \[50, 32, 32, 3\].* got uint8 \[40, 32, 32, 3\]"):
        short.images("fog")
    labels = OfficialSet(write_official(tmp_path / "labels", labels=np.full(50, 10)))
    with pytest.raises(DataError, match=r"labels/labels.npy: labels must be 0..9, found 10..10"):
        labels.labels()
    (tmp_path / "pickle").mkdir()
    np.save(tmp_path / "pickle" / "labels.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match=r"pickle/labels.npy: not a readable .npy array"):
        OfficialSet(tmp_path / "pickle").labels()
    (tmp_path / "huge").mkdir()
    with open(tmp_path / "huge" / "labels.npy", "wb") as fh:  # a header claiming 10^12 labels, 8 bytes of them
        np.lib.format.write_array_header_1_0(fh, {"descr": "<i8", "fortran_order": False, "shape": (10**12,)})
        fh.write(bytes(8))
    with pytest.raises(DataError, match=r"huge/labels.npy: not a readable .npy array \(mmap length is greater than file size\)"):
        OfficialSet(tmp_path / "huge").labels()
    with pytest.raises(DataError, match=r"nowhere: no such folder \(corruptions.data_dir"):
        OfficialSet(tmp_path / "nowhere")


def test_the_generated_set_is_cached_and_checked_on_reuse(tmp_path):
    images, labels = photo_like_images(10), np.arange(10) % 10
    calls = []

    def generate(x, name, severity, seed):
        calls.append((name, severity))
        return corruptions.corrupt(x, name, severity, seed)

    def make(seed=0, test_images=images):
        return GeneratedSet(tmp_path, test_images, labels, seed, generate, corruptions.VERSION, "generated")

    first = make().images("contrast")
    assert first.shape == (50, 32, 32, 3) and len(calls) == 5
    assert np.array_equal(make().images("contrast"), first) and len(calls) == 5  # from the cache
    assert np.load(tmp_path / "seed0" / "labels.npy").tolist() == list(labels) * 5  # the official layout
    path = tmp_path / "seed0" / "contrast.npy"
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")  # the file changed: made again
    assert np.array_equal(make().images("contrast"), first) and len(calls) == 10
    manifest = json.loads((tmp_path / "seed0" / MANIFEST_FILE).read_text())
    assert set(manifest["files"]) == {"contrast"} and manifest["seed"] == 0
    make(test_images=images[::-1].copy()).images("contrast")  # other test images: made again
    assert len(calls) == 15
    make(seed=1).images("contrast")  # another seed: its own folder
    assert (tmp_path / "seed1" / "contrast.npy").is_file() and len(calls) == 20
