"""The course as a learner sees it: JupyterLab in headless Chromium, driven by Playwright.

Lesson 01 runs through the UI (Run → Run All Cells) and must show the doctor line, a plot, a progress bar
rendered as a widget, and no error; every lesson must open with its parameters cell in view. The lessons are
copies in a temporary folder, so nothing is saved into notebooks/. Screenshots go to runs/browser/. Needs
Debian's `chromium` (`.ci/run` installs it); Playwright's own browser download is not used.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from course_utils import config
from course_utils.instructor import runner

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = config.course_root() / "runs" / "browser"
KERNEL_READY = """() => {
  const name = document.querySelector('.jp-NotebookPanel .jp-KernelName');
  const status = document.querySelector('.jp-NotebookPanel .jp-Notebook-ExecutionIndicator');
  return name && !/No Kernel/.test(name.textContent) && status && status.dataset.status === 'idle';
}"""  # the indicator reads "idle" before a kernel exists, so the kernel's name must show too
RUN_FINISHED = """() => {
  const prompts = [...document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell .jp-InputPrompt')]
    .map(p => p.textContent.trim());
  return prompts.length > 0 && /^\\[\\d+\\]/.test(prompts[0]) && !prompts.some(p => p.startsWith('[*]'));
}"""  # Run All queues every cell as [*]; an error clears the rest back to [ ]


@dataclass
class Lab:
    """A running JupyterLab: where it answers, its token, its process and its log."""

    url: str
    token: str
    server: subprocess.Popen
    log: Path

    def check_running(self) -> None:
        """Fail with the server's exit code and the end of its log if it has stopped."""
        if self.server.poll() is not None:
            pytest.fail(f"JupyterLab stopped (exit code {self.server.returncode}); its log ends:\n"
                        f"{self.log.read_text()[-3000:]}")


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def lesson_copy(source: Path, results: Path) -> str:
    """The lesson's JSON, its results sent to `results` instead of runs/ (a learner's stay under runs/)."""
    notebook = json.loads(source.read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            cell["source"] = "".join(cell["source"]).replace("out_dir = None", f"out_dir = {str(results)!r}")
    return json.dumps(notebook)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    """A JupyterLab server on 127.0.0.1 with a token, over copies of the lessons; always stopped."""
    if CHROMIUM is None:
        pytest.skip("Chromium is missing: `apt-get install chromium` (.ci/run does this before make test)")
    pytest.importorskip("playwright", reason="playwright is missing: make setup installs requirements.txt")
    root, home = tmp_path_factory.mktemp("lessons"), tmp_path_factory.mktemp("jupyter")
    for path in runner.notebooks_dir().glob("*.ipynb"):
        (root / path.name).write_text(lesson_copy(path, root / "runs"), encoding="utf-8")
    broken = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code) for code in (
        "print('before')", "raise ValueError('the cell failed')", "print('after')")])  # the error path, seen once
    broken.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(broken, root / "broken.ipynb")
    port, token = free_port(), secrets.token_hex(16)
    command = [str(Path(sys.executable).parent / "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}"]
    command += ["--allow-root"] if os.geteuid() == 0 else []
    # The developer's own JupyterLab settings and workspaces stay out of the test; the course's overrides stay in.
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(home / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(home / "ws"))
    log_path = home / "server.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 120  # generous: the machine may be busy
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=5).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    state = f"exited with {server.returncode}" if server.poll() is not None else "no answer in 120 s"
                    pytest.fail(f"JupyterLab did not start ({state}); its log ends:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.5)
        yield Lab(f"http://127.0.0.1:{port}", token, server, log_path)
    finally:
        # SIGTERM: the server shuts its kernels down; a kernel whose server is gone exits by itself (JPY_PARENT_PID).
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@pytest.fixture(scope="module")
def browser(lab):
    """Headless Debian chromium, closed after the module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def open_lesson(browser, lab, stem: str):
    """A page with the lesson open and its kernel started and idle; a screenshot and a clear failure otherwise."""
    lab.check_running()
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    try:
        # A workspace of its own per lesson: the shared default one would bring back the lesson opened before.
        response = page.goto(f"{lab.url}/lab/workspaces/{stem}/tree/{stem}.ipynb?reset&token={lab.token}")
    except Exception as error:
        lab.check_running()
        pytest.fail(f"JupyterLab at {lab.url} did not serve {stem}: {error}")
    assert response is not None and response.ok, f"JupyterLab answered {response and response.status} for {stem}"
    try:
        page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=120_000)
        page.wait_for_function(KERNEL_READY, timeout=120_000)
        page.wait_for_selector(f".lm-DockPanel-tabBar .lm-mod-current:has-text('{stem}.ipynb')", timeout=30_000)
    except Exception as error:
        lab.check_running()
        screenshot(page, f"{stem}-failed-to-open")
        pytest.fail(f"{stem} did not open with an idle kernel in JupyterLab (see runs/browser/): {error}")
    return page


def screenshot(page, name: str, show=None) -> Path:
    """The visible part of the page, as runs/browser/<name>.png, with `show` (a locator) scrolled to the middle."""
    if show is not None:
        show.evaluate("element => element.closest('.jp-Cell').scrollIntoView({block: 'center'})")
        show.wait_for(state="visible")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))
    return SHOTS / f"{name}.png"


def test_a_stopped_server_fails_with_its_exit_code_and_log(tmp_path):
    log = tmp_path / "server.log"
    log.write_text("[E ServerApp] the port is already in use\n")
    stopped = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    stopped.wait()
    with pytest.raises(pytest.fail.Exception, match=r"(?s)stopped \(exit code 3\).*the port is already in use"):
        Lab("http://127.0.0.1:9", "token", stopped, log).check_running()


def test_the_course_settings_turn_jupyter_news_and_update_checks_off(lab):
    settings = f"{lab.url}/lab/api/settings/@jupyterlab/apputils-extension:notification?token={lab.token}"
    with urllib.request.urlopen(settings) as answer:
        defaults = json.load(answer)["schema"]["properties"]  # jupyter/overrides.json rewrites the schema's defaults
    assert (defaults["fetchNews"]["default"], defaults["checkForUpdates"]["default"]) == ("false", False), \
        "jupyter/overrides.json is not in the course environment: run `make setup`"


def run_all_cells(page, lab, stem: str) -> tuple[list[str], list[str]]:
    """Run → Run All Cells, as a learner does; the code cells' prompts and the errors shown, once it has finished."""
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    try:
        page.wait_for_function(RUN_FINISHED, timeout=300_000)  # lesson 01: 11-25 s on a 2-core machine
    except Exception as error:
        lab.check_running()
        screenshot(page, f"{stem}-failed-to-run")
        pytest.fail(f"Run All Cells did not finish {stem} in 5 minutes (see runs/browser/): {error}")
    # textContent, not innerText: innerText is empty for cells scrolled out of view
    prompts = [prompt.strip() for prompt in page.locator(".jp-CodeCell .jp-InputPrompt").all_text_contents()]
    errors = page.locator(".jp-OutputArea-output", has_text="Traceback").all_text_contents()
    return prompts, errors


def test_a_cell_error_shows_and_stops_run_all(browser, lab):
    page = open_lesson(browser, lab, "broken")
    prompts, errors = run_all_cells(page, lab, "broken")
    assert len(errors) == 1 and "ValueError: the cell failed" in errors[0], errors
    assert re.match(r"\[\d+\]", prompts[0]) and prompts[2] == "[ ]:", f"the cell after the error ran: {prompts}"
    page.close()


def test_lesson_01_runs_all_cells_in_jupyterlab_and_shows_plots_widgets_and_no_error(browser, lab):
    page = open_lesson(browser, lab, "01_intro")
    prompts, errors = run_all_cells(page, lab, "01_intro")
    assert not errors, f"a cell shows an error:\n{errors[0][:2000]}"
    assert all(re.match(r"\[\d+\]", prompt) for prompt in prompts), f"cells left unrun: {prompts}"
    outputs = page.locator(".jp-OutputArea-output")
    assert outputs.filter(has_text=re.compile(r"python 3\.\d+.* \| device (cpu|cuda|mps) \| torch ")).count() == 1, \
        "the doctor line is missing"
    plots = page.locator(".jp-OutputArea-output img[src^='data:image/png']")
    assert plots.count() >= 1, "no plot rendered"
    progress = page.locator(".jp-OutputArea-output .widget-hprogress .progress-bar")
    assert progress.count() >= 1, "no progress bar rendered as an ipywidget"
    assert outputs.filter(has_text=re.compile(r"\d+%\|")).count() == 0, "a progress bar fell back to text"
    assert page.locator(".jp-Notification-Toast").count() == 0, "a notification pop-up covers the lesson"
    screenshot(page, "01_intro-progress-bar", show=progress.first)
    screenshot(page, "01_intro-plot", show=plots.first)
    page.close()


@pytest.mark.parametrize("stem", runner.available_notebooks())
def test_every_lesson_opens_with_its_parameters_cell_in_view(browser, lab, stem):
    page = open_lesson(browser, lab, stem)
    assert page.locator(".jp-Dialog").count() == 0, f"JupyterLab showed a dialog opening {stem}: {page.locator('.jp-Dialog').inner_text()}"
    try:  # JupyterLab renders a notebook's cells progressively: once, only the first code cell was there yet
        page.locator(".jp-CodeCell").nth(1).wait_for(timeout=30_000)
    except Exception:
        pass  # the assert below says what is missing
    assert page.locator(".jp-CodeCell").count() > 1, f"{stem} shows no code cells"
    parameters = page.locator(".jp-CodeCell .jp-InputArea-editor", has_text=re.compile(r'^profile = "ci"', re.M)).first
    screenshot(page, f"{stem}-opened", show=parameters)
    assert parameters.is_visible(), f"{stem}'s parameters cell is not in view"
    page.close()
