"""Sizing answers, checked by plugging them back into the liquidation-price evaluator."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import margin_kit as mk
from margin_kit import InputError, exchanges, sizing

BTC = exchanges.get("binance-usdm").market("BTCUSDT")
COINM = exchanges.get("binance-coinm").market("BTCUSD_PERP")


@settings(max_examples=200, deadline=None)
@given(
    side=st.sampled_from(["long", "short"]),
    entry=st.floats(1_000, 100_000),
    log_coll=st.floats(1.0, 6.5),
    distance=st.floats(0.003, 0.6),
)
def test_qty_for_distance_plugs_back_linear(side, entry, log_coll, distance) -> None:
    coll = 10.0**log_coll
    q = sizing.max_qty_for_distance(side, entry, coll, distance, BTC.tiers)
    assume(q * entry < BTC.tiers.caps[-1])
    p = mk.tiered_liquidation_price(side, entry, q, coll, BTC.tiers)
    s = 1 if side == "long" else -1
    assert p == pytest.approx(entry * (1 - s * distance), rel=1e-6)
    # one unit more and the liquidation moves closer than the target
    closer = mk.tiered_liquidation_price(side, entry, q * 1.01, coll, BTC.tiers)
    assert s * (closer - p) > 0


@settings(max_examples=200, deadline=None)
@given(
    side=st.sampled_from(["long", "short"]),
    entry=st.floats(5_000, 100_000),
    coll=st.floats(0.001, 20.0),
    distance=st.floats(0.003, 0.5),
)
def test_qty_for_distance_plugs_back_inverse(side, entry, coll, distance) -> None:
    kw = {"contract": "inverse", "contract_size": 100.0}
    q = sizing.max_qty_for_distance(side, entry, coll, distance, COINM.tiers, **kw)
    assume(q * 100 / entry < COINM.tiers.caps[-1])
    p = mk.tiered_liquidation_price(side, entry, q, coll, COINM.tiers, **kw)
    s = 1 if side == "long" else -1
    assert p == pytest.approx(entry * (1 - s * distance), rel=1e-6)


@settings(max_examples=150, deadline=None)
@given(
    side=st.sampled_from(["long", "short"]),
    qty=st.floats(0.001, 500.0),
    distance=st.floats(0.002, 0.5),
)
def test_leverage_for_distance_plugs_back(side, qty, distance) -> None:
    entry = 60_000.0
    lev = sizing.max_leverage_for_distance(side, entry, qty, distance, BTC.tiers)
    p = mk.tiered_liquidation_price(side, entry, qty, qty * entry / lev, BTC.tiers)
    s = 1 if side == "long" else -1
    assert p == pytest.approx(entry * (1 - s * distance), rel=1e-6)


def test_simple_closed_form_and_vectorised() -> None:
    # one flat tier, long linear: P* = E (1 - d) with C = N0 / L gives (from
    # P = (C - qE)/(q(m - 1))) L = 1 / (1 - (1 - d)(1 - m))
    flat = mk.TierTable.flat(0.005)
    d = np.array([0.01, 0.05, 0.2])
    lev = sizing.max_leverage_for_distance("long", 100.0, 1.0, d, flat)
    np.testing.assert_allclose(lev, 1 / (1 - (1 - d) * (1 - 0.005)), rtol=1e-12)


def test_isolated_margin_matching_cross() -> None:
    eth = exchanges.get("binance-usdm").market("ETHUSDT")
    acct = mk.Account(20_000, [
        mk.Position(BTC, "long", 0.5, 60_000, leverage=10, margin_mode="isolated",
                    mark_price=61_000),
        mk.Position(eth, "short", 10, 3_000, leverage=20, mark_price=2_950),
    ])  # fmt: skip
    margin = sizing.isolated_margin_matching_cross(acct, "BTCUSDT long")
    cross_price = (
        acct.with_mode("cross").liquidation_prices().loc["BTCUSDT long", "liquidation_price"]
    )
    iso = mk.tiered_liquidation_price("long", 60_000, 0.5, margin, BTC.tiers)
    assert iso == pytest.approx(cross_price, rel=1e-9)
    assert margin > acct.position("BTCUSDT long").isolated_margin  # the shared wallet backs it


def test_bad_targets() -> None:
    with pytest.raises(InputError, match=r"target_price=110\.0"):
        sizing.qty_for_liquidation_price("long", 100.0, 10.0, 110.0, BTC.tiers)
    with pytest.raises(InputError, match=r"distance=1\.5"):
        sizing.max_qty_for_distance("long", 100.0, 10.0, 1.5, BTC.tiers)
    with pytest.raises(InputError, match=r"collateral=-1\.0"):
        sizing.qty_for_liquidation_price("long", 100.0, -1.0, 90.0, BTC.tiers)


@settings(max_examples=60, deadline=None)
@given(
    side=st.sampled_from(["long", "short"]),
    alpha=st.floats(0.001, 0.5),
    vol=st.floats(0.2, 1.5),
    days=st.floats(1, 90),
    drift=st.floats(-0.5, 0.5),
)
def test_qty_for_probability_plugs_back(side, alpha, vol, days, drift) -> None:
    from margin_kit.risk import hit_probability

    horizon = days / 365
    q = sizing.max_qty_for_probability(
        side, 60_000, 3_000, BTC.tiers, vol=vol, horizon=horizon, alpha=alpha, drift=drift
    )
    assume(q * 60_000 < 0.5 * BTC.tiers.caps[-1])
    p = mk.tiered_liquidation_price(side, 60_000, q, 3_000, BTC.tiers)
    assert hit_probability(60_000, p, vol, horizon, drift) == pytest.approx(alpha, abs=1e-6)
    lev = sizing.max_leverage_for_probability(
        side, 60_000, q, BTC.tiers, vol=vol, horizon=horizon, alpha=alpha, drift=drift
    )
    assert q * 60_000 / lev == pytest.approx(3_000, rel=1e-6)


def test_crossover_wallet_is_the_root_on_the_decaying_side() -> None:
    from margin_kit.risk import hit_probability

    pos = mk.Position(BTC, "long", 0.5, 60_000, leverage=20)
    vol, horizon = 0.7, 7 / 365

    def expected_loss(wallet: float) -> float:
        price = mk.tiered_liquidation_price("long", 60_000, 0.5, wallet, BTC.tiers)
        return float(hit_probability(60_000, price, vol, horizon)) * wallet

    iso = expected_loss(pos.initial_margin)  # cross on the initial margin = isolated
    w = sizing.crossover_wallet(pos, vol=vol, horizon=horizon)
    assert w > pos.initial_margin
    assert expected_loss(w) == pytest.approx(iso, rel=1e-6)
    assert expected_loss(w * 0.99) > iso > expected_loss(w * 1.01)
    # far above the crossover cross keeps losing less
    assert expected_loss(w * 3) < iso
