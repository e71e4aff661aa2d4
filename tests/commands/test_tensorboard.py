"""Reviewing runs in TensorBoard, checked with TensorBoard itself as the client: its server over two tiny
runs of different recipes, read through the HTTP data API its web page uses, and in a headless browser."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

import tensorboard_client as tb
from helpers import TINY_RUN, run_cli

from cifar import metric_names as M
from cifar.reporting.hparams import METRIC_COLUMNS, SHOWN_FIRST, curated_hparams

SPEEDRUN = ["experiment=speedrun85", "data.val_size=0", "trainer.max_steps=-1"]  # no validation split, 2 epochs


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, tiny_data) -> Path:
    """``outputs/`` of two runs made as a user makes them (default run folders): the default recipe and speedrun85."""
    root = tmp_path_factory.mktemp("review")
    for extra in ([], SPEEDRUN):
        result = run_cli("train", *TINY_RUN, f"paths.data_dir={tiny_data}", "accelerator=cpu", *extra, cwd=root)
        assert result.returncode == 0, result.stderr[-3000:]
    return root / "outputs"


@pytest.fixture(scope="module")
def board(outputs):
    with tb.serve(outputs) as url:
        yield url


def runs_by_recipe(board) -> dict[str, str]:
    runs = tb.get(board, "/data/runs")
    return {("speedrun85" if "speedrun85" in run else "smallnet"): run for run in runs}


def metrics_of(outputs: Path, run: str) -> dict:
    return json.loads((outputs / run / "metrics.json").read_text())


def test_runs_are_named_by_what_ran(board):
    runs = tb.get(board, "/data/runs")
    assert len(runs) == 2
    for run in runs:  # <date>/<time>-<experiment or model>,<overrides>: no "tensorboard" folder, no bare timestamp
        assert re.fullmatch(r"\d{4}-\d\d-\d\d/\d\d-\d\d-\d\d-(smallnet|speedrun85)\+precision-32-true\+.*", run), run
    assert {r.split("-", 5)[-1].split("+")[0] for r in runs} == {"smallnet", "speedrun85"}


def test_hparams_table_has_the_curated_columns_for_both_runs(board, outputs):
    experiment = tb.hparams_experiment(board)
    names = [h["name"] for h in experiment["hparamInfos"]]
    assert sorted(names) == sorted(curated_hparams({}))  # the curated set, not the config dump
    assert not any("_target_" in n or "callbacks" in n or "output_dir" in n for n in names)
    assert [m["name"]["tag"] for m in experiment["metricInfos"]] == list(METRIC_COLUMNS)
    assert {h["name"] for h in experiment["hparamInfos"] if h["differs"]} == set(SHOWN_FIRST)  # ticked at first

    groups = {("speedrun85" if "speedrun85" in g["name"] else "smallnet"): g for g in tb.session_groups(board, experiment)}
    assert set(groups) == {"smallnet", "speedrun85"}
    for recipe, group in groups.items():
        hparams = group["hparams"]
        assert set(hparams) == set(names)  # the same keys for every run: no run loses a column
        metrics = metrics_of(outputs, group["name"])
        shown = {m["name"]["tag"]: m["value"] for m in group["metricValues"]}
        assert shown[M.TEST_ACC] == pytest.approx(metrics[M.TEST_ACC])
        assert shown[M.TEST_LOSS] == pytest.approx(metrics[M.TEST_LOSS])
        assert shown[M.WALL_SECONDS] > 0
    small, speed = groups["smallnet"]["hparams"], groups["speedrun85"]["hparams"]
    assert (small["model"], small["optimizer"], small["experiment"]) == ("smallnet", "adamw", "-")
    assert (speed["model"], speed["optimizer"], speed["experiment"]) == ("speednet", "muon", "speedrun85")
    assert speed["param_groups"].startswith("filters lr=0.17 wd=0 | head lr=0.67")  # the effective rates
    assert small["param_groups"] == "-"
    assert small["data.batch_size"] == "32" and isinstance(small["optimizer.lr"], float)  # counts as written
    assert small["precision"] == "32-true" and speed["tta"] == "flip_translate"
    assert M.VAL_ACC_BEST in {m["name"]["tag"] for m in groups["smallnet"]["metricValues"]}


def test_scalars_compare_across_runs(board):
    runs = runs_by_recipe(board)
    tags = tb.get(board, "/data/plugin/scalars/tags")
    for run in runs.values():
        assert not {"epoch", "hp_metric"} & set(tags[run])  # no jumping epoch chart, no ambiguous hp_metric
        assert {"lr/default", "epoch/acc_train", "epoch/loss_train", "epoch/lr_default", "test/acc"} <= set(tags[run])
        assert not any(t.startswith("lr-") for t in tags[run])  # no optimizer names in the lr tags
    assert {"lr/filters", "lr/head"} <= set(tags[runs["speedrun85"]])
    for run in runs.values():  # the epoch series: one point per epoch, at the epoch (0 = the first)
        assert tb.scalar_steps(board, run, "epoch/acc_train") == [0, 1]
    layout = tb.get(board, "/data/plugin/custom_scalars/layout")
    charts = {(c["title"], ch["title"]): ch["multiline"]["tag"] for c in layout["category"] for ch in c["chart"]}
    assert charts[("per epoch", "accuracy")] == [r"epoch/acc_(train|val)"]  # train and val on one chart


def test_images_sit_at_the_step_of_their_scalars(board):
    run = runs_by_recipe(board)["smallnet"]
    images = tb.get(board, "/data/plugin/images/tags")[run]
    assert {"confusion/val", "confusion/val_counts", "confusion/test", "curves/loss", "samples/test"} <= set(images)
    val_steps = tb.scalar_steps(board, run, "val/acc")
    image_steps = [e["step"] for e in tb.images(board, run, "confusion/val")]
    assert image_steps == val_steps and len(image_steps) == 3  # 2 epochs, then the best checkpoint's validation
    assert [e["step"] for e in tb.images(board, run, "confusion/test")] == tb.scalar_steps(board, run, "test/acc")


def test_figures_fit_a_tensorboard_card(board):
    """Rendered 1:1 inside the card's image box (about 324-372 x 215 px), so nothing is shrunk out of legibility."""
    import io

    from PIL import Image

    run = runs_by_recipe(board)["smallnet"]
    for tag in ("confusion/val", "confusion/test_counts", "curves/accuracy", "samples/test"):
        entry = tb.images(board, run, tag)[-1]
        png = tb.get_bytes(board, f"/data/plugin/images/individualImage?{entry['query']}")
        width, height = Image.open(io.BytesIO(png)).size
        assert width <= 324 and height <= 215, (tag, width, height)


needs_browser = pytest.mark.skipif(not tb.browser_available() and os.environ.get("CI") != "true",
                                   reason="no chromium/chromedriver (apt-get install chromium chromium-driver)")


@needs_browser
def test_what_a_user_sees_in_the_browser(board, outputs):
    runs = runs_by_recipe(board)
    with tb.browser() as driver:
        tb.open_view(driver, board, "hparams")
        rows = ("speedrun85", "muon", "adamw")  # values of both runs: the table's rows have been drawn
        text = tb.wait_for(driver, lambda d: (t := tb.page_text(d)) and all(v in t for v in rows) and t)
        for column in (*SHOWN_FIRST, M.TEST_ACC, M.VAL_ACC_BEST):
            assert column in text
        assert "callbacks/" not in text and "_target_" not in text and "hp_metric" not in text

        tb.open_view(driver, board, "timeseries")
        names = [runs["speedrun85"][:40], runs["smallnet"][:40]]
        tb.wait_for(driver, lambda d: (t := tb.page_text(d)) and all(n in t for n in names))  # both runs listed

        tb.open_view(driver, board, "timeseries", "?tagFilter=confusion%2Fval")
        tb.wait_for(driver, lambda d: [i for i in tb.page_images(d) if i[0] > 0 and i[2] > 0])
        time.sleep(1)  # (the card settles its layout)
        width, height, shown_width, shown_height = next(i for i in tb.page_images(driver) if i[0] > 0)
        assert (shown_width, shown_height) == (width, height)  # the card shows it at its own size
        if os.environ.get("CIFAR_TB_SCREENSHOTS"):
            driver.save_screenshot(os.path.join(os.environ["CIFAR_TB_SCREENSHOTS"], "confusion_card.png"))
