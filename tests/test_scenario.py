"""Scenario files: the shipped default, and clear errors for malformed ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from margin_kit import scenario
from margin_kit.scenario import ScenarioError

GOOD = """
[account]
exchange = "binance-usdm"
wallet_balance = 1000.0

[[positions]]
symbol = "BTCUSDT"
side = "long"
qty = 0.01
entry_price = 60000.0
leverage = 10
margin_mode = "cross"
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "s.toml"
    p.write_text(text)
    return p


def test_default_scenario_loads() -> None:
    sc = scenario.load()
    assert sc.exchange == "binance-usdm"
    assert len(sc.account) >= 3
    assert {p.margin_mode for p in sc.account.positions} == {"isolated", "cross"}


def test_minimal_file(tmp_path: Path) -> None:
    sc = scenario.load(write(tmp_path, GOOD))
    assert sc.account.positions[0].name == "BTCUSDT long"
    assert sc.account.positions[0].mark_price == 60000.0


@pytest.mark.parametrize(
    ("change", "field", "expected"),
    [
        (
            ("qty = 0.01", 'qty = 0.01\ncolour = "red"'),
            r"positions\[0\].colour",
            "one of the fields",
        ),
        (("qty = 0.01", 'qty = "a lot"'), r"positions\[0\].qty", "a number"),
        (("entry_price = 60000.0\n", ""), r"positions\[0\].entry_price", "required"),
        (('"binance-usdm"', '"mtgox"'), "account.exchange", "one of"),
        (('"BTCUSDT"', '"DOGEUSDT"'), r"positions\[0\].symbol", "one of"),
        (("leverage = 10", "leverage = 500"), r"positions\[0\].leverage", "max leverage"),
        (("qty = 0.01", "qty = -1"), r"positions\[0\].qty", "> 0"),
        (("[account]", "[acount]"), "acount", r"only \[account\]"),
    ],
)
def test_malformed_files_name_file_field_and_expectation(tmp_path, change, field, expected) -> None:
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(ScenarioError, match=rf"{field}.*{expected}") as info:
        scenario.load(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="existing scenario file"):
        scenario.load(tmp_path / "nope.toml")
    with pytest.raises(ScenarioError, match="valid TOML"):
        scenario.load(write(tmp_path, "[account\n"))
