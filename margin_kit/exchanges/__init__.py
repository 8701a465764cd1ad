"""Exchange presets: tier tables and liquidation rules as data, each with its sources.

Presets live in ``margin_kit/exchanges/data/<name>.json`` (see ``SOURCES.md`` beside them); each
records the exchange's published formula, which notional picks the maintenance tier, any fee to
close, how liquidation proceeds, and where every number came from and when.

==================  =========  ==========  =====================================================
preset              contract   tier basis  what the exchange does differently
==================  =========  ==========  =====================================================
``binance-usdm``    linear     mark        reference rule: tier at the liquidation notional
``binance-coinm``   inverse    mark        margin, notional and maintenance amount in BTC
``bybit-linear``    linear     entry       maintenance fixed at entry value; tiered-partial
``okx-swap``        linear     qty         tiers by contracts, mmr on the whole value, no
                                           deduction; fee to close added to maintenance
``hyperliquid``     linear     mark        mmr = half the initial margin at max leverage
==================  =========  ==========  =====================================================

Examples
--------
>>> from margin_kit import exchanges
>>> exchanges.names()
['binance-coinm', 'binance-usdm', 'bybit-linear', 'hyperliquid', 'okx-swap']
>>> btc = exchanges.get("binance-usdm").market("BTCUSDT")
>>> float(btc.tiers.mmr_at(60_000))
0.005
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from typing import Any

from margin_kit._errors import InputError
from margin_kit.contracts import ContractSpec, Market
from margin_kit.tiers import TierTable

__all__ = ["ExchangePreset", "Source", "get", "names"]

_DATA = "data"


@dataclass(frozen=True)
class Source:
    """Where a preset's numbers or formula come from."""

    title: str
    url: str
    retrieved: str
    what: str = ""


@dataclass(frozen=True)
class ExchangePreset:
    """One exchange market type's rules and tier tables.

    Attributes
    ----------
    name : str
        Preset name (``"binance-usdm"``).
    exchange, market_type : str
        Human names (``"Binance"``, ``"USDⓈ-M perpetual futures"``).
    contract : {"linear", "inverse"}
    settle_currency, notional_unit : str
    tier_basis : {"mark", "entry", "qty"}
        What picks the maintenance tier (see :class:`margin_kit.contracts.Market`).
    close_fee_rate : float
        Fee to close included in maintenance (0 if the exchange's formula has none).
    liquidation : {"full", "tiered-partial"}
    maintenance_rule : str
    rule_notes : str
        The exchange's formula and what it does differently, in words.
    sources : tuple of Source
    markets : dict of str to Market
    """

    name: str
    exchange: str
    market_type: str
    contract: str
    settle_currency: str
    notional_unit: str
    tier_basis: str
    close_fee_rate: float
    liquidation: str
    maintenance_rule: str
    rule_notes: str
    sources: tuple[Source, ...]
    markets: dict[str, Market] = field(repr=False)
    symbol_info: dict[str, dict[str, Any]] = field(repr=False, default_factory=dict)

    @property
    def symbols(self) -> list[str]:
        """Symbols with a tier table in this preset."""
        return sorted(self.markets)

    def market(self, symbol: str, *, close_fee_rate: float | None = None) -> Market:
        """The :class:`~margin_kit.contracts.Market` for ``symbol``.

        ``close_fee_rate`` overrides the preset's fee to close (e.g. your own taker rate).
        """
        if symbol not in self.markets:
            raise InputError("symbol", symbol, f"one of {self.symbols} for {self.name}")
        m = self.markets[symbol]
        return m if close_fee_rate is None else replace(m, close_fee_rate=close_fee_rate)

    def tiers(self, symbol: str) -> TierTable:
        """The tier table of ``symbol``."""
        return self.market(symbol).tiers

    def describe(self) -> str:
        """The preset's rule and sources as plain text."""
        lines = [
            f"{self.exchange} {self.market_type} ({self.name}): {self.contract}, settles in "
            f"{self.settle_currency}; tier by {self.tier_basis}; fee to close "
            f"{self.close_fee_rate:g}; liquidation {self.liquidation}.",
            self.rule_notes,
            "Sources:",
        ]
        lines += [
            f"- {s.title} <{s.url}> (retrieved {s.retrieved}): {s.what}" for s in self.sources
        ]
        for sym in self.symbols:
            info = self.symbol_info.get(sym, {})
            lines.append(f"{sym}: as of {info.get('as_of', '?')}; {info.get('source', '')}")
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        return "```\n" + self.describe() + "\n```"


def names() -> list[str]:
    """Names of the shipped presets."""
    files = resources.files(__package__).joinpath(_DATA).iterdir()
    return sorted(f.name[: -len(".json")] for f in files if f.name.endswith(".json"))


@cache
def get(name: str) -> ExchangePreset:
    """Load a shipped preset by name (``"binance-usdm"``, ``"binance-coinm"``, ...)."""
    available = names()
    if name not in available:
        raise InputError("exchange", name, f"one of {available}")
    raw = json.loads(
        resources.files(__package__).joinpath(_DATA, f"{name}.json").read_text("utf-8")
    )
    return _build(raw)


def _build(raw: dict[str, Any]) -> ExchangePreset:
    name = raw["name"]
    continuous = raw.get("tier_basis") != "qty"
    markets: dict[str, Market] = {}
    info: dict[str, dict[str, Any]] = {}
    for symbol, spec in raw["symbols"].items():
        if not spec.get("tiers"):
            continue
        tiers = TierTable.from_records(
            spec["tiers"],
            symbol=symbol,
            notional_unit=raw["notional_unit"],
            source=spec.get("source", ""),
            continuous=continuous,
        )
        contract = ContractSpec(
            symbol, raw["contract"], float(spec["contract_size"]), raw["settle_currency"]
        )
        markets[symbol] = Market(
            contract,
            tiers,
            tier_basis=raw["tier_basis"],
            close_fee_rate=float(raw.get("close_fee_rate", 0.0)),
            liquidation=raw["liquidation"],
            source=f"{name}: {spec.get('source', '')}",
        )
        info[symbol] = {k: v for k, v in spec.items() if k != "tiers"}
    preset = ExchangePreset(
        name=name,
        exchange=raw["exchange"],
        market_type=raw["market"],
        contract=raw["contract"],
        settle_currency=raw["settle_currency"],
        notional_unit=raw["notional_unit"],
        tier_basis=raw["tier_basis"],
        close_fee_rate=float(raw.get("close_fee_rate", 0.0)),
        liquidation=raw["liquidation"],
        maintenance_rule=raw.get("maintenance_rule", "tiered"),
        rule_notes=raw["rule_notes"],
        sources=tuple(Source(**s) for s in raw["sources"]),
        markets=markets,
        symbol_info=info,
    )
    object.__setattr__(preset, "__doc__", preset.describe())
    return preset
