"""Compose run configs the way ``python -m cifar.train`` does, for in-process tests."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"

# small and quick: the tiny data sets of conftest.py, 2 epochs, no worker processes
TINY_RUN = [
    "data.val_size=40",
    "data.batch_size=32",
    "data.num_workers=0",
    "trainer.max_epochs=2",
    "trainer.log_every_n_steps=1",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
]


def compose_run(output_dir: Path, *overrides: str, data_dir: Path | None = None) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(
            "train",
            overrides=[
                f"paths.output_dir={output_dir}",
                f"paths.data_dir={data_dir or Path(output_dir) / 'data'}",
                "data.num_workers=0",
                *overrides,
            ],
        )
