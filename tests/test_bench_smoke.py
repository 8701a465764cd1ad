"""The benchmark script runs end to end (no timing assertions: machines differ)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_liquidation.py"


def test_benchmark_quick_runs_and_prints_four_rates() -> None:
    pytest.importorskip("numba")
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for label in ("(a) margin_kit (compiled)", "(a') margin_kit, numpy", "(b) python", "(c) numba"):
        line = next((ln for ln in out.splitlines() if ln.startswith(label)), None)
        assert line is not None, out
        assert re.search(r"\d+\.\d+ M/s", line), line
    assert "margin_kit / python loop" in out
    assert "margin_kit / numba" in out
    assert "max relative difference" in out
    assert "a and a' bit for bit" in out


WIDGETS_SCRIPT = SCRIPT.parent / "bench_widgets.py"


def test_widgets_benchmark_quick_runs_and_prints_every_panel() -> None:
    proc = subprocess.run(
        [sys.executable, str(WIDGETS_SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in os.environ.items() if k != "MARGIN_KIT_RENDER"},
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for panel in ("PositionPanel", "AccountPanel", "SizingPanel", "CapitalPanel", "ReplayPanel"):
        line = next((ln for ln in out.splitlines() if ln.startswith(panel)), None)
        assert line is not None, out
        assert re.search(r"\d+\.\d ms .* \d+\.\dx  (met|NOT met)$", line), line
    assert "slowest leverage change" in out
