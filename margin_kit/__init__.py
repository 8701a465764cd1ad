"""margin_kit: isolated vs cross margin analysis for crypto derivatives.

The core is pure functions over numpy arrays (:mod:`margin_kit.liquidation`), validated specs
(:mod:`margin_kit.tiers`, :mod:`margin_kit.contracts`), accounts (:mod:`margin_kit.account`),
exchange rules as data (:mod:`margin_kit.exchanges`), and on top of them price models and
liquidation probabilities (:mod:`margin_kit.risk`), the isolated-vs-cross table
(:func:`margin_kit.compare`) and its sweeps over leverage and price
(:func:`leverage_sweep`, :func:`price_sweep`, :func:`price_levels`), sizing
(:mod:`margin_kit.sizing`) and a margin-engine replay (:mod:`margin_kit.engine`).
:mod:`margin_kit.symbolic` derives every formula with sympy; it is imported on first use so the
numeric path stays light.
"""

from __future__ import annotations

from typing import Any

from margin_kit import engine, risk, sizing
from margin_kit._errors import InputError, TierTableError
from margin_kit.account import Account, Position
from margin_kit.compare import compare, leverage_sweep, price_levels, price_sweep
from margin_kit.contracts import ContractSpec, Market, notional, unrealized_pnl
from margin_kit.liquidation import (
    bankruptcy_price,
    equity,
    initial_margin,
    liquidation_price,
    maintenance_margin,
    margin_ratio,
    tiered_liquidation_price,
)
from margin_kit.tiers import Tier, TierTable

__version__ = "0.1.0"

__all__ = [
    "Account",
    "ContractSpec",
    "InputError",
    "Market",
    "Position",
    "Tier",
    "TierTable",
    "TierTableError",
    "__version__",
    "bankruptcy_price",
    "compare",
    "engine",
    "equity",
    "exchanges",
    "initial_margin",
    "leverage_sweep",
    "liquidation_price",
    "maintenance_margin",
    "margin_ratio",
    "notional",
    "price_levels",
    "price_sweep",
    "risk",
    "sizing",
    "symbolic",
    "tiered_liquidation_price",
    "unrealized_pnl",
]


def __getattr__(name: str) -> Any:
    # symbolic pulls in sympy (~0.2 s); exchanges reads data files: both load on first access.
    if name in ("symbolic", "exchanges"):
        import importlib

        return importlib.import_module(f"margin_kit.{name}")
    raise AttributeError(f"module 'margin_kit' has no attribute {name!r}")
