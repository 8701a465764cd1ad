"""Accounts: cross positions hold the others at their marks, isolated ones stand alone."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import load_vectors

import margin_kit as mk
from margin_kit import Account, InputError, Market, Position, TierTable, exchanges
from margin_kit.contracts import ContractSpec

VEC = {v["id"]: v for v in load_vectors()}


def _market_with_bracket(symbol: str, mmr: float, cum: float, lower_mmr: float) -> Market:
    """A two-tier table whose upper tier has the (mmr, cum) the published example used.

    cum = floor * (mmr - lower_mmr) places the boundary; both examples' notionals (at the mark and
    at liquidation) lie above it, so the upper tier applies throughout.
    """
    floor = cum / (mmr - lower_mmr)
    t = TierTable.from_records(
        [
            {"floor": 0, "cap": floor, "max_leverage": 125, "mmr": lower_mmr},
            {"floor": floor, "cap": 1e10, "max_leverage": 20, "mmr": mmr, "maint_amount": cum},
        ]
    )
    return Market(ContractSpec(symbol), t)


def binance_example_account(mode: str = "cross") -> Account:
    eth, btc = VEC["binance-usdm-cross-eth-long"], VEC["binance-usdm-cross-btc-long"]
    e, b = eth["position"], btc["position"]
    eth_mark = btc["others"][0]["mark_price"]
    btc_mark = eth["others"][0]["mark_price"]
    return Account(
        eth["collateral"],
        [
            Position(
                _market_with_bracket("ETHUSDT", e["mmr"], e["maint_amount"], 0.05),
                "long",
                e["qty"],
                e["entry_price"],
                leverage=10,
                mark_price=eth_mark,
                margin_mode=mode,
            ),
            Position(
                _market_with_bracket("BTCUSDT", b["mmr"], b["maint_amount"], 0.005),
                "long",
                b["qty"],
                b["entry_price"],
                leverage=10,
                mark_price=btc_mark,
                margin_mode=mode,
            ),
        ],
    )


def test_one_account_reproduces_both_published_cross_prices() -> None:
    liq = binance_example_account().liquidation_prices()["liquidation_price"]
    for name, vid in (
        ("ETHUSDT long", "binance-usdm-cross-eth-long"),
        ("BTCUSDT long", "binance-usdm-cross-btc-long"),
    ):
        v = VEC[vid]
        assert abs(liq[name] - v["expected_liquidation_price"]) <= v["tolerance_abs"]


def test_isolated_positions_use_their_own_margin() -> None:
    acct = binance_example_account("isolated")
    table = acct.liquidation_prices()
    for p in acct.positions:
        direct = mk.tiered_liquidation_price(
            p.side, p.entry_price, p.qty, p.isolated_margin, p.market.tiers
        )
        assert table.loc[p.name, "liquidation_price"] == pytest.approx(direct, rel=1e-12)
        assert table.loc[p.name, "collateral"] == pytest.approx(p.isolated_margin)
    # the published isolated example funds one position with the whole wallet: add_margin does it
    v = VEC["binance-usdm-isolated-eth-long"]
    one = Account(v["collateral"], [acct.position("ETHUSDT long")])
    one = one.add_margin(
        "ETHUSDT long", v["collateral"] - one.position("ETHUSDT long").isolated_margin
    )
    got = one.liquidation_prices().loc["ETHUSDT long", "liquidation_price"]
    assert abs(got - v["expected_liquidation_price"]) <= v["tolerance_abs"]


BTC = exchanges.get("binance-usdm").market("BTCUSDT")
ETH = exchanges.get("binance-usdm").market("ETHUSDT")


def demo_account() -> Account:
    return Account(
        20_000,
        [
            Position(
                BTC, "long", 0.5, 60_000, leverage=10, margin_mode="isolated", mark_price=61_000
            ),
            Position(ETH, "short", 10, 3_000, leverage=20, mark_price=2_950),
            Position(BTC, "short", 0.2, 62_000, leverage=25, mark_price=61_000, name="BTC hedge"),
        ],
    )


def test_add_margin_moves_isolated_away_and_cross_closer() -> None:
    acct = demo_account()
    before = acct.liquidation_prices()
    after = acct.add_margin("BTCUSDT long", 1_000).liquidation_prices()
    # isolated long: more margin → lower liquidation price
    assert (
        after.loc["BTCUSDT long", "liquidation_price"]
        < before.loc["BTCUSDT long", "liquidation_price"]
    )
    # the margin came out of the cross wallet: cross shorts now liquidate at a lower price
    for name in ("ETHUSDT short", "BTC hedge"):
        assert after.loc[name, "liquidation_price"] < before.loc[name, "liquidation_price"]
    assert acct.add_margin("BTCUSDT long", 1_000).cross_wallet_balance == pytest.approx(
        acct.cross_wallet_balance - 1_000
    )
    with pytest.raises(InputError, match="name='ETHUSDT short'"):
        acct.add_margin("ETHUSDT short", 10)


def test_cross_condition_holds_for_every_position() -> None:
    """At a cross position's liquidation price, with the positions on other symbols at their
    marks and those on its symbol at that price, cross equity equals cross maintenance margin
    (evaluated through Position methods)."""
    acct = Account(3_000, demo_account().with_mode("cross").positions)
    table = acct.liquidation_prices()
    checked = 0
    for p in acct.positions:
        price = table.loc[p.name, "liquidation_price"]
        if np.isnan(price):
            continue
        at = [price if o.symbol == p.symbol else o.mark_price for o in acct.positions]
        equity = acct.cross_wallet_balance + sum(
            o.unrealized_pnl(x) for o, x in zip(acct.positions, at, strict=True)
        )
        maint = sum(o.maint_margin(x) for o, x in zip(acct.positions, at, strict=True))
        assert equity == pytest.approx(maint, rel=1e-9)
        checked += 1
    assert checked >= 2


def test_no_joint_liquidation_beyond_the_last_cap() -> None:
    """The demo's BTC hedge (short) in cross, with the BTC long moving too: equity only reaches
    maintenance at a price where the pair's notional is beyond the tier table's last cap, so
    there is no liquidation price (NaN), not a price of billions."""
    acct = demo_account().with_mode("cross")
    assert np.isnan(acct.liquidation_prices().loc["BTC hedge", "liquidation_price"])
    btc = [p for p in acct.positions if p.symbol == "BTCUSDT"]
    others = [p for p in acct.positions if p.symbol != "BTCUSDT"]
    cap_price = min(p.market.tiers.caps[-1] / p.qty for p in btc)
    base = acct.cross_wallet_balance + sum(o.unrealized_pnl() - o.maint_margin() for o in others)
    at_cap = base + sum(p.unrealized_pnl(cap_price) - p.maint_margin(cap_price) for p in btc)
    assert at_cap > 0  # still solvent where the table ends


def test_hedge_mode_pair_matches_binance_formula() -> None:
    """Binance's hedge-mode cross formula: the long and short legs of a symbol share the price,
    LP = (WB - TMM1 + UPNL1 + cumL + cumS - PL EPL + PS EPS) / (PL MMRL + PS MMRS - PL + PS)."""
    m = mk.Market.simple("XUSDT", 0.01)
    wb, pl, epl, ps, eps = 20.0, 2.0, 100.0, 1.5, 104.0
    acct = mk.Account(wb, [
        mk.Position(m, "long", pl, epl, leverage=10, mark_price=101.0),
        mk.Position(m, "short", ps, eps, leverage=10, mark_price=101.0),
    ])  # fmt: skip
    lp = (wb - pl * epl + ps * eps) / (pl * 0.01 + ps * 0.01 - pl + ps)
    table = acct.liquidation_prices()
    assert table.loc["XUSDT long", "liquidation_price"] == pytest.approx(lp, rel=1e-12)
    # bankruptcy: equity 0 with both legs at the price
    bp = (wb - pl * epl + ps * eps) / (ps - pl)
    assert 0 < bp < lp < 101.0
    assert table.loc["XUSDT long", "bankruptcy_price"] == pytest.approx(bp, rel=1e-12)


@pytest.mark.parametrize("contract", ["linear", "inverse"])
def test_joint_root_crosses_tiers_like_a_bisection(contract: str) -> None:
    """Two same-symbol cross positions whose liquidation lies several tiers away: the exact
    piecewise-linear root agrees with a bisection on the condition."""
    if contract == "linear":
        market = mk.exchanges.get("binance-usdm").market("BTCUSDT")
        legs = [("long", 60.0, 60_000.0), ("long", 25.0, 62_000.0)]
        wallet, mark = 1_400_000.0, 61_000.0
    else:
        market = mk.exchanges.get("binance-coinm").market("BTCUSD_PERP")
        legs = [("long", 40_000.0, 60_000.0), ("long", 25_000.0, 62_000.0)]
        wallet, mark = 70.0, 61_000.0
    acct = mk.Account(wallet, [
        mk.Position(market, side, qty, entry, leverage=5, mark_price=mark, name=f"leg{i}")
        for i, (side, qty, entry) in enumerate(legs)
    ])  # fmt: skip
    liq = acct.liquidation_prices().loc["leg0", "liquidation_price"]

    def f(price: float) -> float:
        return wallet + sum(p.unrealized_pnl(price) - p.maint_margin(price) for p in acct.positions)

    lo, hi = 1e-6, mark
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if f(mid) <= 0 else (lo, mid)
    assert liq == pytest.approx(hi, rel=1e-9)
    # several tiers apart: the root's notional is in another tier than the mark's
    tiers = market.tiers
    n_mark = acct.positions[0].notional_at(mark)
    n_liq = acct.positions[0].notional_at(liq)
    assert tiers.tier_index(n_liq) != tiers.tier_index(n_mark)


def test_frame_balances_and_ratio() -> None:
    acct = demo_account()
    f = acct.frame()
    assert list(f.index) == ["BTCUSDT long", "ETHUSDT short", "BTC hedge"]
    assert f.loc["BTCUSDT long", "isolated_margin"] == pytest.approx(0.5 * 60_000 / 10)
    assert acct.cross_wallet_balance == pytest.approx(20_000 - 3_000)
    upnl = 0.5 * 1_000 + 10 * 50 + 0.2 * 1_000
    assert acct.equity == pytest.approx(20_000 + upnl)
    assert acct.cross_equity == pytest.approx(17_000 + 10 * 50 + 0.2 * 1_000)
    ratio = acct.cross_maintenance_margin / acct.cross_equity
    assert acct.cross_margin_ratio == pytest.approx(ratio)
    im = 10 * 2_950 / 20 + 0.2 * 61_000 / 25
    assert acct.available_balance == pytest.approx(acct.cross_equity - im)
    table = acct.liquidation_prices()
    assert set(table.columns) >= {
        "mode",
        "liquidation_price",
        "bankruptcy_price",
        "distance_pct",
        "margin",
    }
    assert (table["distance_pct"] > 0).all()
    # bankruptcy lies beyond liquidation in every row
    signs = np.where(table["side"] == "long", 1.0, -1.0)
    assert (signs * (table["liquidation_price"] - table["bankruptcy_price"]) > 0).all()


def test_isolated_loss_at_liquidation_within_margin() -> None:
    acct = demo_account().with_mode("isolated")
    table = acct.liquidation_prices()
    for p in acct.positions:
        loss = -p.unrealized_pnl(table.loc[p.name, "liquidation_price"])
        assert 0 < loss <= p.isolated_margin


def test_bad_accounts_and_positions() -> None:
    with pytest.raises(InputError, match=r"leverage=150\.0"):
        Position(BTC, "long", 0.1, 60_000, leverage=150)
    # 100 BTC at 60,000 = 6M notional: tier 4 of the shipped Binance table allows 50x at most
    with pytest.raises(InputError, match=r"leverage=75\.0.*50"):
        Position(BTC, "long", 100, 60_000, leverage=75)
    Position(BTC, "long", 100, 60_000, leverage=50)
    with pytest.raises(InputError, match="side='up'"):
        Position(BTC, "up", 0.1, 60_000)
    with pytest.raises(InputError, match="margin_mode='portfolio'"):
        Position(BTC, "long", 0.1, 60_000, margin_mode="portfolio")
    with pytest.raises(InputError, match=r"qty=-1\.0"):
        Position(BTC, "long", -1, 60_000)
    p = Position(BTC, "long", 1, 60_000, leverage=10, margin_mode="isolated")
    with pytest.raises(InputError, match=r"wallet_balance=1000\.0"):
        Account(1_000, [p])
    with pytest.raises(InputError, match="name"):
        Account(1e6, [p, p])
    coinm = exchanges.get("binance-coinm").market("BTCUSD_PERP")
    with pytest.raises(InputError, match="settle currency"):
        Account(1e6, [p, Position(coinm, "long", 10, 60_000, leverage=10, name="x")])


def test_inverse_account_cross_equals_generic_formula() -> None:
    coinm = exchanges.get("binance-coinm").market("BTCUSD_PERP")
    acct = Account(1.0, [Position(coinm, "long", 100, 50_000, leverage=20)])
    got = acct.liquidation_prices()["liquidation_price"].iloc[0]
    # notional 0.2 BTC sits in tier 1 (mmr 0.4 %, cum 0) at entry and at liquidation
    assert got == pytest.approx(
        mk.liquidation_price("long", 50_000, 100, 1.0, 0.004, contract="inverse", contract_size=100)
    )
