"""Tier tables (Binance "leverage brackets", Bybit/OKX "risk limits", Hyperliquid "margin tiers").

A tier ``k`` covers notionals ``floor_k <= N < cap_k`` and gives a maximum leverage, a maintenance
margin rate ``mmr_k`` and a maintenance amount ``cum_k`` (Binance's name):
``maintenance_margin(N) = N * mmr_k - cum_k``. With ``cum_0 = 0`` and
``cum_k = cum_{k-1} + floor_k * (mmr_k - mmr_{k-1})`` the maintenance margin is continuous in ``N``,
and with ``mmr`` non-decreasing it is convex: ``MM(N) = max_k (N * mmr_k - cum_k)``. That is what
lets :func:`solve_notional` find the tier of a liquidation exactly with one search over ``K``
breakpoints shared by every position.

Source: Binance, "Leverage and Margin of USDⓈ-M Futures" (maintenance amount definition) and the
``fetch_leverage_tiers`` structure of ccxt (``minNotional``, ``maxNotional``,
``maintenanceMarginRate``, ``maxLeverage``, ``info``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from margin_kit._errors import InputError, TierTableError
from margin_kit._validate import as_float

__all__ = ["Tier", "TierTable", "solve_notional"]


@dataclass(frozen=True)
class Tier:
    """One bracket of a tier table.

    Parameters
    ----------
    floor, cap : float
        Notional range ``floor <= N < cap`` (quote currency for linear, the exchange's unit for
        inverse; see the preset's ``notional_unit``).
    max_leverage : float
        Highest leverage allowed in this bracket.
    mmr : float
        Maintenance margin rate, ``0 <= mmr < 1``.
    maint_amount : float
        Maintenance amount (``cum``) subtracted from ``N * mmr``.
    """

    floor: float
    cap: float
    max_leverage: float
    mmr: float
    maint_amount: float = 0.0


def _cum_tolerance(floor: float) -> float:
    # Exchanges publish cum rounded (Binance to whole USDT); one millionth of the bracket floor
    # still catches a wrong row while accepting that rounding.
    return max(1e-6 * floor, 1e-9)


@dataclass(frozen=True)
class TierTable:
    """A validated tier table with vectorised lookups.

    Parameters
    ----------
    tiers : tuple of Tier
        Sorted by ``floor``, contiguous (each floor is the previous cap), first floor 0.
    symbol : str, optional
        The symbol the table belongs to.
    notional_unit : str, optional
        Unit of ``floor``/``cap`` (``"USDT"``, ``"BTC"``).
    source : str, optional
        Where the numbers come from.
    continuous : bool, default True
        True for the usual tables whose maintenance amount makes ``MM(N)`` continuous (checked).
        False for exchanges that apply the tier's ``mmr`` to the whole notional with no deduction
        (OKX, tiers by contracts): every ``maint_amount`` must then be 0, and such a table only
        works with ``tier_basis="qty"`` or ``"entry"``.

    Raises
    ------
    TierTableError
        If the table is empty, unsorted, has gaps or overlaps, a decreasing ``mmr``, an increasing
        ``max_leverage``, or a ``maint_amount`` inconsistent with
        ``cum_k = cum_{k-1} + floor_k * (mmr_k - mmr_{k-1})``.

    Examples
    --------
    >>> t = TierTable.from_records([
    ...     {"floor": 0, "cap": 50_000, "max_leverage": 125, "mmr": 0.004, "maint_amount": 0},
    ...     {"floor": 50_000, "cap": 250_000, "max_leverage": 100, "mmr": 0.005,
    ...      "maint_amount": 50},
    ... ])
    >>> float(t.maintenance_margin(100_000))
    450.0
    """

    tiers: tuple[Tier, ...]
    symbol: str = ""
    notional_unit: str = ""
    source: str = ""
    continuous: bool = True
    _arrays: dict[str, np.ndarray] = field(init=False, repr=False, compare=False)
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        tiers = tuple(self.tiers)
        object.__setattr__(self, "tiers", tiers)
        if not tiers:
            raise TierTableError("tiers", [], "at least one tier")
        prev: Tier | None = None
        for k, t in enumerate(tiers):
            if not isinstance(t, Tier):
                raise TierTableError(f"tiers[{k}]", t, "a Tier")
            for name in ("floor", "cap", "max_leverage", "mmr", "maint_amount"):
                v = getattr(t, name)
                open_cap = name == "cap" and k == len(tiers) - 1 and v == math.inf
                if not isinstance(v, int | float) or not (math.isfinite(v) or open_cap):
                    raise TierTableError(
                        f"tiers[{k}].{name}", v, "a finite number (only the last cap may be inf)"
                    )
            if k == 0 and t.floor != 0:
                raise TierTableError("tiers[0].floor", t.floor, "0 (the first tier starts at 0)")
            if t.cap <= t.floor:
                raise TierTableError(f"tiers[{k}].cap", t.cap, f"> floor {t.floor}")
            if not 0 <= t.mmr < 1:
                raise TierTableError(f"tiers[{k}].mmr", t.mmr, "0 <= mmr < 1")
            if t.max_leverage < 1:
                raise TierTableError(f"tiers[{k}].max_leverage", t.max_leverage, ">= 1")
            if not self.continuous:
                if t.maint_amount != 0:
                    raise TierTableError(
                        f"tiers[{k}].maint_amount",
                        t.maint_amount,
                        "0 in a table with continuous=False",
                    )
            elif prev is None and t.maint_amount != 0:
                raise TierTableError("tiers[0].maint_amount", t.maint_amount, "0")
            if prev is not None:
                if t.floor != prev.cap:
                    raise TierTableError(
                        f"tiers[{k}].floor", t.floor, f"the previous cap {prev.cap} (contiguous)"
                    )
                if t.mmr < prev.mmr:
                    raise TierTableError(
                        f"tiers[{k}].mmr", t.mmr, f">= the previous mmr {prev.mmr} (non-decreasing)"
                    )
                if t.max_leverage > prev.max_leverage:
                    raise TierTableError(
                        f"tiers[{k}].max_leverage",
                        t.max_leverage,
                        f"<= the previous max_leverage {prev.max_leverage}",
                    )
                expected = prev.maint_amount + t.floor * (t.mmr - prev.mmr)
                if self.continuous and abs(t.maint_amount - expected) > _cum_tolerance(t.floor):
                    raise TierTableError(
                        f"tiers[{k}].maint_amount",
                        t.maint_amount,
                        f"{expected:.10g} = cum_{k - 1} + floor_{k} * (mmr_{k} - mmr_{k - 1})",
                    )
            prev = t
        arrays = {
            name: np.array([getattr(t, name) for t in tiers], dtype=np.float64)
            for name in ("floor", "cap", "max_leverage", "mmr", "maint_amount")
        }
        for a in arrays.values():
            a.setflags(write=False)
        object.__setattr__(self, "_arrays", arrays)
        # hashed once: the evaluators' caches are keyed by the table, and hashing a dozen
        # Tier dataclasses at every call was a third of a one-position evaluation
        key = (self.tiers, self.symbol, self.notional_unit, self.source, self.continuous)
        object.__setattr__(self, "_hash", hash(key))

    def __hash__(self) -> int:
        return self._hash

    # ----------------------------------------------------------------- constructors
    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]], **meta: Any) -> TierTable:
        """Build from dicts with ``floor, cap, max_leverage, mmr`` and optional ``maint_amount``.

        A missing ``maint_amount`` is filled by the continuity recurrence.
        """
        rows = list(records)
        tiers: list[Tier] = []
        for k, r in enumerate(rows):
            for key in ("floor", "cap", "max_leverage", "mmr"):
                if key not in r:
                    raise TierTableError(f"tiers[{k}]", dict(r), f"a '{key}' field")
            tiers.append(
                Tier(
                    floor=_num(r["floor"], f"tiers[{k}].floor"),
                    cap=_num(r["cap"], f"tiers[{k}].cap"),
                    max_leverage=_num(r["max_leverage"], f"tiers[{k}].max_leverage"),
                    mmr=_num(r["mmr"], f"tiers[{k}].mmr"),
                    maint_amount=_num(r["maint_amount"], f"tiers[{k}].maint_amount")
                    if r.get("maint_amount") is not None
                    else _recurrence(tiers, _num(r["floor"], ""), _num(r["mmr"], "")),
                )
            )
        return cls(tuple(tiers), **meta)

    @classmethod
    def from_ccxt(cls, tiers: Sequence[Mapping[str, Any]], **meta: Any) -> TierTable:
        """Build from one symbol's list as returned by ccxt's ``fetch_leverage_tiers()[symbol]``.

        Uses ``minNotional``, ``maxNotional``, ``maxLeverage``, ``maintenanceMarginRate`` and, when
        the exchange sends it, ``info["cum"]`` (Binance); otherwise the maintenance amount follows
        from the continuity recurrence.

        Examples
        --------
        >>> live = [{"tier": 1, "currency": "USDT", "minNotional": 0, "maxNotional": 50000,
        ...          "maintenanceMarginRate": 0.004, "maxLeverage": 125, "info": {"cum": "0.0"}}]
        >>> TierTable.from_ccxt(live).tiers[0].mmr
        0.004
        """
        if isinstance(tiers, Mapping):
            raise TierTableError(
                "tiers", list(tiers)[:3], "one symbol's list (fetch_leverage_tiers()[symbol])"
            )
        records = []
        for k, t in enumerate(tiers):
            info = t.get("info") or {}
            cum = info.get("cum") if isinstance(info, Mapping) else None
            try:
                records.append(
                    {
                        "floor": t["minNotional"],
                        "cap": t["maxNotional"],
                        "max_leverage": t["maxLeverage"],
                        "mmr": t["maintenanceMarginRate"],
                        "maint_amount": None if cum is None else float(cum),
                    }
                )
            except KeyError as exc:
                raise TierTableError(f"tiers[{k}]", dict(t), f"a '{exc.args[0]}' field") from None
        if "notional_unit" not in meta and tiers and tiers[0].get("currency"):
            meta["notional_unit"] = str(tiers[0]["currency"])
        return cls.from_records(records, **meta)

    @classmethod
    def flat(cls, mmr: float, maint_amount: float = 0.0, max_leverage: float = 125.0) -> TierTable:
        """A single-tier table with a constant ``mmr`` (``maint_amount`` must then be 0)."""
        return cls((Tier(0.0, math.inf, max_leverage, mmr, maint_amount),))

    # ----------------------------------------------------------------- views
    @property
    def floors(self) -> np.ndarray:
        """Tier floors (read-only array)."""
        return self._arrays["floor"]

    @property
    def caps(self) -> np.ndarray:
        """Tier caps (read-only array)."""
        return self._arrays["cap"]

    @property
    def mmrs(self) -> np.ndarray:
        """Maintenance margin rates (read-only array)."""
        return self._arrays["mmr"]

    @property
    def maint_amounts(self) -> np.ndarray:
        """Maintenance amounts ``cum`` (read-only array)."""
        return self._arrays["maint_amount"]

    @property
    def max_leverages(self) -> np.ndarray:
        """Maximum leverage per tier (read-only array)."""
        return self._arrays["max_leverage"]

    def __len__(self) -> int:
        return len(self.tiers)

    def to_frame(self) -> pd.DataFrame:
        """The table as a DataFrame, one row per tier (``tier`` numbered from 1)."""
        df = pd.DataFrame({k: v for k, v in self._arrays.items()})
        df.index = pd.RangeIndex(1, len(df) + 1, name="tier")
        return df

    # ----------------------------------------------------------------- lookups
    def tier_index(self, notional: Any) -> np.ndarray:
        """0-based tier of each notional (``floor_k <= N < cap_k``), vectorised.

        Raises :class:`InputError` for a negative notional or one at or above the last cap.
        """
        n = as_float(notional, "notional", nonnegative=True, below=float(self.caps[-1]))
        return np.searchsorted(self.floors, n, side="right") - 1

    def mmr_at(self, notional: Any) -> np.ndarray:
        """Maintenance margin rate of the tier holding each notional."""
        return self.mmrs[self.tier_index(notional)]

    def maint_amount_at(self, notional: Any) -> np.ndarray:
        """Maintenance amount of the tier holding each notional."""
        return self.maint_amounts[self.tier_index(notional)]

    def max_leverage_at(self, notional: Any) -> np.ndarray:
        """Maximum leverage allowed at each notional."""
        return self.max_leverages[self.tier_index(notional)]

    def maintenance_margin(self, notional: Any) -> np.ndarray:
        """``N * mmr_k - cum_k`` for the tier ``k`` holding each notional ``N``."""
        k = self.tier_index(notional)
        n = np.asarray(notional, dtype=np.float64)
        return n * self.mmrs[k] - self.maint_amounts[k]

    def check_leverage(self, leverage: Any, notional: Any, field: str = "leverage") -> None:
        """Raise :class:`InputError` if ``leverage`` exceeds the tier's maximum at ``notional``."""
        lev = as_float(leverage, field, positive=True)
        limit = self.max_leverage_at(notional)
        bad = np.broadcast_to(lev > limit, np.broadcast_shapes(lev.shape, limit.shape))
        if bad.any():
            i = int(np.flatnonzero(bad.ravel())[0])
            value = np.broadcast_to(lev, bad.shape).ravel()[i].item()
            cap = np.broadcast_to(limit, bad.shape).ravel()[i].item()
            where = f"[{i}]" if bad.ndim else ""
            raise InputError(field + where, value, f"<= {cap:g}, the tier's max leverage")


def _num(value: Any, field: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise TierTableError(field, value, "a number") from None
    return out


def _recurrence(previous: Sequence[Tier], floor: float, mmr: float) -> float:
    if not previous:
        return 0.0
    p = previous[-1]
    return p.maint_amount + floor * (mmr - p.mmr)


#: Elements per block in the block-wise solves. One block's working set (a few float64 and
#: index buffers and the ``(2K-1) x block`` boolean comparison matrix) stays mostly in a core's
#: L2 cache, so intermediates are written and re-read from cache rather than memory, while the
#: block is long enough that numpy's per-call overhead is small. 64k measured best here.
_BLOCK = 1 << 16


class _TierSearch(NamedTuple):
    """Lookup tables that find the tier of the root of ``N - sigma (MM(N) + f N) = T``.

    For ``sigma = +1`` the root is in tier ``k`` when ``T >= bp_k(+1)``, for ``sigma = -1`` when
    ``T >= bp_k(-1)``, where ``bp_k(sigma) = floor_k - sigma ((mmr_k + f) floor_k - cum_k)`` is the
    left side at the tier floor (increasing in ``k``). With the key ``sigma * T``, both sides
    share one sorted list of ``2K - 1`` thresholds,
    ``[-bp_{K-1}(-1), ..., -bp_1(-1), 0, bp_1(+1), ..., bp_{K-1}(+1)]``, and the count
    ``c = #(thresholds <= sigma T)`` is ``K + k`` for ``sigma = +1``, ``T > 0`` and ``K - 1 - k``
    for ``sigma = -1``, ``T > 0``.

    The coefficient tables are indexed by ``c + 2K [sigma = -1]``: entry ``i`` holds ``cum_k``
    and ``sigma - (mmr_k + f)`` of that side and tier, so ``N = (sigma T - cum[i]) /
    denominator[i]``, the key itself as numerator: ``sigma (T - sigma cum) / (sigma (1 - sigma
    (mmr + f)))`` with both signs flipped exactly, so the same bits as ``(T - sigma cum) / (1 -
    sigma (mmr + f))`` without forming ``T``. The entries a count can only reach when ``T <= 0``
    (the key on the wrong side of 0) hold NaN: no root, no separate mask.
    """

    thresholds: np.ndarray  # (2K - 1, 1): a column, to broadcast against a block of keys
    cum: np.ndarray  # (4K,)
    denominator: np.ndarray  # (4K,)


@functools.lru_cache(maxsize=64)
def _tier_search(table: TierTable, close_fee_rate: float = 0.0) -> _TierSearch:
    """The :class:`_TierSearch` tables of ``table`` and a fee to close (cached per pair)."""
    floors, cums = table.floors, table.maint_amounts
    rates = table.mmrs + close_fee_rate
    bp_long = floors - (rates * floors - cums)
    bp_short = floors + (rates * floors - cums)
    thresholds = np.concatenate([-bp_short[:0:-1], [0.0], bp_long[1:]])
    nan = np.full(len(floors), np.nan)
    # index 0 .. K-1: sigma = +1, T <= 0 | K .. 2K-1: sigma = +1, tier index - K
    # 2K .. 3K-1: sigma = -1, tier 3K-1 - index | 3K .. 4K-1: sigma = -1, T <= 0
    cum = np.concatenate([nan, cums, cums[::-1], nan])
    denominator = np.concatenate([nan, 1.0 - rates, -1.0 - rates[::-1], nan])
    for a in (thresholds, cum, denominator):
        a.setflags(write=False)
    return _TierSearch(thresholds.reshape(-1, 1), cum, denominator)


#: Bits of a float64 key that :func:`_bucket_search` keeps (``bits >> _BUCKET_SHIFT``): the sign,
#: the 11 exponent bits and the top 5 mantissa bits, so a bucket spans 1/32 of a binade.
_BUCKET_SHIFT = 47
_PLUS_ONE_BITS = int(np.float64(1.0).view(np.uint64))


class _BucketSearch(NamedTuple):
    """The coefficients of the root of ``N - sigma (MM(N) + f N) = T`` by the key's bits.

    Index ``(key_bits >> S) + (side_bits >> (S - 1))`` (``S = _BUCKET_SHIFT``, the side +1 or
    -1 as a float64): the side's term is ``_PLUS_ONE_BITS >> (S - 1)`` for +1 and one region
    of ``2**(64 - S)`` buckets further for -1, so each side has its own region, and within it
    each bucket of keys (same sign, exponent and top mantissa bits) one entry: the
    :class:`_TierSearch` coefficients (``cum``, ``denominator``) that every key of the bucket
    gets by counting thresholds, NaN included (no root). Buckets that hold a threshold are
    *ambiguous*: ``cum`` is ``+inf`` (``-inf`` where sigma = -1) and the root comes out as
    ``-inf``, a price ``<= 0``, which sends the element to the exact threshold count
    (:func:`solve_notional`). With a dozen tiers under 2 % of keys spread over the tiers fall
    in such buckets. Infinite keys get ``0 / 0`` coefficients: an infinite root, never NaN.
    """

    cum: np.ndarray  # (offset + 2 * 2**(64 - S),)
    denominator: np.ndarray


@functools.lru_cache(maxsize=8)
def _bucket_search(
    table: TierTable, close_fee_rate: float = 0.0, inverse: bool = False
) -> _BucketSearch:
    """The :class:`_BucketSearch` tables of ``table``, a fee to close and the contract type.

    ``inverse``: sigma = -side (coin-margined), else sigma = side. Two float64 tables of
    ~328k entries (2.6 MB each, ~25 ms to build); real keys touch a few hundred cache lines.
    """
    search = _tier_search(table, close_fee_rate)
    thresholds = search.thresholds.ravel()
    half = search.cum.shape[0] // 2
    n_buckets = 1 << (64 - _BUCKET_SHIFT)
    ids = np.arange(n_buckets, dtype=np.uint64)
    lo = (ids << np.uint64(_BUCKET_SHIFT)).view(np.float64)
    hi = ((ids << np.uint64(_BUCKET_SHIFT)) | np.uint64((1 << _BUCKET_SHIFT) - 1)).view(np.float64)
    finite = np.isfinite(lo) & np.isfinite(hi)
    offset = _PLUS_ONE_BITS >> (_BUCKET_SHIFT - 1)
    size = offset + 2 * n_buckets
    cum = np.zeros(size)
    denominator = np.ones(size)
    for region, side in enumerate((1.0, -1.0)):
        sigma = -side if inverse else side
        shift = half if sigma < 0 else 0
        i_lo = np.searchsorted(thresholds, lo, side="right") + shift
        i_hi = np.searchsorted(thresholds, hi, side="right") + shift
        same = finite & (i_lo == i_hi)
        part = slice(offset + region * n_buckets, offset + (region + 1) * n_buckets)
        # a threshold inside: N = (key -+ inf) / sigma = -inf
        cum[part] = np.where(same, search.cum[i_lo], math.copysign(np.inf, sigma))
        denominator[part] = np.where(same, search.denominator[i_lo], sigma)
        # an infinite key (infinite collateral): N = key / 0, infinite, never NaN
        cum[part][~finite] = 0.0
        denominator[part][~finite] = 0.0
    for a in (cum, denominator):
        a.setflags(write=False)
    return _BucketSearch(cum, denominator)


class _BlockWork:
    """Preallocated scratch buffers for :func:`_solve_block`, blocks of up to ``size`` elements."""

    def __init__(self, search: _TierSearch, size: int) -> None:
        n_index = search.cum.shape[0]
        self.compare = np.empty((search.thresholds.shape[0], size), dtype=np.bool_)
        # the smallest accumulator that holds every index: int8 up to 31 tiers
        self.count = np.empty(size, dtype=np.int8 if n_index <= 128 else np.int32)
        self.shift = np.empty_like(self.count)
        self.index = np.empty(size, dtype=np.intp)
        self.cum = np.empty(size, dtype=np.float64)
        self.den = np.empty(size, dtype=np.float64)


def _solve_block(
    search: _TierSearch,
    key: np.ndarray,
    negative: np.ndarray | bool,
    out: np.ndarray,
    work: _BlockWork,
) -> np.ndarray:
    """Write to ``out`` the notional root of one 1-D block of targets; return ``out``.

    ``key`` is ``sigma * target`` and ``negative`` is ``sigma < 0`` (a boolean array of the
    block, or one bool). NaN where ``target < 0`` (and at most a zero where ``target == 0``).
    """
    m = key.shape[0]
    count = work.count[:m]
    # (2K-1) x m comparisons in one call, summed down the columns: for a dozen tiers this is
    # several times faster than np.searchsorted, whose binary search branches unpredictably
    compare = work.compare[:, :m]
    np.greater_equal(key, search.thresholds, out=compare)
    np.add.reduce(compare.view(np.int8), axis=0, dtype=count.dtype, out=count)
    # sigma = -1 rows use the second half of the tables (an add of 0 or 2K: a ufunc with
    # where= would be ~70x slower)
    half = count.dtype.type(search.cum.shape[0] // 2)
    if np.ndim(negative):
        np.add(count, np.multiply(negative.view(np.int8), half, out=work.shift[:m]), out=count)
    elif negative:
        np.add(count, half, out=count)
    index = work.index[:m]
    np.copyto(index, count, casting="unsafe")
    # two gathers from the tiny tables (mode="wrap" skips the bounds check: always in range)
    cum = np.take(search.cum, index, out=work.cum[:m], mode="wrap")
    den = np.take(search.denominator, index, out=work.den[:m], mode="wrap")
    np.subtract(key, cum, out=out)
    return np.divide(out, den, out=out)


def solve_notional(
    table: TierTable,
    target: np.ndarray,
    sigma: np.ndarray | float,
    close_fee_rate: float = 0.0,
) -> np.ndarray:
    """Solve ``N - sigma * (MM(N) + f * N) = target`` for the notional ``N >= 0``, tier-aware.

    ``MM`` is the table's maintenance margin curve and ``f`` a fee-to-close rate. Its left side
    is strictly increasing in ``N`` for ``sigma = +1`` (slope ``1 - mmr_k - f > 0``) and for
    ``sigma = -1`` (slope ``1 + mmr_k + f``), and equals 0 at ``N = 0``, so a root exists iff
    ``target > 0``. The tier of the root is found by comparing ``target`` with the curve's values
    at the tier floors, then ``N = (target - sigma * cum_k) / (1 - sigma * (mmr_k + f))``.

    Returns NaN where ``target <= 0`` (no root). ``sigma`` is +1 or -1 (scalar or array).
    """
    search = _tier_search(table, float(close_fee_rate))
    target = np.asarray(target, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    shape = np.broadcast_shapes(target.shape, sigma.shape)
    t_all = target.reshape(-1) if target.shape == shape else np.broadcast_to(target, shape).ravel()
    s_all = sigma.reshape(-1) if sigma.shape == shape else np.broadcast_to(sigma, shape).ravel()
    out = np.empty(t_all.shape, dtype=np.float64)
    size = min(t_all.size, _BLOCK)
    work = _BlockWork(search, size)
    key, negative = np.empty(size), np.empty(size, dtype=np.bool_)
    for start in range(0, t_all.size, _BLOCK):
        block = slice(start, start + _BLOCK)
        t = t_all[block]
        m = t.shape[0]
        s = s_all[block]
        _solve_block(
            search, np.multiply(s, t, out=key[:m]), np.less(s, 0.0, out=negative[:m]),
            out[block], work,
        )  # fmt: skip
    with np.errstate(invalid="ignore"):
        out[~(t_all > 0)] = np.nan
    return out.reshape(shape)
