"""Widget panels: wired to the core, numbers equal to independent computations, no kernel needed.

ipywidgets and JupyterChart work in plain Python: setting a control's ``value`` fires the
panel's callbacks, which recompute and redraw (summary HTML, chart spec or chart parameters).
Expected numbers come from separate core calls on accounts built here, from the closed-form
liquidation price of a linear isolated position and from the reflection formula for a GBM
barrier hit, written out below.
"""

from __future__ import annotations

import json
import math
import re

import altair as alt
import ipywidgets as w
import numpy as np
import pandas as pd
import pytest
from altair.utils.schemapi import validate_jsonschema
from altair.vegalite.v6.schema import load_schema
from conftest import SHARED
from scipy.stats import norm

import margin_kit as mk
from margin_kit import engine, exchanges, prices, scenario
from margin_kit import widgets as mw
from margin_kit.compare import COLUMNS, leverage_sweep

BTC_CSV = SHARED / "data" / "btc-usd-daily.csv"
SCHEMA = load_schema()
PANELS = (mw.PositionPanel, mw.AccountPanel, mw.SizingPanel, mw.CapitalPanel, mw.ReplayPanel)


@pytest.fixture(scope="module")
def sc() -> scenario.Scenario:
    return scenario.load(scenario.default_path())


def liq_span(panel: mw._Panel) -> str:
    """Text of the one ``mk-liq`` element in the summary."""
    found = re.findall(r'<span class="mk-liq">([^<]*)</span>', panel.summary.value)
    assert len(found) == 1, panel.summary.value
    return found[0]


def chart_state(panel: mw._Panel) -> str:
    jc = panel.chart
    return json.dumps([jc.spec, jc._params], sort_keys=True, default=str)


def shown_spec(jc: alt.JupyterChart) -> dict:
    """The spec the widget shows: its last spec with the parameter values set since."""
    spec = json.loads(json.dumps(jc.spec))
    for param in spec.get("params", []):
        if param["name"] in jc._params and "select" not in param:
            param["value"] = jc._params[param["name"]]
    return spec


def gbm_hit(spot: float, barrier: float, vol: float, t: float) -> float:
    """P(min or max of driftless-in-price GBM reaches ``barrier`` by ``t``): reflection formula."""
    if not np.isfinite(barrier):
        return 0.0
    nu = -0.5 * vol**2
    b = math.log(barrier / spot)
    s = vol * math.sqrt(t)
    if b < 0:  # barrier below: running minimum
        return norm.cdf((b - nu * t) / s) + math.exp(2 * nu * b / vol**2) * norm.cdf(
            (b + nu * t) / s
        )
    return norm.cdf((-b + nu * t) / s) + math.exp(2 * nu * b / vol**2) * norm.cdf((-b - nu * t) / s)


def linear_isolated_liq(side: str, qty: float, entry: float, margin: float, mmr: float,
                        cum: float) -> float:  # fmt: skip
    """Binance's one-position formula: C + s q (P - E) = q P mmr - cum, solved for P."""
    s = 1.0 if side == "long" else -1.0
    return (margin + cum - s * qty * entry) / (qty * (mmr - s))


def isolated_liq(pos: mk.Position) -> float:
    acct = mk.Account(pos.isolated_margin, [pos])
    return float(acct.liquidation_prices()["liquidation_price"].iloc[0])


def assert_clean(panel: mw._Panel) -> None:
    text = panel.summary.value.lower()
    assert panel.error is None, panel.error
    assert 'class="mk-error"' not in text
    assert not re.search(r"\bnan\b", text), "the summary shows NaN"


# ----------------------------------------------------------------------------- AccountPanel
def test_account_panel_liquidation_price_follows_the_leverage(sc) -> None:
    panel = mw.AccountPanel()
    assert panel.selected == "BTC long"
    before_liq, before_chart = liq_span(panel), chart_state(panel)
    before_fig = panel.figure().to_dict()
    panel.controls["leverage"].value = 20.0
    assert_clean(panel)

    positions = [
        p.with_(leverage=20.0) if p.name == "BTC long" else p for p in sc.account.positions
    ]
    expected = mk.Account(sc.account.wallet_balance, positions).liquidation_prices()
    liq = float(expected.loc["BTC long", "liquidation_price"])
    assert panel.result.loc["BTC long", "liquidation_price"] == pytest.approx(liq, rel=1e-12)
    assert liq_span(panel) == f"{liq:,.2f}" != before_liq
    # and by hand: isolated 0.5 BTC long from 60,000 on 30,000 / 20 margin, first tier
    assert liq == pytest.approx(
        linear_isolated_liq("long", 0.5, 60_000, 1_500, 0.004, 0), rel=1e-12
    )
    # the cross positions moved too: the isolated margin comes out of the cross wallet
    for name in ("ETH short", "BTC hedge"):
        assert panel.result.loc[name, "liquidation_price"] == pytest.approx(
            expected.loc[name, "liquidation_price"], rel=1e-12
        )
    assert chart_state(panel) != before_chart
    assert panel.figure().to_dict() != before_fig


def test_account_panel_modes_and_probabilities_are_the_cores(sc) -> None:
    panel = mw.AccountPanel()
    panel.controls["wallet_balance"].value = 15_000.0
    assert_clean(panel)
    acct = mk.Account(15_000.0, sc.account.positions)
    vols = {"BTCUSDT": 0.55, "ETHUSDT": 0.70}  # the default scenario's [model]
    t = 30 / 365
    for mode, column, pcol in (("isolated", "liq_isolated", "p_isolated"),
                               ("cross", "liq_cross", "p_cross")):  # fmt: skip
        frame = acct.with_mode(mode).liquidation_prices()
        for p in acct.positions:
            price = float(frame.loc[p.name, "liquidation_price"])
            got = panel.result.loc[p.name]
            assert got[column] == pytest.approx(price, rel=1e-12, nan_ok=True)
            assert got[pcol] == pytest.approx(
                gbm_hit(p.mark_price, price, vols[p.symbol], t), rel=1e-9, abs=1e-15
            )


def test_account_panel_position_switch_and_css_hooks(sc) -> None:
    panel = mw.AccountPanel()
    lev = panel.controls["leverage"]
    assert "mk-leverage" in lev._dom_classes
    assert "mk-chart" in panel.chart._dom_classes
    assert "mk-summary" in panel.summary._dom_classes
    assert "mk-panel" in panel.view._dom_classes
    lev.value = 15.0
    panel.controls["position"].value = "ETH short"
    assert lev.value == 20.0 and lev.max == 125.0  # that position's own leverage and tier max
    assert liq_span(panel) == f"{panel.result.loc['ETH short', 'liquidation_price']:,.2f}"
    panel.controls["position"].value = "BTC long"
    assert lev.value == 15.0  # kept per position
    assert panel.account.position("BTC long").leverage == 15.0


def test_leverage_moves_a_chart_parameter_and_other_controls_a_new_spec() -> None:
    panel = mw.AccountPanel()
    jc = panel.chart
    spec = json.dumps(jc.spec, sort_keys=True)
    panel.controls["leverage"].value = 30.0
    assert json.dumps(jc.spec, sort_keys=True) == spec  # no re-embed for a leverage move...
    assert jc._params[mw.LEVERAGE_PARAM] == 30.0  # ...the marker is a Vega parameter
    params = {p["name"]: p.get("value") for p in panel.figure().to_dict()["params"]}
    assert params[mw.LEVERAGE_PARAM] == 30.0  # and the static figure follows
    panel.controls["wallet_balance"].value = 30_000.0  # cross liquidation moves: new spec
    assert json.dumps(jc.spec, sort_keys=True) != spec
    assert jc._params[mw.LEVERAGE_PARAM] == 30.0


def test_invalid_wallet_shows_a_message_and_recovers(sc) -> None:
    panel = mw.AccountPanel()
    good_summary = panel.summary.value
    spec = json.dumps(panel.chart.spec, sort_keys=True)
    panel.controls["wallet_balance"].value = 1_000.0  # cannot fund the 3,000 isolated margin
    assert panel.error is not None and "wallet_balance" in panel.error
    assert "Cannot compute" in panel.summary.value and "1000.0" in panel.summary.value
    assert 'class="mk-liq"' not in panel.summary.value
    assert json.dumps(panel.chart.spec, sort_keys=True) == spec  # last valid chart kept
    panel.controls["wallet_balance"].value = sc.account.wallet_balance
    assert_clean(panel)
    assert panel.summary.value == good_summary


def test_names_are_escaped() -> None:
    btc = exchanges.get("binance-usdm").market("BTCUSDT")
    acct = mk.Account(10_000, [
        mk.Position(btc, "long", 0.1, 60_000, leverage=10, margin_mode="isolated",
                    name="<script>alert(1)</script> & co"),
        mk.Position(btc, "short", 0.05, 60_000, leverage=10, name='"q"'),
    ])  # fmt: skip
    for cls in (mw.AccountPanel, mw.CapitalPanel, mw.SizingPanel):
        panel = cls(acct, mk.risk.GBM(0.6))
        assert_clean(panel)
        text = panel.summary.value
        assert "<script>" not in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in text


# ----------------------------------------------------------------------------- PositionPanel
def test_position_panel_numbers_are_single_position_accounts() -> None:
    panel = mw.PositionPanel()
    c = panel.controls
    c["leverage"].value = 25.0
    c["wallet_balance"].value = 8_000.0
    c["side"].value = "short"
    c["vol"].value = 80.0
    c["horizon_days"].value = 10.0
    assert_clean(panel)
    btc = exchanges.get("binance-usdm").market("BTCUSDT")
    for mode in ("isolated", "cross"):
        pos = mk.Position(btc, "short", 0.5, 60_000, leverage=25, margin_mode=mode,
                          mark_price=61_000)  # fmt: skip
        want = mk.Account(8_000.0, [pos]).liquidation_prices().iloc[0]
        got = panel.result.loc[mode]
        for col in ("liquidation_price", "bankruptcy_price", "distance_pct", "margin",
                    "collateral"):  # fmt: skip
            assert got[col] == pytest.approx(want[col], rel=1e-12), (mode, col)
        assert got["p_liquidation"] == pytest.approx(
            gbm_hit(61_000, want["liquidation_price"], 0.8, 10 / 365), rel=1e-9
        )
    # by hand: a short, margin 30,000 / 25 isolated or the whole 8,000 wallet cross
    assert panel.result.loc["isolated", "liquidation_price"] == pytest.approx(
        linear_isolated_liq("short", 0.5, 60_000, 1_200, 0.004, 0), rel=1e-12
    )
    assert panel.result.loc["cross", "liquidation_price"] == pytest.approx(
        linear_isolated_liq("short", 0.5, 60_000, 8_000, 0.004, 0), rel=1e-12
    )
    c["margin_mode"].value = "cross"
    assert liq_span(panel) == f"{panel.result.loc['cross', 'liquidation_price']:,.2f}"


def test_position_panel_leverage_above_the_tier_after_a_size_change() -> None:
    panel = mw.PositionPanel()
    c = panel.controls
    c["wallet_balance"].value = 1_000_000.0
    c["leverage"].value = 120.0  # tier 1 allows 125x
    assert_clean(panel)
    c["qty"].value = 20.0  # 1.2 M USDT notional: the tier allows 75x
    assert panel.error == "leverage=120.0: expected <= 75, the tier's max leverage"
    assert c["leverage"].value == 120.0  # reported, not clamped silently
    assert 'class="mk-error"' in panel.summary.value and "nan" not in panel.summary.value.lower()
    c["leverage"].value = 50.0
    assert_clean(panel)
    assert c["leverage"].max == 75.0
    assert panel.result.loc["isolated", "max_leverage"] == 75.0


def test_position_panel_exchange_and_symbol_switches_keep_the_position() -> None:
    panel = mw.PositionPanel()
    c = panel.controls
    c["exchange"].value = "binance-coinm"  # inverse: contracts of 100 USD, wallet in BTC
    assert c["symbol"].value == "BTCUSD_PERP"
    assert c["qty"].value == 300.0  # 0.5 BTC x 60,000 = 30,000 USD
    assert c["wallet_balance"].value == pytest.approx(20_000 / 61_000, rel=1e-5)
    assert_clean(panel)
    assert "BTC" in panel.summary.value
    c["exchange"].value = "binance-usdm"
    c["symbol"].value = "ETHUSDT"  # another asset: the reference price, same USD notional
    assert c["entry_price"].value == 2_950.0 and c["mark_price"].value == 2_950.0
    assert c["qty"].value == pytest.approx(30_000 / 2_950, rel=1e-3)
    assert_clean(panel)


def test_position_panel_of_a_custom_market() -> None:
    market = mk.Market.simple("TEST", 0.01, max_leverage=20)
    pos = mk.Position(market, "long", 2.0, 100.0, leverage=5, margin_mode="isolated")
    panel = mw.PositionPanel(pos, vol=0.5)
    assert panel.controls["exchange"].value == "custom"
    assert_clean(panel)
    assert panel.result.loc["isolated", "liquidation_price"] == pytest.approx(
        linear_isolated_liq("long", 2.0, 100.0, 40.0, 0.01, 0.0), rel=1e-12
    )


# ----------------------------------------------------------------------------- SizingPanel
def test_sizing_panel_answers_plug_back(sc) -> None:
    panel = mw.SizingPanel()
    c = panel.controls
    assert_clean(panel)
    res = panel.result
    btc = exchanges.get("binance-usdm").market("BTCUSDT")
    e, vol, t = 61_000.0, 0.55, 30 / 365  # opened at the mark; the model's BTC volatility
    # isolated: the highest leverage puts P(liquidation within 30 days) at the 1 % target
    l_star = res.loc["isolated", "max_leverage"]
    pos = mk.Position(btc, "long", 0.5, e, leverage=l_star, margin_mode="isolated")
    liq = isolated_liq(pos)
    assert gbm_hit(e, liq, vol, t) == pytest.approx(0.01, rel=1e-8)
    assert res.loc["isolated", "target_price"] == pytest.approx(liq, rel=1e-9)
    assert res.loc["isolated", "meets_target"] == (c["leverage"].value <= l_star)
    # cross: at the largest quantity, the cross liquidation price (others held) is the target
    q = res.loc["cross", "max_qty"]
    positions = [
        p.with_(qty=q, entry_price=e, margin_mode="cross") if p.name == "BTC long" else p
        for p in sc.account.positions
    ]
    cross = mk.Account(sc.account.wallet_balance, positions).liquidation_prices()
    assert cross.loc["BTC long", "liquidation_price"] == pytest.approx(liq, rel=1e-9)
    # distance target: 25 % below entry
    c["target_kind"].value = "distance"
    c["target"].value = 25.0
    assert_clean(panel)
    l_d = panel.result.loc["isolated", "max_leverage"]
    pos = mk.Position(btc, "long", 0.5, e, leverage=l_d, margin_mode="isolated")
    liq = isolated_liq(pos)
    assert liq == pytest.approx(0.75 * e, rel=1e-9)


def test_sizing_panel_planned_leverage_is_judged_against_the_target() -> None:
    panel = mw.SizingPanel()
    c = panel.controls
    l_star = panel.result.loc["isolated", "max_leverage"]
    c["leverage"].value = math.floor(l_star)
    assert bool(panel.result.loc["isolated", "meets_target"])
    assert panel.result.loc["isolated", "p_liquidation"] <= 0.01
    c["leverage"].value = math.ceil(l_star) + 1.0
    assert not bool(panel.result.loc["isolated", "meets_target"])
    assert panel.result.loc["isolated", "p_liquidation"] > 0.01
    assert 'class="mk-no"' in panel.summary.value


# ----------------------------------------------------------------------------- CapitalPanel
def test_capital_panel_locked_free_and_return_on_margin(sc) -> None:
    panel = mw.CapitalPanel()
    before = chart_state(panel)
    panel.controls["leverage"].value = 5.0
    panel.controls["move"].value = 10.0
    assert_clean(panel)
    assert chart_state(panel) != before
    positions = [p.with_(leverage=5.0) if p.name == "BTC long" else p for p in sc.account.positions]
    acct = mk.Account(sc.account.wallet_balance, positions)
    table = panel.result.set_index(["position", "mode"])
    iso = acct.with_mode("isolated")
    n0 = {p.name: p.qty * p.entry_price for p in acct.positions}
    n_mark = {p.name: p.qty * p.mark_price for p in acct.positions}
    lev = {p.name: p.leverage for p in acct.positions}
    locked_iso = sum(n0[k] / lev[k] for k in n0)
    locked_cross = sum(n_mark[k] / lev[k] for k in n0)
    assert table.loc[("(account)", "isolated"), "margin_locked"] == pytest.approx(locked_iso)
    assert table.loc[("(account)", "isolated"), "free_collateral"] == pytest.approx(
        acct.wallet_balance - locked_iso
    )
    assert table.loc[("(account)", "cross"), "margin_locked"] == pytest.approx(locked_cross)
    assert table.loc[("(account)", "cross"), "free_collateral"] == pytest.approx(
        acct.with_mode("cross").available_balance
    )
    # a 10 % favourable move on a linear position gains 0.1 x notional at the mark
    for p in acct.positions:
        gain = 0.1 * n_mark[p.name]
        assert table.loc[(p.name, "isolated"), "return_on_margin"] == pytest.approx(
            gain / iso.position(p.name).isolated_margin
        )
        assert table.loc[(p.name, "cross"), "return_on_margin"] == pytest.approx(
            gain / (n_mark[p.name] / lev[p.name])
        )
    assert list(panel.result.columns) == COLUMNS


def test_capital_panel_frontier_marks_the_current_leverage() -> None:
    panel = mw.CapitalPanel(plot="loss frontier")
    jc = panel.chart
    spec = json.dumps(jc.spec, sort_keys=True)
    panel.controls["leverage"].value = 25.0
    assert_clean(panel)
    assert json.dumps(jc.spec, sort_keys=True) == spec
    row = panel.result.set_index(["position", "mode"]).loc[("BTC long", "isolated")]
    assert jc._params[mw.LEVERAGE_PARAM] == 25.0
    assert jc._params["mk_p_isolated"] == pytest.approx(row["p_liquidation"])
    assert jc._params["mk_el_isolated"] == pytest.approx(row["expected_loss"])
    # the sweep behind the frontier has the same point at 25x
    sweep = leverage_sweep(panel.account, "BTC long", [25.0], vol=0.55, horizon=30 / 365)
    iso = sweep[sweep["mode"] == "isolated"].iloc[0]
    assert iso["p_liquidation"] == pytest.approx(row["p_liquidation"], rel=1e-12)
    assert iso["expected_loss"] == pytest.approx(row["expected_loss"], rel=1e-12)


# ----------------------------------------------------------------------------- ReplayPanel
def crash_path(mark: float, move: float, spd: int, days: float, hold: float, rec: float,
               rec_days: float) -> np.ndarray:  # fmt: skip
    n_move, n_hold, n_rec = round(days * spd), round(hold * spd), round(rec_days * spd)
    bottom = 1 + move
    end = bottom + rec * (1 - bottom)
    down = bottom ** (np.arange(n_move + 1) / n_move)
    up = bottom * (end / bottom) ** (np.arange(1, n_rec + 1) / n_rec)
    return mark * np.concatenate([down, np.full(n_hold, bottom), up])


def test_replay_panel_runs_the_engine_on_the_crash_path(sc) -> None:
    panel = mw.ReplayPanel()
    assert_clean(panel)
    spd = 72 // 8  # 72 marks at most over 2 + 1 + 5 days
    want = {s: crash_path(m, -0.35, spd, 2, 1, 0.5, 5) for s, m in
            (("BTCUSDT", 61_000.0), ("ETHUSDT", 2_950.0))}  # fmt: skip
    for s, path in want.items():
        np.testing.assert_allclose(np.asarray(panel.prices[s], dtype=float), path, rtol=1e-12)
    res = engine.replay(sc.account, want)
    for mode in ("isolated", "cross"):
        liq = res.liquidations(mode)
        assert panel.result.loc[mode, "liquidations"] == len(liq)
        assert panel.result.loc[mode, "loss"] == pytest.approx(float(liq["loss"].sum()))
        assert panel.result.loc[mode, "final_equity"] == pytest.approx(res.equity[mode][0, -1])
    # the isolated BTC long (10x) is liquidated on the way down; at 2x (liquidation near
    # 30,000) it survives the low of 61,000 x 0.65
    first = panel.result.loc["isolated", "first_liquidation"]
    assert panel.result.loc["isolated", "liquidations"] == 1 and first > 0
    panel.controls["leverage"].value = 2.0
    assert_clean(panel)
    assert panel.result.loc["isolated", "liquidations"] == 0
    assert "No liquidation in either mode" in panel.summary.value


def test_replay_panel_replays_a_window_of_real_prices(sc) -> None:
    btc = prices.load_ohlc(BTC_CSV)
    panel = mw.ReplayPanel(prices=btc, window_days=30)
    assert_clean(panel)
    c = panel.controls
    assert c["source"].value == "history"
    start = btc.index[c["start"].value]
    # the default window holds the sharpest daily fall of the data (2020-03-12)
    assert start <= pd.Timestamp("2020-03-12") < btc.index[c["start"].value + 30]
    window = btc.iloc[c["start"].value : c["start"].value + 30]
    for s, m in (("BTCUSDT", 61_000.0), ("ETHUSDT", 2_950.0)):
        rebased = window * (m / window["close"].iloc[0])
        pd.testing.assert_frame_equal(panel.prices[s], rebased[["open", "high", "low", "close"]])
    res = engine.replay(sc.account, panel.prices)
    assert panel.result.loc["isolated", "liquidations"] == len(res.liquidations("isolated"))
    assert "2020-" in panel.summary.value
    c["source"].value = "crash"
    assert_clean(panel)
    assert c["start"].layout.display == "none" and c["move"].layout.display is None


# ----------------------------------------------------------------------------- every panel
@pytest.mark.parametrize("cls", PANELS, ids=lambda c: c.__name__)
def test_every_control_changes_what_is_shown(cls) -> None:
    panel = cls()
    for name, ctrl in panel.controls.items():
        before = (panel.summary.value, chart_state(panel), repr(panel.result))
        trait = (
            "index"
            if isinstance(ctrl, w.ToggleButtons | w.Dropdown | w.SelectionSlider)
            else "value"
        )
        old = getattr(ctrl, trait)
        if isinstance(ctrl, w.SelectionSlider):
            new = min(old + 5, len(ctrl.options) - 1)
        elif trait == "index":
            new = (old + 1) % len(ctrl.options)
        elif hasattr(ctrl, "max"):
            span = ctrl.max - ctrl.min
            new = old + 0.25 * span if ctrl.max - old >= old - ctrl.min else old - 0.25 * span
        else:
            new = old * 1.25 + 1
        setattr(ctrl, trait, new)
        after = (panel.summary.value, chart_state(panel), repr(panel.result))
        assert after != before, f"{cls.__name__}.{name} changed nothing"
        assert not re.search(r"\bnan\b", panel.summary.value.lower()), (name, panel.summary.value)
        # the widget redraws without altair's validation: what it was sent is the panel's
        # figure, and that figure passes altair's validation
        if panel.error is None:
            assert shown_spec(panel.chart) == panel.figure().to_dict(validate=True), name
        setattr(ctrl, trait, old)


@pytest.mark.parametrize("cls", PANELS, ids=lambda c: c.__name__)
def test_parts_chart_and_spec(cls) -> None:
    panel = cls()
    assert_clean(panel)
    assert set(panel.controls) >= {"leverage", "wallet_balance"}
    assert isinstance(panel.summary, w.HTML)
    assert isinstance(panel.result, pd.DataFrame) and not panel.result.empty
    for name, ctrl in panel.controls.items():
        assert f"mk-{name.replace('_', '-')}" in ctrl._dom_classes
        if isinstance(ctrl, w.FloatSlider | w.IntSlider | w.SelectionSlider):
            assert ctrl.continuous_update is False, name  # recompute on release
    jc = panel.chart
    assert isinstance(jc, alt.JupyterChart)
    assert jc.embed_options == {"actions": False, "renderer": "svg"}
    assert type(jc)._is_offline  # JavaScript from vl-convert, no CDN
    validate_jsonschema(jc.spec, SCHEMA)
    validate_jsonschema(panel.figure().to_dict(), SCHEMA)
    assert (
        jc in panel.view.children[1].children and panel.summary in panel.view.children[1].children
    )


# ----------------------------------------------------------------------------- display
def test_static_mode_displays_summary_html_and_a_plain_chart(monkeypatch) -> None:
    monkeypatch.setenv("MARGIN_KIT_RENDER", "static")
    shown: list = []
    monkeypatch.setattr(mw, "display", lambda obj: shown.append(obj))
    panel = mw.AccountPanel()
    panel._ipython_display_()
    assert panel._chart is None  # no widget chart (nor its 0.9 MB bundle) in exports
    html_obj, chart = shown
    assert html_obj.data == panel.summary.value and 'class="mk-liq"' in html_obj.data
    assert isinstance(chart, alt.TopLevelMixin) and not isinstance(chart, w.Widget)
    validate_jsonschema(chart.to_dict(), SCHEMA)
    # the static chart shows the current state: the leverage marker at the slider's value
    panel.controls["leverage"].value = 33.0
    shown.clear()
    panel._ipython_display_()
    params = {p["name"]: p.get("value") for p in shown[1].to_dict()["params"]}
    assert params[mw.LEVERAGE_PARAM] == 33.0


def test_live_mode_displays_the_view(monkeypatch) -> None:
    monkeypatch.delenv("MARGIN_KIT_RENDER", raising=False)
    shown: list = []
    monkeypatch.setattr(mw, "display", lambda obj: shown.append(obj))
    panel = mw.PositionPanel()
    panel._ipython_display_()
    assert shown == [panel.view]


def test_static_display_through_ipython(monkeypatch) -> None:
    """The real display machinery: rich HTML for the summary and the altair chart."""
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    monkeypatch.setenv("MARGIN_KIT_RENDER", "static")
    InteractiveShell.instance()
    panel = mw.CapitalPanel()
    with capture_output() as cap:
        from IPython.display import display

        display(panel)
    assert len(cap.outputs) == 2
    assert 'class="mk-summary"' in cap.outputs[0].data["text/html"]
    assert "text/html" in cap.outputs[1].data or any(
        k.startswith("application/vnd.vegalite") for k in cap.outputs[1].data
    )
