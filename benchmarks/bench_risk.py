"""Monte Carlo throughput of first passage (GBM, Brownian-bridge correction) on one core.

Usage::

    .venv/bin/python benchmarks/bench_risk.py            # 100k paths x 1,000 steps
    .venv/bin/python benchmarks/bench_risk.py --quick    # tiny smoke run (used by a test)

Measured (path-steps per second; thread pools pinned to 1, process pinned to one CPU):

(a) ``margin_kit.risk.mc_hit_probability`` for GBM with the bridge correction, independent paths.
(b) the same with ``antithetic=True`` (each normal draw drives a path and its mirror image; every
    path-step is still computed, the standard error is over pair means).
(c) a plain Python loop (``random.gauss``, ``math.exp``) doing the same per path and step, on a
    subset, reported as a rate.

The estimates are printed against the closed form :func:`margin_kit.risk.hit_probability`.
Then ``margin_kit.compare`` on a 50-position account with 100k paths (against the Monte Carlo
calls it makes), and ``margin_kit.engine.replay`` over 1,000 paths x 10,000 steps (against
replaying paths one at a time).
"""

from __future__ import annotations

# isort: off
import _common  # noqa: F401  (first: sets the thread pools to one core before numpy loads)

# isort: on
import argparse
import math
import random
import sys
import time

import numpy as np
from _common import best_of, pin_one_core

from margin_kit.risk import (
    GBM,
    CorrelatedGBM,
    hit_probability,
    liquidation_probability,
    mc_hit_probability,
)

TARGET_RATE = 100e6  # path-steps/s on one core
TARGET_VS_LOOP = 10.0


def python_loop(
    spot: float, barrier: float, vol: float, drift: float, horizon: float, steps: int, paths: int
) -> float:
    """Mean of 1 - prod(1 - p_i) over paths, path by path and step by step (barrier below)."""
    rng = random.Random(7)
    dt = horizon / steps
    nu_dt = (drift - 0.5 * vol * vol) * dt
    sd = vol * math.sqrt(dt)
    k = -2.0 / (sd * sd)
    b = math.log(barrier)
    total = 0.0
    for _ in range(paths):
        x = math.log(spot)
        surv = 1.0
        for _ in range(steps):
            x1 = x + nu_dt + sd * rng.gauss(0.0, 1.0)
            if x1 <= b:
                surv = 0.0
                break
            surv *= 1.0 - math.exp(k * (x - b) * (x1 - b))
            x = x1
        total += 1.0 - surv
    return total / paths


def _book(n_positions: int):
    """A Binance USD-M account of ``n_positions`` on BTCUSDT and ETHUSDT (both sides, 2-20x)."""
    import margin_kit as mk

    usdm = mk.exchanges.get("binance-usdm")
    markets = {
        "BTCUSDT": (usdm.market("BTCUSDT"), 60_000.0),
        "ETHUSDT": (usdm.market("ETHUSDT"), 3_000.0),
    }
    rng = np.random.default_rng(7)
    positions = []
    for i in range(n_positions):
        sym = "BTCUSDT" if i % 2 == 0 else "ETHUSDT"
        market, mark = markets[sym]
        side = "long" if i % 3 else "short"
        notional = float(rng.uniform(1_000, 50_000))
        positions.append(
            mk.Position(market, side, notional / mark, mark * float(rng.uniform(0.97, 1.03)),
                        leverage=float(rng.integers(2, 21)), mark_price=mark, name=f"p{i}")
        )  # fmt: skip
    return mk.Account(2_000_000.0, positions)


def bench_compare(quick: bool) -> None:
    """compare() on a 50-position account with 100k paths, against its Monte Carlo core."""
    import margin_kit as mk

    n_pos, paths = (6, 2_000) if quick else (50, 100_000)
    acct = _book(n_pos)
    model = CorrelatedGBM(
        vols=[0.6, 0.8], corr=[[1, 0.8], [0.8, 1]], symbols=("BTCUSDT", "ETHUSDT")
    )
    horizon = 7 / 365
    t0 = time.perf_counter()
    table = mk.compare(acct, model, horizon, paths=paths, seed=1)
    t_compare = time.perf_counter() - t0
    t0 = time.perf_counter()
    for mode in ("isolated", "cross"):
        liquidation_probability(acct.with_mode(mode), model, horizon, paths=paths, seed=1)
    t_core = time.perf_counter() - t0
    label = f"compare, {n_pos}-position account, {paths:,} paths"
    print(f"{label:<46}{t_compare:10.2f} s    ({len(table)} rows)")
    print(f"{'  its liquidation_probability calls alone':<46}{t_core:10.2f} s")
    print(f"  compare / its Monte Carlo core           : {t_compare / t_core:8.2f}x")


def bench_replay(quick: bool) -> None:
    """replay() over many paths at once, against replaying the same paths one at a time."""
    import margin_kit as mk

    paths, steps = (50, 200) if quick else (1_000, 10_000)
    acct = _book(3)
    sim = GBM(0.6).simulate(60_000.0, 1.0, steps - 1, paths, seed=3)
    eth = GBM(0.8).simulate(3_000.0, 1.0, steps - 1, paths, seed=4)
    prices = {"BTCUSDT": sim, "ETHUSDT": eth}
    t0 = time.perf_counter()
    mk.engine.replay(acct, prices)
    t_vec = time.perf_counter() - t0
    one = max(2, paths // 100)
    t0 = time.perf_counter()
    for i in range(one):
        mk.engine.replay(acct, {"BTCUSDT": sim[i], "ETHUSDT": eth[i]})
    t_loop = (time.perf_counter() - t0) / one * paths
    rate = paths * steps * 2 / t_vec  # both modes
    label = f"replay, {paths:,} paths x {steps:,} steps, 2 modes"
    print(f"{label:<46}{rate / 1e6:10.2f} M path-steps/s ({t_vec:.1f} s)")
    loop_label = f"  one path at a time ({one} timed, scaled)"
    print(f"{loop_label:<46}{paths * steps * 2 / t_loop / 1e6:10.2f} M path-steps/s")
    print(f"  vectorised / one path at a time          : {t_loop / t_vec:8.1f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=1_000)
    parser.add_argument("--loop-paths", type=int, default=2_000, help="paths for the Python loop")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="2k paths x 50 steps, loop 200")
    args = parser.parse_args(argv)
    if args.quick:
        args.paths, args.steps, args.loop_paths, args.repeat = 2_000, 50, 200, 1

    where = pin_one_core()
    spot, barrier, vol, drift, horizon = 100.0, 70.0, 0.8, 0.05, 0.5
    model = GBM(vol, drift)
    exact = float(hit_probability(spot, barrier, vol, horizon, drift))
    work = args.paths * args.steps
    print(
        f"Monte Carlo first passage, GBM vol {vol} drift {drift}, barrier {barrier} below spot "
        f"{spot}, horizon {horizon} y, {args.paths:,} paths x {args.steps:,} steps, one core "
        f"({where})"
    )
    print(f"numpy {np.__version__}, python {sys.version.split()[0]}")

    results = {}
    for label, anti in (
        ("(a) margin_kit bridge", False),
        ("(b) margin_kit bridge, antithetic", True),
    ):

        def run(anti: bool = anti):
            return mc_hit_probability(
                spot, barrier, model, horizon, args.steps, args.paths, seed=1, antithetic=anti
            )

        est = run()  # warm-up
        results[label] = (work / best_of(run, args.repeat), est)

    loop_work = args.loop_paths * args.steps
    t0 = time.perf_counter()
    loop_est = python_loop(spot, barrier, vol, drift, horizon, args.steps, args.loop_paths)
    r_loop = loop_work / (time.perf_counter() - t0)

    print()
    print(f"{'estimator':<46}{'path-steps/s':>14}   estimate (closed form {exact:.5f})")
    for label, (rate, est) in results.items():
        print(f"{label:<46}{rate / 1e6:10.2f} M/s   {est.value:.5f} +- {est.stderr:.5f}")
    loop_label = f"(c) python loop ({args.loop_paths:,} paths)"
    print(f"{loop_label:<46}{r_loop / 1e6:10.2f} M/s   {loop_est:.5f}")
    print()
    r_a = results["(a) margin_kit bridge"][0]
    r_b = results["(b) margin_kit bridge, antithetic"][0]
    print(f"margin_kit / python loop             : {r_a / r_loop:8.1f}x")
    print(f"margin_kit antithetic / python loop  : {r_b / r_loop:8.1f}x")
    best = max(r_a, r_b)
    print(
        f"target >= {TARGET_RATE / 1e6:.0f} M path-steps/s on one core : "
        f"(a) {'HOLDS' if r_a >= TARGET_RATE else 'MISSED'}, "
        f"(b) {'HOLDS' if r_b >= TARGET_RATE else 'MISSED'}"
    )
    print(
        f"target >= {TARGET_VS_LOOP:.0f}x the python loop         : "
        f"{'HOLDS' if best / r_loop >= TARGET_VS_LOOP else 'MISSED'}"
    )
    print()
    bench_compare(args.quick)
    print()
    bench_replay(args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
