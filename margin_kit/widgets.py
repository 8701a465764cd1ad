"""Widget panels: controls bound to the core, with the key numbers as text beside a live chart.

Each panel binds ipywidgets controls to :mod:`margin_kit`'s core functions and redraws when a
control changes: sliders on release (``continuous_update=False``), text boxes on Enter. One
change recomputes in closed form (no Monte Carlo on a slider move), writes the numbers into an
HTML summary and updates one :class:`altair.JupyterChart` (offline: its JavaScript comes from
vl-convert, no CDN; SVG renderer, no action menu). The chart is rebuilt only when what it draws
changed; moving the leverage on a chart with a leverage axis only sets a Vega parameter
(:data:`LEVERAGE_PARAM`), which the browser redraws without a new spec, so that change costs a
few milliseconds (``benchmarks/bench_widgets.py``).

==================  ===========================================================================
panel               what it answers (notebook)
==================  ===========================================================================
:class:`PositionPanel`  one position on an exchange preset: liquidation, bankruptcy, distance,
                    margin and P(liquidation within the horizon), isolated and cross (01, 02)
:class:`AccountPanel`   an account of several positions: every position's liquidation price
                    isolated vs cross as one position's leverage and the wallet move (02)
:class:`SizingPanel`    the highest leverage / quantity meeting a P(liquidation) or distance
                    target, both modes (03)
:class:`CapitalPanel`   capital locked vs free and return on margin vs risk, both modes (04)
:class:`ReplayPanel`    a crash path (depth, speed, recovery) or a window of real prices through
                    the margin engine, both modes (05)
==================  ===========================================================================

Every panel has the same parts:

* ``controls``: dict of control name to widget (each widget also carries the CSS class
  ``mk-<name>`` with ``_`` as ``-``, e.g. ``mk-leverage``, ``mk-wallet-balance``);
* ``summary``: an :class:`ipywidgets.HTML` (CSS class ``mk-summary``) with the numbers;
* ``chart``: the :class:`altair.JupyterChart` (CSS class ``mk-chart``);
* ``view``: the layout (CSS class ``mk-panel``); displaying the panel displays it;
* ``result``: the last computed :class:`pandas.DataFrame` (the numbers the summary shows) and
  ``chart_data``: the frame behind the chart (both keep the last valid state on an error);
* ``error``: None, or the message the summary shows when the controls make no valid position
  (e.g. a leverage above the tier's maximum after a quantity change): the panel never raises
  from a control callback and never shows NaN;
* ``figure()``: the current altair chart (for static export), ``update()``: recompute now.

Rendering: with ``MARGIN_KIT_RENDER=static`` (:func:`margin_kit.charts.render_mode`, what
``margin-kit export`` sets) a displayed panel shows its summary as HTML and :meth:`figure` as a
static chart instead of widgets, so exported notebooks show the last state, never widget
placeholders; the JupyterChart is then not even created.
"""

from __future__ import annotations

import functools
import html
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import altair as alt
import ipywidgets as w
import numpy as np
import pandas as pd
from altair.utils.schemapi import debug_mode
from IPython.display import HTML, display

from margin_kit import charts, engine, exchanges, scenario, sizing
from margin_kit._errors import InputError
from margin_kit.account import MARGIN_MODES, Account, Position
from margin_kit.compare import (
    ACCOUNT_ROW,
    COLUMNS,
    leverage_grid,
    leverage_sweep,
    max_leverage,
    price_levels,
    price_sweep,
)
from margin_kit.contracts import Market
from margin_kit.liquidation import tiered_liquidation_price
from margin_kit.risk import PriceModel, asset_columns, hit_probability

__all__ = [
    "EMBED_OPTIONS",
    "LEVERAGE_PARAM",
    "AccountPanel",
    "CapitalPanel",
    "PositionPanel",
    "ReplayPanel",
    "SizingPanel",
]

#: vega-embed options of every panel's chart: no action menu (it links to the online editor),
#: SVG so the drawn chart is in the DOM (browser tests read it).
EMBED_OPTIONS: dict[str, Any] = {"actions": False, "renderer": "svg"}

CUSTOM = "custom"
_GREY = "#666666"
_DAYS_PER_YEAR = 365.0
_STYLE = """<style>
.mk-summary {font-size: 12.5px; line-height: 1.35; max-width: 440px}
.mk-summary table {border-collapse: collapse; margin: 4px 0 6px 0}
.mk-summary th, .mk-summary td {padding: 2px 8px; text-align: right; white-space: nowrap;
  border-bottom: 1px solid var(--jp-border-color2, #ddd)}
.mk-summary th:first-child, .mk-summary td:first-child {text-align: left}
.mk-summary tr.mk-selected td {font-weight: 600; background: var(--jp-layout-color2, #f3f3f3)}
.mk-summary .mk-head {font-size: 13.5px; margin: 2px 0 6px 0}
.mk-summary .mk-liq {font-weight: 700}
.mk-summary .mk-error {color: #b00020; font-weight: 600; margin: 4px 0}
.mk-summary .mk-note {color: var(--jp-ui-font-color2, #666); font-size: 11.5px}
.mk-summary .mk-yes {color: #1b7f3b} .mk-summary .mk-no {color: #b00020}
</style>"""


# ----------------------------------------------------------------------------- formatting
def _finite(x: Any) -> bool:
    try:
        return bool(np.isfinite(float(x)))
    except (TypeError, ValueError):
        return False


def _price(x: Any, none: str = "none") -> str:
    """A price: thousands separated, 2 decimals (4 significant digits below 1)."""
    if not _finite(x):
        return none
    x = float(x)
    return f"{x:,.2f}" if abs(x) >= 1 else f"{x:.4g}"


_STABLE = ("USDT", "USDC", "USD", "BUSD", "FDUSD")


def _amount(x: Any, currency: str = "") -> str:
    """An amount in the settle currency: 2 decimals, or 6 for small amounts of a coin."""
    if not _finite(x):
        return "—"
    x = float(x)
    coin = currency.upper() not in _STABLE
    text = f"{x:,.6f}" if coin and abs(x) < 10 and x != 0 else f"{x:,.2f}"
    return f"{text} {html.escape(currency)}".strip()


def _pct(x: Any, digits: int = 2) -> str:
    """A number already in percent."""
    return f"{float(x):.{digits}f} %" if _finite(x) else "—"


def _prob(p: Any) -> str:
    """A probability as a percentage (``< 0.01 %`` for the tiny ones)."""
    if not _finite(p):
        return "—"
    p = float(p)
    if 0 < p < 1e-4:
        return "&lt; 0.01 %"
    if 1 - 1e-4 < p < 1:
        return "&gt; 99.99 %"
    return f"{100 * p:.2f} %"


def _lev(x: Any) -> str:
    return f"{float(x):.4g}x" if _finite(x) else "—"


def _days_text(days: float) -> str:
    return f"{days:g} day" if days == 1 else f"{days:g} days"


def _mode_th(mode: str) -> str:
    return f'<th style="color:{charts.MODE_COLORS[mode]}">{mode}</th>'


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], selected: int = -1) -> str:
    """An HTML table; ``header`` cells are raw HTML (``<th>`` or text), cells are raw HTML."""
    head = "".join(h if h.startswith("<th") else f"<th>{h}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cls = ' class="mk-selected"' if i == selected else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _message(exc: BaseException) -> str:
    """What to tell the user about ``exc``: an InputError's own message, else type and text."""
    if isinstance(exc, InputError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _wrap(body: str) -> str:
    return f'{_STYLE}<div class="mk-summary">{body}</div>'


def _error_html(message: str, stale: bool) -> str:
    note = '<div class="mk-note">The chart still shows the last valid state.</div>' if stale else ""
    return _wrap(
        '<div class="mk-error">Cannot compute with these inputs.</div>'
        f'<div class="mk-error-detail">{html.escape(message)}</div>{note}'
    )


def _placeholder(text: str) -> alt.Chart:
    """A chart that only says ``text`` (before any valid state exists)."""
    return (
        alt.Chart(charts._rows(pd.DataFrame({"text": [text]})))
        .mark_text(fontSize=13, color="#b00020", align="left")
        .encode(text=alt.Text("text:N"), x=alt.XValue(4), y=alt.YValue(20))
        .properties(width=420, height=40)
    )


def _same(a: Any, b: Any) -> bool:
    """Equal figure inputs: frames by content and attrs, sequences item by item."""
    if isinstance(a, pd.DataFrame) or isinstance(b, pd.DataFrame):
        return (
            isinstance(a, pd.DataFrame)
            and isinstance(b, pd.DataFrame)
            and a.shape == b.shape
            and list(a.columns) == list(b.columns)
            and repr(a.attrs) == repr(b.attrs)
            and a.equals(b)
        )
    if isinstance(a, tuple | list) or isinstance(b, tuple | list):
        return (
            isinstance(a, tuple | list)
            and isinstance(b, tuple | list)
            and len(a) == len(b)
            and all(_same(x, y) for x, y in zip(a, b, strict=True))
        )
    return bool(a == b) or (isinstance(a, float) and isinstance(b, float) and a != a and b != b)


def _set_params(figure: Any, values: Mapping[str, Any]) -> None:
    """Set the values of the chart's top-level variable parameters named in ``values``."""
    params = getattr(figure, "params", alt.Undefined)
    if params is alt.Undefined:
        return
    for param in params:
        name = getattr(param, "name", None)
        if isinstance(name, str) and name in values and not hasattr(param, "select"):
            param.value = values[name]


@functools.cache
def _unvalidated_class(cls: type) -> type:
    """A subclass of the altair chart class ``cls``: ``to_dict`` skips validation by default.

    ``to_dict(validate=True)`` still validates.
    """

    def to_dict(self: Any, validate: bool = False, **kwargs: Any) -> dict[str, Any]:
        return cls.to_dict(self, validate=validate, **kwargs)

    return type(cls.__name__, (cls,), {"to_dict": to_dict, "__doc__": cls.__doc__})


def _redraw(jc: alt.JupyterChart, figure: alt.TopLevelMixin) -> None:
    """Show ``figure`` in the chart widget without altair's schema validation.

    The widget serialises a new chart with ``to_dict()``, which validates it against the
    Vega-Lite schema: more than half of a redraw here (35-60 ms of a panel's 60-140 ms on a
    slow core). Every figure a panel draws comes from the same builders, whose specs the test
    suite validates after every control change, so the widget gets a shallow clone whose
    ``to_dict`` does not validate by default. The panel's own figure is left as it is.
    """
    clone = object.__new__(_unvalidated_class(type(figure)))
    clone.__dict__.update(figure.__dict__)
    with debug_mode(False):  # nor the objects that serialising creates
        jc.chart = clone


#: Name of the Vega parameter holding the current leverage in leverage-axis charts.
LEVERAGE_PARAM = "mk_leverage"
_P_PARAM = "mk_p_isolated"
_EL_PARAM = "mk_el_isolated"


def _extend(
    base: alt.TopLevelMixin, layers: Sequence[alt.Chart], params: Mapping[str, float]
) -> alt.LayerChart:
    """``base`` with more layers on top and top-level variable parameters ``params``.

    A layer chart is extended in place of being nested (altair's ``alt.layer(base, ...)``
    copies and re-hoists every parameter of ``base``: several times slower to build and to
    serialise).
    """
    new_params = [alt.param(name=k, value=float(v)).param for k, v in params.items()]
    if isinstance(base, alt.LayerChart):
        out = base.copy(deep=False)
        out.layer = [*base.layer, *layers]
        old = [] if base.params is alt.Undefined else list(base.params)
        if old or new_params:
            out.params = [*old, *new_params]
        return out
    out = alt.layer(base, *layers)
    return out.add_params(*new_params) if new_params else out


def _leverage_marked(
    base: alt.TopLevelMixin,
    leverage: float,
    height: int,
    layers: Sequence[alt.Chart] = (),
    params: Mapping[str, float] | None = None,
) -> alt.LayerChart:
    """``base`` (x: leverage) with a dotted rule at the current leverage, a Vega parameter.

    Moving the leverage then sets ``jc.params.mk_leverage``: no new spec, the browser redraws.
    """
    one = alt.Chart(charts._rows(pd.DataFrame({"row": [0]}))).transform_calculate(
        leverage=LEVERAGE_PARAM,
        label=f"'current ' + format({LEVERAGE_PARAM}, '.3~g') + 'x'",
    )
    x = alt.X("leverage:Q")  # no axis settings: the base chart's axis and title stand
    rule = one.mark_rule(color=_GREY, strokeDash=[2, 3], strokeWidth=1.5, clip=True).encode(x=x)
    # just above the plot frame, over the rule's end: clear of the curves and their labels
    where = {"x": x, "y": alt.YValue(-3), "text": alt.Text("label:N")}
    style = {"align": "center", "baseline": "bottom", "fontSize": 11}
    halo = one.mark_text(**style, stroke="white", strokeWidth=4, strokeOpacity=0.9).encode(**where)
    label = one.mark_text(**style, color=_GREY).encode(**where)
    marks = [*layers, rule, halo, label]
    return _extend(base, marks, {**(params or {}), LEVERAGE_PARAM: leverage})


def _base_asset(symbol: str) -> str:
    """``BTC`` from ``BTCUSDT``, ``BTCUSD_PERP``, ``ETH-USDT-SWAP`` or ``BTC``."""
    m = re.match(r"^([A-Z0-9]+?)(?:[-_]?USD.*|-.*)?$", symbol.upper())
    return m.group(1) if m else symbol


def _direction(side: str) -> str:
    return "down" if side == "long" else "up"


# ----------------------------------------------------------------------------- controls
def _slider(value: float, lo: float, hi: float, step: float, description: str,
            fmt: str = ".3g") -> w.FloatSlider:  # fmt: skip
    return w.FloatSlider(
        value=value,
        min=lo,
        max=max(hi, value),
        step=step,
        description=description,
        continuous_update=False,
        readout_format=fmt,
        style={"description_width": "110px"},
        layout=w.Layout(width="auto"),
    )


def _number(value: float, description: str) -> w.FloatText:
    return w.FloatText(
        value=value,
        description=description,
        style={"description_width": "110px"},
        layout=w.Layout(width="auto"),
    )


def _choice(options: Any, value: Any, description: str) -> w.Dropdown:
    return w.Dropdown(
        options=options,
        value=value,
        description=description,
        style={"description_width": "110px"},
        layout=w.Layout(width="auto"),
    )


def _toggle(options: Any, value: Any, description: str) -> w.ToggleButtons:
    return w.ToggleButtons(
        options=options,
        value=value,
        description=description,
        style={"description_width": "110px", "button_width": "auto"},
        layout=w.Layout(width="auto"),
    )


def _leverage_slider(value: float, hi: float) -> w.FloatSlider:
    return _slider(value, 1.0, hi, 1.0, "leverage (x)", ".4g")


# ----------------------------------------------------------------------------- base
class _Panel:
    """Controls, a summary, one JupyterChart; recompute on change (see the module docstring)."""

    #: Width of the summary column, pixels.
    summary_width = 430

    def __init__(self) -> None:
        self.controls: dict[str, w.ValueWidget] = {}
        self.summary = w.HTML(layout=w.Layout(width=f"{self.summary_width}px"))
        self.summary.add_class("mk-summary")
        self.result: pd.DataFrame | None = None
        self.chart_data: pd.DataFrame | None = None
        self.error: str | None = None
        self._figure: alt.TopLevelMixin | None = None
        self._figure_inputs: Any = None
        self._chart: alt.JupyterChart | None = None
        self._view: w.Box | None = None
        self._names: dict[int, str] = {}
        self._quiet = 0

    # ------------------------------------------------------------ building
    def _add(self, name: str, widget: w.ValueWidget) -> w.ValueWidget:
        widget.add_class("mk-" + name.replace("_", "-"))
        self.controls[name] = widget
        self._names[id(widget)] = name
        return widget

    def _start(self) -> None:
        """Wire every control and compute the first state."""
        for widget in self.controls.values():
            widget.observe(self._on_change, names="value")
        self.update()

    @contextmanager
    def _quietly(self) -> Iterator[None]:
        """Change controls without each change triggering a recompute."""
        self._quiet += 1
        try:
            yield
        finally:
            self._quiet -= 1

    def _on_change(self, change: Mapping[str, Any]) -> None:
        if self._quiet:
            return
        name = self._names.get(id(change["owner"]), "")
        try:
            with self._quietly():
                self._sync(name)
        except Exception as exc:  # a control callback must never raise
            self._show_error(exc)
            return
        self.update()

    def _sync(self, name: str) -> None:
        """Adjust dependent controls after control ``name`` changed (quietly)."""

    # ------------------------------------------------------------ the cycle
    def update(self) -> None:
        """Recompute from the controls, then redraw the summary and the chart.

        The chart is rebuilt only when its inputs changed; a change that only moves a marker
        (the current leverage on a leverage axis) sets the chart's Vega parameter instead,
        which redraws in the browser without a new spec. Bad combinations of inputs show their
        message in the summary (and in :attr:`error`); the chart then keeps the last valid
        state.
        """
        try:
            state = self._compute()
            inputs = state.get("figure_inputs")
            reuse = (
                self._figure is not None
                and inputs is not None
                and _same(inputs, self._figure_inputs)
            )
            if reuse:
                figure = self._figure
            else:
                # altair validates every schema object as it is created ("debug mode"): a
                # third of building a figure; the builders' output is validated by the tests
                with debug_mode(False):
                    figure = self._make_figure(state)
            text = _wrap(self._summary_html(state))
        except Exception as exc:  # shown, never raised from a callback
            self._show_error(exc)
            return
        params = state.get("params", {})
        _set_params(figure, params)
        self._accept(state)
        self.error = None
        self.result = state["result"]
        self.chart_data = state.get("chart_data")
        self._figure = figure
        self._figure_inputs = inputs
        self.summary.value = text
        if self._chart is None:
            return
        if reuse:
            with self._chart.hold_sync():
                for name, value in params.items():
                    if name in self._chart._params:
                        setattr(self._chart.params, name, value)
        else:
            _redraw(self._chart, figure)

    def _accept(self, state: dict[str, Any]) -> None:
        """Keep what a successful update computed (beyond ``result`` and ``chart_data``)."""

    def _show_error(self, exc: BaseException) -> None:
        self.error = _message(exc)
        self.summary.value = _error_html(self.error, stale=self._figure is not None)

    def _compute(self) -> dict[str, Any]:
        raise NotImplementedError

    def _make_figure(self, state: dict[str, Any]) -> alt.TopLevelMixin:
        raise NotImplementedError

    def _summary_html(self, state: dict[str, Any]) -> str:
        raise NotImplementedError

    # ------------------------------------------------------------ outputs
    def figure(self) -> alt.TopLevelMixin:
        """The current chart as a plain altair chart (what the static export shows)."""
        if self._figure is None:
            return _placeholder(self.error or "nothing computed yet")
        return self._figure

    @property
    def chart(self) -> alt.JupyterChart:
        """The live chart widget (created on first use; offline, SVG, no action menu)."""
        if self._chart is None:
            alt.JupyterChart.enable_offline()  # class-wide and idempotent: no CDN
            self._chart = alt.JupyterChart(self.figure(), embed_options=dict(EMBED_OPTIONS))
            self._chart.add_class("mk-chart")
        return self._chart

    def _control_box(self) -> w.Widget:
        return w.GridBox(
            list(self.controls.values()),
            layout=w.Layout(
                grid_template_columns="repeat(auto-fill, minmax(300px, 1fr))",
                grid_gap="2px 16px",
                width="100%",
            ),
        )

    @property
    def view(self) -> w.Box:
        """The panel's layout: controls above, the chart with the summary beside it."""
        if self._view is None:
            body = w.HBox(
                [self.chart, self.summary],
                layout=w.Layout(flex_flow="row wrap", align_items="flex-start", grid_gap="12px"),
            )
            self._view = w.VBox([self._control_box(), body])
            self._view.add_class("mk-panel")
        return self._view

    def _ipython_display_(self) -> None:
        if charts.render_mode() == "static":
            display(HTML(self.summary.value))
            display(self.figure())
        else:
            display(self.view)

    def __repr__(self) -> str:
        state = f"error={self.error!r}" if self.error else f"{len(self.controls)} controls"
        return f"<{type(self).__name__}: {state}>"


# ----------------------------------------------------------------------------- shared pieces
def _default_scenario() -> scenario.Scenario:
    return scenario.load(scenario.default_path())


def _horizon_years(horizon: Any) -> float:
    t = float(horizon)
    if not (np.isfinite(t) and t > 0):
        raise InputError("horizon", horizon, "years > 0")
    return t


def _vol_of(account: Account, model: PriceModel | None, vol: float, symbol: str) -> float:
    """Annualised volatility of ``symbol``: the model's (diffusive part), else ``vol``."""
    if model is None:
        return vol
    columns, _ = asset_columns(account, model)
    return float(model.annual_vol()[columns[symbol]])


def _leverage_grid(account: Account, name: str) -> np.ndarray:
    """:func:`margin_kit.compare.leverage_grid` without the position's own leverage in it.

    The default grid adds the position's leverage; leaving it out keeps the grid, and so the
    chart, the same while only that leverage moves (the marker is a chart parameter).
    """
    cross = account.with_mode("cross")
    ref = tuple(p.with_(leverage=1.0) if p.name == name else p for p in cross.positions)
    return leverage_grid(replace(cross, positions=ref), name)


def _plot_data(
    account: Account, name: str, plot: str, vol: float, horizon: float
) -> tuple[pd.DataFrame, dict[str, float]]:
    """The frame behind ``plot`` for position ``name``, and the chart parameters to set.

    Leverage-axis charts get the current leverage as a parameter (not in the frame's attrs),
    so a leverage change redraws without a new spec.
    """
    if plot == "equity vs price":
        return price_sweep(account, name), {}
    grid = _leverage_grid(account, name)
    if plot == "liquidation vs leverage":
        data = leverage_sweep(account, name, grid)
    else:
        data = leverage_sweep(account, name, grid, vol=vol, horizon=horizon)
    data.attrs.pop("leverage", None)
    return data, {LEVERAGE_PARAM: account.position(name).leverage}


def _plot_figure(plot: str, data: pd.DataFrame, params: Mapping[str, float]) -> alt.TopLevelMixin:
    if plot == "equity vs price":
        return charts.equity_vs_price(data, width=300, height=240)
    if plot == "liquidation vs leverage":
        base = charts.liquidation_vs_leverage(data, width=460, height=280)
    else:
        base = charts.probability_vs_leverage(data, width=460, height=280)
    return _leverage_marked(base, params[LEVERAGE_PARAM], 280)


def _position_rows(
    single: dict[str, pd.Series], probs: dict[str, float], currency: str, held: str
) -> tuple[list[str], list[list[str]]]:
    """The per-mode table of one position (rows: quantities, columns: modes)."""
    modes = list(single)
    header = ["", *(_mode_th(m) for m in modes)]
    rows = [
        ["liquidation price", *(_price(single[m]["liquidation_price"]) for m in modes)],
        ["bankruptcy price", *(_price(single[m]["bankruptcy_price"]) for m in modes)],
        ["distance from mark", *(_pct(single[m]["distance_pct"]) for m in modes)],
        ["margin", *(_amount(single[m]["margin"], currency) for m in modes)],
        ["collateral at risk", *(_amount(single[m]["collateral"], currency) for m in modes)],
        ["P(liquidation)", *(_prob(probs[m]) for m in modes)],
    ]
    marked = [
        h.replace("</th>", " (held)</th>") if m == held else h
        for h, m in zip(header[1:], modes, strict=True)
    ]
    return [header[0], *marked], rows


# ----------------------------------------------------------------------------- PositionPanel
class PositionPanel(_Panel):
    """One position on an exchange preset: its liquidation in both margin modes.

    Controls (``controls`` keys): ``exchange`` and ``symbol`` (the presets of
    :mod:`margin_kit.exchanges`), ``side``, ``entry_price``, ``mark_price``, ``qty``,
    ``leverage`` (slider up to the maximum of the tier holding the position's size; a value
    above it after a size change is reported, not clamped silently), ``wallet_balance``,
    ``vol`` (annualised, percent), ``horizon_days``, ``margin_mode`` (the mode the position is
    held in) and ``plot`` (which chart).

    The summary shows, isolated and cross (the position alone on the wallet), the liquidation and
    bankruptcy price, the distance from the mark, the margin, the collateral at risk and
    P(liquidation within the horizon) (GBM without drift, closed form:
    :func:`margin_kit.risk.hit_probability`). The liquidation price of the held mode is in an
    element of class ``mk-liq``. ``result`` is that table (index ``mode``).

    Changing the symbol to another base asset moves the entry and mark to the reference price
    of that asset; changing the exchange or symbol keeps the notional in USD (quantity converted
    to the contract's units) and the wallet's value (converted when the settle currency changes
    between a stablecoin and a coin).

    Parameters
    ----------
    position : Position, optional
        Default: the first position of the default scenario.
    exchange : str, optional
        Preset of the position's market; inferred from the market when it is a preset's.
        A market of no preset is offered as ``"custom"``.
    wallet_balance : float, optional
        Default: the default scenario's wallet when ``position`` is None, else ten times the
        position's initial margin.
    vol : float, optional
        Annualised volatility (0.6 = 60 %); default the default scenario's for the symbol, else
        0.6.
    horizon_days : float, default 30
    reference_prices : mapping of str to float, optional
        Price per base asset (``{"BTC": 61_000, "ETH": 2_950}``) used when the symbol changes to
        another asset; default the default scenario's marks, then the position's own mark.
    plot : {"liquidation vs leverage", "P(liq) vs leverage", "equity vs price"}
    """

    PLOTS = ("liquidation vs leverage", "P(liq) vs leverage", "equity vs price")

    def __init__(
        self,
        position: Position | None = None,
        *,
        exchange: str | None = None,
        wallet_balance: float | None = None,
        vol: float | None = None,
        horizon_days: float = 30.0,
        reference_prices: Mapping[str, float] | None = None,
        plot: str = "liquidation vs leverage",
    ) -> None:
        super().__init__()
        sc = _default_scenario()
        refs = {_base_asset(p.symbol): p.mark_price for p in sc.account.positions}
        if position is None:
            position = sc.account.positions[0]
            if wallet_balance is None:
                wallet_balance = sc.account.wallet_balance
        if not isinstance(position, Position):
            raise InputError("position", type(position).__name__, "a Position")
        if vol is None:
            vol = 0.6
            if sc.model is not None and position.symbol in {p.symbol for p in sc.account.positions}:
                vol = _vol_of(sc.account, sc.model, 0.6, position.symbol)
        if wallet_balance is None:
            wallet_balance = 10.0 * position.initial_margin
        if plot not in self.PLOTS:
            raise InputError("plot", plot, f"one of {list(self.PLOTS)}")
        refs[_base_asset(position.symbol)] = position.mark_price
        refs.update(reference_prices or {})
        self.reference_prices = refs
        self._custom_market: Market | None = None
        if exchange is None:
            exchange = self._preset_of(position.market)
        elif exchange not in exchanges.names():
            raise InputError("exchange", exchange, f"one of {exchanges.names()}")
        if exchange == CUSTOM:
            self._custom_market = position.market
        names = exchanges.names() + ([CUSTOM] if exchange == CUSTOM else [])
        symbols = self._symbols(exchange)
        if position.symbol not in symbols:
            raise InputError("position.symbol", position.symbol, f"one of {symbols}")
        self._add("exchange", _choice(names, exchange, "exchange"))
        self._add("symbol", _choice(symbols, position.symbol, "symbol"))
        self._add("side", _toggle(["long", "short"], position.side, "side"))
        self._add("entry_price", _number(position.entry_price, "entry price"))
        self._add("mark_price", _number(position.mark_price, "mark price"))
        self._add("qty", _number(position.qty, "quantity"))
        hi = self._max_leverage(position.market, position.qty, position.entry_price)
        self._add("leverage", _leverage_slider(position.leverage, hi))
        self._add("wallet_balance", _number(float(wallet_balance), "wallet"))
        self._add("vol", _slider(100 * float(vol), 5, 300, 5, "volatility (%/yr)", ".0f"))
        self._add("horizon_days", _slider(float(horizon_days), 1, 365, 1, "horizon (days)", ".0f"))
        self._add("margin_mode", _toggle(list(MARGIN_MODES), position.margin_mode, "margin mode"))
        self._add("plot", _choice(list(self.PLOTS), plot, "chart"))
        self._last_market = position.market
        self._start()

    # ------------------------------------------------------------ markets
    @staticmethod
    def _preset_of(market: Market) -> str:
        for name in exchanges.names():
            preset = exchanges.get(name)
            if preset.markets.get(market.symbol) is market:
                return name
        for name in exchanges.names():
            known = exchanges.get(name).markets.get(market.symbol)
            if known is not None and market.source.startswith(name + ":"):
                return name
        return CUSTOM

    def _symbols(self, exchange: str) -> list[str]:
        if exchange == CUSTOM:
            return [self._custom_market.symbol] if self._custom_market is not None else []
        return exchanges.get(exchange).symbols

    def _market(self, exchange: str | None = None, symbol: str | None = None) -> Market:
        exchange = exchange or self.controls["exchange"].value
        symbol = symbol or self.controls["symbol"].value
        if exchange == CUSTOM and self._custom_market is not None:
            return self._custom_market
        return exchanges.get(exchange).market(symbol)

    @staticmethod
    def _max_leverage(market: Market, qty: float, entry_price: float) -> float:
        """The tier's maximum leverage for this size (1 when the size is beyond the table)."""
        try:
            pos = Position(market, "long", qty, entry_price, leverage=1.0)
            return max_leverage(Account(0.0, [pos]), pos.name)
        except InputError:
            return 1.0

    # ------------------------------------------------------------ dependent controls
    def _sync(self, name: str) -> None:
        c = self.controls
        if name == "exchange":
            old = self._last_market
            symbols = self._symbols(c["exchange"].value)
            base = _base_asset(old.symbol)
            keep = [s for s in symbols if s == old.symbol] or [
                s for s in symbols if _base_asset(s) == base
            ]
            with c["symbol"].hold_sync():
                c["symbol"].options = symbols
                c["symbol"].value = (keep or symbols)[0]
            self._convert(old, self._market())
        elif name == "symbol":
            self._convert(self._last_market, self._market())
        self._last_market = self._market()
        if name in ("exchange", "symbol", "qty", "entry_price", "leverage"):
            self._fit_leverage()

    def _convert(self, old: Market, new: Market) -> None:
        """Carry the position over to another market: same USD notional and wallet value."""
        c = self.controls
        entry, mark = float(c["entry_price"].value), float(c["mark_price"].value)
        qty, wallet = float(c["qty"].value), float(c["wallet_balance"].value)
        if old is new:
            return
        ospec, nspec = old.spec, new.spec
        usd = qty * ospec.contract_size * (entry if ospec.contract == "linear" else 1.0)
        wallet_usd = wallet * (mark if ospec.contract == "inverse" else 1.0)
        ref = self.reference_prices.get(_base_asset(new.symbol))
        if _base_asset(new.symbol) != _base_asset(old.symbol) and ref is not None:
            entry = mark = float(ref)
        q = usd / nspec.contract_size / (entry if nspec.contract == "linear" else 1.0)
        counted = nspec.contract == "inverse" or nspec.contract_size != 1.0
        q = float(max(1, round(q))) if counted else float(f"{q:.4g}")
        wallet = wallet_usd / mark if nspec.contract == "inverse" else wallet_usd
        c["entry_price"].value = entry
        c["mark_price"].value = mark
        c["qty"].value = q
        c["wallet_balance"].value = float(f"{wallet:.6g}")

    def _fit_leverage(self) -> None:
        c = self.controls
        hi = self._max_leverage(self._market(), c["qty"].value, c["entry_price"].value)
        slider = c["leverage"]
        with slider.hold_sync():
            slider.max = max(hi, slider.value)  # never clamps the value silently

    # ------------------------------------------------------------ compute
    @property
    def position(self) -> Position:
        """The position the controls describe (raises :class:`InputError` if invalid)."""
        c = self.controls
        return Position(
            self._market(), c["side"].value, c["qty"].value, c["entry_price"].value,
            leverage=c["leverage"].value, margin_mode=c["margin_mode"].value,
            mark_price=c["mark_price"].value,
        )  # fmt: skip

    @property
    def account(self) -> Account:
        """The position alone on the wallet, in its held mode."""
        return Account(self.controls["wallet_balance"].value, [self.position])

    def _compute(self) -> dict[str, Any]:
        c = self.controls
        pos = self.position
        wallet = float(c["wallet_balance"].value)
        vol = float(c["vol"].value) / 100.0
        days = float(c["horizon_days"].value)
        horizon = days / _DAYS_PER_YEAR
        single: dict[str, pd.Series] = {}
        probs: dict[str, float] = {}
        for mode in MARGIN_MODES:
            acct = Account(wallet, [pos.with_(margin_mode=mode)])
            row = acct.liquidation_prices().iloc[0]
            single[mode] = row
            probs[mode] = float(
                hit_probability(
                    pos.mark_price, row["liquidation_price"], vol, horizon,
                    direction=_direction(pos.side),
                )
            )  # fmt: skip
        hi = self._max_leverage(pos.market, pos.qty, pos.entry_price)
        result = pd.DataFrame(single).T.drop(columns=["mode"]).rename_axis("mode")
        result = result.astype({k: float for k in result.columns if k != "side"})
        result["p_liquidation"] = pd.Series(probs)
        result["leverage"] = pos.leverage
        result["max_leverage"] = hi
        result.attrs.update(
            {"position": pos.name, "held": pos.margin_mode, "horizon_days": days, "vol": vol,
             "settle_currency": pos.market.spec.settle_currency}
        )  # fmt: skip
        plot = c["plot"].value
        data, params = _plot_data(Account(wallet, [pos]), pos.name, plot, vol, horizon)
        return {
            "figure_inputs": (plot, data),
            "params": params,
            "result": result,
            "chart_data": data,
            "position": pos,
            "plot": plot,
            "single": single,
            "probs": probs,
            "days": days,
            "max_leverage": hi,
        }

    def _make_figure(self, state: dict[str, Any]) -> alt.TopLevelMixin:
        return _plot_figure(state["plot"], state["chart_data"], state["params"])

    def _summary_html(self, state: dict[str, Any]) -> str:
        pos: Position = state["position"]
        ccy = pos.market.spec.settle_currency
        held = pos.margin_mode
        row = state["single"][held]
        liq = _price(row["liquidation_price"], "none")
        head = (
            f'<div class="mk-head"><b>{html.escape(pos.symbol)}</b> {pos.side} {pos.qty:g} '
            f"@ {_price(pos.entry_price)}, {pos.leverage:g}x {held}: liquidation "
            f'<span class="mk-liq">{liq}</span> ({_pct(row["distance_pct"])} from the mark '
            f"{_price(pos.mark_price)}); P(liquidation within {_days_text(state['days'])}) "
            f"{_prob(state['probs'][held])}</div>"
        )
        header, rows = _position_rows(state["single"], state["probs"], ccy, held)
        notes = (
            f'<div class="mk-note">Max leverage at this size: {_lev(state["max_leverage"])}. '
            "Cross: the position alone on the whole wallet. P(liquidation): GBM without drift "
            f"at {float(self.controls['vol'].value):.0f} %/yr, closed form. "
            "No liquidation price: &lsquo;none&rsquo;.</div>"
        )
        return head + _table(header, rows) + notes


# ----------------------------------------------------------------------------- account based
class _AccountBased(_Panel):
    """An account, one selected position and its leverage, the wallet, a price model."""

    def __init__(
        self,
        account: Account | None,
        model: PriceModel | None,
        horizon: float | None,
        name: str | None,
        default_vol: float = 0.6,
    ) -> None:
        super().__init__()
        if account is None:
            sc = _default_scenario()
            account = sc.account
            if model is None:
                model = sc.model
            if horizon is None and sc.simulation is not None:
                horizon = sc.simulation.horizon
        if not isinstance(account, Account) or len(account) == 0:
            raise InputError("account", account, "an Account with at least one position")
        if model is not None and not isinstance(model, PriceModel):
            raise InputError("model", type(model).__name__, "a PriceModel or None")
        self.base_account = account
        self.model = model
        self.horizon = _horizon_years(30 / _DAYS_PER_YEAR if horizon is None else horizon)
        if model is not None:
            asset_columns(account, model)  # the model must cover the account's symbols
        names = [p.name for p in account.positions]
        name = names[0] if name is None else name
        account.position(name)
        self._leverages = {p.name: p.leverage for p in account.positions}
        self._default_vol = default_vol
        self._add("position", _choice(names, name, "position"))
        first = account.position(name)
        self._add("leverage", _leverage_slider(first.leverage, max_leverage(account, name)))
        self._add("wallet_balance", _number(account.wallet_balance, "wallet"))

    def _add_vol(self) -> None:
        if self.model is None:
            self._add("vol", _slider(100 * self._default_vol, 5, 300, 5, "volatility (%/yr)",
                                     ".0f"))  # fmt: skip

    @property
    def account(self) -> Account:
        """The account as the controls set it (raises :class:`InputError` if invalid)."""
        c = self.controls
        name = c["position"].value
        levs = dict(self._leverages)
        levs[name] = float(c["leverage"].value)
        positions = [p if p.leverage == levs[p.name] else p.with_(leverage=levs[p.name])
                     for p in self.base_account.positions]  # fmt: skip
        return replace(self.base_account, wallet_balance=c["wallet_balance"].value,
                       positions=tuple(positions))  # fmt: skip

    @property
    def selected(self) -> str:
        """Name of the selected position."""
        return self.controls["position"].value

    def _sync(self, name: str) -> None:
        c = self.controls
        if name == "leverage":
            self._leverages[c["position"].value] = float(c["leverage"].value)
        elif name == "position":
            p = self.base_account.position(c["position"].value)
            slider = c["leverage"]
            value = self._leverages[p.name]
            with slider.hold_sync():
                slider.max = max(max_leverage(self.base_account, p.name), value)
                slider.value = value

    def _vol(self, account: Account, symbol: str) -> float:
        vol = float(self.controls["vol"].value) / 100.0 if "vol" in self.controls else 0.6
        return _vol_of(account, self.model, vol, symbol)

    def _horizon(self) -> float:
        if "horizon_days" in self.controls:
            return float(self.controls["horizon_days"].value) / _DAYS_PER_YEAR
        return self.horizon

    def _model_note(self) -> str:
        if self.model is not None:
            return f"the model's volatility ({type(self.model).__name__}, diffusive part)"
        return f"{float(self.controls['vol'].value):.0f} %/yr volatility"


def _modes_frame(account: Account, mode: str) -> pd.DataFrame:
    """``account.with_mode(mode).liquidation_prices()``, naming the mode if it cannot be."""
    try:
        return account.with_mode(mode).liquidation_prices()
    except InputError as exc:
        raise InputError(
            exc.field, exc.value, f"{exc.expected}, with every position {mode}"
        ) from None


class AccountPanel(_AccountBased):
    """Isolated vs cross for an account of several positions, one position's leverage moving.

    Controls: ``position`` (which position the slider moves), ``leverage`` (that position's
    leverage; CSS class ``mk-leverage``), ``wallet_balance``, ``plot`` (which chart), and
    ``vol`` (annualised, percent) when no ``model`` is given.

    The summary shows the selected position in both modes (every position isolated, as
    ``account.with_mode("isolated")``, or every position cross) and as held, then every
    position's liquidation price as held, isolated and cross
    (:meth:`Account.liquidation_prices <margin_kit.account.Account.liquidation_prices>`: a cross
    position's price holds the positions on other symbols at their marks and moves those on its
    symbol with it).
    ``result``: one row per position (``mode`` as held, ``liquidation_price`` as held,
    ``liq_isolated``, ``liq_cross``, ``bankruptcy_price``, ``distance_pct``, ``p_liquidation``,
    ``p_isolated``, ``p_cross``), P(liquidation within the horizon) in closed form (GBM without
    drift at the symbol's volatility: :func:`margin_kit.risk.hit_probability`).

    Stable CSS hooks for browser tests: the leverage slider has class ``mk-leverage``; the
    selected position's liquidation price as held is the text of the one element of class
    ``mk-liq`` inside the summary (``<span class="mk-liq">54,216.87</span>``); the chart widget
    has class ``mk-chart`` (SVG renderer); the summary ``mk-summary``; the layout ``mk-panel``.

    Parameters
    ----------
    account : Account, optional
        Default: the default scenario's account (and its model and horizon).
    model : PriceModel, optional
        Gives each symbol's volatility (``model.annual_vol()``); without one a ``vol`` slider
        sets it for every symbol.
    horizon : float, optional
        Years (default 30 days, or the default scenario's).
    name : str, optional
        The position selected first (default the first).
    plot : {"liquidation vs leverage", "P(liq) vs leverage", "equity vs price"}
    """

    PLOTS = ("liquidation vs leverage", "P(liq) vs leverage", "equity vs price")

    def __init__(
        self,
        account: Account | None = None,
        model: PriceModel | None = None,
        horizon: float | None = None,
        *,
        name: str | None = None,
        plot: str = "liquidation vs leverage",
    ) -> None:
        super().__init__(account, model, horizon, name)
        if plot not in self.PLOTS:
            raise InputError("plot", plot, f"one of {list(self.PLOTS)}")
        self._add_vol()
        self._add("plot", _choice(list(self.PLOTS), plot, "chart"))
        self._start()

    def _compute(self) -> dict[str, Any]:
        acct = self.account
        name = self.selected
        t = self._horizon()
        held = acct.liquidation_prices()
        iso = _modes_frame(acct, "isolated")
        cross = _modes_frame(acct, "cross")
        vols = {p.symbol: self._vol(acct, p.symbol) for p in acct.positions}

        def prob(frame: pd.DataFrame) -> np.ndarray:
            return np.array([
                float(hit_probability(p.mark_price, frame.loc[p.name, "liquidation_price"],
                                      vols[p.symbol], t, direction=_direction(p.side)))
                for p in acct.positions
            ])  # fmt: skip

        result = held[["mode", "side", "mark_price", "liquidation_price", "bankruptcy_price",
                       "distance_pct"]].copy()  # fmt: skip
        result["liq_isolated"] = iso["liquidation_price"]
        result["liq_cross"] = cross["liquidation_price"]
        result["p_liquidation"] = prob(held)
        result["p_isolated"] = prob(iso)
        result["p_cross"] = prob(cross)
        result["leverage"] = [p.leverage for p in acct.positions]
        result.attrs.update({"selected": name, "horizon": t,
                             "settle_currency": acct.settle_currency})  # fmt: skip
        plot = self.controls["plot"].value
        vol = vols[acct.position(name).symbol]
        data, params = _plot_data(acct, name, plot, vol, t)
        # the level the charts' cross line shows: every position on the symbol moving together
        together = float(price_levels(acct, name, modes=("cross",))["liquidation_price"].iloc[0])
        result.attrs["cross_symbol_level"] = together
        return {
            "figure_inputs": (plot, data),
            "params": params,
            "result": result,
            "chart_data": data,
            "plot": plot,
            "account": acct,
            "iso": iso,
            "cross": cross,
            "together": together,
        }

    def _make_figure(self, state: dict[str, Any]) -> alt.TopLevelMixin:
        return _plot_figure(state["plot"], state["chart_data"], state["params"])

    def _summary_html(self, state: dict[str, Any]) -> str:
        acct: Account = state["account"]
        res: pd.DataFrame = state["result"]
        name = self.selected
        p = acct.position(name)
        ccy = acct.settle_currency
        r = res.loc[name]
        days = self._horizon() * _DAYS_PER_YEAR
        head = (
            f'<div class="mk-head"><b>{html.escape(name)}</b> ({p.side} {p.qty:g} '
            f"{html.escape(p.symbol)}, {p.leverage:g}x {p.margin_mode}): liquidation "
            f'<span class="mk-liq">{_price(r["liquidation_price"])}</span> '
            f"({_pct(r['distance_pct'])} from the mark {_price(p.mark_price)})</div>"
        )
        single = {"isolated": state["iso"].loc[name], "cross": state["cross"].loc[name]}
        probs = {"isolated": r["p_isolated"], "cross": r["p_cross"]}
        header, rows = _position_rows(single, probs, ccy, p.margin_mode)
        rows[-1][0] = f"P(liq. within {days:.0f} d)"
        sel = [p.name for p in acct.positions].index(name)
        all_rows = [
            [html.escape(q.name), q.margin_mode, _price(res.loc[q.name, "liquidation_price"]),
             _price(res.loc[q.name, "liq_isolated"]), _price(res.loc[q.name, "liq_cross"])]
            for q in acct.positions
        ]  # fmt: skip
        everyone = _table(
            ["position", "held", "as held", _mode_th("isolated"), _mode_th("cross")],
            all_rows,
            selected=sel,
        )
        balances = (
            f'<div class="mk-note">Wallet {_amount(acct.wallet_balance, ccy)}; isolated margin '
            f"{_amount(acct.isolated_margin, ccy)}; cross wallet "
            f"{_amount(acct.cross_wallet_balance, ccy)}; available "
            f"{_amount(acct.available_balance, ccy)}.</div>"
        )
        together = state["together"]
        cross_here = float(state["cross"].loc[name, "liquidation_price"])
        same = (np.isnan(together) and np.isnan(cross_here)) or bool(
            np.isclose(together, cross_here, rtol=1e-9)
        )
        moving = (
            ""
            if same
            else f" With every {html.escape(p.symbol)} position moving together (the chart's "
            f"cross line) {html.escape(name)} is liquidated in cross at "
            f"<b>{_price(together, 'no price (none)')}</b>."
        )
        notes = (
            '<div class="mk-note">Columns isolated / cross: every position in that mode. A cross '
            "price holds the positions on other symbols at their marks."
            f"{moving} P(liquidation): GBM without drift at {self._model_note()}, closed "
            "form.</div>"
        )
        return (head + _table(header, rows) + "<div><b>Every position</b> (liquidation price)"
                "</div>" + everyone + balances + notes)  # fmt: skip


# ----------------------------------------------------------------------------- SizingPanel
class SizingPanel(_AccountBased):
    """How much leverage or size a P(liquidation) or distance target allows, both modes.

    The selected position is sized as a new position opened at its current mark (entry = mark):
    the target is either P(liquidation within the horizon) (GBM without drift, closed form) or
    the distance from entry to the liquidation price.

    * **isolated**: the highest leverage meeting the target for the quantity
      (:func:`margin_kit.sizing.max_leverage_for_probability` /
      :func:`~margin_kit.sizing.max_leverage_for_distance`; capped at the tier's maximum), the
      margin that locks, and the largest quantity meeting it on the margin of the leverage set
      on the slider.
    * **cross** (the position cross, the other positions as held): leverage does not move a
      cross liquidation price, so the answer is the largest quantity whose cross liquidation
      price (as :meth:`Account.liquidation_prices <margin_kit.account.Account.liquidation_prices>`
      has it: other symbols at their marks, the same symbol's positions moving with the price) is
      at the target: :func:`margin_kit.sizing.qty_for_liquidation_price` on the cross collateral
      ``cross wallet + other cross PnL - their maintenance``, those on the symbol valued at the
      target price.

    The sizing solves assume the "mark" tier rule (Binance, Hyperliquid, Binance COIN-M); for the
    other presets the check row shows what the market's own rule gives at the answer.

    Controls: ``position``, ``leverage`` (the leverage you plan to use; CSS ``mk-leverage``),
    ``wallet_balance``, ``target_kind`` (``"probability"`` or ``"distance"``), ``target``
    (percent), ``qty``, ``vol`` (annualised percent) and ``horizon_days``. ``result``: one row
    per mode (``target_price``, ``liquidation_price`` and ``p_liquidation`` / ``distance_pct``
    at the planned leverage and quantity, ``meets_target``, ``max_leverage``,
    ``margin_at_max``, ``max_qty``).

    Parameters
    ----------
    account, model, horizon, name
        As :class:`AccountPanel`; the model only gives the volatility slider's first value.
    target : {"probability", "distance"}
    alpha : float, default 0.01
        First P(liquidation) target.
    distance : float, default 0.10
        First distance target (fraction of entry).
    """

    KINDS = ("probability", "distance")

    def __init__(
        self,
        account: Account | None = None,
        model: PriceModel | None = None,
        horizon: float | None = None,
        *,
        name: str | None = None,
        target: str = "probability",
        alpha: float = 0.01,
        distance: float = 0.10,
    ) -> None:
        super().__init__(account, model, horizon, name)
        if target not in self.KINDS:
            raise InputError("target", target, f"one of {list(self.KINDS)}")
        for field, v in (("alpha", alpha), ("distance", distance)):
            if not 0 < float(v) < 1:
                raise InputError(field, v, "a fraction in (0, 1)")
        self._targets = {"probability": 100 * float(alpha), "distance": 100 * float(distance)}
        self._solved: tuple[tuple, float] | None = None
        p = self.base_account.position(self.selected)
        vol = _vol_of(self.base_account, self.model, 0.6, p.symbol)
        self._add("target_kind", _toggle(list(self.KINDS), target, "target"))
        self._add("target", self._target_slider(target))
        self._add("qty", _number(p.qty, "quantity"))
        self._add("vol", _slider(round(100 * vol, 1), 5, 300, 5, "volatility (%/yr)", ".0f"))
        days = round(self.horizon * _DAYS_PER_YEAR, 6)
        self._add("horizon_days", _slider(days, 1, 365, 1, "horizon (days)", ".0f"))
        self._start()

    def _target_slider(self, kind: str) -> w.FloatSlider:
        if kind == "probability":
            return _slider(self._targets[kind], 0.1, 50.0, 0.1, "P(liq) target (%)", ".1f")
        return _slider(self._targets[kind], 1.0, 90.0, 0.5, "distance target (%)", ".1f")

    def _sync(self, name: str) -> None:
        super()._sync(name)
        c = self.controls
        if name == "target":
            self._targets[c["target_kind"].value] = float(c["target"].value)
        elif name == "target_kind":
            fresh = self._target_slider(c["target_kind"].value)
            slider = c["target"]
            with slider.hold_sync():
                slider.min, slider.max = 0.0, 100.0
                slider.value = fresh.value
                slider.min, slider.max, slider.step = fresh.min, fresh.max, fresh.step
                slider.description = fresh.description
            fresh.close()
        elif name == "position":
            p = self.base_account.position(c["position"].value)
            c["qty"].value = p.qty
            if self.model is not None:
                c["vol"].value = round(100 * _vol_of(self.base_account, self.model, 0.6,
                                                     p.symbol), 1)  # fmt: skip

    def _compute(self) -> dict[str, Any]:
        c = self.controls
        kind = c["target_kind"].value
        target = float(c["target"].value) / 100.0
        vol = float(c["vol"].value) / 100.0
        days = float(c["horizon_days"].value)
        t = days / _DAYS_PER_YEAR
        qty = float(c["qty"].value)
        lev = float(c["leverage"].value)
        base = self.account  # validates the leverage and wallet as set
        name = self.selected
        p0 = base.position(name)
        e = p0.mark_price
        pos = p0.with_(qty=qty, entry_price=e, mark_price=e, leverage=lev)
        market, spec = pos.market, pos.market.spec
        tiers = market.tiers
        kw = {"contract": spec.contract, "contract_size": spec.contract_size}
        key = (kind, target, vol, t, qty, pos.side, e, id(market))
        if self._solved is not None and self._solved[0] == key:
            l_star = self._solved[1]
        else:  # the solve depends on neither the planned leverage nor the wallet: kept
            if kind == "probability":
                l_star = float(sizing.max_leverage_for_probability(
                    pos.side, e, qty, tiers, vol=vol, horizon=t, alpha=target, **kw))  # fmt: skip
            else:
                l_star = float(
                    sizing.max_leverage_for_distance(pos.side, e, qty, target, tiers, **kw)
                )
            self._solved = (key, l_star)
        n0 = pos.notional_at(e)
        target_price = float(tiered_liquidation_price(
            pos.side, e, qty, n0 / l_star, tiers, tier_basis="mark", **kw))  # fmt: skip
        tier_max = max_leverage(Account(0.0, [pos.with_(margin_mode="cross")]), name)
        allowed = min(l_star, tier_max)

        def risk(price: float) -> tuple[float, float, bool]:
            dist = 100.0 * pos.sign * (e - price) / e if _finite(price) else float("nan")
            prob = float(hit_probability(e, price, vol, t, direction=_direction(pos.side)))
            ok = (
                prob <= target
                if kind == "probability"
                else (not _finite(price) or dist >= 100.0 * target * (1 - 1e-12))
            )
            return dist, prob, ok

        rows = {}
        # isolated: the position isolated, others as held
        iso_pos = pos.with_(margin_mode="isolated", added_margin=0.0)
        iso_acct = self._with_position(base, iso_pos)
        liq_iso = float(iso_acct.liquidation_prices().loc[name, "liquidation_price"])
        margin_now = n0 / lev
        try:
            # = max_qty_for_probability / max_qty_for_distance, whose target price is known
            q_iso = float(
                sizing.qty_for_liquidation_price(pos.side, e, margin_now, target_price, tiers, **kw)
            )
        except InputError:
            q_iso = float("nan")  # beyond the tier table
        dist, prob, ok = risk(liq_iso)
        check = Position(market, pos.side, qty, e, leverage=allowed, margin_mode="isolated")
        check_liq = float(Account(check.isolated_margin, [check]).liquidation_prices()
                          ["liquidation_price"].iloc[0])  # fmt: skip
        rows["isolated"] = {
            "target_price": target_price, "liquidation_price": liq_iso, "distance_pct": dist,
            "p_liquidation": prob, "meets_target": ok, "max_leverage": l_star,
            "allowed_leverage": allowed, "margin_at_max": n0 / allowed, "max_qty": q_iso,
            "check_liquidation_price": check_liq,
            "check_p_liquidation": risk(check_liq)[1],
        }  # fmt: skip
        # cross: the position cross, the others as held
        cross_pos = pos.with_(margin_mode="cross", added_margin=0.0)
        cross_acct = self._with_position(base, cross_pos)
        liq_cross = float(cross_acct.liquidation_prices().loc[name, "liquidation_price"])
        # the other cross positions: on other symbols at their marks, on this symbol at the
        # target price (they move with it, as Account.liquidation_prices has them)
        others = [o for o in cross_acct.positions if o.name != name and o.margin_mode == "cross"]
        c_eff = cross_acct.cross_wallet_balance + sum(
            float(o.unrealized_pnl(at)) - float(o.maint_margin(at))
            for o in others
            for at in [target_price if o.symbol == pos.symbol else o.mark_price]
        )
        try:
            q_cross = float(sizing.qty_for_liquidation_price(pos.side, e, c_eff, target_price,
                                                             tiers, **kw))  # fmt: skip
        except InputError:
            q_cross = float("nan")
        dist, prob, ok = risk(liq_cross)
        rows["cross"] = {
            "target_price": target_price, "liquidation_price": liq_cross, "distance_pct": dist,
            "p_liquidation": prob, "meets_target": ok,
            "max_leverage": tier_max if ok else float("nan"),
            "allowed_leverage": tier_max if ok else float("nan"),
            "margin_at_max": n0 / lev, "max_qty": q_cross,
            "check_liquidation_price": liq_cross, "check_p_liquidation": prob,
        }  # fmt: skip
        result = pd.DataFrame(rows).T.rename_axis("mode")
        result = result.astype({k: (bool if k == "meets_target" else float)
                                for k in result.columns})  # fmt: skip
        result.attrs.update({"position": name, "target_kind": kind, "target": target,
                             "vol": vol, "horizon": t, "qty": qty, "entry_price": e,
                             "tier_max_leverage": tier_max, "collateral_cross": c_eff})  # fmt: skip
        sweep_acct = self._with_position(base, pos)
        data = leverage_sweep(
            sweep_acct, name, _leverage_grid(sweep_acct, name), vol=vol, horizon=t
        )
        data.attrs.pop("leverage", None)
        return {
            "figure_inputs": (kind, target, l_star, target_price, data),
            "params": {LEVERAGE_PARAM: lev},
            "result": result,
            "chart_data": data,
            "position": pos,
            "kind": kind,
            "target": target,
            "days": days,
            "account": sweep_acct,
        }

    @staticmethod
    def _with_position(account: Account, pos: Position) -> Account:
        positions = tuple(pos if p.name == pos.name else p for p in account.positions)
        return replace(account, positions=positions)

    def _make_figure(self, state: dict[str, Any]) -> alt.TopLevelMixin:
        data = state["chart_data"]
        res = state["result"]
        lo, hi = float(data["leverage"].min()), float(data["leverage"].max())
        l_star = float(res.loc["isolated", "max_leverage"])
        if state["kind"] == "probability":
            base = charts.probability_vs_leverage(data, width=460, height=280)
            rule = pd.DataFrame({"p_liquidation": [state["target"]],
                                 "label": [f"target {100 * state['target']:.3g} %"]})  # fmt: skip
            y = alt.Y("p_liquidation:Q")
        else:
            base = charts.liquidation_vs_leverage(data, width=460, height=280)
            price = float(res.loc["isolated", "target_price"])
            rule = pd.DataFrame({"liquidation_price": [price],
                                 "label": [f"target {_price(price)}"]})  # fmt: skip
            y = alt.Y("liquidation_price:Q")
        rule = charts._rows(rule)  # converted once, shared by both layers
        layers = [
            alt.Chart(rule).mark_rule(color="black", strokeDash=[6, 4]).encode(y=y),
            alt.Chart(rule).mark_text(align="center", dy=-7, fontSize=11, fontWeight=600)
            .encode(y=y, x=alt.XValue(0.45 * 460), text=alt.Text("label:N")),
        ]  # fmt: skip
        if lo <= l_star <= hi:
            star = charts._rows(
                pd.DataFrame({"leverage": [l_star], "label": [f"max {l_star:.3g}x"]})
            )
            layers += [
                alt.Chart(star).mark_rule(color="black", strokeDash=[6, 4])
                .encode(x=alt.X("leverage:Q")),
                alt.Chart(star).mark_text(align="left", dx=4, fontSize=11)
                .encode(x=alt.X("leverage:Q"), y=alt.YValue(12), text=alt.Text("label:N")),
            ]  # fmt: skip
        return _leverage_marked(base, state["params"][LEVERAGE_PARAM], 280, layers)

    def _summary_html(self, state: dict[str, Any]) -> str:
        res: pd.DataFrame = state["result"]
        pos: Position = state["position"]
        ccy = pos.market.spec.settle_currency
        kind, target = state["kind"], state["target"]
        what = (
            f"P(liquidation within {_days_text(state['days'])}) &le; {_prob(target)}"
            if kind == "probability"
            else f"liquidation &ge; {100 * target:.3g} % from entry"
        )
        iso, cross = res.loc["isolated"], res.loc["cross"]
        head = (
            f'<div class="mk-head"><b>{html.escape(pos.name)}</b>: {pos.side} {pos.qty:g} '
            f"{html.escape(pos.symbol)} opened at the mark {_price(pos.entry_price)}; target "
            f"{what}: liquidation at <b>{_price(iso['target_price'])}</b>. Isolated: at most "
            f'<span class="mk-max-leverage">{_lev(iso["allowed_leverage"])}</span>.</div>'
        )

        def yes(ok: bool) -> str:
            return '<span class="mk-yes">yes</span>' if ok else '<span class="mk-no">no</span>'

        risk_row = (
            ["P(liq.) at your size", _prob(iso["p_liquidation"]), _prob(cross["p_liquidation"])]
            if kind == "probability"
            else ["distance at your size", _pct(iso["distance_pct"]), _pct(cross["distance_pct"])]
        )
        capped = (
            f" (solved {_lev(iso['max_leverage'])}, "
            f"tier max {_lev(res.attrs['tier_max_leverage'])})"
            if iso["max_leverage"] > iso["allowed_leverage"]
            else ""
        )
        rows = [
            [f"liquidation at {pos.leverage:g}x", _price(iso["liquidation_price"]),
             _price(cross["liquidation_price"])],
            risk_row,
            ["meets the target", yes(bool(iso["meets_target"])), yes(bool(cross["meets_target"]))],
            ["highest leverage", _lev(iso["allowed_leverage"]) + capped,
             "any up to " + _lev(res.attrs["tier_max_leverage"]) if cross["meets_target"]
             else "none at this size"],
            ["margin locked then", _amount(iso["margin_at_max"], ccy),
             _amount(cross["margin_at_max"], ccy)],
            ["largest quantity", f"{iso['max_qty']:.6g}" if _finite(iso["max_qty"]) else "—",
             f"{cross['max_qty']:.6g}" if _finite(cross["max_qty"]) else "—"],
        ]  # fmt: skip
        table = _table(["", _mode_th("isolated"), _mode_th("cross")], rows)
        rule = pos.market.tier_basis
        check = ""
        if rule != "mark":
            check = (
                f'<div class="mk-note">This market tiers by {rule}; the solves assume the '
                f"&lsquo;mark&rsquo; rule. At {_lev(iso['allowed_leverage'])} its own rule "
                f"liquidates at {_price(iso['check_liquidation_price'])} "
                f"(P {_prob(iso['check_p_liquidation'])}).</div>"
            )
        notes = (
            '<div class="mk-note">Largest quantity: isolated, on the margin of your leverage '
            f"({_amount(pos.notional_at(pos.entry_price) / pos.leverage, ccy)}); cross, on the "
            f"cross collateral ({_amount(res.attrs['collateral_cross'], ccy)}: cross wallet "
            "+ other cross PnL &minus; their maintenance, at the target price for those on the "
            "symbol). Cross leverage does not move the "
            "liquidation price. P(liquidation): GBM without drift, closed form.</div>"
        )
        return head + table + check + notes


# ----------------------------------------------------------------------------- CapitalPanel
class CapitalPanel(_AccountBased):
    """Capital locked vs free, and return on margin vs risk, isolated and cross.

    For the account with the selected position at the slider's leverage, in each mode (every
    position isolated, or every position cross; definitions of :mod:`margin_kit.compare`):
    margin locked, free collateral, return on margin of a favourable ``move``, P(liquidation
    within the horizon) per position (closed form, GBM without drift), loss if liquidated and
    expected loss. The chart (control ``plot``) is :func:`margin_kit.charts.capital_usage`
    (locked vs free per mode) or :func:`margin_kit.charts.loss_frontier` of the selected
    position (expected loss vs P(liquidation) over leverage) with the current leverage ringed
    (Vega parameters: a leverage move redraws without a new spec).

    ``result`` has :data:`margin_kit.compare.COLUMNS` (a row per position and mode plus the
    ``"(account)"`` rows) in closed form: ``p_stderr`` and ``expected_shortfall`` are NaN, and
    the cross account row's ``p_liquidation`` is NaN (the cross account has no closed form
    across symbols; :func:`margin_kit.compare` simulates it). The isolated account row's
    probability assumes independent positions.

    Controls: ``position``, ``leverage`` (CSS ``mk-leverage``), ``wallet_balance``, ``move``
    (percent), ``horizon_days``, ``vol`` without a model, and ``plot``.

    Parameters
    ----------
    account, model, horizon, name
        As :class:`AccountPanel`.
    move : float, default 0.05
        Favourable move (fraction of the mark) for the return on margin.
    plot : {"capital usage", "loss frontier"}
    """

    PLOTS = ("capital usage", "loss frontier")

    def __init__(
        self,
        account: Account | None = None,
        model: PriceModel | None = None,
        horizon: float | None = None,
        *,
        name: str | None = None,
        move: float = 0.05,
        plot: str = "capital usage",
    ) -> None:
        super().__init__(account, model, horizon, name)
        if not 0 < float(move) < 1:
            raise InputError("move", move, "a fraction in (0, 1)")
        if plot not in self.PLOTS:
            raise InputError("plot", plot, f"one of {list(self.PLOTS)}")
        self._add("move", _slider(100 * float(move), 0.5, 50, 0.5, "favourable move (%)", ".1f"))
        days = round(self.horizon * _DAYS_PER_YEAR, 6)
        self._add("horizon_days", _slider(days, 1, 365, 1, "horizon (days)", ".0f"))
        self._add_vol()
        self._add("plot", _choice(list(self.PLOTS), plot, "chart"))
        self._start()

    def _compute(self) -> dict[str, Any]:
        acct = self.account
        name = self.selected
        t = self._horizon()
        move = float(self.controls["move"].value) / 100.0
        rows: list[dict[str, Any]] = []
        for mode in MARGIN_MODES:
            a = acct.with_mode(mode)
            liq = a.liquidation_prices()
            free = a.cross_wallet_balance if mode == "isolated" else a.available_balance
            mode_rows = []
            for p in a.positions:
                price = float(liq.loc[p.name, "liquidation_price"])
                vol = self._vol(acct, p.symbol)
                prob = float(hit_probability(p.mark_price, price, vol, t,
                                             direction=_direction(p.side)))  # fmt: skip
                with np.errstate(divide="ignore", invalid="ignore"):
                    dist_sigma = p.sign * np.log(p.mark_price / price) / (vol * math.sqrt(t))
                if mode == "isolated":
                    lgl, locked = p.isolated_margin + p.unrealized_pnl(), p.isolated_margin
                else:
                    lgl, locked = a.cross_equity, p.notional_at(p.mark_price) / p.leverage
                gain = p.unrealized_pnl(p.mark_price * (1 + p.sign * move)) - p.unrealized_pnl()
                mode_rows.append({
                    "position": p.name, "mode": mode, "symbol": p.symbol, "side": p.side,
                    "mark_price": p.mark_price, "liquidation_price": price,
                    "distance_pct": float(liq.loc[p.name, "distance_pct"]),
                    "distance_sigma": float(dist_sigma) if _finite(dist_sigma) else np.nan,
                    "p_liquidation": prob, "p_stderr": np.nan, "loss_given_liquidation": lgl,
                    "expected_loss": prob * lgl, "margin_locked": locked,
                    "free_collateral": free, "return_on_margin": gain / locked,
                    "expected_shortfall": np.nan, "_gain": gain,
                })  # fmt: skip
            locked_total = sum(r["margin_locked"] for r in mode_rows)
            gains = sum(r["_gain"] for r in mode_rows)
            if mode == "isolated":
                p_any = 1.0 - float(np.prod([1.0 - r["p_liquidation"] for r in mode_rows]))
                lgl_acct = sum(r["loss_given_liquidation"] for r in mode_rows)
                el = sum(r["expected_loss"] for r in mode_rows)
            else:
                p_any, lgl_acct, el = np.nan, a.cross_equity, np.nan
            rows += mode_rows
            rows.append({
                "position": ACCOUNT_ROW, "mode": mode, "symbol": "", "side": "",
                "mark_price": np.nan, "liquidation_price": np.nan, "distance_pct": np.nan,
                "distance_sigma": np.nan, "p_liquidation": p_any, "p_stderr": np.nan,
                "loss_given_liquidation": lgl_acct, "expected_loss": el,
                "margin_locked": locked_total, "free_collateral": free,
                "return_on_margin": gains / locked_total, "expected_shortfall": np.nan,
            })  # fmt: skip
        table = pd.DataFrame(rows, columns=COLUMNS)
        table.attrs["settle_currency"] = acct.settle_currency
        vol = self._vol(acct, acct.position(name).symbol)
        sweep = leverage_sweep(acct, name, vol=vol, horizon=t)
        sweep.attrs.pop("leverage", None)
        plot = self.controls["plot"].value
        if plot == "capital usage":
            inputs: tuple = (plot, table[["position", "mode", "margin_locked", "free_collateral"]])
            params: dict[str, float] = {}
        else:
            inputs = (plot, sweep)
            iso = table[(table["position"] == name) & (table["mode"] == "isolated")].iloc[0]
            params = {_P_PARAM: float(iso["p_liquidation"]), _EL_PARAM: float(iso["expected_loss"]),
                      LEVERAGE_PARAM: acct.position(name).leverage}  # fmt: skip
        return {"result": table, "chart_data": sweep, "account": acct, "move": move, "t": t,
                "plot": plot, "figure_inputs": inputs, "params": params}  # fmt: skip

    def _make_figure(self, state: dict[str, Any]) -> alt.TopLevelMixin:
        if state["plot"] == "capital usage":
            return charts.capital_usage(state["result"], width=440, height=150)
        sweep = state["chart_data"]
        base = charts.loss_frontier(sweep, width=440, height=280)
        # the current leverage on the frontier: isolated moves with it (parameters), cross
        # does not depend on it (its point is the sweep's)
        cross = sweep[sweep["mode"] == "cross"]
        rows = pd.DataFrame({
            "mode": ["isolated", "cross"],
            "p": [0.0, float(cross["p_liquidation"].iloc[0]) if len(cross) else np.nan],
            "el": [0.0, float(cross["expected_loss"].iloc[0]) if len(cross) else np.nan],
        })  # fmt: skip
        marker = (
            alt.Chart(charts._rows(rows.dropna()))
            .transform_calculate(
                p_liquidation=f"datum.mode == 'isolated' ? {_P_PARAM} : datum.p",
                expected_loss=f"datum.mode == 'isolated' ? {_EL_PARAM} : datum.el",
                label=f"'current ' + format({LEVERAGE_PARAM}, '.3~g') + 'x'",
            )
            .encode(
                x=alt.X("p_liquidation:Q"),
                y=alt.Y("expected_loss:Q"),
                color=alt.Color("mode:N", scale=charts.mode_scale(), legend=None),
            )
        )
        params = state["params"]
        return _extend(
            base,
            [
                marker.mark_point(size=220, strokeWidth=2.5, filled=False),
                marker.transform_filter("datum.mode == 'isolated'")
                .mark_text(align="left", dx=10, dy=12, fontSize=11, fontWeight=600)
                .encode(text=alt.Text("label:N")),
            ],
            params,
        )

    def _summary_html(self, state: dict[str, Any]) -> str:
        acct: Account = state["account"]
        res: pd.DataFrame = state["result"]
        ccy = acct.settle_currency
        name = self.selected
        move = state["move"]
        days = state["t"] * _DAYS_PER_YEAR
        acct_rows = res[res["position"] == ACCOUNT_ROW].set_index("mode")
        pos_rows = res[res["position"] == name].set_index("mode")
        iso, cross = acct_rows.loc["isolated"], acct_rows.loc["cross"]
        head = (
            f'<div class="mk-head">Margin locked: isolated <b>{_amount(iso["margin_locked"], ccy)}'
            f"</b>, cross <b>{_amount(cross['margin_locked'], ccy)}</b>; return on margin of a "
            f"{100 * move:.3g} % favourable move: isolated {_pct(100 * iso['return_on_margin'])}, "
            f"cross {_pct(100 * cross['return_on_margin'])}.</div>"
        )
        rows = [
            ["margin locked", _amount(iso["margin_locked"], ccy),
             _amount(cross["margin_locked"], ccy)],
            ["free collateral", _amount(iso["free_collateral"], ccy),
             _amount(cross["free_collateral"], ccy)],
            [f"return on margin (+{100 * move:.3g} %)", _pct(100 * iso["return_on_margin"]),
             _pct(100 * cross["return_on_margin"])],
            ["loss if liquidated", _amount(iso["loss_given_liquidation"], ccy),
             _amount(cross["loss_given_liquidation"], ccy)],
        ]  # fmt: skip
        sel = [
            [f"<b>{html.escape(name)}</b> liquidation", _price(pos_rows.loc["isolated",
             "liquidation_price"]), _price(pos_rows.loc["cross", "liquidation_price"])],
            [f"P(liq. within {days:.0f} d)", _prob(pos_rows.loc["isolated", "p_liquidation"]),
             _prob(pos_rows.loc["cross", "p_liquidation"])],
            ["expected loss", _amount(pos_rows.loc["isolated", "expected_loss"], ccy),
             _amount(pos_rows.loc["cross", "expected_loss"], ccy)],
            ["return on its margin", _pct(100 * pos_rows.loc["isolated", "return_on_margin"]),
             _pct(100 * pos_rows.loc["cross", "return_on_margin"])],
        ]  # fmt: skip
        table = _table(["account", _mode_th("isolated"), _mode_th("cross")], rows)
        table2 = _table(["selected position", _mode_th("isolated"), _mode_th("cross")], sel)
        notes = (
            '<div class="mk-note">Isolated: every position isolated, margin = notional at entry '
            "/ leverage, the rest of the wallet free. Cross: every position cross, initial margin "
            "at the mark, the rest of the cross equity available; a cross liquidation takes the "
            f"whole cross equity. P(liquidation): GBM without drift at {self._model_note()}, "
            "closed form; <code>mk.compare</code> simulates the account as a whole.</div>"
        )
        return head + table + table2 + notes


# ----------------------------------------------------------------------------- ReplayPanel
class ReplayPanel(_AccountBased):
    """The account through a crash, or a window of real prices, in the margin engine.

    Source ``"crash"``: every symbol moves by ``move`` (geometrically, from its mark) over
    ``days``, holds there ``hold_days``, then retraces ``recovery`` of the move over
    ``recovery_days`` (the path of :meth:`margin_kit.scenario.StressCase.prices`), sampled at
    up to ``max_steps`` marks. Source ``"history"`` (when ``prices`` is given): ``window_days``
    rows of the prices from ``start``, rebased so each symbol starts at its mark (one series
    drives every symbol by its relative moves; a dict gives each symbol its own).
    :func:`margin_kit.engine.replay` runs both margin modes; the chart is
    :func:`margin_kit.charts.replay_equity`.

    ``result``: one row per mode (``liquidations``, ``margin_calls``, ``first_liquidation``
    step, ``loss``, ``shortfall``, ``min_equity``, ``final_equity``); ``replay_result`` is the
    :class:`~margin_kit.engine.ReplayResult` and ``prices`` the replayed prices.

    Controls: ``position``, ``leverage`` (CSS ``mk-leverage``), ``wallet_balance``, ``move``,
    ``days`` (the speed of the move), ``recovery`` (percent of the move retraced), and with
    ``prices`` also ``source``, ``start`` and ``window_days``.

    Parameters
    ----------
    account : Account, optional
        Default: the default scenario's account.
    prices : Series, OHLC DataFrame or dict of them by symbol, optional
        Real prices (e.g. :func:`margin_kit.prices.load_ohlc`), daily or finer.
    name : str, optional
        The position the leverage slider moves (default the first).
    move, days, hold_days, recovery, recovery_days : float
        The first crash: ``-0.35`` (35 % down) over 2 days, 1 day at the low, half retraced over
        5 days.
    max_steps : int, default 72
        Marks in the crash path (the replay costs about 0.4 ms per step).
    window_days : int, default 60
        First history window length (rows).
    margin_call_ratio : float, default 0.8
    """

    SOURCES = ("crash", "history")

    def __init__(
        self,
        account: Account | None = None,
        prices: Any = None,
        *,
        name: str | None = None,
        move: float = -0.35,
        days: float = 2.0,
        hold_days: float = 1.0,
        recovery: float = 0.5,
        recovery_days: float = 5.0,
        max_steps: int = 72,
        window_days: int = 60,
        margin_call_ratio: float = 0.8,
    ) -> None:
        super().__init__(account, None, None, name)
        if not -1 < float(move) < 10 or move == 0:
            raise InputError("move", move, "a fraction > -1 and not 0 (-0.35: 35 % down)")
        self.hold_days = float(hold_days)
        self.recovery_days = float(recovery_days)
        self.max_steps = int(max_steps)
        self.margin_call_ratio = float(margin_call_ratio)
        self._history = self._prepare(prices) if prices is not None else None
        self._add("move", _slider(100 * float(move), -90, 200, 1, "move (%)", ".0f"))
        self._add("days", _slider(float(days), 0.25, 30, 0.25, "over (days)", ".2f"))
        self._add("recovery", _slider(100 * float(recovery), 0, 100, 5, "retraced (%)", ".0f"))
        if self._history is not None:
            index = next(iter(self._history.values())).index
            n = len(index)
            window = max(2, min(int(window_days), n))
            self._add("source", _toggle(list(self.SOURCES), "history", "prices"))
            labels = [str(t.date()) if hasattr(t, "date") else str(t) for t in index]
            options = list(zip(labels[: n - 1], range(n - 1), strict=True))
            self._add("start", w.SelectionSlider(
                options=options, value=self._worst_start(window), description="window start",
                continuous_update=False, style={"description_width": "110px"},
                layout=w.Layout(width="auto"),
            ))  # fmt: skip
            self._add("window_days", w.IntSlider(
                value=window, min=2, max=min(365, n), step=1, description="window (rows)",
                continuous_update=False, style={"description_width": "110px"},
                layout=w.Layout(width="auto"),
            ))  # fmt: skip
        self._start()

    # ------------------------------------------------------------ prices
    def _prepare(self, prices: Any) -> dict[str, pd.DataFrame]:
        symbols = list(dict.fromkeys(p.symbol for p in self.base_account.positions))
        if isinstance(prices, Mapping):
            missing = [s for s in symbols if s not in prices]
            if missing:
                raise InputError("prices", sorted(prices), f"prices for every symbol {symbols}")
            frames = {s: self._frame(prices[s], f"prices[{s!r}]") for s in symbols}
            index = frames[symbols[0]].index
            for s, f in frames.items():
                if not f.index.equals(index):
                    raise InputError(
                        f"prices[{s!r}]", "its index", "the same times for every symbol"
                    )
            return frames
        frame = self._frame(prices, "prices")
        return {s: frame for s in symbols}

    @staticmethod
    def _frame(value: Any, field: str) -> pd.DataFrame:
        if isinstance(value, pd.Series):
            frame = value.astype(float).to_frame("close")
        elif isinstance(value, pd.DataFrame):
            cols = {c.lower(): c for c in value.columns}
            if "close" not in cols:
                raise InputError(field, list(value.columns), "a Series or an OHLC frame")
            keep = [k for k in ("open", "high", "low", "close") if k in cols]
            if keep != ["close"] and keep != ["open", "high", "low", "close"]:
                keep = ["close"]
            frame = value[[cols[k] for k in keep]].astype(float)
            frame.columns = keep
        else:
            raise InputError(field, type(value).__name__, "a Series or an OHLC DataFrame")
        arr = frame.to_numpy()
        if len(frame) < 2 or not (np.isfinite(arr).all() and (arr > 0).all()):
            raise InputError(field, f"{len(frame)} rows", "2 or more rows of finite prices > 0")
        return frame

    def _worst_start(self, window: int) -> int:
        """The start of a window holding the series' sharpest one-period fall, a few rows in."""
        frame = next(iter(self._history.values()))
        low = frame["low"] if "low" in frame else frame["close"]
        drop = (low / frame["close"].shift(1)).to_numpy()[1:]
        worst = int(np.nanargmin(drop)) + 1
        start = max(0, worst - max(1, window // 4))
        return min(start, len(frame) - 2)

    def _path(self, account: Account) -> dict[str, Any]:
        c = self.controls
        marks = {p.symbol: p.mark_price for p in account.positions}
        if self._history is not None and c["source"].value == "history":
            start, n = int(c["start"].value), int(c["window_days"].value)
            out = {}
            for s, frame in self._history.items():
                part = frame.iloc[start : start + n]
                if len(part) < 2:
                    raise InputError("window_days", n, "a window of 2 or more rows in the data")
                out[s] = part * (marks[s] / float(part["close"].iloc[0]))
            return out
        move = float(c["move"].value) / 100.0
        if move <= -1 or move == 0:
            raise InputError("move", c["move"].value, "a move > -100 % and not 0")
        days = float(c["days"].value)
        rec = float(c["recovery"].value) / 100.0
        total = days + self.hold_days + (self.recovery_days if rec > 0 else 0.0)
        spd = int(max(1, min(24, math.floor(self.max_steps / total))))
        params = {
            "move": move, "days": days, "hold_days": self.hold_days, "recovery": rec,
            "recovery_days": self.recovery_days, "steps_per_day": spd, "symbols": [],
        }  # fmt: skip
        case = scenario.StressCase("crash", "crash", self.margin_call_ratio, params)
        return case.prices(account)

    # ------------------------------------------------------------ compute
    def _sync(self, name: str) -> None:
        super()._sync(name)
        if name == "source":
            crash = self.controls["source"].value == "crash"
            for key in ("move", "days", "recovery"):
                self.controls[key].layout.display = None if crash else "none"
            for key in ("start", "window_days"):
                self.controls[key].layout.display = "none" if crash else None

    def _start(self) -> None:
        if "source" in self.controls:
            self._sync("source")
        super()._start()

    def _compute(self) -> dict[str, Any]:
        acct = self.account
        prices = self._path(acct)
        res = engine.replay(acct, prices, margin_call_ratio=self.margin_call_ratio)
        rows = {}
        for mode in res.modes:
            ev = res.events[res.events["mode"] == mode]
            liq = ev[ev["event"].isin(["liquidation", "partial_liquidation"])]
            eq = res.equity[mode][0]
            rows[mode] = {
                "liquidations": len(liq),
                "margin_calls": int((ev["event"] == "margin_call").sum()),
                "first_liquidation": float(liq["step"].min()) if len(liq) else np.nan,
                "loss": float(liq["loss"].sum()),
                "shortfall": float(liq["shortfall"].fillna(0.0).sum()),
                "min_equity": float(eq.min()),
                "final_equity": float(eq[-1]),
            }
        result = pd.DataFrame(rows).T.rename_axis("mode")
        result = result.astype({k: (int if k in ("liquidations", "margin_calls") else float)
                                for k in result.columns})  # fmt: skip
        result.attrs.update({"steps": len(res.time), "settle_currency": acct.settle_currency})
        equity = res.equity_frame()
        return {"result": result, "chart_data": equity, "replay": res, "account": acct,
                "prices": prices, "figure_inputs": (equity, res.events)}  # fmt: skip

    def _accept(self, state: dict[str, Any]) -> None:
        self.replay_result: engine.ReplayResult = state["replay"]
        self.prices: dict[str, Any] = state["prices"]

    def _make_figure(self, state: dict[str, Any]) -> alt.TopLevelMixin:
        acct: Account = state["account"]
        return charts.replay_equity(state["replay"], currency=acct.settle_currency, width=480,
                                    height=280)  # fmt: skip

    def _source_text(self, state: dict[str, Any]) -> str:
        c = self.controls
        prices = state["prices"]
        first = next(iter(prices.values()))
        n = len(first)
        if self._history is not None and c["source"].value == "history":
            t0, t1 = first.index[0], first.index[-1]
            return (f"{n} rows of real prices, {html.escape(str(t0)[:10])} to "
                    f"{html.escape(str(t1)[:10])}, rebased to the marks")  # fmt: skip
        move = float(c["move"].value)
        return (f"every symbol {move:+.0f} % over {_days_text(float(c['days'].value))}, "
                f"{_days_text(self.hold_days)} at the extreme, "
                f"{float(c['recovery'].value):.0f} % retraced over "
                f"{_days_text(self.recovery_days)} ({n} marks)")  # fmt: skip

    def _summary_html(self, state: dict[str, Any]) -> str:
        acct: Account = state["account"]
        res: pd.DataFrame = state["result"]
        ccy = acct.settle_currency
        modes = list(res.index)
        head = f'<div class="mk-head">Replay: {self._source_text(state)}.</div>'

        time = state["replay"].time

        def when(step: Any) -> str:
            if isinstance(time, pd.DatetimeIndex):
                return str(time[int(step)].date())
            return f"step {int(step)}"

        def first(mode: str) -> str:
            step = res.loc[mode, "first_liquidation"]
            return when(step) if _finite(step) else "none"

        rows = [
            ["liquidations", *(str(int(res.loc[m, "liquidations"])) for m in modes)],
            ["margin calls", *(str(int(res.loc[m, "margin_calls"])) for m in modes)],
            ["first liquidation", *(first(m) for m in modes)],
            ["loss from liquidations", *(_amount(res.loc[m, "loss"], ccy) for m in modes)],
            ["lowest equity", *(_amount(res.loc[m, "min_equity"], ccy) for m in modes)],
            ["final equity", *(_amount(res.loc[m, "final_equity"], ccy) for m in modes)],
        ]
        table = _table(["", *(_mode_th(m) for m in modes)], rows)
        events = state["replay"].events
        liq = events[events["event"].isin(["liquidation", "partial_liquidation"])]
        lines = [
            f"{r.mode}: {html.escape(str(r.position))} at {_price(r.fill_price)} ({when(r.step)})"
            for r in liq.head(6).itertuples()
        ]
        more = f" and {len(liq) - 6} more" if len(liq) > 6 else ""
        listing = (
            '<div class="mk-note">Liquidated: ' + "; ".join(lines) + more + ".</div>"
            if lines
            else '<div class="mk-note">No liquidation in either mode.</div>'
        )
        p = acct.position(self.selected)
        liq = acct.liquidation_prices().loc[p.name, "liquidation_price"]
        start = (
            f"At the start: wallet {_amount(acct.wallet_balance, ccy)}; "
            f"<b>{html.escape(p.name)}</b> {p.leverage:g}x {p.margin_mode}, liquidation "
            f'<span class="mk-liq">{_price(liq)}</span> (mark {_price(p.mark_price)}).'
        )
        return head + table + listing + f'<div class="mk-note">{start}</div>'
