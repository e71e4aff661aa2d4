"""Using a trained model: predict, export, and loading checkpoints safely (evaluate: test_evaluate.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cifar.inference.checkpoints import CheckpointError, NormalizedClassifier, load_checkpoint_file, load_trained_model
from cifar.data.constants import CLASS_NAMES
from cifar.errors import DataError
from cifar.export import export, run_onnx, run_torchscript
from cifar.inference.images import load_image
from cifar.train import train
from helpers import TINY_RUN, CodeRunningPickle, compose_run, giant_png_header, run_cli


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_data):
    """A checkpoint (and its metrics) from a tiny real training run."""
    out = tmp_path_factory.mktemp("trained")
    metrics = train(compose_run(out, *TINY_RUN, "trainer.max_epochs=1", "logger=none", data_dir=tiny_data))
    return Path(metrics["best_checkpoint"]), metrics


def test_checkpoint_rebuilds_its_network_without_overrides(trained):
    ckpt, _ = trained
    model = load_trained_model(ckpt)
    assert type(model.net).__name__ == "SmallNet" and not model.net.training
    assert model.config.model._target_ == "cifar.models.smallnet.SmallNet"


def write_images(folder: Path) -> list[Path]:
    rng = np.random.default_rng(0)
    folder.mkdir()
    files = {
        "photo.jpg": Image.fromarray(rng.integers(0, 256, (120, 90, 3), dtype=np.uint8)),
        "small.png": Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)),
        "gray.png": Image.fromarray(rng.integers(0, 256, (50, 50), dtype=np.uint8), mode="L"),
        "alpha.png": Image.fromarray(rng.integers(0, 256, (32, 64, 4), dtype=np.uint8), mode="RGBA"),
    }
    for name, image in files.items():
        image.save(folder / name)
    return sorted(folder / name for name in files)


def test_predict_classifies_a_folder_and_reports_the_bad_file(tmp_path, trained):
    ckpt, _ = trained
    images = write_images(tmp_path / "images")
    (tmp_path / "images" / "notes.txt").write_text("not an image")
    result = run_cli("predict", f"ckpt_path={ckpt}", f"inputs={tmp_path / 'images'}", "topk=3", f"hydra.run.dir={tmp_path / 'p'}")
    assert result.returncode == 1
    assert "notes.txt: not a readable image" in result.stderr
    lines = result.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines] == [str(p) for p in images]
    for line in lines:
        fields = line.split()
        names, probs = fields[1::2], [float(p) for p in fields[2::2]]
        assert len(names) == 3 and set(names) <= set(CLASS_NAMES)
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001

    single = run_cli("predict", f"ckpt_path={ckpt}", f"inputs={images[0]}", f"hydra.run.dir={tmp_path / 'q'}")
    assert single.returncode == 0 and len(single.stdout.strip().splitlines()) == 1


def test_images_become_32x32_rgb_as_a_user_expects(tmp_path):
    Image.new("RGBA", (64, 64), (255, 0, 0, 0)).save(tmp_path / "clear.png")  # fully transparent red
    assert torch.equal(load_image(tmp_path / "clear.png"), torch.full((3, 32, 32), 255, dtype=torch.uint8))
    Image.new("L", (10, 20), 77).save(tmp_path / "gray.png")
    assert torch.equal(load_image(tmp_path / "gray.png"), torch.full((3, 32, 32), 77, dtype=torch.uint8))
    wide = np.zeros((32, 96, 3), dtype=np.uint8)
    wide[:, 32:64] = 200  # the middle third survives the centre crop
    Image.fromarray(wide).save(tmp_path / "wide.png")
    assert load_image(tmp_path / "wide.png").float().mean() > 190
    palette = Image.new("P", (40, 40))
    palette.putpalette([255, 0, 0] + [0] * 765)
    palette.save(tmp_path / "palette.png")
    assert load_image(tmp_path / "palette.png").view(3, -1).unique(dim=1).tolist() == [[255], [0], [0]]
    Image.fromarray(np.full((20, 30), 65535, dtype=np.uint16)).save(tmp_path / "deep.png")  # 16-bit
    assert torch.equal(load_image(tmp_path / "deep.png"), torch.full((3, 32, 32), 255, dtype=torch.uint8))
    (tmp_path / "x.jpg").write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(DataError, match=r"x\.jpg: not a readable image"):
        load_image(tmp_path / "x.jpg")
    giant_png_header(tmp_path / "giant.png", 12_000, 8_000)  # 96 megapixels: refused from its header, never decoded
    with pytest.raises(DataError, match=r"giant\.png: refused before decoding: 12000x8000 pixels exceeds the limit"):
        load_image(tmp_path / "giant.png")


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_round_trip_within_tolerance(tmp_path, trained, fmt):
    ckpt, _ = trained
    path, diff = export(str(ckpt), fmt, str(tmp_path / f"model.{fmt}"), tolerance=1e-4)
    assert path.is_file() and diff <= 1e-4
    reference = NormalizedClassifier(load_trained_model(ckpt).net).eval()
    images = torch.rand(5, 3, 32, 32)  # another batch size than at export time
    with torch.inference_mode():
        expected = reference(images)
    if fmt == "onnx":
        actual = run_onnx(path, images)
    else:
        actual = run_torchscript(path, images)
    assert (actual - expected).abs().max() <= 1e-4


def test_export_command_says_how_to_run_it(tmp_path, trained):
    ckpt, _ = trained
    result = run_cli("export", f"ckpt_path={ckpt}", "format=onnx", f"output={tmp_path / 'm.onnx'}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "max |logit difference| against PyTorch" in result.stdout and "onnxruntime.InferenceSession" in result.stdout
    assert (tmp_path / "m.onnx").is_file()


def test_export_refuses_a_disagreeing_model_and_writes_nothing(tmp_path, trained):
    ckpt, _ = trained
    with pytest.raises(Exception, match="disagrees with PyTorch"):
        export(str(ckpt), "torchscript", str(tmp_path / "m.pt"), tolerance=-1.0)
    assert list(tmp_path.iterdir()) == []


def test_checkpoint_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "payload": CodeRunningPickle(marker)}, path)
    with pytest.raises(CheckpointError, match=r"evil\.ckpt: refused"):
        load_checkpoint_file(path)
    assert not marker.exists()
    (tmp_path / "junk.ckpt").write_text("junk")
    with pytest.raises(CheckpointError, match=r"junk\.ckpt: not a readable PyTorch checkpoint"):
        load_checkpoint_file(tmp_path / "junk.ckpt")
    with pytest.raises(CheckpointError, match=r"missing\.ckpt: checkpoint not found"):
        load_checkpoint_file(tmp_path / "missing.ckpt")


def test_checkpoint_naming_foreign_code_as_its_model_is_refused(tmp_path, trained, capsys):
    ckpt, _ = trained
    checkpoint = torch.load(ckpt, weights_only=True)
    checkpoint["hyper_parameters"]["model"] = {"_target_": "builtins.print", "_args_": ["pwned"]}
    evil = tmp_path / "evil.ckpt"
    torch.save(checkpoint, evil)
    with pytest.raises(CheckpointError, match=r"evil\.ckpt: refused: its model config names 'builtins\.print'"):
        load_trained_model(evil)
    # a function reached through a model module's attributes is not a network of cifar.models either
    checkpoint["hyper_parameters"]["model"] = {"_target_": "cifar.models.speednet.torch.save",
                                               "_args_": [{}, str(tmp_path / "written")]}
    torch.save(checkpoint, evil)
    with pytest.raises(CheckpointError, match=r"refused: its model config names 'cifar\.models\.speednet\.torch\.save'"):
        load_trained_model(evil)
    assert "pwned" not in capsys.readouterr().out and not (tmp_path / "written").exists()
