r"""Numeric liquidation and bankruptcy prices: vectorised, tier-aware, pure functions.

The condition (Binance, "How to calculate liquidation price of USDⓈ-M contracts"; the COIN-M page
for inverse contracts), with side ``s = +1`` long / ``-1`` short:

* equity  ``= C + U_o + PnL(P)``, with ``PnL = s q c (P - E)`` (linear) or ``s q c (1/E - 1/P)``
  (inverse, in coin);
* maintenance ``= N(P) * mmr - cum + MM_o``, with the notional ``N(P) = q c P`` (linear) or
  ``q c / P`` (inverse);
* liquidation: equity = maintenance; bankruptcy: equity = 0.

``C`` is the collateral: the position's isolated margin in isolated mode, the cross wallet balance
in cross mode, where ``U_o`` and ``MM_o`` are the unrealised PnL and maintenance margin of the
account's other cross positions held at their marks (both 0 in isolated mode).

Closed forms (:mod:`margin_kit.symbolic` derives them with sympy; tests prove the two agree):

.. math::

    P_{liq}^{linear} = \frac{C + U_o - MM_o + cum - s q c E}{q c (mmr - s)}, \qquad
    P_{liq}^{inverse} = \frac{q c (mmr + s)}{C + U_o - MM_o + cum + s q c / E}

Internally every variant is solved in notional space: with ``sigma = s`` (linear) or ``-s``
(inverse) and ``N_0`` the notional at entry, the condition reads
``N - sigma * MM(N) = N_0 - sigma * (C + U_o - MM_o)``, whose left side is increasing in ``N``;
that is what makes the tiered solve exact (see :func:`margin_kit.tiers.solve_notional`).

Return value where no liquidation exists
----------------------------------------
When no price in ``(0, inf)`` satisfies the condition the result is **NaN**: a linear long whose
collateral covers its notional less the maintenance (never liquidated however low the price), an
inverse short likewise (never liquidated however high), or an account already below maintenance at
every price. Prices are never negative or zero.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from margin_kit._errors import InputError
from margin_kit._validate import as_float, as_side, find_index, wrap_like
from margin_kit.contracts import ContractType, check_contract, unrealized_pnl
from margin_kit.tiers import (
    _BLOCK,
    _BUCKET_SHIFT,
    TierTable,
    _BlockWork,
    _bucket_search,
    _solve_block,
    _tier_search,
    solve_notional,
)

__all__ = [
    "bankruptcy_price",
    "equity",
    "initial_margin",
    "liquidation_price",
    "maintenance_margin",
    "margin_ratio",
    "tiered_liquidation_price",
    "unrealized_pnl",
]

TierBasis = Literal["mark", "entry", "qty"]
TIER_BASES: tuple[str, ...] = ("mark", "entry", "qty")


def _common(
    side: Any,
    entry_price: Any,
    qty: Any,
    collateral: Any,
    contract: Any,
    contract_size: Any,
    other_upnl: Any,
    other_maint_margin: Any,
) -> tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validate the shared inputs; return ``(contract, sigma, n0, qc, collateral_net)``."""
    contract = check_contract(contract)
    s = as_side(side)
    e = as_float(entry_price, "entry_price", positive=True)
    q = as_float(qty, "qty", positive=True)
    c = as_float(contract_size, "contract_size", positive=True)
    wallet = as_float(collateral, "collateral", nonnegative=True)
    u_o = as_float(other_upnl, "other_upnl")
    mm_o = as_float(other_maint_margin, "other_maint_margin", nonnegative=True)
    qc = q * c if c.ndim or c != 1.0 else q
    if contract == "linear":
        sigma, n0 = s, qc * e
    else:
        sigma, n0 = -s, qc / e
    net = wallet + u_o - mm_o if (u_o.ndim or u_o != 0 or mm_o.ndim or mm_o != 0) else wallet
    return contract, sigma, n0, qc, net, s


def _price_from_notional(n: np.ndarray, qc: np.ndarray, contract: str) -> np.ndarray:
    """``P = N / (q c)`` (linear) or ``q c / N`` (inverse); NaN where ``N`` is not > 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        p = n / qc if contract == "linear" else qc / n
    return np.where((n > 0) & np.isfinite(p), p, np.nan)


def _side_values(side: Any) -> np.ndarray | None:
    """Side as float64 without the +-1 check (the kernel checks it block by block).

    Words are converted (and checked) by :func:`as_side`; None for a type only the validators
    can judge.
    """
    if isinstance(side, str):
        return as_side(side)
    arr = np.asarray(side)
    if arr.dtype.kind in "OUS":
        return as_side(arr)
    if arr.dtype.kind not in "iufb":
        return None
    return arr.astype(np.float64, copy=False)


# How the kernel checks each input from one block's minimum and maximum (NaN fails every
# comparison, so it is caught too). "positive>0" checks only the minimum: the input is a factor of
# the entry notional, whose maximum is checked against the table's last cap, which rejects
# infinities and NaN as well (q, c, E linear; q, c inverse).
_RULES: dict[str, Callable[[Any, Any], bool]] = {
    "side": lambda lo, hi: lo == 1.0 and hi == 1.0,  # of |side|
    "positive": lambda lo, hi: lo > 0.0 and hi < np.inf,
    "positive>0": lambda lo, hi: lo > 0.0,
    "nonnegative": lambda lo, hi: lo >= 0.0 and hi < np.inf,
    "finite": lambda lo, hi: lo > -np.inf and hi < np.inf,
}


#: Smallest input for which :func:`_tiered_mark_kernel` looks tiers up by the key's bits.
_BUCKETS_FROM = 1 << 16
#: Smallest input for which it runs the compiled kernel, when numba is installed: importing numba
#: and loading the compiled code costs ~1 s once per process (~4 s the first time on a machine,
#: to compile), which only large inputs repay; small ones (widgets, accounts) never import it.
_COMPILED_FROM = 1 << 16


@functools.cache
def _compiled_kernel() -> Callable[..., bool] | None:
    """:func:`margin_kit._compiled.tiered_mark_prices`, or None without numba (the `fast` extra)."""
    try:
        from margin_kit._compiled import tiered_mark_prices
    except ImportError:  # numba is not installed: the numpy path, same results
        return None
    except Exception as exc:  # numba there but unusable (e.g. no writable cache directory)
        warnings.warn(
            f"margin_kit: the compiled kernel is unavailable ({exc!r}); using the numpy path",
            stacklevel=3,
        )
        return None
    return tiered_mark_prices


def _tiered_mark_kernel(
    side: Any,
    entry_price: Any,
    qty: Any,
    collateral: Any,
    tiers: TierTable,
    contract: Any,
    contract_size: Any,
    other_maint_margin: Any,
    other_upnl: Any,
    fee: float,
) -> np.ndarray | None:
    """Fused block-wise evaluator of :func:`tiered_liquidation_price` for ``tier_basis="mark"``.

    Computes per element what :func:`_common`, :func:`~margin_kit.tiers.solve_notional` and
    :func:`_price_from_notional` compute, with the same operations in the same order (so the
    same bits), but one block of ``_BLOCK`` elements at a time into preallocated buffers: each
    input array is read from memory once, every intermediate stays in cache, and the input
    checks are folded into the pass as one min/max reduction per input and block.

    Returns None when an input is not a plain number array, the shapes do not broadcast, or a
    check fails: the caller then runs the reference path, whose validators raise the precise
    error (field, index, value) exactly as before. Otherwise returns the prices, shaped like the
    broadcast inputs, NaN where there is no liquidation.
    """
    contract = check_contract(contract)
    linear = contract == "linear"
    s = _side_values(side)
    if s is None:
        return None
    try:
        e, q, c, wallet, u_o, mm_o = (
            np.asarray(v, dtype=np.float64)
            for v in (entry_price, qty, contract_size, collateral, other_upnl, other_maint_margin)
        )
        shape = np.broadcast_shapes(
            s.shape, e.shape, q.shape, c.shape, wallet.shape, u_o.shape, mm_o.shape
        )
    except (TypeError, ValueError):
        return None
    n = math.prod(shape)
    if n == 0:
        return None
    # Defaults (contract size 1, no other cross positions) skip their arithmetic, as _common does.
    unit_size = c.ndim == 0 and c == 1.0
    cross = bool(u_o.ndim or u_o != 0 or mm_o.ndim or mm_o != 0)

    # Every operand becomes a 0-d scalar (checked here, once) or a flat vector of n elements
    # (a view of the usual same-shape C-contiguous array; a copy only to broadcast).
    entry_rule = "positive>0" if linear else "positive"
    operands = [
        (s, "side"), (e, entry_rule), (q, "positive>0"), (c, "positive>0"),
        (wallet, "nonnegative"), (u_o, "finite"), (mm_o, "nonnegative"),
    ]  # fmt: skip
    flat: list[np.ndarray] = []
    for x, rule in operands:
        if x.ndim == 0:
            lo = hi = abs(x) if rule == "side" else x
            if not _RULES[rule](lo, hi) or not np.isfinite(x):
                return None
            flat.append(x)
        else:
            flat.append(x.reshape(-1) if x.shape == shape else np.broadcast_to(x, shape).ravel())
    checks = [
        (i, rule) for i, (x, (_, rule)) in enumerate(zip(flat, operands, strict=True)) if x.ndim
    ]  # the vectors, checked block by block

    compiled = _compiled_kernel() if n >= _COMPILED_FROM else None
    if compiled is not None:
        return _run_compiled(compiled, flat, tiers, fee, linear, unit_size, cross, shape)

    search = _tier_search(tiers, fee)
    # the bucket tables (5 MB, ~25 ms to build, cached) pay off on large inputs
    buckets = _bucket_search(tiers, fee, not linear) if n >= _BUCKETS_FROM else None
    shift = np.uint64(_BUCKET_SHIFT)
    side_scalar = None if flat[0].ndim else np.uint64(int(flat[0].view(np.uint64)) >> (shift - 1))
    cap = float(tiers.caps[-1])
    size = min(n, _BLOCK)
    work = _BlockWork(search, size) if buckets is None else None
    qc_buf, n0_buf, net_buf, key_buf, cum_buf, den_buf = (np.empty(size) for _ in range(6))
    index_buf = np.empty(size, dtype=np.uint64)
    bad_buf = np.empty(size, dtype=np.bool_)
    den_view = den_buf.view(np.uint64)  # the side's bits, shifted, before the gather overwrites
    sigma_negative = np.less if linear else np.greater  # sigma < 0: s < 0 or, inverse, s > 0
    out = np.empty(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        for start in range(0, n, _BLOCK):
            block = slice(start, start + _BLOCK)
            m = min(_BLOCK, n - start)
            views = [x[block] if x.ndim else x for x in flat]
            sb, eb, qb, cb, wb, ub, mb = views
            # 1. input checks: a min (and a max) per input vector and block. With the bucket
            #    tables the collateral's max is not needed: +inf makes the key -inf, whose
            #    bucket gives a price <= 0, which step 5 catches. Sides: |side| is 1 exactly
            #    (a sum of squares equal to m, once used here, let 1 - 2**-53 through: the
            #    sum rounds).
            for i, rule in checks:
                v = views[i]
                if rule == "side":
                    magnitude = np.abs(v, out=cum_buf[:m])
                    if not (magnitude.min() == 1.0 and magnitude.max() == 1.0):
                        return None
                    continue
                if i == 4 and buckets is not None:
                    if not v.min() >= 0.0:
                        return None
                    continue
                hi = None if rule == "positive>0" else v.max()
                if not _RULES[rule](v.min(), hi):
                    return None
            # 2. entry notional N0 = q c E (linear) or q c / E (inverse), below the last cap
            qc = qb if unit_size else np.multiply(qb, cb, out=qc_buf[:m])
            if linear:
                n0 = np.multiply(qc, eb, out=n0_buf[:m])
            else:
                n0 = np.divide(qc, eb, out=n0_buf[:m])
            if not n0.max() < cap:
                return None
            # 3. target T = N0 - sigma (C + U_o - MM_o), sigma = s (linear) or -s (inverse),
            #    needed only as the key sigma T = sigma N0 - net (sigma^2 = 1: the same bits as
            #    sigma * (N0 - sigma net), since multiplying by +-1 is exact)
            net = wb
            if cross:
                net = np.add(net, ub, out=net_buf[:m])
                net = np.subtract(net, mb, out=net_buf[:m])
            key = np.multiply(sb, n0, out=key_buf[:m])
            if linear:
                np.subtract(key, net, out=key)
            else:
                np.negative(np.add(key, net, out=key), out=key)
            # 4. notional at liquidation (into n0_buf): the tier's coefficients looked up by the
            #    key's top bits and the side's (see _BucketSearch); NaN where T < 0 (no root),
            #    -inf where the key's bucket holds a tier threshold
            #    (few elements: counting thresholds, without building the bucket tables)
            if buckets is None:
                negative = sigma_negative(sb, 0.0, out=bad_buf[:m] if sb.ndim else None)
                notional = _solve_block(search, key, negative, n0_buf[:m], work)
            else:
                index = np.right_shift(key.view(np.uint64), shift, out=index_buf[:m])
                if sb.ndim:
                    side_bits = np.right_shift(sb.view(np.uint64), shift - 1, out=den_view[:m])
                    np.add(index, side_bits, out=index)
                else:
                    np.add(index, side_scalar, out=index)
                at = index.view(np.intp)
                cum = np.take(buckets.cum, at, out=cum_buf[:m], mode="wrap")
                den = np.take(buckets.denominator, at, out=den_buf[:m], mode="wrap")
                notional = np.divide(np.subtract(key, cum, out=n0_buf[:m]), den, out=n0_buf[:m])
            # 5. price P = N / (q c) (linear) or q c / N (inverse), straight into the output
            p = out[block]
            if linear:
                np.divide(notional, qc, out=p)
            else:
                np.divide(qc, notional, out=p)
            # The NaN-ignoring min and max pass unless some price is <= 0 or infinite: a key in
            # a bucket with a threshold (N = -inf), T == 0, an infinite collateral or overflow.
            # Those few elements go through the reference solve (same bits as counting).
            top = np.fmax.reduce(p)
            if not (np.fmin.reduce(p) > 0.0 and top < np.inf):
                bad = np.less_equal(p, 0.0, out=bad_buf[:m])
                if not top < np.inf:
                    bad |= np.isposinf(p)
                redo = np.flatnonzero(bad)
                k_redo = key[redo]
                if not np.isfinite(k_redo).all():
                    return None  # infinite collateral (or overflow): the reference path says
                s_redo = sb[redo] if sb.ndim else sb
                sigma = s_redo if linear else -s_redo
                n_redo = solve_notional(tiers, sigma * k_redo, sigma, fee)  # T = sigma * key
                p[redo] = _price_from_notional(n_redo, qc[redo] if qc.ndim else qc, contract)
    return out.reshape(shape)


def _run_compiled(
    kernel: Callable[..., bool],
    flat: list[np.ndarray],
    tiers: TierTable,
    fee: float,
    linear: bool,
    unit_size: bool,
    cross: bool,
    shape: tuple[int, ...],
) -> np.ndarray | None:
    """The compiled kernel on :func:`_tiered_mark_kernel`'s operands; None if a check fails.

    Scalars are checked by the caller; vectors by :func:`margin_kit._compiled.tiered_mark_prices`.
    """
    search = _tier_search(tiers, fee)
    buckets = _bucket_search(tiers, fee, not linear)
    tables = (
        buckets.cum, buckets.denominator, search.thresholds.reshape(-1), search.cum,
        search.denominator, search.cum.shape[0] // 2, _BUCKET_SHIFT,
    )  # fmt: skip
    operands = [np.ascontiguousarray(x.reshape(-1)) for x in flat]  # a scalar: one element
    out = np.empty(math.prod(shape))
    if not kernel(operands, linear, unit_size, cross, float(tiers.caps[-1]), tables, out):
        return None
    return out.reshape(shape)


def liquidation_price(
    side: Any,
    entry_price: Any,
    qty: Any,
    collateral: Any,
    mmr: Any,
    maint_amount: Any = 0.0,
    *,
    contract: ContractType = "linear",
    contract_size: Any = 1.0,
    other_maint_margin: Any = 0.0,
    other_upnl: Any = 0.0,
) -> Any:
    r"""Price at which equity falls to the maintenance margin, for a given mmr and maint. amount.

    .. math::

        P_{liq} = \frac{C + U_o - MM_o + cum - s q c E}{q c (mmr - s)}\ \text{(linear)},\qquad
        P_{liq} = \frac{q c (mmr + s)}{C + U_o - MM_o + cum + s q c / E}\ \text{(inverse)}

    Source: Binance, "How to calculate liquidation price of USDⓈ-M contracts" (one-way mode,
    ``LP = (WB - TMM1 + UPNL1 + cumB - side*pos*EP) / (pos*MMR - side*pos)``) and the COIN-M
    counterpart.

    Parameters
    ----------
    side : {"long", "short", +1, -1} or array_like
        Position side.
    entry_price : float or array_like
        Entry price, > 0.
    qty : float or array_like
        Quantity, > 0 (base units for linear; contracts for inverse).
    collateral : float or array_like
        Isolated margin (isolated mode) or cross wallet balance (cross mode), >= 0, in the settle
        currency (coin for inverse).
    mmr : float or array_like
        Maintenance margin rate of the tier that applies, ``0 <= mmr < 1``. A fee-to-close charged
        on the notional at liquidation can be folded in as ``mmr + fee_rate``.
    maint_amount : float or array_like, default 0
        Maintenance amount (Binance's ``cum``) of that tier, >= 0.
    contract : {"linear", "inverse"}, default "linear"
        Contract type (see :mod:`margin_kit.contracts`).
    contract_size : float or array_like, default 1
        Base units (linear) or quote units (inverse) per contract.
    other_maint_margin, other_upnl : float or array_like, default 0
        Cross mode: maintenance margin and unrealised PnL of the account's other cross positions
        at their mark prices. Zero for isolated.

    Returns
    -------
    float, ndarray or Series
        Liquidation price; NaN where no positive price satisfies the condition (see the module
        docstring). Scalars in give a scalar, Series in give a Series on the same index.

    Raises
    ------
    InputError
        A ``ValueError`` naming the field and value: non-positive or non-finite price or quantity,
        negative collateral, ``mmr`` outside ``[0, 1)``, an unknown side or contract type.

    Examples
    --------
    Binance's published cross example (ETHUSDT long, BTCUSDT long held at its mark):

    >>> other_mm = 109.488 * 31967.27 * 0.025 - 16300
    >>> other_upnl = 109.488 * (31967.27 - 32481.98)
    >>> round(float(liquidation_price("long", 1456.84, 3683.979, 1535443.01, 0.10, 135365,
    ...       other_maint_margin=other_mm, other_upnl=other_upnl)), 2)
    1153.26
    """
    index = find_index(
        [
            side,
            entry_price,
            qty,
            collateral,
            mmr,
            maint_amount,
            contract_size,
            other_maint_margin,
            other_upnl,
        ]
    )
    contract, sigma, n0, qc, net, _ = _common(
        side, entry_price, qty, collateral, contract, contract_size, other_upnl, other_maint_margin
    )
    m = as_float(mmr, "mmr", nonnegative=True, below=1.0)
    cum = as_float(maint_amount, "maint_amount", nonnegative=True)
    n = (n0 - sigma * (net + cum)) / (1.0 - sigma * m)
    return wrap_like(_price_from_notional(n, qc, contract), index, "liquidation_price")


def bankruptcy_price(
    side: Any,
    entry_price: Any,
    qty: Any,
    collateral: Any,
    mmr: Any = None,
    maint_amount: Any = None,
    *,
    contract: ContractType = "linear",
    contract_size: Any = 1.0,
    other_maint_margin: Any = None,
    other_upnl: Any = 0.0,
) -> Any:
    r"""Price at which equity falls to zero: the collateral is exhausted.

    .. math::

        P_{bk} = E - \frac{s (C + U_o)}{q c}\ \text{(linear)},\qquad
        P_{bk} = \frac{q c\, s}{C + U_o + s q c / E}\ \text{(inverse)}

    Takes the same arguments as :func:`liquidation_price` so both can be called with one set of
    inputs; ``mmr``, ``maint_amount`` and ``other_maint_margin`` do not enter ``equity = 0`` and
    are ignored. Returns NaN where equity never reaches zero (a linear long fully collateralised
    down to price 0, an inverse short fully collateralised up to infinity).

    Examples
    --------
    >>> float(bankruptcy_price("long", 100.0, 1.0, 10.0))
    90.0
    """
    del mmr, maint_amount, other_maint_margin
    index = find_index([side, entry_price, qty, collateral, contract_size, other_upnl])
    contract, sigma, n0, qc, net, _ = _common(
        side, entry_price, qty, collateral, contract, contract_size, other_upnl, 0.0
    )
    n = n0 - sigma * net
    return wrap_like(_price_from_notional(n, qc, contract), index, "bankruptcy_price")


def tiered_liquidation_price(
    side: Any,
    entry_price: Any,
    qty: Any,
    collateral: Any,
    tiers: TierTable,
    *,
    contract: ContractType = "linear",
    contract_size: Any = 1.0,
    other_maint_margin: Any = 0.0,
    other_upnl: Any = 0.0,
    tier_basis: TierBasis = "mark",
    close_fee_rate: float = 0.0,
) -> Any:
    """Liquidation price with the maintenance tier resolved by the exchange's rule.

    ``tier_basis="mark"`` (Binance: maintenance margin is charged on the notional at the mark
    price, so at liquidation on the notional at the liquidation price): the tier is the one whose
    bracket holds the *liquidation* notional, which may differ from the tier at entry. The solve
    is exact, not iterated: see :func:`margin_kit.tiers.solve_notional`.
    ``tier_basis="entry"``: the maintenance margin is computed once at the entry notional, tier
    and value (Bybit: ``LP = E - s (IM - MM) / Q`` with ``MM = Q E mmr - deduction``).
    ``tier_basis="qty"``: the tier is fixed by the position size in contracts, which the table's
    floors and caps are then counted in (OKX).
    ``close_fee_rate``: a fee to close added to the maintenance margin as a rate on the notional
    the maintenance is computed on (OKX's taker-fee term).

    Other parameters and the return value are as in :func:`liquidation_price`.

    Speed: with ``tier_basis="mark"``, inputs of 65,536 elements or more run through a compiled
    kernel when numba is installed (``pip install margin_kit[fast]``; ~1 s to load it once per
    process), else through the numpy block kernel; both give the same bits as the reference
    path (``benchmarks/bench_liquidation.py`` times them).

    Examples
    --------
    >>> t = TierTable.from_records([
    ...     {"floor": 0, "cap": 50_000, "max_leverage": 125, "mmr": 0.004, "maint_amount": 0},
    ...     {"floor": 50_000, "cap": 250_000, "max_leverage": 100, "mmr": 0.005,
    ...      "maint_amount": 50},
    ... ])
    >>> # a 5x long of 2 BTC at 30,000 (notional 60k: tier 2) is liquidated in tier 1
    >>> p = float(tiered_liquidation_price("long", 30_000, 2.0, 12_000, t))
    >>> round(p, 2), int(t.tier_index(2.0 * p))
    (24096.39, 0)
    """
    if not isinstance(tiers, TierTable):
        raise InputError("tiers", type(tiers).__name__, "a TierTable")
    if tier_basis not in TIER_BASES:
        raise InputError("tier_basis", tier_basis, "'mark', 'entry' or 'qty'")
    if tier_basis == "mark" and not tiers.continuous:
        raise InputError(
            "tier_basis", tier_basis, "'entry' or 'qty' for a table without maintenance amounts"
        )
    fee = float(as_float(close_fee_rate, "close_fee_rate", nonnegative=True, below=1.0))
    if float(tiers.mmrs[-1]) + fee >= 1.0:
        raise InputError("close_fee_rate", close_fee_rate, "mmr + close_fee_rate < 1")
    index = find_index(
        [side, entry_price, qty, collateral, contract_size, other_maint_margin, other_upnl]
    )
    if tier_basis == "mark":
        price = _tiered_mark_kernel(
            side, entry_price, qty, collateral, tiers, contract, contract_size,
            other_maint_margin, other_upnl, fee,
        )  # fmt: skip
        if price is not None:
            return wrap_like(price, index, "liquidation_price")
    # Reference path: the other tier bases, and any input the kernel declined, so that the
    # validators below raise the precise error.
    contract, sigma, n0, qc, net, _ = _common(
        side, entry_price, qty, collateral, contract, contract_size, other_upnl, other_maint_margin
    )
    cap = float(tiers.caps[-1])
    size = np.broadcast_to(qty, np.shape(n0)) if tier_basis == "qty" else n0
    if size.size and not size.max() < cap:
        bad = np.flatnonzero(np.ravel(size >= cap))
        where = f"[{int(bad[0])}]" if size.ndim else ""
        what = "a size in contracts" if tier_basis == "qty" else "an entry notional"
        raise InputError(
            "qty" + where, float(np.ravel(size)[bad[0]]), f"{what} below the last cap {cap:g}"
        )
    target = n0 - sigma * net
    if tier_basis == "mark":
        n = solve_notional(tiers, target, sigma, fee)
    else:
        k = np.searchsorted(tiers.floors, size, side="right") - 1
        rate = tiers.mmrs[k] + fee
        if tier_basis == "entry":
            # maintenance computed once, at the entry notional: a constant MM_0
            n = target + sigma * (n0 * rate - tiers.maint_amounts[k])
        else:
            n = (target - sigma * tiers.maint_amounts[k]) / (1.0 - sigma * rate)
    return wrap_like(_price_from_notional(n, qc, contract), index, "liquidation_price")


def initial_margin(
    entry_price: Any,
    qty: Any,
    leverage: Any,
    *,
    contract: ContractType = "linear",
    contract_size: Any = 1.0,
) -> Any:
    """Initial margin ``N_0 / leverage`` with the notional at entry (settle currency)."""
    contract = check_contract(contract)
    index = find_index([entry_price, qty, leverage, contract_size])
    e = as_float(entry_price, "entry_price", positive=True)
    q = as_float(qty, "qty", positive=True)
    c = as_float(contract_size, "contract_size", positive=True)
    lev = as_float(leverage, "leverage", positive=True)
    n0 = q * c * e if contract == "linear" else q * c / e
    return wrap_like(n0 / lev, index, "initial_margin")


def maintenance_margin(
    mark_price: Any,
    qty: Any,
    mmr: Any = None,
    maint_amount: Any = 0.0,
    *,
    tiers: TierTable | None = None,
    contract: ContractType = "linear",
    contract_size: Any = 1.0,
) -> Any:
    """Maintenance margin ``N(P) * mmr - cum`` at ``mark_price``.

    Give either ``mmr`` (and ``maint_amount``) or a ``tiers`` table, whose tier is looked up at the
    notional ``N(P)`` (``q c P`` linear, ``q c / P`` inverse, settle currency).
    """
    contract = check_contract(contract)
    index = find_index([mark_price, qty, mmr, maint_amount, contract_size])
    p = as_float(mark_price, "mark_price", positive=True)
    q = as_float(qty, "qty", positive=True)
    c = as_float(contract_size, "contract_size", positive=True)
    n = q * c * p if contract == "linear" else q * c / p
    if tiers is not None:
        if mmr is not None:
            raise InputError("mmr", mmr, "None when tiers are given")
        result = tiers.maintenance_margin(n)
    else:
        if mmr is None:
            raise InputError("mmr", mmr, "a rate in [0, 1), or tiers=")
        m = as_float(mmr, "mmr", nonnegative=True, below=1.0)
        cum = as_float(maint_amount, "maint_amount", nonnegative=True)
        result = n * m - cum
    return wrap_like(result, index, "maintenance_margin")


def equity(
    side: Any,
    entry_price: Any,
    mark_price: Any,
    qty: Any,
    collateral: Any,
    *,
    contract: ContractType = "linear",
    contract_size: Any = 1.0,
    other_upnl: Any = 0.0,
) -> Any:
    """Margin balance ``C + U_o + PnL(P)`` (settle currency)."""
    index = find_index([side, entry_price, mark_price, qty, collateral, other_upnl])
    pnl = np.asarray(
        unrealized_pnl(
            side, entry_price, mark_price, qty, contract=contract, contract_size=contract_size
        )
    )
    wallet = as_float(collateral, "collateral", nonnegative=True)
    u_o = as_float(other_upnl, "other_upnl")
    return wrap_like(wallet + u_o + pnl, index, "equity")


def margin_ratio(maint_margin: Any, margin_balance: Any) -> Any:
    """Binance's margin ratio ``maintenance margin / margin balance``; liquidation at >= 1.

    A non-positive margin balance gives ``inf`` (already past liquidation).
    """
    index = find_index([maint_margin, margin_balance])
    mm = as_float(maint_margin, "maint_margin", nonnegative=True)
    bal = as_float(margin_balance, "margin_balance")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(bal > 0, mm / np.where(bal > 0, bal, 1.0), np.inf)
    return wrap_like(ratio, index, "margin_ratio")
