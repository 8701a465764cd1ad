"""Generated HTML opened in headless Debian chromium with every network request blocked.

For the scenario report (default scenario, and one with hostile position names) and for
notebook exports (a fixture notebook, and notebooks/02 once it exists): no request to any host
is attempted, no console error or page error, every chart container holds an SVG (or a canvas)
with marks, every formula is a rendered <math> element with a nonzero box and no raw TeX is
left, the report's summary table shows compare's numbers, and a name like
``<script>alert(1)</script>`` is shown as text while no dialog ever opens. A screenshot of each
page is kept in ``build/test-artifacts/``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from test_report import (
    BREAKOUT,
    HOSTILE,
    assert_summary_matches_compare,
    compare_of,
    fmt,
    small,
    write,
)

from margin_kit import report, scenario

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_NOTEBOOK = Path(__file__).resolve().parent / "data" / "export_fixture.ipynb"
LOCAL = ("file:", "data:", "blob:", "about:")

# Marks of a vega SVG (paths, rects, lines, symbols inside a mark group), or a canvas that has
# drawn pixels: what "a chart was drawn" means here.
CHARTS_DRAWN = """(selector) => Array.from(document.querySelectorAll(selector)).map(el => {
  const svg = el.querySelector('svg');
  if (svg) {
    const marks = svg.querySelectorAll(
      'g[class*="mark-"] path, g[class*="mark-"] rect, g[class*="mark-"] line');
    return {id: el.id, kind: 'svg', marks: marks.length,
            width: svg.getBoundingClientRect().width};
  }
  const canvas = el.querySelector('canvas');
  if (canvas) {
    const ctx = canvas.getContext('2d');
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    let inked = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i + 3] > 0 && (data[i] < 200 || data[i + 1] < 200 || data[i + 2] < 200)) inked++;
    }
    return {id: el.id, kind: 'canvas', marks: inked, width: canvas.width};
  }
  return {id: el.id, kind: 'none', marks: 0, width: 0};
})"""
MATH_BOXES = """() => Array.from(document.querySelectorAll('math')).map(m => {
  const r = m.getBoundingClientRect();
  return [r.width, r.height];
})"""


class Visit:
    """One page load with the network blocked; what the page tried and said."""

    def __init__(self, browser: Any, path: Path) -> None:
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.page.route("**/*", self._route)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.on("dialog", self._dialog)
        self.page.goto(path.as_uri())

    def _route(self, route: Any) -> None:
        url = route.request.url
        if url.startswith(LOCAL):
            route.continue_()
        else:
            self.requests.append(url)
            route.abort()

    def _console(self, msg: Any) -> None:
        if msg.type == "error":
            self.errors.append(f"console: {msg.text}")

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def assert_clean(self) -> None:
        assert self.requests == [], self.requests
        assert self.errors == [], self.errors
        assert self.dialogs == [], self.dialogs

    def assert_math_rendered(self, minimum: int) -> None:
        boxes = self.page.evaluate(MATH_BOXES)
        assert len(boxes) >= minimum
        assert all(w > 0 and h > 0 for w, h in boxes), boxes
        text = self.page.evaluate("document.body.innerText")
        assert not re.search(r"\$[^$\n]*\\[a-zA-Z]+", text), "raw TeX left in the page"
        assert "\\frac" not in text and "\\begin" not in text

    def screenshot(self, artifacts: Path, name: str) -> None:
        self.page.screenshot(path=str(artifacts / name), full_page=True)

    def close(self) -> None:
        self.page.close()


@pytest.fixture(scope="module")
def default_report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    return report.write_report(None, out, quiet=True)


@pytest.fixture(scope="module")
def fixture_export(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "fixture.html"
    return report.export_notebook(FIXTURE_NOTEBOOK, out)


def _report_visit(chromium: Any, path: Path) -> Visit:
    visit = Visit(chromium, path)
    visit.page.wait_for_function(
        "document.body.getAttribute('data-charts') !== null", timeout=30_000
    )
    return visit


# ----------------------------------------------------------------------------- report
def test_default_report_renders_offline(chromium, artifacts, default_report) -> None:
    visit = _report_visit(chromium, default_report)
    try:
        assert visit.page.evaluate("document.body.getAttribute('data-charts')") == "rendered"
        drawn = visit.page.evaluate(CHARTS_DRAWN, "div.vega-chart")
        assert len(drawn) >= 15
        for chart in drawn:
            assert chart["kind"] == "svg" and chart["marks"] > 0 and chart["width"] > 0, chart
        visit.assert_math_rendered(minimum=20)
        # the table as the reader sees it (innerText) is compare's numbers, formatted
        shown = visit.page.evaluate(
            "() => Array.from(document.querySelectorAll('#summary tbody tr')).map(tr =>"
            " Object.fromEntries(Array.from(tr.cells).map(td => [td.dataset.col, td.innerText])))"
        )
        expected = compare_of(scenario.load())
        assert len(shown) == len(expected)
        for row, (_, exp) in zip(shown, expected.iterrows(), strict=True):
            for col, (_label, kind) in report.SUMMARY_COLUMNS.items():
                assert row[col].strip() == fmt(exp[col], kind), (col, row[col], exp[col])
        assert_summary_matches_compare(visit.page.content(), scenario.load())  # exact values
        visit.assert_clean()
        visit.screenshot(artifacts, "report-default.png")
    finally:
        visit.close()


def test_hostile_names_are_text_and_run_nothing(chromium, artifacts, tmp_path) -> None:
    text = small().replace('name = "BTC long"', f'name = "{HOSTILE}"')
    text = text.replace('name = "ETH short"', f'name = "{BREAKOUT}"')
    text = text.replace('title = "Isolated vs cross: demo account"', f'title = "{HOSTILE}"')
    out = report.write_report(write(tmp_path, text), tmp_path / "hostile.html", quiet=True)
    visit = _report_visit(chromium, out)
    try:
        assert visit.page.evaluate("document.body.getAttribute('data-charts')") == "rendered"
        assert visit.page.locator("h1").inner_text() == HOSTILE
        names = visit.page.evaluate(
            "() => Array.from(document.querySelectorAll('#summary td[data-col=position]'))"
            ".map(td => td.innerText)"
        )
        assert HOSTILE in names and BREAKOUT in names
        assert visit.page.evaluate("document.querySelectorAll('script').length") == 2 + len(
            visit.page.evaluate(CHARTS_DRAWN, "div.vega-chart")
        )  # the bundle, the loader and one JSON block per chart: nothing injected
        drawn = visit.page.evaluate(CHARTS_DRAWN, "div.vega-chart")
        assert all(c["marks"] > 0 for c in drawn), drawn
        visit.page.wait_for_timeout(200)
        visit.assert_clean()  # includes: no dialog opened
        visit.screenshot(artifacts, "report-hostile-names.png")
    finally:
        visit.close()


# ----------------------------------------------------------------------------- notebooks
def _assert_export_static(html: str) -> None:
    """Checks on the exported file itself: nothing that needs a CDN, no widget placeholders."""
    assert "application/vnd.jupyter.widget-view+json" not in html
    assert "application/vnd.jupyter.widget-state+json" not in html
    assert "widget-view" not in html.lower().replace("jupyter-widgets", "")
    assert "Loading widget" not in html
    assert "IntSlider(" not in html and "VBox(" not in html
    assert not re.search(r"require(\.min)?\.js|MathJax|mathjax|mermaid|unpkg|jsdelivr|cdnjs", html)
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert html.count("window.vegaEmbed=") + html.count("window.vegaEmbed =") <= 1


def test_fixture_notebook_export_renders_offline(chromium, artifacts, fixture_export) -> None:
    html = fixture_export.read_text("utf-8")
    _assert_export_static(html)
    assert html.count("<math") >= 7
    assert "$" not in re.sub(r"<script.*?</script>", "", html, flags=re.S)  # TeX became MathML
    visit = Visit(chromium, fixture_export)
    try:
        visit.page.wait_for_function(
            "document.querySelectorAll('.vega-embed svg, .vega-embed canvas').length >= 3",
            timeout=30_000,
        )
        visit.page.wait_for_timeout(300)
        drawn = visit.page.evaluate(CHARTS_DRAWN, ".vega-embed")
        assert len(drawn) == 3  # two charts, the panel's last state, nothing for the bare slider
        assert all(c["marks"] > 0 and c["width"] > 0 for c in drawn), drawn
        # 3 inline + 2 display formulas in markdown, 1 Math output, the derivation
        visit.assert_math_rendered(minimum=7)
        text = visit.page.evaluate("document.body.innerText")
        assert "leverage 20x" in text  # the panel's last state, as static HTML
        assert "a bare widget" not in text  # a live-only widget is dropped, not a placeholder
        visit.assert_clean()
        visit.screenshot(artifacts, "export-fixture.png")
    finally:
        visit.close()


NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
RAW_TEX = re.compile(r"\$\$|\\\(|\\\[|\\frac|\\text\{|\\begin\{")


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_export_renders_offline(chromium, artifacts, tmp_path, notebook) -> None:
    """Every walkthrough exports to HTML that draws all its charts and formulas offline."""
    out = report.export_notebook(notebook, tmp_path / f"{notebook.stem}.html")
    html = out.read_text("utf-8")
    _assert_export_static(html)
    visit = Visit(chromium, out)
    try:
        visit.page.wait_for_function(
            "document.querySelectorAll('.vega-embed').length > 0 && "
            "Array.from(document.querySelectorAll('.vega-embed'))"
            ".every(e => e.querySelector('svg, canvas'))",
            timeout=30_000,
        )
        visit.page.wait_for_timeout(300)
        drawn = visit.page.evaluate(CHARTS_DRAWN, ".vega-embed")
        assert drawn and all(c["marks"] > 0 for c in drawn), drawn
        # the derivations notebook is mostly formulas; the others may have a few
        visit.assert_math_rendered(minimum=10 if notebook.stem.startswith("01") else 0)
        text = visit.page.evaluate("document.body.innerText")
        assert not RAW_TEX.search(text), RAW_TEX.search(text)  # no TeX left as text
        visit.assert_clean()
        visit.screenshot(artifacts, f"export-{notebook.stem}.png")
    finally:
        visit.close()
