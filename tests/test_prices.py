"""Price loading: the real Bitcoin CSV as a user would load it, ccxt rows, and bad data."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED

from margin_kit.prices import PriceDataError, check_series, from_ccxt_ohlcv, load_ohlc, log_returns

BTC_CSV = SHARED / "data" / "btc-usd-daily.csv"

GOOD = """Date,Open,High,Low,Close,Adj Close,Volume
2020-03-10,7922.1,8136.9,7814.7,7909.7,7909.7,1
2020-03-11,7910.0,7950.8,7642.8,7911.4,7911.4,1
2020-03-12,7913.6,7929.1,4860.3,4970.7,4970.7,1
"""


def test_real_btc_file_loads_as_is() -> None:
    df = load_ohlc(BTC_CSV)
    # the data README: 2014-09-17 to 2024-03-31, 3,484 rows, and the 2020-03-12 crash day
    assert len(df) == 3484
    assert df.index[0] == pd.Timestamp("2014-09-17")
    assert df.index[-1] == pd.Timestamp("2024-03-31")
    assert round(df.loc["2020-03-12", "low"]) == 4860
    assert round(df.loc["2020-03-11", "close"]) == 7911
    assert list(df.columns) == ["open", "high", "low", "close", "volume"]
    r = log_returns(df)
    assert len(r) == len(df) - 1
    assert r.loc["2020-03-12"] == pytest.approx(np.log(4970.788086 / 7911.430176))


def test_ccxt_rows_and_epoch_ms() -> None:
    t0 = 1_583_798_400_000  # 2020-03-10T00:00Z in ms
    day = 86_400_000
    rows = [[t0 + i * day, 100.0, 110.0, 90.0, 105.0, 5.0] for i in range(3)]
    df = from_ccxt_ohlcv(rows)
    assert df.index[0] == pd.Timestamp("2020-03-10")
    assert df["close"].tolist() == [105.0] * 3


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (("7911.4,7911.4", ",7911.4"), r"2020-03-11 close.*nan"),
        (("7913.6,7929.1", "-7913.6,7929.1"), r"2020-03-12 open.*-7913.6"),
        (("2020-03-11", "2020-03-13"), r"row 2.*sorted"),
        (("2020-03-12", "2020-03-11"), r"row 2.*unique"),
        (("2020-03-12", "2020-03-14"), r"row 2.*gap"),
        (("7929.1,4860.3", "4929.1,4860.3"), r"2020-03-12 high/low"),
        (("Close", "Last"), r"columns"),
    ],
)
def test_bad_data_named(edit: tuple[str, str], match: str) -> None:
    text = GOOD.replace(*edit)
    with pytest.raises(PriceDataError, match=match):
        load_ohlc(io.StringIO(text))


def test_gaps_allowed_on_request_and_series_checks() -> None:
    df = load_ohlc(io.StringIO(GOOD.replace("2020-03-12", "2020-03-14")), allow_gaps=True)
    assert len(df) == 3
    with pytest.raises(PriceDataError, match=r"prices\[1\].*0.0"):
        check_series(pd.Series([1.0, 0.0, 2.0]))
    with pytest.raises(PriceDataError, match="at least 2"):
        check_series(pd.Series([1.0]))
    with pytest.raises(PriceDataError, match="increasing"):
        check_series(pd.Series([1.0, 2.0], index=[2, 1]))
    with pytest.raises(PriceDataError, match="existing CSV"):
        load_ohlc("/nonexistent/prices.csv")
