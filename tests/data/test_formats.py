"""Reading and validating the two official CIFAR-10 layouts."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from cifar.data.formats import read_binary_batch, read_python_batch, read_split
from cifar.errors import DataError
from helpers import CodeRunningPickle, TRAIN_NAMES, write_binary_batch, write_binary_layout, write_python_batch, write_python_layout


@pytest.mark.parametrize("fmt", ["python", "binary"])
def test_reads_every_split_with_pixels_in_hwc_order(tiny_data, tiny_arrays, fmt):
    train = read_split(tiny_data, fmt, "train")
    test = read_split(tiny_data, fmt, "test")

    rows = np.concatenate([tiny_arrays[name][0] for name in TRAIN_NAMES])
    labels = np.concatenate([tiny_arrays[name][1] for name in TRAIN_NAMES])
    assert train.images.shape == (len(rows), 32, 32, 3) and train.images.dtype == np.uint8
    assert train.labels.dtype == np.int64
    np.testing.assert_array_equal(train.labels, labels)
    # official rows are R, G, B planes of 32x32: pixel (y, x) of channel c sits at c*1024 + y*32 + x
    for n, y, x, c in [(0, 0, 0, 0), (3, 5, 7, 1), (17, 31, 31, 2), (150, 12, 30, 0)]:
        assert train.images[n, y, x, c] == rows[n, c * 1024 + y * 32 + x]
    np.testing.assert_array_equal(test.labels, tiny_arrays["test_batch"][1])
    assert len(test) == len(tiny_arrays["test_batch"][1])


def test_python_and_binary_layouts_give_identical_data(tiny_data):
    py, bin_ = read_split(tiny_data, "python", "train"), read_split(tiny_data, "binary", "train")
    np.testing.assert_array_equal(py.images, bin_.images)
    np.testing.assert_array_equal(py.labels, bin_.labels)


def test_truncated_binary_file_is_named(tmp_path, tiny_arrays):
    data, labels = tiny_arrays["data_batch_1"]
    path = tmp_path / "data_batch_1.bin"
    write_binary_batch(path, data, labels)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match=r"data_batch_1\.bin.*3073-byte"):
        read_binary_batch(path)


def test_truncated_python_file_is_named(tmp_path, tiny_arrays):
    data, labels = tiny_arrays["data_batch_1"]
    path = tmp_path / "data_batch_1"
    write_python_batch(path, data, labels)
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(DataError, match=r"data_batch_1.*truncated"):
        read_python_batch(path)


def test_foreign_file_is_refused(tmp_path):
    path = tmp_path / "test_batch"
    path.write_text("this is not a CIFAR-10 batch\n")
    with pytest.raises(DataError, match="test_batch"):
        read_python_batch(path)


@pytest.mark.parametrize("bad_label", [10, 255])
def test_impossible_labels_are_named(tmp_path, tiny_arrays, bad_label):
    data, labels = tiny_arrays["data_batch_2"]
    labels = labels.copy()
    labels[7] = bad_label
    write_python_batch(tmp_path / "data_batch_2", data, labels)
    write_binary_batch(tmp_path / "data_batch_2.bin", data, labels)
    with pytest.raises(DataError, match=rf"data_batch_2.*label {bad_label} at record 7.*0\.\.9"):
        read_python_batch(tmp_path / "data_batch_2")
    with pytest.raises(DataError, match=rf"data_batch_2\.bin.*label {bad_label} at record 7"):
        read_binary_batch(tmp_path / "data_batch_2.bin")


def test_wrong_shape_dtype_and_label_count_are_refused(tmp_path, tiny_arrays):
    data, labels = tiny_arrays["data_batch_1"]
    path = tmp_path / "data_batch_1"
    write_python_batch(path, data[:, :3000], labels)
    with pytest.raises(DataError, match=r"data_batch_1.*shape \[N, 3072\]"):
        read_python_batch(path)
    write_python_batch(path, data.astype(np.int32), labels)
    with pytest.raises(DataError, match=r"data_batch_1.*uint8"):
        read_python_batch(path)
    write_python_batch(path, data, labels[:-1])
    with pytest.raises(DataError, match=r"data_batch_1.*'labels' has 39 entries"):
        read_python_batch(path)
    path.write_bytes(pickle.dumps({b"labels": [int(x) for x in labels]}, protocol=2))
    with pytest.raises(DataError, match=r"data_batch_1.*'data' missing"):
        read_python_batch(path)


def test_pickle_that_would_run_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": CodeRunningPickle(marker), b"labels": []}, protocol=2))
    with pytest.raises(DataError, match=r"data_batch_1.*refusing to load global shutil\.copy"):
        read_python_batch(path)
    assert not marker.exists()


@pytest.mark.parametrize("fmt", ["python", "binary"])
def test_missing_or_short_batch_file_is_named(tmp_path, fmt):
    write = write_python_layout if fmt == "python" else write_binary_layout
    folder = write(tmp_path, per_batch=20)
    suffix = "" if fmt == "python" else ".bin"
    (folder / f"data_batch_4{suffix}").unlink()
    with pytest.raises(DataError, match=rf"data_batch_4{suffix}.*missing"):
        read_split(tmp_path, fmt, "train")

    write(tmp_path, per_batch=20)
    # a record-aligned cut still shows: the file holds fewer images than its siblings
    path = folder / f"data_batch_3{suffix}"
    if fmt == "binary":
        path.write_bytes(path.read_bytes()[: 3073 * 12])
    else:
        data, labels = read_python_batch(path).images, read_python_batch(path).labels
        rows = data.transpose(0, 3, 1, 2).reshape(len(data), -1)
        write_python_batch(path, rows[:12], labels[:12])
    with pytest.raises(DataError, match=rf"data_batch_3{suffix}.*holds 12 images but the other batch files hold 20"):
        read_split(tmp_path, fmt, "train")


@pytest.mark.parametrize("fmt", ["python", "binary"])
def test_short_test_batch_is_named(tmp_path, fmt):
    write = write_python_layout if fmt == "python" else write_binary_layout
    folder = write(tmp_path, per_batch=20)
    suffix = "" if fmt == "python" else ".bin"
    path = folder / f"test_batch{suffix}"
    if fmt == "binary":
        path.write_bytes(path.read_bytes()[: 3073 * 15])
    else:
        batch = read_python_batch(path)
        write_python_batch(path, batch.images.transpose(0, 3, 1, 2).reshape(20, -1)[:15], batch.labels[:15])
    with pytest.raises(DataError, match=rf"test_batch{suffix}.*holds 15 images but the other batch files hold 20"):
        read_split(tmp_path, fmt, "test")


def test_float_labels_are_refused(tmp_path, tiny_arrays):
    data, labels = tiny_arrays["data_batch_1"]
    path = tmp_path / "data_batch_1"
    write_python_batch(path, data, labels)
    content = pickle.loads(path.read_bytes())
    content[b"labels"] = [float(x) + 0.5 for x in labels]
    path.write_bytes(pickle.dumps(content, protocol=2))
    with pytest.raises(DataError, match=r"data_batch_1.*'labels' must be a list of integers"):
        read_python_batch(path)


def test_protocol_5_copy_is_read(tmp_path, tiny_arrays):
    data, labels = tiny_arrays["data_batch_1"]
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({"data": data, "labels": [int(x) for x in labels]}, protocol=5))
    np.testing.assert_array_equal(read_python_batch(path).labels, labels)


def test_unreadable_file_is_a_data_error(tmp_path):
    folder = tmp_path / "data_batch_1.bin"
    folder.mkdir()  # a directory where a file should be
    with pytest.raises(DataError, match=r"data_batch_1\.bin: cannot read"):
        read_binary_batch(folder)
