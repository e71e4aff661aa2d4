"""What a SLURM job asks for, from the run's own settings (``conf/hydra/launcher/slurm.yaml``).

The launcher's resources follow the run: GPUs only for ``accelerator=gpu``, one task per device (SLURM
starts the processes, and Lightning sees them as its ranks), CPUs for the main process and the
data-loader workers. Each is a resolver, so the launcher config reads
``gpus_per_node: ${cifar_slurm_gpus:${trainer.accelerator},${trainer.devices}}`` and any of them can
still be set outright (``hydra.launcher.gpus_per_node=2``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cifar.errors import ConfigError, is_int

GPU_ACCELERATORS = ("gpu", "cuda")


def _device_count(devices: Any, accelerator: str) -> int:
    if is_int(devices, 1):
        return devices
    if isinstance(devices, str) and devices.isdigit() and int(devices) >= 1:
        return int(devices)
    raise ConfigError(f"trainer.devices={devices!r}: a SLURM job needs a number of devices (e.g. trainer.devices=2) "
                      f"to ask the cluster for them (accelerator {accelerator})")


def slurm_gpus(accelerator: str, devices: Any) -> int | None:
    """GPUs per node: the run's devices on ``accelerator=gpu``; none otherwise (``auto`` asks for none:
    say ``accelerator=gpu`` to get GPUs)."""
    return _device_count(devices, accelerator) if accelerator in GPU_ACCELERATORS else None


def slurm_tasks(devices: Any, accelerator: str) -> int:
    """Tasks per node: one per device. SLURM starts them, and Lightning, seeing as many tasks as devices,
    takes them as its ranks instead of starting processes of its own."""
    return _device_count(devices, accelerator)


def check_job_tasks(devices: Any, num_nodes: Any, environ: dict[str, str]) -> None:
    """Inside a SLURM job, the job's tasks must be the run's processes, one per device on every node:
    otherwise Lightning starts its own processes inside the job (which breaks it), or every task trains
    the same run."""
    if not in_batch_job(environ) or "SLURM_NTASKS" not in environ:
        return  # not a batch job (an interactive shell on a node is a machine like any other)
    if not (is_int(devices, 1) and is_int(num_nodes, 1)):
        return
    tasks = int(environ["SLURM_NTASKS"])
    if tasks != devices * num_nodes:
        raise ConfigError(
            f"this SLURM job runs {tasks} task(s), but trainer.devices={devices} x trainer.num_nodes={num_nodes} "
            f"asks for {devices * num_nodes} process(es): give the job one task per device "
            "(hydra.launcher.tasks_per_node=trainer.devices, its default) or change trainer.devices")


def slurm_cpus(num_workers: Any) -> int:
    """CPUs per task: the training process and its data-loader workers."""
    return 1 + int(num_workers)  # (the datamodule checks data.num_workers)


# -- time limits and preemption --------------------------------------------------------------------
# One mechanism owns the signal: submitit's (the launcher's). Before the time limit (USR2, signal_delay_s
# ahead) or on preemption it requeues the job with the same arguments; the requeued job finds its run's
# last.ckpt and resumes from it, at an epoch's end, so exactly (as a resume after a kill). Lightning's own
# SLURM auto-requeue (USR1, a mid-epoch checkpoint) is switched off, so the two never both requeue.


def in_batch_job(environ: dict[str, str]) -> bool:
    return "SLURM_JOB_ID" in environ and environ.get("SLURM_JOB_NAME") not in ("bash", "interactive")


def cluster_plugins(environ: dict[str, str]) -> list[Any]:
    """Inside a SLURM batch job: Lightning's SLURM environment, without its auto-requeue."""
    if not in_batch_job(environ) or "SLURM_NTASKS" not in environ:
        return []
    from lightning.pytorch.plugins.environments import SLURMEnvironment

    return [SLURMEnvironment(auto_requeue=False)]


def requeued_checkpoint(output_dir: str | Path, environ: dict[str, str]) -> Path | None:
    """The checkpoint a requeued SLURM job resumes from: its run's last.ckpt, once the job has restarted."""
    if not in_batch_job(environ) or int(environ.get("SLURM_RESTART_COUNT", "0") or 0) < 1:
        return None
    last = Path(output_dir) / "checkpoints" / "last.ckpt"
    return last if last.is_file() else None
