"""Contract types: linear (USDⓈ-margined) and inverse (coin-margined).

Conventions used throughout margin_kit
--------------------------------------
* side ``s`` is +1 for a long and -1 for a short.
* linear: ``qty`` is in base units (BTC for BTCUSDT) times ``contract_size`` (1 by default);
  notional ``N = qty * contract_size * P`` and PnL ``s * qty * contract_size * (P - E)`` are in the
  quote/settle currency (USDT).
* inverse: ``qty`` is a number of contracts, each worth ``contract_size`` quote units (100 USD for
  Binance's BTCUSD perpetual); notional ``N = qty * contract_size / P`` and
  PnL ``s * qty * contract_size * (1/E - 1/P)`` are in the coin (BTC). Margin is in the coin too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from margin_kit._errors import InputError
from margin_kit._validate import as_float, as_side, find_index, wrap_like
from margin_kit.tiers import TierTable

__all__ = [
    "CONTRACT_TYPES",
    "ContractSpec",
    "ContractType",
    "Market",
    "check_contract",
    "notional",
    "unrealized_pnl",
]

ContractType = Literal["linear", "inverse"]
CONTRACT_TYPES: tuple[ContractType, ...] = ("linear", "inverse")


def check_contract(contract: Any) -> ContractType:
    """Return ``contract`` if it is ``"linear"`` or ``"inverse"``; else raise InputError."""
    if contract not in CONTRACT_TYPES:
        raise InputError("contract", contract, "'linear' or 'inverse'")
    return contract


@dataclass(frozen=True)
class ContractSpec:
    """What a contract is: its type, its size and the currency it settles in.

    Parameters
    ----------
    symbol : str
        Exchange symbol (``"BTCUSDT"``, ``"BTCUSD_PERP"``).
    contract : {"linear", "inverse"}
        Linear: margin and PnL in the quote currency. Inverse: in the coin.
    contract_size : float
        Base units per contract (linear) or quote units per contract (inverse).
    settle_currency : str
        Currency of margin and PnL (``"USDT"``, ``"BTC"``).
    """

    symbol: str
    contract: ContractType = "linear"
    contract_size: float = 1.0
    settle_currency: str = "USDT"

    def __post_init__(self) -> None:
        check_contract(self.contract)
        as_float(self.contract_size, "contract_size", positive=True)


@dataclass(frozen=True)
class Market:
    """A tradable contract and the rule that sets its maintenance margin.

    This is what an account needs to know about a symbol: the contract, its tier table, which
    notional picks the tier at liquidation, and any fee-to-close the exchange adds to maintenance.

    Parameters
    ----------
    spec : ContractSpec
        The contract.
    tiers : TierTable
        Maintenance tiers.
    tier_basis : {"mark", "entry", "qty"}
        ``"mark"``: the tier is chosen by the notional at the mark (so, at liquidation, at the
        liquidation price; Binance, Hyperliquid); ``"entry"``: maintenance computed once at the
        entry notional, tier and value (Bybit);
        ``"qty"``: by the size in contracts (OKX).
    close_fee_rate : float
        Fee to close charged on the notional at liquidation and counted in maintenance (0 if none).
    liquidation : {"full", "tiered-partial"}
        How the exchange liquidates: the whole position at once, or step by step down the tier
        table (Bybit, OKX, Hyperliquid reduce the position to a lower tier first).
    source : str
        Where the rule comes from.
    """

    spec: ContractSpec
    tiers: TierTable
    tier_basis: str = "mark"
    close_fee_rate: float = 0.0
    liquidation: str = "full"
    source: str = ""

    def __post_init__(self) -> None:
        if self.tier_basis not in ("mark", "entry", "qty"):
            raise InputError("tier_basis", self.tier_basis, "'mark', 'entry' or 'qty'")
        if self.tier_basis == "mark" and not self.tiers.continuous:
            raise InputError("tier_basis", "mark", "'entry' or 'qty' for a discontinuous table")
        as_float(self.close_fee_rate, "close_fee_rate", nonnegative=True, below=1.0)
        if self.liquidation not in ("full", "tiered-partial"):
            raise InputError("liquidation", self.liquidation, "'full' or 'tiered-partial'")

    @property
    def symbol(self) -> str:
        """The contract's symbol."""
        return self.spec.symbol

    @classmethod
    def simple(
        cls,
        symbol: str,
        mmr: float,
        *,
        contract: ContractType = "linear",
        contract_size: float = 1.0,
        settle_currency: str = "USDT",
        max_leverage: float = 125.0,
    ) -> Market:
        """A market with one flat maintenance margin rate (teaching examples, quick checks)."""
        return cls(
            ContractSpec(symbol, contract, contract_size, settle_currency),
            TierTable.flat(mmr, max_leverage=max_leverage),
        )


def _notional(
    price: np.ndarray, qty: np.ndarray, contract: ContractType, contract_size: np.ndarray
) -> np.ndarray:
    if contract == "linear":
        return qty * contract_size * price
    return qty * contract_size / price


def notional(
    price: Any,
    qty: Any,
    *,
    contract: ContractType = "linear",
    contract_size: Any = 1.0,
) -> Any:
    """Position notional at ``price``.

    ``N = qty * contract_size * price`` (linear, quote currency) or
    ``N = qty * contract_size / price`` (inverse, coin).
    """
    contract = check_contract(contract)
    index = find_index([price, qty, contract_size])
    result = _notional(
        as_float(price, "price", positive=True),
        as_float(qty, "qty", positive=True),
        contract,
        as_float(contract_size, "contract_size", positive=True),
    )
    return wrap_like(result, index, "notional")


def unrealized_pnl(
    side: Any,
    entry_price: Any,
    mark_price: Any,
    qty: Any,
    *,
    contract: ContractType = "linear",
    contract_size: Any = 1.0,
) -> Any:
    """Unrealised PnL at ``mark_price``, in the settle currency.

    Linear: ``s * qty * contract_size * (P - E)``;
    inverse: ``s * qty * contract_size * (1/E - 1/P)``
    (Binance, "How to calculate unrealized PnL": USDⓈ-M and COIN-M futures).
    """
    contract = check_contract(contract)
    index = find_index([side, entry_price, mark_price, qty, contract_size])
    s = as_side(side)
    e = as_float(entry_price, "entry_price", positive=True)
    p = as_float(mark_price, "mark_price", positive=True)
    q = as_float(qty, "qty", positive=True)
    c = as_float(contract_size, "contract_size", positive=True)
    move = p - e if contract == "linear" else 1.0 / e - 1.0 / p
    return wrap_like(s * q * c * move, index, "unrealized_pnl")
