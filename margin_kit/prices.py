"""Price series from a user's own data: CSV exports and ccxt's ``fetch_ohlcv`` rows.

Everything here returns pandas objects indexed by a sorted, unique, tz-naive (UTC)
``DatetimeIndex`` and rejects data a model or replay must not silently use: missing or
non-positive prices, unsorted or duplicated timestamps, gaps in a regular series, and OHLC rows
whose high/low do not bracket their open/close.

Column names are matched case-insensitively: Yahoo Finance's export (``Date, Open, High, Low,
Close, Adj Close, Volume``), exchange exports (``timestamp``/``open_time`` in ms or ISO dates,
``open, high, low, close, volume``) and ccxt's ``[timestamp_ms, open, high, low, close,
volume]`` rows all load into columns ``open, high, low, close`` (and ``volume`` when present).
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from typing import IO, Any

import numpy as np
import pandas as pd

from margin_kit._errors import InputError

__all__ = ["PriceDataError", "check_series", "from_ccxt_ohlcv", "load_ohlc", "log_returns"]

_TIME_COLUMNS = ("date", "datetime", "timestamp", "time", "open_time", "opentime")
_OHLC = ("open", "high", "low", "close")


class PriceDataError(InputError):
    """Price data that cannot be used; names the source, the row and the column."""


def _to_index(values: pd.Series, source: str) -> pd.DatetimeIndex:
    if pd.api.types.is_numeric_dtype(values):
        # epoch numbers: ms (exchange exports, ccxt) or s, told apart by magnitude
        unit = "ms" if float(np.nanmax(values.to_numpy(dtype=float))) > 1e11 else "s"
        idx = pd.to_datetime(values, unit=unit, utc=True)
    else:
        try:
            idx = pd.to_datetime(values, utc=True, format="mixed")
        except (ValueError, TypeError) as exc:
            raise PriceDataError(f"{source}: time", str(exc), "parseable timestamps") from None
    return pd.DatetimeIndex(idx).tz_convert(None)


def _check_index(index: pd.DatetimeIndex, source: str, *, allow_gaps: bool) -> None:
    if index.hasnans:
        pos = int(np.flatnonzero(index.isna())[0])
        raise PriceDataError(f"{source}: row {pos}", None, "a timestamp")
    diffs = np.diff(index.asi8)
    if (diffs < 0).any():
        pos = int(np.flatnonzero(diffs < 0)[0]) + 1
        raise PriceDataError(
            f"{source}: row {pos}", str(index[pos]), f"a time after {index[pos - 1]} (sorted)"
        )
    if (diffs == 0).any():
        pos = int(np.flatnonzero(diffs == 0)[0]) + 1
        raise PriceDataError(f"{source}: row {pos}", str(index[pos]), "a unique timestamp")
    if not allow_gaps and len(diffs) >= 2:
        step = int(np.median(diffs))
        gaps = np.flatnonzero(diffs > step)
        if gaps.size:
            pos = int(gaps[0]) + 1
            raise PriceDataError(
                f"{source}: row {pos}",
                str(index[pos]),
                f"the next time after {index[pos - 1]} at the series' step "
                f"{pd.Timedelta(step)} (a gap; pass allow_gaps=True to accept it)",
            )


def _check_prices(frame: pd.DataFrame, source: str) -> None:
    for col in frame.columns:
        if col == "volume":
            continue
        v = frame[col].to_numpy(dtype=float)
        bad = ~(np.isfinite(v) & (v > 0))
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise PriceDataError(
                f"{source}: {frame.index[pos].date()} {col}", v[pos].item(), "a finite price > 0"
            )
    if set(_OHLC) <= set(frame.columns):
        o, h, lo, c = (frame[k].to_numpy(dtype=float) for k in _OHLC)
        tol = 1e-9 * np.maximum(h, 1.0)
        bad = (h + tol < np.maximum(o, c)) | (lo - tol > np.minimum(o, c)) | (lo > h)
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            row = frame.iloc[pos]
            raise PriceDataError(
                f"{source}: {frame.index[pos].date()} high/low",
                {k: float(row[k]) for k in _OHLC},
                "low <= open, close <= high",
            )


def load_ohlc(
    source: str | PathLike[str] | IO[str] | pd.DataFrame,
    *,
    allow_gaps: bool = False,
) -> pd.DataFrame:
    """Load OHLC(V) prices from a CSV file (or a DataFrame) and check them.

    Parameters
    ----------
    source : path, file-like or DataFrame
        A CSV with a time column (``Date``, ``timestamp``, ``open_time`` ...; ISO dates or epoch
        seconds/milliseconds) and ``Open, High, Low, Close`` columns in any case.
    allow_gaps : bool, default False
        Accept missing periods in an otherwise regular series.

    Returns
    -------
    DataFrame
        Columns ``open, high, low, close`` (and ``volume`` if present), float64, indexed by a
        sorted ``DatetimeIndex`` named ``time``.

    Raises
    ------
    PriceDataError
        Naming the source, the row (date) and the column: a missing column, a missing or
        non-positive price, unsorted or duplicated times, a gap, a high below the open/close.
    """
    name = source if isinstance(source, str) else getattr(source, "name", type(source).__name__)
    name = str(name)
    if isinstance(source, pd.DataFrame):
        raw = source.copy()
    else:
        try:
            raw = pd.read_csv(source)
        except FileNotFoundError:
            raise PriceDataError("source", name, "an existing CSV file") from None
    columns = {str(c).strip().lower().replace(" ", "_"): c for c in raw.columns}
    time_col = next((columns[c] for c in _TIME_COLUMNS if c in columns), None)
    if time_col is None and not isinstance(raw.index, pd.DatetimeIndex):
        raise PriceDataError(
            f"{name}: columns", list(raw.columns), f"a time column {_TIME_COLUMNS}"
        )
    missing = [k for k in _OHLC if k not in columns]
    if missing:
        raise PriceDataError(f"{name}: columns", list(raw.columns), f"columns {list(_OHLC)}")
    keep = [*_OHLC, *(["volume"] if "volume" in columns else [])]
    frame = pd.DataFrame({k: pd.to_numeric(raw[columns[k]], errors="coerce") for k in keep})
    index = _to_index(raw[time_col], name) if time_col is not None else raw.index
    frame.index = pd.DatetimeIndex(index, name="time")
    _check_index(frame.index, name, allow_gaps=allow_gaps)
    _check_prices(frame, name)
    return frame.astype(float)


def from_ccxt_ohlcv(rows: Sequence[Sequence[float]], *, allow_gaps: bool = False) -> pd.DataFrame:
    """Build the same frame as :func:`load_ohlc` from ccxt ``fetch_ohlcv`` rows.

    Each row is ``[timestamp_ms, open, high, low, close, volume]``.
    """
    frame = pd.DataFrame(
        list(rows), columns=["timestamp", "open", "high", "low", "close", "volume"]
    )
    return load_ohlc(frame, allow_gaps=allow_gaps)


def check_series(prices: Any, name: str = "prices", *, allow_gaps: bool = True) -> pd.Series:
    """Validate a price Series (or a one-column frame): positive, finite, sorted, unique times.

    A Series with a ``DatetimeIndex`` is checked for order, duplicates and (unless
    ``allow_gaps``) gaps; any other index must be increasing.
    """
    if isinstance(prices, pd.DataFrame):
        if "close" in prices.columns:
            prices = prices["close"]
        elif prices.shape[1] == 1:
            prices = prices.iloc[:, 0]
        else:
            raise PriceDataError(name, list(prices.columns), "a Series or a frame with 'close'")
    s = (
        pd.Series(prices, dtype=float)
        if not isinstance(prices, pd.Series)
        else prices.astype(float)
    )
    if len(s) < 2:
        raise PriceDataError(name, len(s), "at least 2 prices")
    if isinstance(s.index, pd.DatetimeIndex):
        _check_index(s.index, name, allow_gaps=allow_gaps)
    elif not s.index.is_monotonic_increasing or not s.index.is_unique:
        raise PriceDataError(f"{name}: index", list(s.index[:5]), "increasing, unique labels")
    v = s.to_numpy()
    bad = ~(np.isfinite(v) & (v > 0))
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise PriceDataError(f"{name}[{s.index[pos]}]", v[pos].item(), "a finite price > 0")
    return s


def log_returns(prices: Any) -> pd.Series:
    """Log returns ``ln(P_t / P_{t-1})`` of a checked price series (one shorter)."""
    s = check_series(prices)
    return np.log(s).diff().iloc[1:].rename("log_return")
