"""Results over seeds: the sweep summary's table by recipe and ``python -m cifar.report``."""

from __future__ import annotations

import csv
import json
import shutil
import statistics
from pathlib import Path

import pytest

from cifar import metric_names as M
from cifar.report import report
from cifar.reporting.results import ReportError
from helpers import TINY_RUN, job_folders, run_cli


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, tiny_data) -> Path:
    """Two recipes (two learning rates) x two seeds, run as one multirun."""
    sweep = tmp_path_factory.mktemp("seeds") / "sweep"
    result = run_cli("train", "-m", *TINY_RUN, "trainer.max_epochs=1", "logger=none", f"paths.data_dir={tiny_data}",
                     "optimizer.lr=0.001,0.003", "seed=1,2", f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stderr[-3000:]
    return sweep


def metrics_of(sweep: Path) -> list[dict]:
    return [json.loads((job / "metrics.json").read_text()) for job in job_folders(sweep)]


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_the_sweep_summary_has_one_row_per_recipe_with_the_mean_and_std_over_seeds(sweep):
    rows = read_rows(sweep / "summary_by_recipe.csv")
    assert len(rows) == 2 and [r["n"] for r in rows] == ["2", "2"]
    for row in rows:
        lr = float(row["recipe"].split("optimizer.lr=")[1].split()[0])
        runs = [m for m in metrics_of(sweep) if m["config"]["optimizer"]["lr"] == lr]
        accs = [m[M.TEST_ACC] for m in runs]
        assert float(row[f"{M.TEST_ACC} mean"]) == pytest.approx(statistics.mean(accs))
        assert float(row[f"{M.TEST_ACC} std"]) == pytest.approx(statistics.stdev(accs))
        assert float(row[f"{M.VAL_ACC_BEST} mean"]) == pytest.approx(statistics.mean(m[M.VAL_ACC_BEST] for m in runs))
        assert sorted(row["seeds"].split(";")) == ["1", "2"] and row["machine"].startswith("cpu: ")
    assert "By recipe (runs that differ only in their seed):" in (sweep / "summary.md").read_text()


def test_report_groups_runs_from_many_folders_and_names_the_unfinished(tmp_path, sweep):
    crashed = shutil.copytree(job_folders(sweep)[0], tmp_path / "crashed")
    (crashed / "metrics.json").unlink()  # killed mid-run: .hydra/ but no metrics.json
    failed = shutil.copytree(job_folders(sweep)[2], tmp_path / "failed")  # (jobs 0 and 2 are the two recipes)
    metrics = json.loads((failed / "metrics.json").read_text())
    (failed / "metrics.json").write_text(json.dumps({**metrics, "status": "failed", "error": "DivergedError: nan"}))

    table = report([str(sweep), str(tmp_path / "c*"), str(failed)], csv_file=str(tmp_path / "table.csv"))
    rows = read_rows(tmp_path / "table.csv")
    assert [(r["n"], r["failed"]) for r in rows] == [("2", "1"), ("2", "1")]  # the copies join their recipes
    assert f"`{crashed}` (incomplete): no metrics.json" in table
    assert f"`{failed}` (failed): DivergedError: nan" in table
    lines = [line for line in table.splitlines() if line.startswith("| `")]
    assert len(lines) == 2 and all("± " in line for line in lines)


def test_report_groups_by_chosen_keys_and_refuses_a_folder_without_runs(tmp_path, sweep):
    rows = report([str(sweep)], by="seed").splitlines()
    assert sum(line.startswith("| `seed=") for line in rows) == 2  # two seeds, each over both learning rates
    evaluation = tmp_path / "evaluate" / ".hydra"  # an evaluate folder: a Hydra config, but not a training run
    evaluation.mkdir(parents=True)
    (evaluation / "config.yaml").write_text("ckpt_path: x.ckpt\ntta: none\n")
    with pytest.raises(ReportError, match=r"evaluate: not a run folder"):
        report([str(tmp_path / "evaluate")])
    (tmp_path / "notes").mkdir()
    with pytest.raises(ReportError, match=r"notes: not a run folder \(no metrics\.json or \.hydra/\) and holds no runs"):
        report([str(sweep), str(tmp_path / "notes")])
    result = run_cli("report", str(tmp_path / "notes"))
    assert result.returncode == 2 and result.stderr.strip().startswith("error: ") and len(result.stderr.splitlines()) == 1


def test_the_test_ece_is_averaged_per_recipe_and_has_a_column_only_where_runs_logged_it(tmp_path, sweep):
    rows = read_rows(sweep / "summary_by_recipe.csv")
    for row in rows:
        lr = float(row["recipe"].split("optimizer.lr=")[1].split()[0])
        eces = [m[M.TEST_ECE] for m in metrics_of(sweep) if m["config"]["optimizer"]["lr"] == lr]
        assert float(row[f"{M.TEST_ECE} mean"]) == pytest.approx(statistics.mean(eces))
    assert "| test ECE |" in report([str(sweep)])
    older = shutil.copytree(sweep, tmp_path / "older")  # runs made before the test step logged the ECE
    for job in job_folders(older):
        metrics = json.loads((job / "metrics.json").read_text())
        del metrics[M.TEST_ECE]
        (job / "metrics.json").write_text(json.dumps(metrics))
    table = report([str(older)])
    assert "ECE" not in table and table.splitlines()[0].endswith("| test loss | epochs | s / epoch (fastest) | training PFLOP per run | failed |")


def test_a_recipe_with_a_write_up_figure_gets_it_and_the_gap_beside_its_mean(tmp_path, sweep):
    assert "write-up" not in report([str(sweep)])  # no experiment= on these runs' command lines
    job = shutil.copytree(job_folders(sweep)[0], tmp_path / "basiccnn")
    (job / ".hydra" / "overrides.yaml").write_text("- experiment=basiccnn\n- seed=1\n- accelerator=cpu\n")
    ours = json.loads((job / "metrics.json").read_text())[M.TEST_ACC]
    table = report([str(job)], csv_file=str(tmp_path / "table.csv"))
    assert table.splitlines()[0].endswith("| failed | write-up (official files) | gap, points |")
    assert table.splitlines()[2].endswith(f"| 0 | 77.63% test | {77.63 - 100 * ours:.1f} |")
    assert float(read_rows(tmp_path / "table.csv")[0]["gap (points)"]) == pytest.approx(77.63 - 100 * ours)
    (job / ".hydra" / "overrides.yaml").write_text("- experiment=basiccnn\n- trainer.max_epochs=1\n")
    assert "write-up" not in report([str(job)])  # a shortened recipe is not the write-up's


def test_the_records_of_a_table_rebuild_it_without_the_runs(tmp_path, sweep):
    outputs = shutil.copytree(sweep, tmp_path / "outputs" / "seeds")  # (moved away below: only the records stay)
    table = report([str(outputs)], records=str(tmp_path / "records"))
    kept = tmp_path / "records" / "seeds"
    jobs = [job.name for job in job_folders(outputs)]
    assert sorted(p.name for p in kept.iterdir()) == sorted(jobs)  # each job keeps its path below the PATH's parent
    assert sorted(str(p.relative_to(kept / jobs[0])) for p in (kept / jobs[0]).rglob("*") if p.is_file()) == [
        ".hydra/config.yaml", ".hydra/overrides.yaml", "curves.csv", "metrics.json"]  # no checkpoints, logs, figures
    shutil.rmtree(outputs)
    assert report([str(kept)]) == table  # the same figures, the fastest epoch included
    again = run_cli("report", str(kept), "--records", str(tmp_path / "records"))  # copying onto itself: unchanged
    assert again.returncode == 0 and again.stdout.strip() == table


def test_runs_of_one_recipe_on_two_machines_get_one_speed_per_machine(tmp_path, sweep):
    jobs = [j for j in job_folders(sweep) if "optimizer.lr=0.001" in (j / ".hydra" / "overrides.yaml").read_text()]
    assert len(jobs) == 2
    copies = [shutil.copytree(job, tmp_path / job.name) for job in jobs]
    metrics = json.loads((copies[1] / "metrics.json").read_text())
    (copies[1] / "metrics.json").write_text(json.dumps({**metrics, "machine": "cpu: Other CPU, 2 threads"}))
    with open(copies[1] / "curves.csv", newline="") as fh:
        curves = list(csv.DictReader(fh))
    for row in curves:
        row["seconds"] = "99.0"
    with open(copies[1] / "curves.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(curves[0]))
        writer.writeheader()
        writer.writerows(curves)

    table = report([str(tmp_path)], csv_file=str(tmp_path / "table.csv"))
    (line,) = [line for line in table.splitlines() if line.startswith("| `")]
    seed = json.loads((copies[1] / "metrics.json").read_text())["config"]["seed"]
    assert f"cpu: Other CPU, 2 threads (seed {seed})" in line and "| 2 |" in line  # one row, both seeds averaged
    assert "; 99.0 (99.0) |" in line  # the other machine's speed stands beside the first one's, not averaged in
    (row,) = read_rows(tmp_path / "table.csv")
    assert row["seconds per epoch"].split(";")[1] == "99.0" and row["machine"].split(";")[1] == "cpu: Other CPU, 2 threads"


def test_epochs_are_those_trained_and_a_disturbed_epoch_is_named_not_fastest(tmp_path, sweep):
    """A run that max_steps ends part way through its last epoch shows the fraction; that short epoch is not
    its fastest; an epoch over 3x the median (other work on the machine) is named under both tables."""
    job = shutil.copytree(job_folders(sweep)[0], tmp_path / "run")
    metrics = json.loads((job / "metrics.json").read_text())
    (job / "metrics.json").write_text(json.dumps({**metrics, "epochs_trained": 2.5, "fit_seconds": 600.0}))
    with open(job / "curves.csv", newline="") as fh:
        curves = list(csv.DictReader(fh))
    curves = [{**curves[0], "epoch": str(i), "seconds": str(s)} for i, s in enumerate([10.0, 11.0, 50.0, 3.0])]
    with open(job / "curves.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(curves[0]))
        writer.writeheader()
        writer.writerows(curves)
    full = report([str(job)])
    (line,) = [line for line in full.splitlines() if line.startswith("| `")]
    assert "| 2.5 |" in line and "| 11.0 (10.0) |" in line  # median and fastest of the full epochs (not the 3 s one)
    seed = metrics["config"]["seed"]
    assert f"seed {seed}, epoch 2: 50 s" in full.split("Disturbed epochs")[1]
    brief = report([str(job)], brief=True)
    assert brief.splitlines()[0] == "| recipe | test acc, mean ± std | n | epochs | time per run (machine) |"
    assert "| 2.5 | 10.0 min (" in brief and f"seed {seed}, epoch 2: 50 s" in brief


def test_each_write_up_figure_is_stated_in_its_recipes_own_file():
    from cifar import CONF_DIR
    from cifar.reporting.results import FIGURES
    from cifar.reporting.write_ups import reported_for, write_up

    stated = {p.stem: write_up(p.stem) for p in sorted((CONF_DIR / "experiment").glob("*.yaml"))}
    assert {name for name, figure in stated.items() if figure} == {"basiccnn", "compactnet", "netv2", "speedrun94", "speedrun94_2025"}
    assert all(f.metric in FIGURES and 0 < f.value < 1 for f in stated.values() if f)
    assert reported_for("experiment=basiccnn accelerator=cpu") == stated["basiccnn"]
    assert reported_for("experiment=basiccnn trainer.max_epochs=1") is None  # a shortened run is another recipe


def test_a_class_that_moved_to_another_module_keeps_its_recipe():
    from cifar.reporting.results import recipe

    before = {"seed": 0, "callbacks": {"curves": {"_target_": "cifar.callbacks.TrainingCurvesCallback"}}}
    after = {"seed": 1, "callbacks": {"curves": {"_target_": "cifar.reporting.callbacks.training_curves.TrainingCurvesCallback"}}}
    other = {"seed": 1, "callbacks": {"curves": {"_target_": "cifar.reporting.callbacks.sample_predictions.SamplePredictionsCallback"}}}
    assert recipe(before) == recipe(after)  # records made before the callbacks moved join the new runs' row
    assert recipe(after) != recipe(other)


def test_training_flops_per_run_are_its_steps_times_one_step_of_its_network_at_its_batch(tmp_path, sweep):
    from hydra.utils import instantiate

    from cifar.models.flops import train_step_flops
    from cifar.reporting.results import read_run

    job = job_folders(sweep)[0]
    run = read_run(job)
    config = run.config
    per_step = train_step_flops(instantiate(config["model"]), config["data"]["batch_size"])
    assert run.train_flops == run.metrics["steps"] * per_step > 0
    table = report([str(job)])
    assert f"| {run.train_flops / 1e15:.3g} |" in table.splitlines()[2]
