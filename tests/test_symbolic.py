"""Symbolic derivations (margin_kit.symbolic): algebra, closed forms, numeric agreement."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import margin_kit
from margin_kit._errors import InputError
from margin_kit.symbolic import SYMBOLS, Derivation, derivations, derive

KINDS = ("liquidation", "bankruptcy")
MODES = ("isolated", "cross")
SIDES = ("long", "short")
CONTRACTS = ("linear", "inverse")
VARIANTS = [(k, md, sd, ct) for k in KINDS for md in MODES for sd in SIDES for ct in CONTRACTS]
GENERAL = [(k, md, ct) for k in KINDS for md in MODES for ct in CONTRACTS]
SIGN = {"long": 1, "short": -1}

s, E, q, c, C, m, A = (
    SYMBOLS[n]
    for n in ("side", "entry_price", "qty", "contract_size", "collateral", "mmr", "maint_amount")
)
MM_o, U_o = SYMBOLS["other_maint_margin"], SYMBOLS["other_upnl"]
P = sp.Symbol("P", positive=True)

VECTOR_FILES = [
    Path(__file__).parent / "data" / "vectors-public.json",
    Path("/work/shared/reference/vectors-public.json"),
]


def _vid(v: tuple[str, ...]) -> str:
    return "-".join(v)


# --- random valid inputs ---------------------------------------------------------------------
unit = st.floats(min_value=0.0, max_value=1.0)


@st.composite
def position_inputs(draw: st.DrawFn, kind: str, mode: str, side: str, contract: str) -> dict:
    """Valid inputs for which the variant's price is positive and well conditioned."""
    entry = 10.0 ** draw(st.floats(min_value=-2.0, max_value=6.0))
    if contract == "linear":
        qty = 10.0 ** draw(st.floats(min_value=-3.0, max_value=4.0))
        size = draw(st.sampled_from([1.0, 0.01, 0.1]))  # OKX-style contract values in coin
        notional = qty * size * entry  # in quote
    else:
        qty = 10.0 ** draw(st.floats(min_value=0.0, max_value=6.0))  # contracts
        size = draw(st.sampled_from([1.0, 10.0, 100.0]))
        notional = qty * size / entry  # in coin
    leverage = draw(st.floats(min_value=1.1, max_value=125.0))
    collateral = notional / leverage
    # 0 < mmr < 0.5/leverage: the initial margin exceeds the maintenance margin at entry.
    mmr = draw(st.floats(min_value=1e-6, max_value=0.999)) * 0.5 / leverage
    maint_amount = draw(unit) * 0.9 * mmr * notional  # a fraction of the maintenance margin
    if mode == "cross":
        other_upnl = draw(st.floats(min_value=-0.2, max_value=0.2)) * collateral
        other_mm = draw(st.floats(min_value=0.0, max_value=0.2)) * collateral
    else:
        other_upnl = other_mm = 0.0
    # Free collateral net of the maintenance offsets; a linear long (inverse short) has a
    # positive price only while it is below the notional, and the formula subtracts the two:
    # keep them apart so that rtol=1e-9 tests the formulas, not the rounding.
    net = collateral + other_upnl
    if kind == "liquidation":
        net += maint_amount - other_mm
    if (contract == "linear") == (side == "long"):
        assume(net < (1.0 - 1e-3) * notional)
    return {
        "entry_price": entry,
        "qty": qty,
        "collateral": collateral,
        "mmr": mmr,
        "maint_amount": maint_amount,
        "contract_size": size,
        "other_maint_margin": other_mm,
        "other_upnl": other_upnl,
    }


@pytest.mark.parametrize("variant", VARIANTS, ids=_vid)
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_evaluator_matches_numeric(variant: tuple[str, str, str, str], data: st.DataObject) -> None:
    kind, mode, side, contract = variant
    x = data.draw(position_inputs(kind, mode, side, contract), label="inputs")
    d = derive(kind, mode, side, contract)
    general = derive(kind, mode, "any", contract)
    symbolic = d.evaluator()(side=SIGN[side], **x)
    symbolic_any = general.evaluator()(side=SIGN[side], **x)
    if kind == "liquidation":
        numeric = margin_kit.liquidation_price(
            side,
            x["entry_price"],
            x["qty"],
            x["collateral"],
            x["mmr"],
            x["maint_amount"],
            contract=contract,
            contract_size=x["contract_size"],
            other_maint_margin=x["other_maint_margin"],
            other_upnl=x["other_upnl"],
        )
    else:
        numeric = margin_kit.bankruptcy_price(
            side,
            x["entry_price"],
            x["qty"],
            x["collateral"],
            contract=contract,
            contract_size=x["contract_size"],
            other_upnl=x["other_upnl"],
        )
    assert isinstance(symbolic, float)
    assert symbolic > 0
    np.testing.assert_allclose(symbolic, numeric, rtol=1e-9)
    np.testing.assert_allclose(symbolic_any, symbolic, rtol=1e-12)
    # the price zeroes the residual, relative to the size of the terms in the condition
    scale = (
        x["collateral"]
        + abs(x["other_upnl"])
        + x["qty"]
        * (x["entry_price"] if contract == "linear" else x["contract_size"] / x["entry_price"])
    )
    assert abs(d.residual(symbolic, **x)) <= 1e-9 * scale


# --- the algebra -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "variant", VARIANTS + [(k, md, "any", ct) for k, md, ct in GENERAL], ids=_vid
)
def test_result_satisfies_condition(variant: tuple[str, str, str, str]) -> None:
    d = derive(*variant)
    assert d.verify()
    assert sp.simplify((d.condition.lhs - d.condition.rhs).subs(P, d.result)) == 0
    assert d.steps[-1].expr == sp.Eq(P, d.result)


@pytest.mark.parametrize("general", GENERAL, ids=_vid)
def test_general_derivation_specialises_to_sides(general: tuple[str, str, str]) -> None:
    kind, mode, contract = general
    g = derive(kind, mode, "any", contract)
    assert s in g.result.free_symbols
    assert g.args[0] == s
    for side, sign in SIGN.items():
        d = derive(kind, mode, side, contract)
        assert sp.simplify(g.result.subs(s, sign) - d.result) == 0
        # and independently: solving the side-specific condition gives the same price
        (solved,) = sp.solve(d.condition, P)
        assert sp.simplify(solved - d.result) == 0
        assert s not in d.result.free_symbols


def test_expected_closed_forms() -> None:
    lin = (C + U_o - MM_o + A - s * q * c * E) / (q * c * (m - s))
    inv = q * c * (m + s) / (C + U_o - MM_o + A + s * q * c / E)
    bankrupt = {m: 0, A: 0, MM_o: 0}
    isolated = {U_o: 0, MM_o: 0}
    for mode, sub in (("cross", {}), ("isolated", isolated)):
        for contract, form in (("linear", lin), ("inverse", inv)):
            liq = derive("liquidation", mode, "any", contract).result
            bk = derive("bankruptcy", mode, "any", contract).result
            assert sp.simplify(liq - form.subs(sub)) == 0
            assert sp.simplify(bk - form.subs(sub).subs(bankrupt)) == 0


def test_linear_isolated_long_leverage_closed_form() -> None:
    L = sp.Symbol("L", positive=True)
    d = derive("liquidation", "isolated", "long", "linear")
    special = d.result.subs({A: 0, C: q * c * E / L})
    assert sp.simplify(special - E * (1 - 1 / L) / (1 - m)) == 0


def test_args_follow_numeric_api_order() -> None:
    order = list(SYMBOLS.values())
    for d in derivations():
        assert set(d.args) == d.result.free_symbols
        assert list(d.args) == sorted(d.args, key=order.index)
    assert derive("liquidation", "cross", "short", "inverse").arg_names == (
        "entry_price",
        "qty",
        "collateral",
        "mmr",
        "maint_amount",
        "contract_size",
        "other_maint_margin",
        "other_upnl",
    )
    assert derive("bankruptcy", "isolated", "long", "linear").arg_names == (
        "entry_price",
        "qty",
        "collateral",
        "contract_size",
    )


def test_derivations_lists_16_side_specific_variants() -> None:
    ds = derivations()
    assert len(ds) == 16
    assert all(isinstance(d, Derivation) for d in ds)
    assert {(d.kind, d.mode, d.side, d.contract) for d in ds} == set(VARIANTS)


def test_derive_and_evaluator_are_cached() -> None:
    d = derive("liquidation", "cross", "long", "inverse")
    assert derive("liquidation", "cross", "long", "inverse") is d
    assert derive() is derive("liquidation", "isolated", "any", "linear")
    assert d.evaluator() is d.evaluator()


def test_steps_in_order() -> None:
    liq = derive("liquidation", "cross", "short", "linear")
    assert [st.title for st in liq.steps] == [
        "Equity",
        "Maintenance margin",
        "Liquidation condition",
        "Solution of solve",
        "Simplified",
    ]
    assert liq.steps[2].expr == liq.condition
    assert isinstance(liq.condition, sp.Eq)
    bk = derive("bankruptcy", "isolated", "long", "inverse")
    assert [st.title for st in bk.steps] == [
        "Equity",
        "Bankruptcy condition",
        "Solution of solve",
        "Simplified",
    ]
    assert bk.condition.rhs == 0
    assert "s = +1" in bk.steps[0].note


# --- public vectors --------------------------------------------------------------------------
def _vectors() -> list[dict]:
    for path in VECTOR_FILES:
        if path.exists():
            return json.loads(path.read_text())
    return []


@pytest.mark.parametrize("case", _vectors() or [None], ids=lambda v: v["id"] if v else "missing")
def test_public_vectors(case: dict | None) -> None:
    if case is None:
        pytest.skip(f"vectors-public.json not found in {[str(p) for p in VECTOR_FILES]}")
    pos = case["position"]
    others = case["others"]
    x = {
        "side": pos["side"],
        "entry_price": pos["entry_price"],
        "qty": pos["qty"],
        "collateral": case["collateral"],
        "mmr": pos["mmr"],
        "maint_amount": pos["maint_amount"],
        "contract_size": pos.get("contract_size", 1.0),
        "other_maint_margin": sum(
            o["qty"] * o["mark_price"] * o["mmr"] - o["maint_amount"] for o in others
        ),
        "other_upnl": sum(
            SIGN[o.get("side", "long")] * o["qty"] * (o["mark_price"] - o["entry_price"])
            for o in others
        ),
    }
    if case["margin_mode"] == "isolated":
        assert not others
    for kind in KINDS:
        expected = case.get(f"expected_{kind}_price")
        if expected is None:
            continue
        args = (kind, case["margin_mode"], case["contract"])
        got = derive(args[0], args[1], pos["side"], args[2]).evaluator()(**x)
        got_any = derive(args[0], args[1], "any", args[2]).evaluator()(**x)  # side as a word
        atol = case.get("tolerance_abs", 0.0)
        rtol = case.get("tolerance_rel", 0.0)
        assert got == pytest.approx(expected, abs=atol, rel=rtol), (kind, got, expected)
        assert got_any == pytest.approx(got, rel=1e-12)


# --- display ---------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", VARIANTS, ids=_vid)
def test_latex_and_mathml(variant: tuple[str, str, str, str]) -> None:
    d = derive(*variant)
    text = d._repr_latex_()
    assert text.startswith("$")
    assert text.endswith("$")
    assert r"\begin{aligned}" in d.latex()
    for step in d.steps:
        assert step.title in text
        assert step._repr_latex_().startswith(r"$$\text{" + step.title + ":}")
        assert "<math" in step.mathml()
    html = d.mathml()
    assert "<math" in html
    assert html.count("<math ") == len(d.steps)


# --- evaluator behaviour ---------------------------------------------------------------------
BASE = {
    "entry_price": 100.0,
    "qty": 2.0,
    "collateral": 20.0,
    "mmr": 0.01,
    "maint_amount": 0.5,
    "contract_size": 10.0,
    "other_maint_margin": 1.0,
    "other_upnl": -2.0,
}


def test_evaluator_ignores_unused_and_requires_used() -> None:
    f = derive("bankruptcy", "isolated", "long", "linear").evaluator()
    # E - C / (q c): contract_size 10 in BASE, 1 by default as in the numeric API
    assert f(**BASE) == pytest.approx(99.0)
    assert f(entry_price=100.0, qty=2.0, collateral=20.0) == pytest.approx(90.0)
    with pytest.raises(TypeError, match="collateral"):
        f(entry_price=100.0, qty=2.0)
    with pytest.raises(TypeError, match="colateral"):
        f(entry_price=100.0, qty=2.0, colateral=20.0)
    g = derive("liquidation", "cross", "any", "linear").evaluator()
    with pytest.raises(TypeError, match="side"):
        g(**BASE)
    assert g(side="long", **BASE) == g(side=1, **BASE)
    with pytest.raises(InputError, match="side"):
        g(side=2, **BASE)


def test_evaluator_broadcasts() -> None:
    f = derive("liquidation", "cross", "any", "inverse").evaluator()
    prices = np.array([[50.0], [100.0], [200.0]])
    out = f(**{**BASE, "entry_price": prices, "side": np.array([1, -1])})
    assert out.shape == (3, 2)
    for i, e in enumerate(prices[:, 0]):
        for j, side in enumerate(("long", "short")):
            one = derive("liquidation", "cross", side, "inverse").evaluator()
            assert out[i, j] == pytest.approx(one(**{**BASE, "entry_price": e}), rel=1e-13)
    # a variant whose result ignores some array inputs still broadcasts over the ones it uses
    b = derive("bankruptcy", "isolated", "short", "linear").evaluator()
    assert b(**{**BASE, "qty": np.array([1.0, 2.0, 4.0])}).shape == (3,)


def test_residual_vanishes_at_result() -> None:
    for d in derivations():
        price = d.evaluator()(**BASE)
        assert d.residual(price, **BASE) == pytest.approx(0.0, abs=1e-9)
        assert d.residual(price * 1.01, **BASE) != pytest.approx(0.0, abs=1e-9)


# --- errors and isolation --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("kind", "liq"),
        ("mode", "portfolio"),
        ("side", "both"),
        ("contract", "quanto"),
        ("mode", None),
    ],
)
def test_unknown_variant_raises_input_error(field: str, value: object) -> None:
    with pytest.raises(InputError, match=field) as info:
        derive(**{field: value})
    assert repr(value) in str(info.value)
    assert info.value.field == field
    assert isinstance(info.value, ValueError)


def test_numeric_package_does_not_import_sympy() -> None:
    code = "import sys, margin_kit, margin_kit.liquidation; sys.exit('sympy' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
