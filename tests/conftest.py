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
def frost_photographs(tmp_path_factory) -> Path:
    """A folder of the five frost photographs CIFAR-10-C overlays, fetched once a session from PyPI (the
    imagecorruptions wheel, about 2 MB) by the project's own checked path (read-only: do not modify)."""
    from cifar.evaluation import frost

    return frost.ensure(tmp_path_factory.mktemp("frost"))


@pytest.fixture(scope="session")
def tiny_arrays():
    """The rows and labels written into every batch file of ``tiny_data``."""
    return layout_arrays(PER_BATCH)


@pytest.fixture(scope="session")
def slurm_cluster():
    """A private single-node SLURM cluster for the tests marked ``slurm`` (tests/slurm_cluster.py): started
    once, stopped at the end. Without root or Debian's slurm packages the tests skip, except under CI=true
    (.ci/run installs the packages), where they fail instead."""
    import os

    from slurm_cluster import ExistingCluster, SlurmCluster, missing_programs

    if os.environ.get("CIFAR_SLURM_CONF"):  # a real cluster instead (docs/slurm.md)
        yield ExistingCluster(os.environ["CIFAR_SLURM_CONF"], os.environ.get("CIFAR_SLURM_PARTITION", "debug")).start()
        return
    missing = missing_programs()
    reason = (f"SLURM programs missing: {', '.join(missing)} (apt-get install slurmctld slurmd slurm-client munge)"
              if missing else "the private SLURM cluster runs its daemons as root" if os.geteuid() != 0 else "")
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: {reason}")
        pytest.skip(reason)
    cluster = SlurmCluster(cpus=4).start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def mlflow_server():
    """The URL of a real MLflow server (tests/mlflow_server.py), started once from the environment `make install`
    builds (.mlflow-server/). Without that environment the tests skip, except under CI=true, where they fail."""
    import os

    import mlflow_server as server

    if not server.available():
        reason = f"no MLflow server environment at {server.ENVIRONMENT} (make mlflow-server)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: {reason}")
        pytest.skip(reason)
    with server.serve() as url:
        yield url
