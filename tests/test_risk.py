"""Liquidation risk: closed-form first passage vs Monte Carlo, models, funding, bad input.

Facts come from independent derivations: the closed form against simulation (and the reflection
principle), the linear liquidation formula by hand, the normal quantile for GBM's tail.
"""

from __future__ import annotations

import itertools
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

import margin_kit as mk
from margin_kit import InputError
from margin_kit.prices import PriceDataError
from margin_kit.risk import (
    GBM,
    Bootstrap,
    CorrelatedGBM,
    Estimate,
    MertonJump,
    StudentT,
    hit_probability,
    liquidation_price_path,
    liquidation_probability,
    mc_hit_probability,
)

BTC_CSV = SHARED / "data" / "btc-usd-daily.csv"
BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_risk.py"
MMR = 0.005
BTC = mk.Market.simple("BTCUSDT", MMR)
ETH = mk.Market.simple("ETHUSDT", 0.01)


def iso(side: str, mark: float | None = None, leverage: float = 10.0) -> mk.Position:
    return mk.Position(
        BTC, side, 1.0, 50_000.0, leverage=leverage, margin_mode="isolated", mark_price=mark
    )


def linear_liq(side: float, entry: float, qty: float, collateral: float) -> float:
    """By hand: C + s q (P - E) = q P mmr  =>  P = (s q E - C) / (q (s - mmr))."""
    return (side * qty * entry - collateral) / (qty * (side - MMR))


# ----------------------------------------------------------------------------- closed form
GRID = list(
    itertools.product(
        (-0.5, 0.6),  # drift
        (0.3, 0.9),  # vol
        (0.4, 2.0),  # distance in standard deviations vol sqrt(horizon)
        ("down", "up"),
        (7 / 365, 90 / 365),  # horizon
    )
)


def test_closed_form_matches_monte_carlo_on_a_grid() -> None:
    assert len(GRID) >= 30
    misses = []
    for i, (drift, vol, z, where, horizon) in enumerate(GRID):
        log_distance = z * vol * math.sqrt(horizon)
        barrier = 100.0 * math.exp(-log_distance if where == "down" else log_distance)
        exact = float(hit_probability(100.0, barrier, vol, horizon, drift))
        est = mc_hit_probability(100.0, barrier, GBM(vol, drift), horizon, 3, 200_000, seed=i)
        assert est.paths == 200_000
        if not abs(est.value - exact) <= 3 * est.stderr + 1e-12:
            misses.append((drift, vol, z, where, horizon, est, exact))
    assert not misses, misses


@pytest.mark.parametrize("where", ["down", "up"])
def test_bridge_removes_the_discrete_monitoring_bias(where: str) -> None:
    barrier = 85.0 if where == "down" else 100 / 0.85
    exact = float(hit_probability(100.0, barrier, 0.7, 30 / 365, 0.1))
    model = GBM(0.7, 0.1)
    plain = mc_hit_probability(100.0, barrier, model, 30 / 365, 10, 200_000, seed=3, bridge=False)
    fixed = mc_hit_probability(100.0, barrier, model, 30 / 365, 10, 200_000, seed=3)
    assert plain.value < exact - 5 * plain.stderr
    assert abs(fixed.value - exact) <= 3 * fixed.stderr


def test_reflection_principle_at_zero_log_drift() -> None:
    # nu = 0 (drift = vol^2/2): P(min <= B) = 2 Phi(ln(B/S) / (vol sqrt(T)))
    vol, t = 0.5, 0.25
    for b in (60.0, 80.0, 95.0):
        expected = 2 * norm.cdf(math.log(b / 100) / (vol * math.sqrt(t)))
        assert hit_probability(100.0, b, vol, t, vol**2 / 2) == pytest.approx(expected, rel=1e-12)
        up = 100 * 100 / b
        expected_up = 2 * norm.cdf(-math.log(up / 100) / (vol * math.sqrt(t)))
        assert hit_probability(100.0, up, vol, t, vol**2 / 2) == pytest.approx(
            expected_up, rel=1e-12
        )


def test_hit_probability_edge_values_and_broadcasting() -> None:
    p = hit_probability(100.0, [np.nan, np.inf, 0.0, 100.0, 90.0, 110.0], 0.5, 0.1)
    assert p[:4].tolist() == [0.0, 0.0, 0.0, 1.0]
    assert 0 < p[4] < 1 and 0 < p[5] < 1
    # a barrier beyond the spot on its side has been touched already
    assert hit_probability(100.0, 105.0, 0.5, 0.1, direction="down") == 1.0
    assert hit_probability(100.0, 95.0, 0.5, 0.1, direction="up") == 1.0
    # no volatility: the deterministic path exp(drift t) decides
    assert hit_probability(100.0, 90.0, 0.0, 1.0, -0.2) == 1.0
    assert hit_probability(100.0, 90.0, 0.0, 1.0, -0.05) == 0.0
    grid = hit_probability(100.0, np.array([[80.0], [120.0]]), np.array([0.2, 0.5, 0.9]), 0.5)
    assert grid.shape == (2, 3)
    # extreme parameters stay finite (the exp term is evaluated in log space)
    extreme = hit_probability(100.0, 99.0, 1e-3, 10.0, [-5.0, 5.0])
    assert np.isfinite(extreme).all() and extreme[0] == pytest.approx(1.0)


distance = st.floats(0.01, 0.9)
vols = st.floats(0.05, 2.0)
horizons = st.floats(1 / 365, 2.0)
drifts = st.floats(-1.0, 1.0)


@settings(max_examples=60, deadline=None)
@given(distance, distance, vols, horizons, drifts, st.sampled_from(["down", "up"]))
def test_hit_probability_invariants(d1, d2, vol, t, drift, where) -> None:
    def barrier(d: float) -> float:
        return 100 * (1 - d) if where == "down" else 100 / (1 - d)

    near, far = sorted((d1, d2))
    p_near = float(hit_probability(100.0, barrier(near), vol, t, drift))
    p_far = float(hit_probability(100.0, barrier(far), vol, t, drift))
    assert 0.0 <= p_far <= p_near + 1e-12 <= 1.0 + 1e-12
    # longer horizon: more time to touch
    assert float(hit_probability(100.0, barrier(near), vol, 2 * t, drift)) >= p_near - 1e-12
    # drift towards the barrier raises the probability
    toward = -0.3 if where == "down" else 0.3
    assert float(hit_probability(100.0, barrier(near), vol, t, drift + toward)) >= p_near - 1e-12
    # with zero drift, more volatility touches more often (both sides)
    lo = float(hit_probability(100.0, barrier(near), vol, t))
    hi = float(hit_probability(100.0, barrier(near), 1.5 * vol, t))
    assert hi >= lo - 1e-12


# ----------------------------------------------------------------------------- positions
@pytest.mark.parametrize("side", ["long", "short"])
def test_isolated_position_matches_the_closed_form_at_its_liquidation_price(side: str) -> None:
    p = iso(side)
    s = 1.0 if side == "long" else -1.0
    liq = linear_liq(s, 50_000.0, 1.0, p.isolated_margin)
    assert (liq < 50_000) == (side == "long")
    exact = float(hit_probability(50_000.0, liq, 0.6, 30 / 365, 0.05))
    est = liquidation_probability(p, GBM(0.6, 0.05), 30 / 365, paths=200_000, steps=2, seed=5)
    assert isinstance(est, Estimate)
    assert abs(est.value - exact) <= 3 * est.stderr


def test_position_already_below_maintenance_is_certain() -> None:
    # liquidation at ~45,226: a mark of 44,000 is past it
    est = liquidation_probability(iso("long", mark=44_000.0), GBM(0.5), 0.1, paths=1000, seed=1)
    assert (est.value, est.stderr) == (1.0, 0.0)
    short = liquidation_probability(iso("short", mark=56_000.0), GBM(0.5), 0.1, paths=1000, seed=1)
    assert short.value == 1.0


def test_never_liquidated_long_has_zero_probability() -> None:
    # 1x long on a flat 0.5% mmr: collateral covers the notional less maintenance
    p = iso("long", leverage=1.0)
    assert linear_liq(1.0, 50_000.0, 1.0, p.isolated_margin) <= 0  # no positive price
    est = liquidation_probability(p, GBM(1.5), 1.0, paths=1000, seed=1)
    assert est.value == 0.0


def test_cross_account_of_one_position_matches_the_isolated_barrier() -> None:
    p = iso("long").with_(margin_mode="cross")
    account = mk.Account(iso("long").isolated_margin, [p])
    liq = linear_liq(1.0, 50_000.0, 1.0, account.cross_wallet_balance)
    exact = float(hit_probability(50_000.0, liq, 0.6, 30 / 365, 0.05))
    out = liquidation_probability(account, GBM(0.6, 0.05), 30 / 365, paths=200_000, seed=2)
    assert list(out.columns) == ["p_liquidation", "stderr"]
    row = out.loc[p.name]
    assert abs(row["p_liquidation"] - exact) <= 3 * row["stderr"]


def test_account_on_two_symbols_uses_each_symbols_path() -> None:
    btc = mk.Position(BTC, "long", 1.0, 50_000.0, leverage=10, margin_mode="isolated")
    eth = mk.Position(ETH, "short", 10.0, 3_000.0, leverage=10, margin_mode="isolated")
    account = mk.Account(20_000.0, [btc, eth])
    model = CorrelatedGBM([0.6, 0.9], corr=[[1, 0.7], [0.7, 1]], symbols=("BTCUSDT", "ETHUSDT"))
    out = liquidation_probability(account, model, 30 / 365, paths=100_000, steps=3, seed=4)
    liq = account.liquidation_prices()["liquidation_price"]
    for pos, vol in ((btc, 0.6), (eth, 0.9)):
        exact = float(hit_probability(pos.mark_price, liq[pos.name], vol, 30 / 365))
        row = out.loc[pos.name]
        assert abs(row["p_liquidation"] - exact) <= 3 * row["stderr"]
    # a cross account on both symbols: one liquidation event for all its cross positions
    cross = mk.Account(12_000.0, [btc.with_(margin_mode="cross"), eth.with_(margin_mode="cross")])
    both = liquidation_probability(cross, model, 30 / 365, paths=20_000, steps=30, seed=4)
    assert both["p_liquidation"].iloc[0] == both["p_liquidation"].iloc[1]
    assert 0.0 < both["p_liquidation"].iloc[0] < 1.0
    with pytest.raises(InputError, match="symbols"):
        liquidation_probability(cross, GBM(0.5), 0.1, paths=100, seed=1)


def test_correlated_paths_have_the_requested_covariance() -> None:
    corr = np.array([[1.0, -0.4], [-0.4, 1.0]])
    model = CorrelatedGBM([0.5, 1.0], corr=corr, drifts=[0.1, -0.2])
    x = model.simulate([100.0, 10.0], 1.0, 1, 200_000, seed=8)
    assert x.shape == (200_000, 2, 2)
    assert np.array_equal(x[:, 0], np.broadcast_to([100.0, 10.0], (200_000, 2)))
    r = np.log(x[:, 1] / x[:, 0])
    assert np.corrcoef(r.T)[0, 1] == pytest.approx(-0.4, abs=0.01)
    assert r.std(axis=0) == pytest.approx([0.5, 1.0], rel=0.01)
    # E[S_T] = S_0 exp(drift T)
    assert x[:, 1, 0].mean() == pytest.approx(100 * math.exp(0.1), rel=0.01)
    # the covariance is recovered from a frame of closes
    frame = pd.DataFrame(
        np.exp(
            np.cumsum(
                model._increments(np.random.default_rng(1), 1 / 365, 20_000, 1, False)[:, 0], axis=0
            )
        ),
        columns=["A", "B"],
    )
    fit = CorrelatedGBM.from_prices(frame)
    assert fit.symbols == ("A", "B")
    assert fit.vols == pytest.approx([0.5, 1.0], rel=0.03)
    assert fit.corr is None and fit.cov[0, 1] / (fit.vols[0] * fit.vols[1]) == pytest.approx(
        -0.4, abs=0.03
    )


# ----------------------------------------------------------------------------- models
def test_gbm_simulate_shape_and_law() -> None:
    x = GBM(0.8, 0.2).simulate(50.0, 0.5, 4, 100_000, seed=1)
    assert x.shape == (100_000, 5) and (x[:, 0] == 50.0).all()
    r = np.log(x[:, -1] / 50.0)
    assert r.mean() == pytest.approx((0.2 - 0.32) * 0.5, abs=0.01)
    assert r.std() == pytest.approx(0.8 * math.sqrt(0.5), rel=0.01)
    assert np.array_equal(x, GBM(0.8, 0.2).simulate(50.0, 0.5, 4, 100_000, seed=1))


def test_student_t_matches_gbm_variance_with_fatter_tails() -> None:
    dt = 1 / 365
    r = np.log(StudentT(0.8, 3.5).simulate(1.0, dt, 1, 400_000, seed=2)[:, 1])
    assert r.var() == pytest.approx(0.64 * dt, rel=0.05)
    kurt = ((r - r.mean()) ** 4).mean() / r.var() ** 2
    assert kurt > 4.0  # normal: 3
    assert np.quantile(r, 0.0005) < norm.ppf(0.0005) * 0.8 * math.sqrt(dt)


def test_merton_jump_mean_is_compensated() -> None:
    m = MertonJump(0.4, 5.0, -0.1, 0.15, drift=0.05)
    x = m.simulate(100.0, 1.0, 50, 100_000, seed=3)
    assert x[:, -1].mean() == pytest.approx(100 * math.exp(0.05), rel=0.01)


def test_bootstrap_has_a_fatter_left_tail_than_gbm() -> None:
    boot = Bootstrap.from_csv(BTC_CSV)
    assert boot.log_returns.shape == (3483, 1)
    vol = float(boot.vol[0])
    assert 0.5 < vol < 1.0
    # 1-day 0.1% quantile: bootstrap paths vs the normal quantile of GBM with the same vol
    dt = 1 / 365
    r = np.log(boot.simulate(100.0, dt, 1, 400_000, seed=11)[:, 1] / 100.0)
    q_gbm = -0.5 * vol**2 * dt + vol * math.sqrt(dt) * norm.ppf(0.001)
    assert np.quantile(r, 0.001) <= 1.5 * q_gbm
    # P(a 30% drop within 7 days): bootstrap Monte Carlo vs GBM's closed form
    week = 7 / 365
    est = mc_hit_probability(100.0, 70.0, boot, week, 7, 200_000, seed=12)
    assert est.value - 3 * est.stderr >= 1.5 * float(hit_probability(100.0, 70.0, vol, week))


def test_bootstrap_steps_follow_the_data_frequency() -> None:
    boot = Bootstrap.from_series(pd.Series([100.0, 101.0, 99.0, 102.0, 100.5]))
    assert boot.simulate(100.0, 3 / 365, None, 10, seed=1).shape == (10, 4)
    with pytest.raises(InputError, match="steps"):
        boot.simulate(100.0, 3 / 365, 6, 10, seed=1)
    with pytest.raises(InputError, match="horizon"):
        boot.simulate(100.0, 2.5 / 365, None, 10, seed=1)


# ----------------------------------------------------------------------------- funding
def test_funding_moves_the_liquidation_price_path() -> None:
    long, short = iso("long"), iso("short")
    times = np.linspace(0.0, 30 / 365, 7)
    rate = 0.0003  # per 8 h
    path = liquidation_price_path(long, times, rate)
    assert (np.diff(path) > 0).all()  # a long pays: its price rises towards the mark
    paid = rate * 3 * 365 * 50_000.0 * times  # linear: rate per year x notional at the mark
    expected = [linear_liq(1.0, 50_000.0, 1.0, long.isolated_margin - f) for f in paid]
    assert path == pytest.approx(expected, rel=1e-12)
    # a short receives: more margin, its price rises away from the mark
    short_path = liquidation_price_path(short, times, rate)
    assert (np.diff(short_path) > 0).all()
    assert liquidation_price_path(long, times, 0.0) == pytest.approx(np.full(7, path[0]))


def test_funding_raises_a_longs_probability_and_zero_changes_nothing() -> None:
    p, model, t = iso("long"), GBM(0.5), 30 / 365
    base = liquidation_probability(p, model, t, paths=50_000, steps=30, seed=9)
    zero = liquidation_probability(p, model, t, paths=50_000, steps=30, seed=9, funding_rate=0.0)
    paid = liquidation_probability(p, model, t, paths=50_000, steps=30, seed=9, funding_rate=5e-4)
    assert zero == base
    assert paid.value > base.value + 5 * math.hypot(paid.stderr, base.stderr)
    # with a deterministic barrier path (prices held at the mark), the same order of effect
    times = np.linspace(0.0, t, 31)
    barrier = liquidation_price_path(p, times, 5e-4)
    det = mc_hit_probability(50_000.0, barrier, model, t, 30, 50_000, seed=9)
    assert det.value > base.value + 5 * math.hypot(det.stderr, base.stderr)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: hit_probability(100.0, 90.0, -0.1, 1.0), "vol"),
        (lambda: hit_probability(100.0, 90.0, 0.5, 0.0), "horizon"),
        (lambda: hit_probability(100.0, 90.0, 0.5, -1.0), "horizon"),
        (lambda: hit_probability(np.nan, 90.0, 0.5, 1.0), "spot"),
        (lambda: hit_probability(0.0, 90.0, 0.5, 1.0), "spot"),
        (lambda: hit_probability(100.0, -5.0, 0.5, 1.0), "barrier"),
        (lambda: GBM(-0.2), "vol"),
        (lambda: StudentT(0.5, 2.0), "dof"),
        (lambda: mc_hit_probability(-1.0, 90.0, GBM(0.5), 1.0, 10, 100), "spot"),
        (lambda: mc_hit_probability(100.0, 90.0, GBM(0.5), 0.0, 10, 100), "horizon"),
        (lambda: GBM(0.5).simulate(100.0, 1.0, 0, 10), "steps"),
        (lambda: liquidation_probability(iso("long"), GBM(0.5), -1.0), "horizon"),
        (lambda: CorrelatedGBM([0.5, 0.5], corr=[[1, 1.2], [1.2, 1]]), "corr"),
        (lambda: CorrelatedGBM(cov=[[1.0, 2.0], [2.0, 1.0]]), "cov"),
        (lambda: CorrelatedGBM(cov=[[1.0, 0.2], [0.3, 1.0]]), "cov"),
    ],
)
def test_bad_input_names_the_field(call, field: str) -> None:
    with pytest.raises(InputError) as info:
        call()
    assert info.value.field.startswith(field), info.value


def test_non_psd_correlation_within_bounds_is_rejected() -> None:
    corr = [[1.0, 0.9, -0.9], [0.9, 1.0, 0.9], [-0.9, 0.9, 1.0]]  # entries fine, eigenvalue < 0
    with pytest.raises(InputError, match="positive semi-definite"):
        CorrelatedGBM([0.5, 0.5, 0.5], corr=corr)
    # semi-definite (rank 1) is fine
    CorrelatedGBM([0.5, 0.5], corr=[[1.0, 1.0], [1.0, 1.0]])


HEADER = "Date,Open,High,Low,Close,Adj Close,Volume\n"


@pytest.mark.parametrize(
    ("rows", "problem"),
    [
        (["2024-01-01,1,1,1,1,1,1", "2024-01-02,1,1,1,1,1,1", "2024-01-04,1,1,1,1,1,1"], "gap"),
        (["2024-01-01,1,1,1,1,1,1", "2024-01-02,1,1,1,,1,1", "2024-01-03,1,1,1,1,1,1"], "price"),
        (["2024-01-02,1,1,1,1,1,1", "2024-01-01,1,1,1,1,1,1", "2024-01-03,1,1,1,1,1,1"], "sorted"),
        (["2024-01-01,1,1,1,1,1,1", "2024-01-02,1,1,1,-2,1,1", "2024-01-03,1,1,1,1,1,1"], "price"),
    ],
)
def test_bootstrap_from_bad_csv_names_the_problem(tmp_path, rows, problem: str) -> None:
    csv = tmp_path / "prices.csv"
    csv.write_text(HEADER + "\n".join(rows) + "\n")
    with pytest.raises(PriceDataError, match=problem):
        Bootstrap.from_csv(csv)


def test_bootstrap_from_series_rejects_gaps_nan_and_unsorted() -> None:
    days = pd.date_range("2024-01-01", periods=5, freq="D")
    good = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0], index=days)
    Bootstrap.from_series(good)
    with pytest.raises(PriceDataError, match="gap"):
        Bootstrap.from_series(good.drop(days[2]))
    with pytest.raises(PriceDataError, match="finite price"):
        Bootstrap.from_series(good.where(good != 3.0))
    with pytest.raises(PriceDataError, match="sorted"):
        Bootstrap.from_series(good.iloc[[1, 0, 2, 3, 4]])


# ----------------------------------------------------------------------------- benchmark
def test_benchmark_quick_runs_and_prints_rates_and_ratios() -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick"], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for label in ("(a) margin_kit bridge", "(b) margin_kit bridge, antithetic", "(c) python loop"):
        line = next((ln for ln in out.splitlines() if ln.startswith(label)), None)
        assert line is not None, out
        assert re.search(r"\d+\.\d+ M/s", line), line
    assert "margin_kit / python loop" in out
    assert "compare" in out and "replay" in out


# ----------------------------------------------------------------------------- fan_frame
def test_fan_frame_quantiles_bracket_the_gbm_closed_form() -> None:
    from margin_kit.risk import fan_frame

    vol, spot, t_years, n = 0.8, 100.0, 0.25, 8_000
    fan = fan_frame(GBM(vol), spot, t_years, paths=n, seed=5, n_sample_paths=7)
    assert list(fan.columns) == ["time_days", "kind", "series", "quantile", "price"]
    q = fan[fan["kind"] == "quantile"]
    assert sorted(q["series"].unique()) == ["q05", "q25", "q50", "q75", "q95"]
    days = np.sort(q["time_days"].unique())
    assert days[0] == 0 and days[-1] == pytest.approx(365 * t_years) and len(days) == 93
    assert (q[q["time_days"] == 0]["price"] == spot).all()
    for level in (0.05, 0.25, 0.5, 0.75, 0.95):
        for day in days[[10, 45, -1]]:
            t = day / 365
            s = vol * math.sqrt(t)
            # lognormal quantile of GBM without drift, and the sample quantile's standard error
            exact = spot * math.exp(-0.5 * s * s + s * norm.ppf(level))
            density = norm.pdf(norm.ppf(level)) / (exact * s)
            se = math.sqrt(level * (1 - level) / n) / density
            got = q[(q["quantile"] == level) & (q["time_days"] == day)]["price"].item()
            assert abs(got - exact) < 4 * se, (level, day, got, exact, se)
    paths = fan[fan["kind"] == "path"]
    assert paths["series"].nunique() == 7 and paths["quantile"].isna().all()
    assert (paths[paths["time_days"] == 0]["price"] == spot).all()
    # the sample paths lie inside the simulated range: the 5-95 % band holds most of their points
    wide = q.pivot_table(index="time_days", columns="quantile", values="price")
    inside = paths.join(wide, on="time_days")
    share = ((inside["price"] >= inside[0.05]) & (inside["price"] <= inside[0.95])).mean()
    assert share > 0.6


def test_fan_frame_steps_seed_and_models() -> None:
    from margin_kit.risk import fan_frame

    a = fan_frame(GBM(0.5), 50.0, 2.0, paths=200, seed=1)
    assert a.attrs["steps"] == 200 and a["time_days"].max() == pytest.approx(730)  # capped
    pd.testing.assert_frame_equal(a, fan_frame(GBM(0.5), 50.0, 2.0, paths=200, seed=1))
    boot = Bootstrap(np.random.default_rng(0).normal(0, 0.03, 500))
    fb = fan_frame(boot, 10.0, 30 / 365, paths=100, seed=2, quantiles=(0.1, 0.9))
    assert fb.attrs["steps"] == 30 and sorted(fb["series"].unique())[:2] == ["path 0", "path 1"]
    two = CorrelatedGBM(vols=[0.5, 0.9], symbols=("A", "B"))
    fb = fan_frame(two, 10.0, 0.1, paths=3_000, seed=3, symbol="B", n_sample_paths=0)
    spread = (
        fb[fb["series"] == "q95"]["price"].iloc[-1] / fb[fb["series"] == "q05"]["price"].iloc[-1]
    )
    s = 0.9 * math.sqrt(0.1)
    assert spread == pytest.approx(math.exp(2 * 1.6449 * s), rel=0.05)  # B's vol, not A's
    with pytest.raises(InputError, match="symbol"):
        fan_frame(two, 10.0, 0.1, paths=100)
    with pytest.raises(InputError, match="quantiles"):
        fan_frame(GBM(0.5), 10.0, 0.1, quantiles=(0.5, 1.0))
    with pytest.raises(InputError, match="n_sample_paths"):
        fan_frame(GBM(0.5), 10.0, 0.1, paths=10, n_sample_paths=11)
    with pytest.raises(InputError, match="spot"):
        fan_frame(GBM(0.5), -1.0, 0.1)
