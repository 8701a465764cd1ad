r"""Symbolic derivations of the liquidation- and bankruptcy-price formulas.

Every closed form used by the numeric code is derived here with sympy, step by step, from the
margin condition it comes from, so that a notebook can show the algebra one step at a time
(each :class:`Step` and :class:`Derivation` renders as LaTeX in Jupyter) and the tests can check
the numeric code against an independent evaluation of the derived formula.

This is the only module of the package that imports sympy; nothing else imports it, so the
numeric code does not pay for it.

Conventions
-----------
Side :math:`s` (+1 long, -1 short), entry price :math:`E`, quantity :math:`q` (base units for
linear contracts; number of contracts for inverse), contract size :math:`c` (inverse: quote units
per contract), collateral :math:`C` (isolated: the position's isolated margin; cross: the cross
wallet balance), maintenance margin rate :math:`m`, maintenance amount :math:`A` (Binance's
"cum"), the other cross positions' maintenance margin :math:`MM_o` and unrealised PnL
:math:`U_o` (both zero in isolated mode), price :math:`P`.

Linear (USDⓈ-margined, in quote currency)::

    equity(P)      = C + U_o + s·q·c·(P − E)
    maintenance(P) = q·c·P·m − A + MM_o

Inverse (coin-margined, in coin)::

    equity(P)      = C + U_o + s·q·c·(1/E − 1/P)
    maintenance(P) = q·c·m/P − A + MM_o

The liquidation price solves ``equity(P) = maintenance(P)``; the bankruptcy price solves
``equity(P) = 0``. The closed forms are::

    linear liquidation   P = (C + U_o − MM_o + A − s·q·c·E) / (q·c·(m − s))
    inverse liquidation  P = q·c·(m + s) / (C + U_o − MM_o + A + s·q·c/E)

and the bankruptcy prices are the same with ``m = A = MM_o = 0``.

References
----------
Binance, "How to Calculate Liquidation Price of USDⓈ-M Contracts" (Binance Support FAQ).
Binance, "How to Calculate Liquidation Price of COIN-M Contracts" (Binance Support FAQ).

Examples
--------
>>> from margin_kit.symbolic import derive
>>> d = derive("liquidation", "isolated", "long", "linear")
>>> d.result
(A + C - E*c*q)/(c*q*(m - 1))
>>> round(d.evaluator()(entry_price=100.0, qty=1.0, collateral=10.0, mmr=0.005,
...                     maint_amount=0.0), 6)
90.452261

"""

from __future__ import annotations

import functools
import html
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import sympy as sp

from margin_kit._errors import InputError
from margin_kit._validate import as_float, as_side

__all__ = [
    "API_NAMES",
    "SYMBOLS",
    "Derivation",
    "Evaluator",
    "Step",
    "derivations",
    "derive",
]

Kind = Literal["liquidation", "bankruptcy"]
Mode = Literal["isolated", "cross"]
Side = Literal["long", "short", "any"]
Contract = Literal["linear", "inverse"]

KINDS: tuple[str, ...] = ("liquidation", "bankruptcy")
MODES: tuple[str, ...] = ("isolated", "cross")
SIDES: tuple[str, ...] = ("long", "short", "any")
CONTRACTS: tuple[str, ...] = ("linear", "inverse")

# --- symbols ---------------------------------------------------------------------------------
# Assumptions are chosen so that ``solve`` returns exactly one solution: the side is a nonzero
# integer (it is later substituted by +1 or -1), prices, quantities and contract sizes are
# positive, rates and amounts nonnegative, collateral and the others' PnL merely real.
s = sp.Symbol("s", integer=True, nonzero=True)
E = sp.Symbol("E", positive=True)
q = sp.Symbol("q", positive=True)
c = sp.Symbol("c", positive=True)
C = sp.Symbol("C", real=True)
m = sp.Symbol("m", nonnegative=True)
A = sp.Symbol("A", nonnegative=True)
MM_o = sp.Symbol("MM_o", nonnegative=True)
U_o = sp.Symbol("U_o", real=True)
P = sp.Symbol("P", positive=True)

#: Keyword names of the numeric API, in its argument order, mapped to their symbols.
SYMBOLS: dict[str, sp.Symbol] = {
    "side": s,
    "entry_price": E,
    "qty": q,
    "collateral": C,
    "mmr": m,
    "maint_amount": A,
    "contract_size": c,
    "other_maint_margin": MM_o,
    "other_upnl": U_o,
}
#: The keyword names every evaluator accepts, in the numeric API's order.
API_NAMES: tuple[str, ...] = tuple(SYMBOLS)
_NAME_OF: dict[sp.Symbol, str] = {sym: name for name, sym in SYMBOLS.items()}

_equity = sp.Function("equity")
_maintenance = sp.Function("maintenance")
_SIDE_VALUE = {"long": 1, "short": -1}


_LATEX_TEXT_ESCAPES = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "#": r"\#",
    "%": r"\%",
    "_": r"\_",
    "^": r"\^{}",
    "~": r"\~{}",
}


def _latex_text(text: str) -> str:
    r"""Escape ``text`` for use inside LaTeX ``\text{...}``."""
    return "".join(_LATEX_TEXT_ESCAPES.get(ch, ch) for ch in text)


# --- steps -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    """One step of a derivation: a titled sympy equation or expression.

    Parameters
    ----------
    title : str
        Short caption, e.g. ``"Liquidation condition"``.
    expr : sympy.Basic
        The step's content, usually a :class:`sympy.Eq`.
    note : str, optional
        A remark on how the step was obtained.

    """

    title: str
    expr: sp.Basic
    note: str = ""

    def latex(self) -> str:
        """Return the step's expression as LaTeX (without the title)."""
        return sp.latex(self.expr)

    def _repr_latex_(self) -> str:
        return rf"$$\text{{{_latex_text(self.title)}:}}\quad {self.latex()}$$"

    def mathml(self) -> str:
        """Return the step as an HTML fragment: the title and a presentation-MathML ``<math>``.

        Returns
        -------
        str
            ``<div class="step">`` holding the escaped title, a block ``<math>`` element and the
            note (if any); no external resources are needed to display it.

        """
        body = sp.mathml(self.expr, printer="presentation")
        note = f' <span class="note">{html.escape(self.note)}</span>' if self.note else ""
        return (
            f'<div class="step"><span class="title">{html.escape(self.title)}:</span>'
            f'<math xmlns="http://www.w3.org/1998/Math/MathML" display="block">{body}</math>'
            f"{note}</div>"
        )


# --- evaluators ------------------------------------------------------------------------------
class Evaluator:
    """A numpy function of a derived expression, called with the numeric API's keyword names.

    Accepts the keywords in :data:`API_NAMES` (``side``, ``entry_price``, ``qty``,
    ``collateral``, ``mmr``, ``maint_amount``, ``contract_size``, ``other_maint_margin``,
    ``other_upnl``); those the expression does not use are accepted and ignored, those it uses
    are required. Values broadcast like numpy; a 0-d result is returned as a float.

    Parameters
    ----------
    expr : sympy.Expr
        The expression to evaluate.
    names : tuple of str
        API names of the symbols ``expr`` depends on, in :data:`API_NAMES` order.
    leading : tuple of sympy.Symbol, optional
        Extra positional symbols passed before the keywords (the price, for residuals).

    """

    __slots__ = ("_func", "expr", "leading", "names")

    def __init__(
        self, expr: sp.Expr, names: tuple[str, ...], leading: tuple[sp.Symbol, ...] = ()
    ) -> None:
        self.expr = expr
        self.names = names
        self.leading = leading
        symbols = [*leading, *(SYMBOLS[name] for name in names)]
        self._func: Callable[..., Any] = sp.lambdify(symbols, expr, modules="numpy", cse=True)

    def __repr__(self) -> str:
        lead = [str(sym) for sym in self.leading]
        return f"Evaluator(({', '.join([*lead, *self.names])}) -> {self.expr})"

    def __call__(self, *leading: Any, **kwargs: Any) -> Any:
        """Evaluate the expression.

        Parameters
        ----------
        *leading : array_like
            Values of the leading symbols (the price for a residual), positionally.
        **kwargs : array_like
            Values by numeric-API name; unused names are ignored.

        Returns
        -------
        float or numpy.ndarray
            The value, broadcast over the inputs.

        Raises
        ------
        TypeError
            On an unknown keyword, a missing required one, or a wrong number of positionals.
        InputError
            On a side other than long/short/±1, or a non-finite or non-numeric value.

        """
        unknown = sorted(set(kwargs) - set(API_NAMES))
        if unknown:
            raise TypeError(f"unexpected keyword argument(s) {unknown}; accepted: {API_NAMES}")
        # the numeric API's defaults, so both are called with the same arguments
        kwargs = {**_DEFAULTS, **kwargs}
        missing = [name for name in self.names if name not in kwargs]
        if missing:
            raise TypeError(f"missing required keyword argument(s) {missing}")
        if len(leading) != len(self.leading):
            raise TypeError(f"expected {len(self.leading)} positional argument(s)")
        values = [
            as_float(v, "price" if sym == P else str(sym))
            for v, sym in zip(leading, self.leading, strict=True)
        ]
        for name in self.names:
            if name == "side":
                values.append(as_side(kwargs[name]))
            else:
                values.append(as_float(kwargs[name], name))
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.asarray(self._func(*values), dtype=np.float64)
        if values:
            shape = np.broadcast_shapes(*(np.shape(v) for v in values))
            out = np.broadcast_to(out, shape) if out.shape != shape else out
        return float(out) if out.ndim == 0 else out


def _api_order(symbols: set[sp.Basic]) -> tuple[str, ...]:
    return tuple(name for name, sym in SYMBOLS.items() if sym in symbols)


# --- derivations -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Derivation:
    r"""A step-by-step derivation of one price formula.

    Parameters
    ----------
    kind : {"liquidation", "bankruptcy"}
        Which price.
    mode : {"isolated", "cross"}
        Margin mode; in isolated mode :math:`U_o = MM_o = 0`.
    side : {"long", "short", "any"}
        ``"any"`` keeps the side as the symbol :math:`s`.
    contract : {"linear", "inverse"}
        Contract type.
    steps : tuple of Step
        In order: the definitions (equity, and maintenance for a liquidation price), the
        condition as :class:`sympy.Eq`, the raw ``solve`` solution, the simplified result.
    result : sympy.Expr
        The price :math:`P` as an expression of the inputs.
    args : tuple of sympy.Symbol
        The symbols ``result`` depends on, in the numeric API's argument order.
    condition : sympy.Eq
        The equation solved for :math:`P`.

    """

    kind: str
    mode: str
    side: str
    contract: str
    steps: tuple[Step, ...]
    result: sp.Expr
    args: tuple[sp.Symbol, ...]
    condition: sp.Eq
    _cache: dict[str, Evaluator] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __repr__(self) -> str:
        return f"Derivation({self.name}: P = {self.result})"

    @property
    def name(self) -> str:
        """Short label such as ``"liquidation/isolated/long/linear"``."""
        return f"{self.kind}/{self.mode}/{self.side}/{self.contract}"

    @property
    def arg_names(self) -> tuple[str, ...]:
        """The numeric-API keyword names of :attr:`args`."""
        return tuple(_NAME_OF[sym] for sym in self.args)

    @property
    def residual_expr(self) -> sp.Expr:
        """The condition as ``lhs − rhs`` (equity − maintenance, or equity), a function of P."""
        return self.condition.lhs - self.condition.rhs

    def latex(self) -> str:
        r"""Return all steps as one LaTeX ``aligned`` environment (no ``$$`` delimiters).

        Returns
        -------
        str
            ``\begin{aligned} \text{title:}\quad & expr \\ ... \end{aligned}``.

        """
        rows = [rf"\text{{{_latex_text(st.title)}:}}\quad & {st.latex()}" for st in self.steps]
        return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"

    def _repr_latex_(self) -> str:
        return f"$${self.latex()}$$"

    def mathml(self) -> str:
        """Return every step as presentation MathML, for an offline HTML report.

        Returns
        -------
        str
            A ``<section class="derivation">`` with a heading and one ``<div class="step">`` per
            step, each holding a ``<math>`` element.

        """
        body = "\n".join(st.mathml() for st in self.steps)
        return f'<section class="derivation"><h3>{html.escape(self.name)}</h3>\n{body}\n</section>'

    def evaluator(self) -> Evaluator:
        """Return a cached numpy function of :attr:`result`.

        The function takes keyword arguments named like the numeric API (``side``,
        ``entry_price``, ``qty``, ``collateral``, ``mmr``, ``maint_amount``, ``contract_size``,
        ``other_maint_margin``, ``other_upnl``), ignores those this variant does not use and
        broadcasts like numpy. It is built with ``sympy.lambdify(..., modules="numpy",
        cse=True)`` on first use.

        Returns
        -------
        Evaluator
            ``f(**kwargs) -> float | numpy.ndarray``.

        """
        if "result" not in self._cache:
            self._cache["result"] = Evaluator(self.result, self.arg_names)
        return self._cache["result"]

    def residual(self, price: Any, **kwargs: Any) -> Any:
        """Evaluate ``equity(P) − maintenance(P)`` (or ``equity(P)`` for bankruptcy) numerically.

        Zero at the derived price; use it to check a solution.

        Parameters
        ----------
        price : array_like
            The price :math:`P`.
        **kwargs : array_like
            Same keywords as :meth:`evaluator`.

        Returns
        -------
        float or numpy.ndarray
            The residual, in collateral currency (quote for linear, coin for inverse).

        """
        if "residual" not in self._cache:
            expr = self.residual_expr
            self._cache["residual"] = Evaluator(expr, _api_order(expr.free_symbols), (P,))
        return self._cache["residual"](price, **kwargs)

    def verify(self) -> bool:
        """Return True if :attr:`result` substituted into the condition simplifies to zero."""
        return sp.simplify(self.residual_expr.subs(P, self.result)) == 0


def _tidy(expr: sp.Expr, contract: str) -> sp.Expr:
    """Simplify a solution into the customary form.

    For inverse contracts the numerator and denominator are divided by :math:`E`, giving
    ``q·c·(m + s) / (… + s·q·c/E)``, the form of Binance's COIN-M formula.
    """
    expr = sp.simplify(expr)
    if contract == "inverse":
        num, den = sp.fraction(sp.together(expr))
        reduced = sp.cancel(num / E)
        if sp.fraction(reduced)[1] == 1:  # E divides the numerator
            expr = sp.factor(reduced) / sp.expand(den / E)
    return expr


_DEFAULTS: dict[str, float] = {
    "maint_amount": 0.0,
    "contract_size": 1.0,
    "other_maint_margin": 0.0,
    "other_upnl": 0.0,
}


def _check(fieldname: str, value: Any, allowed: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in allowed:
        raise InputError(fieldname, value, "one of " + ", ".join(repr(a) for a in allowed))


def _general(kind: str, mode: str, contract: str) -> Derivation:
    """Derive the formula with the side kept as the symbol ``s``."""
    u, mm = (U_o, MM_o) if mode == "cross" else (sp.Integer(0), sp.Integer(0))
    if contract == "linear":
        equity = C + u + s * q * c * (P - E)
        maintenance = q * c * P * m - A + mm
        unit = "quote currency"
    else:
        equity = C + u + s * q * c * (1 / E - 1 / P)
        maintenance = q * c * m / P - A + mm
        unit = "coin"
    where = "cross: other positions' PnL U_o" if mode == "cross" else "isolated: U_o = MM_o = 0"
    steps = [Step("Equity", sp.Eq(_equity(P), equity), f"in {unit}; {where}")]
    if kind == "liquidation":
        steps.append(Step("Maintenance margin", sp.Eq(_maintenance(P), maintenance)))
        condition = sp.Eq(equity, maintenance)
        steps.append(Step("Liquidation condition", condition, "equity(P) = maintenance(P)"))
    else:
        condition = sp.Eq(equity, 0)
        steps.append(Step("Bankruptcy condition", condition, "equity(P) = 0"))
    solutions = sp.solve(condition, P, dict=False)
    if len(solutions) != 1:  # pragma: no cover - guarded by the symbol assumptions
        raise RuntimeError(f"expected one solution for {kind}/{mode}/{contract}: {solutions}")
    raw = solutions[0]
    steps.append(Step("Solution of solve", sp.Eq(P, raw), "sympy.solve(condition, P)"))
    result = _tidy(raw, contract)
    steps.append(Step("Simplified", sp.Eq(P, result)))
    return Derivation(
        kind=kind,
        mode=mode,
        side="any",
        contract=contract,
        steps=tuple(steps),
        result=result,
        args=tuple(SYMBOLS[n] for n in _api_order(result.free_symbols)),
        condition=condition,
    )


def _specialise(general: Derivation, side: str) -> Derivation:
    """Substitute ``s = ±1`` into every step of the general derivation."""
    value = _SIDE_VALUE[side]
    sub = {s: value}
    label = f"s = {value:+d} ({side})"
    steps: list[Step] = []
    for st in general.steps[:-1]:
        note = f"{st.note}; {label}" if st.note else label
        steps.append(Step(st.title, st.expr.subs(sub), note))
    result = _tidy(general.result.subs(sub), general.contract)
    steps.append(Step("Simplified", sp.Eq(P, result)))
    return Derivation(
        kind=general.kind,
        mode=general.mode,
        side=side,
        contract=general.contract,
        steps=tuple(steps),
        result=result,
        args=tuple(SYMBOLS[n] for n in _api_order(result.free_symbols)),
        condition=general.condition.subs(sub),
    )


def derive(
    kind: Kind = "liquidation",
    mode: Mode = "isolated",
    side: Side = "any",
    contract: Contract = "linear",
) -> Derivation:
    """Derive a liquidation or bankruptcy price formula step by step.

    Linear (USDⓈ-M) liquidation price::

        P = (C + U_o − MM_o + A − s·q·c·E) / (q·c·(m − s))

    inverse (COIN-M) liquidation price::

        P = q·c·(m + s) / (C + U_o − MM_o + A + s·q·c/E)

    and the bankruptcy prices are the same with ``m = A = MM_o = 0``; in isolated mode
    ``U_o = MM_o = 0``. Results are cached (``functools.cache``).

    Parameters
    ----------
    kind : {"liquidation", "bankruptcy"}
        ``equity(P) = maintenance(P)`` or ``equity(P) = 0``.
    mode : {"isolated", "cross"}
        Isolated drops the other positions' terms.
    side : {"any", "long", "short"}
        ``"any"`` keeps the side symbol ``s``; ``"long"``/``"short"`` substitute ``s = ±1``
        into the general derivation.
    contract : {"linear", "inverse"}
        Quote-margined or coin-margined.

    Returns
    -------
    Derivation
        The steps, the result and a numpy evaluator.

    Raises
    ------
    InputError
        For an unknown ``kind``, ``mode``, ``side`` or ``contract`` (naming field and value).

    References
    ----------
    Binance, "How to Calculate Liquidation Price of USDⓈ-M Contracts"; Binance, "How to
    Calculate Liquidation Price of COIN-M Contracts" (Binance Support FAQ).

    """
    _check("kind", kind, KINDS)
    _check("mode", mode, MODES)
    _check("side", side, SIDES)
    _check("contract", contract, CONTRACTS)
    return _derive(kind, mode, side, contract)


@functools.cache
def _derive(kind: str, mode: str, side: str, contract: str) -> Derivation:
    """Derive (cached) from validated positional arguments; see :func:`derive`."""
    if side == "any":
        return _general(kind, mode, contract)
    return _specialise(_derive(kind, mode, "any", contract), side)


def derivations() -> list[Derivation]:
    """Return all 16 side-specific derivations.

    Returns
    -------
    list of Derivation
        kind × mode × side × contract, with side in {"long", "short"}.

    """
    return [
        derive(kind, mode, side, contract)
        for kind in KINDS
        for mode in MODES
        for side in ("long", "short")
        for contract in CONTRACTS
    ]
