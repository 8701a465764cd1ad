"""Shared fixtures: the public reference vectors and paths to ../shared."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
DATA = Path(__file__).resolve().parent / "data"


def load_vectors() -> list[dict]:
    """Public vectors: ../shared/reference when present (CI has it), else the copy in tests/data."""
    path = SHARED / "reference" / "vectors-public.json"
    if not path.exists():
        path = DATA / "vectors-public.json"
    return json.loads(path.read_text())


def other_terms(vector: dict) -> tuple[float, float]:
    """(maintenance margin, unrealised PnL) of a vector's other cross positions at their marks.

    As the reference README states: qty*mark*mmr - maint_amount and side*qty*(mark - entry).
    """
    mm = upnl = 0.0
    for o in vector.get("others", []):
        sign = 1.0 if o.get("side", "long") == "long" else -1.0
        mm += o["qty"] * o["mark_price"] * o["mmr"] - o["maint_amount"]
        upnl += sign * o["qty"] * (o["mark_price"] - o["entry_price"])
    return mm, upnl


@pytest.fixture(scope="session")
def vectors() -> list[dict]:
    return load_vectors()


# ----------------------------------------------------------------------------- browser
CHROMIUM = "/usr/bin/chromium"  # Debian's package (.ci/run installs it); never a downloaded browser
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "build" / "test-artifacts"  # screenshots kept by browser tests


@pytest.fixture(scope="session")
def chromium():
    """A headless Debian chromium driven by Playwright (one per test worker)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
