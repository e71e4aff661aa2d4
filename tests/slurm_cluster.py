"""A private single-node SLURM cluster on this machine, for the tests marked ``slurm``.

Debian's ``slurmctld``, ``slurmd`` and ``munge`` (Slurm 22.05) run as plain background processes,
without systemd, with everything in one private temporary folder: the munge key and socket, the
config, state, spool, PID and log files. Loopback addresses and free private ports, so it never
meets a real cluster's daemons. No accounting database: jobs run and finish, ``sacct`` knows nothing
(submitit then reads states from ``squeue`` and warns about ``sacct``; results still arrive).

Every client call needs ``SLURM_CONF``: :meth:`SlurmCluster.env` gives it. As a script,
``python tests/slurm_cluster.py`` starts a cluster, runs ``srun -n2 hostname`` and stops it.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "srun", "squeue", "sinfo", "scancel", "scontrol")
NODE = socket.gethostname()  # (DDP's first rank is found by this name: it must resolve)
PARTITION = "debug"


def missing_programs() -> list[str]:
    return [name for name in (*DAEMONS, *CLIENTS) if shutil.which(name) is None and not Path(f"/usr/sbin/{name}").exists()]


def program(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024 - 1024  # (a little left for the system)
    return 4096


class SlurmCluster:
    partition = PARTITION

    def __init__(self, root: Path | None = None, cpus: int | None = None):
        self.root = Path(root or tempfile.mkdtemp(prefix="slurm-"))
        self.root.chmod(0o700)
        self.cpus = cpus or os.cpu_count() or 2
        self.conf = self.root / "slurm.conf"
        self.processes: dict[str, subprocess.Popen] = {}

    def env(self, **extra: str) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf), **extra}

    def write_config(self) -> None:
        for folder in ("state", "spool", "munge"):
            (self.root / folder).mkdir(exist_ok=True)
        key = self.root / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        ctld_port, slurmd_port = free_ports(2)
        socket_path = self.root / "munge" / "munge.socket"
        self.conf.write_text("\n".join([
            "ClusterName=cifartest",
            f"SlurmctldHost=localhost(127.0.0.1)",
            f"SlurmctldPort={ctld_port}",
            f"SlurmdPort={slurmd_port}",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={socket_path}",
            "SlurmUser=root",
            "SlurmdUser=root",
            f"StateSaveLocation={self.root / 'state'}",
            f"SlurmdSpoolDir={self.root / 'spool'}",
            f"SlurmctldPidFile={self.root / 'slurmctld.pid'}",
            f"SlurmdPidFile={self.root / 'slurmd.pid'}",
            f"SlurmctldLogFile={self.root / 'slurmctld.log'}",
            f"SlurmdLogFile={self.root / 'slurmd.log'}",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "MailProg=/bin/true",
            "ReturnToService=2",
            "SchedulerType=sched/backfill",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_CPU",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "JobCompType=jobcomp/none",
            "KillWait=5",
            "MinJobAge=300",
            "SlurmdParameters=config_overrides",  # the node's CPUs as configured here, more than the machine may have
            f"NodeName={NODE} NodeAddr=127.0.0.1 CPUs={self.cpus} "
            f"RealMemory={memory_mb()} State=UNKNOWN",
            f"PartitionName={PARTITION} Nodes={NODE} Default=YES MaxTime=INFINITE State=UP",
            "",
        ]))
        (self.root / "cgroup.conf").write_text("CgroupPlugin=autodetect\n")  # ("disabled" is not in 22.05)

    def start(self, timeout: float = 30) -> "SlurmCluster":
        self.write_config()
        munge = self.root / "munge"
        self._start("munged", [program("munged"), "--foreground", "--force", f"--key-file={munge / 'munge.key'}",
                               f"--socket={munge / 'munge.socket'}", f"--pid-file={munge / 'munged.pid'}",
                               f"--log-file={munge / 'munged.log'}", f"--seed-file={munge / 'munge.seed'}"])
        self._wait(lambda: (munge / "munge.socket").exists(), timeout, "munged's socket")
        self._start("slurmctld", [program("slurmctld"), "-D", "-i"])
        self._wait(lambda: self._call("scontrol", "ping").returncode == 0 and "UP" in self._call(
            "scontrol", "ping").stdout, timeout, "slurmctld")
        self._start("slurmd", [program("slurmd"), "-D", "-N", NODE])
        self._wait(self.idle, timeout, f"node {NODE} idle")
        return self

    def _start(self, name: str, command: list[str]) -> None:
        log = open(self.root / f"{name}.out", "w")
        self.processes[name] = subprocess.Popen(command, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
                                                start_new_session=True)

    def _call(self, *command: str, timeout: float = 10) -> subprocess.CompletedProcess:
        try:
            return subprocess.run([program(command[0]), *command[1:]], env=self.env(), capture_output=True, text=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(command, 124, "", "timed out")

    def _wait(self, ready, timeout: float, what: str) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            dead = [name for name, p in self.processes.items() if p.poll() is not None]
            if dead:
                raise RuntimeError(f"{', '.join(dead)} stopped while waiting for {what}: see {self.root}/*.log, *.out")
            if ready():
                return
            time.sleep(0.2)
        raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}: see {self.root}/*.log")

    def call(self, *command: str, timeout: float = 10) -> subprocess.CompletedProcess:
        """A client command (``scancel``, ``scontrol``, ...) against this cluster."""
        return self._call(*command, timeout=timeout)

    def jobs(self) -> list[str]:
        """This user's jobs, oldest first."""
        return self._call("squeue", "-h", "-u", getpass.getuser(), "-o", "%i", "--sort=i").stdout.split()

    def job_state(self, job: str) -> str:
        return self._call("squeue", "-h", "-j", job, "-o", "%T").stdout.strip()

    def idle(self) -> bool:
        result = self._call("sinfo", "-h", "-N", "-o", "%T", timeout=5)
        return result.returncode == 0 and result.stdout.strip().rstrip("*") == "idle"

    def stop(self, grace: float = 5) -> None:
        for name in reversed(DAEMONS):  # slurmd, slurmctld, then munged
            process = self.processes.pop(name, None)
            if process is None or process.poll() is not None:
                continue
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:  # a stuck slurmd may ignore SIGTERM
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(grace)
        shutil.rmtree(self.root, ignore_errors=True)


class ExistingCluster(SlurmCluster):
    """A cluster that runs already: ``$CIFAR_SLURM_CONF`` (its slurm.conf) and ``$CIFAR_SLURM_PARTITION``."""

    def __init__(self, conf: str, partition: str):
        self.conf = Path(conf)
        self.partition = partition
        self.processes = {}

    def start(self, timeout: float = 30) -> "ExistingCluster":
        if self._call("sinfo", "-h", "-p", self.partition).returncode != 0:
            raise RuntimeError(f"CIFAR_SLURM_CONF={self.conf}: sinfo does not answer for partition {self.partition}")
        return self

    def stop(self, grace: float = 5) -> None:
        pass


if __name__ == "__main__":
    started = time.time()
    cluster = SlurmCluster().start()
    print(f"idle after {time.time() - started:.1f} s in {cluster.root}")
    try:
        t = time.time()
        result = cluster.call("srun", "-n2", "hostname")
        print(result.stdout.strip(), result.stderr.strip(), f"({time.time() - t:.2f} s)")
    finally:
        cluster.stop()
