"""Compiled (numba) evaluator of the tiered liquidation price, for large inputs.

Optional: imported only through :func:`margin_kit.liquidation._compiled_kernel`, when numba is
installed (``pip install margin_kit[fast]``) and an input has at least
``liquidation._COMPILED_FROM`` elements. Without numba the numpy block kernel does the same work
with the same bits, more slowly (``benchmarks/bench_liquidation.py`` times both).

Per element it does what :func:`margin_kit.liquidation._tiered_mark_kernel` does with numpy, with
the same IEEE operations in the same order, so the same bits (tests compare the two and the
reference path with ``array_equal``):

* ``qc = q c``, ``N0 = qc E`` (linear) or ``qc / E`` (inverse), ``net = (C + U_o) - MM_o``;
* the key ``sigma T``: ``s N0 - net`` (linear) or ``-(s N0 + net)`` (inverse);
* the tier's coefficients from the bucket tables (:class:`margin_kit.tiers._BucketSearch`), or,
  where the key's bucket holds a threshold, by counting the thresholds the key reaches
  (:class:`margin_kit.tiers._TierSearch`), the rule :func:`margin_kit.tiers.solve_notional` uses;
* ``N = (key - cum) / den`` and ``P = N / qc`` (linear) or ``qc / N`` (inverse), NaN unless
  ``N > 0`` and ``P`` is finite (:func:`margin_kit.liquidation._price_from_notional`).

The input checks ride along as integer maxima of the inputs' bit patterns (a float in ``(0,
inf)`` is one whose bits minus one, unsigned, stay below those of ``inf`` minus one), the side's
as an OR of its bits against those of +-1, plus the largest entry notional and key. A failed
check returns 1 and the caller runs the reference path, whose validators raise the precise
error. A separate vectorised check loop measured ~25 % slower here.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["tiered_mark_prices"]

_ONE = np.uint64(1)
_ABS_ONE_BITS = np.uint64(0x7FE0000000000000)  # bits of +1.0 or -1.0 shifted left by one
_INF_BITS = np.uint64(0x7FF0000000000000)
_SIGN_OFF = np.uint64(0x7FFFFFFFFFFFFFFF)
_INF = np.inf
_BLOCK = 1 << 16  # elements per block where scalars are repeated

_OPTIONS = {"cache": True, "nogil": True, "error_model": "numpy", "boundscheck": False}

_IN = numba.types.Array(numba.types.float64, 1, "C", readonly=True)
_OUT = numba.types.Array(numba.types.float64, 1, "C")
_F, _B, _I = numba.types.float64, numba.types.boolean, numba.types.int64
# bucket cum, den; thresholds, cum, den; the sigma = -1 half's offset; tiers._BUCKET_SHIFT
_TABLES = (_IN, _IN, _IN, _IN, _IN, _I, _I)


def _at(x, i):  # pragma: no cover (replaced by its overload in compiled code)
    """``x[i]`` for an array, ``x`` itself for a number."""


@numba.extending.overload(_at)
def _at_overload(x, i):  # pragma: no cover (compiled)
    if isinstance(x, numba.types.Array):
        return lambda x, i: x[i]
    return lambda x, i: x


# Two signatures, compiled once per machine (then loaded from numba's cache): the contract
# size, other uPnL and other maintenance as numbers (the usual case) or as arrays. Arrays are
# typed read-only, which writable ones convert to, so a read-only input (pandas, a memory map)
# needs no new compile.
@numba.njit(
    [
        _B(_IN, _IN, _IN, _F, _IN, _F, _F, _B, _B, _B, _F, *_TABLES, _OUT),
        _B(_IN, _IN, _IN, _IN, _IN, _IN, _IN, _B, _B, _B, _F, *_TABLES, _OUT),
    ],
    **_OPTIONS,
)
def _prices(
    s, e, q, c, w, u, mm, linear, unit_size, cross, cap,
    bucket_cum, bucket_den, thresholds, cum, den, half, bucket_shift, out,
):  # fmt: skip  # pragma: no cover (compiled)
    """Every price into ``out``; whether every input check passed.

    ``s, e, q, w`` have ``out``'s length; ``c, u, mm`` too, or are numbers (checked by the
    caller).
    """
    last = np.uint64(bucket_cum.shape[0] - 1)
    key_shift = np.uint64(bucket_shift)
    side_shift = np.uint64(bucket_shift - 1)
    n0_max = key_max = 0.0
    side_bad = e_top = q_top = w_top = c_top = u_top = mm_top = np.uint64(0)
    for i in range(out.shape[0]):
        si = s[i]
        ei = e[i]
        qi = q[i]
        wi = w[i]
        ci = _at(c, i)
        ui = _at(u, i)
        mmi = _at(mm, i)
        bits = np.float64(ci).view(np.uint64) - _ONE
        c_top = bits if bits > c_top else c_top
        bits = np.float64(ui).view(np.uint64) & _SIGN_OFF
        u_top = bits if bits > u_top else u_top
        bits = np.float64(mmi).view(np.uint64)
        mm_top = bits if bits > mm_top else mm_top
        s_bits = np.float64(si).view(np.uint64)
        side_bad |= (s_bits << _ONE) ^ _ABS_ONE_BITS
        bits = np.float64(ei).view(np.uint64) - _ONE
        e_top = bits if bits > e_top else e_top
        bits = np.float64(qi).view(np.uint64) - _ONE
        q_top = bits if bits > q_top else q_top
        bits = np.float64(wi).view(np.uint64)
        w_top = bits if bits > w_top else w_top
        qc = qi if unit_size else qi * ci
        n0 = qc * ei if linear else qc / ei
        net = (wi + ui) - mmi if cross else wi
        key = si * n0 - net if linear else -(si * n0 + net)
        n0_max = n0 if n0 > n0_max else n0_max
        key_max = abs(key) if abs(key) > key_max else key_max
        j = min((np.float64(key).view(np.uint64) >> key_shift) + (s_bits >> side_shift), last)
        cum_j = bucket_cum[j]
        den_j = bucket_den[j]
        if not abs(cum_j) < _INF:  # a threshold in the key's bucket: count them (rare)
            count = 0
            for t in range(thresholds.shape[0]):
                count += key >= thresholds[t]
            sigma_negative = si < 0.0 if linear else si > 0.0
            k = count + half if sigma_negative else count
            cum_j = cum[k]
            den_j = den[k]
        notional = (key - cum_j) / den_j
        price = notional / qc if linear else qc / notional
        out[i] = price if (notional > 0.0) & (price < _INF) else np.nan
    return (
        side_bad == 0 and e_top < _INF_BITS - _ONE and q_top < _INF_BITS - _ONE
        and c_top < _INF_BITS - _ONE and w_top < _INF_BITS and u_top < _INF_BITS
        and mm_top < _INF_BITS and n0_max < cap and key_max < _INF
    )  # fmt: skip


def tiered_mark_prices(
    operands: list[np.ndarray],
    linear: bool,
    unit_size: bool,
    cross: bool,
    cap: float,
    tables: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, int],
    out: np.ndarray,
) -> bool:
    """Write every price into ``out``; return False, with ``out`` garbage, when a check fails.

    ``operands``: side, entry price, qty, contract size, collateral, other uPnL and other
    maintenance, each a C-contiguous float64 vector of ``out``'s length or a one-element array
    (a scalar the caller has checked). ``cap``: the table's last cap, which every entry
    notional must stay below. ``tables``: the bucket tables (cum, denominator), the threshold
    tables (thresholds, cum, denominator), the index offset of their sigma = -1 half and the
    bucket tables' shift (``tiers._BUCKET_SHIFT``).
    ``unit_size``: the contract size is the scalar 1 (``qc = q``); ``cross``: the other cross
    positions' terms are given (else ``net`` is the collateral alone), as in the numpy kernel.
    """
    n = out.shape[0]
    flags = (linear, unit_size, cross, cap, *tables)
    s, e, q, c, w, u, mm = operands
    if all(x.shape[0] == n for x in (s, e, q, w)) and all(x.shape[0] == 1 for x in (c, u, mm)):
        return _prices(s, e, q, c[0], w, u[0], mm[0], *flags, out)  # the usual case
    # Otherwise block by block, each scalar repeated over a block (so one loop serves every
    # case: reading operands at a computed index instead measured ~1.4x slower here).
    size = min(n, _BLOCK)
    repeated = [None if x.shape[0] == n else np.full(size, x[0]) for x in operands]
    for start in range(0, n, _BLOCK):
        stop = min(start + _BLOCK, n)
        block = [
            x[start:stop] if rep is None else rep[: stop - start]
            for x, rep in zip(operands, repeated, strict=True)
        ]
        if not _prices(*block, *flags, out[start:stop]):
            return False
    return True
