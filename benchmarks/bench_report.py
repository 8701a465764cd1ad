"""Size and time of ``margin-kit report`` for the default scenario (targets: < 3 MB, < 10 s).

Usage::

    .venv/bin/python benchmarks/bench_report.py            # 4 runs of the real command
    .venv/bin/python benchmarks/bench_report.py --quick    # 2 runs, 2,000 paths (used by a test)

Measured, on one core (the process and its children pinned to one CPU):

(a) ``margin-kit report -o <tmp>/report.html`` as a user runs it: a fresh process, so Python
    start-up, imports and sympy are all included. The first run starts with an empty cache
    (``MARGIN_KIT_CACHE`` a new folder: vl-convert builds the vega bundle), the later runs find
    the bundle cached; the best warm run is the headline, every run is printed.
(b) Baselines from the same run: ``margin-kit demo`` in a fresh process (start-up and the
    liquidation table only), and, in this process, :func:`margin_kit.compare` on the scenario
    (the Monte Carlo the summary table needs), then the report's own stages: the numbers and
    charts (:func:`margin_kit.report.compute`) and the HTML (:func:`margin_kit.report.render`),
    with the vega bundle cold and then cached.

(c) ``python -c "import altair"`` in a fresh process: most of it is jsonschema's import, which
    takes seconds where JupyterLab's dependencies pulled in rfc3987-syntax (it compiles ~40
    lark grammars at import: python-jsonschema/jsonschema#1428). Part of (a), not ours to cut.

The report's size is printed in MB with the share of the inlined vega bundle.
"""

from __future__ import annotations

# isort: off
import _common  # noqa: F401  (first: sets the thread pools to one core before numpy loads)

# isort: on
import argparse
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path
from subprocess import run

from _common import best_of, pin_one_core

import margin_kit as mk
from margin_kit import scenario

CLI = str(Path(sys.executable).with_name("margin-kit"))
TARGET_MB = 3.0
TARGET_S = 10.0


def _timed(argv: list[str]) -> float:
    t0 = time.perf_counter()
    run(argv, check=True, capture_output=True)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the results (exit status 0: timings are not assertions)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 runs with 2,000 paths")
    args = parser.parse_args(argv)
    runs = 2 if args.quick else 4
    extra = ["--paths", "2000"] if args.quick else []
    print(f"margin_kit {mk.__version__}, python {sys.version.split()[0]}, {pin_one_core()}")
    sc = scenario.load()
    sim = sc.simulation
    paths = 2_000 if args.quick else sim.paths
    print(
        f"default scenario: {len(sc.account)} positions, {paths:,d} paths, "
        f"{sim.horizon_days:g} days, sections {', '.join(sc.sections)}"
    )
    print()

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.html"
        os.environ["MARGIN_KIT_CACHE"] = str(Path(tmp) / "cache")  # empty: the first run is cold
        times = [_timed([CLI, "report", "-o", str(out), "--quiet", *extra]) for _ in range(runs)]
        size = out.stat().st_size
        demo = min(_timed([CLI, "demo"]) for _ in range(runs))
        # altair's import, mostly jsonschema's: with JupyterLab installed (jupyter-events needs
        # jsonschema[format-nongpl]) it imports rfc3987-syntax, which compiles ~40 lark grammars
        # at import time (python-jsonschema/jsonschema#1428): seconds on a slow core
        t_altair = min(_timed([sys.executable, "-c", "import altair"]) for _ in range(runs))
    rfc = importlib.util.find_spec("rfc3987_syntax") is not None

    from margin_kit import charts, report

    t_compare = best_of(
        lambda: mk.compare(
            sc.account,
            sc.model,
            sim.horizon,
            paths=paths,
            steps=sim.steps,
            seed=sim.seed,
            **sc.compare_options,
        ),
        repeat=runs,
    )
    t0 = time.perf_counter()
    bundle = charts.vega_bundle()
    t_bundle = time.perf_counter() - t0
    data = None

    def stage() -> None:
        nonlocal data
        data = report.compute(sc, paths=paths)

    t_compute = best_of(stage, repeat=2)
    t_render = best_of(lambda: report.render(data), repeat=2)

    cold, best = times[0], min(times[1:])
    label = "(a) margin-kit report (fresh process)"
    print(f"{label:<48}{best:8.2f} s   runs: {', '.join(f'{t:.2f}' for t in times)}")
    print(f"{'    first run, vega bundle not yet cached':<48}{cold:8.2f} s")
    print(f"{'(b) margin-kit demo (fresh process)':<48}{demo:8.2f} s")
    label_c = '(c) python -c "import altair" (fresh process)'
    print(f"{label_c:<48}{t_altair:8.2f} s"
          f"   (rfc3987-syntax installed: {'yes' if rfc else 'no'})")  # fmt: skip
    print(f"{'    margin_kit.compare alone':<48}{t_compare:8.2f} s")
    print(f"{'    report.compute (numbers + charts)':<48}{t_compute:8.2f} s")
    print(f"{'    report.render (HTML)':<48}{t_render:8.2f} s")
    print(f"{'    vega bundle, cold (cached after)':<48}{t_bundle:8.2f} s")
    print()
    print(f"report / compare alone              : {best / t_compare:8.1f}x")
    print(f"report / demo                       : {best / demo:8.1f}x")
    print(f"report cold cache / warm cache      : {cold / best:8.1f}x")
    mb = size / 1e6
    print(f"size: {mb:.2f} MB, of which the vega bundle {len(bundle.encode()) / 1e6:.2f} MB")
    ok_size, ok_time = mb < TARGET_MB, best < TARGET_S
    print(
        f"size < {TARGET_MB:g} MB: {'yes' if ok_size else 'NO'}; "
        f"time < {TARGET_S:g} s: {'yes' if ok_time else 'NO'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
