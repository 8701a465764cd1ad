r"""Command line: ``margin-kit liq``, ``demo``, ``report`` and ``export``.

``liq``: one position's liquidation and bankruptcy price. ``demo``: a scenario's liquidation
table. ``report``: a scenario's offline HTML report. ``export``: a notebook as offline HTML.

Examples
--------
::

    margin-kit liq --side long --entry-price 100 --qty 1 --collateral 10 --mmr 0.005 --json
    margin-kit liq --side short --entry-price 60000 --qty 0.5 --exchange binance-usdm \
        --symbol BTCUSDT --leverage 20 --json
    margin-kit demo
    margin-kit report -o build/report.html
    margin-kit report my_scenario.toml -o report.html --seed 1 --paths 50000 --quiet
    margin-kit export notebooks/02_isolated_vs_cross.ipynb -o build/02.html

``report`` and ``export`` print what they wrote (path, size, seconds) on stdout and draw a
progress bar on stderr when it is a terminal. Bad input exits with status 2 and a message naming
the file and the field; a notebook cell that fails exits with status 1. Neither writes anything
on error.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from typing import Any

import pandas as pd

from margin_kit import __version__, exchanges
from margin_kit._errors import InputError
from margin_kit.liquidation import bankruptcy_price, liquidation_price, tiered_liquidation_price

__all__ = ["main"]


def _json_number(x: Any) -> float | None:
    """JSON has no NaN: a price that does not exist is written as null."""
    x = float(x)
    return None if math.isnan(x) else x


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="margin-kit", description="Isolated vs cross margin analysis for crypto derivatives."
    )
    parser.add_argument("--version", action="version", version=f"margin-kit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    liq = sub.add_parser(
        "liq",
        help="liquidation and bankruptcy price of one position",
        description="Liquidation and bankruptcy price of one position. "
        "Give --mmr and --collateral, or --exchange/--symbol/--leverage to take them from a "
        "preset's tiers (collateral then defaults to the initial margin, i.e. isolated).",
    )
    liq.add_argument("--side", required=True, help="long or short")
    liq.add_argument("--entry-price", type=float, required=True)
    liq.add_argument("--qty", type=float, required=True, help="base units (linear) or contracts")
    liq.add_argument("--collateral", type=float, help="isolated margin, or cross wallet balance")
    liq.add_argument("--mmr", type=float, help="maintenance margin rate of the tier")
    liq.add_argument("--maint-amount", type=float, default=0.0, help="maintenance amount (cum)")
    liq.add_argument("--contract", default=None, help="linear (default) or inverse")
    liq.add_argument("--contract-size", type=float, default=None)
    liq.add_argument("--other-maint-margin", type=float, default=0.0, help="cross: others' MM")
    liq.add_argument("--other-upnl", type=float, default=0.0, help="cross: others' unrealised PnL")
    liq.add_argument("--exchange", help=f"preset: {', '.join(exchanges.names())}")
    liq.add_argument("--symbol", help="symbol of the preset")
    liq.add_argument("--leverage", type=float, help="with --exchange: initial leverage")
    liq.add_argument("--json", action="store_true", help="print JSON")

    demo = sub.add_parser("demo", help="liquidation prices of a scenario, isolated and cross")
    demo.add_argument("scenario", nargs="?", help="scenario TOML (default: the shipped one)")

    report = sub.add_parser(
        "report",
        help="offline HTML report of a scenario",
        description="Run a scenario's questions (compare, sizing, capital efficiency, stress "
        "replay) and write one self-contained HTML file: tables, interactive charts, formulas "
        "(MathML), inputs and the exchange rules' sources. Opens with no network.",
    )
    report.add_argument("scenario", nargs="?", help="scenario TOML (default: the shipped one)")
    report.add_argument("-o", "--output", default="report.html", help="HTML file to write")
    report.add_argument("--seed", type=int, help="override simulation.seed")
    report.add_argument("--paths", type=int, help="override simulation.paths")
    report.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    export = sub.add_parser(
        "export",
        help="execute a notebook and write offline HTML",
        description="Execute a notebook in a fresh kernel (charts static, widget panels in "
        "their last state) and write HTML whose charts and math render with no network.",
    )
    export.add_argument("notebook", help="the .ipynb to execute and export")
    export.add_argument("-o", "--output", help="HTML file (default: beside the notebook)")
    export.add_argument("--code", action="store_true", help="show code cells and prompts")
    export.add_argument("--timeout", type=int, default=300, help="seconds per cell")
    return parser


def _liq(args: argparse.Namespace) -> dict[str, Any]:
    common = {
        "other_maint_margin": args.other_maint_margin,
        "other_upnl": args.other_upnl,
    }
    if args.exchange is None:
        if args.symbol is not None or args.leverage is not None:
            raise InputError("exchange", None, "a preset name when --symbol/--leverage are given")
        if args.mmr is None or args.collateral is None:
            raise InputError("mmr/collateral", None, "both, or --exchange/--symbol/--leverage")
        kw = {
            "contract": args.contract or "linear",
            "contract_size": 1.0 if args.contract_size is None else args.contract_size,
        }
        liq_price = liquidation_price(
            args.side,
            args.entry_price,
            args.qty,
            args.collateral,
            args.mmr,
            args.maint_amount,
            **kw,
            **common,
        )
        bk = bankruptcy_price(
            args.side,
            args.entry_price,
            args.qty,
            args.collateral,
            **kw,
            other_upnl=args.other_upnl,
        )
        return {"liquidation_price": _json_number(liq_price), "bankruptcy_price": _json_number(bk)}

    if args.symbol is None or args.leverage is None:
        raise InputError("symbol/leverage", None, "both with --exchange")
    if args.mmr is not None:
        raise InputError("mmr", args.mmr, "no --mmr with --exchange (the preset's tiers give it)")
    market = exchanges.get(args.exchange).market(args.symbol)
    spec = market.spec
    if args.contract not in (None, spec.contract):
        raise InputError("contract", args.contract, f"{spec.contract!r} for {args.symbol}")
    size = spec.contract_size if args.contract_size is None else args.contract_size
    qc = args.qty * size
    n0 = qc * args.entry_price if spec.contract == "linear" else qc / args.entry_price
    tiers = market.tiers
    basis = args.qty if market.tier_basis == "qty" else n0
    tiers.check_leverage(args.leverage, basis)
    collateral = n0 / args.leverage if args.collateral is None else args.collateral
    kw = {"contract": spec.contract, "contract_size": size}
    liq_price = tiered_liquidation_price(
        args.side,
        args.entry_price,
        args.qty,
        collateral,
        tiers,
        tier_basis=market.tier_basis,
        close_fee_rate=market.close_fee_rate,
        **kw,
        **common,
    )
    bk = bankruptcy_price(
        args.side, args.entry_price, args.qty, collateral, **kw, other_upnl=args.other_upnl
    )
    at = basis
    if market.tier_basis == "mark" and not math.isnan(liq_price):
        at = qc * liq_price if spec.contract == "linear" else qc / liq_price
    k = int(tiers.tier_index(min(at, float(tiers.caps[-1]) * (1 - 1e-12))))
    return {
        "liquidation_price": _json_number(liq_price),
        "bankruptcy_price": _json_number(bk),
        "collateral": collateral,
        "tier": k + 1,
        "mmr": float(tiers.mmrs[k]),
        "maint_amount": float(tiers.maint_amounts[k]),
        "exchange": args.exchange,
        "symbol": args.symbol,
        "tier_basis": market.tier_basis,
    }


def _demo(args: argparse.Namespace) -> str:
    from margin_kit import scenario

    sc = scenario.load(args.scenario)
    acct = sc.account
    frames = []
    for mode in ("isolated", "cross"):
        t = acct.with_mode(mode).liquidation_prices()
        frames.append(t.assign(mode=mode))
    order = {name: i for i, name in enumerate(frames[0].index)}
    table = (
        pd.concat(frames)
        .reset_index()
        .sort_values(
            ["position", "mode"],
            key=lambda c: (
                c.map(order) if c.name == "position" else c.map({"isolated": 0, "cross": 1})
            ),
            kind="stable",
        )
        .set_index(["position", "mode"])
    )
    cols = ["side", "mark_price", "liquidation_price", "bankruptcy_price", "distance_pct", "margin"]
    ccy = acct.settle_currency
    header = (
        f"{acct.name or 'account'} on {sc.exchange}: wallet {acct.wallet_balance:,.2f} {ccy}, "
        f"{len(acct)} positions ({sc.path})\n"
        "Each position with the account all-isolated (own margin) and all-cross (shared wallet;\n"
        "positions on other symbols held at their marks, those on the same symbol moving\n"
        "together). distance_pct: adverse move from mark to liquidation, in %. none: no price\n"
        "reaches it.\n"
    )
    with pd.option_context("display.width", 120):
        return header + table[cols].to_string(float_format=lambda v: f"{v:,.2f}", na_rep="none")


def _skip_iri_format_checker() -> None:
    """Keep jsonschema from importing rfc3987-syntax in this process.

    Where JupyterLab is installed, jsonschema (which altair imports) finds rfc3987-syntax and
    builds its ~40 lark grammars on import: 2-4 s of a report on a slow core
    (python-jsonschema/jsonschema#1428). That package only checks the ``iri`` and
    ``iri-reference`` string formats, which neither the Vega-Lite nor the notebook schema
    uses (their ``uri`` formats are checked by rfc3986-validator, unaffected). A ``None`` in
    ``sys.modules`` makes its import fail, which jsonschema expects of an optional checker.
    Only the command's own process: a kernel or a program importing margin_kit is untouched.
    """
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``margin-kit`` command."""
    args = _parser().parse_args(argv)
    if args.command in ("report", "export"):
        _skip_iri_format_checker()
    try:
        if args.command == "liq":
            result = _liq(args)
            if args.json:
                print(json.dumps(result))
            else:
                for key, value in result.items():
                    print(f"{key:>18}: {value}")
        elif args.command == "demo":
            print(_demo(args))
        elif args.command == "report":
            _report(args)
        elif args.command == "export":
            return _export(args)
    except InputError as exc:
        print(f"margin-kit: error: {exc}", file=sys.stderr)
        return 2
    return 0


def _wrote(path: Any, start: float) -> None:
    size = path.stat().st_size
    print(f"wrote {path} ({size / 1e6:.2f} MB) in {time.perf_counter() - start:.1f} s")


def _report(args: argparse.Namespace) -> None:
    from margin_kit import report

    start = time.perf_counter()
    path = report.write_report(
        args.scenario, args.output, seed=args.seed, paths=args.paths, quiet=args.quiet
    )
    _wrote(path, start)


def _export(args: argparse.Namespace) -> int:
    from margin_kit import report

    start = time.perf_counter()
    try:
        path = report.export_notebook(
            args.notebook, args.output, code=args.code, timeout=args.timeout
        )
    except report.ExportError as exc:
        print(f"margin-kit: error: {exc}", file=sys.stderr)
        return 1
    _wrote(path, start)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
