"""The block-wise kernel behind tiered_liquidation_price(tier_basis="mark") and solve_notional.

Every result is compared with an element-by-element Python reference written from the
definitions (tier = the highest one whose candidate notional reaches its floor), across block
boundaries, mixed sides, rows without a liquidation, scalars, broadcasting and pandas input;
and every bad input must raise the same error, with the same index, as the validators.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import pandas as pd
import pytest

import margin_kit as mk
import margin_kit.liquidation as liq
import margin_kit.tiers as tiers_mod
from margin_kit import InputError, TierTable, exchanges
from margin_kit.tiers import solve_notional

BTC = exchanges.get("binance-usdm").tiers("BTCUSDT")
RTOL = 1e-12


def reference_price(
    side: float,
    entry: float,
    qty: float,
    coll: float,
    table: TierTable,
    *,
    contract: str = "linear",
    csize: float = 1.0,
    other_mm: float = 0.0,
    other_upnl: float = 0.0,
    fee: float = 0.0,
) -> float:
    """One position, straight from the definitions, with plain floats."""
    sigma = side if contract == "linear" else -side
    qc = qty * csize
    n0 = qc * entry if contract == "linear" else qc / entry
    target = n0 - sigma * (coll + other_upnl - other_mm)
    if not target > 0:
        return math.nan
    rows = list(zip(table.floors, table.mmrs, table.maint_amounts, strict=True))
    for k in range(len(rows) - 1, -1, -1):
        floor, mmr, cum = (float(v) for v in rows[k])
        cand = (target - sigma * cum) / (1.0 - sigma * (mmr + fee))
        if cand >= floor or k == 0:
            break
    price = cand / qc if contract == "linear" else qc / cand
    return price if cand > 0 and math.isfinite(price) else math.nan


def positions(n: int, table: TierTable = BTC, seed: int = 7) -> dict[str, np.ndarray]:
    """Mixed long/short positions over all tiers, with some that are never liquidated."""
    rng = np.random.default_rng(seed)
    cap = float(table.caps[-1])
    notional = np.exp(rng.uniform(math.log(10.0), math.log(cap * 0.999), n))
    side = rng.choice([1.0, -1.0], n)
    entry = np.exp(rng.uniform(math.log(100.0), math.log(100_000.0), n))
    qty = notional / entry
    lev = rng.uniform(1.0, table.max_leverage_at(qty * entry))
    coll = qty * entry / lev
    # a few longs at 1x or over-collateralised: target <= 0, no liquidation (NaN)
    never = rng.random(n) < 0.03
    side[never] = 1.0
    coll[never] = qty[never] * entry[never] * rng.choice([1.0, 1.5], never.sum())
    return {"side": side, "entry_price": entry, "qty": qty, "collateral": coll}


def reference_array(p: dict[str, np.ndarray], table: TierTable = BTC, **kw: float) -> np.ndarray:
    cols = [
        np.broadcast_to(p[k], np.broadcast_shapes(*(np.shape(v) for v in p.values())))
        for k in ("side", "entry_price", "qty", "collateral")
    ]
    out = np.array(
        [
            reference_price(*vals, table, **kw)
            for vals in zip(*(c.ravel() for c in cols), strict=True)
        ]
    )
    return out.reshape(cols[0].shape)


def assert_same(got: np.ndarray, want: np.ndarray) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=RTOL)


#: How the kernel finds the tier: (``_BUCKETS_FROM``, ``_COMPILED_FROM``) for each way.
WAYS = {
    "buckets": (0, 1 << 62),  # numpy, the bucket tables
    "count": (1 << 62, 1 << 62),  # numpy, counting thresholds
    "compiled": (1 << 62, 0),  # the compiled kernel (numba: the `fast` extra, in `dev`)
}


def use_way(monkeypatch: pytest.MonkeyPatch, way: str) -> None:
    if way == "compiled" and liq._compiled_kernel() is None:
        pytest.skip("numba is not installed (the `fast` extra)")
    buckets_from, compiled_from = WAYS[way]
    monkeypatch.setattr(liq, "_BUCKETS_FROM", buckets_from)
    monkeypatch.setattr(liq, "_COMPILED_FROM", compiled_from)


@pytest.fixture(params=list(WAYS))
def small_block(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Blocks of 1000 elements, so that a few thousand rows cross several block boundaries;
    the tier found by the key's bits (the bucket tables), by counting thresholds, and by the
    compiled kernel."""
    monkeypatch.setattr(liq, "_BLOCK", 1000)
    monkeypatch.setattr(tiers_mod, "_BLOCK", 1000)
    use_way(monkeypatch, request.param)
    if request.param == "compiled":
        import margin_kit._compiled as compiled

        monkeypatch.setattr(compiled, "_BLOCK", 1000)  # where it repeats scalars over blocks
    return 1000


def both_ways(monkeypatch: pytest.MonkeyPatch, *args: object, **kw: object) -> np.ndarray:
    """``tiered_liquidation_price(*args, **kw)`` with the bucket tables, by counting thresholds
    and compiled: asserted bit for bit equal (NaN where NaN), returned."""
    got = {}
    for way in WAYS:
        use_way(monkeypatch, way)
        got[way] = np.asarray(mk.tiered_liquidation_price(*args, **kw))
    np.testing.assert_array_equal(got["buckets"], got["count"])
    np.testing.assert_array_equal(got["compiled"], got["count"])
    return got["buckets"]


# ----------------------------------------------------------------------------- block boundaries
@pytest.mark.parametrize("n", [1, 999, 1000, 1001, 2537])
def test_small_blocks_match_reference(small_block: int, n: int) -> None:
    p = positions(n)
    got = mk.tiered_liquidation_price(p["side"], p["entry_price"], p["qty"], p["collateral"], BTC)
    assert_same(got, reference_array(p))


def test_real_block_size_not_a_multiple() -> None:
    n = liq._BLOCK + 12_345
    p = positions(n, seed=11)
    got = mk.tiered_liquidation_price(p["side"], p["entry_price"], p["qty"], p["collateral"], BTC)
    want = reference_array(p)
    assert np.isnan(want).any() and (~np.isnan(want)).any()
    assert_same(got, want)


def test_every_tier_and_both_sides_are_hit() -> None:
    p = positions(5000)
    price = mk.tiered_liquidation_price(p["side"], p["entry_price"], p["qty"], p["collateral"], BTC)
    ok = ~np.isnan(price)
    # (a short's liquidation notional may pass the last cap: it stays in the last tier)
    liq_notional = np.minimum(p["qty"][ok] * price[ok], float(BTC.caps[-1])) * (1 - 1e-12)
    tier = BTC.tier_index(liq_notional)
    for s in (1.0, -1.0):
        assert len(np.unique(tier[p["side"][ok] == s])) >= 8


# ----------------------------------------------------------------------------- bucket tables
def threshold_keys(table: TierTable, fee: float = 0.0) -> np.ndarray:
    """Keys sigma*T on, and 1, 2 and 1000 ulps around, every tier threshold of both sides,
    and on the edges of the buckets that hold them."""
    search = tiers_mod._tier_search(table, fee)
    keys = []
    for t in search.thresholds.ravel():
        if t == 0.0:
            continue
        for steps in (0, 1, 2, 1000):
            keys += [t, *(np.nextafter(t, d) for d in (-np.inf, np.inf))]
            keys.append(t + steps * np.spacing(t) * np.sign(t))
            keys.append(t - steps * np.spacing(t) * np.sign(t))
        bits = np.float64(t).view(np.uint64) >> np.uint64(tiers_mod._BUCKET_SHIFT)
        lo = (bits << np.uint64(tiers_mod._BUCKET_SHIFT)).view(np.float64)
        hi = ((bits + np.uint64(1)) << np.uint64(tiers_mod._BUCKET_SHIFT)).view(np.float64)
        keys += [lo, np.nextafter(lo, -np.inf * np.sign(t)), hi, np.nextafter(hi, 0.0)]
    return np.array(keys)


@pytest.mark.parametrize("contract", ["linear", "inverse"])
def test_buckets_equal_counting_at_every_threshold(
    monkeypatch: pytest.MonkeyPatch, contract: str
) -> None:
    table = BTC if contract == "linear" else exchanges.get("binance-coinm").tiers("BTCUSD_PERP")
    keys = threshold_keys(table)
    # a key k is sigma*T; with no collateral T = N0, so k = sigma*N0: a long (linear) or a
    # short (inverse) of notional k > 0, the other side for k < 0 (entry 1: N0 = qty, inverse
    # qty/1); keys beyond the last cap are dropped (entry notional must be below it)
    notional = np.abs(keys)
    keep = (notional > 0) & (notional < float(table.caps[-1]))
    keys, notional = keys[keep], notional[keep]
    sigma = np.sign(keys)
    side = sigma if contract == "linear" else -sigma
    got = both_ways(monkeypatch, side, 1.0, notional, 0.0, table, contract=contract)
    want = np.array([
        reference_price(s, 1.0, q, 0.0, table, contract=contract)
        for s, q in zip(side, notional, strict=True)
    ])  # fmt: skip
    assert_same(got, want)


@pytest.mark.parametrize("contract", ["linear", "inverse"])
def test_buckets_equal_counting_on_random_accounts(
    monkeypatch: pytest.MonkeyPatch, contract: str
) -> None:
    table = BTC if contract == "linear" else exchanges.get("binance-coinm").tiers("BTCUSD_PERP")
    p = positions(20_000, table, seed=3)
    entry = p["entry_price"] if contract == "linear" else p["entry_price"] / 1e4
    rng = np.random.default_rng(5)
    for kw in (
        {},
        {"other_upnl": rng.normal(0, 1e4, 20_000), "other_maint_margin": rng.uniform(0, 1e3)},
        {"close_fee_rate": 0.0005},
    ):
        both_ways(monkeypatch, p["side"], entry, p["qty"], p["collateral"], table,
                  contract=contract, **kw)  # fmt: skip
    # one side for all (a scalar), and a collateral of 0
    both_ways(monkeypatch, -1.0, entry, p["qty"], 0.0, table, contract=contract)
    both_ways(monkeypatch, 1.0, entry, p["qty"], p["collateral"], table, contract=contract)


def test_bucket_tables_cover_every_key() -> None:
    # every sign, exponent and top-mantissa pattern of a key, for both sides, has an entry:
    # a tier's coefficients, NaN (no root), the marker of a threshold inside (+-inf over +-1)
    # or, for infinite keys, 0 over 0
    shift = tiers_mod._BUCKET_SHIFT
    offset, n_buckets = 0x3FF0000000000000 >> (shift - 1), 1 << (64 - shift)
    search = tiers_mod._tier_search(BTC)
    dens = search.denominator[~np.isnan(search.denominator)]
    for inverse in (False, True):
        b = tiers_mod._bucket_search(BTC, 0.0, inverse)
        assert b.cum.shape == b.denominator.shape == (offset + 2 * n_buckets,)
        cum, den = b.cum[offset:], b.denominator[offset:]
        tier = np.isin(den, dens) & np.isin(cum, search.cum)
        none = np.isnan(cum) & np.isnan(den)
        marker = np.isinf(cum) & (np.abs(den) == 1.0)
        infinite = (cum == 0.0) & (den == 0.0)
        assert (tier | none | marker | infinite).all()
        # 2 sides x (sign x top-mantissa patterns of exponent 0x7ff): infinite and NaN keys;
        # each threshold marks one bucket per side; for the 0 threshold that is the bucket
        # of -0.0 (-0.0 >= 0 counts it, the negative keys beside it do not)
        assert infinite.sum() == 2 * 2 * 2 ** (64 - shift - 12)
        assert marker.sum() == 2 * search.thresholds.size


# ----------------------------------------------------------------------------- variants
@pytest.mark.parametrize("contract", ["linear", "inverse"])
def test_contract_size_cross_and_fee(small_block: int, contract: str) -> None:
    table = BTC if contract == "linear" else exchanges.get("binance-coinm").tiers("BTCUSD_PERP")
    n = 2300
    rng = np.random.default_rng(3)
    side = rng.choice([1.0, -1.0], n)
    entry = rng.uniform(20_000, 80_000, n)
    csize = 100.0 if contract == "inverse" else 1.0
    cap = float(table.caps[-1])
    n0_target = np.exp(rng.uniform(math.log(cap * 1e-6), math.log(cap * 0.5), n))
    qty = n0_target * entry / csize if contract == "inverse" else n0_target / entry
    n0 = qty * csize / entry if contract == "inverse" else qty * entry
    coll = n0 / rng.uniform(2.0, 20.0, n)
    other_mm = n0 * rng.uniform(0.0, 0.01, n)
    other_upnl = n0 * rng.uniform(-0.02, 0.02, n)
    fee = 0.0005
    got = mk.tiered_liquidation_price(
        side,
        entry,
        qty,
        coll,
        table,
        contract=contract,
        contract_size=csize,
        other_maint_margin=other_mm,
        other_upnl=other_upnl,
        close_fee_rate=fee,
    )
    # the fused kernel handles these inputs itself (it does not fall back to the reference path)
    assert (
        liq._tiered_mark_kernel(
            side, entry, qty, coll, table, contract, csize, other_mm, other_upnl, fee
        )
        is not None
    )
    want = np.array(
        [
            reference_price(
                *v, table, contract=contract, csize=csize, other_mm=mm, other_upnl=u, fee=fee
            )
            for *v, mm, u in zip(side, entry, qty, coll, other_mm, other_upnl, strict=True)
        ]
    )
    assert_same(got, want)


def test_contract_size_array_and_int_side(small_block: int) -> None:
    p = positions(1500)
    csize = np.where(np.arange(1500) % 2 == 0, 1.0, 0.5)
    side_int = p["side"].astype(np.int64)
    got = mk.tiered_liquidation_price(
        side_int, p["entry_price"], p["qty"] / csize, p["collateral"], BTC, contract_size=csize
    )
    assert_same(got, reference_array(p))


def test_word_sides() -> None:
    p = positions(200)
    words = np.where(p["side"] > 0, "long", "SHORT")
    got = mk.tiered_liquidation_price(words, p["entry_price"], p["qty"], p["collateral"], BTC)
    assert_same(got, reference_array(p))


# ----------------------------------------------------------------------------- shapes
def test_scalars_give_a_numpy_scalar() -> None:
    got = mk.tiered_liquidation_price("long", 30_000, 2.0, 12_000, BTC)
    assert isinstance(got, np.float64)
    assert got == pytest.approx(reference_price(1.0, 30_000, 2.0, 12_000, BTC), rel=RTOL)
    never = mk.tiered_liquidation_price("long", 30_000, 2.0, 60_000, BTC)
    assert isinstance(never, np.float64) and math.isnan(never)


def test_zero_d_arrays() -> None:
    got = mk.tiered_liquidation_price(
        np.float64(-1.0), np.array(30_000.0), np.array(2.0), np.array(12_000.0), BTC
    )
    assert np.ndim(got) == 0
    assert float(got) == pytest.approx(reference_price(-1.0, 30_000, 2.0, 12_000, BTC), rel=RTOL)


def test_two_d_broadcast(small_block: int) -> None:
    rng = np.random.default_rng(5)
    side = rng.choice([1.0, -1.0], (60, 1))
    entry = rng.uniform(10_000, 90_000, (1, 45))
    qty = rng.uniform(0.01, 300.0, (60, 45))
    lev = rng.uniform(1.0, 40.0, (60, 45))
    coll = qty * entry / lev
    p = {"side": side, "entry_price": entry, "qty": qty, "collateral": coll}
    got = mk.tiered_liquidation_price(side, entry, qty, coll, BTC)
    assert got.shape == (60, 45)
    assert_same(got, reference_array(p))
    # a scalar side and a Fortran-ordered array give the same numbers
    got_f = mk.tiered_liquidation_price(1.0, entry, np.asfortranarray(qty), coll, BTC)
    assert_same(got_f, reference_array({**p, "side": np.ones((1, 1))}))


def test_series_in_series_out() -> None:
    p = positions(50)
    idx = pd.Index([f"p{i}" for i in range(50)])
    got = mk.tiered_liquidation_price(
        pd.Series(p["side"], index=idx),
        p["entry_price"],
        pd.Series(p["qty"], index=idx),
        p["collateral"],
        BTC,
    )
    assert isinstance(got, pd.Series) and got.index.equals(idx)
    assert got.name == "liquidation_price"
    assert_same(got.to_numpy(), reference_array(p))


def test_empty() -> None:
    got = mk.tiered_liquidation_price(np.array([]), np.array([]), np.array([]), np.array([]), BTC)
    assert got.shape == (0,)


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("field", "bad", "pattern"),
    [
        ("side", 0.5, r"side\[2345\]"),
        ("side", np.nan, r"side\[2345\]"),
        ("entry_price", -1.0, r"entry_price\[2345\]"),
        ("entry_price", np.inf, r"entry_price\[2345\]"),
        ("qty", 0.0, r"qty\[2345\]"),
        ("qty", np.nan, r"qty\[2345\]"),
        ("collateral", -5.0, r"collateral\[2345\]"),
        ("collateral", np.inf, r"collateral\[2345\]"),
    ],
)
def test_bad_value_in_a_later_block_names_its_index(
    small_block: int, field: str, bad: float, pattern: str
) -> None:
    p = positions(3000)
    p[field][2345] = bad
    with pytest.raises(InputError, match=pattern):
        mk.tiered_liquidation_price(p["side"], p["entry_price"], p["qty"], p["collateral"], BTC)


@pytest.mark.parametrize(
    "bad", [math.nextafter(1.0, 0.0), math.nextafter(1.0, 2.0), math.nextafter(-1.0, 0.0)]
)
def test_side_one_ulp_off_is_rejected(small_block: int, bad: float) -> None:
    # a side one ulp from +-1 is not a side: the numpy kernel once let 1 - 2**-53 through
    # (its check summed the squares, which rounds)
    p = positions(3000)
    p["side"][1234] = bad
    with pytest.raises(InputError, match=r"side\[1234\]"):
        mk.tiered_liquidation_price(p["side"], p["entry_price"], p["qty"], p["collateral"], BTC)


def test_inputs_the_compiled_kernel_hands_back(monkeypatch: pytest.MonkeyPatch) -> None:
    # a valid input its bit checks decline (a collateral of -0.0) goes to the reference path,
    # with the reference's result; read-only and strided inputs are taken as they are
    p = positions(3000)
    p["collateral"][7] = -0.0
    got = both_ways(monkeypatch, p["side"], p["entry_price"], p["qty"], p["collateral"], BTC)
    assert_same(got, reference_array(p))
    frozen = {k: v.copy() for k, v in p.items()}
    for v in frozen.values():
        v.setflags(write=False)
    strided = {k: np.repeat(v, 2)[::2] for k, v in p.items()}
    for q in (frozen, strided):
        got = both_ways(monkeypatch, q["side"], q["entry_price"], q["qty"], q["collateral"], BTC)
        assert_same(got, reference_array(p))


def test_compiled_kernel_runs_on_large_inputs_by_default() -> None:
    if liq._compiled_kernel() is None:
        pytest.skip("numba is not installed (the `fast` extra)")
    calls = []
    kernel = liq._compiled_kernel()
    liq._compiled_kernel.cache_clear()
    try:
        import margin_kit._compiled as compiled

        original = compiled.tiered_mark_prices

        def spy(*args: object) -> bool:
            calls.append(len(args[-1]))
            return original(*args)

        compiled.tiered_mark_prices = spy
        p = positions(liq._COMPILED_FROM)
        mk.tiered_liquidation_price(p["side"][:-1], p["entry_price"][:-1], 1.0, 10.0, BTC)
        got = mk.tiered_liquidation_price(
            p["side"], p["entry_price"], p["qty"], p["collateral"], BTC
        )
    finally:
        compiled.tiered_mark_prices = original
        liq._compiled_kernel.cache_clear()
    assert calls == [liq._COMPILED_FROM]  # not for one element fewer
    assert kernel is original
    assert_same(got, reference_array(p))


def test_first_field_wins_as_in_the_validators(small_block: int) -> None:
    # a bad entry in block 0 and a bad side in block 2: the side is validated first
    p = positions(3000)
    p["entry_price"][10] = -1.0
    p["side"][2500] = 2.0
    with pytest.raises(InputError, match=r"side\[2500\]"):
        mk.tiered_liquidation_price(p["side"], p["entry_price"], p["qty"], p["collateral"], BTC)


def test_entry_notional_over_the_last_cap(small_block: int) -> None:
    p = positions(3000)
    p["qty"][2999] = 2 * float(BTC.caps[-1]) / p["entry_price"][2999]
    with pytest.raises(InputError, match=r"qty\[2999\]"):
        mk.tiered_liquidation_price(p["side"], p["entry_price"], p["qty"], p["collateral"], BTC)


def test_shapes_that_do_not_broadcast() -> None:
    with pytest.raises(ValueError, match="broadcast"):
        mk.tiered_liquidation_price(np.ones(3), np.full(4, 100.0), 1.0, 10.0, BTC)


def test_does_not_modify_inputs() -> None:
    p = positions(300)
    before = {k: v.copy() for k, v in p.items()}
    mk.tiered_liquidation_price(p["side"], p["entry_price"], p["qty"], p["collateral"], BTC)
    for k in p:
        np.testing.assert_array_equal(p[k], before[k])


# ----------------------------------------------------------------------------- solve_notional
def test_solve_notional_blocks_and_sides(small_block: int) -> None:
    rng = np.random.default_rng(9)
    target = np.exp(rng.uniform(0, math.log(2e9), 2500)) * rng.choice([1.0, -1.0, 1.0], 2500)
    target[:5] = [0.0, -0.0, 1e-300, -1e-300, 5.0]
    sigma = rng.choice([1.0, -1.0], 2500)
    got = solve_notional(BTC, target, sigma, 0.0004)
    fee = 0.0004
    for t, s, n in zip(target, sigma, got, strict=True):
        if not t > 0:
            assert math.isnan(n)
            continue
        # residual of N - sigma (MM(N) + f N) = T
        k = int(BTC.tier_index(min(n, float(BTC.caps[-1]) * (1 - 1e-15))))
        mm = n * BTC.mmrs[k] - BTC.maint_amounts[k]
        assert n - s * (mm + fee * n) == pytest.approx(t, rel=1e-12, abs=1e-300)
    # a scalar sigma gives the same as the broadcast array
    np.testing.assert_array_equal(
        solve_notional(BTC, target, -1.0), solve_notional(BTC, target, np.full(2500, -1.0))
    )


def test_an_unusable_numba_falls_back_to_numpy_with_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Broken:
        def find_spec(self, name: str, path: object, target: object = None) -> None:
            if name == "margin_kit._compiled":
                raise RuntimeError("cannot cache function: no locator available")

    monkeypatch.delitem(sys.modules, "margin_kit._compiled", raising=False)
    monkeypatch.setattr(sys, "meta_path", [Broken(), *sys.meta_path])
    liq._compiled_kernel.cache_clear()
    try:
        with pytest.warns(UserWarning, match="compiled kernel is unavailable.*no locator"):
            assert liq._compiled_kernel() is None
        p = positions(3000)
        monkeypatch.setattr(liq, "_COMPILED_FROM", 0)
        got = mk.tiered_liquidation_price(
            p["side"], p["entry_price"], p["qty"], p["collateral"], BTC
        )
        assert_same(got, reference_array(p))
    finally:
        liq._compiled_kernel.cache_clear()
