"""The notebooks: committed clean, executed top to bottom, charts valid, widget panels wired.

Each notebook runs once, headless, in a fresh ``python3`` kernel (nbclient, cwd = notebooks/)
with two cells added at execution time (never committed):

* first, a hook on IPython's display formatter that records every object the notebook displays
  (cell results and ``display()`` calls, panels included);
* last, a check that runs in the same kernel and prints a JSON report: every displayed altair
  chart is validated by altair itself (``to_dict(validate=True)``), every displayed
  ``JupyterChart`` (inside panels and widget boxes) has a spec that passes the Vega-Lite schema,
  and every widget panel (:mod:`margin_kit.widgets`) reacts to each of its controls: setting a
  control to another valid value changes the panel's summary, its chart, or its result.
"""

from __future__ import annotations

import inspect
import json
import re
import textwrap
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
EXPECTED = [
    "01_liquidation_formulas",
    "02_isolated_vs_cross",
    "03_position_sizing",
    "04_capital_efficiency",
    "05_stress_replay",
]
FIRST_CODE = "import margin_kit as mk"
MARKER = "MK-NOTEBOOK-REPORT "
INJECTED = "mk-test-injected"

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


# ----------------------------------------------------------------------------- kernel side
# These two functions are sent to the kernel as source (inspect.getsource) and called there.
def _kernel_record_displays() -> None:
    """Wrap IPython's display formatter so that every displayed object is kept in _mk_seen."""
    ip = get_ipython()  # type: ignore[name-defined]  # noqa: F821
    seen: list = []
    fmt = ip.display_formatter
    original = fmt.format

    def record(obj, *args, **kwargs):
        seen.append(obj)
        return original(obj, *args, **kwargs)

    fmt.format = record
    ip.user_ns["_mk_seen"] = seen


def _kernel_report() -> None:
    """Validate every displayed chart and exercise every displayed panel; print a JSON report."""
    import json as _json

    import altair as alt
    import ipywidgets
    from altair.utils.schemapi import validate_jsonschema
    from altair.vegalite.v6.schema import load_schema

    from margin_kit import widgets as mkw

    ip = get_ipython()  # type: ignore[name-defined]  # noqa: F821
    seen = ip.user_ns["_mk_seen"]
    panel_types = tuple(
        obj
        for name, obj in vars(mkw).items()
        if name.endswith("Panel") and isinstance(obj, type) and obj.__module__ == mkw.__name__
    )
    report: dict = {"charts": 0, "jupyter_charts": 0, "models": [], "panels": [], "errors": []}

    def check_chart(label, chart):
        """Altair's own validation of the chart; returns the spec (None if invalid)."""
        try:
            spec = chart.to_dict(validate=True)
        except Exception as exc:
            report["errors"].append(f"{label}: invalid chart: {type(exc).__name__}: {exc}"[:2000])
            return None
        report["charts"] += 1
        return spec

    validated = set()

    def check_jupyter_chart(label, jc):
        """The spec the front end receives: altair-validated, or checked against the schema."""
        if jc.model_id not in report["models"]:
            report["models"].append(jc.model_id)
        key = _json.dumps(jc.spec, sort_keys=True, default=str)
        if key in validated:
            report["jupyter_charts"] += 1
            return
        validated.add(key)
        spec = check_chart(label + ".chart", jc.chart)
        if spec is not None and spec == jc.spec:
            report["jupyter_charts"] += 1
            return
        try:  # the widget's spec is not its chart's: validate what was sent (slower)
            validate_jsonschema(jc.spec, load_schema())
            report["jupyter_charts"] += 1
        except Exception as exc:
            report["errors"].append(f"{label}: invalid spec: {type(exc).__name__}: {exc}"[:2000])

    def walk(label, w, out):
        if isinstance(w, alt.JupyterChart):
            out.append((label, w))
        for i, child in enumerate(getattr(w, "children", ()) or ()):
            walk(f"{label}[{i}]", child, out)

    def jupyter_charts(label, obj):
        out = []
        if isinstance(obj, ipywidgets.Widget):
            walk(label, obj, out)
        return out

    def chart_state(jc):
        return _json.dumps([jc.spec, jc._params], sort_keys=True, default=str)

    def snapshot(panel):
        """What the user sees: the summary, the chart (spec and params), the controls."""
        summary = getattr(panel.summary, "value", panel.summary)
        charts = [chart_state(jc) for _, jc in jupyter_charts("view", panel.view)]
        if isinstance(panel.chart, alt.JupyterChart):
            charts.append(chart_state(panel.chart))
        controls = {k: repr(getattr(c, "value", None)) for k, c in panel.controls.items()}
        return {
            "summary": str(summary),
            "chart": charts,
            "result": repr(panel.result),
            "controls": controls,
        }

    def other_value(ctrl):
        """A valid value different from the control's current one, or None."""
        if hasattr(ctrl, "options") and hasattr(ctrl, "index"):
            n = len(ctrl.options)
            if n < 2 or ctrl.index is None:
                return None
            return ("index", (ctrl.index + 1) % n)
        value = getattr(ctrl, "value", None)
        if isinstance(value, bool):
            return ("value", not value)
        if isinstance(value, int | float) and hasattr(ctrl, "max") and hasattr(ctrl, "min"):
            if hasattr(ctrl, "base"):  # FloatLogSlider: min/max are exponents
                import math

                lo, hi = ctrl.base**ctrl.min, ctrl.base**ctrl.max
                target = math.sqrt(value * (hi if value < math.sqrt(lo * hi) else lo))
            else:
                lo, hi = ctrl.min, ctrl.max
                room_up, room_down = hi - value, value - lo
                step = 0.25 * (hi - lo)
                target = value + step if room_up >= room_down else value - step
                if getattr(ctrl, "step", None):
                    target = lo + round((target - lo) / ctrl.step) * ctrl.step
                    target = min(max(target, lo), hi)
            target = type(value)(target)
            return None if target == value else ("value", target)
        if isinstance(value, int | float):
            return ("value", type(value)(value * 1.25 + 1))
        return None

    def visible(ctrl):
        return ctrl.layout.display != "none" and ctrl.layout.visibility != "hidden"

    def exercise(label, panel, entry, names, depth=0):
        """Move each named control to another value, record what changed, move it back.

        Controls a change reveals (e.g. the crash settings when the source becomes "crash") are
        exercised while it holds, one level deep.
        """
        for name in names:
            ctrl = panel.controls[name]
            change = other_value(ctrl)
            key = name if depth == 0 else f"{name} (revealed)"
            if change is None:
                entry["controls"][key] = "no other value to try"
                continue
            trait, new = change
            old = getattr(ctrl, trait)
            hidden = [n for n, c in panel.controls.items() if not visible(c)]
            before = snapshot(panel)
            try:
                setattr(ctrl, trait, new)
                after = snapshot(panel)
            except Exception as exc:
                report["errors"].append(f"{label}: setting {name}={new!r}: {exc!r}"[:2000])
                continue
            # the control itself moved; what else did?
            after["controls"].pop(name)
            before["controls"].pop(name)
            changed = [k for k in before if before[k] != after[k]]
            entry["controls"][key] = {
                "from": repr(old), "to": repr(new), "changed": changed, "error": panel.error,
            }  # fmt: skip
            for sub, jc in jupyter_charts(label + ".view", panel.view):
                check_jupyter_chart(f"{sub} after {name}={new!r}", jc)
            revealed = [n for n in hidden if visible(panel.controls[n])]
            if revealed and depth == 0:
                exercise(label, panel, entry, revealed, depth + 1)
            setattr(ctrl, trait, old)

    done = set()
    for i, obj in enumerate(seen):
        label = f"display #{i} {type(obj).__name__}"
        if isinstance(obj, alt.TopLevelMixin):
            check_chart(label, obj)
        for sub, jc in jupyter_charts(label, obj):
            check_jupyter_chart(sub, jc)
        if not isinstance(obj, panel_types) or id(obj) in done:
            continue
        done.add(id(obj))
        entry = {"type": type(obj).__name__, "controls": {}, "charts": 0}
        report["panels"].append(entry)
        for sub, jc in jupyter_charts(label + ".view", obj.view):
            check_jupyter_chart(sub, jc)
            entry["charts"] += 1
        if obj.figure() is not getattr(obj.chart, "chart", None):
            check_chart(label + ".figure()", obj.figure())
        exercise(label, obj, entry, [n for n, c in obj.controls.items() if visible(c)])
    print("MK-NOTEBOOK-REPORT " + _json.dumps(report))


def _call_source(func) -> str:
    return textwrap.dedent(inspect.getsource(func)) + f"\n{func.__name__}()\n"


def _injected(func) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(_call_source(func))
    cell.metadata["tags"] = [INJECTED]
    return cell


# ----------------------------------------------------------------------------- tests
def test_the_notebook_set() -> None:
    assert [p.stem for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_clean(path: Path) -> None:
    """Stored without outputs, execution counts or widget state; opens without a kernel picker."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    assert "widgets" not in nb.metadata
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "no code cells"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {i} has stored outputs"
            assert cell.execution_count is None, f"cell {i} has an execution count"
        assert "execution" not in cell.metadata, f"cell {i} has execution timing metadata"
    first = code[0].source
    assert first.startswith(FIRST_CODE) and "charts.setup()" in first


# Results in prose would drift from the package: no decimals, thousands or percentages typed in.
_TYPED_NUMBER = re.compile(r"\d+\.\d+|\d{1,3}(?:,\d{3})+|\d+\s*%")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_prose_types_no_results(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            found = _TYPED_NUMBER.findall(cell.source)
            assert not found, f"markdown cell {i} types numbers {found}; print them from code"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_runs_with_valid_charts_and_wired_widgets(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    n_cells = len(nb.cells)
    nb.cells.insert(0, _injected(_kernel_record_displays))
    nb.cells.append(_injected(_kernel_report))
    client = NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()  # raises CellExecutionError, naming the cell, on any error

    own = nb.cells[1 : 1 + n_cells]
    for i, cell in enumerate(own):
        if cell.cell_type != "code":
            continue
        for out in cell.outputs:
            assert not (out.output_type == "stream" and out.name == "stderr"), (
                f"cell {i} wrote to stderr (a warning in a teaching notebook):\n{out.text[:1000]}"
            )
            assert out.output_type != "error", f"cell {i} raised"
    lines = [
        line
        for out in nb.cells[-1].outputs
        if out.output_type == "stream"
        for line in out.text.splitlines()
        if line.startswith(MARKER)
    ]
    assert len(lines) == 1, nb.cells[-1].outputs
    report = json.loads(lines[0][len(MARKER) :])

    assert report["errors"] == []
    assert report["charts"] >= 1, "the notebook shows no chart"
    assert report["panels"], "the notebook shows no widget panel"
    for panel in report["panels"]:
        assert panel["charts"] >= 1, f"{panel['type']} shows no JupyterChart"
        assert panel["controls"], f"{panel['type']} has no controls"
        for name, outcome in panel["controls"].items():
            assert isinstance(outcome, dict), f"{panel['type']}.{name}: {outcome}"
            assert outcome["error"] is None, (
                f"{panel['type']}: setting {name} from {outcome['from']} to {outcome['to']} "
                f"gave the error {outcome['error']!r}"
            )
            assert outcome["changed"], (
                f"{panel['type']}: setting {name} from {outcome['from']} to {outcome['to']} "
                "changed neither its summary, its chart nor its result"
            )
    # every JupyterChart shown reached the front end: its model is in the saved widget state
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    saved = state.get("state", {})
    assert report["models"]
    for model_id in report["models"]:
        assert model_id in saved, f"JupyterChart {model_id} was never sent to the front end"
