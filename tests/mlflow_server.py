"""A real MLflow server for the tracker tests: the one `make mlflow-server` installs in its own environment
(``.mlflow-server/``, with SQLAlchemy 2), on a SQLite database and an artifact folder in a private temporary
folder, on a free loopback port. As a script, ``python tests/mlflow_server.py`` starts one and prints its URL."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from collections.abc import Iterator

from helpers import ROOT

ENVIRONMENT = ROOT / ".mlflow-server"
PYTHON = ENVIRONMENT / "bin" / "python"


def available() -> bool:
    return PYTHON.is_file()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(timeout: float = 120.0) -> Iterator[str]:
    """The URL of a fresh server; stopped, and its folder removed, on exit."""
    with tempfile.TemporaryDirectory(prefix="mlflow-server-") as folder:
        port = free_port()
        log = open(Path(folder) / "server.log", "w")
        server = subprocess.Popen(
            [str(PYTHON), "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{folder}/mlflow.db",
             "--artifacts-destination", f"{folder}/artifacts", "--host", "127.0.0.1", "--port", str(port),
             "--workers", "1"],
            stdout=log, stderr=subprocess.STDOUT, cwd=folder, env={**os.environ, "MLFLOW_ALLOW_FILE_STORE": ""},
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    with urllib.request.urlopen(url + "/health", timeout=2) as answer:
                        if answer.status == 200:
                            break
                except OSError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    raise RuntimeError(f"the MLflow server did not start: {(Path(folder) / 'server.log').read_text()[-2000:]}")
                time.sleep(0.5)
            yield url
        finally:
            os.killpg(server.pid, 15)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, 9)
            log.close()


if __name__ == "__main__":
    with serve() as address:
        print(address)
        input("serving; press Enter to stop")
