"""Accounts: a wallet and positions on several markets, each isolated or cross.

An account is positions + collateral + a rule for maintenance margin (each position's
:class:`~margin_kit.contracts.Market`). Everything here is derived with the pure evaluators of
:mod:`margin_kit.liquidation`; objects are frozen, and "changes" (adding margin, switching mode,
moving marks) return new objects.

Conventions (Binance USDⓈ-M, one-way mode):

* ``wallet_balance`` is the whole wallet. Isolated positions lock their isolated margin
  (initial margin ``N_0 / leverage`` plus any margin added); the rest is the *cross wallet
  balance*, the collateral every cross position shares.
* A cross position's liquidation price holds every other cross position at its mark: their
  unrealised PnL and maintenance margin enter as ``other_upnl`` and ``other_maint_margin``.
* An isolated position's collateral is its isolated margin alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from margin_kit._errors import InputError
from margin_kit._validate import as_float, as_side
from margin_kit.contracts import Market
from margin_kit.liquidation import bankruptcy_price, tiered_liquidation_price

__all__ = ["MARGIN_MODES", "Account", "MarginMode", "Position"]

MarginMode = Literal["isolated", "cross"]
MARGIN_MODES: tuple[MarginMode, ...] = ("isolated", "cross")


def _check_mode(mode: Any, field_name: str = "margin_mode") -> MarginMode:
    if mode not in MARGIN_MODES:
        raise InputError(field_name, mode, "'isolated' or 'cross'")
    return mode


@dataclass(frozen=True)
class Position:
    """One position on one market.

    Parameters
    ----------
    market : Market
        Contract and maintenance rule.
    side : {"long", "short"} or {+1, -1}
        Stored as ``"long"``/``"short"``.
    qty : float
        Quantity (base units for linear, contracts for inverse), > 0.
    entry_price : float
        Average entry price, > 0.
    leverage : float
        Initial leverage; initial margin is ``N_0 / leverage``. Must not exceed the maximum of the
        tier holding the entry notional.
    margin_mode : {"isolated", "cross"}
    mark_price : float, optional
        Current mark; defaults to ``entry_price``.
    added_margin : float
        Isolated only: margin added (> 0) or removed (< 0) beyond the initial margin.
    name : str, optional
        Label; defaults to ``"<symbol> <side>"``.
    """

    market: Market
    side: str
    qty: float
    entry_price: float
    leverage: float = 10.0
    margin_mode: MarginMode = "cross"
    mark_price: float | None = None
    added_margin: float = 0.0
    name: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.market, Market):
            raise InputError("market", type(self.market).__name__, "a Market")
        sign = float(as_side(self.side))
        object.__setattr__(self, "side", "long" if sign > 0 else "short")
        for name in ("qty", "entry_price", "leverage"):
            object.__setattr__(
                self, name, float(as_float(getattr(self, name), name, positive=True))
            )
        _check_mode(self.margin_mode)
        mark = self.entry_price if self.mark_price is None else self.mark_price
        object.__setattr__(self, "mark_price", float(as_float(mark, "mark_price", positive=True)))
        object.__setattr__(self, "added_margin", float(as_float(self.added_margin, "added_margin")))
        if not self.name:
            object.__setattr__(self, "name", f"{self.market.symbol} {self.side}")
        tiers = self.market.tiers
        size = self._tier_size(self.entry_price)
        cap = float(tiers.caps[-1])
        if size >= cap:
            raise InputError(
                "qty", self.qty, f"a position size {size:g} below the last cap {cap:g}"
            )
        tiers.check_leverage(self.leverage, size)
        if self.margin_mode == "isolated" and self.isolated_margin <= 0:
            raise InputError("added_margin", self.added_margin, "an isolated margin that stays > 0")

    # ------------------------------------------------------------ numbers
    @property
    def sign(self) -> float:
        """+1 for a long, -1 for a short."""
        return 1.0 if self.side == "long" else -1.0

    @property
    def symbol(self) -> str:
        """The market's symbol."""
        return self.market.symbol

    def notional_at(self, price: float) -> float:
        """Notional at ``price`` in the settle currency."""
        spec = self.market.spec
        qc = self.qty * spec.contract_size
        return qc * price if spec.contract == "linear" else qc / price

    @property
    def initial_margin(self) -> float:
        """``N_0 / leverage`` (settle currency)."""
        return self.notional_at(self.entry_price) / self.leverage

    @property
    def isolated_margin(self) -> float:
        """Collateral ring-fenced for the position: initial + added margin (0 when cross)."""
        if self.margin_mode != "isolated":
            return 0.0
        return self.initial_margin + self.added_margin

    def unrealized_pnl(self, price: Any = None) -> Any:
        """Unrealised PnL at ``price`` (default: the mark), settle currency; arrays broadcast."""
        p = self.mark_price if price is None else price
        spec = self.market.spec
        qc = self.qty * spec.contract_size
        if spec.contract == "linear":
            return self.sign * qc * (p - self.entry_price)
        return self.sign * qc * (1.0 / self.entry_price - 1.0 / p)

    def _tier_size(self, price: float) -> float:
        """What the market's tier table is indexed by, for this position at ``price``."""
        basis = self.market.tier_basis
        if basis == "qty":
            return self.qty
        return self.notional_at(self.entry_price if basis == "entry" else price)

    def maint_margin(self, price: Any = None) -> Any:
        """Maintenance margin at ``price`` (default: the mark), with the market's tier rule.

        ``price`` may be an array (e.g. simulated paths); beyond the last cap the last tier
        applies. ``"entry"`` basis: computed once at entry; ``"qty"``: tier by size, value at
        ``price``; ``"mark"``: tier and value at ``price``.
        """
        p = np.asarray(self.mark_price if price is None else price, dtype=np.float64)
        mm = self._maint_at_notional(self.notional_at(p))
        return float(mm) if np.ndim(mm) == 0 else mm

    def _maint_at_notional(self, notional: Any) -> np.ndarray:
        """Maintenance margin at a notional (array), with the market's tier rule.

        ``"entry"`` basis: the entry notional's, whatever ``notional`` is.
        """
        value = np.asarray(notional, dtype=np.float64)
        tiers, basis = self.market.tiers, self.market.tier_basis
        if basis == "entry":
            value = np.broadcast_to(self.notional_at(self.entry_price), value.shape)
        size = self.qty if basis == "qty" else value
        k = np.searchsorted(tiers.floors, size, side="right") - 1
        return value * (tiers.mmrs[k] + self.market.close_fee_rate) - tiers.maint_amounts[k]

    def with_(self, **changes: Any) -> Position:
        """A copy with fields changed (validated again)."""
        return replace(self, **changes)


@dataclass(frozen=True)
class Account:
    """A wallet and its positions.

    Parameters
    ----------
    wallet_balance : float
        Whole wallet in the settle currency, >= the isolated margins it funds.
    positions : iterable of Position
        Names must be unique; all positions settle in one currency.
    name : str, optional

    Examples
    --------
    >>> from margin_kit.contracts import Market
    >>> btc = Market.simple("BTCUSDT", 0.004)
    >>> acct = Account(10_000, [Position(btc, "long", 1.0, 50_000, leverage=10,
    ...                                  margin_mode="isolated")])
    >>> round(float(acct.liquidation_prices()["liquidation_price"].iloc[0]), 2)
    45180.72
    >>> moved = acct.add_margin("BTCUSDT long", 1_000)
    >>> round(float(moved.liquidation_prices()["liquidation_price"].iloc[0]), 2)
    44176.71
    """

    wallet_balance: float
    positions: tuple[Position, ...] = ()
    name: str = ""
    _by_name: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "wallet_balance",
            float(as_float(self.wallet_balance, "wallet_balance", nonnegative=True)),
        )
        positions = tuple(self.positions)
        object.__setattr__(self, "positions", positions)
        by_name: dict[str, int] = {}
        for i, p in enumerate(positions):
            if not isinstance(p, Position):
                raise InputError(f"positions[{i}]", type(p).__name__, "a Position")
            if p.name in by_name:
                raise InputError(
                    f"positions[{i}].name", p.name, "a name not used by another position"
                )
            by_name[p.name] = i
        currencies = {p.market.spec.settle_currency for p in positions}
        if len(currencies) > 1:
            raise InputError("positions", sorted(currencies), "one settle currency per account")
        locked = sum(p.isolated_margin for p in positions)
        if locked > self.wallet_balance * (1 + 1e-12):
            raise InputError(
                "wallet_balance",
                self.wallet_balance,
                f">= the isolated margins it funds ({locked:.10g})",
            )
        object.__setattr__(self, "_by_name", by_name)

    # ------------------------------------------------------------ access
    def __len__(self) -> int:
        return len(self.positions)

    def position(self, name: str) -> Position:
        """The position called ``name``."""
        if name not in self._by_name:
            raise InputError("name", name, f"one of {list(self._by_name)}")
        return self.positions[self._by_name[name]]

    @property
    def settle_currency(self) -> str:
        """The currency margin and PnL are counted in."""
        return self.positions[0].market.spec.settle_currency if self.positions else ""

    def _cross(self) -> list[Position]:
        return [p for p in self.positions if p.margin_mode == "cross"]

    # ------------------------------------------------------------ balances
    @property
    def isolated_margin(self) -> float:
        """Sum of the isolated margins (collateral ring-fenced per position)."""
        return sum(p.isolated_margin for p in self.positions)

    @property
    def cross_wallet_balance(self) -> float:
        """Wallet less isolated margins: the collateral shared by cross positions."""
        return self.wallet_balance - self.isolated_margin

    @property
    def cross_equity(self) -> float:
        """Cross wallet balance plus the cross positions' unrealised PnL at their marks."""
        return self.cross_wallet_balance + sum(p.unrealized_pnl() for p in self._cross())

    @property
    def equity(self) -> float:
        """Whole margin balance: wallet plus every position's unrealised PnL."""
        return self.wallet_balance + sum(p.unrealized_pnl() for p in self.positions)

    @property
    def maintenance_margin(self) -> float:
        """Sum of every position's maintenance margin at its mark."""
        return sum(p.maint_margin() for p in self.positions)

    @property
    def cross_maintenance_margin(self) -> float:
        """Sum of the cross positions' maintenance margins at their marks."""
        return sum(p.maint_margin() for p in self._cross())

    @property
    def cross_margin_ratio(self) -> float:
        """Cross maintenance margin / cross equity (Binance's margin ratio; liquidation at 1)."""
        eq = self.cross_equity
        return self.cross_maintenance_margin / eq if eq > 0 else float("inf")

    @property
    def available_balance(self) -> float:
        """Cross equity less the cross positions' initial margin at their marks, floored at 0.

        What could still be used to open positions or be withdrawn.
        """
        im = sum(p.notional_at(p.mark_price) / p.leverage for p in self._cross())
        return max(0.0, self.cross_equity - im)

    # ------------------------------------------------------------ tables
    def frame(self) -> pd.DataFrame:
        """Positions as a DataFrame indexed by name (inputs plus margin, PnL and maintenance)."""
        rows = [
            {
                "position": p.name,
                "symbol": p.symbol,
                "side": p.side,
                "mode": p.margin_mode,
                "qty": p.qty,
                "entry_price": p.entry_price,
                "mark_price": p.mark_price,
                "leverage": p.leverage,
                "notional": p.notional_at(p.mark_price),
                "initial_margin": p.initial_margin,
                "isolated_margin": p.isolated_margin,
                "unrealized_pnl": p.unrealized_pnl(),
                "maint_margin": p.maint_margin(),
            }
            for p in self.positions
        ]
        return pd.DataFrame(rows).set_index("position")

    def liquidation_prices(self) -> pd.DataFrame:
        """Every position's liquidation and bankruptcy price, indexed by position name.

        Columns: ``mode``, ``side``, ``mark_price``, ``liquidation_price``, ``bankruptcy_price``,
        ``distance_pct`` (adverse move from the mark to the liquidation price, in percent; NaN
        when there is none), ``collateral`` (the isolated margin, or the cross wallet balance
        the position draws on), ``margin`` (isolated margin, or initial margin for cross).
        Isolated positions use their own margin; cross positions hold every cross position on
        other symbols at its mark. Several cross positions on one symbol move together (as in
        Binance's hedge-mode formula, where the long and short legs of a symbol share the
        price): each gets the first price, moving from the mark against *that* position, where
        the cross equity reaches the maintenance margin (zero for bankruptcy); NaN if none (or
        only beyond the tier table's last cap).
        """
        n = len(self.positions)
        liq = np.full(n, np.nan)
        bk = np.full(n, np.nan)
        collateral = np.zeros(n)
        upnl = np.array([p.unrealized_pnl() for p in self.positions])
        mm = np.array([p.maint_margin() for p in self.positions])
        is_cross = np.array([p.margin_mode == "cross" for p in self.positions], dtype=bool)
        cross_upnl, cross_mm = float(upnl[is_cross].sum()), float(mm[is_cross].sum())
        cross_wallet = self.cross_wallet_balance
        groups: dict[int, list[int]] = {}
        for i, p in enumerate(self.positions):
            groups.setdefault(id(p.market), []).append(i)
        for idx in groups.values():
            ix = np.array(idx)
            market = self.positions[idx[0]].market
            ps = [self.positions[i] for i in idx]
            cross = is_cross[ix]
            if cross.sum() >= 2:
                # several cross positions on one symbol move together (a hedge offsets)
                joint = [p for p, c in zip(ps, cross, strict=True) if c]
                members = [i for i, c in zip(idx, cross, strict=True) if c]
                rest_upnl = cross_upnl - float(upnl[members].sum())
                rest_mm = cross_mm - float(mm[members].sum())
                base = cross_wallet + rest_upnl
                for i, c in zip(idx, cross, strict=True):
                    if c:
                        p = self.positions[i]
                        liq[i] = _joint_root(joint, p, base - rest_mm, maint=True)
                        bk[i] = _joint_root(joint, p, base, maint=False)
                        collateral[i] = cross_wallet
                if not (~cross).any():
                    continue
                ix, cross = ix[~cross], cross[~cross]
                ps = [self.positions[i] for i in ix]
            coll = np.where(cross, cross_wallet, [p.isolated_margin for p in ps])
            other_upnl = np.where(cross, cross_upnl - upnl[ix], 0.0)
            other_mm = np.where(cross, np.maximum(cross_mm - mm[ix], 0.0), 0.0)
            kw = {
                "contract": market.spec.contract,
                "contract_size": market.spec.contract_size,
            }
            args = (
                np.array([p.sign for p in ps]),
                np.array([p.entry_price for p in ps]),
                np.array([p.qty for p in ps]),
                coll,
            )
            liq[ix] = tiered_liquidation_price(
                *args,
                market.tiers,
                other_maint_margin=other_mm,
                other_upnl=other_upnl,
                tier_basis=market.tier_basis,
                close_fee_rate=market.close_fee_rate,
                **kw,
            )
            bk[ix] = bankruptcy_price(*args, other_upnl=other_upnl, **kw)
            collateral[ix] = coll
        marks = np.array([p.mark_price for p in self.positions])
        signs = np.array([p.sign for p in self.positions])
        out = pd.DataFrame(
            {
                "mode": [p.margin_mode for p in self.positions],
                "side": [p.side for p in self.positions],
                "mark_price": marks,
                "liquidation_price": liq,
                "bankruptcy_price": bk,
                "distance_pct": 100.0 * signs * (marks - liq) / marks,
                "collateral": collateral,
                "margin": [
                    p.isolated_margin if p.margin_mode == "isolated" else p.initial_margin
                    for p in self.positions
                ],
            },
            index=pd.Index([p.name for p in self.positions], name="position"),
        )
        return out

    # ------------------------------------------------------------ changes
    def add_margin(self, name: str, amount: float) -> Account:
        """Add (or, negative, remove) isolated margin to a position; returns a new account.

        The margin comes out of the cross wallet balance, so cross positions' liquidation prices
        move too.
        """
        p = self.position(name)
        if p.margin_mode != "isolated":
            raise InputError(
                "name", name, "an isolated position (cross positions share the wallet)"
            )
        amount = float(as_float(amount, "amount"))
        return self._replace_position(name, p.with_(added_margin=p.added_margin + amount))

    def with_mode(self, mode: MarginMode, names: Iterable[str] | None = None) -> Account:
        """The same positions with ``margin_mode`` set to ``mode`` (all, or only ``names``)."""
        mode = _check_mode(mode, "mode")
        chosen = set(self._by_name) if names is None else set(names)
        for n in chosen:
            self.position(n)
        positions = [
            p.with_(margin_mode=mode, added_margin=0.0) if p.name in chosen else p
            for p in self.positions
        ]
        return replace(self, positions=tuple(positions))

    def with_marks(self, marks: Mapping[str, float]) -> Account:
        """The same account with mark prices moved, by symbol."""
        positions = [
            p.with_(mark_price=marks[p.symbol]) if p.symbol in marks else p for p in self.positions
        ]
        return replace(self, positions=tuple(positions))

    def _replace_position(self, name: str, new: Position) -> Account:
        positions = list(self.positions)
        positions[self._by_name[name]] = new
        return replace(self, positions=tuple(positions))


def _joint_root(group: list[Position], p: Position, base: float, *, maint: bool) -> float:
    """First price, from the mark against ``p``, where ``base + sum(PnL) [- sum(MM)]`` hits 0.

    ``group`` are the cross positions on ``p``'s symbol, all moving with the price. In
    ``x = P`` (linear) or ``x = 1/P`` (inverse) every PnL and notional ``q c x`` is linear, and
    a maintenance margin is linear between the tier floors, so the condition is piecewise
    linear in ``x``: evaluated at the breakpoints the root is interpolated exactly. Returns the
    mark when the condition already fails there, NaN when no price in ``(0, inf)`` reaches it
    or only one at which a position's notional is beyond its tier table's last cap (no tier
    applies there; a hedge on a big wallet would otherwise show prices of billions).
    """
    spec = p.market.spec
    inverse = spec.contract == "inverse"
    qc = np.array([o.qty * spec.contract_size for o in group])
    s = np.array([o.sign for o in group])
    e = np.array([o.entry_price for o in group])

    def f(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)[:, None]
        pnl = s * qc * ((1.0 / e - x) if inverse else (x - e))
        total = base + pnl.sum(axis=1)
        if maint:
            for j, o in enumerate(group):
                total = total - o._maint_at_notional(qc[j] * x[:, 0])
        return total

    x0 = 1.0 / p.mark_price if inverse else p.mark_price
    step = p.sign * (1.0 if inverse else -1.0)  # the direction of an adverse move, in x
    f0 = float(f(np.array([x0]))[0])
    if f0 <= 0:
        return p.mark_price
    breaks = [x0]
    if maint:
        for j, o in enumerate(group):
            if o.market.tier_basis == "mark":
                breaks.extend(o.market.tiers.floors[1:] / qc[j])
    xs = np.unique(np.asarray(breaks))
    xs = xs[(xs - x0) * step > 0]
    xs = np.concatenate([[x0], np.sort(xs)[:: int(step)]])
    if step < 0:
        xs = np.append(xs, 0.0)  # price 0 (linear) or infinity (inverse)
    fx = f(xs)
    hit = np.flatnonzero(fx <= 0)
    if hit.size:
        k = int(hit[0])
        a, b, fa, fb = xs[k - 1], xs[k], fx[k - 1], fx[k]
        root = a + (b - a) * fa / (fa - fb)
    else:
        # beyond the last breakpoint (towards x = +inf) f is linear: extrapolate
        if step < 0:
            return float("nan")
        last = xs[-1]
        slope = float(f(np.array([2.0 * last]))[0] - fx[-1]) / last
        if not slope < 0:
            return float("nan")
        root = last - fx[-1] / slope
    # a notional beyond a table's last cap is outside every tier: no liquidation price there
    caps = [o.market.tiers.caps[-1] / qc[j] for j, o in enumerate(group)]
    if not 0 < root < min(caps):
        return float("nan")
    return float(1.0 / root if inverse else root)
