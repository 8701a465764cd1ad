r"""Offline HTML: the scenario report, and notebook exports that open with no network.

:func:`write_report` (``margin-kit report``) answers a scenario file's questions
(:mod:`margin_kit.scenario`) with the package's own numbers and writes **one** HTML file:

* the summary table of :func:`margin_kit.compare` (isolated vs cross, every position and the
  account), sizing answers (:mod:`margin_kit.sizing`), capital efficiency, and stress replays
  (:func:`margin_kit.engine.replay`), each with its charts (:mod:`margin_kit.charts`, drawn by
  vega-embed with tooltips);
* the formulas used, as presentation MathML from :mod:`margin_kit.symbolic` (rendered natively
  by the browser: no script, no font download);
* the inputs (the scenario file as written, the resolved model), the package version, the
  exchange preset's rule and sources, and a timestamp.

The vega/vega-lite/vega-embed bundle (:func:`margin_kit.charts.vega_bundle`) is inlined once in
``<head>``; each chart is a ``<div>`` and its spec as a JSON data block (every ``<`` written as
``\\u003c``, so a label such as ``</script>`` cannot end the block). The page references no URL.
The template is rendered by jinja2 with autoescape on: names from a scenario file are text.
Everything is computed before anything is written, and the file is written atomically, so a bad
scenario leaves nothing behind. The same scenario and seed give the same bytes except the
timestamp (``<time id="generated">``). The vega bundle is cached on disk between runs
(:func:`vega_js`; ``MARGIN_KIT_CACHE`` moves or, set to ``0``, disables the cache).

:func:`export_notebook` (``margin-kit export``) executes a notebook in a fresh kernel with
``MARGIN_KIT_RENDER=static`` (charts become static vega-embed outputs, widget panels show their
last state as HTML and charts), drops the widget state, converts the LaTeX of markdown cells and
``text/latex`` outputs to MathML (``latex2mathml``), and writes HTML with the shipped nbconvert
template ``margin_kit/templates/mk_offline`` (the ``lab`` template without require.js, MathJax,
mermaid or the widget manager, plus the vega bundle once).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import html
import json
import math
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd
from markupsafe import Markup

from margin_kit import __version__, exchanges
from margin_kit._errors import InputError
from margin_kit.account import Account
from margin_kit.compare import ACCOUNT_ROW, compare
from margin_kit.engine import ReplayResult, replay
from margin_kit.risk import asset_columns, fan_frame
from margin_kit.scenario import Scenario, ScenarioError, Simulation, load

__all__ = [
    "SUMMARY_COLUMNS",
    "ExportError",
    "Progress",
    "ReportData",
    "build_report",
    "compute",
    "export_notebook",
    "format_value",
    "latex_to_mathml",
    "render",
    "write_report",
]

#: The columns of the summary table (``id="summary"``): label and display format of each
#: :func:`margin_kit.compare` column. Formats: ``text``; ``money`` and ``price`` ``f"{x:,.2f}"``;
#: ``pct`` (already in percent) ``f"{x:.2f}%"``; ``prob`` and ``ratio`` (fractions)
#: ``f"{100 * x:.2f}%"``; ``sigma`` ``f"{x:.2f}"``. NaN is shown as an en dash.
SUMMARY_COLUMNS: dict[str, tuple[str, str]] = {
    "position": ("position", "text"),
    "mode": ("mode", "text"),
    "symbol": ("symbol", "text"),
    "side": ("side", "text"),
    "mark_price": ("mark", "price"),
    "liquidation_price": ("liquidation price", "price"),
    "distance_pct": ("distance", "pct"),
    "distance_sigma": ("distance (σ√T)", "sigma"),
    "p_liquidation": ("P(liquidation)", "prob"),
    "p_stderr": ("± std. error", "prob"),
    "loss_given_liquidation": ("loss if liquidated", "money"),
    "expected_loss": ("expected loss", "money"),
    "margin_locked": ("margin locked", "money"),
    "free_collateral": ("free collateral", "money"),
    "return_on_margin": ("return on margin", "ratio"),
    "expected_shortfall": ("expected shortfall", "money"),
}
_COLUMN_HELP = {
    "distance_pct": "adverse move from the mark to the liquidation price",
    "distance_sigma": "that move in log terms over sigma * sqrt(horizon)",
    "p_liquidation": "probability of liquidation within the horizon (Monte Carlo)",
    "loss_given_liquidation": "isolated: the position's equity; cross: the cross equity",
    "return_on_margin": "PnL of a favourable move over the margin locked",
    "expected_shortfall": "mean loss in the worst tail of the account's P&L over the horizon",
}
_EMPTY = "–"
_GENERATED = re.compile(r'<time id="generated" datetime="[^"]*">[^<]*</time>')


class ExportError(RuntimeError):
    """A notebook that could not be executed or exported (the message names the cell)."""


# ----------------------------------------------------------------------------- progress
class Progress:
    """A dependency-free progress bar on a terminal stream (stderr by default).

    Silent when ``enabled`` is False or the stream is not a TTY, so pipes, CI logs and tests
    see nothing.

    Parameters
    ----------
    total : int
        Number of steps.
    enabled : bool, default True
        False for ``--quiet``.
    stream : file, optional
        Where to draw; default ``sys.stderr``.
    width : int, default 24
        Bar width in characters.
    """

    def __init__(
        self, total: int, *, enabled: bool = True, stream: TextIO | None = None, width: int = 24
    ) -> None:
        self.total = max(1, int(total))
        self.done = 0
        self.stream = sys.stderr if stream is None else stream
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = bool(enabled and callable(isatty) and isatty())
        self.width = width
        self._start = time.perf_counter()

    def step(self, label: str) -> None:
        """Announce the step about to run (the bar shows the steps completed so far)."""
        self._draw(label)

    def advance(self, label: str = "") -> None:
        """Mark one step done."""
        self.done = min(self.total, self.done + 1)
        self._draw(label)

    def close(self) -> None:
        """Finish the line."""
        if self.enabled:
            self._draw("done")
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, label: str) -> None:
        if not self.enabled:
            return
        filled = round(self.width * self.done / self.total)
        bar = "#" * filled + "." * (self.width - filled)
        secs = time.perf_counter() - self._start
        self.stream.write(f"\r[{bar}] {self.done}/{self.total} {secs:5.1f}s {label[:40]:<40}")
        self.stream.flush()


# ----------------------------------------------------------------------------- formatting
def format_value(value: Any, kind: str) -> str:
    """Display text of one table value (the formats of :data:`SUMMARY_COLUMNS`)."""
    if kind == "text":
        return "" if value is None else str(value)
    if kind == "int":
        return f"{int(value):,d}"
    x = float(value)
    if math.isnan(x):
        return _EMPTY
    if kind in ("money", "price"):
        return f"{x:,.2f}"
    if kind == "pct":
        return f"{x:.2f}%"
    if kind in ("prob", "ratio"):
        return f"{100 * x:.2f}%"
    if kind == "sigma":
        return f"{x:.2f}"
    if kind == "lev":
        return f"{x:.2f}x"
    if kind == "days":
        return f"{x:.2f}"
    raise InputError("kind", kind, "a format of SUMMARY_COLUMNS")


def _cell(value: Any, kind: str, col: str, css: str = "") -> dict[str, Any]:
    numeric = kind not in ("text",)
    data = None
    if numeric and value is not None:
        x = float(value)
        data = "nan" if math.isnan(x) else repr(x)
    classes = " ".join(c for c in (("num" if numeric else ""), css) if c)
    return {"text": format_value(value, kind), "value": data, "col": col, "css": classes}


def _table(
    table_id: str,
    frame: pd.DataFrame,
    columns: Sequence[tuple[str, str, str]],
    *,
    caption: str = "",
    row_css: Callable[[pd.Series], str] | None = None,
    cell_css: Callable[[str, Any], str] | None = None,
    titles: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A table block: ``columns`` are ``(key, label, kind)``; cells carry exact data-values."""
    titles = titles or {}
    cols = [
        {"key": k, "label": label, "css": "" if kind == "text" else "num", "title": titles.get(k)}
        for k, label, kind in columns
    ]
    rows = []
    for _, r in frame.iterrows():
        cells = [
            _cell(r[k], kind, k, cell_css(k, r[k]) if cell_css else "") for k, _, kind in columns
        ]
        rows.append({"cells": cells, "css": row_css(r) if row_css else ""})
    return {
        "kind": "table",
        "id": table_id,
        "caption": caption,
        "columns": cols,
        "rows": rows,
        "css": "data",
    }


def _mode_css(col: str, value: Any) -> str:
    return f"mode-{value}" if col == "mode" and value in ("isolated", "cross") else ""


def _script_json(obj: Any) -> Markup:
    r"""JSON for a ``<script type="application/json">`` block: ``<``, ``>``, ``&`` escaped.

    ``\\u003c`` etc. are JSON escapes, so ``JSON.parse`` restores them, while no ``</script>``
    or ``<!--`` can appear in the page source.
    """
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return Markup(text)


# ----------------------------------------------------------------------------- compute
@dataclass(frozen=True, eq=False)
class ReportData:
    """Everything the report shows, computed before any HTML is written.

    Attributes
    ----------
    scenario : Scenario
    simulation : Simulation
        With ``--seed`` / ``--paths`` overrides applied.
    table : DataFrame or None
        :func:`margin_kit.compare`'s table (None when the ``compare`` and ``efficiency``
        sections are both off).
    sizing : DataFrame or None
        One row per position and target.
    crossover : DataFrame or None
        Per position: the wallet above which cross has the lower expected loss.
    efficiency : DataFrame or None
        Per position: margin locked in each mode and the isolated margin matching cross.
    stress : list of (StressCase, ReplayResult, DataFrame)
        Each case, its replay and its per-mode summary.
    charts : dict of str to dict
        Chart specs (Vega-Lite dicts) by key.
    derivations : list
        :class:`margin_kit.symbolic.Derivation` objects shown under "Formulas".
    """

    scenario: Scenario
    simulation: Simulation
    table: pd.DataFrame | None = None
    sizing: pd.DataFrame | None = None
    crossover: pd.DataFrame | None = None
    efficiency: pd.DataFrame | None = None
    stress: list[tuple[Any, ReplayResult, pd.DataFrame]] = field(default_factory=list)
    charts: dict[str, dict[str, Any]] = field(default_factory=dict)
    derivations: list[Any] = field(default_factory=list)


def _vols(account: Account, model: Any) -> dict[str, float]:
    columns, _ = asset_columns(account, model)
    vol = model.annual_vol()
    return {s: float(vol[c]) for s, c in columns.items()}


def _chart_spec(chart: Any) -> dict[str, Any]:
    """The Vega-Lite dict of an altair chart, data inlined.

    Not re-validated here (altair's schema validation costs ~0.13 s a chart, half the report's
    time): the builders are validated by their own tests, and the report's tests validate every
    spec of the default report against the Vega-Lite schema.
    """
    import altair as alt

    with alt.data_transformers.disable_max_rows():
        return chart.to_dict(validate=False)


def _sizing_frames(
    sc: Scenario, sim: Simulation, vols: dict[str, float]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    from margin_kit import sizing
    from margin_kit.compare import max_leverage

    rows, cross_rows = [], []
    acct = sc.account
    for p in acct.positions:
        spec = p.market.spec
        kw = {"contract": spec.contract, "contract_size": spec.contract_size}
        tier_max = float(max_leverage(acct, p.name))
        targets = [("probability", a) for a in sc.sizing.probability]
        targets += [("distance", d) for d in sc.sizing.distance]
        for kind, x in targets:
            if kind == "probability":
                lev = float(
                    sizing.max_leverage_for_probability(
                        p.side,
                        p.entry_price,
                        p.qty,
                        p.market.tiers,
                        vol=vols[p.symbol],
                        horizon=sim.horizon,
                        alpha=x,
                        **kw,
                    )
                )
                label = f"P(liquidation within {sim.horizon_days:g} days) ≤ {100 * x:g}%"
            else:
                lev = float(
                    sizing.max_leverage_for_distance(
                        p.side, p.entry_price, p.qty, x, p.market.tiers, **kw
                    )
                )
                label = f"liquidation ≥ {100 * x:g}% from entry"
            usable = min(lev, tier_max)
            rows.append(
                {
                    "position": p.name,
                    "symbol": p.symbol,
                    "side": p.side,
                    "target": label,
                    "max_leverage": lev,
                    "tier_max_leverage": tier_max,
                    "usable_leverage": usable,
                    "leverage": p.leverage,
                    "meets": "yes" if p.leverage <= usable else "no",
                }
            )
        wallet = sizing.crossover_wallet(p, vol=vols[p.symbol], horizon=sim.horizon)
        cross_rows.append(
            {
                "position": p.name,
                "symbol": p.symbol,
                "side": p.side,
                "initial_margin": p.initial_margin,
                "crossover_wallet": wallet,
                "cross_wallet": acct.cross_wallet_balance
                + (p.isolated_margin if p.margin_mode == "isolated" else 0.0),
            }
        )
    return pd.DataFrame(rows), pd.DataFrame(cross_rows)


def _efficiency_frame(sc: Scenario, table: pd.DataFrame) -> pd.DataFrame:
    from margin_kit import sizing

    rows = []
    pos = table[table["position"] != ACCOUNT_ROW].set_index(["position", "mode"])
    for p in sc.account.positions:
        try:
            match = sizing.isolated_margin_matching_cross(sc.account, p.name)
        except InputError:
            match = float("nan")
        rows.append(
            {
                "position": p.name,
                "margin_isolated": float(pos.loc[(p.name, "isolated"), "margin_locked"]),
                "margin_cross": float(pos.loc[(p.name, "cross"), "margin_locked"]),
                "liq_isolated": float(pos.loc[(p.name, "isolated"), "liquidation_price"]),
                "liq_cross": float(pos.loc[(p.name, "cross"), "liquidation_price"]),
                "isolated_margin_matching_cross": match,
            }
        )
    return pd.DataFrame(rows)


def _stress_summary(res: ReplayResult, account: Account) -> pd.DataFrame:
    rows = []
    start = account.wallet_balance + sum(p.unrealized_pnl() for p in account.positions)
    for mode in res.modes:
        ev = res.events[res.events["mode"] == mode]
        liq = ev[ev["event"].isin(("liquidation", "partial_liquidation"))]
        calls = ev[ev["event"] == "margin_call"]
        eq = res.equity[mode][0]
        first = _when(liq["time"].iloc[0]) if len(liq) else _EMPTY
        rows.append(
            {
                "mode": mode,
                "liquidations": len(liq),
                "liquidated": ", ".join(dict.fromkeys(liq["position"])) or "none",
                "margin_calls": len(calls),
                "first_liquidation": first,
                "loss_realised": float(liq["loss"].sum()) if len(liq) else 0.0,
                "shortfall": float(liq["shortfall"].sum()) if len(liq) else 0.0,
                "equity_start": start,
                "equity_min": float(np.min(eq)),
                "equity_end": float(eq[-1]),
            }
        )
    return pd.DataFrame(rows)


def _when(t: Any) -> str:
    """A replay time as text: a date, or ``day x.xx`` for a synthetic path."""
    if isinstance(t, pd.Timestamp | _dt.datetime | np.datetime64):
        ts = pd.Timestamp(t)
        return ts.isoformat(sep=" ") if (ts.hour or ts.minute) else str(ts.date())
    return f"day {float(t):.2f}"


def compute(
    scenario: Scenario,
    *,
    seed: int | None = None,
    paths: int | None = None,
    progress: Progress | None = None,
) -> ReportData:
    """Run the scenario's questions: compare, sizing, efficiency, stress, charts, formulas.

    Parameters
    ----------
    scenario : Scenario
        From :func:`margin_kit.scenario.load`; needs ``[model]`` and ``[simulation]``.
    seed, paths : int, optional
        Override ``simulation.seed`` / ``simulation.paths``.
    progress : Progress, optional
        Advanced once per step.

    Returns
    -------
    ReportData

    Raises
    ------
    ScenarioError
        A scenario without a model or simulation settings, or a bad override.
    """
    from margin_kit import charts, symbolic
    from margin_kit.compare import leverage_sweep, price_levels, price_sweep

    model, sim = scenario.require_model()
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ScenarioError(scenario.path, "--seed", seed, "an integer >= 0")
        sim = Simulation(sim.horizon_days, sim.paths, seed, sim.steps_per_day)
    if paths is not None:
        if isinstance(paths, bool) or not isinstance(paths, int) or paths < 2:
            raise ScenarioError(scenario.path, "--paths", paths, "an integer >= 2")
        sim = Simulation(sim.horizon_days, paths, sim.seed, sim.steps_per_day)
    prog = progress or Progress(1, enabled=False)
    acct = scenario.account
    sections = scenario.sections
    ccy = acct.settle_currency
    vols = _vols(acct, model)
    specs: dict[str, dict[str, Any]] = {}

    table = None
    if "compare" in sections or "efficiency" in sections:
        prog.step("compare: isolated vs cross (Monte Carlo)")
        table = compare(
            acct,
            model,
            sim.horizon,
            paths=sim.paths,
            steps=sim.steps,
            seed=sim.seed,
            funding_rate=scenario.funding_rate,
            **scenario.compare_options,
        )
        table.attrs["settle_currency"] = ccy
        prog.advance()
    if "compare" in sections:
        prog.step("compare: charts")
        specs["comparison"] = _chart_spec(charts.comparison(table))
        marks = {p.symbol: p.mark_price for p in acct.positions}
        for i, (sym, mark) in enumerate(marks.items()):
            fan = fan_frame(
                model,
                mark,
                sim.horizon,
                paths=2_000,
                seed=sim.seed,
                symbol=sym if model.symbols is not None else None,
            )
            first = next(p for p in acct.positions if p.symbol == sym)
            levels = price_levels(acct, first.name)
            barriers = levels.reset_index()[["mode", "liquidation_price"]]
            specs[f"fan-{i}"] = _chart_spec(
                charts.path_fan(
                    fan,
                    barriers,
                    title=f"{sym}: simulated prices over {sim.horizon_days:g} days "
                    f"and {first.name}'s liquidation prices",
                )
            )
        for i, p in enumerate(acct.positions):
            specs[f"equity-{i}"] = _chart_spec(charts.equity_vs_price(price_sweep(acct, p.name)))
        prog.advance()
    sizing_frame = crossover = None
    if "sizing" in sections:
        prog.step("sizing: leverage targets and sweeps")
        sizing_frame, crossover = _sizing_frames(scenario, sim, vols)
        for i, p in enumerate(acct.positions):
            sweep = leverage_sweep(
                acct,
                p.name,
                _leverages(acct, p.name),
                vol=vols[p.symbol],
                horizon=sim.horizon,
            )
            specs[f"liq-lev-{i}"] = _chart_spec(charts.liquidation_vs_leverage(sweep))
            specs[f"prob-lev-{i}"] = _chart_spec(charts.probability_vs_leverage(sweep))
            specs[f"frontier-{i}"] = _chart_spec(charts.loss_frontier(sweep))
        prog.advance()
    efficiency = None
    if "efficiency" in sections:
        prog.step("capital efficiency")
        efficiency = _efficiency_frame(scenario, table)
        specs["capital"] = _chart_spec(charts.capital_usage(table, currency=ccy))
        prog.advance()
    stress = []
    if "stress" in sections:
        for i, case in enumerate(scenario.stress):
            prog.step(f"stress: {case.name}")
            res = replay(acct, case.prices(acct), margin_call_ratio=case.margin_call_ratio)
            stress.append((case, res, _stress_summary(res, acct)))
            specs[f"replay-{i}"] = _chart_spec(
                charts.replay_equity(res, currency=ccy, title=f"Stress replay: {case.name}")
            )
            prog.advance()
    prog.step("formulas and exchange rules")
    contract = scenario.account.positions[0].market.spec.contract
    sides = list(dict.fromkeys(p.side for p in acct.positions))
    derivations = [
        symbolic.derive("liquidation", mode, side, contract)
        for mode in ("isolated", "cross")
        for side in sides
    ]
    for i, sym in enumerate(dict.fromkeys(p.symbol for p in acct.positions)):
        market = next(p.market for p in acct.positions if p.symbol == sym)
        specs[f"tiers-{i}"] = _chart_spec(
            charts.tier_ladder(
                market.tiers, title=f"{sym}: maintenance tiers ({scenario.exchange})"
            )
        )
    prog.advance()
    return ReportData(
        scenario, sim, table, sizing_frame, crossover, efficiency, stress, specs, derivations
    )


def _leverages(account: Account, name: str, n: int = 80) -> np.ndarray:
    """Geometric leverage grid over :func:`margin_kit.compare.leverage_bounds`, plus the own.

    Dense at low leverage, where the liquidation price moves fastest.
    """
    from margin_kit.compare import leverage_bounds

    lo, hi = leverage_bounds(account, name)
    lo = max(1.0, lo * (1 + 1e-9))
    grid = np.geomspace(lo, max(lo, hi), n)
    own = account.position(name).leverage
    return np.unique(np.append(grid, own) if lo <= own <= hi else grid)


# ----------------------------------------------------------------------------- formulas
#: The risk formulas behind the report's numbers: (title, LaTeX lines, note).
RISK_FORMULAS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    (
        "Probability that GBM reaches a barrier B below the spot S within T (closed form)",
        (
            r"P_{\downarrow} = \Phi\left(\frac{b - \nu T}{\sigma\sqrt{T}}\right)"
            r" + e^{2 \nu b / \sigma^{2}}\,\Phi\left(\frac{b + \nu T}{\sigma\sqrt{T}}\right)",
            r"b = \ln\frac{B}{S}, \qquad \nu = \mu - \frac{\sigma^{2}}{2}",
        ),
        "Φ is the standard normal CDF, μ the drift and σ the annual volatility; a barrier above "
        "the spot mirrors it. Used by the sizing targets and the leverage sweeps "
        "(margin_kit.risk.hit_probability).",
    ),
    (
        "Brownian-bridge correction between two simulated log prices",
        (
            r"p_{i} = \exp\left(-\frac{2\,(b - x_{i-1})(b - x_{i})}{\sigma^{2}\,\Delta t}\right),"
            r" \qquad \hat{P} = \frac{1}{n}\sum_{\text{paths}}"
            r" \left(1 - \prod_{i}(1 - p_{i})\right)",
        ),
        "The probability that a path touched the log barrier b between two steps; the Monte "
        "Carlo P(liquidation) averages it over paths (margin_kit.risk).",
    ),
    (
        "Expected loss and expected shortfall",
        (
            r"\mathrm{EL} = P(\text{liquidation within } T) \cdot \mathrm{LGL}",
            r"\mathrm{ES}_{\alpha} = \text{mean loss of the worst } (1 - \alpha)"
            r" \text{ of simulated outcomes}",
        ),
        "LGL: the isolated position's equity, or the cross account's equity (a cross "
        "liquidation closes every cross position); ES of the account's P&L over the horizon, "
        "liquidations applied along each path (margin_kit.compare).",
    ),
)


def _risk_formulas() -> list[tuple[str, str, str]]:
    """(title, MathML, note) of :data:`RISK_FORMULAS`."""
    return [
        (title, "".join(latex_to_mathml(tex, display=True) for tex in lines), note)
        for title, lines, note in RISK_FORMULAS
    ]


# ----------------------------------------------------------------------------- render
def _versions() -> list[tuple[str, str]]:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for name in ("numpy", "pandas", "scipy", "sympy", "altair", "vl-convert-python"):
        try:
            out.append((name, version(name)))
        except PackageNotFoundError:  # pragma: no cover - all are dependencies
            continue
    from altair.vegalite.v6.display import VEGAEMBED_VERSION, VEGALITE_VERSION

    out += [("Vega-Lite", VEGALITE_VERSION), ("vega-embed", VEGAEMBED_VERSION)]
    return out


def _chart(key: str, data: ReportData, title: str, caption: str = "") -> dict[str, Any]:
    return {
        "kind": "chart",
        "id": f"chart-{key}",
        "spec": _script_json(data.charts[key]),
        "title": title,
        "caption": caption,
    }


def _summary_cards(table: pd.DataFrame, ccy: str) -> dict[str, Any]:
    cards = []
    for mode in ("isolated", "cross"):
        rows = table[(table["position"] == ACCOUNT_ROW) & (table["mode"] == mode)]
        if rows.empty:
            continue
        r = rows.iloc[0]
        items = [
            ("P(any liquidation)", format_value(r["p_liquidation"], "prob")),
            (f"expected loss ({ccy})", format_value(r["expected_loss"], "money")),
            (f"expected shortfall ({ccy})", format_value(r["expected_shortfall"], "money")),
            (f"margin locked ({ccy})", format_value(r["margin_locked"], "money")),
            (f"free collateral ({ccy})", format_value(r["free_collateral"], "money")),
            ("return on margin", format_value(r["return_on_margin"], "ratio")),
        ]
        cards.append({"title": f"all {mode}", "css": f"mode-{mode}", "items": items})
    return {"kind": "cards", "cards": cards}


def _sections(data: ReportData) -> list[dict[str, Any]]:
    sc, sim, ccy = data.scenario, data.simulation, data.scenario.account.settle_currency
    acct = sc.account
    out: list[dict[str, Any]] = []
    horizon = f"{sim.horizon_days:g} days"
    if data.table is not None and "compare" in sc.sections:
        blocks: list[dict[str, Any]] = [
            {
                "kind": "text",
                "text": (
                    f"Every position evaluated with the account all-isolated (each position's own "
                    f"margin) and all-cross (one shared wallet), over {horizon} under the "
                    f"{sc.model_inputs.get('kind', '')} model with {sim.paths:,d} Monte Carlo "
                    "paths "
                    f"(seed {sim.seed}). Amounts in {ccy}; losses are positive and measured from "
                    "the "
                    f"current marks. The rows '{ACCOUNT_ROW}' are the whole account."
                ),
            },
            _summary_cards(data.table, ccy),
            _table(
                "summary",
                data.table,
                [(k, label, kind) for k, (label, kind) in SUMMARY_COLUMNS.items()],
                caption=f"margin_kit.compare: isolated vs cross over {horizon}",
                row_css=lambda r: "account" if r["position"] == ACCOUNT_ROW else "",
                cell_css=_mode_css,
                titles=_COLUMN_HELP,
            ),
            _chart("comparison", data, "P(liquidation) and distance by position"),
        ]
        for key in sorted(k for k in data.charts if k.startswith("fan-")):
            blocks.append(_chart(key, data, "Monte Carlo price fan"))
        blocks.append({"kind": "heading", "text": "Equity and maintenance margin against price"})
        for i, _p in enumerate(acct.positions):
            blocks.append(_chart(f"equity-{i}", data, "equity vs price"))
        out.append({"id": "compare", "title": "Isolated vs cross", "blocks": blocks})
    if data.sizing is not None:
        blocks = [
            {
                "kind": "text",
                "text": (
                    "Highest initial leverage per position that meets each target, solved (not "
                    "scanned) over the tier table: the probability targets use GBM with the "
                    "model's "
                    f"volatility of the symbol, no drift, over {horizon}, from the entry price; "
                    "'usable' is capped by the tier's maximum leverage. 'meets' compares the "
                    "position's own leverage."
                ),
            },
            _table(
                "sizing",
                data.sizing,
                [
                    ("position", "position", "text"),
                    ("target", "target", "text"),
                    ("max_leverage", "max leverage (solved)", "lev"),
                    ("tier_max_leverage", "tier max", "lev"),
                    ("usable_leverage", "usable", "lev"),
                    ("leverage", "current", "lev"),
                    ("meets", "current meets", "text"),
                ],
                caption="margin_kit.sizing: leverage for a target",
                cell_css=lambda c, v: ("good" if v == "yes" else "bad") if c == "meets" else "",
            ),
            {
                "kind": "text",
                "text": (
                    "Cross or isolated? For one position alone, cross margin has the lower "
                    "expected "
                    "loss once the wallet behind it exceeds the crossover wallet (GBM, same "
                    "horizon; "
                    "margin_kit.sizing.crossover_wallet)."
                ),
            },
            _table(
                "crossover",
                data.crossover,
                [
                    ("position", "position", "text"),
                    ("initial_margin", f"initial margin ({ccy})", "money"),
                    ("crossover_wallet", f"crossover wallet ({ccy})", "money"),
                    ("cross_wallet", f"cross wallet available ({ccy})", "money"),
                ],
                caption="wallet above which cross has the lower expected loss",
            ),
        ]
        for i, p in enumerate(acct.positions):
            blocks.append({"kind": "heading", "text": f"{p.name}: leverage"})
            blocks.append(_chart(f"liq-lev-{i}", data, "liquidation price vs leverage"))
            blocks.append(_chart(f"prob-lev-{i}", data, "P(liquidation) vs leverage"))
            blocks.append(_chart(f"frontier-{i}", data, "expected loss vs P(liquidation)"))
        out.append({"id": "sizing", "title": "Sizing", "blocks": blocks})
    if data.efficiency is not None:
        acc = data.table[data.table["position"] == ACCOUNT_ROW]
        blocks = [
            {
                "kind": "text",
                "text": (
                    "Capital locked as margin and what stays free, per mode. Cross margin locks "
                    "the "
                    "initial margin at the mark but lets every position draw on the whole wallet; "
                    "'isolated margin matching cross' is the isolated margin that would give the "
                    "position the liquidation price it has in cross (margin_kit.sizing)."
                ),
            },
            _table(
                "efficiency-account",
                acc,
                [
                    ("mode", "mode", "text"),
                    ("margin_locked", f"margin locked ({ccy})", "money"),
                    ("free_collateral", f"free collateral ({ccy})", "money"),
                    ("return_on_margin", "return on margin", "ratio"),
                    ("expected_loss", f"expected loss ({ccy})", "money"),
                    ("expected_shortfall", f"expected shortfall ({ccy})", "money"),
                ],
                caption="the account, per mode",
                cell_css=_mode_css,
            ),
            _table(
                "efficiency",
                data.efficiency,
                [
                    ("position", "position", "text"),
                    ("margin_isolated", f"margin isolated ({ccy})", "money"),
                    ("margin_cross", f"margin cross ({ccy})", "money"),
                    ("liq_isolated", "liquidation isolated", "price"),
                    ("liq_cross", "liquidation cross", "price"),
                    (
                        "isolated_margin_matching_cross",
                        f"isolated margin matching cross ({ccy})",
                        "money",
                    ),
                ],
                caption="per position",
            ),
            _chart("capital", data, "capital usage"),
        ]
        out.append({"id": "efficiency", "title": "Capital efficiency", "blocks": blocks})
    if data.stress:
        blocks = [
            {
                "kind": "text",
                "text": (
                    "Each case replayed through the margin engine (margin_kit.engine.replay) in "
                    "both "
                    "modes: positions open at their entry prices, marks follow the case's path, "
                    "margin "
                    "calls and liquidations are logged, and a liquidation realises its loss "
                    "(beyond "
                    "bankruptcy the insurance fund takes the shortfall)."
                ),
            }
        ]
        for i, (case, _res, summary) in enumerate(data.stress):
            blocks.append({"kind": "heading", "text": case.name})
            blocks.append({"kind": "text", "css": "note", "text": _describe_case(case)})
            blocks.append(
                _table(
                    f"stress-{i}",
                    summary,
                    [
                        ("mode", "mode", "text"),
                        ("liquidations", "liquidations", "int"),
                        ("liquidated", "liquidated", "text"),
                        ("margin_calls", "margin calls", "int"),
                        ("first_liquidation", "first liquidation", "text"),
                        ("loss_realised", f"loss realised ({ccy})", "money"),
                        ("shortfall", f"beyond bankruptcy ({ccy})", "money"),
                        ("equity_start", f"equity at start ({ccy})", "money"),
                        ("equity_min", f"lowest equity ({ccy})", "money"),
                        ("equity_end", f"equity at end ({ccy})", "money"),
                    ],
                    caption=f"stress replay: {case.name}",
                    cell_css=_mode_css,
                )
            )
            blocks.append(_chart(f"replay-{i}", data, f"stress replay {case.name}"))
        out.append({"id": "stress", "title": "Stress replay", "blocks": blocks})
    out.append(_formulas_section(data))
    out.append(_inputs_section(data))
    out.append(_exchange_section(data))
    return out


def _describe_case(case: Any) -> str:
    p = case.params
    if case.kind == "crash":
        who = ", ".join(p["symbols"]) if p["symbols"] else "every symbol"
        text = (
            f"{who}: {100 * p['move']:+g}% over {p['days']:g} days, "
            f"{p['steps_per_day']} marks a day"
        )
        if p["hold_days"]:
            text += f", then {p['hold_days']:g} days at the extreme"
        if p["recovery"]:
            text += (
                f", then {100 * p['recovery']:g}% of the move retraced over "
                f"{p['recovery_days']:g} days"
            )
        return text + f"; margin call at MM / equity ≥ {case.margin_call_ratio:g}."
    csv = (
        p["csv"]
        if isinstance(p["csv"], str)
        else ", ".join(f"{k}: {v}" for k, v in p["csv"].items())
    )
    rebased = "rebased to the current marks" if p["rebase"] else "as recorded"
    return (
        f"OHLC history from {csv}, {p['first']} to {p['last']} ({p['rows']} rows), "
        f"{rebased}; highs and lows are checked within each period."
    )


def _formulas_section(data: ReportData) -> dict[str, Any]:
    preset = exchanges.get(data.scenario.exchange)
    intro = (
        "The liquidation prices above are evaluated numerically from the margin condition "
        "equity = maintenance margin. These are its closed forms, derived with sympy for the "
        "account's contract type, both modes and each side held (margin_kit.symbolic), with the "
        "maintenance rate m and amount A of the tier the price falls in."
    )
    if preset.tier_basis != "mark" or preset.close_fee_rate:
        fee = f", fee to close {preset.close_fee_rate:g}" if preset.close_fee_rate else ""
        intro += (
            f" {preset.exchange}'s rule differs in the maintenance term (tier by "
            f"{preset.tier_basis}{fee}): the report's numbers follow that rule (see Exchange "
            "rules and sources); the forms below show the general condition."
        )
    intro += (
        " Symbols: s side (+1 long, −1 short), E entry price, q quantity, c contract size, C "
        "collateral (isolated margin, or the cross wallet), m maintenance margin rate, A "
        "maintenance amount, MM_o and U_o the other cross positions' maintenance margin and "
        "unrealised PnL."
    )
    blocks: list[dict[str, Any]] = [{"kind": "text", "text": intro}]
    for d in data.derivations:
        blocks.append({"kind": "html", "html": Markup(d.mathml())})
    blocks.append({"kind": "heading", "text": "Risk"})
    for title, mathml, note in _risk_formulas():
        blocks.append(
            {
                "kind": "html",
                "html": Markup(
                    f'<div class="formula"><p class="title">{html.escape(title)}</p>{mathml}'
                    f'<p class="note">{html.escape(note)}</p></div>'
                ),
            }
        )
    return {"id": "formulas", "title": "Formulas", "blocks": blocks}


def _inputs_section(data: ReportData) -> dict[str, Any]:
    sc, sim = data.scenario, data.simulation
    frame = sc.account.frame().reset_index()
    model_rows = pd.DataFrame(
        [{"field": k, "value": _plain(v)} for k, v in sc.model_inputs.items()]
        + [
            {"field": "horizon_days", "value": f"{sim.horizon_days:g}"},
            {"field": "paths", "value": f"{sim.paths:,d}"},
            {"field": "seed", "value": str(sim.seed)},
            {
                "field": "steps_per_day",
                "value": "daily" if sim.steps_per_day is None else str(sim.steps_per_day),
            },
        ]
    )
    ccy = sc.account.settle_currency
    blocks = [
        {
            "kind": "text",
            "text": (
                f"Account '{sc.account.name or 'account'}' on {sc.exchange}: wallet "
                f"{format_value(sc.account.wallet_balance, 'money')} {ccy}, "
                f"{len(sc.account)} positions."
            ),
        },
        _table(
            "positions",
            frame,
            [
                ("position", "position", "text"),
                ("symbol", "symbol", "text"),
                ("side", "side", "text"),
                ("mode", "mode", "text"),
                ("qty", "qty", "sigma"),
                ("entry_price", "entry", "price"),
                ("mark_price", "mark", "price"),
                ("leverage", "leverage", "lev"),
                ("notional", f"notional ({ccy})", "money"),
                ("initial_margin", f"initial margin ({ccy})", "money"),
                ("unrealized_pnl", f"unrealised PnL ({ccy})", "money"),
                ("maint_margin", f"maintenance margin ({ccy})", "money"),
            ],
            caption="positions",
            cell_css=_mode_css,
        ),
        _table(
            "model",
            model_rows,
            [("field", "field", "text"), ("value", "value", "text")],
            caption="price model and simulation (as used)",
        ),
        {"kind": "heading", "text": f"Scenario file: {Path(sc.path).name}"},
        {"kind": "pre", "text": _scenario_text(sc)},
    ]
    return {"id": "inputs", "title": "Inputs", "blocks": blocks}


def _plain(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} = {_plain(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "[" + ", ".join(_plain(v) for v in value) + "]"
    return str(value)


def _scenario_text(sc: Scenario) -> str:
    try:
        return Path(sc.path).read_text("utf-8")
    except OSError:  # pragma: no cover - the file was just read by load()
        return ""


def _exchange_section(data: ReportData) -> dict[str, Any]:
    sc = data.scenario
    preset = exchanges.get(sc.exchange)
    blocks: list[dict[str, Any]] = [
        {
            "kind": "text",
            "text": (
                f"{preset.exchange} {preset.market_type} (preset '{preset.name}'): "
                f"{preset.contract} "
                f"contracts settled in {preset.settle_currency}; maintenance tier chosen by "
                f"{preset.tier_basis}; fee to close {preset.close_fee_rate:g}; liquidation "
                f"{preset.liquidation}."
            ),
        },
        {"kind": "text", "text": preset.rule_notes},
        {"kind": "heading", "text": "Sources"},
        {
            "kind": "list",
            "entries": [
                f"{s.title}. {s.url} (retrieved {s.retrieved}){': ' + s.what if s.what else ''}"
                for s in preset.sources
            ],
        },
        {
            "kind": "list",
            "entries": [
                f"{sym}: tiers as of {preset.symbol_info.get(sym, {}).get('as_of', '?')}; "
                f"{preset.symbol_info.get(sym, {}).get('source', '')}"
                for sym in dict.fromkeys(p.symbol for p in sc.account.positions)
            ],
        },
    ]
    for key in sorted(k for k in data.charts if k.startswith("tiers-")):
        blocks.append(_chart(key, data, "tier ladder"))
    return {"id": "exchange", "title": "Exchange rules and sources", "blocks": blocks}


def _cache_dir() -> Path | None:
    """Where the vega bundle is cached between runs (None: caching off).

    ``$MARGIN_KIT_CACHE`` if set (``"0"`` or empty turns caching off), else
    ``$XDG_CACHE_HOME/margin_kit`` or ``~/.cache/margin_kit``.
    """
    env = os.environ.get("MARGIN_KIT_CACHE")
    if env is not None:
        return Path(env) if env.strip() not in ("", "0") else None
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "margin_kit"


def vega_js() -> str:
    """The vega bundle to inline (:func:`margin_kit.charts.vega_bundle`), cached on disk.

    Building it costs vl-convert about 1.4 s per process; the file cache (keyed by the
    vl-convert and Vega-Lite versions, so an upgrade rebuilds it) makes later runs of
    ``margin-kit report`` skip that. The cache is an optimisation only: any problem reading or
    writing it falls back to building the bundle. ``</script`` cannot occur in the result.
    """
    from importlib.metadata import version

    from altair.vegalite.v6.display import VEGALITE_VERSION

    from margin_kit import charts

    key = f"vega-bundle-{version('vl-convert-python')}-vl{VEGALITE_VERSION}.js"
    folder = _cache_dir()
    file = folder / key if folder is not None else None
    if file is not None:
        try:
            cached = file.read_text("utf-8")
            if cached.startswith("(function(){") and cached.rstrip().endswith("})();"):
                return cached
        except OSError:
            pass
    bundle = charts.vega_bundle().replace("</script", "<\\/script")
    if file is not None:
        with contextlib.suppress(OSError):
            _atomic_write(file, bundle)
    return bundle


def _environment() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_templates() / "report")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def _templates() -> Path:
    return Path(str(resources.files("margin_kit").joinpath("templates")))


def render(data: ReportData, *, generated: str | None = None) -> str:
    """The report's HTML for computed ``data``.

    Parameters
    ----------
    data : ReportData
        From :func:`compute`.
    generated : str, optional
        The timestamp shown (ISO 8601); default now, UTC, to the second.

    Returns
    -------
    str
        One self-contained HTML document.
    """
    from margin_kit import charts

    sc, sim = data.scenario, data.simulation
    if generated is None:
        generated = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    raw = Path(sc.path).read_bytes() if Path(sc.path).is_file() else b""
    kind = sc.model_inputs.get("kind", "")
    title = sc.title or f"margin_kit report: {sc.account.name or 'account'}"
    subtitle = (
        f"{sc.account.name or 'account'} on {sc.exchange} · {len(sc.account)} positions · "
        f"horizon {sim.horizon_days:g} days · {kind} model · {sim.paths:,d} paths · "
        f"seed {sim.seed}"
    )
    bundle = vega_js()
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            title=title,
            subtitle=subtitle,
            version=__version__,
            generated=generated,
            scenario_name=Path(sc.path).name,
            scenario_sha=hashlib.sha256(raw).hexdigest()[:16],
            vega_js=Markup(bundle),
            colors=charts.MODE_COLORS,
            sections=_sections(data),
            versions=_versions(),
        )
    )


def build_report(
    scenario: str | os.PathLike[str] | Scenario | None = None,
    *,
    seed: int | None = None,
    paths: int | None = None,
    generated: str | None = None,
    progress: Progress | None = None,
) -> str:
    """Compute and render the report of a scenario (a path, a loaded one, or the default).

    Returns the HTML; nothing is written. See :func:`write_report` for the parameters.
    """
    sc = scenario if isinstance(scenario, Scenario) else load(scenario)
    data = compute(sc, seed=seed, paths=paths, progress=progress)
    if progress is not None:
        progress.step("rendering HTML")
    out = render(data, generated=generated)
    if progress is not None:
        progress.advance()
    return out


def strip_timestamp(page: str) -> str:
    """The page without its timestamp (what must be identical between two runs)."""
    return _GENERATED.sub('<time id="generated"></time>', page)


def _atomic_write(out: Path, text: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        # mkstemp makes the file private (0600); a report is meant to be handed on, so give it
        # the permissions a plain open() would (0666 less the umask)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _steps(sc: Scenario) -> int:
    n = 2  # formulas, render
    n += 1 if ("compare" in sc.sections or "efficiency" in sc.sections) else 0
    n += sum(1 for s in ("compare", "sizing", "efficiency") if s in sc.sections)
    n += len(sc.stress) if "stress" in sc.sections else 0
    return n


def write_report(
    scenario: str | os.PathLike[str] | None,
    out: str | os.PathLike[str],
    *,
    seed: int | None = None,
    paths: int | None = None,
    quiet: bool = False,
    stream: TextIO | None = None,
) -> Path:
    """Write the HTML report of ``scenario`` (default: the shipped one) to ``out``.

    Parameters
    ----------
    scenario : path or None
        A scenario TOML (:mod:`margin_kit.scenario`).
    out : path
        The HTML file to write (parent folders are created); written atomically once
        everything is computed.
    seed, paths : int, optional
        Override the scenario's ``simulation.seed`` / ``simulation.paths``.
    quiet : bool, default False
        No progress bar (it is drawn only on a terminal anyway).
    stream : file, optional
        Where the progress bar goes (default stderr).

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    ScenarioError
        A malformed scenario, naming the file and field; nothing is written.
    """
    sc = load(scenario)
    sc.require_model()
    progress = Progress(_steps(sc), enabled=not quiet, stream=stream)
    try:
        page = build_report(sc, seed=seed, paths=paths, progress=progress)
    finally:
        progress.close()
    path = Path(out)
    _atomic_write(path, page)
    return path


# ----------------------------------------------------------------------------- notebooks
_MATH_ENVS = {
    "aligned": "align*",
    "align": "align*",
    "gathered": "gather*",
    "gather": "gather*",
    "eqnarray": "align*",
    "eqnarray*": "align*",
    "alignat": "align*",
    "alignat*": "align*",
    "multline": "gather*",
    "multline*": "gather*",
    "equation": None,
    "equation*": None,
    "displaymath": None,
}
_ENTITY = re.compile(r"&amp;(#x?[0-9A-Fa-f]+;)")


def latex_to_mathml(tex: str, *, display: bool = False) -> str:
    r"""Presentation MathML of a LaTeX formula (what exported notebooks show instead of TeX).

    Converted with ``latex2mathml``; environments it lacks are mapped to ones it has
    (``aligned``/``align`` → ``align*``, ``gathered`` → ``gather*``, ``equation`` unwrapped).
    Text is escaped (``\text{<b>}`` stays text). The TeX source is kept in an
    ``<annotation encoding="application/x-tex">``.

    Raises
    ------
    InputError
        TeX that cannot be converted (unbalanced braces, an unknown environment...).
    """
    from xml.etree.ElementTree import Element, SubElement, tostring

    import latex2mathml.converter as l2m

    src = tex.strip()
    for env, repl in _MATH_ENVS.items():
        begin, end = f"\\begin{{{env}}}", f"\\end{{{env}}}"
        if begin in src:
            if repl is None:
                src = src.replace(begin, "").replace(end, "")
            else:
                src = src.replace(begin, f"\\begin{{{repl}}}").replace(end, f"\\end{{{repl}}}")
    src = re.sub(r"\\label\{[^}]*\}|\\nonumber|\\notag", "", src)
    try:
        root = l2m.convert_to_element(src, display="block" if display else "inline")
    except Exception as exc:  # latex2mathml raises several exception types
        raise InputError("latex", tex, f"LaTeX that converts to MathML ({exc!r})") from None
    unknown = [el.text for el in root.iter("mi") if el.text and el.text.startswith("\\")]
    if unknown:
        raise InputError("latex", tex, f"LaTeX without unsupported commands {unknown}")
    # keep the source for copy-paste and assistive tech: <semantics><mrow/><annotation/>
    children = list(root)
    for child in children:
        root.remove(child)
    sem = SubElement(root, "semantics")
    row = SubElement(sem, "mrow")
    row.extend(children)
    ann: Element = SubElement(sem, "annotation", {"encoding": "application/x-tex"})
    ann.text = tex.strip()
    return _ENTITY.sub(r"&\1", tostring(root, encoding="unicode"))


def _mathml_renderer_class() -> type:
    from nbconvert.filters.markdown_mistune import IPythonRenderer

    class MathMLRenderer(IPythonRenderer):  # type: ignore[misc, valid-type]
        """nbconvert's markdown renderer with math written as MathML instead of TeX."""

        def block_math(self, body: str) -> str:
            return latex_to_mathml(body, display=True)

        def multiline_math(self, text: str) -> str:
            return latex_to_mathml(text.strip().strip("$"), display=True)

        def latex_environment(self, name: str, body: str) -> str:
            return latex_to_mathml(f"\\begin{{{name}}}{body}\\end{{{name}}}", display=True)

        def inline_math(self, body: str) -> str:
            return latex_to_mathml(body, display=False)

    return MathMLRenderer


def _exporter_class() -> type:
    from nbconvert import HTMLExporter
    from nbconvert.filters.markdown_mistune import MarkdownWithMath

    renderer_cls = _mathml_renderer_class()
    try:
        from jinja2 import pass_context
    except ImportError:  # pragma: no cover - jinja2 < 3
        from jinja2 import contextfilter as pass_context  # type: ignore[no-redef]

    class OfflineHTMLExporter(HTMLExporter):  # type: ignore[misc, valid-type]
        """HTMLExporter whose markdown math is MathML (no MathJax needed)."""

        @pass_context
        def markdown2html(self, context: Any, source: str) -> str:
            cell = context.get("cell", {})
            path = context.get("resources", {}).get("metadata", {}).get("path", "")
            renderer = renderer_cls(
                escape=False,
                attachments=cell.get("attachments", {}),
                embed_images=self.embed_images,
                path=path,
                anchor_link_text=self.anchor_link_text,
                exclude_anchor_links=self.exclude_anchor_links,
                **self.lexer_options,
            )
            return MarkdownWithMath(renderer=renderer).render(source)

    return OfflineHTMLExporter


_LATEX_DELIMS = re.compile(r"^\s*(\$\$|\$|\\\[|\\\()(.*?)(\$\$|\$|\\\]|\\\))\s*$", re.S)


def _latex_output_html(tex: str) -> str:
    r"""MathML for a ``text/latex`` output (``$$...$$``, ``$...$``, ``\\[...\\]`` or bare)."""
    m = _LATEX_DELIMS.match(tex)
    body, display = (m.group(2), m.group(1) in ("$$", "\\[")) if m else (tex, True)
    return f'<div class="mk-math">{latex_to_mathml(body, display=display)}</div>'


_WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _prepare(nb: Any) -> None:
    """Make an executed notebook exportable offline (in place).

    ``text/latex`` outputs without HTML get MathML HTML; widget views get the static fallback
    of their bundle (HTML, an image, or text) or are dropped; widget state is removed.
    """
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        kept = []
        for out in cell.get("outputs", []):
            data = out.get("data")
            if data is None:
                kept.append(out)
                continue
            if "text/latex" in data and "text/html" not in data:
                data["text/html"] = _latex_output_html(data["text/latex"])
            if _WIDGET_VIEW in data:
                data.pop(_WIDGET_VIEW)
                static = [k for k in data if k in ("text/html", "image/svg+xml", "image/png")]
                if not static:
                    continue  # a live widget with no static form: nothing to show offline
                data.pop("text/plain", None)
            kept.append(out)
        cell["outputs"] = kept


def export_notebook(
    path: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    code: bool = False,
    timeout: int = 300,
    kernel_name: str = "python3",
) -> Path:
    """Execute a notebook and write HTML that renders offline (charts, math, widget panels).

    Parameters
    ----------
    path : path
        The ``.ipynb``.
    out : path, optional
        The HTML file; default beside the notebook with ``.html``.
    code : bool, default False
        Show the code cells and prompts (default: outputs and prose only, a report).
    timeout : int, default 300
        Seconds per cell.
    kernel_name : str, default "python3"
        Kernel to execute with (started fresh, ``MARGIN_KIT_RENDER=static`` in its environment).

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    InputError
        A missing or unreadable notebook, math that cannot be converted.
    ExportError
        A cell that failed (its source and error in the message). Nothing is written.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from nbconvert.preprocessors import TagRemovePreprocessor

    from margin_kit import charts

    src = Path(path)
    if not src.is_file():
        raise InputError("notebook", str(src), "an existing .ipynb file")
    try:
        nb = nbformat.read(src, as_version=4)
    except Exception as exc:  # nbformat raises json / validation errors
        raise InputError("notebook", str(src), f"a readable notebook ({exc})") from None
    target = Path(out) if out is not None else src.with_suffix(".html")
    env = dict(os.environ)
    env[charts.RENDER_ENV] = "static"
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=kernel_name,
        resources={"metadata": {"path": str(src.resolve().parent)}},
    )
    try:
        client.execute(env=env)
    except CellExecutionError as exc:
        detail = _ANSI.sub("", str(exc)).strip()
        raise ExportError(f"{src}: a cell failed; nothing written.\n{detail}") from None
    _prepare(nb)
    exporter = _exporter_class()(
        template_name="mk_offline",
        extra_template_basedirs=[str(_templates())],
        exclude_input=not code,
        exclude_input_prompt=not code,
        exclude_output_prompt=not code,
    )
    exporter.register_preprocessor(
        TagRemovePreprocessor(
            remove_cell_tags={"remove-cell"},
            remove_input_tags={"remove-input"},
            remove_all_outputs_tags={"remove-output"},
        ),
        enabled=True,
    )
    title = nb.metadata.get("title") or src.stem
    page, _ = exporter.from_notebook_node(
        nb,
        resources={
            "mk_vega_js": vega_js(),
            "metadata": {"name": title, "path": str(src.resolve().parent)},
        },
    )
    _atomic_write(target, page)
    return target
