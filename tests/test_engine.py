"""Margin-engine replay: hand-built paths with known events, real BTC crashes, many paths at once.

Every expected step, fill and amount is worked out here from the published formulas (Binance:
``equity = C + s q (P - E)``, ``MM = q P mmr - cum`` with the tier of the notional; Bybit:
``LP = E - s (margin - MM) / q`` with MM fixed at the entry value), through the analytical
functions of :mod:`margin_kit.liquidation`, never read back from the replay.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED

from margin_kit import (
    Account,
    InputError,
    Position,
    bankruptcy_price,
    exchanges,
    tiered_liquidation_price,
)
from margin_kit.engine import _Book, replay
from margin_kit.prices import load_ohlc

BINANCE = exchanges.get("binance-usdm").market("BTCUSDT")
ETH = exchanges.get("binance-usdm").market("ETHUSDT")
BYBIT = exchanges.get("bybit-linear").market("BTCUSDT")
BTC_CSV = SHARED / "data" / "btc-usd-daily.csv"


def _liq(side: str, entry: float, qty: float, collateral: float, market=BINANCE) -> float:
    return float(
        tiered_liquidation_price(
            side, entry, qty, collateral, market.tiers, tier_basis=market.tier_basis
        )
    )


def _one_long(wallet: float = 10_000.0) -> Account:
    # 1 BTC long at 40,000, 20x: notional 40k lies in Binance's first tier (mmr 0.4 %, cum 0),
    # isolated margin 2,000.
    return Account(wallet, [Position(BINANCE, "long", 1.0, 40_000.0, leverage=20, name="L")])


def _events(res, mode: str, event: str | None = None) -> pd.DataFrame:
    ev = res.events[res.events["mode"] == mode]
    return ev if event is None else ev[ev["event"] == event]


# ------------------------------------------------------------------ hand-built paths
def test_touching_the_liquidation_price_once_isolated() -> None:
    # Isolated: collateral = margin 2,000. The liquidation price solves
    # 2000 + (P - 40000) = 0.004 P, i.e. P = 38000 / 0.996 (~38,152.6).
    p_liq = _liq("long", 40_000, 1.0, 2_000)
    assert p_liq == pytest.approx(38_000 / 0.996, rel=1e-12)
    path = [40_000, 39_000, 38_500, p_liq, 39_000, 40_000]
    # margin ratio 0.004 P / (2000 + P - 40000) at 38,500 is 154 / 500 = 0.31 < 0.8, and 1 at p_liq
    res = replay(_one_long(), path, modes="isolated")
    ev = _events(res, "isolated")
    assert ev["event"].tolist() == ["margin_call", "liquidation"]
    assert ev["step"].tolist() == [3, 3]
    liq = ev.iloc[1]
    assert liq["fill_price"] == p_liq and not liq["beyond_bankruptcy"]
    assert liq["qty"] == 1.0
    # closed at p_liq: the account loses 40000 - p_liq and keeps the rest of the margin (= MM)
    loss = 40_000 - p_liq
    assert liq["loss"] == pytest.approx(loss, rel=1e-12) and liq["shortfall"] == 0
    eq = res.equity_curve("isolated")
    np.testing.assert_allclose(eq.iloc[:3], 10_000 + np.array(path[:3]) - 40_000)
    np.testing.assert_allclose(eq.iloc[3:], 10_000 - loss, rtol=1e-12)


def test_touching_the_liquidation_price_once_cross() -> None:
    # Cross: the whole wallet backs the position: 10000 + (P - 40000) = 0.004 P, P = 30000/0.996.
    p_liq = _liq("long", 40_000, 1.0, 10_000)
    assert p_liq == pytest.approx(30_000 / 0.996, rel=1e-12)
    path = [40_000, 35_000, 32_000, p_liq, 35_000]
    res = replay(_one_long(), path)
    liq = res.liquidations("cross")
    assert liq["step"].tolist() == [3] and liq["fill_price"].tolist() == [p_liq]
    # after: the wallet plus the realised loss, i.e. what is left is the maintenance margin
    np.testing.assert_allclose(res.equity["cross"][0, 3:], 0.004 * p_liq, rtol=1e-9)
    # the same path in isolated mode: 35,000 is already below 38,152.6, so step 1, filled at the
    # mark (a mark series has no price between marks: it gapped through)
    iso = res.liquidations("isolated")
    assert iso["step"].tolist() == [1] and iso["fill_price"].tolist() == [35_000]


def test_approach_and_recover_gives_margin_calls_only() -> None:
    # Price at which the isolated margin ratio 0.004 P / (2000 + P - 40000) equals r:
    # 0.004 P = r (P - 38000)  =>  P = 38000 r / (r - 0.004). r = 0.9 is above the call (0.8),
    # below liquidation (1).
    def at(r: float) -> float:
        return 38_000 * r / (r - 0.004)

    path = [40_000, at(0.9), 39_000, at(0.85), at(0.9), 40_000, at(0.9)]
    # episodes of ratio >= 0.8: steps {1}, {3, 4}, {6} -> one call at the start of each
    res = replay(_one_long(), path)
    iso = _events(res, "isolated")
    assert iso["event"].tolist() == ["margin_call"] * 3
    assert iso["step"].tolist() == [1, 3, 6]
    np.testing.assert_allclose(iso["margin_ratio"], [0.9, 0.85, 0.9], rtol=1e-12)
    assert res.liquidations().empty
    # cross: the 10,000 wallet keeps the ratio far below 0.8: nothing at all
    assert _events(res, "cross").empty
    np.testing.assert_allclose(res.equity["isolated"][0], 10_000 + np.array(path) - 40_000)


def test_gap_through_bankruptcy_costs_exactly_the_margin_in_isolated() -> None:
    # Bankruptcy (equity 0): isolated 2000 + P - 40000 = 0 -> 38,000; cross 10000 + ... -> 30,000.
    assert float(bankruptcy_price("long", 40_000, 1.0, 2_000)) == 38_000
    path = [40_000, 39_000, 25_000, 41_000]  # step 2 jumps past both bankruptcy prices
    res = replay(_one_long(), path)
    iso = res.liquidations("isolated").iloc[0]
    assert iso["step"] == 2 and iso["fill_price"] == 25_000 and iso["beyond_bankruptcy"]
    # trading loss 15,000; the account pays the 2,000 margin, the insurance fund 13,000
    assert iso["loss"] == 2_000 and iso["shortfall"] == 13_000
    np.testing.assert_array_equal(res.equity["isolated"][0, 2:], 8_000)
    cross = res.liquidations("cross").iloc[0]
    assert cross["step"] == 2 and cross["beyond_bankruptcy"]
    assert cross["loss"] == 10_000 and cross["shortfall"] == 5_000
    np.testing.assert_array_equal(res.equity["cross"][0, 2:], 0.0)


def _frame(rows: list[tuple[float, float, float, float]]) -> pd.DataFrame:
    idx = pd.date_range("2024-01-01", periods=len(rows), freq="D", name="time")
    return pd.DataFrame(rows, columns=["open", "high", "low", "close"], index=idx)


def test_ohlc_fills_at_the_liquidation_price_or_at_a_gapped_open() -> None:
    p_liq = _liq("long", 40_000, 1.0, 2_000)  # 38,152.6 (see above)
    # day 0: entry at the close (its low of 30,000 is before entry and does not count);
    # day 1: opens above p_liq, trades down to 37,000: filled at p_liq.
    crossing = _frame([(40_000, 40_500, 30_000, 40_000), (39_800, 40_100, 37_000, 37_500)])
    res = replay(_one_long(), crossing, modes="isolated")
    liq = res.liquidations("isolated").iloc[0]
    assert liq["step"] == 1 and liq["time"] == pd.Timestamp("2024-01-02")
    assert liq["price"] == 37_000 and liq["fill_price"] == pytest.approx(p_liq, rel=1e-12)
    assert not liq["beyond_bankruptcy"]
    # day 1 opens at 37,900 (< p_liq, > bankruptcy 38,000? no: below it) -> filled at the open,
    # beyond bankruptcy, the account loses exactly the margin
    gapped = _frame([(40_000, 40_500, 39_500, 40_000), (37_900, 38_100, 37_000, 37_500)])
    res = replay(_one_long(), gapped, modes="isolated")
    liq = res.liquidations("isolated").iloc[0]
    assert liq["fill_price"] == 37_900 and liq["beyond_bankruptcy"] and liq["loss"] == 2_000
    # "close": only closes are checked, so the dip to 37,000 on day 1 of `crossing` is invisible
    # (close 37,500 < p_liq still liquidates, at the close)
    res = replay(_one_long(), crossing, modes="isolated", intraperiod="close")
    assert res.liquidations("isolated")["fill_price"].tolist() == [37_500]


def test_a_short_is_checked_against_the_high() -> None:
    acct = Account(10_000, [Position(BINANCE, "short", 1.0, 40_000.0, leverage=20, name="S")])
    p_liq = _liq("short", 40_000, 1.0, 2_000)  # 2000 - (P - 40000) = 0.004 P -> 42000/1.004
    assert p_liq == pytest.approx(42_000 / 1.004, rel=1e-12)
    # day 1: the low (a long's side) is irrelevant; the high 41,000 is below p_liq; day 2 spikes
    res = replay(
        acct,
        _frame([(40_000,) * 4, (40_000, 41_000, 30_000, 40_500), (40_500, 43_000, 40_000, 40_000)]),
        modes="isolated",
    )
    liq = res.liquidations("isolated").iloc[0]
    assert liq["step"] == 2 and liq["price"] == 43_000
    assert liq["fill_price"] == pytest.approx(p_liq, rel=1e-12)


def test_funding_drains_the_isolated_margin_until_liquidation() -> None:
    # Flat price 40,000; the long pays 0.11 % of 40,000 = 44 per step from step 1 on, after the
    # check, so the check at step t sees margin 2000 - 44 (t - 1) against MM = 0.004 * 40000 = 160:
    # liquidated at the first t with 44 (t - 1) >= 1840, t - 1 = 42 -> t = 43, filled at 40,000
    # with no trading loss; the account has paid 42 * 44 in funding.
    res = replay(_one_long(), np.full(60, 40_000.0), modes="isolated", funding_rate=0.0011)
    liq = res.liquidations("isolated").iloc[0]
    assert liq["step"] == 43 and liq["fill_price"] == 40_000 and liq["loss"] == 0
    eq = res.equity["isolated"][0]
    np.testing.assert_allclose(eq[:43], 10_000 - 44 * np.arange(43))
    np.testing.assert_allclose(eq[43:], 10_000 - 44 * 42)
    # a short receives the funding: its equity rises 44 a step and it is never liquidated
    short = Account(10_000, [Position(BINANCE, "short", 1.0, 40_000.0, leverage=20)])
    res = replay(short, np.full(60, 40_000.0), modes="isolated", funding_rate=0.0011)
    assert res.liquidations().empty
    np.testing.assert_allclose(res.equity["isolated"][0], 10_000 + 44 * np.arange(60))


# ------------------------------------------------------------------ real prices
@pytest.fixture(scope="module")
def btc() -> pd.DataFrame:
    return load_ohlc(BTC_CSV)


def _first_touch(btc: pd.DataFrame, entry_day: str, side: str, p_liq: float) -> pd.Timestamp:
    """Plain pandas: the first day after the entry day whose adverse extreme reaches p_liq."""
    after = btc.loc[entry_day:].iloc[1:]
    hit = after["low"] <= p_liq if side == "long" else after["high"] >= p_liq
    return after.index[hit.to_numpy()][0]


def _real_case(btc, day, side, lev, wallet_margins, modes):
    entry = float(btc.loc[day, "close"])
    margin = entry / lev  # 1 BTC: notional = entry
    acct = Account(
        wallet_margins * margin, [Position(BINANCE, side, 1.0, entry, leverage=lev, name="p")]
    )
    return acct, entry, margin, replay(acct, btc.loc[day:], modes=modes)


def test_btc_march_2020_crash_liquidates_a_20x_long_on_march_12(btc) -> None:
    _, entry, margin, res = _real_case(btc, "2020-03-11", "long", 20, 1.0, "isolated")
    assert entry == pytest.approx(7_911.43, abs=0.01)
    p_liq = _liq("long", entry, 1.0, margin)  # 7,546.04 (notional ~7.9k: Binance's first tier)
    expected = _first_touch(btc, "2020-03-11", "long", p_liq)
    assert expected == pd.Timestamp("2020-03-12")  # low 4,860.35 that day
    # entry is at the 2020-03-11 close, so that day's low (7,642.81, before entry) is not checked
    # (the hand-built OHLC test shows an entry-day low below p_liq being ignored)
    liq = res.liquidations("isolated")
    assert liq["time"].tolist() == [expected] and liq["event"].tolist() == ["liquidation"]
    # the day opened at 7,913.62, above p_liq: filled at p_liq, not beyond bankruptcy
    assert liq["fill_price"].iloc[0] == pytest.approx(p_liq, rel=1e-9)
    assert not liq["beyond_bankruptcy"].iloc[0]


def test_btc_october_2023_rally_liquidates_a_10x_short(btc) -> None:
    # 10x short of 1 BTC at the 2023-10-15 close (27,159.65): p_liq ~29,756.6, first reached by
    # the high of 2023-10-20.
    _, entry, margin, res = _real_case(btc, "2023-10-15", "short", 10, 1.0, "isolated")
    p_liq = _liq("short", entry, 1.0, margin)
    expected = _first_touch(btc, "2023-10-15", "short", p_liq)
    assert expected == pd.Timestamp("2023-10-20")
    liq = res.liquidations("isolated")
    assert liq["time"].tolist() == [expected]
    assert liq["fill_price"].iloc[0] == pytest.approx(p_liq, rel=1e-9)


def test_btc_cross_wallet_survives_longer(btc) -> None:
    # Same short with a wallet of 3 margins: isolated uses 1 margin, cross all 3, so the cross
    # liquidation price (~35,166.9) is reached later, on 2023-11-01.
    _, entry, margin, res = _real_case(btc, "2023-10-15", "short", 10, 3.0, ("isolated", "cross"))
    iso_day = _first_touch(btc, "2023-10-15", "short", _liq("short", entry, 1.0, margin))
    p_cross = _liq("short", entry, 1.0, 3 * margin)
    cross_day = _first_touch(btc, "2023-10-15", "short", p_cross)
    assert (iso_day, cross_day) == (pd.Timestamp("2023-10-20"), pd.Timestamp("2023-11-01"))
    assert res.liquidations("isolated")["time"].tolist() == [iso_day]
    cross = res.liquidations("cross")
    assert cross["time"].tolist() == [cross_day]
    assert cross["fill_price"].iloc[0] == pytest.approx(p_cross, rel=1e-9)
    # after isolated liquidation the account keeps 2 margins + the maintenance margin left in
    # the position (the whole margin minus the loss to p_liq); it is flat from then on
    eq = res.equity_curve("isolated")
    after = eq.loc["2023-10-20":].to_numpy()
    assert (after == after[0]).all()


# ------------------------------------------------------------------ many paths
def _gbm(paths: int, steps: int, seed: int, s0: float = 50_000.0, vol: float = 0.02):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((paths, steps - 1))
    logs = np.cumsum(vol * z - 0.5 * vol**2, axis=1)
    return s0 * np.exp(np.hstack([np.zeros((paths, 1)), logs]))


def _three_positions() -> Account:
    return Account(
        60_000,
        [
            Position(BINANCE, "long", 1.0, 50_000.0, leverage=20, name="long20"),
            Position(BINANCE, "short", 0.5, 50_000.0, leverage=10, name="short10"),
            Position(BINANCE, "long", 2.0, 50_000.0, leverage=5, name="long5"),
        ],
    )


def test_many_paths_match_single_path_replays_and_the_analytical_prices() -> None:
    acct = _three_positions()
    paths = _gbm(1_000, 500, seed=7)
    res = replay(acct, paths)
    # isolated: each position alone; its liquidation step is the first step whose mark crosses
    # its analytical liquidation price (Account.liquidation_prices, tiered, isolated)
    table = acct.with_mode("isolated").liquidation_prices()
    liq = res.liquidations("isolated").set_index(["path", "position"])
    assert (res.liquidations("isolated")["event"] == "liquidation").all()
    assert liq.index.is_unique
    total = 0
    for name, row in table.iterrows():
        crossed = (
            paths <= row["liquidation_price"]
            if row["side"] == "long"
            else (paths >= row["liquidation_price"])
        )
        hit = crossed.any(axis=1)
        first = crossed.argmax(axis=1)
        got = liq.xs(name, level="position")
        np.testing.assert_array_equal(got.index.to_numpy(), np.flatnonzero(hit))
        np.testing.assert_array_equal(got["step"].to_numpy(), first[hit])
        np.testing.assert_array_equal(got["fill_price"].to_numpy(), paths[hit, first[hit]])
        total += hit.sum()
    assert 100 < total < 3_000  # the workload does liquidate, but not everything at once
    # invariants: isolated never loses more than the margins; a cross wallet never goes negative
    assert res.equity["isolated"].min() >= 60_000 - table["margin"].sum() - 1e-6
    assert res.equity["cross"].min() >= 0
    # path by path, the batched replay equals replaying the path alone
    for p in (0, 17, 500, 999):
        alone = replay(acct, paths[p])
        for mode in ("isolated", "cross"):
            np.testing.assert_array_equal(res.equity[mode][p], alone.equity[mode][0])
        batch = res.events[res.events["path"] == p].drop(columns="path").reset_index(drop=True)
        pd.testing.assert_frame_equal(batch, alone.events.drop(columns="path"))


def test_several_symbols_replay_each_isolated_position_independently() -> None:
    acct = Account(
        50_000,
        [
            Position(BINANCE, "long", 1.0, 50_000.0, leverage=20, name="btc"),
            Position(ETH, "short", 10.0, 3_000.0, leverage=10, name="eth"),
        ],
    )
    btc, eth = _gbm(200, 300, seed=1), _gbm(200, 300, seed=2, s0=3_000.0)
    both = replay(acct, {"BTCUSDT": btc, "ETHUSDT": eth}, modes="isolated")
    for sym, path, pos in (("BTCUSDT", btc, 0), ("ETHUSDT", eth, 1)):
        alone = Account(50_000, [acct.positions[pos]])
        single = replay(alone, path, modes="isolated").liquidations("isolated")
        mine = both.liquidations("isolated")
        mine = mine[mine["position"] == acct.positions[pos].name]
        np.testing.assert_array_equal(mine[["path", "step"]], single[["path", "step"]])
        assert len(single) > 0, sym
    # cross: one wallet for both; equity never below zero
    cross = replay(acct, {"BTCUSDT": btc, "ETHUSDT": eth}, modes="cross")
    assert cross.equity["cross"].min() >= 0


def test_inverse_contract_liquidates_where_the_coin_margined_formula_says() -> None:
    market = exchanges.get("binance-coinm").market("BTCUSD_PERP")
    pos = Position(market, "long", 100.0, 40_000.0, leverage=25, name="inv")  # 100 x 100 USD
    acct = Account(1.0, [pos])
    p_liq = float(acct.with_mode("isolated").liquidation_prices()["liquidation_price"].iloc[0])
    paths = _gbm(300, 200, seed=3, s0=40_000.0)
    res = replay(acct, paths, modes="isolated")
    crossed = paths <= p_liq
    hit = crossed.any(axis=1)
    got = res.liquidations("isolated")
    np.testing.assert_array_equal(got["path"], np.flatnonzero(hit))
    np.testing.assert_array_equal(got["step"], crossed.argmax(axis=1)[hit])


def test_maintenance_margin_matches_position_maint_margin() -> None:
    # the engine's vectorised maintenance equals Position.maint_margin for every tier basis
    okx = exchanges.get("okx-swap").market("ETH-USDT-SWAP")
    coinm = exchanges.get("binance-coinm").market("BTCUSD_PERP")
    usdt = Account(
        1e9,
        [
            Position(BINANCE, "long", 30.0, 50_000.0, leverage=10, name="mark"),
            Position(BYBIT, "short", 60.0, 50_000.0, leverage=20, name="entry"),
            Position(okx, "long", 5_000.0, 3_000.0, leverage=10, name="qty"),
        ],
    )
    coin = Account(1e3, [Position(coinm, "short", 2_000.0, 40_000.0, leverage=10, name="inv")])
    for acct, prices in (
        (usdt, np.array([[41_000.0, 47_000.0, 2_500.0], [60_000.0, 52_000.0, 3_300.0]])),
        (coin, np.array([[35_000.0], [45_000.0]])),
    ):
        book = _Book(acct)
        got = book.maint(prices, np.tile(book.qty0, (2, 1)))
        for r in range(2):
            want = [p.maint_margin(prices[r, i]) for i, p in enumerate(acct.positions)]
            np.testing.assert_allclose(got[r], want, rtol=1e-12)


# ------------------------------------------------------------------ tier-stepped partials
def _bybit_account(mode: str) -> tuple[Account, list[float]]:
    """60 BTC long at 50,000, 50x on Bybit: entry value 3,000,000 is in risk-limit tier 3
    (2.6M-3.2M, mmr 0.63 %, deduction 3,020), margin 60,000; wallet = margin, so the cross
    collateral equals the isolated margin and both modes take the same steps.

    Bybit's rule (preset rule_notes): LP = E - (margin - MM) / q with MM = q E mmr - deduction at
    entry. Laddered liquidation: at LP the position is cut to the cap of the next lower tier
    (2.6M -> 52 BTC, MM 2.6M * 0.56 % - 1,200 = 13,360), the closed part's loss is realised
    against the margin, and a new LP follows; then 2.0M -> 40 BTC (tier 1: 0.5 %, MM 10,000);
    at the third LP the position is in the first tier and is liquidated in full.
    """
    acct = Account(60_000, [Position(BYBIT, "long", 60.0, 50_000.0, leverage=50, name="big")])
    e, margin, qty, lps = 50_000.0, 60_000.0, 60.0, []
    for new_qty, mm in (
        (52.0, 3e6 * 0.0063 - 3_020),
        (40.0, 2.6e6 * 0.0056 - 1_200),
        (0.0, 2e6 * 0.005),
    ):
        lp = e - (margin - mm) / qty
        lps.append(lp)
        margin += (lp - e) * (qty - new_qty)  # the closed part's loss, realised
        qty = new_qty
    assert lps[0] == pytest.approx(50_000 - 44_120 / 60)
    return acct.with_mode(mode), lps


@pytest.mark.parametrize("mode", ["isolated", "cross"])
def test_bybit_steps_down_the_tiers_before_the_full_liquidation(mode: str) -> None:
    acct, (lp1, lp2, lp3) = _bybit_account(mode)
    assert 49_000 < lp3 < lp2 < lp1 < 50_000
    path = [50_000, 49_800, lp1, (lp1 + lp2) / 2, lp2, (lp2 + lp3) / 2, lp3, 49_000]
    res = replay(acct, path, modes=mode)
    liq = res.liquidations(mode)
    assert liq["event"].tolist() == ["partial_liquidation", "partial_liquidation", "liquidation"]
    assert liq["step"].tolist() == [2, 4, 6]
    np.testing.assert_allclose(liq["fill_price"], [lp1, lp2, lp3], rtol=1e-12)
    np.testing.assert_allclose(liq["qty"], [8, 12, 40], rtol=1e-12)
    # at the last LP the remaining equity equals tier 1's MM (10,000): that is what is left
    np.testing.assert_allclose(res.equity[mode][0, 6:], 10_000, rtol=1e-9)
    # a flat rule (Binance's "full") would close everything at lp1: the ladder keeps more
    assert not liq["beyond_bankruptcy"].any()


def test_bybit_ladder_inside_one_period_and_through_a_gap() -> None:
    acct, (lp1, lp2, lp3) = _bybit_account("isolated")
    # one day trading from 50,000 down to 49,000: all three stages inside the period, each at
    # its own liquidation price (checked again after each step down)
    res = replay(acct, _frame([(50_000,) * 4, (50_000, 50_100, 49_000, 49_200)]))
    liq = res.liquidations("isolated")
    assert liq["step"].tolist() == [1, 1, 1]
    np.testing.assert_allclose(liq["fill_price"], [lp1, lp2, lp3], rtol=1e-9)
    # a mark series jumping to 45,000: the same three stages at the one price, beyond bankruptcy;
    # the account loses exactly the 60,000 margin
    res = replay(acct, [50_000, 45_000], modes="isolated")
    liq = res.liquidations("isolated")
    assert liq["event"].tolist() == ["partial_liquidation", "partial_liquidation", "liquidation"]
    assert (liq["fill_price"] == 45_000).all() and liq["beyond_bankruptcy"].all()
    assert liq["loss"].sum() == pytest.approx(60_000, rel=1e-12)
    assert res.equity["isolated"][0, 1] == pytest.approx(0.0, abs=1e-6)


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("prices", "kwargs", "field"),
    [
        ([40_000, np.nan, 39_000], {}, "prices (step 1)"),
        ([40_000, 0.0, 39_000], {}, "prices (step 1)"),
        (np.array([[40_000, 39_000], [40_000, -1.0]]), {}, "prices (step 1, path 1)"),
        ([40_000, 39_000], {"modes": ("isolated", "portfolio")}, "modes"),
        ([40_000, 39_000], {"margin_call_ratio": 0.0}, "margin_call_ratio"),
        ([40_000, 39_000], {"margin_call_ratio": -0.5}, "margin_call_ratio"),
        ([40_000, 39_000], {"intraperiod": "hl"}, "intraperiod"),
        ([40_000, 39_000], {"intraperiod": "extremes"}, "intraperiod"),
        ([40_000, 39_000], {"funding_rate": [0.0, 0.0, 0.0]}, "funding_rate"),
    ],
)
def test_bad_input_names_the_field(prices, kwargs, field) -> None:
    with pytest.raises(InputError) as err:
        replay(_one_long(), prices, **kwargs)
    assert err.value.field == field


def test_misaligned_or_missing_symbols_are_named() -> None:
    acct = Account(
        50_000,
        [
            Position(BINANCE, "long", 1.0, 50_000.0, leverage=20),
            Position(ETH, "short", 10.0, 3_000.0, leverage=10),
        ],
    )
    btc = pd.Series([50_000.0, 49_000, 48_000], index=pd.date_range("2024-01-01", periods=3))
    eth = pd.Series([3_000.0, 3_100, 3_200], index=pd.date_range("2024-01-02", periods=3))
    with pytest.raises(InputError) as err:
        replay(acct, {"BTCUSDT": btc, "ETHUSDT": eth})
    assert err.value.field == "prices['ETHUSDT']"
    with pytest.raises(InputError) as err:
        replay(acct, {"BTCUSDT": btc, "ETHUSDT": eth.to_numpy()[:2]})
    assert err.value.field == "prices['ETHUSDT']"
    with pytest.raises(InputError) as err:
        replay(acct, {"BTCUSDT": btc})
    assert err.value.field == "prices" and "ETHUSDT" in str(err.value)
    with pytest.raises(InputError) as err:
        replay(acct, btc)
    assert err.value.field == "prices"
    with pytest.raises(InputError) as err:
        replay(acct, {"BTCUSDT": btc, "ETHUSDT": [3_000.0, np.inf, 3_000.0]})
    assert err.value.field == "prices['ETHUSDT'] (step 1)"


def test_docstring_example_runs() -> None:
    import doctest

    import margin_kit.engine

    result = doctest.testmod(margin_kit.engine, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 3 and result.failed == 0


def test_equity_frame_is_every_modes_curve() -> None:
    from margin_kit.contracts import Market

    btc = Market.simple("BTCUSDT", 0.005)
    acct = Account(1_000, [Position(btc, "long", 1.0, 100.0, leverage=10)])
    paths = np.array([[100.0, 95.0, 90.0, 80.0, 100.0], [100.0, 101.0, 99.0, 102.0, 103.0]])
    res = replay(acct, paths)
    for path in (0, 1):
        frame = res.equity_frame(path)
        assert list(frame.columns) == ["time", "step", "mode", "equity"]
        assert list(frame["mode"].unique()) == ["isolated", "cross"]
        for mode in ("isolated", "cross"):
            part = frame[frame["mode"] == mode]
            curve = res.equity_curve(mode, path)
            np.testing.assert_array_equal(part["equity"].to_numpy(), curve.to_numpy())
            np.testing.assert_array_equal(part["time"].to_numpy(), np.asarray(curve.index))
            assert part["step"].tolist() == list(range(5))
    # isolated, path 0: liquidated at 90 (margin 10, maintenance 0.45): the wallet keeps 990 + ...
    iso = res.equity_frame(0).query("mode == 'isolated'")["equity"].to_numpy()
    assert iso[0] == pytest.approx(1_000.0) and iso[-1] == iso[3]  # flat once closed
    with pytest.raises(InputError, match="path"):
        res.equity_frame(2)
