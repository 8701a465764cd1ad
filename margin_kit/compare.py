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
from margin_kit.account import MARGIN_MODES, Account
from margin_kit.risk import PriceModel, asset_columns, liquidation_probability

__all__ = ["ACCOUNT_ROW", "COLUMNS", "compare"]

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
