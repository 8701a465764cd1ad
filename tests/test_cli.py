"""The margin-kit command: JSON output, presets, errors, the demo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import load_vectors, other_terms

from margin_kit.cli import main

VEC = {v["id"]: v for v in load_vectors()}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_liq_json_reproduces_the_published_cross_example(capsys) -> None:
    v = VEC["binance-usdm-cross-eth-long"]
    p = v["position"]
    mm, upnl = other_terms(v)
    code, out, _ = run(
        capsys,
        "liq",
        "--side",
        "long",
        "--entry-price",
        str(p["entry_price"]),
        "--qty",
        str(p["qty"]),
        "--collateral",
        str(v["collateral"]),
        "--mmr",
        str(p["mmr"]),
        "--maint-amount",
        str(p["maint_amount"]),
        "--other-maint-margin",
        repr(mm),
        "--other-upnl",
        repr(upnl),
        "--json",
    )
    assert code == 0
    result = json.loads(out)
    assert set(result) == {"liquidation_price", "bankruptcy_price"}
    assert abs(result["liquidation_price"] - v["expected_liquidation_price"]) <= v["tolerance_abs"]


def test_liq_inverse(capsys) -> None:
    code, out, _ = run(
        capsys,
        "liq",
        "--side",
        "short",
        "--entry-price",
        "50000",
        "--qty",
        "100",
        "--collateral",
        "0.01",
        "--mmr",
        "0.004",
        "--contract",
        "inverse",
        "--contract-size",
        "100",
        "--json",
    )
    assert code == 0
    got = json.loads(out)["liquidation_price"]
    # short inverse: P = q c (m - 1) / (C + cum - q c / E)
    assert got == pytest.approx(100 * 100 * (0.004 - 1) / (0.01 - 100 * 100 / 50_000))


def test_liq_with_a_preset(capsys) -> None:
    code, out, _ = run(
        capsys,
        "liq",
        "--side",
        "long",
        "--entry-price",
        "60000",
        "--qty",
        "1",
        "--exchange",
        "binance-usdm",
        "--symbol",
        "BTCUSDT",
        "--leverage",
        "20",
        "--json",
    )
    assert code == 0
    r = json.loads(out)
    assert r["collateral"] == pytest.approx(3_000)
    # notional at liquidation (~57k) is in Binance's 50k-600k bracket: mmr 0.5 %, cum 50
    assert (r["tier"], r["mmr"], r["maint_amount"]) == (2, 0.005, 50.0)
    assert r["liquidation_price"] == pytest.approx((3_000 + 50 - 60_000) / (0.005 - 1))


def test_no_liquidation_is_null_in_json(capsys) -> None:
    code, out, _ = run(
        capsys,
        "liq",
        "--side",
        "long",
        "--entry-price",
        "100",
        "--qty",
        "1",
        "--collateral",
        "200",
        "--mmr",
        "0.01",
        "--json",
    )
    assert code == 0
    assert json.loads(out)["liquidation_price"] is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--side", "up", "--entry-price", "1", "--qty", "1", "--collateral", "1", "--mmr", "0"],
            "side='up'",
        ),
        (
            [
                "--side",
                "long",
                "--entry-price",
                "-5",
                "--qty",
                "1",
                "--collateral",
                "1",
                "--mmr",
                "0",
            ],
            "entry_price=-5.0",
        ),
        (
            [
                "--side",
                "long",
                "--entry-price",
                "1",
                "--qty",
                "1",
                "--exchange",
                "binance-usdm",
                "--symbol",
                "BTCUSDT",
                "--leverage",
                "500",
            ],
            "leverage=500.0",
        ),
        (
            [
                "--side",
                "long",
                "--entry-price",
                "1",
                "--qty",
                "1",
                "--exchange",
                "kraken",
                "--symbol",
                "X",
                "--leverage",
                "5",
            ],
            "exchange='kraken'",
        ),
        (["--side", "long", "--entry-price", "1", "--qty", "1"], "mmr/collateral"),
    ],
)
def test_errors_exit_2_and_name_the_field(capsys, argv: list[str], message: str) -> None:
    code, out, err = run(capsys, "liq", *argv)
    assert code == 2
    assert out == ""
    assert message in err


def test_demo_prints_every_position_in_both_modes(capsys) -> None:
    code, out, _ = run(capsys, "demo")
    assert code == 0
    from margin_kit import scenario

    acct = scenario.load().account
    for p in acct.positions:
        assert p.name in out
    assert out.count("isolated") >= len(acct) and out.count("cross") >= len(acct)
    iso = acct.with_mode("isolated").liquidation_prices()
    assert f"{iso['liquidation_price'].iloc[0]:,.2f}" in out


def test_console_script_is_installed() -> None:
    exe = Path(sys.executable).with_name("margin-kit")
    assert exe.exists(), "pip install -e . provides the margin-kit entry point"
    r = subprocess.run(
        [
            str(exe),
            "liq",
            "--side",
            "long",
            "--entry-price",
            "100",
            "--qty",
            "1",
            "--collateral",
            "10",
            "--mmr",
            "0.005",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(r.stdout)["bankruptcy_price"] == pytest.approx(90.0)


def test_export_of_a_missing_notebook_exits_2(capsys, tmp_path) -> None:
    out = tmp_path / "out.html"
    code, stdout, err = run(capsys, "export", str(tmp_path / "nope.ipynb"), "-o", str(out))
    assert code == 2 and stdout == ""
    assert "notebook=" in err and "nope.ipynb" in err and "an existing .ipynb file" in err
    assert not out.exists()


def test_export_of_a_failing_notebook_exits_1_and_writes_nothing(capsys, tmp_path) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# fails"),
        nbformat.v4.new_code_cell("x = 1\nundefined_name_in_cell + x"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    path = tmp_path / "fails.ipynb"
    nbformat.write(nb, path)
    out = tmp_path / "fails.html"
    code, stdout, err = run(capsys, "export", str(path), "-o", str(out), "--timeout", "60")
    assert code == 1 and stdout == ""
    assert f"{path}: a cell failed; nothing written." in err
    assert "undefined_name_in_cell + x" in err and "NameError" in err
    assert "\x1b[" not in err  # no terminal colour codes in the message
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["fails.ipynb"]


def test_report_and_export_are_documented_in_help(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["report", "--help"])
    text = capsys.readouterr().out
    for flag in ("-o OUTPUT", "--seed SEED", "--paths PATHS", "--quiet"):
        assert flag in text
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    assert "-o OUTPUT" in capsys.readouterr().out


def test_report_process_skips_the_iri_checker_and_still_validates_uris() -> None:
    # what `margin-kit report` does before importing altair: jsonschema then has no
    # rfc3987-syntax (seconds of grammar building), and altair still validates "uri" formats
    code = """
import sys
from margin_kit.cli import _skip_iri_format_checker
_skip_iri_format_checker()
import altair as alt, jsonschema
assert "iri" not in jsonschema.Draft7Validator.FORMAT_CHECKER.checkers
assert "uri-reference" in jsonschema.Draft7Validator.FORMAT_CHECKER.checkers
check = jsonschema.Draft7Validator.FORMAT_CHECKER
uri = jsonschema.Draft7Validator({"format": "uri"}, format_checker=check)
assert uri.is_valid("https://vega.github.io/schema/vega-lite/v6.json")
assert not uri.is_valid("no scheme")
alt.Chart(alt.UrlData("data/prices.csv")).mark_line().encode(x="t:Q").to_dict()
print("uri checked")
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "uri checked" in r.stdout
