"""Charts: valid Vega-Lite, titled, with units, tooltips and mode colours, data from the frames.

Each builder is run on real inputs (the default scenario, the shipped exchange tiers, a GBM
fan, a replay) and its spec is checked by altair's own validation and by reading the values
back out of the spec: the rule drawn at the liquidation price sits where the account says.
Every chart is rendered to PNG with vl-convert, and the offline renderer is rendered in
chromium from a page holding only the inlined bundle (no network). Legibility at narrow widths
is measured in chromium too (real text extents): tick labels apart and reading back as their
values, rule, point and bar labels never overlapping and inside their plots.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import altair as alt
import numpy as np
import pandas as pd
import pytest
import vl_convert as vlc
from hypothesis import given, settings
from hypothesis import strategies as st

import margin_kit as mk
from margin_kit import InputError, charts, exchanges, scenario
from margin_kit.compare import leverage_sweep, price_levels, price_sweep
from margin_kit.engine import replay
from margin_kit.risk import GBM, CorrelatedGBM, fan_frame

HORIZON = 30 / 365


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def account() -> mk.Account:
    return scenario.load(scenario.default_path()).account


@pytest.fixture(scope="module")
def sweep(account: mk.Account) -> pd.DataFrame:
    return leverage_sweep(account, "ETH short", vol=0.6, horizon=HORIZON)


@pytest.fixture(scope="module")
def table(account: mk.Account) -> pd.DataFrame:
    model = CorrelatedGBM(
        vols=[0.6, 0.8], corr=[[1, 0.8], [0.8, 1]], symbols=("BTCUSDT", "ETHUSDT")
    )
    return mk.compare(account, model, HORIZON, paths=2_000, steps=30, seed=1)


@pytest.fixture(scope="module")
def replayed(account: mk.Account) -> mk.engine.ReplayResult:
    btc = GBM(0.9).simulate(61_000, 60 / 365, 60, 3, seed=4)
    return replay(account, {"BTCUSDT": btc, "ETHUSDT": np.full(61, 2950.0)})


@pytest.fixture(scope="module")
def built(account, sweep, table, replayed) -> dict[str, Any]:
    """Every builder once, on real inputs."""
    fan = fan_frame(GBM(0.6), 2950.0, HORIZON, paths=1_000, seed=2)
    return {
        "equity_vs_price": charts.equity_vs_price(price_sweep(account, "ETH short")),
        "liquidation_vs_leverage": charts.liquidation_vs_leverage(sweep),
        "probability_vs_leverage": charts.probability_vs_leverage(sweep),
        "loss_frontier": charts.loss_frontier(sweep),
        "capital_usage": charts.capital_usage(table),
        "comparison": charts.comparison(table),
        "tier_ladder": charts.tier_ladder(exchanges.get("binance-usdm").market("BTCUSDT").tiers),
        "path_fan": charts.path_fan(fan, price_levels(account, "ETH short"), price_unit="USDT"),
        "replay_equity": charts.replay_equity(replayed, currency="USDT"),
    }


# ----------------------------------------------------------------------------- spec walking
def walk(node: Any) -> Iterator[dict]:
    """Every dict in a spec, depth first."""
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v)


def encodings(spec: dict) -> Iterator[tuple[str, dict]]:
    for d in walk(spec):
        enc = d.get("encoding")
        if isinstance(enc, dict):
            yield from enc.items()


def axis_titles(spec: dict) -> list[str]:
    return [
        ch["title"]
        for name, ch in encodings(spec)
        if name in ("x", "y") and isinstance(ch, dict) and isinstance(ch.get("title"), str)
    ]


def datasets(spec: dict) -> dict[str, list[dict]]:
    return spec.get("datasets", {})


def rows_with(spec: dict, **match: Any) -> list[dict]:
    """Rows of any embedded dataset whose fields equal ``match``."""
    return [
        row
        for rows in datasets(spec).values()
        for row in rows
        if all(row.get(k) == v for k, v in match.items())
    ]


UNITS = {
    "equity_vs_price": ["ETHUSDT price (USDT)", "Amount (USDT)"],
    "liquidation_vs_leverage": ["Leverage (x)", "Liquidation price (USDT)"],
    "probability_vs_leverage": ["Leverage (x)", "P(liquidation within 30 days) (%)"],
    "loss_frontier": ["P(liquidation within 30 days) (%)", "Expected loss (USDT)"],
    "capital_usage": ["Capital (USDT)"],
    "comparison": ["P(liquidation) (%)", "Distance to liquidation (% of mark)"],
    "tier_ladder": ["Position notional (USDT, log scale)", "Max leverage (x)"],
    "path_fan": ["Days from now", "Price (USDT)"],
    "replay_equity": ["Account equity (USDT)"],
}
NAMES = list(UNITS)


# ----------------------------------------------------------------------------- contract
def test_mode_colors_are_the_contract() -> None:
    assert set(charts.MODE_COLORS) == {"isolated", "cross"}
    scale = charts.mode_scale().to_dict()
    assert scale == {
        "domain": list(charts.MODE_COLORS),
        "range": list(charts.MODE_COLORS.values()),
    }
    assert len(set(charts.MODE_COLORS.values())) == 2


@pytest.mark.parametrize("name", NAMES)
def test_chart_is_valid_vega_lite(built: dict, name: str) -> None:
    chart = built[name]
    spec = chart.to_dict()  # validates against the Vega-Lite schema
    assert spec["$schema"].endswith(".json")
    again = type(chart).from_dict(spec)  # and back: validated again
    assert again.to_dict() == spec
    json.loads(chart.to_json())


@pytest.mark.parametrize("name", NAMES)
def test_chart_has_title_units_and_tooltips(built: dict, name: str) -> None:
    spec = built[name].to_dict()
    title = spec["title"]
    assert isinstance(title, dict) and title["text"].strip()
    titles = axis_titles(spec)
    for unit in UNITS[name]:
        assert unit in titles, (unit, titles)
    tooltips = [ch for n, ch in encodings(spec) if n == "tooltip" and isinstance(ch, list)]
    assert tooltips, "no tooltips"
    formatted = [t for tips in tooltips for t in tips if t.get("type") == "quantitative"]
    assert formatted and all("format" in t for t in formatted)
    rows = sum(len(r) for r in datasets(spec).values())
    assert 0 < rows <= 5_000


@pytest.mark.parametrize("name", [n for n in NAMES if n != "tier_ladder"])
def test_modes_coloured_with_mode_colors(built: dict, name: str) -> None:
    spec = built[name].to_dict()
    colours = [
        ch
        for n, ch in encodings(spec)
        if n == "color" and isinstance(ch, dict) and ch.get("field") == "mode"
    ]
    # conditional colours carry the field definition inside the condition
    colours += [
        ch["condition"]
        for n, ch in encodings(spec)
        if n == "color" and isinstance(ch, dict) and isinstance(ch.get("condition"), dict)
        and ch["condition"].get("field") == "mode"
    ]  # fmt: skip
    assert colours
    for ch in colours:
        assert ch["scale"]["domain"] == list(charts.MODE_COLORS)
        assert ch["scale"]["range"] == list(charts.MODE_COLORS.values())


@pytest.mark.parametrize("name", NAMES)
def test_chart_renders_to_png(built: dict, name: str, tmp_path) -> None:
    png = vlc.vegalite_to_png(built[name].to_json())
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    (tmp_path / f"{name}.png").write_bytes(png)


# ----------------------------------------------------------------------------- data in the spec
def test_equity_rules_sit_at_the_accounts_prices(account: mk.Account) -> None:
    spec = charts.equity_vs_price(price_sweep(account, "ETH short")).to_dict()
    # independent path: the account's own evaluators, each mode built with with_mode()
    for mode in ("isolated", "cross"):
        want = account.with_mode(mode).liquidation_prices().loc["ETH short"]
        liq = rows_with(spec, level="liquidation", mode=mode)
        bk = rows_with(spec, level="bankruptcy", mode=mode)
        assert len(liq) == 1 and len(bk) == 1
        assert liq[0]["price"] == pytest.approx(want["liquidation_price"], rel=1e-9)
        assert bk[0]["price"] == pytest.approx(want["bankruptcy_price"], rel=1e-9)
        assert liq[0]["text"].startswith("liquidation 3,137" if mode == "isolated" else
                                         "liquidation 5,032")  # fmt: skip


def test_equity_curves_in_spec_are_the_frame(account: mk.Account) -> None:
    sweep = price_sweep(account, "BTC long", n=50)
    spec = charts.equity_vs_price(sweep).to_dict()
    for mode in ("isolated", "cross"):
        got = pd.DataFrame(rows_with(spec, mode=mode, quantity="equity"))
        want = sweep[(sweep["mode"] == mode) & (sweep["quantity"] == "equity")]
        np.testing.assert_allclose(got["value"], want["value"], rtol=1e-12)
    # cross: the BTC hedge offsets the long, so the panel says there is no liquidation price
    notes = rows_with(spec, mode="cross")
    assert any(str(r.get("note", "")).startswith("no liquidation price") for r in notes)


def test_leverage_charts_carry_the_sweep(sweep: pd.DataFrame) -> None:
    spec = charts.liquidation_vs_leverage(sweep).to_dict()
    for mode in ("isolated", "cross"):
        got = pd.DataFrame([r for r in rows_with(spec, mode=mode) if "leverage" in r
                            and "liquidation_price" in r and "distance_pct" in r])  # fmt: skip
        want = sweep[sweep["mode"] == mode]
        np.testing.assert_allclose(got["leverage"], want["leverage"])
        np.testing.assert_allclose(got["liquidation_price"], want["liquidation_price"])
    # the cross line is flat and labelled so
    assert any(
        str(r.get("note", "")).startswith("cross: 5,032.76 at every leverage")
        for r in rows_with(spec, mode="cross")
    )
    spec = charts.loss_frontier(sweep).to_dict()
    got = pd.DataFrame([r for r in rows_with(spec, mode="isolated") if "expected_loss" in r
                        and "label" not in r])  # fmt: skip
    want = sweep[sweep["mode"] == "isolated"]
    np.testing.assert_allclose(got["expected_loss"], want["expected_loss"])
    np.testing.assert_allclose(got["p_liquidation"], want["p_liquidation"])


def test_capital_usage_adds_up_to_the_table(table: pd.DataFrame) -> None:
    spec = charts.capital_usage(table).to_dict()
    for mode in ("isolated", "cross"):
        parts = [r for r in rows_with(spec, mode=mode) if "kind" in r]
        acct = table[(table["mode"] == mode) & (table["position"] == "(account)")].iloc[0]
        locked = sum(r["amount"] for r in parts if r["kind"] == "locked")
        free = sum(r["amount"] for r in parts if r["kind"] == "free")
        assert locked == pytest.approx(acct["margin_locked"], rel=1e-12)
        assert free == pytest.approx(acct["free_collateral"], rel=1e-12)


def test_tier_ladder_steps_are_the_table() -> None:
    tiers = exchanges.get("binance-usdm").market("BTCUSDT").tiers
    spec = charts.tier_ladder(tiers.to_frame(), unit="USDT").to_dict()
    points = [r for rows in datasets(spec).values() for r in rows if "tier" in r]
    by_tier = {r["tier"]: r for r in points}
    frame = tiers.to_frame()
    assert sorted(by_tier) == list(frame.index)
    for k, row in frame.iterrows():
        assert by_tier[k]["mmr_pct"] == pytest.approx(100 * row["mmr"])
        assert by_tier[k]["max_leverage"] == row["max_leverage"]
        assert by_tier[k]["floor"] == row["floor"]
    x = next(ch for n, ch in encodings(spec) if n == "x" and isinstance(ch, dict) and "scale" in ch)
    assert x["scale"]["type"] == "log"


def test_path_fan_bands_and_barriers(account: mk.Account) -> None:
    fan = fan_frame(GBM(0.6), 2950.0, HORIZON, paths=500, seed=3)
    levels = price_levels(account, "ETH short")
    spec = charts.path_fan(fan, levels, price_unit="USDT").to_dict()
    bands = [r for rows in datasets(spec).values() for r in rows if "band" in r]
    assert {r["band"] for r in bands} == {"5-95 %", "25-75 %"}
    q = fan[fan["kind"] == "quantile"].pivot_table(
        index="time_days", columns="quantile", values="price"
    )
    for r in bands:
        lo, hi = (0.05, 0.95) if r["band"] == "5-95 %" else (0.25, 0.75)
        assert r["low"] == pytest.approx(q.loc[r["time_days"], lo])
        assert r["high"] == pytest.approx(q.loc[r["time_days"], hi])
    rules = [r for rows in datasets(spec).values() for r in rows if "liquidation_price" in r]
    assert {r["mode"]: r["liquidation_price"] for r in rules} == pytest.approx(
        levels["liquidation_price"].to_dict()
    )
    # a mapping works too, and NaN draws no rule
    spec = charts.path_fan(fan, {"isolated": 3100.0, "cross": float("nan")}).to_dict()
    rules = [r for rows in datasets(spec).values() for r in rows if "liquidation_price" in r]
    assert {r["mode"] for r in rules} == {"isolated"}


# ----------------------------------------------------------------------------- legibility
def _isolated_long_20x() -> mk.Account:
    """Notebook 01's position: BTCUSDT long 2 @ 60,000, 20x isolated (liquidation 57,261.31,
    bankruptcy 57,000: rules a few pixels apart)."""
    btc = exchanges.get("binance-usdm").market("BTCUSDT")
    position = mk.Position(btc, "long", 2.0, 60_000, leverage=20, margin_mode="isolated")
    return mk.Account(position.isolated_margin, [position])


def _x_axes(spec: dict) -> list[dict]:
    return [ch["axis"] for n, ch in encodings(spec) if n == "x" and "axis" in ch]


@pytest.mark.parametrize("width", [160, 200, 240, 300, 330, 600])
@pytest.mark.parametrize("prices", [None, "middle"])
def test_equity_close_rule_labels_staggered_or_back_to_back(width: int, prices: Any) -> None:
    """Liquidation 57,261 and bankruptcy 57,000: their labels share no row unless they face
    away from each other (bankruptcy, the lower price, to the left of its rule)."""
    acct = _isolated_long_20x()
    grid = None if prices is None else np.linspace(53_000, 61_000, 200)  # rules mid-panel
    spec = charts.equity_vs_price(price_sweep(acct, acct.positions[0].name, grid),
                                  width=width).to_dict()  # fmt: skip
    for mode in ("isolated", "cross"):
        (liq,) = rows_with(spec, level="liquidation", mode=mode)
        (bk,) = rows_with(spec, level="bankruptcy", mode=mode)
        assert liq["price"] == pytest.approx(57_261.31, abs=0.01) and bk["price"] == 57_000
        assert liq["row"] != bk["row"] or (bk["align"], liq["align"]) == ("right", "left")
        assert liq["y"] != bk["y"] or liq["row"] == bk["row"]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.floats(0, 1), min_size=1, max_size=5),
    st.lists(st.floats(20, 160), min_size=5, max_size=5),
    st.floats(120, 700),
)
def test_rule_labels_on_one_row_never_overlap(xs, text_widths, width) -> None:
    px = [x * width for x in xs]
    widths = text_widths[: len(px)]
    placed = charts._place_rule_labels(px, widths, width)
    extents = []
    for x, w, (align, row) in zip(px, widths, placed, strict=True):
        x0 = x + 4 if align == "left" else x - 4 - w
        extents.append((row, x0, x0 + w))
        if w + 4 <= max(x, width - x):  # fits on one side at least: stays in the panel
            assert x0 >= -1e-9 and x0 + w <= width + 1e-9
    for i, (r, a0, a1) in enumerate(extents):
        for r2, b0, b1 in extents[:i]:
            assert r != r2 or a1 + 6 <= b0 + 1e-9 or b1 + 6 <= a0 + 1e-9


@pytest.mark.parametrize(
    ("lo", "hi"),
    [(0.0081, 0.0152), (0.95, 1.07), (2_655.0, 5_310.0), (14_000.0, 66_500.0),
     (56_600.0, 60_400.0), (95_000.0, 105_000.0), (0.0, 1_500_000.0)],
)  # fmt: skip
@pytest.mark.parametrize("width", [150, 200, 240, 300, 330, 520])
def test_price_ticks_spaced_for_their_labels(lo: float, hi: float, width: int) -> None:
    axis = charts._x_axis(lo, hi, width)
    values = np.array(axis["values"])
    assert len(values) >= 2 and lo <= values.min() and values.max() <= hi
    steps = np.diff(values)
    step = steps[0]
    np.testing.assert_allclose(steps, step, rtol=1e-9)
    mantissa = step / 10 ** np.floor(np.log10(step))
    assert min(abs(mantissa - m) for m in (1, 2, 5)) < 1e-9  # a round step
    assert width * step / (hi - lo) >= 40  # Vega's default tick density, never denser
    if max(abs(lo), abs(hi)) >= 1e4:
        assert axis["format"].endswith("~s")  # 57.5k, not 57,500
    else:
        assert axis["format"].startswith(",.")
    assert axis["labelOverlap"] is True


def _fan_domain(spec: dict) -> list[float]:
    (domain,) = {tuple(ch["scale"]["domain"]) for n, ch in encodings(spec)
                 if n == "y" and "scale" in ch and "domain" in ch["scale"]}  # fmt: skip
    return list(domain)


def test_path_fan_names_every_level(account: mk.Account) -> None:
    """A level near the fan widens the axis; one far off is named at the edge, never dropped."""
    fan = fan_frame(GBM(0.6), 2950.0, HORIZON, paths=500, seed=3)
    simulated = fan[fan["kind"].isin(["quantile", "path"])]["price"]
    f_lo, f_hi = float(simulated.min()), float(simulated.max())
    span = f_hi - f_lo
    levels = {
        "isolated": f_hi + 0.3 * span,  # just above the paths: on the axis
        "cross": 900.0,  # a cross liquidation far below (the brief's case)
    }
    spec = charts.path_fan(fan, levels, price_unit="USDT", height=320).to_dict()
    lo, hi = _fan_domain(spec)
    assert lo <= f_lo and f_hi <= hi  # the whole fan shows
    assert hi >= levels["isolated"] and lo > levels["cross"]
    assert (hi - lo) <= (1 + 0.6) * span * 1.08 + 1e-9  # the fan keeps most of the height
    rules = [r for r in rows_with(spec) if "liquidation_price" in r and "label" not in r]
    assert {r["mode"]: r["liquidation_price"] for r in rules} == {"isolated": levels["isolated"]}
    labels = {r["mode"]: r for r in rows_with(spec) if "label_y" in r}
    assert set(labels) == {"isolated", "cross"}
    assert labels["cross"]["label"] == "cross liquidation 900.00 ↓ below the chart"
    assert labels["isolated"]["label"] == f"isolated liquidation {levels['isolated']:,.2f}"
    assert lo < labels["cross"]["label_y"] < lo + 0.1 * (hi - lo)  # at the bottom edge
    # far above, and a missing level named in the subtitle
    spec = charts.path_fan(fan, {"isolated": 25_000.0, "cross": float("nan")}).to_dict()
    (above,) = [r for r in rows_with(spec) if "label_y" in r]
    assert above["label"].endswith("↑ above the chart") and above["mode"] == "isolated"
    lo, hi = _fan_domain(spec)
    assert hi < 25_000 and hi - 0.1 * (hi - lo) < above["label_y"] < hi
    assert "No liquidation price: cross." in spec["title"]["subtitle"]


@pytest.mark.parametrize("height", [200, 320])
def test_path_fan_close_levels_labels_apart(height: int) -> None:
    fan = fan_frame(GBM(0.6), 60_000.0, HORIZON, paths=500, seed=3)
    levels = {"isolated": 54_216.87, "cross": 54_000.0}  # 1-2 px apart
    spec = charts.path_fan(fan, levels, height=height).to_dict()
    lo, hi = _fan_domain(spec)
    ys = sorted((hi - r["label_y"]) / (hi - lo) * height for r in rows_with(spec) if "label_y" in r)
    assert len(ys) == 2 and ys[1] - ys[0] >= 13 - 1e-9  # pixels between label centres
    assert all(0 < y < height for y in ys)


@pytest.mark.parametrize("name", ["BTC long", "ETH short"])
@pytest.mark.parametrize("width", [320, 520])
def test_current_leverage_label_clear_of_flat_lines(account, name: str, width: int) -> None:
    """The "current Nx" label sits off the mark rule and the flat cross line (pixels apart)."""
    sweep = leverage_sweep(account, name)
    height = 300
    spec = charts.liquidation_vs_leverage(sweep, width=width, height=height).to_dict()
    (domain,) = {tuple(ch["scale"]["domain"]) for n, ch in encodings(spec)
                 if n == "y" and "domain" in ch.get("scale", {})}  # fmt: skip
    ys = {ch["y"]["value"] for layer in spec["layer"] for ch in [layer.get("encoding", {})]
          if "value" in ch.get("y", {}) and ch.get("text", {}).get("field") == "label"}  # fmt: skip
    assert len(ys) == 1
    (label_y,) = ys
    cross = sweep[sweep["mode"] == "cross"]["liquidation_price"].dropna()
    lines = [float(sweep["mark_price"].iloc[0]), *cross.unique()]
    lo, hi = domain
    for price in lines:
        line_y = (hi - price) / (hi - lo) * height
        assert abs(label_y - line_y) >= 7, (price, line_y, label_y)
    assert 0 < label_y < height


def test_narrow_charts_wrap_their_subtitles(sweep: pd.DataFrame) -> None:
    wide = charts.liquidation_vs_leverage(sweep).to_dict()["title"]["subtitle"]
    assert len(wide) == 3  # as written, at the default width
    narrow = charts.liquidation_vs_leverage(sweep, width=300).to_dict()["title"]["subtitle"]
    assert len(narrow) > 3
    assert " ".join(narrow).split() == " ".join(wide).split()  # the same words


def test_replay_events_marked_on_the_curves(replayed) -> None:
    for path in range(3):
        spec = charts.replay_equity(replayed, path=path, currency="USDT").to_dict()
        events = replayed.events[replayed.events["path"] == path]
        marked = [r for rows in datasets(spec).values() for r in rows if "what" in r]
        assert len(marked) == len(events)
        eq = replayed.equity_frame(path)
        for r in marked:
            want = eq[(eq["step"] == r["step"]) & (eq["mode"] == r["mode"])]["equity"].item()
            assert r["equity"] == pytest.approx(want)


def test_replay_long_series_thinned_but_events_kept(account: mk.Account) -> None:
    steps = 6_000
    btc = GBM(0.5).simulate(61_000, steps / 365, steps - 1, 1, seed=9)[0]
    res = replay(account, {"BTCUSDT": btc, "ETHUSDT": np.full(steps, 2950.0)})
    spec = charts.replay_equity(res, currency="USDT").to_dict()
    for rows in datasets(spec).values():
        assert len(rows) <= 5_000
    lines = [
        r for rows in datasets(spec).values() for r in rows if "equity" in r and "what" not in r
    ]
    kept = {r["step"] for r in lines}
    assert set(res.events["step"]) <= kept and steps - 1 in kept


def test_replay_on_a_crash_path_plots_its_days(account: mk.Account) -> None:
    """A numeric, named time index (a crash path's ``day``) is the x axis, its unit titled."""
    case = scenario.load(scenario.default_path()).stress[0]  # a crash, indexed by day (float)
    prices = case.prices(account)
    index = prices["BTCUSDT"].index
    assert index.name == "day" and index.dtype == float and index[1] < 1  # not the step number
    res = replay(account, prices)
    spec = charts.replay_equity(res, currency="USDT").to_dict()
    xs = [ch for n, ch in encodings(spec) if n == "x"]
    assert xs and all(x["title"] == "Time (days)" and x["type"] == "quantitative" for x in xs)
    tips = [t for n, ch in encodings(spec) if n == "tooltip" for t in ch if t["field"] == "time"]
    assert tips and all(t["title"] == "Time (days)" for t in tips)
    rows = [r for rr in datasets(spec).values() for r in rr]
    assert rows and all(r["time"] == pytest.approx(index[r["step"]]) for r in rows)
    assert max(r["time"] for r in rows) == pytest.approx(index[-1])
    marked = [r for r in rows if "what" in r]
    assert len(marked) == len(res.events[res.events["path"] == 0]) > 0


@pytest.mark.parametrize(
    ("index", "title"),
    [
        (pd.Index(np.arange(61) * 2, name="hour"), "Time (hours)"),
        (pd.Index(np.arange(61) / 4, name="elapsed_days"), "Elapsed (days)"),
        (pd.Index(np.arange(61) * 0.5, name="t"), "t"),
        (pd.RangeIndex(61), "Step"),  # unnamed: steps
        (pd.date_range("2024-03-01", periods=61, freq="D"), "Date"),
    ],
)
def test_replay_x_axis_follows_the_time_index(account, index, title) -> None:
    btc = pd.Series(np.linspace(61_000, 40_000, 61), index=index)
    res = replay(account, {"BTCUSDT": btc, "ETHUSDT": pd.Series(2950.0, index=index)})
    spec = charts.replay_equity(res).to_dict()
    assert {ch["title"] for n, ch in encodings(spec) if n == "x"} == {title}
    lines = [r for rr in datasets(spec).values() for r in rr if "what" not in r]
    if title == "Step":
        assert [r["time"] for r in lines[:3]] == [0, 1, 2]
    elif title != "Date":
        assert [r["time"] for r in lines[:3]] == pytest.approx(list(index[:3]))


# ----------------------------------------------------------------------------- data conversion
def _spec_of(data: Any) -> dict:
    return alt.Chart(data).mark_point().encode(x="price:Q", y="n:Q").to_dict()


@pytest.mark.parametrize("category", [False, True])
def test_frames_are_embedded_as_altair_embeds_them(category: bool) -> None:
    """Builders convert each frame once (charts._rows): the spec is altair's own for the frame."""
    frame = pd.DataFrame(
        {
            "price": [1.5, np.nan, np.inf, -np.inf, 2.0 / 3.0],
            "n": np.arange(5, dtype=np.int64),
            "small": np.arange(5, dtype=np.float32) / 3,
            "flag": [True, False, True, False, True],
            "mode": ["isolated", "cross", None, "cross", "isolated"],
            "dash": [[1, 0], [2, 3], [1, 0], np.array([4, 3]), None],
            "mixed": [np.float64(1.25), np.int64(2), "x", np.nan, pd.NaT],
            "when": pd.to_datetime(
                [
                    "2024-01-01 00:00",
                    "2024-01-02 12:30",
                    None,
                    "2024-01-04 00:00",
                    "2024-01-05 06:00",
                ]
            ),
            "utc": pd.date_range("2024-01-01", periods=5, freq="h", tz="UTC"),
        }
    )
    if category:  # a dtype the fast path leaves to altair's own conversion
        frame["cat"] = pd.Categorical(["a", "b", "a", None, "b"])
    rows = charts._rows(frame)
    assert isinstance(rows, alt.InlineData)
    assert _spec_of(rows) == _spec_of(frame)
    # shared, not copied, when altair copies a chart (as a DataFrame is)
    chart = alt.Chart(rows).mark_point()
    assert chart.copy(deep=True).data is rows


def test_frames_left_to_altair_when_it_must_decide(restore_transformer) -> None:
    big = pd.DataFrame({"price": np.arange(5_001.0), "n": 1})
    assert charts._rows(big) is big  # altair raises its MaxRowsError when serialising
    with pytest.raises(alt.MaxRowsError):
        _spec_of(charts._rows(big))
    alt.data_transformers.disable_max_rows()
    assert isinstance(charts._rows(big), alt.InlineData)
    alt.data_transformers.enable("json")  # the user's transformer applies
    small = big.iloc[:3]
    assert charts._rows(small) is small


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("builder", "source", "column"),
    [
        (charts.equity_vs_price, "price", "quantity"),
        (charts.liquidation_vs_leverage, "sweep", "liquidation_price"),
        (charts.probability_vs_leverage, "sweep", "p_liquidation"),
        (charts.loss_frontier, "sweep", "expected_loss"),
        (charts.capital_usage, "table", "free_collateral"),
        (charts.comparison, "table", "p_stderr"),
        (charts.tier_ladder, "tiers", "mmr"),
        (charts.path_fan, "fan", "time_days"),
    ],
)
def test_missing_column_is_named(builder, source, column, account, sweep, table) -> None:
    frames = {
        "price": price_sweep(account, "ETH short", n=20),
        "sweep": sweep,
        "table": table,
        "tiers": exchanges.get("binance-usdm").market("BTCUSDT").tiers.to_frame(),
        "fan": fan_frame(GBM(0.6), 100.0, HORIZON, paths=50, seed=0),
    }
    bad = frames[source].drop(columns=[column])
    with pytest.raises(InputError, match=column) as err:
        builder(bad)
    assert column in err.value.value


def test_other_bad_input(sweep: pd.DataFrame) -> None:
    with pytest.raises(InputError, match="sweep"):
        charts.liquidation_vs_leverage(sweep.iloc[:0])
    with pytest.raises(InputError, match="DataFrame"):
        charts.loss_frontier(sweep.to_dict())
    with pytest.raises(InputError, match="mode"):
        charts.probability_vs_leverage(sweep.assign(mode="portfolio"))
    with pytest.raises(InputError, match="result"):
        charts.replay_equity(sweep)
    with pytest.raises(InputError, match="barriers"):
        charts.path_fan(fan_frame(GBM(0.5), 1.0, 0.1, paths=20), barriers=[1.0, 2.0])


# ----------------------------------------------------------------------------- rendering
def test_renderer_registered_by_entry_point() -> None:
    assert "margin_kit" in alt.renderers.names()


def test_offline_renderer_output_is_self_contained(built: dict) -> None:
    spec = built["capital_usage"].to_dict()
    a = charts.offline_renderer(spec)["text/html"]
    b = charts.offline_renderer(spec, embed_options={"actions": False})["text/html"]
    for html in (a, b):
        assert "window.vegaEmbed" in html and "<script" in html
        assert "http" not in html.replace(spec["$schema"], "")  # no CDN: only the schema URL
        script = html.split("<script", 1)[1]
        assert "\nconst " not in script and "\nlet " not in script
    ids = [h.split('id="', 1)[1].split('"', 1)[0] for h in (a, b)]
    assert ids[0] != ids[1]
    assert '"actions": false' in b


@pytest.fixture
def restore_transformer() -> Iterator[None]:
    name = alt.data_transformers.active
    options = dict(alt.data_transformers.options)
    yield
    alt.data_transformers.enable(name, **options)


@pytest.fixture
def restore_renderer() -> Iterator[None]:
    name = alt.renderers.active
    options = dict(alt.renderers.options)
    yield
    alt.renderers.enable(name, **options)


def test_setup_modes(monkeypatch, restore_renderer) -> None:
    monkeypatch.delenv(charts.RENDER_ENV, raising=False)
    assert charts.render_mode() == "live"
    assert charts.setup() == "live"
    assert alt.renderers.active == "jupyter"
    assert alt.renderers.options.get("offline") is True
    monkeypatch.setenv(charts.RENDER_ENV, "static")
    assert charts.render_mode() == "static"
    assert charts.setup() == "static"
    assert alt.renderers.active == "margin_kit"
    assert alt.renderers.options["embed_options"] == {"actions": False}
    bundle = alt.Chart(pd.DataFrame({"a": [1]})).mark_point().encode(x="a:Q")._repr_mimebundle_()
    html = bundle[0]["text/html"] if isinstance(bundle, tuple) else bundle["text/html"]
    assert "window.vegaEmbed" in html
    assert charts.setup("live") == "live" and alt.renderers.active == "jupyter"
    with pytest.raises(InputError, match="mode"):
        charts.setup("pdf")


def test_vega_bundle_cached_and_wrapped() -> None:
    js = charts.vega_bundle()
    assert js is charts.vega_bundle()
    assert js.startswith("(function(){") and js.rstrip().endswith("})();")
    assert "vegaEmbed" in js and "</script" not in js


def test_offline_charts_render_in_chromium(chromium, artifacts, built: dict) -> None:
    """Two charts from the static renderer on one page with the bundle inlined once."""
    parts = [
        charts.offline_renderer(built[n].to_dict(), embed_options={"actions": False})["text/html"]
        for n in ("comparison", "liquidation_vs_leverage")
    ]
    page_html = (
        "<!doctype html><html><head><meta charset='utf-8'><script>"
        + charts.vega_bundle()
        + "</script></head><body>"
        + "".join(parts)
        + "</body></html>"
    )
    page = chromium.new_page()
    requests: list[str] = []
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    def block(route) -> None:
        requests.append(route.request.url)
        route.abort()

    page.route("http*://**", block)
    page.set_content(page_html)
    page.wait_for_function(
        "document.querySelectorAll('.margin-kit-chart svg, .margin-kit-chart canvas').length == 2",
        timeout=20_000,
    )
    page.screenshot(path=str(artifacts / "charts-offline.png"), full_page=True)
    page.close()
    assert errors == [] and requests == []


# ----------------------------------------------------------------------------- legible in chromium
_GEOMETRY = """() => [...document.querySelectorAll('.margin-kit-chart svg')].map(svg => {
  const box = e => {
    const b = e.getBoundingClientRect();
    return [b.left, b.top, b.right, b.bottom];
  };
  const shown = t => t.textContent && t.getAttribute('opacity') !== '0';
  const labels = a => [...a.querySelectorAll('g.role-axis-label text')].filter(shown);
  return {
    svg: box(svg),
    axes: [...svg.querySelectorAll('g.role-axis')].map(a => labels(a).map(t => [t.textContent,
                                                                                 box(t)])),
    texts: [...svg.querySelectorAll('g.role-mark.mark-text text')].filter(shown)
      .map(t => [t.textContent, box(t)]),
    plots: [...svg.querySelectorAll('path.background')].map(box)
      .filter(b => b[2] - b[0] > 20 && b[3] - b[1] > 20),
  };
})"""


def _overlap(a: list[float], b: list[float], gap: float = 0.0) -> bool:
    return a[0] < b[2] + gap and b[0] < a[2] + gap and a[1] < b[3] and b[1] < a[3]


def _number(label: str) -> float:
    scale = {"k": 1e3, "M": 1e6}.get(label[-1], 1.0)
    return float(label.rstrip("kM").replace(",", "").replace("−", "-")) * scale


def test_narrow_charts_legible_in_chromium(chromium, artifacts, account, table, sweep) -> None:
    """Rendered by vega in chromium (real fonts, SVG): at narrow widths no labels run together.

    Horizontal axes: tick labels a few pixels apart and reading back as the spec's tick values;
    labels of rules and points: none overlaps another, each stays inside its plot.
    """
    single = _isolated_long_20x()
    name = single.positions[0].name
    fan = fan_frame(GBM(0.6), 61_000.0, HORIZON, paths=500, seed=3)
    cases = {
        "equity 01 at 200": charts.equity_vs_price(price_sweep(single, name), width=200),
        "equity 01 at 240": charts.equity_vs_price(price_sweep(single, name), width=240),
        "equity 01 at 300": charts.equity_vs_price(price_sweep(single, name), width=300),
        "equity 01 mid": charts.equity_vs_price(
            price_sweep(single, name, np.linspace(53_000, 61_000, 200)), width=300
        ),
        "equity BTC long": charts.equity_vs_price(price_sweep(account, "BTC long")),
        "equity ETH short at 240": charts.equity_vs_price(
            price_sweep(account, "ETH short"), width=240
        ),
        "capital at 320": charts.capital_usage(table, width=320),
        "comparison at 200": charts.comparison(table, width=200),
        "loss frontier at 320": charts.loss_frontier(sweep, width=320, height=260),
        "fan at 320": charts.path_fan(
            fan, {"isolated": 54_216.87, "cross": 54_000.0}, width=320, height=240
        ),
        "fan far level at 320": charts.path_fan(
            fan, {"isolated": 57_000.0, "cross": 3_137.45}, width=320, height=240
        ),
        "liquidation vs leverage at 320": charts.liquidation_vs_leverage(sweep, width=320),
        "probability vs leverage at 320": charts.probability_vs_leverage(sweep, width=320),
        "BTC long liquidation vs leverage at 320": charts.liquidation_vs_leverage(
            leverage_sweep(account, "BTC long"), width=320
        ),
    }
    specs = {k: c.to_dict() for k, c in cases.items()}
    embed = {"actions": False, "renderer": "svg"}
    page_html = (
        "<!doctype html><html><head><meta charset='utf-8'><script>"
        + charts.vega_bundle()
        + "</script></head><body>"
        + "".join(
            charts.offline_renderer(s, embed_options=embed)["text/html"] for s in specs.values()
        )
        + "</body></html>"
    )
    page = chromium.new_page(viewport={"width": 1100, "height": 900})
    page.set_content(page_html)
    page.wait_for_function(
        f"document.querySelectorAll('.margin-kit-chart svg').length == {len(specs)}",
        timeout=30_000,
    )
    geometry = dict(zip(specs, page.evaluate(_GEOMETRY), strict=True))
    page.screenshot(path=str(artifacts / "charts-narrow.png"), full_page=True)
    page.close()

    for case, g in geometry.items():
        spec = specs[case]
        # horizontal axes: labels on one line (a vertical axis's labels differ in height)
        ticks = [a for a in g["axes"] if len(a) > 1 and len({round(b[1]) for _, b in a}) == 1]
        assert ticks, case
        for labels in ticks:  # left to right, apart
            boxes = sorted((b for _, b in labels), key=lambda b: b[0])
            assert all(b[0] - a[2] >= 3 for a, b in itertools.pairwise(boxes)), (case, labels)
        if case.startswith("equity"):
            (want,) = {tuple(a["values"]) for a in _x_axes(spec)}
            assert len(ticks) == 2, case  # both panels
            for labels in ticks:  # every tick labelled (none hidden), reading back its value
                got = [_number(t) for t, _ in sorted(labels, key=lambda tb: tb[1][0])]
                np.testing.assert_allclose(got, want, rtol=1e-9, err_msg=case)
        # text marks (rule, point and bar labels): halo copies drawn once, none overlapping
        texts = {(t, tuple(round(v) for v in b)): b for t, b in g["texts"] if t.strip()}
        items = list(texts.items())
        for i, ((t1, _), b1) in enumerate(items):
            for (t2, _), b2 in items[:i]:
                assert not _overlap(b1, b2), (case, t1, t2)
            plot = [p for p in g["plots"] if p[0] - 1 <= (b1[0] + b1[2]) / 2 <= p[2] + 1]
            assert plot, (case, t1)
            assert plot[0][0] - 1 <= b1[0] and b1[2] <= plot[0][2] + 1, (case, t1, b1, plot)
    texts = [t for t, _ in geometry["fan far level at 320"]["texts"]]
    assert "cross liquidation 3,137.45 ↓ below the chart" in texts
    # a narrow chart stays narrow: its subtitle wraps (the svg: chart, axes and padding)
    svg = geometry["liquidation vs leverage at 320"]["svg"]
    assert svg[2] - svg[0] <= 320 + 100
