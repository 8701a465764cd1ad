r"""Scenario files: an account, a price model, a horizon and the questions to answer, in TOML.

This docstring is the format's documentation; ``margin_kit/data/default_scenario.toml`` is a
complete, commented example (``margin-kit demo`` and ``margin-kit report`` use it when no file
is given). Every field is checked: an unknown field, a wrong type, a missing value, an unknown
exchange or symbol, a value out of range or a CSV that does not load is a
:class:`ScenarioError` naming the file, the field (``positions[1].qty``, ``model.vol.ETHUSDT``,
``stress[0].move``) and what was expected. Relative paths (CSV files) are relative to the
scenario file.

Only ``[account]`` and ``[[positions]]`` are required (enough for ``margin-kit demo``); the
report needs ``[model]`` and ``[simulation]`` too.

Account and positions::

    [account]
    name = "demo account"          # optional
    exchange = "binance-usdm"      # a preset from margin_kit.exchanges.names()
    wallet_balance = 20000.0       # settle currency

    [[positions]]
    name = "BTC long"              # optional, unique; default "<symbol> <side>"
    symbol = "BTCUSDT"             # a symbol of the preset
    side = "long"                  # "long" | "short"
    qty = 0.5                      # > 0 (base units; contracts for inverse)
    entry_price = 60000.0          # > 0
    mark_price = 61000.0           # optional, default entry_price
    leverage = 10                  # <= the tier's max leverage
    margin_mode = "isolated"       # "isolated" | "cross"
    added_margin = 0.0             # optional, isolated only

Price model (``[model]``; ``kind`` decides which other fields are allowed)::

    [model]
    kind = "gbm"                   # "gbm" | "student-t" | "merton" | "bootstrap"
    vol = 0.6                      # annualised; a number for every symbol, or a table
    # vol = { BTCUSDT = 0.6, ETHUSDT = 0.75 }   (one entry per symbol of the account)
    drift = 0.0                    # optional, annualised arithmetic drift; number or table
    correlation = 0.8              # gbm with several symbols: one pairwise correlation, or a
                                   # matrix [[1, 0.8], [0.8, 1]] in the order symbols first
                                   # appear among the positions; default 0
    funding_rate = 0.0001          # optional, per 8-hour funding interval; longs pay if > 0

* ``gbm``: :class:`~margin_kit.risk.GBM` (one symbol) or
  :class:`~margin_kit.risk.CorrelatedGBM` (several); fields ``vol``, ``drift``,
  ``correlation``.
* ``student-t``: :class:`~margin_kit.risk.StudentT`, one symbol; ``vol``, ``drift``, ``dof``
  (> 2).
* ``merton``: :class:`~margin_kit.risk.MertonJump`, one symbol; ``vol``, ``drift``,
  ``jump_intensity`` (jumps per year), ``jump_mean``, ``jump_std`` (of the log jump).
* ``bootstrap``: :class:`~margin_kit.risk.Bootstrap` resampling the daily log returns of your
  own CSV (Yahoo-style or exchange OHLC export, :func:`margin_kit.prices.load_ohlc`): ``csv`` (a
  path, used for every symbol, or a table ``{ BTCUSDT = "btc.csv", ETHUSDT = "eth.csv" }``
  whose files share their dates), ``column`` (default ``"close"``), ``periods_per_year``
  (default 365), ``start`` / ``end`` (optional ISO dates to window the data). With several
  symbols and one CSV the symbols move together (one asset's history applied to all).

Horizon and Monte Carlo (``[simulation]``)::

    [simulation]
    horizon_days = 30              # > 0
    paths = 20000                  # Monte Carlo paths, >= 2 (default 20000)
    seed = 7                       # integer >= 0 (default 0): same seed, same numbers
    steps_per_day = 1              # optional (default 1; a bootstrap steps at its data's
                                   # frequency)

The questions (all optional; defaults shown)::

    [report]
    title = "Isolated vs cross"    # heading of the HTML report
    sections = ["compare", "sizing", "efficiency", "stress"]   # which parts to produce;
                                   # default: all, "stress" only when [[stress]] cases exist

    [compare]                      # margin_kit.compare options
    move = 0.05                    # favourable move (fraction) for return on margin
    es_level = 0.975               # level of the expected shortfall

    [sizing]                       # per position: highest leverage that keeps
    probability = [0.01, 0.05]     # P(liquidation within the horizon) <= each target (GBM with
                                   # the model's volatility), and
    distance = [0.10, 0.25]        # the liquidation price at least this far from entry

    [[stress]]                     # a synthetic crash (or rally) replayed by margin_kit.engine
    name = "crash -35 % in 2 days"
    kind = "crash"
    move = -0.35                   # > -1, not 0: -0.35 = 35 % down, 0.5 = 50 % up
    days = 2                       # > 0, how long the move takes (geometric, evenly)
    hold_days = 1                  # optional, days at the extreme (default 0)
    recovery = 0.5                 # optional, fraction of the move retraced afterwards (0..1)
    recovery_days = 5              # optional, default days
    steps_per_day = 24             # optional, marks per day (default 24)
    symbols = ["BTCUSDT"]          # optional: which symbols move (default all; others flat)
    margin_call_ratio = 0.8        # optional, MM / equity that records a margin call

    [[stress]]                     # a historical window of your own OHLC CSV
    name = "March 2020"
    kind = "csv"
    csv = "btc-usd-daily.csv"      # path, or a table { SYMBOL = "file.csv" } per symbol
    start = "2020-03-01"           # optional ISO dates
    end = "2020-03-31"
    rebase = true                  # scale each series so its first close is the symbol's
                                   # mark (default true; needed when one CSV drives several
                                   # symbols)

A loaded file is a :class:`Scenario`. Its ``model`` is a :mod:`margin_kit.risk` price model,
``stress`` a tuple of :class:`StressCase` whose :meth:`StressCase.prices` gives the input of
:func:`margin_kit.engine.replay`.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from margin_kit import exchanges
from margin_kit._errors import InputError
from margin_kit.account import Account, Position
from margin_kit.prices import load_ohlc
from margin_kit.risk import GBM, Bootstrap, CorrelatedGBM, MertonJump, PriceModel, StudentT

__all__ = [
    "MODEL_KINDS",
    "SECTIONS",
    "STRESS_KINDS",
    "Scenario",
    "ScenarioError",
    "Simulation",
    "Sizing",
    "StressCase",
    "default_path",
    "load",
]

MODEL_KINDS: tuple[str, ...] = ("gbm", "student-t", "merton", "bootstrap")
SECTIONS: tuple[str, ...] = ("compare", "sizing", "efficiency", "stress")
STRESS_KINDS: tuple[str, ...] = ("crash", "csv")
_TOP = ("account", "positions", "model", "simulation", "report", "compare", "sizing", "stress")

_ACCOUNT_FIELDS = {"name": str, "exchange": str, "wallet_balance": float}
_POSITION_FIELDS = {
    "name": str,
    "symbol": str,
    "side": str,
    "qty": float,
    "entry_price": float,
    "mark_price": float,
    "leverage": float,
    "margin_mode": str,
    "added_margin": float,
}
_REQUIRED_ACCOUNT = ("exchange", "wallet_balance")
_REQUIRED_POSITION = ("symbol", "side", "qty", "entry_price", "leverage", "margin_mode")

# "per-symbol": a number, or a table {symbol: number}; "csv": a path, or {symbol: path}
_MODEL_FIELDS: dict[str, dict[str, Any]] = {
    "gbm": {"vol": "per-symbol", "drift": "per-symbol", "correlation": "correlation"},
    "student-t": {"vol": "per-symbol", "drift": "per-symbol", "dof": float},
    "merton": {
        "vol": "per-symbol",
        "drift": "per-symbol",
        "jump_intensity": float,
        "jump_mean": float,
        "jump_std": float,
    },
    "bootstrap": {
        "csv": "csv",
        "column": str,
        "periods_per_year": float,
        "start": str,
        "end": str,
    },
}
_MODEL_REQUIRED = {
    "gbm": ("vol",),
    "student-t": ("vol", "dof"),
    "merton": ("vol", "jump_intensity", "jump_mean", "jump_std"),
    "bootstrap": ("csv",),
}
_SIMULATION_FIELDS = {"horizon_days": float, "paths": int, "seed": int, "steps_per_day": int}
_REPORT_FIELDS = {"title": str, "sections": list}
_COMPARE_FIELDS = {"move": float, "es_level": float}
_SIZING_FIELDS = {"probability": list, "distance": list}
_STRESS_COMMON = {"name": str, "kind": str, "margin_call_ratio": float}
_STRESS_FIELDS = {
    "crash": {
        **_STRESS_COMMON,
        "move": float,
        "days": float,
        "hold_days": float,
        "recovery": float,
        "recovery_days": float,
        "steps_per_day": int,
        "symbols": list,
    },
    "csv": {**_STRESS_COMMON, "csv": "csv", "start": str, "end": str, "rebase": bool},
}
_STRESS_REQUIRED = {"crash": ("kind", "move", "days"), "csv": ("kind", "csv")}


class ScenarioError(InputError):
    """A scenario file that cannot be used; the message names the file and the field."""

    def __init__(self, path: str, field: str, value: Any, expected: str) -> None:
        self.path = path
        super().__init__(f"{path}: {field}", value, expected)


# ----------------------------------------------------------------------------- parts
@dataclass(frozen=True)
class Simulation:
    """Horizon and Monte Carlo settings (``[simulation]``).

    Attributes
    ----------
    horizon_days : float
        Days ahead the probabilities and losses are measured over.
    paths : int
        Monte Carlo paths.
    seed : int
        Seed of :func:`numpy.random.default_rng`; the same seed gives the same numbers.
    steps_per_day : int or None
        Time steps per day; None: daily (a bootstrap: its data's frequency).
    """

    horizon_days: float
    paths: int = 20_000
    seed: int = 0
    steps_per_day: int | None = None

    @property
    def horizon(self) -> float:
        """The horizon in years (365-day years, as :mod:`margin_kit.risk`)."""
        return self.horizon_days / 365.0

    @property
    def steps(self) -> int | None:
        """Steps over the horizon (None: the model's default, daily)."""
        if self.steps_per_day is None:
            return None
        return max(1, math.ceil(self.horizon_days * self.steps_per_day - 1e-9))


@dataclass(frozen=True)
class Sizing:
    """The sizing questions (``[sizing]``): targets for the highest leverage per position.

    Attributes
    ----------
    probability : tuple of float
        Targets for P(liquidation within the horizon), each in (0, 1).
    distance : tuple of float
        Minimum distances (fractions of entry) from entry to the liquidation price.
    """

    probability: tuple[float, ...] = (0.01, 0.05)
    distance: tuple[float, ...] = (0.10, 0.25)


@dataclass(frozen=True, eq=False)
class StressCase:
    """One stress scenario (``[[stress]]``) for :func:`margin_kit.engine.replay`.

    Attributes
    ----------
    name : str
        Label.
    kind : {"crash", "csv"}
        A synthetic move, or a window of the user's own OHLC data.
    margin_call_ratio : float
        ``MM / equity`` at which the replay records a margin call.
    params : dict
        The case's fields as given (for display), with defaults filled in.
    data : dict of str to DataFrame
        ``kind="csv"``: the OHLC frame per symbol (windowed, rebased); empty for crashes.
    """

    name: str
    kind: str
    margin_call_ratio: float = 0.8
    params: Mapping[str, Any] = field(default_factory=dict)
    data: Mapping[str, pd.DataFrame] = field(default_factory=dict, repr=False)

    def prices(self, account: Account) -> dict[str, pd.Series | pd.DataFrame]:
        """Prices of every symbol of ``account`` for :func:`margin_kit.engine.replay`.

        A crash: marks every ``1 / steps_per_day`` days, indexed by ``day`` (float), starting at
        each symbol's mark; the moving symbols go geometrically to ``mark * (1 + move)`` in
        ``days``, stay there ``hold_days``, then retrace ``recovery`` of the move (in price) over
        ``recovery_days``; the other symbols stay at their marks. A CSV window: the OHLC frames.
        """
        marks = _marks(account)
        if self.kind == "csv":
            return {s: self.data[s] for s in marks}
        p = self.params
        spd = int(p["steps_per_day"])
        n_move = max(1, round(p["days"] * spd))
        n_hold = round(p["hold_days"] * spd)
        n_rec = round(p["recovery_days"] * spd) if p["recovery"] > 0 else 0
        steps = n_move + n_hold + n_rec + 1
        day = pd.Index(np.arange(steps) / spd, name="day")
        shape = np.ones(steps)
        bottom = 1.0 + p["move"]
        shape[: n_move + 1] = bottom ** (np.arange(n_move + 1) / n_move)
        shape[n_move + 1 : n_move + n_hold + 1] = bottom
        if n_rec:
            end = bottom + p["recovery"] * (1.0 - bottom)
            frac = np.arange(1, n_rec + 1) / n_rec
            shape[n_move + n_hold + 1 :] = bottom * (end / bottom) ** frac
        moving = set(p["symbols"] or marks)
        return {
            s: pd.Series(mark * (shape if s in moving else np.ones(steps)), index=day, name=s)
            for s, mark in marks.items()
        }


@dataclass(frozen=True, eq=False)
class Scenario:
    """A loaded scenario.

    Attributes
    ----------
    path : str
        The file it came from.
    exchange : str
        The preset name.
    account : Account
        The wallet and positions.
    model : PriceModel or None
        The price model (None without ``[model]``).
    model_inputs : dict
        ``[model]`` as given, defaults filled in (for reports).
    simulation : Simulation or None
        Horizon and Monte Carlo settings (None without ``[simulation]``).
    funding_rate : float
        Per 8-hour funding interval (``model.funding_rate``).
    title : str
        ``report.title``.
    sections : tuple of str
        The questions to answer, from :data:`SECTIONS`.
    compare_options : dict
        ``move`` and ``es_level`` for :func:`margin_kit.compare`.
    sizing : Sizing
    stress : tuple of StressCase
    """

    path: str
    exchange: str
    account: Account
    model: PriceModel | None = None
    model_inputs: Mapping[str, Any] = field(default_factory=dict)
    simulation: Simulation | None = None
    funding_rate: float = 0.0
    title: str = ""
    sections: tuple[str, ...] = ()
    compare_options: Mapping[str, float] = field(
        default_factory=lambda: {"move": 0.05, "es_level": 0.975}
    )
    sizing: Sizing = field(default_factory=Sizing)
    stress: tuple[StressCase, ...] = ()

    def require_model(self) -> tuple[PriceModel, Simulation]:
        """The model and simulation settings, or a :class:`ScenarioError` naming the missing one.

        What the report calls before computing anything.
        """
        if self.model is None:
            raise ScenarioError(self.path, "model", None, "a [model] table (the report needs one)")
        if self.simulation is None:
            raise ScenarioError(
                self.path, "simulation", None, "a [simulation] table with horizon_days"
            )
        return self.model, self.simulation


def default_path() -> Path:
    """Path of the scenario shipped with the package."""
    return Path(str(resources.files("margin_kit").joinpath("data", "default_scenario.toml")))


# ----------------------------------------------------------------------------- checks
def _typed(path: str, field: str, value: Any, kind: Any) -> Any:
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ScenarioError(path, field, value, "a number")
        if not math.isfinite(value):
            raise ScenarioError(path, field, value, "a finite number")
        return float(value)
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ScenarioError(path, field, value, "an integer")
        return value
    if kind is bool:
        if not isinstance(value, bool):
            raise ScenarioError(path, field, value, "true or false")
        return value
    if kind is list:
        if not isinstance(value, list):
            raise ScenarioError(path, field, value, "an array [...]")
        return value
    if isinstance(kind, type):
        if not isinstance(value, kind):
            raise ScenarioError(path, field, value, f"a {kind.__name__}")
        return value
    return value  # composite kinds are checked where they are used


def _section(path: str, where: str, raw: Any, fields: dict[str, Any], required: tuple) -> dict:
    if not isinstance(raw, dict):
        raise ScenarioError(path, where, raw, "a table")
    for key in raw:
        if key not in fields:
            raise ScenarioError(
                path, f"{where}.{key}", raw[key], f"one of the fields {sorted(fields)}"
            )
    for key in required:
        if key not in raw:
            raise ScenarioError(path, f"{where}.{key}", None, "a value (required)")
    return {k: _typed(path, f"{where}.{k}", v, fields[k]) for k, v in raw.items()}


def _check(path: str, field: str, value: Any, ok: bool, expected: str) -> None:
    if not ok:
        raise ScenarioError(path, field, value, expected)


def _marks(account: Account) -> dict[str, float]:
    """Each symbol's mark, in the order symbols first appear among the positions."""
    marks: dict[str, float] = {}
    for p in account.positions:
        marks.setdefault(p.symbol, p.mark_price)
    return marks


def _fractions(path: str, field: str, values: list, *, lo: float = 0.0) -> tuple[float, ...]:
    out = []
    for i, v in enumerate(values):
        x = _typed(path, f"{field}[{i}]", v, float)
        _check(path, f"{field}[{i}]", v, lo < x < 1, f"a fraction in ({lo:g}, 1)")
        out.append(x)
    _check(path, field, values, bool(out), "one or more values")
    return tuple(out)


def _date(path: str, field: str, value: str | None) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        return pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ScenarioError(path, field, value, "an ISO date such as '2020-03-12'") from None


def _load_csv(
    path: str, field: str, base: Path, rel: Any, start: str | None, end: str | None
) -> pd.DataFrame:
    """An OHLC CSV relative to the scenario, checked and windowed to ``[start, end]``."""
    _check(path, field, rel, isinstance(rel, str) and bool(rel), "a CSV path (string)")
    file = (base / rel) if not Path(rel).is_absolute() else Path(rel)
    if not file.is_file():
        raise ScenarioError(path, field, rel, f"an existing CSV file (looked for {file})")
    try:
        frame = load_ohlc(file)
    except InputError as exc:
        raise ScenarioError(path, f"{field} ({exc.field})", exc.value, exc.expected) from None
    t0 = _date(path, field.rsplit(".", 1)[0] + ".start", start)
    t1 = _date(path, field.rsplit(".", 1)[0] + ".end", end)
    window = frame.loc[t0:t1] if (t0 is not None or t1 is not None) else frame
    if len(window) < 2:
        raise ScenarioError(
            path,
            field.rsplit(".", 1)[0] + ".start/end",
            [start, end],
            f"a window with at least 2 rows of {rel} "
            f"(its data runs {frame.index[0].date()} to {frame.index[-1].date()})",
        )
    return window


def _csv_per_symbol(
    path: str, field: str, base: Path, value: Any, symbols: list[str], start: Any, end: Any
) -> dict[str, pd.DataFrame]:
    """``csv = "x.csv"`` (one file for every symbol) or ``csv = {SYMBOL = "x.csv"}``."""
    if isinstance(value, dict):
        _per_symbol_keys(path, field, value, symbols)
        return {s: _load_csv(path, f"{field}.{s}", base, value[s], start, end) for s in symbols}
    frame = _load_csv(path, field, base, value, start, end)
    return dict.fromkeys(symbols, frame)


def _per_symbol_keys(path: str, field: str, table: dict, symbols: list[str]) -> None:
    for key in table:
        _check(
            path,
            f"{field}.{key}",
            table[key],
            key in symbols,
            f"a symbol of the account's positions {symbols}",
        )
    for s in symbols:
        _check(path, f"{field}.{s}", None, s in table, "a value (required: one per symbol)")


def _per_symbol(
    path: str, field: str, value: Any, symbols: list[str], *, nonnegative: bool = False
) -> list[float]:
    """A number for every symbol, or a table ``{symbol: number}`` covering the symbols."""
    if isinstance(value, dict):
        _per_symbol_keys(path, field, value, symbols)
        values = [(f"{field}.{s}", value[s]) for s in symbols]
    else:
        values = [(field, value)] * len(symbols)
    out = []
    for name, v in values:
        x = _typed(path, name, v, float)
        if nonnegative:
            _check(path, name, v, x >= 0, "a number >= 0")
        out.append(x)
    return out


# ----------------------------------------------------------------------------- sections
def _model(
    path: str, base: Path, raw: Any, account: Account
) -> tuple[PriceModel, dict[str, Any], float]:
    """Build the price model of ``[model]``; returns (model, inputs as given, funding_rate)."""
    if not isinstance(raw, dict):
        raise ScenarioError(path, "model", raw, "a table")
    kind = raw.get("kind")
    if kind not in MODEL_KINDS:
        raise ScenarioError(path, "model.kind", kind, f"one of {list(MODEL_KINDS)}")
    fields = {"kind": str, "funding_rate": float, **_MODEL_FIELDS[kind]}
    m = _section(path, "model", raw, fields, _MODEL_REQUIRED[kind])
    symbols = list(_marks(account))
    funding = m.get("funding_rate", 0.0)
    inputs: dict[str, Any] = dict(m)
    try:
        if kind == "bootstrap":
            data = _csv_per_symbol(
                path, "model.csv", base, m["csv"], symbols, m.get("start"), m.get("end")
            )
            column = m.get("column", "close")
            ppy = m.get("periods_per_year", 365.0)
            _check(path, "model.periods_per_year", ppy, ppy > 0, "a number > 0")
            for s, frame in data.items():
                _check(
                    path,
                    "model.column",
                    column,
                    column in frame.columns,
                    f"one of {list(frame.columns)} (columns of the CSV for {s})",
                )
            closes = pd.DataFrame({s: frame[column] for s, frame in data.items()}).dropna()
            _check(
                path, "model.csv", m["csv"], len(closes) >= 3, "CSV files sharing at least 3 dates"
            )
            if len(symbols) == 1:
                model: PriceModel = Bootstrap.from_series(closes[symbols[0]], ppy)
            else:
                model = Bootstrap.from_series(closes, ppy)
            inputs.update(
                column=column,
                periods_per_year=ppy,
                rows=len(closes),
                first=str(closes.index[0].date()),
                last=str(closes.index[-1].date()),
            )
            return model, inputs, funding
        vols = _per_symbol(path, "model.vol", m["vol"], symbols, nonnegative=True)
        drifts = _per_symbol(path, "model.drift", m.get("drift", 0.0), symbols)
        inputs.setdefault("drift", 0.0)
        if kind != "gbm" and len(symbols) > 1:
            raise ScenarioError(
                path,
                "model.kind",
                kind,
                f"'gbm' or 'bootstrap' for an account on several symbols {symbols} "
                f"({kind!r} models one asset)",
            )
        if kind == "student-t":
            return StudentT(vols[0], m["dof"], drifts[0]), inputs, funding
        if kind == "merton":
            model = MertonJump(
                vols[0], m["jump_intensity"], m["jump_mean"], m["jump_std"], drifts[0]
            )
            return model, inputs, funding
        if len(symbols) == 1:
            _check(
                path,
                "model.correlation",
                m.get("correlation"),
                "correlation" not in m,
                "no correlation for an account on one symbol",
            )
            return GBM(vols[0], drifts[0]), inputs, funding
        corr = _correlation(path, m.get("correlation", 0.0), len(symbols))
        inputs.setdefault("correlation", 0.0)
        model = CorrelatedGBM(vols=vols, corr=corr, drifts=drifts, symbols=tuple(symbols))
        return model, inputs, funding
    except ScenarioError:
        raise
    except InputError as exc:
        name = exc.field.split("[")[0]
        where = {"corr": "correlation", "vols": "vol", "drifts": "drift"}.get(name, name)
        raise ScenarioError(path, f"model.{where}", exc.value, exc.expected) from None


def _correlation(path: str, value: Any, n: int) -> np.ndarray:
    if isinstance(value, list):
        ok = len(value) == n and all(isinstance(r, list) and len(r) == n for r in value)
        _check(path, "model.correlation", value, ok, f"a number, or a {n}x{n} matrix")
        rows = [
            [_typed(path, f"model.correlation[{i}][{j}]", v, float) for j, v in enumerate(r)]
            for i, r in enumerate(value)
        ]
        return np.array(rows)
    rho = _typed(path, "model.correlation", value, float)
    _check(path, "model.correlation", value, -1 <= rho <= 1, "a number in [-1, 1]")
    corr = np.full((n, n), rho)
    np.fill_diagonal(corr, 1.0)
    return corr


def _simulation(path: str, raw: Any, model: PriceModel | None) -> Simulation:
    s = _section(path, "simulation", raw, _SIMULATION_FIELDS, ("horizon_days",))
    days = s["horizon_days"]
    _check(path, "simulation.horizon_days", days, days > 0, "a number of days > 0")
    paths = s.get("paths", 20_000)
    _check(path, "simulation.paths", paths, paths >= 2, "an integer >= 2")
    seed = s.get("seed", 0)
    _check(path, "simulation.seed", seed, seed >= 0, "an integer >= 0")
    spd = s.get("steps_per_day")
    if spd is not None:
        _check(path, "simulation.steps_per_day", spd, spd >= 1, "an integer >= 1")
    sim = Simulation(days, paths, seed, spd)
    if isinstance(model, Bootstrap):
        want = sim.horizon * model.periods_per_year
        _check(
            path,
            "simulation.horizon_days",
            days,
            abs(want - round(want)) < 1e-6 and want >= 1,
            f"a whole number of the data's periods (horizon_days * periods_per_year / 365 "
            f"= {want:g})",
        )
        if sim.steps is not None:
            _check(
                path,
                "simulation.steps_per_day",
                spd,
                sim.steps == round(want),
                "none for a bootstrap (it steps at the data's frequency)",
            )
    return sim


def _stress(path: str, base: Path, raw: Any, account: Account) -> tuple[StressCase, ...]:
    if not isinstance(raw, list):
        raise ScenarioError(path, "stress", raw, "[[stress]] tables")
    symbols = list(_marks(account))
    cases = []
    names: set[str] = set()
    for i, row in enumerate(raw):
        where = f"stress[{i}]"
        if not isinstance(row, dict):
            raise ScenarioError(path, where, row, "a table")
        kind = row.get("kind")
        if kind not in STRESS_KINDS:
            raise ScenarioError(path, f"{where}.kind", kind, f"one of {list(STRESS_KINDS)}")
        c = _section(path, where, row, _STRESS_FIELDS[kind], _STRESS_REQUIRED[kind])
        name = c.get("name", f"stress {i + 1}")
        _check(path, f"{where}.name", name, name not in names, "a name not used by another case")
        names.add(name)
        ratio = c.get("margin_call_ratio", 0.8)
        _check(path, f"{where}.margin_call_ratio", ratio, ratio > 0, "a number > 0")
        if kind == "crash":
            move = c["move"]
            _check(
                path,
                f"{where}.move",
                move,
                move > -1 and move != 0,
                "a fraction > -1 and not 0 (-0.3: 30 % down)",
            )
            days = c["days"]
            _check(path, f"{where}.days", days, days > 0, "a number of days > 0")
            hold = c.get("hold_days", 0.0)
            _check(path, f"{where}.hold_days", hold, hold >= 0, "a number of days >= 0")
            rec = c.get("recovery", 0.0)
            _check(path, f"{where}.recovery", rec, 0 <= rec <= 1, "a fraction in [0, 1]")
            rec_days = c.get("recovery_days", days)
            _check(path, f"{where}.recovery_days", rec_days, rec_days > 0, "a number of days > 0")
            spd = c.get("steps_per_day", 24)
            _check(path, f"{where}.steps_per_day", spd, 1 <= spd <= 1440, "an integer in [1, 1440]")
            total = (days + hold + (rec_days if rec > 0 else 0)) * spd
            _check(
                path,
                f"{where}.days",
                days,
                total <= 100_000,
                f"a case of at most 100000 steps (days x steps_per_day = {total:g})",
            )
            moving = c.get("symbols", [])
            for j, s in enumerate(moving):
                _check(
                    path,
                    f"{where}.symbols[{j}]",
                    s,
                    s in symbols,
                    f"a symbol of the account's positions {symbols}",
                )
            params = {
                "move": move,
                "days": days,
                "hold_days": hold,
                "recovery": rec,
                "recovery_days": rec_days,
                "steps_per_day": spd,
                "symbols": list(moving),
            }
            cases.append(StressCase(name, kind, ratio, params))
            continue
        rebase = c.get("rebase", True)
        data = _csv_per_symbol(
            path, f"{where}.csv", base, c["csv"], symbols, c.get("start"), c.get("end")
        )
        marks = _marks(account)
        shared = not isinstance(c["csv"], dict) and len(symbols) > 1
        _check(
            path,
            f"{where}.rebase",
            rebase,
            rebase or not shared,
            "true when one CSV drives several symbols",
        )
        index = next(iter(data.values())).index
        for s, frame in data.items():
            _check(
                path,
                f"{where}.csv",
                c["csv"],
                frame.index.equals(index),
                "CSV files with the same dates in the window",
            )
            frame = frame[["open", "high", "low", "close"]]
            data[s] = frame * (marks[s] / frame["close"].iloc[0]) if rebase else frame
        params = {
            "csv": c["csv"],
            "start": c.get("start"),
            "end": c.get("end"),
            "rebase": rebase,
            "rows": len(index),
            "first": str(index[0].date()),
            "last": str(index[-1].date()),
        }
        cases.append(StressCase(name, kind, ratio, params, data))
    return tuple(cases)


# ----------------------------------------------------------------------------- load
def load(path: str | Path | None = None) -> Scenario:
    """Read and validate a scenario file (the shipped default when ``path`` is None).

    Raises
    ------
    ScenarioError
        With the file, the field (``positions[1].qty``, ``model.vol.ETHUSDT``) and what was
        expected, for a missing file, bad TOML, an unknown field, a wrong type, a missing
        value, an unknown exchange or symbol, a value out of range, a CSV that does not load,
        or a value the account model rejects.
    """
    p = default_path() if path is None else Path(path)
    where = str(p)
    try:
        raw = tomllib.loads(p.read_text("utf-8"))
    except FileNotFoundError:
        raise ScenarioError(where, "file", where, "an existing scenario file") from None
    except IsADirectoryError:
        raise ScenarioError(where, "file", where, "a scenario file, not a directory") from None
    except UnicodeDecodeError:
        raise ScenarioError(where, "file", where, "a UTF-8 text file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(where, "toml", str(exc), "valid TOML") from None
    for key in raw:
        if key not in _TOP:
            tables = ", ".join(f"[{k}]" for k in _TOP[2:-1])
            raise ScenarioError(
                where, key, raw[key], f"only [account], [[positions]], {tables} and [[stress]]"
            )
    acct = _section(where, "account", raw.get("account", {}), _ACCOUNT_FIELDS, _REQUIRED_ACCOUNT)
    if acct["exchange"] not in exchanges.names():
        raise ScenarioError(
            where, "account.exchange", acct["exchange"], f"one of {exchanges.names()}"
        )
    preset = exchanges.get(acct["exchange"])
    rows = raw.get("positions", [])
    if not isinstance(rows, list) or not rows:
        raise ScenarioError(where, "positions", rows, "one or more [[positions]] tables")
    positions = []
    for i, row in enumerate(rows):
        fieldname = f"positions[{i}]"
        pos = _section(where, fieldname, row, _POSITION_FIELDS, _REQUIRED_POSITION)
        if pos["symbol"] not in preset.symbols:
            raise ScenarioError(
                where,
                f"{fieldname}.symbol",
                pos["symbol"],
                f"one of {preset.symbols} for {preset.name}",
            )
        market = preset.market(pos.pop("symbol"))
        try:
            positions.append(Position(market, **pos))
        except InputError as exc:
            raise ScenarioError(
                where, f"{fieldname}.{exc.field}", exc.value, exc.expected
            ) from None
    try:
        account = Account(acct["wallet_balance"], positions, name=acct.get("name", ""))
    except InputError as exc:
        raise ScenarioError(where, f"account.{exc.field}", exc.value, exc.expected) from None
    base = p.resolve().parent
    return _questions(where, base, raw, Scenario(where, preset.name, account))


def _questions(where: str, base: Path, raw: dict, sc: Scenario) -> Scenario:
    """Add the model, simulation and questions of ``raw`` to the account-only ``sc``."""
    account = sc.account
    model, inputs, funding = (None, {}, 0.0)
    if "model" in raw:
        marks: dict[str, float] = {}
        for i, p in enumerate(account.positions):
            if p.symbol in marks and not math.isclose(marks[p.symbol], p.mark_price, rel_tol=1e-12):
                raise ScenarioError(
                    where,
                    f"positions[{i}].mark_price",
                    p.mark_price,
                    f"the mark of the other {p.symbol} positions "
                    f"({marks[p.symbol]:g}): a price model has one price "
                    "per symbol",
                )
            marks.setdefault(p.symbol, p.mark_price)
        model, inputs, funding = _model(where, base, raw["model"], account)
    sim = _simulation(where, raw["simulation"], model) if "simulation" in raw else None
    rep = _section(where, "report", raw.get("report", {}), _REPORT_FIELDS, ())
    stress = _stress(where, base, raw["stress"], account) if "stress" in raw else ()
    default_sections = tuple(s for s in SECTIONS if s != "stress" or stress)
    sections = rep.get("sections", list(default_sections))
    for i, s in enumerate(sections):
        _check(where, f"report.sections[{i}]", s, s in SECTIONS, f"one of {list(SECTIONS)}")
    _check(where, "report.sections", sections, bool(sections), f"one or more of {list(SECTIONS)}")
    if "stress" in sections and not stress:
        raise ScenarioError(
            where, "stress", None, "one or more [[stress]] cases (report.sections lists 'stress')"
        )
    cmp = _section(where, "compare", raw.get("compare", {}), _COMPARE_FIELDS, ())
    move = cmp.get("move", 0.05)
    _check(where, "compare.move", move, 0 < move < 1, "a fraction in (0, 1)")
    es = cmp.get("es_level", 0.975)
    _check(where, "compare.es_level", es, 0.5 <= es < 1, "a level in [0.5, 1)")
    sz = _section(where, "sizing", raw.get("sizing", {}), _SIZING_FIELDS, ())
    sizing = Sizing(
        _fractions(where, "sizing.probability", sz.get("probability", [0.01, 0.05])),
        _fractions(where, "sizing.distance", sz.get("distance", [0.10, 0.25])),
    )
    return Scenario(
        sc.path,
        sc.exchange,
        account,
        model,
        inputs,
        sim,
        funding,
        rep.get("title", ""),
        tuple(dict.fromkeys(sections)),
        {"move": move, "es_level": es},
        sizing,
        stress,
    )
