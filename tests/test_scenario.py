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


# ----------------------------------------------------------------------------- model, questions
SHARED_CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "btc-usd-daily.csv"

ONE_SYMBOL = (
    GOOD
    + """
[model]
kind = "student-t"
vol = 0.6
dof = 4

[simulation]
horizon_days = 10
paths = 500
seed = 3
"""
)


def test_default_scenario_has_a_model_a_horizon_and_questions() -> None:
    import numpy as np

    from margin_kit.risk import CorrelatedGBM

    sc = scenario.load()
    assert isinstance(sc.model, CorrelatedGBM)
    assert sc.model.symbols == ("BTCUSDT", "ETHUSDT")
    np.testing.assert_allclose(sc.model.vols, [0.55, 0.70])
    np.testing.assert_allclose(sc.model.corr, [[1.0, 0.8], [0.8, 1.0]])
    assert sc.simulation.horizon == 30 / 365 and sc.simulation.paths == 20_000
    assert sc.simulation.seed == 7 and sc.simulation.steps == 30
    assert sc.sections == ("compare", "sizing", "efficiency", "stress")
    assert [c.kind for c in sc.stress] == ["crash", "crash"]
    assert sc.sizing.probability == (0.01, 0.05) and sc.sizing.distance == (0.10, 0.25)


def test_every_field_of_the_default_scenario_is_commented() -> None:
    """Each field is explained where it first appears (later [[positions]] repeat the keys)."""
    seen: set[str] = set()
    checked = 0
    for line in scenario.default_path().read_text("utf-8").splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key = line.split("=")[0].strip()
            if key not in seen:
                assert "#" in line, f"uncommented field: {line}"
                seen.add(key)
                checked += 1
    assert checked >= 30


def test_single_asset_models(tmp_path) -> None:
    from margin_kit.risk import GBM, MertonJump, StudentT

    sc = scenario.load(write(tmp_path, ONE_SYMBOL))
    assert isinstance(sc.model, StudentT) and sc.model.dof == 4 and sc.model.vol == 0.6
    assert sc.simulation.steps is None and sc.simulation.horizon == 10 / 365
    merton = ONE_SYMBOL.replace('kind = "student-t"', 'kind = "merton"').replace(
        "dof = 4", "jump_intensity = 5\njump_mean = -0.05\njump_std = 0.1\ndrift = 0.1"
    )
    m = scenario.load(write(tmp_path, merton)).model
    assert isinstance(m, MertonJump)
    assert (m.jump_intensity, m.jump_mean, m.jump_std, m.drift) == (5, -0.05, 0.1, 0.1)
    gbm = ONE_SYMBOL.replace('kind = "student-t"', 'kind = "gbm"').replace("dof = 4", "")
    assert isinstance(scenario.load(write(tmp_path, gbm)).model, GBM)


def test_one_asset_models_refuse_several_symbols(tmp_path) -> None:
    text = scenario.default_path().read_text("utf-8").replace('kind = "gbm"', 'kind = "merton"')
    with pytest.raises(ScenarioError, match=r"model\.correlation.*one of the fields"):
        scenario.load(write(tmp_path, text))
    text = text.replace("correlation = 0.8", "jump_intensity = 1\njump_mean = 0\njump_std = 0.1")
    with pytest.raises(ScenarioError, match=r"model\.kind='merton'.*'gbm' or 'bootstrap'"):
        scenario.load(write(tmp_path, text))


def test_bootstrap_reads_the_csv_beside_the_scenario(tmp_path, monkeypatch) -> None:
    import numpy as np
    import pandas as pd

    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "btc.csv").write_bytes(SHARED_CSV.read_bytes())
    text = (
        GOOD
        + """
[model]
kind = "bootstrap"
csv = "btc.csv"
start = "2020-01-01"
end = "2020-12-31"

[simulation]
horizon_days = 7
"""
    )
    path = write(folder, text)
    monkeypatch.chdir(tmp_path)  # relative to the scenario file, not the working directory
    sc = scenario.load(path)
    raw = pd.read_csv(SHARED_CSV, parse_dates=["Date"]).set_index("Date")
    close = raw.loc["2020-01-01":"2020-12-31", "Close"].to_numpy()
    np.testing.assert_allclose(sc.model.log_returns[:, 0], np.diff(np.log(close)), rtol=1e-12)
    assert sc.model_inputs["first"] == "2020-01-01" and sc.model_inputs["last"] == "2020-12-31"


@pytest.mark.parametrize(
    ("change", "field", "expected"),
    [
        (('csv = "btc.csv"', 'csv = "nope.csv"'), r"model\.csv", "existing CSV file"),
        (("horizon_days = 7", "horizon_days = 7.5"), r"simulation\.horizon_days", "whole number"),
        (('start = "2020-01-01"', 'start = "last spring"'), r"model\.start", "ISO date"),
        (('end = "2020-12-31"', 'end = "2001-01-01"'), r"model\.start/end", "at least 2 rows"),
        (('csv = "btc.csv"', "csv = 3"), r"model\.csv", "CSV path"),
    ],
)
def test_bootstrap_errors(tmp_path, change, field, expected) -> None:
    (tmp_path / "btc.csv").write_bytes(SHARED_CSV.read_bytes())
    text = (
        GOOD
        + """
[model]
kind = "bootstrap"
csv = "btc.csv"
start = "2020-01-01"
end = "2020-12-31"

[simulation]
horizon_days = 7
"""
    )
    with pytest.raises(ScenarioError, match=rf"{field}=.*expected .*{expected}"):
        scenario.load(write(tmp_path, text.replace(*change)))


def test_crash_path_shape() -> None:
    import numpy as np

    sc = scenario.load()
    crash, squeeze = sc.stress
    prices = crash.prices(sc.account)
    btc, eth = prices["BTCUSDT"].to_numpy(), prices["ETHUSDT"].to_numpy()
    spd = 24
    assert btc[0] == 61_000 and eth[0] == 2_950
    bottom = 2 * spd  # -35 % over 2 days, hourly
    assert btc[bottom] == pytest.approx(61_000 * 0.65, rel=1e-12)
    assert np.allclose(np.diff(np.log(btc[: bottom + 1]), 2), 0, atol=1e-12)  # geometric
    assert np.all(btc[bottom : bottom + spd + 1] == btc[bottom])  # 1 day at the low
    assert btc[-1] == pytest.approx(61_000 * 0.65 + 0.5 * 61_000 * 0.35, rel=1e-12)
    assert len(btc) == (2 + 1 + 5) * spd + 1
    assert prices["BTCUSDT"].index[-1] == 8.0
    up = squeeze.prices(sc.account)
    assert up["ETHUSDT"].iloc[-1] == pytest.approx(2_950 * 1.4, rel=1e-12)
    assert (up["BTCUSDT"] == 61_000).all()  # only ETH moves


def test_csv_stress_is_rebased_to_the_marks(tmp_path) -> None:
    import numpy as np

    (tmp_path / "btc.csv").write_bytes(SHARED_CSV.read_bytes())
    text = (
        scenario.default_path().read_text("utf-8")
        + """
[[stress]]
name = "March 2020"
kind = "csv"
csv = "btc.csv"
start = "2020-03-01"
end = "2020-03-31"
"""
    )
    sc = scenario.load(write(tmp_path, text))
    case = sc.stress[-1]
    prices = case.prices(sc.account)
    assert set(prices) == {"BTCUSDT", "ETHUSDT"}
    btc, eth = prices["BTCUSDT"], prices["ETHUSDT"]
    assert btc["close"].iloc[0] == pytest.approx(61_000) and eth["close"].iloc[0] == 2_950
    np.testing.assert_allclose(btc.to_numpy() / 61_000, eth.to_numpy() / 2_950, rtol=1e-12)
    assert len(btc) == 31 and str(btc.index[0].date()) == "2020-03-01"
    low_ratio = btc.loc["2020-03-12", "low"] / btc["close"].iloc[0]
    assert low_ratio == pytest.approx(4_860.0 / 8_562.454102, rel=1e-3)  # the March 12 crash
    with pytest.raises(ScenarioError, match=r"stress\[2\]\.rebase.*true when one CSV"):
        scenario.load(
            write(
                tmp_path, text.replace('end = "2020-03-31"', 'end = "2020-03-31"\nrebase = false')
            )
        )


def test_positions_on_one_symbol_must_share_the_mark_when_a_model_is_given(tmp_path) -> None:
    text = (
        scenario.default_path()
        .read_text("utf-8")
        .replace(
            "mark_price = 61000.0               # positions on one symbol share its mark",
            "mark_price = 60500.0",
        )
    )
    with pytest.raises(ScenarioError, match=r"positions\[2\]\.mark_price=60500.0.*61000"):
        scenario.load(write(tmp_path, text))
    account_only = text.split("[model]")[0]
    assert len(scenario.load(write(tmp_path, account_only)).account) == 3  # demo still works


def test_stress_listed_without_cases_is_an_error(tmp_path) -> None:
    text = ONE_SYMBOL + '\n[report]\nsections = ["compare", "stress"]\n'
    with pytest.raises(ScenarioError, match=r"stress=None.*one or more \[\[stress\]\]"):
        scenario.load(write(tmp_path, text))
    sc = scenario.load(write(tmp_path, ONE_SYMBOL))
    assert sc.sections == ("compare", "sizing", "efficiency")  # no stress cases, no section
