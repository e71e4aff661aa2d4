"""TensorBoard as the client of our runs: its server over a log folder, its HTTP data API (what its web
page reads), and a headless Chromium that looks at the page as a user does.

Also a tool for the docs' screenshots, from real runs::

    python tests/tensorboard_client.py screenshots OUT_DIR --logdir FOLDER   (or --logdir_spec NAME1:RUN1,...)
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
STATUSES = ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]

# all text on the page, into the shadow roots of TensorBoard's Polymer dashboards
DEEP_TEXT = """
const parts = [];
function walk(node) {
  if (node.nodeType === Node.TEXT_NODE) { const t = node.textContent.trim(); if (t) parts.push(t); return; }
  if (node.nodeType !== Node.ELEMENT_NODE && node.nodeType !== Node.DOCUMENT_FRAGMENT_NODE) return;
  if (node.tagName === 'SCRIPT' || node.tagName === 'STYLE') return;
  if (node.shadowRoot) walk(node.shadowRoot);
  for (const child of node.childNodes) walk(child);
}
walk(document.body);
return parts.join('\\n');
"""
# every <img> on the page (shadow roots too): [natural width, natural height, shown width, shown height]
DEEP_IMAGES = """
const found = [];
function walk(node) {
  if (node.shadowRoot) walk(node.shadowRoot);
  for (const child of node.children || []) {
    if (child.tagName === 'IMG') found.push([child.naturalWidth, child.naturalHeight, child.clientWidth, child.clientHeight]);
    walk(child);
  }
}
walk(document.body);
return found;
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(logdir: Path | None = None, logdir_spec: str | None = None, timeout: float = 60) -> Iterator[str]:
    """``tensorboard`` on a free loopback port over ``logdir`` (or ``logdir_spec``); yields its base URL once
    it lists runs, and stops it at the end."""
    port = free_port()
    where = ["--logdir", str(logdir)] if logdir is not None else ["--logdir_spec", logdir_spec]
    process = subprocess.Popen([sys.executable, "-m", "tensorboard.main", *where, "--host", "127.0.0.1",
                                "--port", str(port), "--load_fast", "false", "--reload_interval", "0"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"tensorboard exited: {process.stderr.read()[-2000:]}")
            with contextlib.suppress(OSError):
                if get(url, "/data/runs"):
                    break
            if time.monotonic() > deadline:
                raise TimeoutError("tensorboard listed no runs")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def get(url: str, path: str, **query: str):
    """JSON from TensorBoard's data API; ``query`` URL-encoded (run names hold ``+``)."""
    with urllib.request.urlopen(url + path + (f"?{urllib.parse.urlencode(query)}" if query else ""),
                                timeout=30) as response:
        return json.loads(response.read())


def get_bytes(url: str, path: str) -> bytes:
    with urllib.request.urlopen(url + path, timeout=30) as response:
        return response.read()


def scalar_steps(url: str, run: str, tag: str) -> list[int]:
    return [step for _, step, _ in get(url, "/data/plugin/scalars/scalars", run=run, tag=tag)]


def images(url: str, run: str, tag: str) -> list[dict]:
    """The image entries of ``tag`` (``step``, ``query`` for ``/data/plugin/images/individualImage``)."""
    return get(url, "/data/plugin/images/images", run=run, tag=tag)


def post(url: str, path: str, body: dict):
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def hparams_experiment(url: str) -> dict:
    return post(url, "/data/plugin/hparams/experiment", {"experimentName": ""})


def session_groups(url: str, experiment: dict) -> list[dict]:
    """Every run's row of the HParams table, with the columns the experiment declares."""
    columns = [{"hparam": h["name"]} for h in experiment["hparamInfos"]]
    columns += [{"metric": m["name"]} for m in experiment.get("metricInfos", [])]
    body = {"experimentName": "", "allowedStatuses": STATUSES, "colParams": columns, "startIndex": 0,
            "sliceSize": 100}
    return post(url, "/data/plugin/hparams/session_groups", body)["sessionGroups"]


def browser_available() -> bool:
    return bool(CHROMIUM and CHROMEDRIVER)


@contextlib.contextmanager
def browser(width: int = 1400, height: int = 1000):
    """Headless Chromium driven by Selenium; WebGL (TensorBoard's charts) through SwiftShader."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},{height}",
                "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver, condition, timeout: float = 45, every: float = 0.5):
    """Polls ``condition(driver)`` until it is truthy; returns its value (raises TimeoutError)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition(driver)
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"the page never showed what was waited for; it shows:\n{page_text(driver)[:3000]}")
        time.sleep(every)


def page_text(driver) -> str:
    return driver.execute_script(DEEP_TEXT)


def page_images(driver) -> list[list[int]]:
    return driver.execute_script(DEEP_IMAGES)


def open_view(driver, url: str, view: str, query: str = "") -> None:
    """A TensorBoard tab (``timeseries``, ``images``, ``hparams``, ``custom_scalars``) in a fresh page."""
    driver.get(f"{url}/{query}#{view}")


def screenshots(out_dir: Path, **where: str) -> list[Path]:
    """The docs' screenshots: the HParams table and the Time Series view of the runs ``serve(**where)`` shows."""
    out_dir.mkdir(parents=True, exist_ok=True)
    saved = []
    with serve(**where) as url, browser(1500, 900) as driver:
        open_view(driver, url, "hparams")
        wait_for(driver, lambda d: "test/acc" in page_text(d))
        time.sleep(2)
        saved.append(out_dir / "tensorboard_hparams.png")
        driver.save_screenshot(str(saved[-1]))
        open_view(driver, url, "timeseries", "?tagFilter=epoch%2Facc")
        wait_for(driver, lambda d: "/acc_train" in page_text(d))  # (a card title shows the tag as "epoch" "/acc_train")
        time.sleep(4)
        saved.append(out_dir / "tensorboard_time_series.png")
        driver.save_screenshot(str(saved[-1]))
    return saved


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] != "screenshots" or sys.argv[3] not in ("--logdir", "--logdir_spec"):
        sys.exit(__doc__)
    for path in screenshots(Path(sys.argv[2]), **{sys.argv[3][2:]: sys.argv[4]}):
        print(path)
