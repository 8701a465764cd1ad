r"""Position sizing: how big, how leveraged, how much margin, for a target liquidation price.

All answers are solved, not scanned. At a target liquidation price :math:`P^*` the maintenance
condition of an isolated position, ``C + s q c \Delta(P^*) = MM(N^*)``, can be written in the
notional at that price, :math:`N^* = q c P^*` (linear) or :math:`q c / P^*` (inverse), as

.. math::

    C = MM(N^*) + \kappa N^*, \qquad
    \kappa = -s \frac{P^* - E}{P^*}\ \text{(linear)}, \qquad
    \kappa = -s \left(\frac{P^*}{E} - 1\right)\ \text{(inverse)},

where :math:`\kappa > 0` when :math:`P^*` is on the losing side of the entry price. The right side
is continuous, increasing and piecewise linear in :math:`N^*` (the maintenance curve
``MM(N) = max_k(N mmr_k - cum_k)`` plus a line), so for a given collateral the notional follows
from one search over the tier breakpoints, and for a given quantity the collateral is a direct
evaluation. Every function here is checked in the tests by plugging its answer back into
:func:`margin_kit.tiered_liquidation_price`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from margin_kit._errors import InputError
from margin_kit._validate import as_float, as_side, find_index, wrap_like
from margin_kit.account import Account
from margin_kit.contracts import ContractType, check_contract
from margin_kit.tiers import TierTable

__all__ = [
    "collateral_for_liquidation_price",
    "isolated_margin_matching_cross",
    "max_leverage_for_distance",
    "max_qty_for_distance",
    "qty_for_liquidation_price",
]


def _target_terms(
    side: Any, entry_price: Any, target_price: Any, contract: ContractType
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated ``(s, E, P*)`` and ``kappa``; raise if ``P*`` is not on the losing side."""
    s = as_side(side)
    e = as_float(entry_price, "entry_price", positive=True)
    p = as_float(target_price, "target_price", positive=True)
    adverse = s * (e - p) > 0
    if not np.all(adverse):
        bad = np.broadcast_to(~adverse, np.broadcast_shapes(s.shape, e.shape, p.shape))
        i = int(np.flatnonzero(bad.ravel())[0]) if bad.ndim else 0
        value = np.broadcast_to(p, bad.shape).ravel()[i].item() if bad.ndim else p.item()
        raise InputError(
            "target_price", value, "below the entry price for a long, above it for a short"
        )
    kappa = -s * (p - e) / p if contract == "linear" else -s * (p / e - 1.0)
    return s, p, kappa


def collateral_for_liquidation_price(
    side: Any,
    entry_price: Any,
    qty: Any,
    target_price: Any,
    tiers: TierTable,
    *,
    contract: ContractType = "linear",
    contract_size: Any = 1.0,
) -> Any:
    """Isolated margin that puts the liquidation price exactly at ``target_price``.

    ``C = MM(N*) + kappa N*`` with the tier at the notional at ``target_price`` (the "mark" tier
    rule). Raises :class:`InputError` when ``target_price`` is not on the losing side of entry.
    """
    contract = check_contract(contract)
    index = find_index([side, entry_price, qty, target_price, contract_size])
    _, p, kappa = _target_terms(side, entry_price, target_price, contract)
    q = as_float(qty, "qty", positive=True)
    c = as_float(contract_size, "contract_size", positive=True)
    n_star = q * c * p if contract == "linear" else q * c / p
    collateral = tiers.maintenance_margin(n_star) + kappa * n_star
    return wrap_like(collateral, index, "collateral")


def qty_for_liquidation_price(
    side: Any,
    entry_price: Any,
    collateral: Any,
    target_price: Any,
    tiers: TierTable,
    *,
    contract: ContractType = "linear",
    contract_size: Any = 1.0,
) -> Any:
    """Quantity whose isolated liquidation price with ``collateral`` is ``target_price``.

    Solves ``MM(N*) + kappa N* = C`` for ``N*`` (one search over the tier breakpoints, where the
    left side is continuous and increasing), then ``q = N* / (c P*)`` (linear) or
    ``q = N* P* / c`` (inverse). Raises :class:`InputError` if that quantity would exceed the
    table's last cap.
    """
    contract = check_contract(contract)
    index = find_index([side, entry_price, collateral, target_price, contract_size])
    _, p, kappa = _target_terms(side, entry_price, target_price, contract)
    coll = as_float(collateral, "collateral", positive=True)
    c = as_float(contract_size, "contract_size", positive=True)
    floors, mmrs, cums = tiers.floors, tiers.mmrs, tiers.maint_amounts
    shape = np.broadcast_shapes(kappa.shape, coll.shape)
    k_b = np.broadcast_to(kappa, shape)[..., None]
    # h(floor_j) for every tier j: where the root's tier starts, per element (kappa varies)
    at_floors = floors * mmrs - cums + k_b * floors
    k = np.sum(at_floors <= np.broadcast_to(coll, shape)[..., None], axis=-1) - 1
    n_star = (coll + cums[k]) / (mmrs[k] + np.broadcast_to(kappa, shape))
    cap = float(tiers.caps[-1])
    if np.any(n_star >= cap):
        raise InputError("collateral", coll.max().item(), f"a size whose notional is below {cap:g}")
    q = n_star / (c * p) if contract == "linear" else n_star * p / c
    return wrap_like(q, index, "qty")


def max_qty_for_distance(
    side: Any,
    entry_price: Any,
    collateral: Any,
    distance: Any,
    tiers: TierTable,
    *,
    contract: ContractType = "linear",
    contract_size: Any = 1.0,
) -> Any:
    """Largest quantity whose liquidation is at least ``distance`` (a fraction) from entry.

    The target price is ``E (1 - s d)``; a larger quantity on the same collateral liquidates
    closer, so the answer is :func:`qty_for_liquidation_price` at that price.
    """
    s = as_side(side)
    d = as_float(distance, "distance", positive=True, below=1.0)
    e = as_float(entry_price, "entry_price", positive=True)
    return qty_for_liquidation_price(
        side, entry_price, collateral, e * (1.0 - s * d), tiers,
        contract=contract, contract_size=contract_size,
    )  # fmt: skip


def max_leverage_for_distance(
    side: Any,
    entry_price: Any,
    qty: Any,
    distance: Any,
    tiers: TierTable,
    *,
    contract: ContractType = "linear",
    contract_size: Any = 1.0,
) -> Any:
    """Highest initial leverage whose isolated liquidation is ``distance`` (fraction) from entry.

    ``L = N_0 / C`` with ``C`` from :func:`collateral_for_liquidation_price` at ``E (1 - s d)``.
    The answer may exceed the tier's maximum leverage; compare with ``tiers.max_leverage_at``.
    """
    contract = check_contract(contract)
    s = as_side(side)
    d = as_float(distance, "distance", positive=True, below=1.0)
    e = as_float(entry_price, "entry_price", positive=True)
    q = as_float(qty, "qty", positive=True)
    c = as_float(contract_size, "contract_size", positive=True)
    coll = np.asarray(
        collateral_for_liquidation_price(
            side, entry_price, qty, e * (1.0 - s * d), tiers,
            contract=contract, contract_size=contract_size,
        )
    )  # fmt: skip
    n0 = q * c * e if contract == "linear" else q * c / e
    index = find_index([side, entry_price, qty, distance, contract_size])
    return wrap_like(n0 / coll, index, "leverage")


def isolated_margin_matching_cross(account: Account, name: str) -> float:
    """Isolated margin that would give position ``name`` the liquidation price it has in cross.

    The cross liquidation price holds the other cross positions at their marks (as
    :meth:`Account.liquidation_prices`); the isolated margin follows from the position's own
    condition at that price. NaN when the position has no cross liquidation price.
    """
    cross = account.with_mode("cross", [name])
    p_star = float(cross.liquidation_prices().loc[name, "liquidation_price"])
    if np.isnan(p_star):
        return float("nan")
    pos = cross.position(name)
    if pos.market.tier_basis != "mark":
        raise InputError("tier_basis", pos.market.tier_basis, "'mark' (closed form for that rule)")
    spec = pos.market.spec
    return float(
        collateral_for_liquidation_price(
            pos.side, pos.entry_price, pos.qty, p_star, pos.market.tiers,
            contract=spec.contract, contract_size=spec.contract_size,
        )
    )  # fmt: skip
