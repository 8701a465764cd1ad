"""Widget panels: time of one control change on the default scenario, against re-running the cell.

For each panel of :mod:`margin_kit.widgets` built on the default scenario (its live
``JupyterChart`` created, as in JupyterLab), one change is: set a control's ``value`` -> the
callback recomputes, writes the summary and updates the chart (a Vega parameter when only the
leverage marker moves, else a new spec assigned to ``jc.chart``, which serialises and validates
it). Timed: every control of every panel, each flipped between two values (numbers by one
slider step or 10 %, choices to the next option; the chart choice to each of its charts), plus
the history controls of a :class:`~margin_kit.widgets.ReplayPanel` given a price series.
Baseline, measured in the same run: the naive way, re-running the cell, i.e. building the
panel from scratch with a new leverage (chart widget included). The acceptance target is
100 ms per change.

Run: ``python benchmarks/bench_widgets.py [--quick]`` (one core; best of N; no timing
assertions).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_of, pin_one_core  # sets the thread pools before numpy loads

TARGET_MS = 100.0


def _values(name: str, ctrl: Any) -> list[tuple[Any, Any]]:
    """Pairs of values to flip ``ctrl`` between (the first value is the current one)."""
    v = ctrl.value
    if name == "leverage":
        return [(12.0, 13.0)]
    options = getattr(ctrl, "options", None)
    if options is not None:
        values = [o[1] if isinstance(o, tuple) else o for o in options]
        i = values.index(v)
        if type(ctrl).__name__ == "SelectionSlider":  # window start: the next row
            return [(v, values[i + 1 if i + 1 < len(values) else i - 1])]
        if name == "plot":  # every other chart
            return [(v, o) for o in values if o != v]
        return [(v, values[(i + 1) % len(values)])]
    step = getattr(ctrl, "step", None)
    if step is None:  # a number box: 10 % more
        return [(v, v * 1.1)]
    return [(v, v + step if v + step <= ctrl.max else v - step)]


def _history_prices() -> Any:
    """A year of synthetic daily closes with a dated index (no data files needed)."""
    import numpy as np
    import pandas as pd

    from margin_kit.risk import GBM

    close = GBM(0.8).simulate(60_000.0, 1.0, 365, 1, seed=7)[0]
    index = pd.date_range("2023-01-01", periods=len(close), freq="D", name="date")
    return pd.Series(np.asarray(close, dtype=float), index=index, name="close")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    args = parser.parse_args()
    repeat = 3 if args.quick else 15
    os.environ.pop("MARGIN_KIT_RENDER", None)  # live mode: the panels build their chart widget

    pinned = pin_one_core()
    t0 = time.perf_counter()
    import altair as alt

    from margin_kit import scenario
    from margin_kit import widgets as mw

    alt.JupyterChart.enable_offline()  # once per kernel, as charts.setup() does
    sc = scenario.load(scenario.default_path())
    acct = sc.account
    name = acct.positions[0].name
    history = _history_prices()
    print(f"margin_kit widgets benchmark: python {platform.python_version()}, {pinned}")
    print(f"default scenario: {len(acct)} positions; the leverage moves {name!r} "
          f"(leverage {acct.positions[0].leverage:g}x); best of {repeat}; "
          f"setup {time.perf_counter() - t0:.1f} s")  # fmt: skip
    print()

    def with_leverage(lev: float) -> Any:
        positions = [p.with_(leverage=lev) if p.name == name else p for p in acct.positions]
        return type(acct)(acct.wallet_balance, positions, name=acct.name)

    builders: dict[str, Callable[[float], Any]] = {
        "PositionPanel": lambda lev: mw.PositionPanel(acct.positions[0].with_(leverage=lev)),
        "AccountPanel": lambda lev: mw.AccountPanel(with_leverage(lev), sc.model),
        "SizingPanel": lambda lev: mw.SizingPanel(with_leverage(lev), sc.model),
        "CapitalPanel": lambda lev: mw.CapitalPanel(with_leverage(lev), sc.model),
        "ReplayPanel": lambda lev: mw.ReplayPanel(with_leverage(lev)),
        "ReplayPanel (history)": lambda lev: mw.ReplayPanel(
            with_leverage(lev), prices=history, window_days=60
        ),
    }
    header = (
        f"{'panel':<22} {'control':<28} {'change':>9}    {'chart update':<12} "
        f"{'rebuild (baseline)':>18} {'ratio':>7}  < {TARGET_MS:.0f} ms"
    )
    print(header)
    print("-" * len(header))
    slowest: dict[str, tuple[float, str, float]] = {}
    times: list[float] = []
    worst_lev = 0.0
    for label, build in builders.items():
        panel = build(acct.positions[0].leverage)
        panel.chart  # noqa: B018  (create the live chart widget)
        levels = iter([12.0, 13.0] * (repeat + 1))
        t_base = best_of(
            lambda build=build, levels=levels: build(next(levels)).chart, max(2, repeat // 3)
        )
        for ctrl_name, ctrl in panel.controls.items():
            for a, b in _values(ctrl_name, ctrl):

                def flip(ctrl: Any = ctrl, a: Any = a, b: Any = b) -> None:
                    ctrl.value = b if ctrl.value == a else a

                if ctrl.value != a:
                    ctrl.value = a
                spec, params = panel.chart.spec, dict(panel.chart._params)
                flip()
                if panel.chart.spec is not spec:
                    how = "new spec"
                elif dict(panel.chart._params) != params:
                    how = "parameter"
                else:
                    how = "no redraw"
                flip()  # warm-up, back to a
                t = best_of(flip, repeat)
                if panel.error is not None:
                    how = "ERROR"
                ctrl.value = a  # leave the panel as it was for the next control
                what = f"{ctrl_name} -> {b}" if ctrl_name == "plot" else ctrl_name
                ratio = t_base / t
                times.append(t)
                ok = "met" if t * 1e3 < TARGET_MS else "NOT met"
                if t > slowest.get(label, (0.0, "", 0.0))[0]:
                    slowest[label] = (t, what, t_base)
                if ctrl_name == "leverage":
                    worst_lev = max(worst_lev, t)
                print(f"{label:<22} {what[:28]:<28} {1e3 * t:6.1f} ms    {how:<12} "
                      f"{1e3 * t_base:15.1f} ms {ratio:6.1f}x  {ok}")  # fmt: skip
        if panel.error is not None:
            print(f"  ({label}: {panel.error})")
    print()
    print("slowest control change of each panel:")
    worst = 0.0
    for label, (t, what, t_base) in slowest.items():
        worst = max(worst, t)
        ok = "met" if t * 1e3 < TARGET_MS else "NOT met"
        print(f"{label:<22} {what[:28]:<28} {1e3 * t:6.1f} ms    "
              f"rebuild {1e3 * t_base:7.1f} ms {t_base / t:6.1f}x  {ok}")  # fmt: skip
    print()
    print(f"slowest leverage change: {1e3 * worst_lev:.1f} ms -> 100 ms target "
          f"{'met' if worst_lev * 1e3 < TARGET_MS else 'NOT met'}")  # fmt: skip
    verdict = "met" if worst * 1e3 < TARGET_MS else "NOT met"
    print(f"slowest control change:  {1e3 * worst:.1f} ms -> 100 ms target {verdict} for every "
          f"control of every panel ({sum(t < 0.05 for t in times)} of {len(times)} changes "
          "under 50 ms)")  # fmt: skip
    print("ratio = rebuild (baseline) / one change: how much faster than re-running the cell")


if __name__ == "__main__":
    main()
