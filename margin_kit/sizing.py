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
from margin_kit.account import Account, Position
from margin_kit.contracts import ContractType, check_contract
from margin_kit.liquidation import tiered_liquidation_price
from margin_kit.risk import hit_probability
from margin_kit.tiers import TierTable

__all__ = [
    "collateral_for_liquidation_price",
    "crossover_wallet",
    "isolated_margin_matching_cross",
    "max_leverage_for_distance",
    "max_leverage_for_probability",
    "max_qty_for_distance",
    "max_qty_for_probability",
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


def _leverage_for_price(
    side: Any,
    entry_price: Any,
    qty: Any,
    target_price: Any,
    tiers: TierTable,
    contract: ContractType,
    contract_size: Any,
    index: Any,
) -> Any:
    """``L = N_0 / C`` with ``C`` the isolated margin that liquidates at ``target_price``."""
    contract = check_contract(contract)
    coll = np.asarray(
        collateral_for_liquidation_price(
            side, entry_price, qty, target_price, tiers,
            contract=contract, contract_size=contract_size,
        )
    )  # fmt: skip
    e = as_float(entry_price, "entry_price", positive=True)
    q = as_float(qty, "qty", positive=True)
    c = as_float(contract_size, "contract_size", positive=True)
    n0 = q * c * e if contract == "linear" else q * c / e
    return wrap_like(n0 / coll, index, "leverage")


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
    s = as_side(side)
    d = as_float(distance, "distance", positive=True, below=1.0)
    e = as_float(entry_price, "entry_price", positive=True)
    index = find_index([side, entry_price, qty, distance, contract_size])
    return _leverage_for_price(
        side, entry_price, qty, e * (1.0 - s * d), tiers, contract, contract_size, index
    )


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


def _barrier_for_probability(
    side: Any, spot: Any, vol: Any, horizon: Any, alpha: Any, drift: Any
) -> np.ndarray:
    """Liquidation price whose GBM hit probability within ``horizon`` equals ``alpha``.

    The probability falls monotonically as the barrier moves away from the spot, so the log
    distance is found by bisection (vectorised, to the last float bit).
    """
    s = as_side(side)
    spot_a = as_float(spot, "entry_price", positive=True)
    a = as_float(alpha, "alpha", positive=True, below=1.0)
    shape = np.broadcast_shapes(s.shape, spot_a.shape, np.shape(vol), np.shape(horizon), a.shape)
    lo = np.zeros(shape)  # log distance 0: touched, probability 1 > alpha
    hi = np.full(shape, 0.5)
    for _ in range(60):  # grow until the probability is below alpha (at most e^60 away)
        p = hit_probability(spot_a, spot_a * np.exp(-s * hi), vol, horizon, drift)
        if np.all(p <= a):
            break
        hi = np.where(p > a, hi * 2.0, hi)
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if np.all((mid <= lo) | (mid >= hi)):
            break  # every interval is down to adjacent floats: further steps change nothing
        p = hit_probability(spot_a, spot_a * np.exp(-s * mid), vol, horizon, drift)
        lo = np.where(p > a, mid, lo)
        hi = np.where(p > a, hi, mid)
    return spot_a * np.exp(-s * 0.5 * (lo + hi))


def max_qty_for_probability(
    side: Any,
    entry_price: Any,
    collateral: Any,
    tiers: TierTable,
    *,
    vol: Any,
    horizon: Any,
    alpha: Any,
    drift: Any = 0.0,
    contract: ContractType = "linear",
    contract_size: Any = 1.0,
) -> Any:
    """Largest quantity on ``collateral`` with P(liquidation within ``horizon``) <= ``alpha``.

    Under GBM from the entry price (:func:`margin_kit.risk.hit_probability`): the liquidation
    price with hit probability ``alpha`` is solved first, then the quantity that puts the
    liquidation there (:func:`qty_for_liquidation_price`).
    """
    target = _barrier_for_probability(side, entry_price, vol, horizon, alpha, drift)
    return qty_for_liquidation_price(
        side, entry_price, collateral, target, tiers, contract=contract, contract_size=contract_size
    )


def max_leverage_for_probability(
    side: Any,
    entry_price: Any,
    qty: Any,
    tiers: TierTable,
    *,
    vol: Any,
    horizon: Any,
    alpha: Any,
    drift: Any = 0.0,
    contract: ContractType = "linear",
    contract_size: Any = 1.0,
) -> Any:
    """Highest initial leverage with P(liquidation within ``horizon``) <= ``alpha`` (GBM).

    May exceed the tier's maximum leverage; compare with ``tiers.max_leverage_at``.
    """
    target = _barrier_for_probability(side, entry_price, vol, horizon, alpha, drift)
    index = find_index([side, entry_price, qty, contract_size])
    return _leverage_for_price(
        side, entry_price, qty, target, tiers, contract, contract_size, index
    )


def _cross_expected_loss(position: Position, wallet: float, vol: float, horizon: float,
                         drift: float) -> float:  # fmt: skip
    """Expected loss of ``position`` alone in cross mode on a wallet of ``wallet`` (GBM)."""
    p, spec = position, position.market.spec
    price = tiered_liquidation_price(
        p.side, p.entry_price, p.qty, wallet, p.market.tiers, contract=spec.contract,
        contract_size=spec.contract_size, tier_basis=p.market.tier_basis,
        close_fee_rate=p.market.close_fee_rate,
    )  # fmt: skip
    equity = wallet + p.unrealized_pnl()
    return float(hit_probability(p.mark_price, price, vol, horizon, drift)) * equity


def crossover_wallet(
    position: Position, *, vol: float, horizon: float, drift: float = 0.0
) -> float:
    """Wallet size above which cross margin has the lower expected loss for ``position``.

    Expected losses as in :func:`margin_kit.compare` (loss measured from the mark, GBM hit
    probabilities): isolated ``EL_i = P(hit at the isolated liquidation price) * (m + U)`` with
    ``m`` the initial margin and ``U`` the unrealised PnL; cross, the position alone on a wallet
    ``W``: ``EL_c(W) = P(hit at the cross liquidation price for W) * (W + U)``. At ``W = m`` the
    two are equal; as ``W`` grows the probability falls and the amount at stake rises, so
    ``EL_c`` first rises, peaks, then decays to 0. The crossover is the root of
    ``EL_c(W) = EL_i`` on the decaying side, found with Brent's method after locating the peak
    (both solved, not scanned). Returns ``m`` when ``EL_c`` never exceeds ``EL_i``.
    """
    from scipy.optimize import brentq, minimize_scalar

    if not isinstance(position, Position):
        raise InputError("position", type(position).__name__, "a Position")
    v = float(as_float(vol, "vol", positive=True))
    t = float(as_float(horizon, "horizon", positive=True))
    margin = position.initial_margin
    iso = _cross_expected_loss(position, margin, v, t, drift)  # same price as isolated at W = m

    def excess(log_w: float) -> float:
        return _cross_expected_loss(position, float(np.exp(log_w)), v, t, drift) - iso

    lo = float(np.log(margin))
    # the far end: a wallet whose liquidation is 40 sigma sqrt(T) away has EL_c ~ 0
    hi = lo + 1.0
    while excess(hi) > -1e-12 * max(iso, 1e-300) and hi < lo + 60:
        hi += 2.0
    peak = minimize_scalar(lambda x: -excess(x), bounds=(lo, hi), method="bounded",
                           options={"xatol": 1e-10})  # fmt: skip
    if -peak.fun <= 0:
        return margin
    return float(np.exp(brentq(excess, peak.x, hi, xtol=1e-14, rtol=1e-14)))
