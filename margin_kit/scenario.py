"""Scenario files: an account described in TOML.

Format (every field checked; unknown fields are errors)::

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

A default scenario ships with the package (:func:`default_path`).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from margin_kit import exchanges
from margin_kit._errors import InputError
from margin_kit.account import Account, Position

__all__ = ["Scenario", "ScenarioError", "default_path", "load"]

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


class ScenarioError(InputError):
    """A scenario file that cannot be used; the message names the file and the field."""

    def __init__(self, path: str, field: str, value: Any, expected: str) -> None:
        self.path = path
        super().__init__(f"{path}: {field}", value, expected)


@dataclass(frozen=True)
class Scenario:
    """A loaded scenario: where it came from and the account it describes."""

    path: str
    exchange: str
    account: Account


def default_path() -> Path:
    """Path of the scenario shipped with the package."""
    return Path(str(resources.files("margin_kit").joinpath("data", "default_scenario.toml")))


def _typed(path: str, field: str, value: Any, kind: type) -> Any:
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ScenarioError(path, field, value, "a number")
        return float(value)
    if not isinstance(value, kind):
        raise ScenarioError(path, field, value, f"a {kind.__name__}")
    return value


def _section(path: str, where: str, raw: Any, fields: dict[str, type], required: tuple) -> dict:
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


def load(path: str | Path | None = None) -> Scenario:
    """Read and validate a scenario file (the shipped default when ``path`` is None).

    Raises
    ------
    ScenarioError
        With the file, the field (``positions[1].qty``) and what was expected, for a missing
        file, bad TOML, an unknown field, a wrong type, a missing value, an unknown exchange or
        symbol, or a value the account model rejects.
    """
    p = default_path() if path is None else Path(path)
    where = str(p)
    try:
        raw = tomllib.loads(p.read_text("utf-8"))
    except FileNotFoundError:
        raise ScenarioError(where, "file", where, "an existing scenario file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(where, "toml", str(exc), "valid TOML") from None
    for key in raw:
        if key not in ("account", "positions"):
            raise ScenarioError(where, key, raw[key], "only [account] and [[positions]]")
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
    return Scenario(where, preset.name, account)
