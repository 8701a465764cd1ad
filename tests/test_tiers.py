"""Tier tables: validation, ccxt input, lookups, continuity, and the exact tiered solve."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import margin_kit as mk
from margin_kit import InputError, TierTable, TierTableError, exchanges
from margin_kit.tiers import solve_notional

ROWS = [
    {"floor": 0, "cap": 50_000, "max_leverage": 125, "mmr": 0.004, "maint_amount": 0},
    {"floor": 50_000, "cap": 250_000, "max_leverage": 100, "mmr": 0.005, "maint_amount": 50},
    {"floor": 250_000, "cap": 1_000_000, "max_leverage": 50, "mmr": 0.01, "maint_amount": 1_300},
]


def test_from_records_and_frame() -> None:
    t = TierTable.from_records(ROWS, symbol="X")
    df = t.to_frame()
    assert list(df.columns) == ["floor", "cap", "max_leverage", "mmr", "maint_amount"]
    assert df.index.name == "tier"
    assert df.index[0] == 1
    # a missing maint_amount is filled by the recurrence
    # cum_k = cum_{k-1} + floor_k (mmr_k - mmr_{k-1})
    filled = TierTable.from_records(
        [{k: v for k, v in r.items() if k != "maint_amount"} for r in ROWS]
    )
    np.testing.assert_allclose(filled.maint_amounts, [0, 50, 1_300])


MALFORMED = [
    ([], "tiers", r"\[\]"),
    ([{**ROWS[0], "floor": 10}], r"tiers\[0\].floor", "10"),
    ([ROWS[1], ROWS[0]], r"tiers\[0\].floor", "50000"),
    ([ROWS[0], {**ROWS[1], "floor": 60_000}], r"tiers\[1\].floor", "60000"),
    ([ROWS[0], {**ROWS[1], "mmr": 0.003, "maint_amount": -50}], r"tiers\[1\].mmr", "0.003"),
    ([ROWS[0], {**ROWS[1], "maint_amount": 75}], r"tiers\[1\].maint_amount", "75"),
    ([ROWS[0], {**ROWS[1], "max_leverage": 150}], r"tiers\[1\].max_leverage", "150"),
    ([{**ROWS[0], "mmr": 1.0}], r"tiers\[0\].mmr", "1.0"),
    ([{**ROWS[0], "cap": 0}], r"tiers\[0\].cap", "0"),
    ([{**ROWS[0], "mmr": "abc"}], r"tiers\[0\].mmr", "abc"),
    ([{**ROWS[0], "mmr": float("nan")}], r"tiers\[0\].mmr", "nan"),
    ([{"floor": 0, "cap": 1, "mmr": 0.1}], r"tiers\[0\]", "max_leverage"),
]


@pytest.mark.parametrize(("rows", "field", "value"), MALFORMED)
def test_malformed_tables_name_field_and_value(rows: list, field: str, value: str) -> None:
    with pytest.raises(TierTableError, match=rf"{field}.*{value}") as info:
        TierTable.from_records(rows)
    assert isinstance(info.value, ValueError)


def test_from_ccxt_structure() -> None:
    # the shape of ccxt's fetch_leverage_tiers()["BTC/USDT:USDT"] for Binance (info holds cum)
    live = [
        {
            "tier": i + 1,
            "currency": "USDT",
            "minNotional": r["floor"],
            "maxNotional": r["cap"],
            "maintenanceMarginRate": r["mmr"],
            "maxLeverage": r["max_leverage"],
            "info": {"bracket": str(i + 1), "cum": str(float(r["maint_amount"]))},
        }
        for i, r in enumerate(ROWS)
    ]
    t = TierTable.from_ccxt(live)
    assert t.notional_unit == "USDT"
    np.testing.assert_array_equal(t.maint_amounts, [0, 50, 1_300])
    # exchanges without cum in info (Bybit, OKX through ccxt): filled by the recurrence
    for row in live:
        row["info"] = {}
    np.testing.assert_allclose(TierTable.from_ccxt(live).maint_amounts, [0, 50, 1_300])
    with pytest.raises(TierTableError, match="one symbol's list"):
        TierTable.from_ccxt({"BTC/USDT:USDT": live})
    with pytest.raises(TierTableError, match="maxLeverage"):
        TierTable.from_ccxt([{k: v for k, v in live[0].items() if k != "maxLeverage"}])


def test_lookups_vectorised_with_inclusive_floors() -> None:
    t = TierTable.from_records(ROWS)
    np.testing.assert_array_equal(t.tier_index([0, 49_999.99, 50_000, 999_999]), [0, 0, 1, 2])
    np.testing.assert_allclose(t.mmr_at(np.array([1e3, 1e5])), [0.004, 0.005])
    assert t.maintenance_margin(100_000) == pytest.approx(100_000 * 0.005 - 50)
    with pytest.raises(InputError, match="notional"):
        t.tier_index(1_000_000)
    with pytest.raises(InputError, match=r"notional\[1\]=-1.0"):
        t.tier_index([1.0, -1.0])
    with pytest.raises(InputError, match=r"leverage=120\.0"):
        t.check_leverage(120, 60_000)


CONTINUOUS = [
    (name, sym)
    for name in exchanges.names()
    for sym in exchanges.get(name).symbols
    if exchanges.get(name).tiers(sym).continuous
]


@pytest.mark.parametrize(("preset", "symbol"), CONTINUOUS)
def test_shipped_tables_are_continuous_and_convex(preset: str, symbol: str) -> None:
    t = exchanges.get(preset).tiers(symbol)
    inner = t.floors[1:]
    left = inner * t.mmrs[:-1] - t.maint_amounts[:-1]
    right = t.maintenance_margin(inner)
    np.testing.assert_allclose(left, right, rtol=1e-6, atol=1e-6)
    n = np.geomspace(1e-3, float(t.caps[-1]) * 0.999, 2_000)
    pieces = n[:, None] * t.mmrs[None, :] - t.maint_amounts[None, :]
    np.testing.assert_allclose(t.maintenance_margin(n), pieces.max(axis=1), rtol=1e-9, atol=1e-6)


BTC = exchanges.get("binance-usdm").tiers("BTCUSDT")


def _bisect(f, lo: float, hi: float) -> float:
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if f(lo) * f(mid) <= 0:
            hi = mid
        else:
            lo = mid
    return 0.5 * (lo + hi)


@settings(max_examples=200, deadline=None)
@given(
    side=st.sampled_from([1.0, -1.0]),
    log_notional=st.floats(2.0, 8.5),
    lev_frac=st.floats(0.02, 1.0),
    fee=st.sampled_from([0.0, 0.0005]),
)
def test_tiered_price_solves_the_tiered_condition(side, log_notional, lev_frac, fee) -> None:
    """Independent check: bisection on equity(P) - MM(N(P)) with the tier looked up at N(P)."""
    entry, n0 = 50_000.0, 10.0**log_notional
    qty = n0 / entry
    # from 1.01x: at exactly 1x collateral equals notional to the last ulp (a rounding question)
    lev = max(1.01, float(BTC.max_leverage_at(n0)) * lev_frac)
    coll = n0 / lev
    p = mk.tiered_liquidation_price(side, entry, qty, coll, BTC, close_fee_rate=fee)
    cap_price = float(BTC.caps[-1]) * 0.999999 / qty

    def gap(price: float) -> float:
        n = qty * price
        return (
            coll
            + side * qty * (price - entry)
            - (BTC.maintenance_margin(min(n, BTC.caps[-1] * 0.999999)) + fee * n)
        )

    if side > 0:
        if gap(1e-9) > 0:  # solvent at any price: documented NaN
            assert np.isnan(p)
            return
        expected = _bisect(gap, 1e-9, entry)
    else:
        hi = min(entry * 3, cap_price)
        if gap(hi) > 0:
            return  # liquidation beyond the last cap: not representable by the table
        expected = _bisect(gap, entry, hi)
    assert p == pytest.approx(expected, rel=1e-9)


def test_solve_notional_no_root_is_nan() -> None:
    out = solve_notional(BTC, np.array([-1.0, 0.0, 1.0]), 1.0)
    assert np.isnan(out[:2]).all()
    assert out[2] > 0
