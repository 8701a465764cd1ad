"""compare(): the isolated-vs-cross table, checked against closed forms and loss bounds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import margin_kit as mk
from margin_kit import InputError, exchanges
from margin_kit.compare import ACCOUNT_ROW, COLUMNS
from margin_kit.risk import GBM, CorrelatedGBM, hit_probability

BTC = exchanges.get("binance-usdm").market("BTCUSDT")
ETH = exchanges.get("binance-usdm").market("ETHUSDT")
HORIZON = 14 / 365


def btc_account() -> mk.Account:
    return mk.Account(10_000, [
        mk.Position(BTC, "long", 0.5, 60_000, leverage=20, margin_mode="isolated"),
        mk.Position(BTC, "short", 0.2, 60_000, leverage=10, name="BTC short"),
    ])  # fmt: skip


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return mk.compare(btc_account(), GBM(0.7), HORIZON, paths=40_000, steps=14, seed=3)


def test_tidy_shape(table: pd.DataFrame) -> None:
    assert list(table.columns) == COLUMNS
    assert set(table["mode"]) == {"isolated", "cross"}
    # one row per position and mode, plus one account row per mode
    assert len(table) == 2 * (2 + 1)
    assert (table.groupby("mode")["position"].apply(lambda s: (s == ACCOUNT_ROW).sum()) == 1).all()
    assert table["p_liquidation"].between(0, 1).all()


def test_prices_match_the_account(table: pd.DataFrame) -> None:
    for mode in ("isolated", "cross"):
        expected = btc_account().with_mode(mode).liquidation_prices()["liquidation_price"]
        rows = table[(table["mode"] == mode) & (table["position"] != ACCOUNT_ROW)]
        np.testing.assert_allclose(rows.set_index("position")["liquidation_price"], expected)


def test_isolated_probability_matches_closed_form(table: pd.DataFrame) -> None:
    """Independent check: GBM first passage to each isolated liquidation price."""
    rows = table[(table["mode"] == "isolated") & (table["position"] != ACCOUNT_ROW)]
    for _, r in rows.iterrows():
        exact = hit_probability(r["mark_price"], r["liquidation_price"], 0.7, HORIZON)
        assert abs(r["p_liquidation"] - exact) <= 3 * r["p_stderr"] + 1e-12, (r["position"], exact)
        # distance in sigma units is the log distance over sigma sqrt(T)
        sign = 1 if r["side"] == "long" else -1
        log_d = sign * np.log(r["mark_price"] / r["liquidation_price"])
        assert r["distance_sigma"] == pytest.approx(log_d / (0.7 * np.sqrt(HORIZON)))


def test_losses_are_bounded_and_consistent(table: pd.DataFrame) -> None:
    acct = btc_account()
    iso = table[table["mode"] == "isolated"].set_index("position")
    cross = table[table["mode"] == "cross"].set_index("position")
    # isolated: a position never loses more than its own equity; the account's tail neither
    equities = [
        p.isolated_margin + p.unrealized_pnl() for p in acct.with_mode("isolated").positions
    ]
    assert iso.loc[ACCOUNT_ROW, "expected_shortfall"] <= sum(equities) + 1e-9
    np.testing.assert_allclose(iso.drop(ACCOUNT_ROW)["loss_given_liquidation"].to_numpy(), equities)
    # cross: the account can lose at most its cross equity
    cross_equity = acct.with_mode("cross").cross_equity
    assert cross.loc[ACCOUNT_ROW, "expected_shortfall"] <= cross_equity + 1e-9
    assert cross.loc[ACCOUNT_ROW, "loss_given_liquidation"] == pytest.approx(cross_equity)
    # expected loss = p * loss given liquidation, per row
    body = table[table["position"] != ACCOUNT_ROW]
    np.testing.assert_allclose(
        body["expected_loss"], body["p_liquidation"] * body["loss_given_liquidation"]
    )
    # cross positions are liquidated together: one probability for the whole cross account
    probs = cross.drop(ACCOUNT_ROW)["p_liquidation"].to_numpy()
    assert (probs == probs[0]).all()
    # sharing the wallet keeps the 20x long alive far longer than its own margin would
    assert cross.loc["BTCUSDT long", "p_liquidation"] < iso.loc["BTCUSDT long", "p_liquidation"]
    assert cross.loc["BTCUSDT long", "distance_pct"] > iso.loc["BTCUSDT long", "distance_pct"]


def test_margin_and_returns(table: pd.DataFrame) -> None:
    iso = table[table["mode"] == "isolated"].set_index("position")
    assert iso.loc["BTCUSDT long", "margin_locked"] == pytest.approx(0.5 * 60_000 / 20)
    # a 5 % favourable move on 20x earns 100 % of the margin
    assert iso.loc["BTCUSDT long", "return_on_margin"] == pytest.approx(1.0)
    assert iso.loc[ACCOUNT_ROW, "free_collateral"] == pytest.approx(10_000 - 1_500 - 1_200)


def test_deterministic_with_seed_and_multi_asset() -> None:
    acct = mk.Account(20_000, [
        mk.Position(BTC, "long", 0.5, 60_000, leverage=10, margin_mode="isolated"),
        mk.Position(ETH, "short", 10, 3_000, leverage=20),
    ])  # fmt: skip
    model = CorrelatedGBM(
        vols=[0.6, 0.8], corr=[[1, 0.8], [0.8, 1]], symbols=("BTCUSDT", "ETHUSDT")
    )
    a = mk.compare(acct, model, HORIZON, paths=5_000, seed=11)
    b = mk.compare(acct, model, HORIZON, paths=5_000, seed=11)
    pd.testing.assert_frame_equal(a, b)
    assert set(a["symbol"]) == {"BTCUSDT", "ETHUSDT", ""}


def test_bad_arguments() -> None:
    with pytest.raises(InputError, match="modes='portfolio'"):
        mk.compare(btc_account(), GBM(0.7), HORIZON, modes=["portfolio"])
    with pytest.raises(InputError, match="move"):
        mk.compare(btc_account(), GBM(0.7), HORIZON, move=2.0)
    with pytest.raises(InputError, match="horizon"):
        mk.compare(btc_account(), GBM(0.7), -1.0, paths=100)


# ----------------------------------------------------------------------------- sweeps
def default_account() -> mk.Account:
    from margin_kit import scenario

    return scenario.load(scenario.default_path()).account


def test_leverage_sweep_isolated_is_the_account_at_each_leverage() -> None:
    from margin_kit.compare import SWEEP_COLUMNS, leverage_sweep

    acct = default_account()
    levs = [2.0, 3.7, 10.0, 33.0, 125.0]
    sw = leverage_sweep(acct, "BTC long", levs, modes=("isolated",))
    assert list(sw.columns) == SWEEP_COLUMNS
    assert sw["leverage"].tolist() == levs
    for lev, row in zip(levs, sw.itertuples(), strict=True):
        # independent path: build the account at that leverage and ask it
        iso = acct.with_mode("isolated")
        iso = iso._replace_position("BTC long", iso.position("BTC long").with_(leverage=lev))
        want = iso.liquidation_prices().loc["BTC long"]
        assert row.liquidation_price == pytest.approx(want["liquidation_price"], rel=1e-12)
        assert row.bankruptcy_price == pytest.approx(want["bankruptcy_price"], rel=1e-12)
        assert row.distance_pct == pytest.approx(want["distance_pct"], rel=1e-9)
        assert row.margin_locked == pytest.approx(iso.position("BTC long").isolated_margin)
        assert row.free_collateral == pytest.approx(iso.cross_wallet_balance)


def test_leverage_sweep_matches_the_closed_form_on_a_flat_market() -> None:
    from margin_kit.compare import leverage_sweep

    btc = mk.Market.simple("BTCUSDT", 0.005)
    acct = mk.Account(60_000, [mk.Position(btc, "short", 1.0, 50_000, leverage=10)])
    levs = np.geomspace(1.0, 125.0, 40)
    sw = leverage_sweep(acct, "BTCUSDT short", levs, modes=("isolated",))
    # isolated collateral N0 / L in the closed-form evaluator, flat mmr 0.5 %
    want = mk.liquidation_price("short", 50_000, 1.0, 50_000 / levs, 0.005, 0.0)
    np.testing.assert_allclose(sw["liquidation_price"], want, rtol=1e-12)
    # by hand at 10x: equity 5000 - (P - 50000) = 0.005 P  =>  P = 55000 / 1.005
    at10 = leverage_sweep(acct, "BTCUSDT short", [10.0], modes=("isolated",))
    assert at10["liquidation_price"].item() == pytest.approx(55_000 / 1.005, rel=1e-12)


def test_leverage_sweep_cross_is_flat_and_is_the_account() -> None:
    from margin_kit.compare import leverage_sweep

    acct = default_account()
    sw = leverage_sweep(acct, "ETH short", [1.5, 5, 20, 80, 125], modes=("cross",))
    assert (sw["liquidation_price"] == sw["liquidation_price"].iloc[0]).all()
    cross = acct.with_mode("cross")
    # ETH short is the only ETHUSDT position: the account's own cross price
    want = cross.liquidation_prices().loc["ETH short"]
    assert sw["liquidation_price"].iloc[0] == pytest.approx(want["liquidation_price"], rel=1e-12)
    assert sw["bankruptcy_price"].iloc[0] == pytest.approx(want["bankruptcy_price"], rel=1e-12)
    for row in sw.itertuples():
        at = cross._replace_position(
            "ETH short", cross.position("ETH short").with_(leverage=row.leverage)
        )
        assert row.free_collateral == pytest.approx(at.available_balance)
        assert row.margin_locked == pytest.approx(29_500 / row.leverage)


def test_leverage_sweep_probability_closed_form_and_monte_carlo() -> None:
    from margin_kit.compare import leverage_sweep
    from margin_kit.risk import liquidation_probability

    acct = default_account()
    sw = leverage_sweep(acct, "BTC long", [4.0, 10.0, 25.0], vol=0.6, horizon=HORIZON)
    p = hit_probability(61_000.0, sw["liquidation_price"], 0.6, HORIZON, direction="down")
    np.testing.assert_allclose(sw["p_liquidation"], p, rtol=1e-12)
    # the model gives the same volatility
    by_model = leverage_sweep(acct, "BTC long", [4.0, 10.0, 25.0], model=GBM(0.6),
                              horizon=HORIZON)  # fmt: skip
    pd.testing.assert_frame_equal(by_model, sw)
    # Monte Carlo of the position itself (its tiered maintenance along simulated paths)
    iso = acct.with_mode("isolated").position("BTC long").with_(leverage=10.0)
    est = liquidation_probability(iso, GBM(0.6), HORIZON, paths=40_000, steps=14, seed=11)
    row = sw[(sw["mode"] == "isolated") & (sw["leverage"] == 10.0)].iloc[0]
    assert 0.2 < row.p_liquidation < 0.8
    assert abs(est.value - row.p_liquidation) < 3 * est.stderr
    # losses as the module docstring defines them
    assert row.loss_given_liquidation == pytest.approx(iso.isolated_margin + 500.0)
    assert row.expected_loss == pytest.approx(row.p_liquidation * row.loss_given_liquidation)
    cross = sw[sw["mode"] == "cross"]
    # the BTC hedge offsets the long in cross: no liquidation price, probability 0
    assert cross["liquidation_price"].isna().all() and (cross["p_liquidation"] == 0).all()
    assert (cross["loss_given_liquidation"] == acct.with_mode("cross").cross_equity).all()


def test_leverage_bounds_and_errors() -> None:
    from margin_kit.compare import leverage_bounds, leverage_grid, leverage_sweep, max_leverage

    acct = default_account()
    # 0.5 BTC at 60,000 = 30,000 USDT: Binance's first bracket (< 50,000) allows 125x
    assert max_leverage(acct, "BTC long") == 125.0
    big = mk.Account(100_000, [mk.Position(acct.positions[0].market, "long", 1.0, 60_000)])
    assert max_leverage(big, "BTCUSDT long") == 100.0  # 60,000: second bracket
    low, high = leverage_bounds(acct, "BTC long")
    # isolated margins of the others at their leverages: 10*3000/20 + 0.2*62000/25
    assert low == pytest.approx(30_000 / (20_000 - 1_500 - 496))
    assert high == 125.0
    assert leverage_bounds(acct, "BTC long", modes=("cross",))[0] == 0.0
    grid = leverage_grid(acct, "BTC long")
    assert grid[0] == pytest.approx(low) and grid[-1] == 125.0
    assert {2, 5, 10, 20, 50, 100} <= set(grid) and (np.diff(grid) > 0).all()
    with pytest.raises(InputError, match="leverage") as err:
        leverage_sweep(acct, "BTC long", [10, 150])
    assert err.value.value == 150 and "125" in err.value.expected
    with pytest.raises(InputError, match="leverage"):
        leverage_sweep(acct, "BTC long", [1.2, 10])
    leverage_sweep(acct, "BTC long", [1.2, 10], modes=("cross",))  # cross locks nothing
    with pytest.raises(InputError, match="horizon"):
        leverage_sweep(acct, "BTC long", [10], vol=0.5)
    with pytest.raises(InputError, match="vol"):
        leverage_sweep(acct, "BTC long", [10], horizon=0.1)
    with pytest.raises(InputError, match="name"):
        leverage_sweep(acct, "SOL long", [10])
    with pytest.raises(InputError, match="modes"):
        leverage_sweep(acct, "BTC long", [10], modes=("portfolio",))


def interpolated_root(x: np.ndarray, y: np.ndarray) -> float:
    """Where y crosses 0 first, by linear interpolation between grid points."""
    s = np.flatnonzero(np.sign(y[:-1]) != np.sign(y[1:]))[0]
    return float(x[s] - y[s] * (x[s + 1] - x[s]) / (y[s + 1] - y[s]))


def test_price_sweep_equity_meets_maintenance_at_the_liquidation_price() -> None:
    from margin_kit.compare import PRICE_SWEEP_COLUMNS, price_sweep

    acct = default_account()
    for name, mode in (("BTC long", "isolated"), ("ETH short", "isolated"), ("ETH short", "cross")):
        sw = price_sweep(acct, name, modes=(mode,), n=400)
        assert list(sw.columns) == PRICE_SWEEP_COLUMNS
        eq = sw[sw["quantity"] == "equity"]
        mm = sw[sw["quantity"] == "maintenance_margin"]
        x = eq["price"].to_numpy()
        want = acct.with_mode(mode).liquidation_prices().loc[name]
        liq = interpolated_root(x, eq["value"].to_numpy() - mm["value"].to_numpy())
        bk = interpolated_root(x, eq["value"].to_numpy())
        assert liq == pytest.approx(want["liquidation_price"], rel=1e-9)
        assert bk == pytest.approx(want["bankruptcy_price"], rel=1e-9)
        # the default grid spans both levels with room either side
        assert x.min() < min(liq, bk) and x.max() > max(liq, bk, 61_000 if "BTC" in name else 2950)
        levels = pd.DataFrame(sw.attrs["levels"]).set_index("mode")
        assert levels.loc[mode, "liquidation_price"] == pytest.approx(liq, rel=1e-9)
        assert sw.attrs["settle_currency"] == "USDT" and sw.attrs["symbol"] == name[:3] + "USDT"
    # isolated equity at the mark: margin plus PnL, as the account's frame says
    sw = price_sweep(acct, "BTC long", prices=[61_000.0], modes=("isolated",))
    row = acct.with_mode("isolated").frame().loc["BTC long"]
    got = sw.set_index("quantity")["value"]
    assert got["equity"] == pytest.approx(row["isolated_margin"] + row["unrealized_pnl"])
    assert got["maintenance_margin"] == pytest.approx(row["maint_margin"])


def test_price_levels_move_a_same_symbol_hedge_together() -> None:
    from margin_kit.compare import price_levels, price_sweep

    m = mk.Market.simple("XUSDT", 0.005)
    acct = mk.Account(20.0, [
        mk.Position(m, "long", 1.0, 100.0, leverage=10),
        mk.Position(m, "short", 0.5, 100.0, leverage=10),
    ])  # fmt: skip
    lv = price_levels(acct, "XUSDT long").loc["cross"]
    # closed form with both moving: 20 + (P - 100) - 0.5 (P - 100) = 0.005 * 1.5 P
    assert lv["liquidation_price"] == pytest.approx((50.0 - 20.0) / (0.5 - 0.0075), rel=1e-12)
    assert lv["bankruptcy_price"] == pytest.approx(60.0, rel=1e-12)
    # Account.liquidation_prices moves the pair together too; the short's adverse move (up)
    # only adds equity (net long), so it has none
    table = acct.liquidation_prices()
    assert table.loc["XUSDT long", "liquidation_price"] == pytest.approx(
        lv["liquidation_price"], rel=1e-12
    )
    assert np.isnan(table.loc["XUSDT short", "liquidation_price"])
    sw = price_sweep(acct, "XUSDT long", modes=("cross",), n=300)
    eq = sw[sw["quantity"] == "equity"]["value"].to_numpy()
    mm = sw[sw["quantity"] == "maintenance_margin"]["value"].to_numpy()
    x = sw[sw["quantity"] == "equity"]["price"].to_numpy()
    assert interpolated_root(x, eq - mm) == pytest.approx(lv["liquidation_price"], rel=1e-9)
    # a fully hedged pair: never liquidated
    hedged = mk.Account(20.0, [
        mk.Position(m, "long", 1.0, 100.0), mk.Position(m, "short", 1.0, 100.0),
    ])  # fmt: skip
    assert np.isnan(price_levels(hedged, "XUSDT long").loc["cross", "liquidation_price"])
