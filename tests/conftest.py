from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # `from helpers import ...` in every test folder

from helpers import layout_arrays, write_binary_layout, write_folder_layout, write_python_layout  # noqa: E402

PER_BATCH = 40  # images per batch file: 200 train, 40 test


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """A data_dir holding both official layouts of a tiny CIFAR-10 (read-only: do not modify)."""
    root = tmp_path_factory.mktemp("tiny_cifar")
    write_python_layout(root, PER_BATCH)
    write_binary_layout(root, PER_BATCH)
    return root


@pytest.fixture(scope="session")
def tiny_folders(tmp_path_factory) -> Path:
    """The same tiny CIFAR-10 as image folders, train/<class>/*.png and test/<class>/*.png (read-only)."""
    return write_folder_layout(tmp_path_factory.mktemp("tiny_folders"), PER_BATCH)


@pytest.fixture(scope="session")
def tiny_arrays():
    """The rows and labels written into every batch file of ``tiny_data``."""
    return layout_arrays(PER_BATCH)
