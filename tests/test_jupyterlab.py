"""A real JupyterLab, driven by Playwright with Debian's chromium: the widgets work end to end.

The test starts ``jupyter lab`` on loopback (no token, a throwaway copy of notebooks/, its own
settings, workspaces and runtime directories, news and update checks off), opens
``02_isolated_vs_cross.ipynb``, runs all cells, moves the account panel's leverage slider with
the keyboard and checks that the liquidation price shown and the chart both change after the
kernel round trip. Every request the browser makes must stay on loopback. A screenshot is kept
in ``build/test-artifacts/``. The server is stopped by its PID.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = "02_isolated_vs_cross.ipynb"
JUPYTER = Path(sys.executable).parent / "jupyter"
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
OVERRIDES = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/extensionmanager-extension:plugin": {"enabled": False},
}

KERNEL_IDLE = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.status === 'idle';
}"""
# The chart as drawn: the SVG's markup, or the canvas's pixels when vega renders to a canvas.
CHART_STATE = """() => {
  const root = document.querySelector('.mk-chart');
  if (!root) return null;
  const svg = root.querySelector('svg.marks');
  if (svg) return svg.outerHTML;
  const canvas = root.querySelector('canvas');
  return canvas ? canvas.toDataURL() : null;
}"""
CHART_CHANGED = f"(before) => {{ const s = ({CHART_STATE})(); return s !== null && s !== before; }}"
DIGIT = re.compile(r"\d")
ERROR_OUTPUT = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A JupyterLab server on 127.0.0.1 serving a copy of notebooks/; yields its base URL."""
    tmp = tmp_path_factory.mktemp("lab")
    root = tmp / "notebooks"
    root.mkdir()
    for nb in (ROOT / "notebooks").glob("*.ipynb"):
        shutil.copy(nb, root)
    settings = tmp / "app-settings"
    settings.mkdir()
    (settings / "overrides.json").write_text(json.dumps(OVERRIDES))
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp / "user-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "workspaces"),
    }
    env.pop("MARGIN_KIT_RENDER", None)  # live widgets, not the static export renderer
    port = _free_port()
    log = tmp / "server.log"
    cmd = [
        str(JUPYTER), "lab", "--allow-root", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        "--ServerApp.port_retries=0", "--IdentityProvider.token=", "--ServerApp.password=",
        "--LabApp.expose_app_in_browser=True", f"--ServerApp.root_dir={root}",
        f"--LabApp.app_settings_dir={settings}",
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(base + "/api/status", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.2)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)  # the server shuts its kernels down on SIGTERM
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _liquidation_price(name: str, leverage: float) -> float:
    """The default scenario's liquidation price of position ``name`` (as held) at ``leverage``."""
    from margin_kit import Account, scenario

    account = scenario.load(scenario.default_path()).account
    positions = [p.with_(leverage=leverage) if p.name == name else p for p in account.positions]
    moved = Account(account.wallet_balance, positions, name=account.name)
    return float(moved.liquidation_prices().loc[name, "liquidation_price"])


def test_leverage_slider_moves_liquidation_price_and_chart(lab, chromium, artifacts) -> None:
    from playwright.sync_api import expect

    external: list[str] = []
    errors: list[str] = []
    context = chromium.new_context(viewport={"width": 1500, "height": 1000})

    def record(url: str) -> None:
        parts = urlparse(url)
        if parts.scheme in ("data", "blob", "about") or parts.hostname in LOOPBACK:
            return
        external.append(url)

    context.on("request", lambda request: record(request.url))
    page = context.new_page()
    page.on("websocket", lambda ws: record(ws.url))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    shot = artifacts / NOTEBOOK.replace(".ipynb", ".png")
    try:
        page.goto(f"{lab}/lab/tree/{NOTEBOOK}")
        page.wait_for_function(KERNEL_IDLE, timeout=60_000)
        # more room for the notebook; then run it like a user would (Run > Run All Cells)
        page.evaluate("window.jupyterapp.commands.execute('application:toggle-left-area')")
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")

        liq = page.locator(".mk-liq").first
        expect(liq).to_contain_text(DIGIT, timeout=60_000)
        page.wait_for_function(CHART_STATE, timeout=30_000)
        page.wait_for_function(KERNEL_IDLE, timeout=60_000)  # every cell has run
        page.wait_for_timeout(300)  # let vega finish drawing
        before_text = liq.inner_text()
        before_chart = page.evaluate(CHART_STATE)

        handle = page.locator(".mk-leverage .noUi-handle").first
        handle.scroll_into_view_if_needed()
        handle.focus()
        for _ in range(3):
            page.keyboard.press("ArrowRight")
        expect(liq).not_to_have_text(before_text, timeout=20_000)
        page.wait_for_function(CHART_CHANGED, arg=before_chart, timeout=20_000)
        page.wait_for_function(KERNEL_IDLE, timeout=20_000)
        # the number shown is the package's for what the controls show
        name = page.locator(".mk-position select option:checked").first.inner_text()
        name = name.replace("\xa0", " ").strip()
        leverage = float(page.locator(".mk-leverage .widget-readout").first.inner_text())
        expected = _liquidation_price(name, leverage)
        expect(liq).to_have_text(f"{expected:,.2f}", timeout=20_000)
        after_text = liq.inner_text()
        page.wait_for_timeout(300)
        liq.scroll_into_view_if_needed()
        page.locator(".mk-chart").first.scroll_into_view_if_needed()
    except Exception as exc:  # say what the notebook showed, not only what timed out
        shown = page.locator(ERROR_OUTPUT).all_inner_texts()
        raise AssertionError(f"{exc}\nerrors shown in the notebook: {shown}") from exc
    finally:
        page.screenshot(path=str(shot))
        cell_errors = page.locator(ERROR_OUTPUT).all_inner_texts()
        context.close()
    assert cell_errors == [], cell_errors
    assert before_text != after_text
    assert leverage > 10  # moved right from the scenario's 10x
    assert errors == []
    assert external == [], f"requests left the machine: {external}"
    assert shot.stat().st_size > 10_000
