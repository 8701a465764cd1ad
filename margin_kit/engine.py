r"""Margin-engine replay: run an account through price paths and log margin calls and liquidations.

:func:`replay` takes an :class:`~margin_kit.account.Account` and prices (one real series, an OHLC
frame, or many simulated paths at once) and, for each margin mode, steps through time checking
every position against its maintenance margin. It returns a :class:`ReplayResult`: a tidy event
log and the account's equity on every path at every step.

Model
-----
*Collateral groups.* Every isolated position is a group of its own, collateral its isolated margin;
all cross positions form one group whose collateral is the cross wallet balance (the wallet less
the isolated margins). A group's

.. math::

    f_g(P) = C_g + \sum_{i \in g} \mathrm{PnL}_i(P_i) - \sum_{i \in g} MM_i(P_i)

is its equity less its maintenance margin (PnL and notional as in :mod:`margin_kit.contracts`,
``MM`` with the market's tier rule exactly as :meth:`Position.maint_margin
<margin_kit.account.Position.maint_margin>`: tier by the notional at the price, at entry, or by
quantity, plus ``close_fee_rate``). The group is liquidated when ``f_g <= 0`` (Binance: margin
ratio ``MM / equity >= 100 %``; a relative tolerance of ``1e-10`` of the group's entry notional
plus collateral absorbs rounding, so a path built to touch the liquidation price exactly does).

*Within a step.* Step 0 is the entry: positions are open at their entry prices with the account's
margin, and are checked at the first mark (an OHLC row's close: entry is at that close). For each
later step the price of each symbol moves on a straight line ``P(lam) = O + lam (X - O)``,
``0 <= lam <= 1``, from the period's open ``O`` to its adverse extreme ``X`` (for a mark series
``O = X = `` the mark). ``X`` is the low or the high, whichever gives the group the lower
``f_g`` (the low for a long alone, the high for a short alone); ``f_g`` is concave (linear
contracts) or monotone (one side per symbol) along the line, so the first ``lam`` where
``f_g <= 0`` is found by bisection. The **fill** is ``P(lam)``: the liquidation price when the
period crosses it, the open when the period opens beyond it (a gap), the mark for a mark series.
The close then becomes the mark: equity is recorded at the close.

*Full liquidation* (markets with ``liquidation == "full"``, and the last stage of tiered ones):
every open position of the group is closed at its fill; the PnL is realised into the group's
collateral. A group whose equity at the fills is below zero went **beyond bankruptcy**: the
shortfall is absorbed by the insurance fund, so an isolated position never takes more than its
isolated margin from the account and a cross wallet never goes below zero. What remains of an
isolated margin returns to the cross wallet (exchanges often keep it as a liquidation fee; not
modelled).

*Tier-stepped partial liquidation* (``liquidation == "tiered-partial"``: Bybit, OKX,
Hyperliquid). Rule implemented: at the fill, every open position of the triggered group on such
a market whose size lies above the first tier is reduced to just below the cap of the next lower
tier (the tier's floor, less an ulp so that ``floor <= size < cap`` puts it in the lower tier),
with size measured as the market's tier basis does (notional at the fill, at entry, or quantity);
the closed part's PnL is realised into the collateral and the group is checked again, from the
same point of the period on. Only when no position of the group can step down is the group
liquidated in full. Source: the presets' ``rule_notes`` — Bybit "will automatically reduce the
level of maintenance margin by attempting to reduce the risk limit levels to the lowest possible"
before full liquidation; OKX "the system reduces the position to bring it to a lower tier"
(from tier 3; applied here from the second tier on); Hyperliquid's 20 % slices of large
positions are approximated by the same tier steps.

*Margin call.* A position gets a ``margin_call`` event at the first step where its group's margin
ratio ``sum MM / equity`` at the checked prices (``X``) reaches ``margin_call_ratio``, recorded
before any liquidation of that step; it is re-armed at the first step whose ratio is below the
threshold again (one call per episode). In cross mode every cross position gets the call.

*Funding.* ``funding_rate`` per step (a scalar or one value per step): at each step after the
entry, once the checks are done, each open position pays ``s * rate * N(close)`` (longs pay a
positive rate, shorts receive it) out of its isolated margin or the cross wallet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from margin_kit._errors import InputError
from margin_kit.account import MARGIN_MODES, Account

__all__ = ["EVENTS", "ReplayResult", "replay"]

EVENTS: tuple[str, ...] = ("margin_call", "partial_liquidation", "liquidation")
_INTRAPERIOD = ("auto", "extremes", "close")
_OHLC = ("open", "high", "low", "close")
_REL_TOL = 1e-10
_BISECTIONS = 64


# ----------------------------------------------------------------------------- prices
@dataclass(frozen=True)
class _Prices:
    """Prices per symbol as arrays ``(steps, paths, symbols)``.

    ``low``, ``high`` and ``open`` are None when only marks (or closes) are checked.
    """

    time: pd.Index
    close: np.ndarray
    low: np.ndarray | None
    high: np.ndarray | None
    open: np.ndarray | None


def _ohlc_columns(frame: pd.DataFrame) -> dict[str, Any] | None:
    names = {str(c).strip().lower(): c for c in frame.columns}
    return {k: names[k] for k in _OHLC} if all(k in names for k in _OHLC) else None


def _one_series(value: Any, name: str) -> tuple[dict[str, np.ndarray], pd.Index | None]:
    """One symbol's prices as ``{"close": (paths, steps)}`` (+ open/high/low for OHLC)."""
    if isinstance(value, pd.DataFrame):
        cols = _ohlc_columns(value)
        if cols is None:
            if value.shape[1] != 1:
                raise InputError(
                    name, list(value.columns), "an OHLC DataFrame (open/high/low/close)"
                )
            value = value.iloc[:, 0]
        else:
            arrays = {
                k: _as_prices(value[c].to_numpy(), f"{name}.{k}")[None, :] for k, c in cols.items()
            }
            o, h, lo, c = (arrays[k][0] for k in _OHLC)
            tol = 1e-9 * h
            bad = (h + tol < np.maximum(o, c)) | (lo - tol > np.minimum(o, c))
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise InputError(
                    f"{name} (row {value.index[i]})",
                    {k: float(arrays[k][0, i]) for k in _OHLC},
                    "low <= open, close <= high",
                )
            return arrays, value.index
    index = value.index if isinstance(value, pd.Series) else None
    arr = _as_prices(value.to_numpy() if isinstance(value, pd.Series) else value, name)
    if arr.ndim == 1:
        arr = arr[None, :]
    return {"close": arr}, index


def _as_prices(value: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(name, type(value).__name__, "prices as numbers") from None
    if arr.ndim not in (1, 2) or arr.shape[-1] == 0 or arr.size == 0:
        raise InputError(name, arr.shape, "a non-empty 1-D series or a 2-D (paths, steps) array")
    bad = ~(np.isfinite(arr) & (arr > 0))
    if bad.any():
        pos = np.unravel_index(int(np.flatnonzero(bad.ravel())[0]), arr.shape)
        where = f"step {pos[-1]}" + (f", path {pos[0]}" if arr.ndim == 2 else "")
        raise InputError(f"{name} ({where})", arr[pos].item(), "a finite price > 0")
    return arr


def _load_prices(prices: Any, symbols: Sequence[str], intraperiod: str) -> _Prices:
    """Validate ``prices`` and stack them as ``(steps, paths, symbols)`` arrays."""
    if intraperiod not in _INTRAPERIOD:
        raise InputError("intraperiod", intraperiod, f"one of {_INTRAPERIOD}")
    if isinstance(prices, Mapping):
        missing = [s for s in symbols if s not in prices]
        if missing:
            raise InputError("prices", sorted(map(str, prices)), f"a price series for {missing}")
        items = [(s, prices[s], f"prices[{s!r}]") for s in symbols]
    elif len(symbols) == 1:
        items = [(symbols[0], prices, "prices")]
    else:
        raise InputError(
            "prices",
            type(prices).__name__,
            f"a dict {{symbol: prices}} for symbols {list(symbols)}",
        )
    loaded = [(s, name, *_one_series(v, name)) for s, v, name in items]
    _, name0, first, index = loaded[0]
    steps = first["close"].shape[1]
    paths = max(d["close"].shape[0] for _, _, d, _ in loaded)
    for _, name, data, idx in loaded:
        n_paths, n_steps = data["close"].shape
        if n_steps != steps or n_paths not in (1, paths):
            raise InputError(
                name,
                f"{n_paths} path(s) x {n_steps} steps",
                f"the time axis of {name0} ({steps} steps) and 1 or {paths} paths",
            )
        if idx is not None:
            if index is not None and not index.equals(idx):
                raise InputError(name, list(idx[:3]), f"the same time index as {name0}")
            index = idx
    ohlc = any("low" in d for _, _, d, _ in loaded)
    if intraperiod == "extremes" and not ohlc:
        raise InputError("intraperiod", intraperiod, "'auto' or 'close' for prices without OHLC")
    use_extremes = ohlc and intraperiod != "close"
    keys = ("close", "open", "low", "high") if use_extremes else ("close",)
    out: dict[str, np.ndarray] = {}
    for key in keys:
        stacked = np.empty((steps, paths, len(loaded)))
        for j, (_, _, data, _) in enumerate(loaded):
            stacked[:, :, j] = data.get(key, data["close"]).T
        if key != "close":
            # entry is at the first close: step 0 has no intraperiod move
            stacked[0] = out["close"][0]
        out[key] = stacked
    time = index if index is not None else pd.RangeIndex(steps, name="step")
    return _Prices(time, out["close"], out.get("low"), out.get("high"), out.get("open"))


# ----------------------------------------------------------------------------- positions
class _Book:
    """Per-position constants and the vectorised PnL, notional and maintenance margin.

    Arrays passed in are ``(rows, positions)``; a position with quantity 0 (closed, or not in
    the group being evaluated) contributes 0 to every sum.
    """

    def __init__(self, account: Account) -> None:
        ps = account.positions
        self.names = tuple(p.name for p in ps)
        self.sign = np.array([p.sign for p in ps])
        self.entry = np.array([p.entry_price for p in ps])
        self.csize = np.array([p.market.spec.contract_size for p in ps])
        self.linear = np.array([p.market.spec.contract == "linear" for p in ps])
        self.all_linear = bool(self.linear.all())
        self.entry_basis = np.array([p.market.tier_basis == "entry" for p in ps])
        self.qty_basis = np.array([p.market.tier_basis == "qty" for p in ps])
        self.partial = np.array([p.market.liquidation == "tiered-partial" for p in ps])
        self.qty0 = np.array([p.qty for p in ps])
        symbols = list(dict.fromkeys(p.symbol for p in ps))
        self.symbols = symbols
        self.sym = np.array([symbols.index(p.symbol) for p in ps])
        markets: dict[int, list[int]] = {}
        for i, p in enumerate(ps):
            markets.setdefault(id(p.market), []).append(i)
        self.markets = []
        for cols in markets.values():
            m = ps[cols[0]].market
            t = m.tiers
            self.markets.append(
                (
                    np.array(cols),
                    t.floors,
                    t.mmrs + m.close_fee_rate,
                    t.maint_amounts,
                    float(np.nextafter(t.caps[-1], 0)),  # beyond the last cap: the last tier
                )
            )

    def notional(self, price: np.ndarray, qty: np.ndarray) -> np.ndarray:
        """``q c P`` (linear) or ``q c / P`` (inverse)."""
        qc = qty * self.csize
        if self.all_linear:
            return qc * price
        return np.where(self.linear, qc * price, qc / price)

    def pnl(self, price: np.ndarray, qty: np.ndarray) -> np.ndarray:
        """``s q c (P - E)`` (linear) or ``s q c (1/E - 1/P)`` (inverse)."""
        sqc = self.sign * qty * self.csize
        if self.all_linear:
            return sqc * (price - self.entry)
        return np.where(self.linear, sqc * (price - self.entry), sqc * (1 / self.entry - 1 / price))

    def size(self, price: np.ndarray, qty: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(notional the maintenance is charged on, size that picks the tier)."""
        at = np.where(self.entry_basis, self.entry, price) if self.entry_basis.any() else price
        n_at = self.notional(at, qty)
        return n_at, (np.where(self.qty_basis, qty, n_at) if self.qty_basis.any() else n_at)

    def tier(self, size: np.ndarray) -> np.ndarray:
        """Tier index of each position's size in its market's table."""
        k = np.empty(size.shape, dtype=np.intp)
        for cols, floors, _, _, top in self.markets:
            k[:, cols] = np.searchsorted(floors, np.minimum(size[:, cols], top), side="right") - 1
        return k

    def maint(self, price: np.ndarray, qty: np.ndarray) -> np.ndarray:
        """``N_at (mmr_k + fee) - cum_k`` by the tier rule, as ``Position.maint_margin``."""
        n_at, size = self.size(price, qty)
        out = np.empty_like(n_at)
        for cols, floors, rates, cums, top in self.markets:
            k = np.searchsorted(floors, np.minimum(size[:, cols], top), side="right") - 1
            out[:, cols] = n_at[:, cols] * rates[k] - cums[k]
        return out

    def step_down(self, price: np.ndarray, qty: np.ndarray, k: np.ndarray) -> np.ndarray:
        """Quantity that puts each position just below the floor of its tier ``k`` (> 0)."""
        unit_qty = np.ones_like(qty)
        _, unit = self.size(price, unit_qty)  # size per unit of quantity (linear in qty)
        floor = np.empty_like(qty)
        for cols, floors, *_ in self.markets:
            floor[:, cols] = floors[k[:, cols]]
        new = floor / unit
        for _ in range(4):  # a few ulps at most
            new = np.where(new * unit >= floor, np.nextafter(new, 0), new)
        return np.minimum(new, qty)


# ----------------------------------------------------------------------------- result
@dataclass(frozen=True)
class ReplayResult:
    """What a replay produced.

    Attributes
    ----------
    events : DataFrame
        One row per event, in time order within each mode and path. Columns: ``mode``, ``path``,
        ``step``, ``time``, ``position`` (name), ``event`` (``"margin_call"``,
        ``"partial_liquidation"``, ``"liquidation"``), ``price`` (the checked price: the
        adverse extreme of the period, or the mark), ``fill_price`` (NaN for margin calls),
        ``qty`` (quantity closed), ``loss`` (what the account paid: minus the realised PnL,
        net of the shortfall), ``shortfall`` (loss beyond the collateral, absorbed by the
        insurance fund), ``margin_ratio`` (the group's ``MM / equity`` at ``price`` before the
        event) and ``beyond_bankruptcy`` (the group's equity at the fills was negative).
    equity : dict of str to ndarray
        Per mode, the account's equity ``(paths, steps)`` at each step's close, after events and
        funding: wallet + realised PnL - funding + unrealised PnL of the open positions.
    time : Index
        The time axis (the prices' index, or a ``RangeIndex`` named ``step``).
    positions : tuple of str
        Position names, in the account's order.
    modes : tuple of str
    """

    events: pd.DataFrame
    equity: dict[str, np.ndarray] = field(repr=False)
    time: pd.Index = field(repr=False)
    positions: tuple[str, ...] = ()
    modes: tuple[str, ...] = ()

    def _mode(self, mode: str) -> str:
        if mode not in self.equity:
            raise InputError("mode", mode, f"one of {list(self.equity)}")
        return mode

    def equity_curve(self, mode: str, path: int = 0) -> pd.Series:
        """Account equity on one path, indexed by time (for plotting)."""
        eq = self.equity[self._mode(mode)]
        if not 0 <= path < eq.shape[0]:
            raise InputError("path", path, f"0 <= path < {eq.shape[0]}")
        return pd.Series(eq[path], index=self.time, name=f"equity ({mode})")

    def equity_frame(self, path: int = 0) -> pd.DataFrame:
        """Account equity on one path, every mode, long format (for plotting).

        Returns
        -------
        DataFrame
            Columns ``time`` (the replay's time axis), ``step`` (0-based), ``mode`` and
            ``equity`` (settle currency, at each step's close); modes in :attr:`modes` order.
        """
        frames = []
        for mode in self.modes:
            eq = self.equity[mode]
            if not 0 <= path < eq.shape[0]:
                raise InputError("path", path, f"0 <= path < {eq.shape[0]}")
            frames.append(pd.DataFrame({
                "time": np.asarray(self.time), "step": np.arange(eq.shape[1]),
                "mode": mode, "equity": eq[path],
            }))  # fmt: skip
        return pd.concat(frames, ignore_index=True)

    def liquidations(self, mode: str | None = None) -> pd.DataFrame:
        """Liquidation events (partial and full), of one mode or all."""
        ev = self.events
        keep = ev["event"].isin(("partial_liquidation", "liquidation"))
        if mode is not None:
            keep &= ev["mode"] == self._mode(mode)
        return ev[keep]

    def margin_calls(self, mode: str | None = None) -> pd.DataFrame:
        """Margin-call events, of one mode or all."""
        ev = self.events
        keep = ev["event"] == "margin_call"
        if mode is not None:
            keep &= ev["mode"] == self._mode(mode)
        return ev[keep]


# ----------------------------------------------------------------------------- replay
def replay(
    account: Account,
    prices: Any,
    *,
    modes: Sequence[str] | str = ("isolated", "cross"),
    margin_call_ratio: float = 0.8,
    funding_rate: Any = 0.0,
    intraperiod: str = "auto",
) -> ReplayResult:
    """Replay an account through price paths in each margin mode.

    Parameters
    ----------
    account : Account
        Positions (open at step 0 at their entry prices) and wallet; each mode replays
        ``account.with_mode(mode)``.
    prices : Series, 1-D / 2-D array, OHLC DataFrame, or dict of them by symbol
        For an account on one symbol: a series of marks (one path), an array ``(paths, steps)``
        of simulated marks, or an OHLC frame (as from :func:`margin_kit.prices.load_ohlc`) whose
        high/low are checked as intraperiod extremes. For several symbols: ``{symbol: prices}``
        on one time axis (same number of steps and, for pandas inputs, the same index; a single
        path broadcasts against many).
    modes : sequence of {"isolated", "cross"}, default both
        Margin modes to replay (a single string is one mode).
    margin_call_ratio : float, default 0.8
        Margin ratio ``MM / equity`` (> 0) at which a margin call is recorded.
    funding_rate : float or array_like of one value per step, default 0
        Funding rate per step; longs pay ``rate * notional`` when positive, shorts receive it.
    intraperiod : {"auto", "extremes", "close"}
        ``"auto"``: check OHLC highs/lows when given, else the marks; ``"extremes"``: require
        OHLC; ``"close"``: check only the closes.

    Returns
    -------
    ReplayResult

    Raises
    ------
    InputError
        Naming the field: NaN or non-positive prices (with the step and path), prices missing a
        symbol or not on one time axis, an unknown mode or ``intraperiod``, a
        ``margin_call_ratio`` that is not > 0, a funding rate of the wrong length.

    Examples
    --------
    >>> from margin_kit import Account, Market, Position
    >>> btc = Market.simple("BTCUSDT", 0.005)
    >>> acct = Account(1_000, [Position(btc, "long", 1.0, 100.0, leverage=10)])
    >>> res = replay(acct, [100.0, 95.0, 90.0, 80.0, 100.0], modes=("isolated",))
    >>> res.liquidations("isolated")[["step", "fill_price"]].to_numpy().tolist()
    [[2.0, 90.0]]
    """
    if not isinstance(account, Account) or not account.positions:
        raise InputError("account", type(account).__name__, "an Account with at least one position")
    modes = (modes,) if isinstance(modes, str) else tuple(modes)
    if not modes:
        raise InputError("modes", modes, f"one or more of {MARGIN_MODES}")
    for m in modes:
        if m not in MARGIN_MODES:
            raise InputError("modes", m, f"one of {MARGIN_MODES}")
    try:
        ratio = float(margin_call_ratio)
    except (TypeError, ValueError):
        ratio = np.nan
    if not (np.isfinite(ratio) and ratio > 0):
        raise InputError("margin_call_ratio", margin_call_ratio, "a finite number > 0")
    book = _Book(account)
    px = _load_prices(prices, book.symbols, intraperiod)
    steps = px.close.shape[0]
    funding = np.asarray(funding_rate, dtype=float)
    if funding.ndim == 0:
        funding = np.full(steps, float(funding))
    if funding.shape != (steps,) or not np.isfinite(funding).all():
        raise InputError(
            "funding_rate", funding_rate, f"a finite rate or {steps} rates (one per step)"
        )
    frames, equity = [], {}
    for mode in dict.fromkeys(modes):
        events, equity[mode] = _run(account.with_mode(mode), book, px, ratio, funding)
        events.insert(0, "mode", mode)
        frames.append(events)
    events = pd.concat(frames, ignore_index=True)
    events = events.astype({"mode": str, "position": str, "event": str})
    events.insert(3, "time", np.asarray(px.time)[events["step"].to_numpy()])
    return ReplayResult(events, equity, px.time, book.names, tuple(equity))


_COLUMNS = ("path", "step", "position", "event", "price", "fill_price", "qty", "loss",
            "shortfall", "margin_ratio", "beyond_bankruptcy")  # fmt: skip


def _run(
    account: Account, book: _Book, px: _Prices, thr: float, funding: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray]:
    """One mode: the step loop (vectorised over paths). Returns (events, equity)."""
    steps, paths, _ = px.close.shape
    n = len(book.names)
    # groups: one per isolated position, then the cross group (the cross wallet balance)
    iso = [i for i, p in enumerate(account.positions) if p.margin_mode == "isolated"]
    n_groups = len(iso) + 1
    cross_g = n_groups - 1
    group = np.full(n, cross_g)
    group[iso] = np.arange(len(iso))
    member = np.zeros((n_groups, n), dtype=bool)
    member[group, np.arange(n)] = True
    to_group = member.T.astype(float)  # (n, G): sums positions into their groups
    coll0 = np.append(
        [account.positions[i].isolated_margin for i in iso], account.cross_wallet_balance
    )
    n0 = book.notional(book.entry[None, :], book.qty0[None, :])[0]
    tol = _REL_TOL * (n0 @ to_group + coll0)  # (G,)
    # (group, symbol) pairs: a group sees one adverse extreme per symbol
    key_of = {k: j for j, k in enumerate(dict.fromkeys(zip(group, book.sym, strict=True)))}
    key = np.array([key_of[k] for k in zip(group, book.sym, strict=True)])
    to_key = np.zeros((n, len(key_of)))
    to_key[np.arange(n), key] = 1.0

    q = np.tile(book.qty0, (paths, 1))
    coll = np.tile(coll0, (paths, 1))
    armed = np.ones((paths, n), dtype=bool)
    equity = np.empty((paths, steps))
    rows: list[dict[str, np.ndarray]] = []

    for t in range(steps):
        close = px.close[t][:, book.sym]
        if px.low is None:
            x = o = close
        else:
            lo, hi = px.low[t][:, book.sym], px.high[t][:, book.sym]
            h_lo = (book.pnl(lo, q) - book.maint(lo, q)) @ to_key
            h_hi = (book.pnl(hi, q) - book.maint(hi, q)) @ to_key
            x = np.where((h_lo <= h_hi)[:, key], lo, hi)
            o = px.open[t][:, book.sym]
        open_pos = q > 0
        live = open_pos @ to_group > 0
        upnl, mm = book.pnl(x, q), book.maint(x, q)
        eq_g = coll + upnl @ to_group
        mm_g = mm @ to_group
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio_g = np.where(eq_g > 0, mm_g / eq_g, np.inf)
        ratio = ratio_g[:, group]
        hot = ratio >= thr
        call = hot & armed & open_pos
        if call.any():
            p_, i_ = np.nonzero(call)
            rows.append(_rows(p_, t, i_, 0, x[p_, i_], ratio=ratio[p_, i_]))
        armed = ~hot
        trig = live & (eq_g - mm_g <= tol)
        if trig.any():
            _liquidate(book, t, trig, o, x, q, coll, ratio_g, member, group, cross_g, tol, rows)
            upnl = None  # quantities changed
        if t > 0 and funding[t] != 0.0:
            pay = book.sign * funding[t] * book.notional(close, q)
            coll -= pay @ to_group
        at_close = upnl if upnl is not None and x is close else book.pnl(close, q)
        equity[:, t] = coll.sum(axis=1) + at_close.sum(axis=1)

    if rows:
        cols = {c: np.concatenate([r[c] for r in rows]) for c in _COLUMNS}
    else:
        cols = {c: np.empty(0) for c in _COLUMNS}
    frame = pd.DataFrame(cols)
    frame["path"] = frame["path"].astype(np.int64)
    frame["step"] = frame["step"].astype(np.int64)
    frame["position"] = np.asarray(book.names, dtype=object)[
        frame["position"].to_numpy(dtype=np.intp)
    ]
    frame["event"] = np.asarray(EVENTS, dtype=object)[frame["event"].to_numpy(dtype=np.intp)]
    frame["beyond_bankruptcy"] = frame["beyond_bankruptcy"].astype(bool)
    frame = frame.sort_values(["path", "step"], kind="stable", ignore_index=True)
    return frame, equity


def _rows(
    path: np.ndarray,
    step: int,
    pos: np.ndarray,
    event: int,
    price: np.ndarray,
    *,
    ratio: np.ndarray,
    fill: np.ndarray | None = None,
    qty: np.ndarray | None = None,
    loss: np.ndarray | None = None,
    shortfall: np.ndarray | None = None,
    beyond: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    m = len(path)
    nan = np.full(m, np.nan)
    return {
        "path": path, "step": np.full(m, step), "position": pos, "event": np.full(m, event),
        "price": price, "fill_price": nan if fill is None else fill,
        "qty": nan if qty is None else qty, "loss": nan if loss is None else loss,
        "shortfall": nan if shortfall is None else shortfall, "margin_ratio": ratio,
        "beyond_bankruptcy": np.zeros(m, bool) if beyond is None else beyond,
    }  # fmt: skip


def _liquidate(
    book: _Book,
    t: int,
    trig: np.ndarray,
    o: np.ndarray,
    x: np.ndarray,
    q: np.ndarray,
    coll: np.ndarray,
    ratio_g: np.ndarray,
    member: np.ndarray,
    group: np.ndarray,
    cross_g: int,
    tol: np.ndarray,
    rows: list[dict[str, np.ndarray]],
) -> None:
    """Liquidate the triggered (path, group) pairs in place (``q``, ``coll``); append events.

    Loop: find the first point ``lam`` of the period where the group's equity reaches its
    maintenance (bisection), step tiered-partial positions down one tier there and check again,
    or close the whole group. Each pass removes a tier or a pair, so it ends.
    """
    p_, g_ = np.nonzero(trig)
    lam0 = np.zeros(len(p_))

    def f(
        lam: np.ndarray, qm: np.ndarray, om: np.ndarray, xm: np.ndarray, c: np.ndarray
    ) -> np.ndarray:
        price = om + lam[:, None] * (xm - om)
        return c + (book.pnl(price, qm) - book.maint(price, qm)).sum(axis=1)

    while len(p_):
        mask = member[g_] & (q[p_] > 0)
        qm = np.where(mask, q[p_], 0.0)
        om, xm, c, tl = o[p_], x[p_], coll[p_, g_], tol[g_]
        f1 = f(np.ones(len(p_)), qm, om, xm, c)
        still = f1 <= tl
        if not still.all():
            p_, g_, lam0, mask, qm, om, xm, c, tl, f1 = (
                a[still] for a in (p_, g_, lam0, mask, qm, om, xm, c, tl, f1)
            )
            if not len(p_):
                break
        target = np.where(f1 <= 0, 0.0, tl)  # touching within tolerance: fill at the extreme
        lo, hi = lam0.copy(), np.ones(len(p_))
        search = f(lo, qm, om, xm, c) > target
        hi[~search] = lo[~search]  # already past at lam0 (a gap): fill there
        for _ in range(_BISECTIONS if search.any() else 0):
            mid = 0.5 * (lo + hi)
            below = f(mid, qm, om, xm, c) <= target
            hi = np.where(search & below, mid, hi)
            lo = np.where(search & ~below, mid, lo)
        fill = om + hi[:, None] * (xm - om)
        pnl = book.pnl(fill, qm)
        eq_fill = c + pnl.sum(axis=1)
        beyond = eq_fill < -tl
        _, size = book.size(fill, qm)
        k = book.tier(size)
        red = mask & book.partial & (k > 0)
        stepping = red.any(axis=1)
        ratio = ratio_g[p_, g_]
        # partial: reduce to just below the next lower tier's cap, realise, check again
        if stepping.any():
            new_q = np.where(red, book.step_down(fill, qm, np.maximum(k, 1)), qm)
            closed = qm - new_q
            realised = book.pnl(fill, closed)
            a, i = np.nonzero(red)
            rows.append(
                _rows(p_[a], t, i, 1, xm[a, i], ratio=ratio[a], fill=fill[a, i],
                      qty=closed[a, i], loss=-realised[a, i], shortfall=np.zeros(len(a)),
                      beyond=beyond[a])
            )  # fmt: skip
            q[p_[a], i] = new_q[a, i]  # (path, position) pairs are unique: no clash
            coll[p_[stepping], g_[stepping]] += realised[stepping].sum(axis=1)
        # full: close every open position of the group at its fill
        full = ~stepping
        if full.any():
            pf, gf, pnl_f, eq_f = p_[full], g_[full], pnl[full], eq_fill[full]
            short_total = np.maximum(-eq_f, 0.0)
            losing = np.where(mask[full], np.maximum(-pnl_f, 0.0), 0.0)
            share = losing.sum(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                weights = np.where(
                    share[:, None] > 0,
                    losing / share[:, None],
                    mask[full] / mask[full].sum(axis=1, keepdims=True),
                )
            short_i = short_total[:, None] * weights
            a, i = np.nonzero(mask[full])
            rows.append(
                _rows(pf[a], t, i, 2, xm[full][a, i], ratio=ratio[full][a], fill=fill[full][a, i],
                      qty=qm[full][a, i], loss=-pnl_f[a, i] - short_i[a, i],
                      shortfall=short_i[a, i], beyond=beyond[full][a])
            )  # fmt: skip
            q[pf[a], i] = 0.0
            # the group keeps max(equity, 0) (the insurance fund takes the rest); an isolated
            # group hands it to the cross wallet. Increments, so pairs on one path commute.
            rest = np.maximum(eq_f, 0.0)
            iso = gf != cross_g
            coll[pf, gf] += np.where(iso, 0.0, rest) - c[full]
            np.add.at(coll[:, cross_g], pf[iso], rest[iso])
        p_, g_, lam0 = p_[stepping], g_[stepping], hi[stepping]
