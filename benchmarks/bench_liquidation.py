"""Throughput of the tiered isolated liquidation price on one core.

Usage::

    .venv/bin/python benchmarks/bench_liquidation.py            # 10 million positions
    .venv/bin/python benchmarks/bench_liquidation.py --n 2000000
    .venv/bin/python benchmarks/bench_liquidation.py --quick    # 200k smoke run (used by a test)

Workload: ``n`` ISOLATED linear positions on the real Binance BTCUSDT tier table
(``margin_kit.exchanges.get("binance-usdm").tiers("BTCUSDT")``), half long / half short at random,
entry notionals log-uniform from 100 USDT to just under the last cap (so every tier is hit),
leverage uniform in ``[1, max leverage of the entry tier]``, collateral ``= notional / leverage``.
Positions at leverage 1 in the last tier (long) have no liquidation price: NaN, as the API says.

Measured (positions per second, one core: thread pools pinned to 1, process pinned to one CPU):

(a) ``margin_kit.tiered_liquidation_price`` on float64 arrays (side as a float64 +-1 array);
    validation included, as a user calls it. Warmed up, best of 7. With numba installed (the
    ``fast`` extra, in ``dev``) it runs the package's compiled kernel (``margin_kit._compiled``);
(a') the same call on the numpy path, as without numba (the compiled kernel switched off).
(b) a plain Python loop over the same formula and tier rule (on a subset, reported as a rate).
(c) a fused numba ``@njit`` kernel (no parallel, no fastmath) doing the same per element, without
    validation, returning a new array like (a): a yardstick only, counting thresholds per
    element where the package looks tiers up by the key's bits. Warmed up (compiled first),
    best of 7.

(a), (a') and (c) are timed in turns, one call each per round, so that a slow phase of a noisy
machine hits all three.

The three results are checked against each other (rtol 1e-9, NaN where NaN) outside the timings.
"""

from __future__ import annotations

# isort: off
import _common  # noqa: F401  (first: sets the thread pools to one core before numpy loads)

# isort: on
import argparse
import math
import sys
import time
from collections.abc import Callable

import numpy as np
from _common import best_of, pin_one_core

import margin_kit as mk
import margin_kit.liquidation as liq
from margin_kit import TierTable, exchanges

RTOL = 1e-9
TARGET_RATE = 100e6  # positions/s on one core
TARGET_VS_NUMBA = 1.25  # or within this factor of the numba yardstick


# ----------------------------------------------------------------------------- workload
def make_positions(n: int, table: TierTable, seed: int = 20240601) -> dict[str, np.ndarray]:
    """``n`` random isolated linear positions spread over the tiers of ``table``."""
    rng = np.random.default_rng(seed)
    last_cap = float(table.caps[-1])
    notional = np.exp(rng.uniform(math.log(100.0), math.log(last_cap * (1 - 1e-6)), n))
    side = rng.choice(np.array([1.0, -1.0]), n)
    entry = np.exp(rng.uniform(math.log(20_000.0), math.log(120_000.0), n))
    qty = notional / entry
    notional = qty * entry  # what the evaluator will see
    max_lev = table.max_leverage_at(notional)
    leverage = rng.uniform(1.0, max_lev)
    collateral = notional / leverage
    return {"side": side, "entry_price": entry, "qty": qty, "collateral": collateral}


def tier_rows(table: TierTable) -> list[tuple[float, float, float]]:
    """``(floor, mmr, cum)`` per tier, as plain floats."""
    return [(t.floor, t.mmr, t.maint_amount) for t in table.tiers]


# ----------------------------------------------------------------------------- (b) Python loop
def python_loop(
    side: list[float], entry: list[float], qty: list[float], coll: list[float], rows: list
) -> list[float]:
    """Isolated linear, tier at the liquidation notional, element by element.

    Liquidation when ``N - s (N mmr_k - cum_k) = q E - s C =: T`` (``N`` the notional at the
    liquidation price). Each tier's candidate is ``N_k = (T - s cum_k) / (1 - s mmr_k)``; the tier
    is the highest ``k`` whose candidate lies in its bracket (``N_k >= floor_k``, the last tier
    open-ended), which is exact because the left side is increasing in ``N``. No root if ``T <= 0``.
    """
    out = []
    top = len(rows) - 1
    for s, e, q, c in zip(side, entry, qty, coll, strict=True):
        t = q * e - s * c
        if not t > 0.0:
            out.append(math.nan)
            continue
        for k in range(top, -1, -1):
            floor, mmr, cum = rows[k]
            cand = (t - s * cum) / (1.0 - s * mmr)
            if cand >= floor or k == 0:
                break
        out.append(cand / q)
    return out


# ----------------------------------------------------------------------------- (c) numba
def make_numba_kernel() -> Callable[..., None]:
    """Compile the fused per-element kernel (imported lazily: numba is a benchmark-only extra).

    The tier is found by counting the breakpoints (the left side of the condition at each tier
    floor) that ``T`` reaches, which picks the same tier as checking each tier's candidate (the
    Python loop) but without a division per tier or a data-dependent branch: ~4.5x faster here
    than a numba copy of the Python loop, so the stronger yardstick.
    """
    import numba

    numba.set_num_threads(1)

    @numba.njit(cache=False, fastmath=False, parallel=False)
    def kernel(side, entry, qty, coll, bp_long, bp_short, mmrs, cums, out):  # pragma: no cover
        n_tiers = bp_long.shape[0]
        for i in range(side.shape[0]):
            s = side[i]
            q = qty[i]
            t = q * entry[i] - s * coll[i]
            # same tier rule, branch-free: the root is in the highest tier k whose floor the
            # left side reaches, i.e. T >= bp_k = floor_k - s (mmr_k floor_k - cum_k)
            bp = bp_long if s > 0.0 else bp_short
            k = 0
            for j in range(1, n_tiers):
                k += t >= bp[j]
            n = (t - s * cums[k]) / (1.0 - s * mmrs[k])
            out[i] = n / q if t > 0.0 else np.nan

    return kernel


# ----------------------------------------------------------------------------- timing helpers


def max_rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Largest ``|a - b| / |b|`` over finite entries; raises if the NaN patterns differ."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    if not np.array_equal(nan_a, nan_b):
        i = int(np.flatnonzero(nan_a != nan_b)[0])
        raise AssertionError(f"NaN pattern differs at [{i}]: {a[i]!r} vs {b[i]!r}")
    ok = ~nan_a
    if not ok.any():
        return 0.0
    return float(np.max(np.abs(a[ok] - b[ok]) / np.abs(b[ok])))


def fmt_rate(rate: float) -> str:
    return f"{rate / 1e6:10.2f} M/s"


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000_000, help="positions (default 10M)")
    parser.add_argument("--loop-n", type=int, default=100_000, help="subset for the Python loop")
    parser.add_argument("--repeat", type=int, default=7, help="best of this many runs")
    parser.add_argument("--quick", action="store_true", help="200k positions, 20k loop subset")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.loop_n = 200_000, 20_000
    n, loop_n = args.n, min(args.loop_n, args.n)

    where = pin_one_core()
    table = exchanges.get("binance-usdm").tiers("BTCUSDT")
    pos = make_positions(n, table)
    side, entry, qty, coll = pos["side"], pos["entry_price"], pos["qty"], pos["collateral"]
    print(
        f"tiered ISOLATED liquidation price, Binance BTCUSDT ({len(table)} tiers), "
        f"{n:,} positions, one core ({where})"
    )
    print(f"numpy {np.__version__}, python {sys.version.split()[0]}")

    # (a) margin_kit
    def run_mk() -> np.ndarray:
        return mk.tiered_liquidation_price(side, entry, qty, coll, table)

    def run_numpy_path() -> np.ndarray:
        saved = liq._COMPILED_FROM
        liq._COMPILED_FROM = 1 << 62  # (a') the numpy path, as without numba
        try:
            return run_mk()
        finally:
            liq._COMPILED_FROM = saved

    compiled = liq._compiled_kernel() is not None and n >= liq._COMPILED_FROM
    got_a = run_mk()  # warm-up (and, the first time on a machine, numba compiles the kernel)
    got_np = run_numpy_path()

    # (b) Python loop on a subset
    lists = [a[:loop_n].tolist() for a in (side, entry, qty, coll)]
    rows = tier_rows(table)
    t0 = time.perf_counter()
    got_b = python_loop(*lists, rows)
    t_b = time.perf_counter() - t0

    # (c) numba yardstick
    kernel = make_numba_kernel()
    floors, mmrs, cums = (np.array(a) for a in (table.floors, table.mmrs, table.maint_amounts))
    bp_long, bp_short = floors - (mmrs * floors - cums), floors + (mmrs * floors - cums)
    tabs = (bp_long, bp_short, mmrs, cums)

    def run_numba() -> np.ndarray:
        # a new result array per call, as the API returns, from numpy's allocator (which asks
        # for huge pages; numba's own np.empty does not, and its page faults made it ~1.5x slower
        # and noisy here)
        out = np.empty(n)
        kernel(side, entry, qty, coll, *tabs, out)
        return out

    kernel(side[:16], entry[:16], qty[:16], coll[:16], *tabs, np.empty(16))  # compile
    got_c = run_numba()  # warm-up

    # (a), (a') and (c) timed in turns, best of `repeat` each: a slow phase of a noisy machine
    # then hits all three rather than one
    t_a, t_np, t_c = (
        min(times)
        for times in zip(
            *(
                [best_of(f, 1) for f in (run_mk, run_numpy_path, run_numba)]
                for _ in range(args.repeat)
            ),
            strict=True,
        )
    )

    # agreement (not timed)
    d_ac = max_rel_diff(got_a, got_c)
    assert np.array_equal(got_a, got_np, equal_nan=True), "compiled and numpy paths differ"
    d_ab = max_rel_diff(got_a[:loop_n], np.array(got_b))
    d_cb = max_rel_diff(got_c[:loop_n], np.array(got_b))
    worst = max(d_ac, d_ab, d_cb)
    nan_share = float(np.isnan(got_a).mean())

    r_a, r_b, r_c, r_np = n / t_a, loop_n / t_b, n / t_c, n / t_np
    path = "compiled" if compiled else "numpy: numba missing"
    print()
    print(f"{'evaluator':<44}{'positions/s':>14}{'time':>12}")
    print(f"{f'(a) margin_kit ({path})':<44}{fmt_rate(r_a):>14}{t_a * 1e3:9.1f} ms")
    label_np = "(a') margin_kit, numpy path"
    print(f"{label_np:<44}{fmt_rate(r_np):>14}{t_np * 1e3:9.1f} ms")
    print(f"{f'(b) python loop ({loop_n:,} positions)':<44}{fmt_rate(r_b):>14}{t_b * 1e3:9.1f} ms")
    print(f"{'(c) numba @njit fused kernel (yardstick)':<44}{fmt_rate(r_c):>14}{t_c * 1e3:9.1f} ms")
    print()
    print(f"margin_kit / python loop : {r_a / r_b:8.1f}x")
    print(f"margin_kit / numba       : {r_a / r_c:8.3f}x  (numba / margin_kit = {r_c / r_a:.3f}x)")
    print(f"numpy path / numba       : {r_np / r_c:8.3f}x  (numba / numpy = {r_c / r_np:.3f}x)")
    hold_rate = r_a >= TARGET_RATE
    hold_numba = r_c / r_a <= TARGET_VS_NUMBA
    print(
        f"target >= {TARGET_RATE / 1e6:.0f} M positions/s on one core : "
        f"{'HOLDS' if hold_rate else 'MISSED'}"
    )
    print(
        f"target within {TARGET_VS_NUMBA}x of numba             : "
        f"{'HOLDS' if hold_numba else 'MISSED'}"
    )
    print(
        f"targets (either)                        : "
        f"{'HOLD' if hold_rate or hold_numba else 'MISSED'}"
    )
    print(
        f"agreement: max relative difference {worst:.3g} (a vs c {d_ac:.3g}, a vs b {d_ab:.3g}, "
        f"c vs b {d_cb:.3g}); a and a' bit for bit; NaN (no liquidation) share {nan_share:.2%}"
    )
    assert worst <= RTOL, f"evaluators disagree: max relative difference {worst:.3g} > {RTOL}"
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
