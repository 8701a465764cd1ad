"""Input coercion and validation shared by the numeric evaluators.

Every check reports the field and the first offending value (with its index for arrays), so a
bad row in a 10-million-row array is found without scanning the data by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from margin_kit._errors import InputError

__all__ = ["as_float", "as_side", "find_index", "wrap_like"]

_SIDE_WORDS = {"long": 1.0, "buy": 1.0, "short": -1.0, "sell": -1.0}


def _first_bad(values: np.ndarray, bad: np.ndarray) -> tuple[str, Any]:
    """Return ``("[i]", value)`` of the first flagged element, or ``("", value)`` for 0-d."""
    if values.ndim == 0:
        return "", values.item()
    flat = np.flatnonzero(bad.ravel())
    i = int(flat[0])
    pos = np.unravel_index(i, values.shape)
    where = ",".join(str(int(p)) for p in pos)
    return f"[{where}]", values.ravel()[i].item()


def as_float(
    value: Any,
    field: str,
    *,
    positive: bool = False,
    nonnegative: bool = False,
    below: float | None = None,
) -> np.ndarray:
    """Coerce ``value`` to a float64 array and check it.

    Always rejects NaN and infinities. ``positive`` requires ``> 0``, ``nonnegative`` ``>= 0``,
    ``below`` requires ``< below``. Raises :class:`InputError` naming ``field`` and the value.
    """
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(field, value, "a real number or an array of them") from None
    if arr.size == 0:
        return arr
    # min/max are fast SIMD reductions; NaN propagates into both, so one pair of checks covers
    # NaN, infinities and sign without an extra full pass per condition.
    lo, hi = arr.min(), arr.max()
    ok = np.isfinite(lo) and np.isfinite(hi)
    if ok and positive:
        ok = lo > 0
    if ok and nonnegative:
        ok = lo >= 0
    if ok and below is not None:
        ok = hi < below
    if ok:
        return arr
    bad = ~np.isfinite(arr)
    expected = "a finite number"
    if positive:
        bad |= ~(arr > 0)
        expected = "a finite number > 0"
    elif nonnegative:
        bad |= ~(arr >= 0)
        expected = "a finite number >= 0"
    if below is not None:
        bad |= ~(arr < below)
        expected += f" and < {below:g}"
    where, bad_value = _first_bad(arr, bad)
    raise InputError(field + where, bad_value, expected)


def as_side(side: Any, field: str = "side") -> np.ndarray:
    """Coerce a side to +1.0 (long) / -1.0 (short).

    Accepts ``"long"``/``"short"`` (also ``"buy"``/``"sell"``, any case), ``+1``/``-1``, or an
    array or Series of those.
    """
    if isinstance(side, str):
        sign = _SIDE_WORDS.get(side.strip().lower())
        if sign is None:
            raise InputError(field, side, "'long', 'short', +1 or -1")
        return np.asarray(sign)
    arr = np.asarray(side)
    if arr.dtype.kind in "OUS":
        words = np.char.lower(np.char.strip(arr.astype(str)))
        out = np.where(words == "long", 1.0, np.where(words == "short", -1.0, np.nan))
        out = np.where(words == "buy", 1.0, np.where(words == "sell", -1.0, out))
        bad = np.isnan(out)
        if bad.any():
            where, value = _first_bad(arr, bad)
            raise InputError(field + where, value, "'long', 'short', +1 or -1")
        return out
    if arr.dtype.kind not in "iufb":
        raise InputError(field, side, "'long', 'short', +1 or -1")
    out = arr.astype(np.float64, copy=False)
    if out.size and not (np.abs(out) == 1.0).all():
        where, value = _first_bad(arr, np.abs(out) != 1.0)
        raise InputError(field + where, value, "'long', 'short', +1 or -1")
    return out


def find_index(values: Sequence[Any]) -> pd.Index | None:
    """Return the common index of the pandas inputs, or None if there are none.

    Raises :class:`InputError` when two Series carry different indexes (we do not silently align).
    """
    index: pd.Index | None = None
    for v in values:
        if isinstance(v, pd.Series):
            if index is None:
                index = v.index
            elif not index.equals(v.index):
                raise InputError("index", list(v.index[:5]), f"the same index as {list(index[:5])}")
    return index


def wrap_like(result: np.ndarray, index: pd.Index | None, name: str) -> Any:
    """Scalars in, scalar out; arrays in, arrays out; Series in, Series out."""
    if index is not None:
        return pd.Series(np.broadcast_to(result, (len(index),)), index=index, name=name)
    if np.ndim(result) == 0:
        return np.float64(result)
    return result
