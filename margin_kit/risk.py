r"""Probability of liquidation over a horizon: price models, first passage, funding.

Conventions
-----------
* Time is in **years**; volatilities and drifts are annualised. ``drift`` is the arithmetic drift
  ``mu`` of ``dS/S = mu dt + sigma dW``, so the log price drifts at ``nu = mu - sigma^2 / 2``.
* A *barrier* is a price level. Below the spot it is hit when the path's minimum reaches it (a
  long's liquidation price), above when the maximum does (a short's). NaN or ``+inf`` means "no
  liquidation price": never hit.
* Models simulate **log-price increments**; ``simulate`` returns prices of shape
  ``(paths, steps + 1)`` (``(paths, steps + 1, n_assets)`` for multi-asset models), first column
  the spot.
* Funding: ``funding_rate`` is the rate **per funding interval** as exchanges quote it (e.g.
  ``0.0001`` every ``funding_interval_hours=8``). A positive rate: longs pay shorts. The payment
  ``s * rate * N(P_t)`` on the notional at the current price accrues continuously against the
  margin (annualised ``rate * 365 * 24 / funding_interval_hours``), a smooth stand-in for the
  discrete payments, and moves the liquidation price over time.

Monte Carlo first passage uses the Brownian-bridge correction: between two simulated log prices
``x0, x1`` a step ``dt`` apart, both on the safe side of a log barrier ``b``, the probability that
the continuous path touched ``b`` is ``exp(-2 (b - x0)(b - x1) / (sigma^2 dt))`` (exact for
Brownian motion with drift and a barrier linear in time over the step; Glasserman, *Monte Carlo
Methods in Financial Engineering*, 2004, §6.4). A path's hit probability is
``1 - prod_i (1 - p_i)``; its mean over paths is the estimate (a conditional expectation of the
hit indicator, so with a smaller variance than the indicator's). For GBM this is exact however
coarse the grid; for the other models it treats the path between steps as Brownian with the
model's diffusive volatility (an approximation; use steps at the data's frequency or finer).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from os import PathLike
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.special import log_ndtr, ndtr

from margin_kit._errors import InputError
from margin_kit._validate import as_float
from margin_kit.account import Account, Position
from margin_kit.liquidation import tiered_liquidation_price
from margin_kit.prices import PriceDataError, check_series, load_ohlc

__all__ = [
    "GBM",
    "Bootstrap",
    "CorrelatedGBM",
    "Estimate",
    "MertonJump",
    "PriceModel",
    "StudentT",
    "asset_columns",
    "fan_frame",
    "hit_probability",
    "liquidation_price_path",
    "liquidation_probability",
    "mc_hit_probability",
]

HOURS_PER_YEAR = 365.0 * 24.0
# Monte Carlo works on blocks of about this many path-steps (fits in L2 cache).
_BLOCK_ELEMS = 1 << 17
_CHUNK_PATHS = 1 << 14
# A finite stand-in for "infinitely far from the barrier" (its products stay finite).
_FAR = 1e150


# ----------------------------------------------------------------------------- validation
def _scalar(value: Any, name: str, **checks: Any) -> float:
    arr = as_float(value, name, **checks)
    if arr.ndim != 0:
        raise InputError(name, value, "a single number")
    return float(arr)


def _count(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InputError(name, value, f"an integer >= {minimum}")
    return int(value)


def _direction(value: Any) -> float | None:
    if value is None:
        return None
    words = {"down": -1.0, "below": -1.0, "up": 1.0, "above": 1.0}
    if isinstance(value, str) and value in words:
        return words[value]
    if value in (1, -1):
        return float(value)
    raise InputError("direction", value, "'down', 'up', -1, +1 or None (from barrier vs spot)")


# ----------------------------------------------------------------------------- closed form
def hit_probability(
    spot: Any,
    barrier: Any,
    vol: Any,
    horizon: Any,
    drift: Any = 0.0,
    *,
    direction: Literal["down", "up"] | None = None,
) -> Any:
    r"""Probability that GBM touches ``barrier`` within ``horizon`` (closed form).

    With ``nu = drift - vol^2/2``, ``b = ln(B/S)``, ``T = horizon``:

    .. math::

        P_{\downarrow} = \Phi\!\left(\frac{b - \nu T}{\sigma\sqrt T}\right)
            + e^{2\nu b/\sigma^2}\,\Phi\!\left(\frac{b + \nu T}{\sigma\sqrt T}\right),\qquad
        P_{\uparrow} = \Phi\!\left(\frac{-b + \nu T}{\sigma\sqrt T}\right)
            + e^{2\nu b/\sigma^2}\,\Phi\!\left(\frac{-b - \nu T}{\sigma\sqrt T}\right)

    for a barrier below (``min S_t <= B``) or above (``max S_t >= B``) the spot: the law of the
    running minimum/maximum of Brownian motion with drift (Shreve, *Stochastic Calculus for
    Finance II*, 2004, §7.2.1, eq. 7.2.2; Borodin & Salminen, *Handbook of Brownian Motion*,
    1.1.2.1.4). The second term is evaluated as ``exp(2 nu b / sigma^2 + log Phi(.))``, which
    never overflows (each term is at most 1). ``vol = 0`` gives the deterministic limit.

    Parameters
    ----------
    spot : float or array_like
        Current price, finite and > 0.
    barrier : float or array_like
        Barrier price >= 0; NaN or ``+inf`` (no liquidation price) gives 0, and so does 0 below.
    vol : float or array_like
        Annualised volatility >= 0.
    horizon : float or array_like
        Years, > 0.
    drift : float or array_like, default 0
        Annualised arithmetic drift ``mu``.
    direction : {"down", "up"}, optional
        The side the barrier is on. By default inferred from barrier vs spot. When given, a
        barrier at or beyond the spot on that side (already touched) gives 1.

    Returns
    -------
    float or ndarray
        Probabilities in ``[0, 1]``, broadcast over the arguments.

    Raises
    ------
    InputError
        Negative or non-finite ``vol``, ``horizon <= 0``, a NaN or non-positive spot, a negative
        barrier.

    Examples
    --------
    >>> round(float(hit_probability(100.0, 80.0, 0.8, 30 / 365)), 4)
    0.3684
    """
    s = as_float(spot, "spot", positive=True)
    sigma = as_float(vol, "vol", nonnegative=True)
    t = as_float(horizon, "horizon", positive=True)
    mu = as_float(drift, "drift")
    b_raw = np.asarray(barrier, dtype=np.float64)
    bad = (b_raw < 0) | (b_raw == -np.inf)
    if bad.any():
        where = f"[{int(np.flatnonzero(bad.ravel())[0])}]" if b_raw.ndim else ""
        raise InputError("barrier" + where, np.ravel(b_raw)[bad.ravel()][0].item(), "a price >= 0")
    d_given = _direction(direction)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        b = np.log(b_raw / s)  # NaN stays NaN, +inf -> +inf, 0 -> -inf
        d = np.sign(b) if d_given is None else np.full_like(b, d_given)
        nu = mu - 0.5 * sigma**2
        a = d * b  # distance to the barrier in log units, > 0 when not yet touched
        m = d * nu  # drift towards the barrier
        sq = sigma * np.sqrt(t)
        safe_sq = np.where(sq > 0, sq, 1.0)
        safe_sig2 = np.where(sigma > 0, sigma**2, 1.0)
        a_f = np.where(np.isfinite(a) & (a > 0), a, 1.0)
        p = ndtr((-a_f + m * t) / safe_sq) + np.exp(
            2.0 * m * a_f / safe_sig2 + log_ndtr((-a_f - m * t) / safe_sq)
        )
        p = np.where(sq > 0, p, (m * t >= a_f).astype(np.float64))
        p = np.clip(p, 0.0, 1.0)
        p = np.where(np.isfinite(a) & (a > 0), p, np.where(np.isnan(a) | (a == np.inf), 0.0, 1.0))
    p = np.where(np.isnan(b_raw) | (b_raw == np.inf), 0.0, p)
    return np.float64(p) if p.ndim == 0 else p


# ----------------------------------------------------------------------------- estimate
@dataclass(frozen=True)
class Estimate:
    """A Monte Carlo estimate: ``value`` with its standard error over ``paths`` paths."""

    value: float
    stderr: float
    paths: int

    def __float__(self) -> float:
        return float(self.value)


def _estimate(h: np.ndarray, antithetic: bool) -> Estimate:
    """Mean and standard error of per-path values ``h`` (antithetic pairs are averaged first)."""
    n = h.size
    if antithetic:  # pairs are adjacent (see _store); an odd last path stands alone
        h = np.concatenate([0.5 * (h[0 : n - 1 : 2] + h[1::2]), h[n - n % 2 :]])
    value = float(np.mean(h)) if n else 0.0
    se = float(np.std(h, ddof=1) / math.sqrt(h.size)) if h.size > 1 else 0.0
    return Estimate(value, se, n)


# ----------------------------------------------------------------------------- models
class PriceModel:
    """Interface of the price models: log-price increments over a time grid.

    Subclasses implement ``_increments(rng, dt, steps, paths, antithetic)`` returning log
    increments of shape ``(steps, paths, n_assets)`` and ``_bridge_cov(dt)`` (the per-step
    covariance of the diffusive part, used by the Brownian-bridge correction).
    """

    symbols: tuple[str, ...] | None = None

    @property
    def n_assets(self) -> int:
        """Number of assets simulated jointly."""
        return 1

    def _increments(
        self, rng: np.random.Generator, dt: float, steps: int, paths: int, antithetic: bool
    ) -> np.ndarray:
        raise NotImplementedError

    def annual_vol(self) -> np.ndarray:
        """Annualised volatility of the diffusive part, one per asset (jumps excluded)."""
        return np.sqrt(np.diag(self._bridge_cov(1.0)))

    def _bridge_cov(self, dt: float) -> np.ndarray:
        raise NotImplementedError

    def _steps(self, horizon: float, steps: Any) -> int:
        """Check (or choose: daily) the number of steps for ``horizon``."""
        if steps is None:
            return max(1, math.ceil(horizon * 365.0 - 1e-9))
        return _count(steps, "steps")

    def simulate(
        self, spot: Any, horizon: float, steps: int | None, paths: int, seed: Any = None
    ) -> np.ndarray:
        """Simulated price paths.

        Parameters
        ----------
        spot : float or array_like
            Starting price(s), > 0 (one per asset for multi-asset models).
        horizon : float
            Years, > 0.
        steps : int
            Time steps (equal, ``horizon / steps`` years each).
        paths : int
            Number of paths.
        seed : int, Generator or None
            Passed to :func:`numpy.random.default_rng`.

        Returns
        -------
        ndarray
            Shape ``(paths, steps + 1)``, or ``(paths, steps + 1, n_assets)``; column 0 is spot.
        """
        t = _scalar(horizon, "horizon", positive=True)
        steps = self._steps(t, steps)
        paths = _count(paths, "paths")
        s0 = as_float(spot, "spot", positive=True)
        n = self.n_assets
        if s0.size not in (1, n) or s0.ndim > 1:
            raise InputError("spot", spot, f"one price or {n} prices (one per asset)")
        rng = np.random.default_rng(seed)
        dx = self._increments(rng, t / steps, steps, paths, False)  # (steps, paths, n)
        x = np.empty((paths, steps + 1, n))
        x[:, 0, :] = 0.0
        np.cumsum(np.moveaxis(dx, 0, 1), axis=1, out=x[:, 1:, :])
        out = np.exp(x) * np.broadcast_to(s0, (n,))
        return out[..., 0] if n == 1 and self.symbols is None else out


def _mirror(rng: np.random.Generator, shape: tuple[int, ...], antithetic: bool) -> np.ndarray:
    """Standard normals of ``shape`` (axis 1 = paths); antithetic: second half = -first half."""
    if not antithetic:
        return rng.standard_normal(shape)
    paths = shape[1]
    half = (paths + 1) // 2
    z = np.empty(shape)
    rng.standard_normal((shape[0], half, *shape[2:]), out=z[:, :half])
    np.negative(z[:, : paths - half], out=z[:, half:])
    return z


@dataclass(frozen=True)
class GBM(PriceModel):
    r"""Geometric Brownian motion ``dS/S = drift dt + vol dW``.

    Log increments ``(drift - vol^2/2) dt + vol sqrt(dt) Z``, ``Z ~ N(0, 1)`` (exact in law on
    any grid).

    Parameters
    ----------
    vol : float
        Annualised volatility >= 0.
    drift : float, default 0
        Annualised arithmetic drift.
    """

    vol: float
    drift: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "vol", _scalar(self.vol, "vol", nonnegative=True))
        object.__setattr__(self, "drift", _scalar(self.drift, "drift"))

    def _increments(
        self, rng: np.random.Generator, dt: float, steps: int, paths: int, antithetic: bool
    ) -> np.ndarray:
        z = _mirror(rng, (steps, paths, 1), antithetic)
        z *= self.vol * math.sqrt(dt)
        z += (self.drift - 0.5 * self.vol**2) * dt
        return z

    def _bridge_cov(self, dt: float) -> np.ndarray:
        return np.array([[self.vol**2 * dt]])


@dataclass(frozen=True)
class StudentT(PriceModel):
    r"""Fat-tailed log returns: Student-t increments scaled to GBM's variance.

    Log increments ``(drift - vol^2/2) dt + vol sqrt(dt) sqrt((dof - 2)/dof) T_dof``: the per-step
    variance is ``vol^2 dt`` as for GBM, the tails are polynomial (heavier for smaller ``dof``).
    The t law is not closed under sums, so the distribution of a horizon's return depends on the
    step (it tends to GBM's as steps shrink); use steps at the frequency the fit came from.

    Parameters
    ----------
    vol : float
        Annualised volatility >= 0.
    dof : float
        Degrees of freedom, > 2 (finite variance).
    drift : float, default 0
        Annualised drift; the log drift is ``drift - vol^2/2`` as in :class:`GBM`.
    """

    vol: float
    dof: float
    drift: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "vol", _scalar(self.vol, "vol", nonnegative=True))
        dof = _scalar(self.dof, "dof")
        if not dof > 2:
            raise InputError("dof", self.dof, "degrees of freedom > 2 (finite variance)")
        object.__setattr__(self, "dof", dof)
        object.__setattr__(self, "drift", _scalar(self.drift, "drift"))

    def _increments(
        self, rng: np.random.Generator, dt: float, steps: int, paths: int, antithetic: bool
    ) -> np.ndarray:
        shape = (steps, paths, 1)
        t = rng.standard_t(self.dof, shape)
        if antithetic:
            half = (paths + 1) // 2
            t[:, half:] = -t[:, : paths - half]
        t *= self.vol * math.sqrt(dt) * math.sqrt((self.dof - 2.0) / self.dof)
        t += (self.drift - 0.5 * self.vol**2) * dt
        return t

    def _bridge_cov(self, dt: float) -> np.ndarray:
        return np.array([[self.vol**2 * dt]])


@dataclass(frozen=True)
class MertonJump(PriceModel):
    r"""Merton jump-diffusion: GBM plus compound-Poisson jumps in the log price.

    Log increments ``(drift - vol^2/2 - lambda k) dt + vol sqrt(dt) Z + sum_{i<=N} J_i`` with
    ``N ~ Poisson(lambda dt)``, ``J_i ~ N(jump_mean, jump_std^2)`` and
    ``k = exp(jump_mean + jump_std^2/2) - 1``, so that ``E[S_t] = S_0 e^{drift t}`` (Merton, "Option
    pricing when underlying stock returns are discontinuous", J. Financial Economics 3, 1976).

    Parameters
    ----------
    vol : float
        Diffusive annualised volatility >= 0.
    jump_intensity : float
        Jumps per year, >= 0.
    jump_mean, jump_std : float
        Mean and standard deviation (>= 0) of a jump in the log price.
    drift : float, default 0
        Annualised arithmetic drift.
    """

    vol: float
    jump_intensity: float
    jump_mean: float
    jump_std: float
    drift: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "vol", _scalar(self.vol, "vol", nonnegative=True))
        object.__setattr__(
            self,
            "jump_intensity",
            _scalar(self.jump_intensity, "jump_intensity", nonnegative=True),
        )
        object.__setattr__(self, "jump_mean", _scalar(self.jump_mean, "jump_mean"))
        object.__setattr__(self, "jump_std", _scalar(self.jump_std, "jump_std", nonnegative=True))
        object.__setattr__(self, "drift", _scalar(self.drift, "drift"))

    def _increments(
        self, rng: np.random.Generator, dt: float, steps: int, paths: int, antithetic: bool
    ) -> np.ndarray:
        shape = (steps, paths, 1)
        k = math.exp(self.jump_mean + 0.5 * self.jump_std**2) - 1.0
        z = _mirror(rng, shape, antithetic)
        z *= self.vol * math.sqrt(dt)
        z += (self.drift - 0.5 * self.vol**2 - self.jump_intensity * k) * dt
        n = rng.poisson(self.jump_intensity * dt, shape).astype(np.float64)
        z += n * self.jump_mean + np.sqrt(n) * self.jump_std * rng.standard_normal(shape)
        return z

    def _bridge_cov(self, dt: float) -> np.ndarray:
        return np.array([[self.vol**2 * dt]])


def _column_returns(frame: pd.DataFrame, name: str) -> np.ndarray:
    """Log returns (rows = periods) of each column of a frame, each checked as a price series."""
    cols = [check_series(frame[c], f"{name}[{c!r}]", allow_gaps=False) for c in frame.columns]
    return np.diff(np.log(np.column_stack([c.to_numpy() for c in cols])), axis=0)


def _returns_from(prices: Any, name: str) -> tuple[np.ndarray, tuple[str, ...] | None]:
    """Log returns (rows = periods) of a checked Series, or of each column of a DataFrame."""
    if isinstance(prices, pd.DataFrame) and prices.shape[1] > 1 and "close" not in prices:
        return _column_returns(prices, name), tuple(str(c) for c in prices.columns)
    s = check_series(prices, name, allow_gaps=False)
    return np.diff(np.log(s.to_numpy()))[:, None], None


@dataclass(frozen=True, eq=False)
class Bootstrap(PriceModel):
    r"""Historical bootstrap: log returns resampled with replacement from the user's own data.

    Each step draws one period (a row: joint for several assets) uniformly from the data, so
    fat tails, skew and cross-asset dependence are the data's own; serial dependence is not
    kept. **Steps are at the data's frequency**: ``steps = horizon * periods_per_year``
    exactly (an error otherwise). The bridge correction between steps treats the path within a
    period as Brownian with the data's standard deviation per period (an approximation).

    Parameters
    ----------
    log_returns : array_like
        Log returns per period, shape ``(periods,)`` or ``(periods, n_assets)``; finite.
    periods_per_year : float, default 365
        Periods in a year (365 for daily crypto data, 8760 for hourly).
    symbols : tuple of str, optional
        Column names of a multi-asset model.
    """

    log_returns: Any
    periods_per_year: float = 365.0
    symbols: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        r = as_float(self.log_returns, "log_returns")
        if r.ndim == 1:
            r = r[:, None]
        if r.ndim != 2 or r.shape[0] < 2:
            raise InputError("log_returns", r.shape, "at least 2 returns, shape (n,) or (n, k)")
        r = np.array(r, dtype=np.float64)
        r.setflags(write=False)
        object.__setattr__(self, "log_returns", r)
        ppy = _scalar(self.periods_per_year, "periods_per_year", positive=True)
        object.__setattr__(self, "periods_per_year", ppy)
        if self.symbols is not None:
            syms = tuple(str(s) for s in self.symbols)
            if len(syms) != r.shape[1]:
                raise InputError("symbols", self.symbols, f"{r.shape[1]} names, one per column")
            object.__setattr__(self, "symbols", syms)

    @classmethod
    def from_series(cls, prices: Any, periods_per_year: float = 365.0) -> Bootstrap:
        """From a price Series (or a frame with ``close``, or a frame of closes per symbol).

        The series is checked (:func:`margin_kit.prices.check_series`): positive, finite,
        sorted unique times, and no gaps in a time index (a gap would merge periods).
        """
        r, symbols = _returns_from(prices, "prices")
        return cls(r if symbols else r[:, 0], periods_per_year, symbols)

    @classmethod
    def from_csv(
        cls,
        path: str | PathLike[str],
        column: str = "close",
        periods_per_year: float = 365.0,
    ) -> Bootstrap:
        """From a CSV export (loaded and checked by :func:`margin_kit.prices.load_ohlc`).

        Examples
        --------
        ``Bootstrap.from_csv("btc-usd-daily.csv")`` for Yahoo's daily BTC-USD export.
        """
        frame = load_ohlc(path)
        if column not in frame.columns:
            raise PriceDataError("column", column, f"one of {list(frame.columns)}")
        return cls.from_series(frame[column], periods_per_year)

    @property
    def n_assets(self) -> int:
        """Number of assets simulated jointly."""
        return int(self.log_returns.shape[1])

    @property
    def vol(self) -> np.ndarray:
        """Annualised volatility of the data, per asset."""
        return np.std(self.log_returns, axis=0, ddof=1) * math.sqrt(self.periods_per_year)

    def _steps(self, horizon: float, steps: Any) -> int:
        want = horizon * self.periods_per_year
        k = round(want)
        if k < 1 or abs(want - k) > 1e-6 * max(1.0, want):
            raise InputError(
                "horizon",
                horizon,
                f"a whole number of the data's periods (horizon * periods_per_year = {want:g})",
            )
        if steps is not None and _count(steps, "steps") != k:
            raise InputError(
                "steps",
                steps,
                f"{k} = horizon * periods_per_year (a bootstrap steps at the data's frequency)",
            )
        return k

    def _increments(
        self, rng: np.random.Generator, dt: float, steps: int, paths: int, antithetic: bool
    ) -> np.ndarray:
        del antithetic  # resampled rows have no mirror image
        rows = rng.integers(0, self.log_returns.shape[0], size=(steps, paths))
        return self.log_returns[rows]

    def _bridge_cov(self, dt: float) -> np.ndarray:
        return np.atleast_2d(np.cov(self.log_returns, rowvar=False, ddof=1))


def _check_psd(m: np.ndarray, name: str) -> None:
    scale = max(1.0, float(np.max(np.abs(m)))) if m.size else 1.0
    if not np.allclose(m, m.T, rtol=0.0, atol=1e-12 * scale):
        raise InputError(name, m.tolist(), "a symmetric matrix")
    lo = float(np.linalg.eigvalsh(m)[0])
    if lo < -1e-10 * scale:
        raise InputError(
            name,
            m.tolist(),
            f"a positive semi-definite matrix (smallest eigenvalue {lo:.4g} < 0)",
        )


@dataclass(frozen=True, eq=False)
class CorrelatedGBM(PriceModel):
    r"""Correlated geometric Brownian motions for several assets.

    ``dS_i/S_i = mu_i dt + dW_i`` with ``Cov(dW) = Sigma dt``; log increments
    ``(mu - diag(Sigma)/2) dt + sqrt(dt) L Z`` with ``L L^T = Sigma`` (from the eigendecomposition,
    so a semi-definite ``Sigma`` works). Give ``vols`` and ``corr`` (identity by default), or
    ``cov``.

    Parameters
    ----------
    vols : array_like, optional
        Annualised volatilities >= 0.
    corr : array_like, optional
        Correlation matrix (unit diagonal, positive semi-definite).
    cov : array_like, optional
        Annualised covariance matrix (positive semi-definite), instead of ``vols``/``corr``.
    drifts : float or array_like, default 0
        Annualised arithmetic drifts.
    symbols : sequence of str, optional
        Names of the assets (columns), used to map an account's positions.

    Raises
    ------
    InputError
        A matrix that is not symmetric, not positive semi-definite (eigenvalues checked with a
        relative tolerance of 1e-10), of the wrong shape, or a correlation off ``[-1, 1]``.
    """

    vols: Any = None
    corr: Any = None
    cov: Any = None
    drifts: Any = 0.0
    symbols: tuple[str, ...] | None = None
    _factor: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.cov is not None:
            if self.vols is not None or self.corr is not None:
                raise InputError("cov", "given with vols/corr", "either cov, or vols (and corr)")
            cov = np.array(as_float(self.cov, "cov"), dtype=np.float64)
            if cov.ndim != 2 or cov.shape[0] != cov.shape[1] or cov.shape[0] < 1:
                raise InputError("cov", cov.shape, "a square matrix")
            _check_psd(cov, "cov")
            if (np.diag(cov) < 0).any():
                raise InputError("cov", np.diag(cov).tolist(), "variances >= 0 on the diagonal")
            vols = np.sqrt(np.diag(cov))
        else:
            if self.vols is None:
                raise InputError("vols", None, "volatilities (or cov=)")
            vols = np.atleast_1d(np.array(as_float(self.vols, "vols", nonnegative=True)))
            n = vols.size
            corr = np.eye(n) if self.corr is None else np.array(as_float(self.corr, "corr"))
            if corr.shape != (n, n):
                raise InputError("corr", corr.shape, f"a {n}x{n} matrix")
            if not np.allclose(np.diag(corr), 1.0) or (np.abs(corr) > 1 + 1e-12).any():
                raise InputError("corr", corr.tolist(), "ones on the diagonal, entries in [-1, 1]")
            _check_psd(corr, "corr")
            cov = corr * np.outer(vols, vols)
            object.__setattr__(self, "corr", corr)
        n = vols.size
        drifts = np.broadcast_to(as_float(self.drifts, "drifts"), (n,)).astype(np.float64)
        w, v = np.linalg.eigh(0.5 * (cov + cov.T))
        factor = v * np.sqrt(np.clip(w, 0.0, None))
        for name, arr in (("vols", vols), ("cov", cov), ("drifts", drifts), ("_factor", factor)):
            arr = np.array(arr)
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        if self.symbols is not None:
            syms = tuple(str(s) for s in self.symbols)
            if len(syms) != n or len(set(syms)) != n:
                raise InputError("symbols", self.symbols, f"{n} distinct names")
            object.__setattr__(self, "symbols", syms)

    @classmethod
    def from_prices(
        cls, frame: pd.DataFrame, periods_per_year: float = 365.0, drifts: Any = 0.0
    ) -> CorrelatedGBM:
        """Estimate the covariance from a frame of closes (one column per symbol).

        Each column is checked like a price series (finite, > 0, sorted, no gaps); the sample
        covariance of the log returns times ``periods_per_year`` is the annual ``cov``. Drifts
        are not estimated (too noisy): pass them.
        """
        if not isinstance(frame, pd.DataFrame):
            raise InputError("frame", type(frame).__name__, "a DataFrame of closes per symbol")
        ppy = _scalar(periods_per_year, "periods_per_year", positive=True)
        r = _column_returns(frame, "frame")
        cov = np.atleast_2d(np.cov(r, rowvar=False, ddof=1)) * ppy
        return cls(cov=cov, drifts=drifts, symbols=tuple(str(c) for c in frame.columns))

    @property
    def n_assets(self) -> int:
        """Number of assets simulated jointly."""
        return int(self.vols.size)

    def _increments(
        self, rng: np.random.Generator, dt: float, steps: int, paths: int, antithetic: bool
    ) -> np.ndarray:
        n = self.n_assets
        z = _mirror(rng, (steps, paths, n), antithetic)
        dx = z @ (self._factor.T * math.sqrt(dt))
        dx += (self.drifts - 0.5 * self.vols**2) * dt
        return dx

    def _bridge_cov(self, dt: float) -> np.ndarray:
        return self.cov * dt


# ----------------------------------------------------------------------------- MC kernel
def _walk(a: np.ndarray, start: Any) -> None:
    """Running sum along axis 0 in place, from ``start`` (row by row: SIMD over the paths).

    ``np.cumsum(axis=0)`` runs element by element down each column; adding whole rows is
    several times faster for the wide blocks used here.
    """
    np.add(a[0], start, out=a[0])
    for i in range(1, a.shape[0]):
        np.add(a[i - 1], a[i], out=a[i])


def _bridge_survival(v_prev: np.ndarray, v: np.ndarray, bridge: bool) -> np.ndarray:
    """Survival factor over a block of steps from normalised distances to the barrier.

    ``v`` has the steps on axis 1, shape ``(g, k, h)`` (``g`` antithetic groups of ``h`` paths);
    ``v_prev`` ``(g, h)`` is the distance at the block start, in per-step standard deviations.
    A step's hit probability is ``exp(-2 v0 v1)`` when both ends are > 0, else 1. Without the
    bridge: survival while every ``v > 0``.
    """
    if not bridge:
        return (v.min(axis=1) > 0.0) & (v_prev > 0.0)
    w = np.empty_like(v)
    np.multiply(v_prev, v[:, 0], out=w[:, 0])
    np.multiply(v[:, :-1], v[:, 1:], out=w[:, 1:])
    w *= -2.0
    # exp(-700) ~ 1e-304 is nothing next to 1; the floor keeps exp off its slow underflow path
    np.clip(w, -700.0, 0.0, out=w)
    np.exp(w, out=w)
    np.subtract(1.0, w, out=w)
    return w.prod(axis=1)


def _store(out: np.ndarray, start: int, h: np.ndarray, antithetic: bool) -> None:
    """Write a chunk's per-path values; antithetic pairs (``j``, ``j + m/2``) become adjacent."""
    h = h.reshape(-1)
    m = h.size
    if antithetic:
        half = (m + 1) // 2
        out[start : start + m : 2] = h[:half]
        out[start + 1 : start + m : 2] = h[half:]
    else:
        out[start : start + m] = h


def _layout(paths: int, steps: int, n: int = 1, antithetic: bool = False) -> tuple[int, int]:
    """Path chunk and step block sizes (functions of the sizes only: results are reproducible)."""
    m = min(paths, _CHUNK_PATHS)
    m += antithetic and m % 2
    k = max(1, min(steps, _BLOCK_ELEMS // (m * n)))
    return m, k


def _single_asset_mc(
    model: PriceModel,
    offsets: np.ndarray,
    d: float,
    horizon: float,
    steps: int,
    paths: int,
    rng: np.random.Generator,
    bridge: bool,
    antithetic: bool,
) -> np.ndarray:
    """Per-path hit probabilities for a (deterministic, per-step) barrier on one asset.

    ``offsets[i] = d (b_i - x_0)`` is the log distance from the spot to the barrier at step ``i``
    (``steps + 1`` values); a path's distance is ``offsets[i] - d (x_i - x_0)``, in units of the
    per-step standard deviation below. Paths run in chunks, steps in blocks that fit in cache;
    antithetic chunks hold two groups, the second the mirror of the first.
    """
    dt = horizon / steps
    sd = math.sqrt(float(model._bridge_cov(dt)[0, 0]))
    bridge_ok = bridge and sd > 0.0
    if sd == 0.0:
        sd = 1.0  # no diffusion: distances in log units, nothing to bridge
    c = np.asarray(offsets, dtype=np.float64) / sd
    moving = c - c[0]  # the barrier's own move since the start
    constant = not moving.any()
    m_chunk, k_block = _layout(paths, steps, 1, antithetic)
    out = np.empty(paths)
    fast_gbm = isinstance(model, GBM) and sd > 0.0
    if fast_gbm:
        # normalised: dv = -d (nu dt + sd Z) / sd = -d nu dt / sd - d Z, and -d Z ~ Z
        shift = -d * (model.drift - 0.5 * model.vol**2) * dt / sd  # type: ignore[attr-defined]
    with np.errstate(over="ignore", invalid="ignore"):
        for start in range(0, paths, m_chunk):
            m = min(m_chunk, paths - start)
            g = 2 if antithetic and m % 2 == 0 else 1
            h = m // g
            path = np.full((g, h), c[0])  # distance if the barrier stayed at c[0]
            v_prev = path.copy()
            surv = np.ones((g, h))
            for s0 in range(0, steps, k_block):
                k = min(k_block, steps - s0)
                if fast_gbm:
                    dv = np.empty((g, k, h))
                    rng.standard_normal((k, h), out=dv[0])
                    if g == 2:
                        np.negative(dv[0], out=dv[1])
                    dv += shift
                else:
                    inc = model._increments(rng, dt, k, m, antithetic and g == 2)[..., 0]
                    dv = np.multiply(inc.reshape(k, g, h).transpose(1, 0, 2), -d / sd)
                _walk(dv.swapaxes(0, 1), path)
                path = dv[:, -1].copy()
                v = dv if constant else dv + moving[s0 + 1 : s0 + k + 1, None]
                surv *= _bridge_survival(v_prev, v, bridge_ok)
                v_prev = v[:, -1].copy()
            _store(out, start, 1.0 - surv, g == 2)
    return out


def _offsets(barrier: Any, spot: float, steps: int, d: float | None) -> tuple[np.ndarray, float]:
    b = np.asarray(barrier, dtype=np.float64)
    if b.ndim == 0:
        b = np.full(steps + 1, float(b))
    elif b.shape != (steps + 1,):
        raise InputError("barrier", b.shape, f"a price or one per time step ({steps + 1} values)")
    if (b < 0).any() or (b == -np.inf).any():
        raise InputError("barrier", barrier, "prices >= 0 (NaN or inf: none)")
    with np.errstate(divide="ignore", invalid="ignore"):
        lb = np.log(b / spot)
    if d is None:
        first = lb[np.isfinite(lb) & (lb != 0)]
        d = float(np.sign(first[0])) if first.size else -1.0
    dist = d * lb  # > 0 on the safe side
    dist = np.where(np.isnan(dist) | (dist == np.inf), _FAR, dist)
    dist = np.where(dist == -np.inf, -_FAR, dist)
    return dist, d


def mc_hit_probability(
    spot: float,
    barrier: Any,
    model: PriceModel,
    horizon: float,
    steps: int | None,
    paths: int,
    seed: Any = None,
    bridge: bool = True,
    *,
    direction: Literal["down", "up"] | None = None,
    antithetic: bool = False,
) -> Estimate:
    r"""Monte Carlo probability that a single-asset model's path touches a barrier.

    Estimator: the mean over paths of ``1 - prod_i (1 - p_i)`` with the bridge probability
    ``p_i = exp(-2 (b_i - x_{i-1})(b_i - x_i) / (sigma^2 dt))`` (1 once a step ends beyond the
    barrier), or of the indicator that some step ends beyond it (``bridge=False``, discrete
    monitoring, biased low). See the module docstring for the sources.

    Parameters
    ----------
    spot : float
        Starting price, > 0.
    barrier : float or array_like
        A price, or one per time (``steps + 1`` values, e.g. from
        :func:`liquidation_price_path`: a barrier moved by funding; linear in log price between
        steps). NaN/``inf``: never hit.
    model : PriceModel
        A single-asset model (:class:`GBM`, :class:`StudentT`, :class:`MertonJump`,
        :class:`Bootstrap`).
    horizon : float
        Years, > 0.
    steps : int or None
        Time steps; None: daily (the data's frequency for :class:`Bootstrap`).
    paths : int
        Number of paths (>= 2).
    seed : int, Generator or None
        For :func:`numpy.random.default_rng`.
    bridge : bool, default True
        Apply the Brownian-bridge correction between steps.
    direction : {"down", "up"}, optional
        The barrier's side; inferred from barrier vs spot by default.
    antithetic : bool, default False
        Pair each path with its mirror image (the noise negated; antithetic variates). The
        standard error is computed over pair means, so it stays valid.

    Returns
    -------
    Estimate
        ``value``, ``stderr`` and ``paths``. A barrier already touched at the start gives 1.
    """
    if not isinstance(model, PriceModel):
        raise InputError("model", type(model).__name__, "a PriceModel (GBM, StudentT, ...)")
    if model.n_assets != 1:
        raise InputError("model", type(model).__name__, "a single-asset model")
    s0 = _scalar(spot, "spot", positive=True)
    t = _scalar(horizon, "horizon", positive=True)
    steps = model._steps(t, steps)
    paths = _count(paths, "paths", 2)
    paths += antithetic and paths % 2  # whole pairs
    dist, d = _offsets(barrier, s0, steps, _direction(direction))
    if dist[0] <= 0:
        return Estimate(1.0, 0.0, paths)
    if (dist >= _FAR).all():
        return Estimate(0.0, 0.0, paths)
    rng = np.random.default_rng(seed)
    h = _single_asset_mc(model, dist, d, t, steps, paths, rng, bridge, antithetic)
    return _estimate(h, antithetic)


# ----------------------------------------------------------------------------- positions
def _annual_funding(funding_rate: Any, funding_interval_hours: Any) -> float:
    r = _scalar(funding_rate, "funding_rate")
    hours = _scalar(funding_interval_hours, "funding_interval_hours", positive=True)
    return r * HOURS_PER_YEAR / hours


def _liq_price(p: Position, collateral: np.ndarray, other_upnl: Any = 0.0) -> np.ndarray:
    """Isolated liquidation price of ``p`` for each collateral (negative allowed: folded in)."""
    market = p.market
    coll = np.asarray(collateral, dtype=np.float64)
    return np.asarray(
        tiered_liquidation_price(
            p.sign,
            p.entry_price,
            p.qty,
            np.maximum(coll, 0.0),
            market.tiers,
            contract=market.spec.contract,
            contract_size=market.spec.contract_size,
            other_upnl=np.minimum(coll, 0.0) + other_upnl,
            tier_basis=market.tier_basis,
            close_fee_rate=market.close_fee_rate,
        ),
        dtype=np.float64,
    )


def _nan_is_safe(p: Position) -> bool:
    """Whether a NaN liquidation price means "never liquidated" (linear long, inverse short)."""
    return (p.sign > 0) == (p.market.spec.contract == "linear")


def liquidation_price_path(
    position: Position,
    times: Any,
    funding_rate: float,
    *,
    funding_interval_hours: float = 8.0,
) -> np.ndarray:
    r"""Isolated liquidation price at each time as funding accrues, prices held at the mark.

    The isolated margin at time ``t`` (years) is ``C(t) = C_0 - s r_y N(P_mark) t`` with the
    annualised rate ``r_y = funding_rate * 8760 / funding_interval_hours`` and the notional at the
    mark ``N``; the liquidation price is :func:`margin_kit.tiered_liquidation_price` of that
    margin (the market's tier rule). A positive rate makes a long's price rise and a short's rise
    too (it receives).

    Parameters
    ----------
    position : Position
        An isolated position.
    times : array_like
        Times in years, >= 0.
    funding_rate : float
        Rate per funding interval (longs pay when positive).
    funding_interval_hours : float, default 8
        Hours between funding payments.

    Returns
    -------
    ndarray
        Liquidation prices shaped like ``times``; NaN where there is none.
    """
    if not isinstance(position, Position):
        raise InputError("position", type(position).__name__, "a Position")
    if position.margin_mode != "isolated":
        raise InputError("position", position.name, "an isolated position")
    t = as_float(times, "times", nonnegative=True)
    r_y = _annual_funding(funding_rate, funding_interval_hours)
    paid = position.sign * r_y * position.notional_at(position.mark_price) * t
    return _liq_price(position, position.isolated_margin - paid)


def _maint_params(p: Position) -> tuple[float, float, float, bool, float]:
    """``(rate, cum, fixed_mm, fixed, sign_n)`` for the maintenance ``N(P) rate - cum``.

    ``fixed`` for the entry basis (maintenance constant ``fixed_mm``); ``sign_n`` is +1 when the
    notional rises with the price (linear), -1 (inverse).
    """
    market = p.market
    tiers = market.tiers
    sign_n = 1.0 if market.spec.contract == "linear" else -1.0
    if market.tier_basis == "entry":
        return 0.0, 0.0, p.maint_margin(p.entry_price), True, sign_n
    if market.tier_basis == "qty":
        k = int(tiers.tier_index(p.qty))
        return (
            float(tiers.mmrs[k]) + market.close_fee_rate,
            float(tiers.maint_amounts[k]),
            0.0,
            False,
            sign_n,
        )
    return np.nan, np.nan, 0.0, False, sign_n  # mark basis: tier per notional


def _maint(p: Position, notional: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Maintenance margin at ``notional`` and its derivative with respect to the log price."""
    rate, cum, fixed_mm, fixed, sign_n = _maint_params(p)
    if fixed:
        return np.full_like(notional, fixed_mm), np.zeros_like(notional)
    if np.isnan(rate):
        tiers = p.market.tiers
        k = np.searchsorted(tiers.floors, notional, side="right") - 1
        rates = tiers.mmrs[k] + p.market.close_fee_rate
        mm = notional * rates - tiers.maint_amounts[k]
        return mm, sign_n * notional * rates
    return notional * rate - cum, sign_n * notional * rate


@dataclass
class _Setup:
    columns: dict[str, int]
    x0: np.ndarray  # log spots per asset column


def _asset_setup(account: Account, model: PriceModel) -> _Setup:
    marks: dict[str, float] = {}
    for p in account.positions:
        if p.symbol in marks and not math.isclose(marks[p.symbol], p.mark_price, rel_tol=1e-12):
            raise InputError(
                f"positions[{p.name!r}].mark_price",
                p.mark_price,
                f"the same mark as the other {p.symbol} positions ({marks[p.symbol]:g})",
            )
        marks.setdefault(p.symbol, p.mark_price)
    n = model.n_assets
    if model.symbols is not None:
        missing = [s for s in marks if s not in model.symbols]
        if missing:
            raise InputError("model.symbols", model.symbols, f"names including {missing}")
        columns = {s: model.symbols.index(s) for s in marks}
    elif n == 1 and len(marks) <= 1:
        columns = dict.fromkeys(marks, 0)
    else:
        raise InputError(
            "model",
            type(model).__name__,
            f"a model with symbols= covering {sorted(marks)} (or one asset for one symbol)",
        )
    x0 = np.zeros(n)
    for s, col in columns.items():
        x0[col] = math.log(marks[s])
    return _Setup(columns, x0)


def asset_columns(account: Account, model: PriceModel) -> tuple[dict[str, int], np.ndarray]:
    """Which column of ``model``'s paths each of the account's symbols is, and the spots.

    Returns ``({symbol: column}, spots)`` with ``spots`` one mark per model column (columns no
    position uses get 1.0). Raises :class:`InputError` when the model does not cover the
    account's symbols or two positions on one symbol disagree on the mark.
    """
    setup = _asset_setup(account, model)
    spots = np.ones(model.n_assets)
    for col in setup.columns.values():
        spots[col] = math.exp(setup.x0[col])
    return dict(setup.columns), spots


def _account_mc(
    account: Account,
    model: PriceModel,
    horizon: float,
    steps: int,
    paths: int,
    rng: np.random.Generator,
    r_y: float,
    bridge: bool,
    antithetic: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-position ``(p, stderr)`` over joint paths (the engine behind liquidation_probability)."""
    setup = _asset_setup(account, model)
    positions = account.positions
    npos = len(positions)
    n = model.n_assets
    dt = horizon / steps
    cov = model._bridge_cov(dt)
    sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    cols = np.array([setup.columns[p.symbol] for p in positions], dtype=np.intp)
    iso = [i for i, p in enumerate(positions) if p.margin_mode == "isolated"]
    cross = [i for i, p in enumerate(positions) if p.margin_mode == "cross"]
    h_all = np.zeros((npos, paths))
    done = np.zeros(npos, dtype=bool)  # decided without simulation (p = 0 or 1)

    # isolated: already liquidated at the mark, or never (constant barrier, NaN)
    iso_b: dict[int, float] = {}
    for i in iso:
        p = positions[i]
        if p.isolated_margin + p.unrealized_pnl() <= p.maint_margin():
            h_all[i] = 1.0
            done[i] = True
            continue
        if r_y == 0.0:
            lp = float(_liq_price(p, np.asarray(p.isolated_margin)))
            if np.isnan(lp):
                done[i] = True  # h stays 0: never liquidated
            else:
                iso_b[i] = math.log(lp)
    cross_run = bool(cross)
    if cross and account.cross_equity <= account.cross_maintenance_margin:
        h_all[cross] = 1.0
        done[cross] = True
        cross_run = False
    run_iso = [i for i in iso if not done[i]]
    if not run_iso and not cross_run:
        return h_all.mean(axis=1), np.zeros(npos)

    m_chunk, k_block = _layout(paths, steps, n, antithetic)
    cross_pos = [positions[i] for i in cross]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        for start in range(0, paths, m_chunk):
            m = min(m_chunk, paths - start)
            x_prev = np.broadcast_to(setup.x0, (m, n)).copy()
            surv = {i: np.ones(m) for i in run_iso}
            paid = {i: np.zeros(m) for i in run_iso}  # funding paid by isolated positions
            v_prev: dict[int, np.ndarray] = {}
            for i in run_iso:
                p = positions[i]
                b0 = iso_b.get(i)
                if b0 is None:
                    b0 = float(np.log(_liq_price(p, np.asarray(p.isolated_margin))))
                d = -p.sign
                v_prev[i] = np.full(m, _safe_dist(d * (b0 - setup.x0[cols[i]]), p) / sd[cols[i]])
            if cross_run:
                cross_surv = np.ones(m)
                cross_paid = np.zeros(m)
                g_prev, a_prev = _cross_margin(account, cross_pos, setup, x_prev, cross_paid)
            for s0 in range(0, steps, k_block):
                k = min(k_block, steps - s0)
                dx = model._increments(rng, dt, k, m, antithetic)  # (k, m, n)
                x = dx
                _walk(x, x_prev)
                # price at each step start (for funding accrued over the step)
                x_start = np.concatenate([x_prev[None], x[:-1]], axis=0)
                for i in run_iso:
                    p = positions[i]
                    col = cols[i]
                    d = -p.sign
                    xi = x[..., col]
                    if i in iso_b:
                        v = (d / sd[col]) * (iso_b[i] - xi)
                    else:
                        notional = _notional_at(p, np.exp(x_start[..., col]))
                        accrued = paid[i] + np.cumsum(p.sign * r_y * notional * dt, axis=0)
                        paid[i] = accrued[-1]
                        lp = _liq_price(p, p.isolated_margin - accrued)
                        v = (d / sd[col]) * (np.log(lp) - xi)
                        v = np.where(np.isnan(v), _FAR if _nan_is_safe(p) else -_FAR, v)
                    surv[i] *= _bridge_survival(v_prev[i][None], v[None], bridge)[0]
                    v_prev[i] = v[-1].copy()
                if cross_run:
                    if r_y != 0.0:
                        step_pay = sum(
                            q.sign * r_y * _notional_at(q, np.exp(x_start[..., cols[j]])) * dt
                            for j, q in zip(cross, cross_pos, strict=True)
                        )
                        accrued = cross_paid + np.cumsum(step_pay, axis=0)
                        cross_paid = accrued[-1]
                    else:
                        accrued = cross_paid
                    g, a = _cross_margin(account, cross_pos, setup, x, accrued, cols[cross])
                    if bridge:
                        # linearised bridge: g moves like Brownian motion with variance a' C a
                        a_start = np.concatenate([a_prev[None], a[:-1]], axis=0)
                        var = np.einsum("...i,ij,...j->...", a_start, cov, a_start)
                        scale = 1.0 / np.sqrt(np.maximum(var, 1e-300))
                        g_start = np.concatenate([g_prev[None], g[:-1]], axis=0)
                        w = -2.0 * (g_start * scale) * (g * scale)
                        w = np.exp(np.clip(w, -700.0, 0.0))
                        cross_surv *= (1.0 - w).prod(axis=0)  # as in _bridge_survival
                    else:
                        cross_surv *= (g.min(axis=0) > 0.0) & (g_prev > 0.0)
                    g_prev, a_prev = g[-1].copy(), a[-1].copy()
                x_prev = x[-1].copy()
            for i in run_iso:
                _store(h_all[i], start, 1.0 - surv[i], antithetic)
            if cross_run:
                for i in cross:
                    _store(h_all[i], start, 1.0 - cross_surv, antithetic)
    p_hat = np.empty(npos)
    se = np.empty(npos)
    for i in range(npos):
        e = _estimate(h_all[i], antithetic)
        p_hat[i], se[i] = e.value, e.stderr
    return p_hat, se


def _safe_dist(dist: float, p: Position) -> float:
    if np.isnan(dist):
        return _FAR if _nan_is_safe(p) else -_FAR
    return dist


def _notional_at(p: Position, price: np.ndarray) -> np.ndarray:
    qc = p.qty * p.market.spec.contract_size
    return qc * price if p.market.spec.contract == "linear" else qc / price


def _cross_margin(
    account: Account,
    cross_pos: Sequence[Position],
    setup: _Setup,
    x: np.ndarray,
    paid: Any,
    cols: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Cross equity less cross maintenance, ``g``, and its gradient in the log prices, ``a``.

    ``x`` has the asset axis last; ``g`` drops it, ``a`` keeps it.
    """
    if cols is None:
        cols = np.array([setup.columns[p.symbol] for p in cross_pos], dtype=np.intp)
    g = account.cross_wallet_balance - np.asarray(paid, dtype=np.float64)
    g = np.broadcast_to(g, x.shape[:-1]).copy()
    a = np.zeros_like(x)
    for p, col in zip(cross_pos, cols, strict=True):
        price = np.exp(x[..., col])
        notional = _notional_at(p, price)
        qc = p.qty * p.market.spec.contract_size
        if p.market.spec.contract == "linear":
            pnl = p.sign * qc * (price - p.entry_price)
        else:
            pnl = p.sign * qc * (1.0 / p.entry_price - 1.0 / price)
        mm, dmm = _maint(p, notional)
        g += pnl - mm
        a[..., col] += p.sign * notional - dmm
    return g, a


def liquidation_probability(
    position_or_account: Position | Account,
    model: PriceModel,
    horizon: float,
    paths: int = 100_000,
    steps: int | None = None,
    seed: Any = None,
    funding_rate: float = 0.0,
    bridge: bool = True,
    *,
    funding_interval_hours: float = 8.0,
    antithetic: bool = False,
) -> Estimate | pd.DataFrame:
    r"""Probability that a position (or each position of an account) is liquidated in ``horizon``.

    *Isolated* positions are liquidated when their own symbol's price reaches their liquidation
    price (:func:`margin_kit.tiered_liquidation_price` of the isolated margin, less the funding
    paid so far when ``funding_rate`` is not 0: then recomputed at every step along each path).
    *Cross* positions are liquidated together when the account's cross equity (cross wallet less
    funding paid plus every cross position's PnL) falls to the cross maintenance margin (each
    position's tier rule), evaluated along the joint paths of all symbols; the bridge correction
    there linearises ``g = equity - maintenance`` in the log prices over a step
    (``p = exp(-2 g_0 g_1 / (a' Sigma dt a))``, ``a = dg/dx``), exact as steps shrink.

    A position (or the cross account) already at or below maintenance at its mark gives 1.

    Parameters
    ----------
    position_or_account : Position or Account
        A single **isolated** position (its mark is the spot), or an account.
    model : PriceModel
        One asset for a position or a one-symbol account; otherwise a multi-asset model whose
        ``symbols`` name every symbol of the account (:class:`CorrelatedGBM`,
        :class:`Bootstrap` of several columns).
    horizon : float
        Years, > 0.
    paths : int, default 100000
        Monte Carlo paths (>= 2).
    steps : int, optional
        Time steps; default daily (``ceil(horizon * 365)``), the data's frequency for
        :class:`Bootstrap`. One step suffices for an isolated position under GBM without funding
        (the bridge is exact); use more with funding, cross margin or other models.
    seed : int, Generator or None
        For :func:`numpy.random.default_rng`.
    funding_rate : float, default 0
        Rate per funding interval; positive: longs pay, shorts receive (see the module docstring).
    bridge : bool, default True
        Brownian-bridge correction between steps.
    funding_interval_hours : float, default 8
        Hours between funding payments.
    antithetic : bool, default False
        Antithetic variates (GBM, StudentT, MertonJump's diffusion, CorrelatedGBM).

    Returns
    -------
    Estimate or DataFrame
        For a position, an :class:`Estimate`; for an account, a DataFrame indexed by position
        name with columns ``p_liquidation`` and ``stderr``.
    """
    if not isinstance(model, PriceModel):
        raise InputError("model", type(model).__name__, "a PriceModel (GBM, StudentT, ...)")
    t = _scalar(horizon, "horizon", positive=True)
    steps = model._steps(t, steps)
    paths = _count(paths, "paths", 2)
    r_y = _annual_funding(funding_rate, funding_interval_hours)
    rng = np.random.default_rng(seed)
    if isinstance(position_or_account, Position):
        p = position_or_account
        if p.margin_mode != "isolated":
            raise InputError(
                "position_or_account",
                p.name,
                "an isolated Position, or an Account holding the cross position",
            )
        account = Account(p.isolated_margin, [p])
        ph, se = _account_mc(account, model, t, steps, paths, rng, r_y, bridge, antithetic)
        return Estimate(float(ph[0]), float(se[0]), paths)
    if not isinstance(position_or_account, Account):
        raise InputError(
            "position_or_account", type(position_or_account).__name__, "a Position or an Account"
        )
    account = position_or_account
    ph, se = _account_mc(account, model, t, steps, paths, rng, r_y, bridge, antithetic)
    return pd.DataFrame(
        {"p_liquidation": ph, "stderr": se},
        index=pd.Index([p.name for p in account.positions], name="position"),
    )


# ----------------------------------------------------------------------------- fan
FAN_COLUMNS = ["time_days", "kind", "series", "quantile", "price"]


def fan_frame(
    model: PriceModel,
    spot: float,
    horizon: float,
    *,
    steps: int | None = None,
    paths: int = 2_000,
    seed: Any = 0,
    quantiles: Sequence[float] = (0.05, 0.25, 0.5, 0.75, 0.95),
    n_sample_paths: int = 20,
    symbol: str | None = None,
) -> pd.DataFrame:
    """Monte Carlo price fan: quantiles over time and a few sample paths, tidy for plotting.

    Parameters
    ----------
    model : PriceModel
        A single-asset model, or a multi-asset one with ``symbol`` naming the column.
    spot : float
        Starting price (> 0) of that asset; a multi-asset model starts its other assets at 1.
    horizon : float
        Years, > 0.
    steps : int, optional
        Time steps; default daily, at most 200 (a bootstrap: the data's frequency).
    paths : int, default 2000
        Simulated paths the quantiles are taken over (>= 2).
    seed : int, Generator or None
        For :func:`numpy.random.default_rng`; the same seed gives the same frame.
    quantiles : sequence of float
        Levels in (0, 1), listed in ascending order in the output.
    n_sample_paths : int, default 20
        How many of the simulated paths to include whole (0 to ``paths``).
    symbol : str, optional
        The asset of a multi-asset model (one of ``model.symbols``).

    Returns
    -------
    DataFrame
        One long frame, columns ``time_days`` (days from now), ``kind`` (``"quantile"`` or
        ``"path"``), ``series`` (``"q05"``, ``"q50"``... or ``"path 0"``, ``"path 1"``...),
        ``quantile`` (the level; NaN for paths) and ``price``. Quantile rows come first, by
        level then time. ``frame.attrs``: ``spot``, ``horizon``, ``paths``, ``steps``,
        ``quantiles``.
    """
    if not isinstance(model, PriceModel):
        raise InputError("model", type(model).__name__, "a PriceModel (GBM, StudentT, ...)")
    s0 = _scalar(spot, "spot", positive=True)
    t = _scalar(horizon, "horizon", positive=True)
    if steps is None and not isinstance(model, Bootstrap):
        steps = min(200, max(1, math.ceil(t * 365.0 - 1e-9)))
    steps = model._steps(t, steps)
    paths = _count(paths, "paths", 2)
    if isinstance(n_sample_paths, bool) or not isinstance(n_sample_paths, (int, np.integer)):
        raise InputError("n_sample_paths", n_sample_paths, f"an integer in [0, {paths}]")
    if not 0 <= n_sample_paths <= paths:
        raise InputError("n_sample_paths", n_sample_paths, f"an integer in [0, {paths}]")
    q = as_float(quantiles, "quantiles").ravel()
    if q.size == 0 or not ((q > 0) & (q < 1)).all():
        raise InputError("quantiles", quantiles, "one or more levels in (0, 1)")
    q = np.unique(q)
    column = 0
    if model.symbols is not None or model.n_assets > 1:
        names = model.symbols or ()
        if symbol not in names:
            raise InputError("symbol", symbol, f"one of {list(names)} (the model's assets)")
        column = names.index(symbol)
    start = np.ones(model.n_assets)
    start[column] = s0
    sim = model.simulate(start if model.n_assets > 1 else s0, t, steps, paths, seed)
    sim = sim.reshape(paths, steps + 1, -1)[:, :, column]
    days = np.linspace(0.0, t * 365.0, steps + 1)
    levels = np.quantile(sim, q, axis=0)  # (len(q), steps + 1)
    labels = [f"q{100 * level:02g}" for level in q]
    n_s = int(n_sample_paths)
    frame = pd.DataFrame({
        "time_days": np.concatenate([np.tile(days, q.size), np.tile(days, n_s)]),
        "kind": ["quantile"] * (q.size * days.size) + ["path"] * (n_s * days.size),
        "series": np.concatenate([np.repeat(labels, days.size),
                                  np.repeat([f"path {k}" for k in range(n_s)], days.size)]),
        "quantile": np.concatenate([np.repeat(q, days.size), np.full(n_s * days.size, np.nan)]),
        "price": np.concatenate([levels.ravel(), sim[:n_s].ravel()]),
    })  # fmt: skip
    frame.attrs.update({"spot": s0, "horizon": t, "paths": paths, "steps": steps,
                        "quantiles": q.tolist()})  # fmt: skip
    return frame
