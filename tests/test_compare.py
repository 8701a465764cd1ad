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
