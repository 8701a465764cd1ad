"""Numeric liquidation/bankruptcy prices: published vectors, an independent residual check,
invariants under hypothesis, the no-liquidation convention and input errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import load_vectors, other_terms
from hypothesis import given, settings
from hypothesis import strategies as st

import margin_kit as mk
from margin_kit import InputError

VECTORS = load_vectors()


# ----------------------------------------------------------------------------- published vectors
@pytest.mark.parametrize("v", VECTORS, ids=[v["id"] for v in VECTORS])
def test_public_vector(v: dict) -> None:
    assert v["source"], "every vector carries its source"
    pos = v["position"]
    other_mm, other_upnl = other_terms(v) if v["margin_mode"] == "cross" else (0.0, 0.0)
    got = mk.liquidation_price(
        pos["side"],
        pos["entry_price"],
        pos["qty"],
        v["collateral"],
        pos["mmr"],
        pos["maint_amount"],
        contract=v["contract"],
        contract_size=pos.get("contract_size", 1.0),
        other_maint_margin=other_mm,
        other_upnl=other_upnl,
    )
    tol = (
        v.get("tolerance_abs", 0.0) or v.get("tolerance_rel", 0.0) * v["expected_liquidation_price"]
    )
    assert abs(got - v["expected_liquidation_price"]) <= tol, (got, v["expected_liquidation_price"])
    if "expected_bankruptcy_price" in v:
        bk = mk.bankruptcy_price(
            pos["side"],
            pos["entry_price"],
            pos["qty"],
            v["collateral"],
            contract=v["contract"],
            other_upnl=other_upnl,
        )
        assert abs(bk - v["expected_bankruptcy_price"]) <= tol


# ----------------------------------------------------------------------------- strategies
@st.composite
def positions(draw: st.DrawFn, contract: str, cross: bool) -> dict:
    """Valid positions: initial margin above maintenance so a liquidation price exists."""
    side = draw(st.sampled_from([1.0, -1.0]))
    entry = draw(st.floats(1e-2, 1e6))
    qty = draw(st.floats(1e-3, 1e4))
    csize = draw(st.sampled_from([1.0, 10.0, 100.0])) if contract == "inverse" else 1.0
    lev = draw(st.floats(2.0 if cross else 1.5, 125.0))
    mmr = draw(st.floats(1e-4, 0.5)) * 0.5 / lev
    n0 = qty * csize * entry if contract == "linear" else qty * csize / entry
    # as in real tables (cum_k <= floor_k * mmr_k), maintenance stays positive down to the
    # bankruptcy notional, which is at least n0 * (1 - 1/lev) isolated and 0.35 * n0 cross
    cum = draw(st.floats(0.0, 0.3)) * n0 * mmr * (1 - 1 / lev)
    collateral = n0 / lev
    other_mm = other_upnl = 0.0
    if cross:
        # a cross wallet larger than the position's margin, yet below its notional
        collateral *= draw(st.floats(1.0, min(3.0, 0.5 * lev)))
        other_mm = draw(st.floats(0.0, 0.2)) * n0 * mmr
        other_upnl = draw(st.floats(-0.3, 0.3)) * (collateral - n0 * mmr + cum - other_mm)
    return dict(
        side=side,
        entry_price=entry,
        qty=qty,
        collateral=collateral,
        mmr=mmr,
        maint_amount=cum,
        contract=contract,
        contract_size=csize,
        other_maint_margin=other_mm,
        other_upnl=other_upnl,
    )


def residual(p: float, k: dict) -> float:
    """equity - maintenance at price p, written out directly from the definitions."""
    s, e, q, c = k["side"], k["entry_price"], k["qty"], k["contract_size"]
    if k["contract"] == "linear":
        pnl, n = s * q * c * (p - e), q * c * p
    else:
        pnl, n = s * q * c * (1 / e - 1 / p), q * c / p
    eq = k["collateral"] + k["other_upnl"] + pnl
    mm = n * k["mmr"] - k["maint_amount"] + k["other_maint_margin"]
    return eq - mm


VARIANTS = [(c, x) for c in ("linear", "inverse") for x in (False, True)]


@pytest.mark.parametrize(("contract", "cross"), VARIANTS)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_condition_holds_at_liquidation_price(contract: str, cross: bool, data) -> None:
    k = data.draw(positions(contract, cross))
    p = mk.liquidation_price(**k)
    assert p > 0
    n0 = (
        k["qty"]
        * k["contract_size"]
        * (k["entry_price"] if contract == "linear" else 1 / k["entry_price"])
    )
    assert abs(residual(p, k)) <= 1e-9 * n0
    # bankruptcy: equity = 0
    kb = {**k, "mmr": 0.0, "maint_amount": 0.0, "other_maint_margin": 0.0}
    b = mk.bankruptcy_price(**k)
    assert abs(residual(b, kb)) <= 1e-9 * n0


@pytest.mark.parametrize(("contract", "cross"), VARIANTS)
@settings(max_examples=150, deadline=None)
@given(data=st.data(), extra=st.floats(0.01, 0.5))
def test_invariants(contract: str, cross: bool, data, extra: float) -> None:
    k = data.draw(positions(contract, cross))
    s, e = k["side"], k["entry_price"]
    p = mk.liquidation_price(**k)
    b = mk.bankruptcy_price(**k)
    # a long's liquidation price is below entry, a short's above
    assert s * (e - p) > 0
    # bankruptcy lies beyond liquidation (it needs the maintenance margin lost as well)
    assert s * (p - b) > 0 or (math.isnan(b) and s * (contract == "linear" or -1) > 0)
    # more collateral moves the liquidation price away from entry
    more = mk.liquidation_price(**{**k, "collateral": k["collateral"] * (1 + extra)})
    assert math.isnan(more) or s * (p - more) > 0
    if not cross:
        # isolated: the loss at liquidation never exceeds the position's margin
        loss = -mk.unrealized_pnl(
            s, e, p, k["qty"], contract=contract, contract_size=k["contract_size"]
        )
        assert loss <= k["collateral"] * (1 + 1e-12)


def test_flat_tier_table_matches_generic() -> None:
    rng = np.random.default_rng(1)
    n = 1000
    side = rng.choice([-1.0, 1.0], n)
    entry = rng.uniform(10, 1e5, n)
    qty = rng.uniform(0.01, 10, n)
    coll = qty * entry / rng.uniform(2, 50, n)
    table = mk.TierTable.flat(0.01)
    np.testing.assert_allclose(
        mk.tiered_liquidation_price(side, entry, qty, coll, table),
        mk.liquidation_price(side, entry, qty, coll, 0.01),
        rtol=1e-12,
    )


# ----------------------------------------------------------------------------- no liquidation
def test_no_liquidation_is_nan_never_negative() -> None:
    # linear long with collateral above its notional: no price > 0 liquidates it
    assert math.isnan(mk.liquidation_price("long", 100.0, 1.0, 150.0, 0.01))
    assert math.isnan(mk.bankruptcy_price("long", 100.0, 1.0, 150.0))
    # exactly fully collateralised: bankrupt only at price 0, which is not a price
    assert math.isnan(mk.bankruptcy_price("long", 100.0, 1.0, 100.0))
    # inverse short with collateral (coin) above its notional in coin: never liquidated
    assert math.isnan(
        mk.liquidation_price(
            "short", 50_000.0, 100, 0.5, 0.005, contract="inverse", contract_size=100
        )
    )
    # a linear short always has one
    assert mk.liquidation_price("short", 100.0, 1.0, 1000.0, 0.01) > 100.0
    rng = np.random.default_rng(0)
    out = mk.liquidation_price(
        rng.choice(["long", "short"], 10_000),
        rng.uniform(1, 100, 10_000),
        1.0,
        rng.uniform(0, 300, 10_000),
        0.01,
        contract="inverse",
    )
    assert not (out <= 0).any()


# ----------------------------------------------------------------------------- shapes
def test_scalars_arrays_series() -> None:
    p = mk.liquidation_price("long", 100.0, 1.0, 10.0, 0.005)
    assert isinstance(p, float)
    assert p == pytest.approx((10 - 100) / (0.005 - 1))  # (C - qE) / (q (m - 1))
    arr = mk.liquidation_price(np.array([1, -1]), np.array([100.0, 100.0]), 1.0, 10.0, 0.005)
    assert isinstance(arr, np.ndarray)
    assert arr.shape == (2,)
    idx = pd.Index(["a", "b"], name="pos")
    ser = mk.liquidation_price(pd.Series(["long", "short"], index=idx), 100.0, 1.0, 10.0, 0.005)
    assert isinstance(ser, pd.Series)
    assert ser.index.equals(idx)
    np.testing.assert_allclose(ser.to_numpy(), arr)
    grid = mk.liquidation_price(
        "long", 100.0, 1.0, np.array([[5.0], [10.0]]), np.array([0.0, 0.01])
    )
    assert grid.shape == (2, 2)
    with pytest.raises(InputError, match="index"):
        mk.liquidation_price(
            pd.Series(["long"], index=["a"]), pd.Series([1.0], index=["b"]), 1, 1, 0
        )


# ----------------------------------------------------------------------------- bad input
BAD = [
    ({"entry_price": -1.0}, "entry_price", "-1.0"),
    ({"entry_price": 0.0}, "entry_price", "0.0"),
    ({"qty": 0.0}, "qty", "0.0"),
    ({"qty": -2.0}, "qty", "-2.0"),
    ({"qty": float("nan")}, "qty", "nan"),
    ({"entry_price": np.array([1.0, np.nan])}, r"entry_price\[1\]", "nan"),
    ({"collateral": -5.0}, "collateral", "-5.0"),
    ({"collateral": float("inf")}, "collateral", "inf"),
    ({"mmr": 1.0}, "mmr", "1.0"),
    ({"mmr": -0.1}, "mmr", "-0.1"),
    ({"side": "flat"}, "side", "flat"),
    ({"side": 2}, "side", "2"),
    ({"side": np.array(["long", "up"])}, r"side\[1\]", "up"),
    ({"contract": "quanto"}, "contract", "quanto"),
]


@pytest.mark.parametrize(("change", "field", "value"), BAD)
def test_bad_input_names_field_and_value(change: dict, field: str, value: str) -> None:
    k = dict(side="long", entry_price=100.0, qty=1.0, collateral=10.0, mmr=0.005)
    k.update(change)
    with pytest.raises(InputError, match=rf"{field}=.*{value}") as info:
        mk.liquidation_price(**k)
    assert isinstance(info.value, ValueError)


def test_helpers_agree_with_definitions() -> None:
    assert mk.initial_margin(50_000, 2, 20) == pytest.approx(5_000)
    assert mk.maintenance_margin(50_000, 2, 0.005, 50) == pytest.approx(450)
    assert mk.unrealized_pnl("short", 100, 90, 3) == pytest.approx(30)
    assert mk.unrealized_pnl("long", 50_000, 40_000, 10, contract="inverse", contract_size=100) == (
        pytest.approx(1000 * (1 / 50_000 - 1 / 40_000))
    )
    eq = mk.equity("long", 100, 95, 1, 10)
    assert eq == pytest.approx(5)
    assert mk.margin_ratio(2.5, eq) == pytest.approx(0.5)
    assert mk.margin_ratio(1.0, -1.0) == math.inf
    assert mk.notional(40_000, 100, contract="inverse", contract_size=100) == pytest.approx(0.25)
