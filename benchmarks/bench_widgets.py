"""Widget panels: time of one control change on the default scenario, against re-running the cell.

For each panel of :mod:`margin_kit.widgets` built on the default scenario (its live
``JupyterChart`` created, as in JupyterLab), one change is: set a control's ``value`` -> the
callback recomputes, writes the summary and updates the chart (a Vega parameter when only the
leverage marker moves, else a new spec assigned to ``jc.chart``, which serialises and validates
it). Timed: the leverage slider (the acceptance target: under 100 ms) and the wallet, which
always needs a new spec. Baseline, measured in the same run: the naive way, re-running the
cell, i.e. building the panel from scratch with the new leverage (chart widget included).

Run: ``python benchmarks/bench_widgets.py [--quick]`` (one core; best of N; no timing
assertions).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_of, pin_one_core  # sets the thread pools before numpy loads

TARGET_MS = 100.0


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
    print(f"margin_kit widgets benchmark: python {platform.python_version()}, {pinned}")
    print(f"default scenario: {len(acct)} positions; the slider moves {name!r} "
          f"(leverage {acct.positions[0].leverage:g}x); best of {repeat}; "
          f"setup {time.perf_counter() - t0:.1f} s")  # fmt: skip
    print()

    def with_leverage(lev: float):
        positions = [p.with_(leverage=lev) if p.name == name else p for p in acct.positions]
        return type(acct)(acct.wallet_balance, positions, name=acct.name)

    builders = {
        "PositionPanel": lambda lev: mw.PositionPanel(acct.positions[0].with_(leverage=lev)),
        "AccountPanel": lambda lev: mw.AccountPanel(with_leverage(lev), sc.model),
        "SizingPanel": lambda lev: mw.SizingPanel(with_leverage(lev), sc.model),
        "CapitalPanel": lambda lev: mw.CapitalPanel(with_leverage(lev), sc.model),
        "ReplayPanel": lambda lev: mw.ReplayPanel(with_leverage(lev)),
    }
    header = (
        f"{'panel':<14} {'leverage change':>16} {'chart update':>13} {'wallet change':>14} "
        f"{'rebuild (baseline)':>19} {'ratio':>7}  target < {TARGET_MS:.0f} ms"
    )
    print(header)
    print("-" * len(header))
    worst = 0.0
    for label, build in builders.items():
        panel = build(acct.positions[0].leverage)
        panel.chart  # noqa: B018  (create the live chart widget)
        lev, wallet = panel.controls["leverage"], panel.controls["wallet_balance"]

        def flip(ctrl, a: float, b: float) -> None:
            ctrl.value = b if ctrl.value == a else a

        spec_before = panel.chart.spec
        for _ in range(2):  # warm-up
            flip(lev, 12.0, 13.0)
        t_lev = best_of(lambda lev=lev: flip(lev, 12.0, 13.0), repeat)
        how = "parameter" if panel.chart.spec is spec_before else "new spec"
        w0 = float(wallet.value)
        t_wallet = best_of(lambda wallet=wallet, w0=w0: flip(wallet, w0, w0 * 1.1), repeat)
        assert panel.error is None, panel.error
        levels = iter([12.0, 13.0] * (repeat + 1))
        t_base = best_of(
            lambda build=build, levels=levels: build(next(levels)).chart, max(2, repeat // 3)
        )
        ratio = t_base / t_lev
        worst = max(worst, t_lev)
        ok = "met" if t_lev * 1e3 < TARGET_MS else "NOT met"
        print(f"{label:<14} {1e3 * t_lev:13.1f} ms {how:>13} {1e3 * t_wallet:11.1f} ms "
              f"{1e3 * t_base:16.1f} ms {ratio:6.1f}x  {ok}")  # fmt: skip
    print()
    print(f"slowest leverage change: {1e3 * worst:.1f} ms -> 100 ms target "
          f"{'met' if worst * 1e3 < TARGET_MS else 'NOT met'}")  # fmt: skip
    print("ratio = rebuild (baseline) / leverage change: how much faster than re-running the cell")


if __name__ == "__main__":
    main()
