"""Isolated vs cross, side by side: one tidy table per account, model and horizon.

:func:`compare` evaluates the same positions with collateral ring-fenced per position
(``mode="isolated"``) and shared across the account (``mode="cross"``) and returns one long-format
DataFrame (a row per position and mode, plus an ``"(account)"`` row per mode) ready for pandas
group-bys and altair encodings.

Definitions (all amounts in the settle currency, losses positive, measured from the current
marks, i.e. relative to closing everything now):

* ``loss_given_liquidation``: isolated, the position's equity (isolated margin plus its
  unrealised PnL at the mark), which a liquidation takes whole (the exchange keeps what is left
  above bankruptcy as its fee / insurance fund); cross, the account's cross equity (cross wallet
  plus cross unrealised PnL), because a cross liquidation closes every cross position.
* ``expected_loss = p_liquidation * loss_given_liquidation``. Cross positions are liquidated
  together, so in cross mode every position row shows the same account event; the ``"(account)"``
  row gives the account's total (isolated: the sum over positions; cross: once).
* ``margin_locked``: isolated margin, or (cross) the initial margin at the mark
  ``N(P) / leverage``. ``free_collateral``: what the account could still use, the wallet not
  locked (isolated mode) or :attr:`Account.available_balance` (cross mode).
* ``distance_pct``: adverse move from the mark to the liquidation price, percent;
  ``distance_sigma``: the same move in log terms over ``sigma * sqrt(T)`` (the model's annualised
  diffusive volatility of that symbol).
* ``return_on_margin``: PnL of a favourable move of ``move`` (a fraction) over ``margin_locked``.
* ``expected_shortfall`` (account rows): mean loss in the worst ``1 - es_level`` of simulated
  outcomes of the account's P&L over the horizon, with liquidations applied along each path
  (isolated: a liquidated position loses its equity; cross: a liquidation loses the cross equity).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from margin_kit._errors import InputError
from margin_kit._validate import as_float
from margin_kit.account import MARGIN_MODES, Account, Position
from margin_kit.liquidation import bankruptcy_price, tiered_liquidation_price
from margin_kit.risk import PriceModel, asset_columns, hit_probability, liquidation_probability

__all__ = [
    "ACCOUNT_ROW",
    "COLUMNS",
    "PRICE_SWEEP_COLUMNS",
    "SWEEP_COLUMNS",
    "compare",
    "leverage_bounds",
    "leverage_grid",
    "leverage_sweep",
    "max_leverage",
    "price_levels",
    "price_sweep",
]

ACCOUNT_ROW = "(account)"
COLUMNS = [
    "position",
    "mode",
    "symbol",
    "side",
    "mark_price",
    "liquidation_price",
    "distance_pct",
    "distance_sigma",
    "p_liquidation",
    "p_stderr",
    "loss_given_liquidation",
    "expected_loss",
    "margin_locked",
    "free_collateral",
    "return_on_margin",
    "expected_shortfall",
]


def _pnl_outcomes(
    account: Account, model: PriceModel, horizon: float, paths: int, steps: int | None, seed: Any
) -> np.ndarray:
    """Simulated account P&L over the horizon with liquidations applied (checked per step).

    Isolated positions are liquidated when their own equity reaches their maintenance margin
    at a step; the cross account when its cross equity reaches the cross maintenance margin.
    Accumulated position by position so memory stays at a few ``paths x steps`` arrays.
    """
    columns, spots = asset_columns(account, model)
    sim = model.simulate(spots if len(spots) > 1 else spots[0], horizon, steps, paths, seed)
    sim = sim.reshape(sim.shape[0], sim.shape[1], -1)  # (paths, steps + 1, assets)
    total = np.zeros(sim.shape[0])
    cross_upnl = np.zeros(sim.shape[:2])
    cross_mm = np.zeros(sim.shape[:2])
    has_cross = False
    for p in account.positions:
        x = sim[:, :, columns[p.symbol]]
        upnl = p.unrealized_pnl(x)
        now = p.unrealized_pnl()
        if p.margin_mode == "isolated":
            hit = (p.isolated_margin + upnl <= p.maint_margin(x)).any(axis=1)
            total += np.where(hit, -(p.isolated_margin + now), upnl[:, -1] - now)
        else:
            has_cross = True
            cross_upnl += upnl
            cross_mm += p.maint_margin(x)
    if has_cross:
        hit = (account.cross_wallet_balance + cross_upnl <= cross_mm).any(axis=1)
        now = account.cross_equity - account.cross_wallet_balance
        total += np.where(hit, -account.cross_equity, cross_upnl[:, -1] - now)
    return total


def _expected_shortfall(pnl: np.ndarray, level: float) -> float:
    """Mean loss (positive) over the worst ``1 - level`` fraction of outcomes."""
    losses = np.sort(-pnl)[::-1]
    k = max(1, int(np.ceil((1.0 - level) * losses.size)))
    return float(losses[:k].mean())


def compare(
    account: Account,
    model: PriceModel,
    horizon: float,
    *,
    paths: int = 100_000,
    steps: int | None = None,
    seed: Any = 0,
    funding_rate: float = 0.0,
    move: float = 0.05,
    es_level: float = 0.975,
    modes: Sequence[str] = MARGIN_MODES,
) -> pd.DataFrame:
    """Compare the account's positions isolated and cross over ``horizon`` under ``model``.

    Parameters
    ----------
    account : Account
        The positions and wallet; each mode replays ``account.with_mode(mode)``.
    model : PriceModel
        A :mod:`margin_kit.risk` model covering the account's symbols.
    horizon : float
        Years.
    paths, steps, seed, funding_rate
        Monte Carlo settings, as in :func:`margin_kit.risk.liquidation_probability`; the same
        seed gives the same table.
    move : float, default 0.05
        Favourable move (fraction of the mark) for ``return_on_margin``.
    es_level : float, default 0.975
        Level of the expected shortfall.
    modes : sequence of {"isolated", "cross"}, default both
        Which margin modes to evaluate.

    Returns
    -------
    DataFrame
        Columns :data:`COLUMNS` (see the module docstring), one row per position and mode plus
        one ``"(account)"`` row per mode; ``RangeIndex``.
    """
    if not isinstance(account, Account) or len(account) == 0:
        raise InputError("account", account, "an Account with at least one position")
    for m in modes:
        if m not in MARGIN_MODES:
            raise InputError("modes", m, "'isolated' and/or 'cross'")
    if not 0 < move < 1:
        raise InputError("move", move, "a fraction in (0, 1)")
    if not 0.5 <= es_level < 1:
        raise InputError("es_level", es_level, "a level in [0.5, 1)")
    vols = model.annual_vol()
    columns, _ = asset_columns(account, model)
    rows: list[dict[str, Any]] = []
    for mode in modes:
        acct = account.with_mode(mode)
        liq = acct.liquidation_prices()
        probs = liquidation_probability(
            acct, model, horizon, paths=paths, steps=steps, seed=seed, funding_rate=funding_rate
        )
        free = acct.cross_wallet_balance if mode == "isolated" else acct.available_balance
        total_el = 0.0
        for p in acct.positions:
            r = liq.loc[p.name]
            price = r["liquidation_price"]
            sigma = float(vols[columns[p.symbol]]) * np.sqrt(horizon)
            with np.errstate(divide="ignore", invalid="ignore"):
                dist_sigma = p.sign * np.log(p.mark_price / price) / sigma
            if mode == "isolated":
                lgl = p.isolated_margin + p.unrealized_pnl()
                locked = p.isolated_margin
            else:
                lgl = acct.cross_equity
                locked = p.notional_at(p.mark_price) / p.leverage
            prob = float(probs.loc[p.name, "p_liquidation"])
            el = prob * lgl
            total_el += el if mode == "isolated" else 0.0
            gain = p.unrealized_pnl(p.mark_price * (1 + p.sign * move)) - p.unrealized_pnl()
            rows.append({
                "position": p.name, "mode": mode, "symbol": p.symbol, "side": p.side,
                "mark_price": p.mark_price, "liquidation_price": price,
                "distance_pct": r["distance_pct"], "distance_sigma": dist_sigma,
                "p_liquidation": prob, "p_stderr": float(probs.loc[p.name, "stderr"]),
                "loss_given_liquidation": lgl, "expected_loss": el, "margin_locked": locked,
                "free_collateral": free, "return_on_margin": gain / locked,
                "expected_shortfall": np.nan,
            })  # fmt: skip
        mode_rows = rows[-len(acct) :]
        if mode == "cross":
            p_any = mode_rows[0]["p_liquidation"]
            p_se = mode_rows[0]["p_stderr"]
            lgl_acct = acct.cross_equity
            total_el = p_any * lgl_acct
        else:
            survive = np.prod([1.0 - r["p_liquidation"] for r in mode_rows])
            p_any, p_se, lgl_acct = (
                1.0 - survive,
                np.nan,
                sum(r["loss_given_liquidation"] for r in mode_rows),
            )
        pnl = _pnl_outcomes(acct, model, horizon, paths, steps, seed)
        locked_total = sum(r["margin_locked"] for r in mode_rows)
        gains = sum(r["return_on_margin"] * r["margin_locked"] for r in mode_rows)
        rows.append({
            "position": ACCOUNT_ROW, "mode": mode, "symbol": "", "side": "",
            "mark_price": np.nan, "liquidation_price": np.nan, "distance_pct": np.nan,
            "distance_sigma": np.nan, "p_liquidation": p_any, "p_stderr": p_se,
            "loss_given_liquidation": lgl_acct, "expected_loss": total_el,
            "margin_locked": locked_total, "free_collateral": free,
            "return_on_margin": gains / locked_total,
            "expected_shortfall": _expected_shortfall(pnl, es_level),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)


# ----------------------------------------------------------------------------- sweeps
SWEEP_COLUMNS = [
    "leverage",
    "mode",
    "position",
    "symbol",
    "side",
    "mark_price",
    "liquidation_price",
    "bankruptcy_price",
    "distance_pct",
    "margin_locked",
    "free_collateral",
]
"""Columns of :func:`leverage_sweep` (``p_liquidation``, ``loss_given_liquidation``,
``expected_loss``, ``vol`` and ``horizon`` follow when a volatility and horizon are given)."""

PRICE_SWEEP_COLUMNS = ["price", "mode", "quantity", "value"]
"""Columns of :func:`price_sweep`."""


def max_leverage(account: Account, name: str) -> float:
    """Highest leverage the tier table allows for position ``name`` at its entry size.

    Parameters
    ----------
    account : Account
        The positions and wallet.
    name : str
        A position of ``account``.

    Returns
    -------
    float
        The ``max_leverage`` of the tier holding the position's size (notional at entry, or
        contracts for tables by quantity), the bound :class:`~margin_kit.account.Position`
        enforces.
    """
    if not isinstance(account, Account):
        raise InputError("account", type(account).__name__, "an Account")
    p = account.position(name)
    return float(p.market.tiers.max_leverage_at(p._tier_size(p.entry_price)))


def leverage_bounds(
    account: Account, name: str, *, modes: Sequence[str] = MARGIN_MODES
) -> tuple[float, float]:
    """The leverages :func:`leverage_sweep` accepts for position ``name``: ``(low, high)``.

    ``high`` is :func:`max_leverage`. ``low`` is the smallest leverage whose isolated margin
    ``N_0 / L`` the wallet can fund next to the other positions' isolated margins (every
    position isolated, as in ``account.with_mode("isolated")``); without ``"isolated"`` in
    ``modes`` it is 0 (any positive leverage).
    """
    high = max_leverage(account, name)
    if "isolated" not in _modes(modes):
        return 0.0, high
    p = account.position(name)
    others = sum(o.initial_margin for o in account.positions if o.name != name)
    room = account.wallet_balance - others
    if room <= 0:
        raise InputError(
            "account.wallet_balance",
            account.wallet_balance,
            f"more than the other positions' isolated margins ({others:.10g})",
        )
    return p.notional_at(p.entry_price) / room, high


def leverage_grid(
    account: Account, name: str, n: int = 100, *, modes: Sequence[str] = MARGIN_MODES
) -> np.ndarray:
    """About ``n`` leverages from ``max(1, low)`` to ``high`` of :func:`leverage_bounds`.

    Geometrically spaced (liquidation prices and probabilities change fastest at low
    leverage), plus the round leverages 2, 3, 5, 10, 20, 25, 50, 75, 100 and the position's own
    leverage when they lie in the range; sorted, without duplicates.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise InputError("n", n, "an integer >= 2")
    low, high = leverage_bounds(account, name, modes=modes)
    low = max(1.0, low)
    if low > high:
        raise InputError(
            "account.wallet_balance",
            account.wallet_balance,
            f"enough to fund position {name!r} isolated at {high:g}x or less",
        )
    extra = np.array([2, 3, 5, 10, 20, 25, 50, 75, 100, account.position(name).leverage])
    extra = extra[(extra >= low) & (extra <= high)]
    grid = np.geomspace(low, high, max(2, int(n) - extra.size))
    return np.unique(np.concatenate([grid, extra]))


def leverage_sweep(
    account: Account,
    name: str,
    leverages: Any = None,
    *,
    model: PriceModel | None = None,
    vol: float | None = None,
    horizon: float | None = None,
    modes: Sequence[str] = MARGIN_MODES,
) -> pd.DataFrame:
    """Position ``name`` at each leverage, isolated and cross: liquidation, capital, risk.

    Each mode is the account as :func:`compare` sees it (``account.with_mode(mode)``: every
    position in that mode, added margin dropped) with position ``name``'s leverage set to each
    value; every other position keeps its leverage (positions on other symbols are held at their
    marks, those on the same symbol move with it in cross mode, as in
    :meth:`Account.liquidation_prices <margin_kit.account.Account.liquidation_prices>`).

    * **isolated**: the position's isolated margin is ``N_0 / L``, so the liquidation price
      moves towards the mark as ``L`` grows.
    * **cross**: the position draws on the whole cross wallet; leverage sets only the initial
      margin (``margin_locked`` and ``free_collateral``), not the liquidation price, which is the
      same at every leverage. That flat line is the point of the comparison. The price is
      :func:`price_levels`'s: every cross position on the symbol moves with it (a hedge on the
      same symbol offsets the position), which is what the Monte Carlo of :func:`compare`
      simulates.

    Parameters
    ----------
    account : Account
        The positions and wallet.
    name : str
        The position to sweep.
    leverages : array_like, optional
        Leverages (> 0), each within :func:`leverage_bounds`; default :func:`leverage_grid`
        (100 points).
    model : PriceModel, optional
        Gives the volatility: ``model.annual_vol()`` of the position's symbol (its diffusive
        part for jump models); a single-asset model without ``symbols`` is taken to be that
        symbol.
    vol : float, optional
        Annualised volatility; overrides ``model``.
    horizon : float, optional
        Years; with a volatility adds the risk columns.
    modes : sequence of {"isolated", "cross"}, default both
        Which margin modes to evaluate.

    Returns
    -------
    DataFrame
        Long format, one row per leverage and mode (modes in the order given, leverages
        ascending within a mode). Columns :data:`SWEEP_COLUMNS`: ``leverage``, ``mode``,
        ``position``, ``symbol``, ``side``, ``mark_price``, ``liquidation_price`` and
        ``bankruptcy_price`` (NaN: none), ``distance_pct`` (adverse move from the mark to the
        liquidation price, percent), ``margin_locked`` (isolated: ``N_0 / L``; cross: ``N(mark) /
        L``, the initial margin at the mark), ``free_collateral`` (isolated: wallet less every
        isolated margin; cross: :attr:`Account.available_balance`). With a volatility and a
        horizon also ``vol``, ``horizon``, ``p_liquidation`` (:func:`margin_kit.risk.
        hit_probability` of the liquidation price, GBM without drift: closed form),
        ``loss_given_liquidation`` and ``expected_loss`` (definitions of this module's
        docstring). Amounts are in the settle currency; ``frame.attrs`` holds ``position``,
        ``symbol``, ``settle_currency``, ``price_unit``, ``leverage`` (the position's own) and
        ``max_leverage``.

    Raises
    ------
    InputError
        An unknown position, a leverage outside :func:`leverage_bounds` (naming it), a
        ``horizon`` without a volatility or the reverse, an unknown mode.

    Examples
    --------
    >>> import margin_kit as mk
    >>> btc = mk.Market.simple("BTCUSDT", 0.005)
    >>> acct = mk.Account(10_000, [mk.Position(btc, "long", 1.0, 50_000, leverage=10)])
    >>> sw = leverage_sweep(acct, "BTCUSDT long", [5, 10, 20])
    >>> sw.pivot(index="leverage", columns="mode", values="liquidation_price").round(2)
    mode        cross  isolated
    leverage
    5.0      40201.01  40201.01
    10.0     40201.01  45226.13
    20.0     40201.01  47738.69
    """
    if not isinstance(account, Account):
        raise InputError("account", type(account).__name__, "an Account")
    modes = _modes(modes)
    p = account.position(name)
    low, high = leverage_bounds(account, name, modes=modes)
    if leverages is None:
        lev = leverage_grid(account, name, modes=modes)
    else:
        lev = np.sort(as_float(leverages, "leverages", positive=True).ravel())
        if lev.size == 0:
            raise InputError("leverages", leverages, "one or more leverages")
        bad = (lev < low * (1 - 1e-12)) | (lev > high)
        if bad.any():
            value = float(lev[np.flatnonzero(bad)[0]])
            why = (
                "the tier's max leverage"
                if value > high
                else "the lowest whose isolated margin the wallet can fund"
            )
            raise InputError("leverage", value, f"a leverage in [{low:.6g}, {high:g}] ({why})")
    sigma = _sweep_vol(p, model, vol, horizon)
    spec, mkt = p.market.spec, p.market
    n0 = p.notional_at(p.entry_price)
    n_mark = p.notional_at(p.mark_price)
    upnl = float(p.unrealized_pnl())
    frames = []
    for mode in modes:
        if mode == "isolated":
            coll = n0 / lev
            args = (p.sign, p.entry_price, p.qty, coll)
            kw = {"contract": spec.contract, "contract_size": spec.contract_size}
            liq = np.asarray(tiered_liquidation_price(
                *args, mkt.tiers, tier_basis=mkt.tier_basis,
                close_fee_rate=mkt.close_fee_rate, **kw))  # fmt: skip
            bk = np.asarray(bankruptcy_price(*args, **kw))
            others = sum(o.initial_margin for o in account.positions if o.name != name)
            locked = coll
            free = account.wallet_balance - others - coll
            lgl = coll + upnl
        else:
            cross = account.with_mode("cross")
            level = price_levels(account, name, modes=("cross",)).iloc[0]
            liq = np.full(lev.size, level["liquidation_price"])
            bk = np.full(lev.size, level["bankruptcy_price"])
            other_im = sum(
                o.notional_at(o.mark_price) / o.leverage for o in cross.positions if o.name != name
            )
            locked = n_mark / lev
            free = np.maximum(0.0, cross.cross_equity - other_im - locked)
            lgl = np.full(lev.size, cross.cross_equity)
        frame = pd.DataFrame({
            "leverage": lev, "mode": mode, "position": p.name, "symbol": p.symbol,
            "side": p.side, "mark_price": p.mark_price, "liquidation_price": liq,
            "bankruptcy_price": bk,
            "distance_pct": 100.0 * p.sign * (p.mark_price - liq) / p.mark_price,
            "margin_locked": locked, "free_collateral": free,
        })  # fmt: skip
        if sigma is not None:
            t = float(horizon)  # type: ignore[arg-type]
            prob = hit_probability(
                p.mark_price, liq, sigma, t, direction="down" if p.sign > 0 else "up"
            )
            frame["vol"] = sigma
            frame["horizon"] = t
            frame["p_liquidation"] = prob
            frame["loss_given_liquidation"] = lgl
            frame["expected_loss"] = prob * lgl
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    out.attrs.update(_position_attrs(p))
    out.attrs.update({"leverage": p.leverage, "max_leverage": high, "min_leverage": low})
    if sigma is not None:
        out.attrs.update({"vol": sigma, "horizon": float(horizon)})  # type: ignore[arg-type]
    return out


def price_levels(
    account: Account, name: str | None = None, *, modes: Sequence[str] = MARGIN_MODES
) -> pd.DataFrame:
    """Liquidation and bankruptcy price of the symbol of position ``name``, per mode.

    Isolated: the position's own prices. Cross: the price of the symbol at which the cross
    account's equity reaches its maintenance margin (liquidation) or zero (bankruptcy) when
    **every** cross position on that symbol moves with it and positions on other symbols stay
    at their marks: :meth:`Account.liquidation_prices` of ``account.with_mode(mode)``, the
    level where :func:`price_sweep`'s curves cross.

    Returns
    -------
    DataFrame
        Indexed by ``mode``; columns ``mark_price``, ``liquidation_price``,
        ``bankruptcy_price`` (NaN: none in ``(0, inf)``). ``frame.attrs`` as
        :func:`price_sweep`'s (``position``, ``symbol``, ``settle_currency``, ``price_unit``...).
    """
    p = _named(account, name)
    modes = _modes(modes)
    rows = []
    for mode in modes:
        if mode == "isolated":
            iso = p.with_(margin_mode="isolated", added_margin=0.0)
            r = Account(iso.isolated_margin, [iso]).liquidation_prices().iloc[0]
            liq, bk = float(r["liquidation_price"]), float(r["bankruptcy_price"])
        else:
            r = account.with_mode("cross").liquidation_prices().loc[p.name]
            liq, bk = float(r["liquidation_price"]), float(r["bankruptcy_price"])
        rows.append({"mode": mode, "mark_price": p.mark_price, "liquidation_price": liq,
                     "bankruptcy_price": bk})  # fmt: skip
    out = pd.DataFrame(rows).set_index("mode")
    out.attrs.update(_position_attrs(p))
    return out


def price_sweep(
    account: Account,
    name: str | None = None,
    prices: Any = None,
    *,
    modes: Sequence[str] = MARGIN_MODES,
    n: int = 200,
) -> pd.DataFrame:
    """Equity and maintenance margin against the price of position ``name``'s symbol.

    Isolated (``account.with_mode("isolated")``): the position's own equity, isolated margin
    plus unrealised PnL, and its maintenance margin. Cross (``account.with_mode("cross")``):
    the cross account's equity (wallet plus every position's unrealised PnL) and maintenance
    margin, with every position on the symbol at the price and the others at their marks.
    Liquidation is where equity meets maintenance margin, bankruptcy where equity is 0.

    Parameters
    ----------
    account : Account
        The positions and wallet.
    name : str, optional
        The position; default the first.
    prices : array_like, optional
        Prices (> 0) of the symbol. Default: ``n`` evenly spaced prices spanning the mark and
        both modes' liquidation and bankruptcy prices (:func:`price_levels`), with 15 % of the
        span added each side (floored above 0).
    modes : sequence of {"isolated", "cross"}, default both
        Which margin modes to evaluate.
    n : int, default 200
        Grid size when ``prices`` is not given.

    Returns
    -------
    DataFrame
        Long format, columns :data:`PRICE_SWEEP_COLUMNS`: ``price``, ``mode``, ``quantity``
        (``"equity"`` or ``"maintenance_margin"``) and ``value`` (settle currency); one row per
        price, mode and quantity. ``frame.attrs``: ``position``, ``symbol``,
        ``settle_currency``, ``price_unit``, ``mark_price`` and ``levels`` (the records of
        :func:`price_levels`: ``mode``, ``mark_price``, ``liquidation_price``,
        ``bankruptcy_price``).
    """
    p = _named(account, name)
    modes = _modes(modes)
    levels = price_levels(account, p.name, modes=modes)
    if prices is None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
            raise InputError("n", n, "an integer >= 2")
        grid = _price_grid(p.mark_price, levels, int(n))
    else:
        grid = np.sort(as_float(prices, "prices", positive=True).ravel())
        if grid.size == 0:
            raise InputError("prices", prices, "one or more prices > 0")
    frames = []
    for mode in modes:
        if mode == "isolated":
            margin = p.initial_margin
            eq = margin + p.unrealized_pnl(grid)
            mm = np.asarray(p.maint_margin(grid), dtype=np.float64)
        else:
            equity, maint = _cross_curves(account, p)
            eq, mm = equity(grid), maint(grid)
        for quantity, values in (("equity", eq), ("maintenance_margin", mm)):
            frames.append(pd.DataFrame(
                {"price": grid, "mode": mode, "quantity": quantity,
                 "value": np.broadcast_to(values, grid.shape)}
            ))  # fmt: skip
    out = pd.concat(frames, ignore_index=True)
    out.attrs.update(_position_attrs(p))
    out.attrs["levels"] = levels.reset_index().to_dict("records")
    return out


def _modes(modes: Sequence[str] | str) -> tuple[str, ...]:
    modes = (modes,) if isinstance(modes, str) else tuple(modes)
    if not modes:
        raise InputError("modes", modes, "one or more of 'isolated', 'cross'")
    for m in modes:
        if m not in MARGIN_MODES:
            raise InputError("modes", m, "'isolated' and/or 'cross'")
    return tuple(dict.fromkeys(modes))


def _named(account: Account, name: str | None) -> Position:
    if not isinstance(account, Account) or len(account) == 0:
        raise InputError("account", account, "an Account with at least one position")
    return account.positions[0] if name is None else account.position(name)


def _position_attrs(p: Position) -> dict[str, Any]:
    spec = p.market.spec
    return {
        "position": p.name,
        "symbol": p.symbol,
        "side": p.side,
        "mark_price": p.mark_price,
        "settle_currency": spec.settle_currency,
        # prices are quoted in the quote currency: the settle currency of a linear contract,
        # USD for an inverse one (its contract size is in USD)
        "price_unit": spec.settle_currency if spec.contract == "linear" else "USD",
    }


def _sweep_vol(p: Position, model: PriceModel | None, vol: Any, horizon: Any) -> float | None:
    """The annualised volatility for the risk columns, or None when none are asked for."""
    if vol is not None:
        sigma = as_float(vol, "vol", nonnegative=True)
        if sigma.ndim:
            raise InputError("vol", vol, "a single number")
        sigma = float(sigma)
    elif model is not None:
        if not isinstance(model, PriceModel):
            raise InputError("model", type(model).__name__, "a PriceModel (GBM, StudentT, ...)")
        if model.symbols is not None:
            if p.symbol not in model.symbols:
                raise InputError("model.symbols", model.symbols, f"names including {p.symbol!r}")
            column = model.symbols.index(p.symbol)
        elif model.n_assets == 1:
            column = 0  # a single-asset model is the position's symbol
        else:
            raise InputError("model", type(model).__name__, "a single-asset model or symbols=")
        sigma = float(model.annual_vol()[column])
    else:
        sigma = None
    if horizon is None:
        if sigma is not None:
            raise InputError("horizon", None, "years (> 0) to go with the volatility")
        return None
    t = as_float(horizon, "horizon", positive=True)
    if t.ndim:
        raise InputError("horizon", horizon, "a single number of years")
    if sigma is None:
        raise InputError("vol", None, "a volatility (vol= or model=) to go with the horizon")
    return sigma


def _cross_curves(account: Account, p: Position) -> tuple[Any, Any]:
    """Cross equity and maintenance margin as functions of ``p``'s price.

    Every position is cross (``account.with_mode("cross")``); positions on ``p``'s symbol move
    with the price, the others stay at their marks (as :meth:`Account.liquidation_prices`).
    """
    cross = account.with_mode("cross")
    same = [o for o in cross.positions if o.symbol == p.symbol]
    rest = [o for o in cross.positions if o.symbol != p.symbol]
    base_eq = cross.wallet_balance + sum(o.unrealized_pnl() for o in rest)
    base_mm = sum(o.maint_margin() for o in rest)

    def equity(price: Any) -> np.ndarray:
        x = np.asarray(price, dtype=np.float64)
        return base_eq + sum(o.unrealized_pnl(x) for o in same)

    def maint(price: Any) -> np.ndarray:
        x = np.asarray(price, dtype=np.float64)
        return base_mm + sum(np.asarray(o.maint_margin(x), dtype=np.float64) for o in same)

    return equity, maint


def _price_grid(mark: float, levels: pd.DataFrame, n: int) -> np.ndarray:
    """``n`` prices spanning the mark and the finite levels, 15 % of the span added each side."""
    values = np.concatenate([[mark], levels[["liquidation_price", "bankruptcy_price"]].to_numpy(
        dtype=np.float64).ravel()])  # fmt: skip
    values = values[np.isfinite(values) & (values > 0)]
    lo, hi = float(values.min()), float(values.max())
    span = hi - lo if hi > lo else 0.2 * mark
    lo, hi = lo - 0.15 * span, hi + 0.15 * span
    if lo <= 0:
        lo = 0.5 * float(values.min())
    return np.linspace(lo, hi, n)
