"""The offline HTML report (no browser): numbers, determinism, escaping, errors, size.

Browser checks (rendering with every request blocked) are in test_report_browser.py.
"""

from __future__ import annotations

import io
import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from altair.utils.schemapi import validate_jsonschema
from altair.vegalite.v6.schema.core import load_schema

import margin_kit as mk
from margin_kit import report, scenario
from margin_kit.cli import main
from margin_kit.engine import replay
from margin_kit.risk import hit_probability
from margin_kit.scenario import ScenarioError

DEFAULT = scenario.default_path().read_text("utf-8")
SMALL_PATHS = 2_000
HOSTILE = "<script>alert(1)</script>"
BREAKOUT = "</script><script>alert(2)</script><!--"


# ----------------------------------------------------------------------------- helpers
def small(text: str = DEFAULT) -> str:
    """The default scenario with few Monte Carlo paths (fast)."""
    assert "paths = 20000" in text
    return text.replace("paths = 20000", f"paths = {SMALL_PATHS}")


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


class _Page(HTMLParser):
    """Collects tables (by id: rows of {col: (text, data-value)}), scripts, and attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[dict[str, tuple[str, str | None]]]] = {}
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.attrs: list[tuple[str, str, str]] = []
        self.tags: list[str] = []
        self._table: str | None = None
        self._row: dict[str, tuple[str, str | None]] | None = None
        self._cell: tuple[str, str | None] | None = None
        self._text: list[str] = []
        self._script: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append(tag)
        for k, v in attrs:
            self.attrs.append((tag, k, v or ""))
        if tag == "table":
            self._table = a.get("id") or f"table-{len(self.tables)}"
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self._row = {}
        elif tag == "td" and self._row is not None:
            self._cell = (a.get("data-col") or "", a.get("data-value"))
            self._text = []
        elif tag == "script":
            self._script = a
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None and self._row is not None:
            col, value = self._cell
            self._row[col] = ("".join(self._text).strip(), value)
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            if self._row:
                self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None
        elif tag == "script" and self._script is not None:
            self.scripts.append((self._script, "".join(self._text)))
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None or self._script is not None:
            self._text.append(data)


def parse(page: str) -> _Page:
    p = _Page()
    p.feed(page)
    p.close()
    return p


def fmt(value: float, kind: str) -> str:
    """The documented display formats (report.SUMMARY_COLUMNS), written out independently."""
    if isinstance(value, str):
        return value
    if math.isnan(value):
        return "–"
    return {
        "price": f"{value:,.2f}",
        "money": f"{value:,.2f}",
        "pct": f"{value:.2f}%",
        "prob": f"{100 * value:.2f}%",
        "ratio": f"{100 * value:.2f}%",
        "sigma": f"{value:.2f}",
    }[kind]


def compare_of(sc: scenario.Scenario):
    """What `margin_kit.compare` gives for the scenario's settings (called here, independently)."""
    sim = sc.simulation
    return mk.compare(
        sc.account,
        sc.model,
        sim.horizon,
        paths=sim.paths,
        steps=sim.steps,
        seed=sim.seed,
        funding_rate=sc.funding_rate,
        move=sc.compare_options["move"],
        es_level=sc.compare_options["es_level"],
    )


def assert_summary_matches_compare(page: str, sc: scenario.Scenario) -> None:
    rows = parse(page).tables["summary"]
    expected = compare_of(sc)
    assert len(rows) == len(expected) == 2 * (len(sc.account) + 1)
    for row, (_, exp) in zip(rows, expected.iterrows(), strict=True):
        for col, (_label, kind) in report.SUMMARY_COLUMNS.items():
            text, value = row[col]
            assert text == fmt(exp[col], kind), (col, text, exp[col])
            if kind != "text":
                got = float(value)
                assert (math.isnan(got) and math.isnan(exp[col])) or got == exp[col], col


@pytest.fixture(scope="module")
def default_page() -> str:
    """The report of the shipped scenario, as `margin-kit report` makes it (20,000 paths)."""
    return report.build_report()


@pytest.fixture(scope="module")
def small_page(tmp_path_factory) -> tuple[str, Path]:
    path = write(tmp_path_factory.mktemp("small"), small())
    return report.build_report(path), path


# ----------------------------------------------------------------------------- numbers
def test_summary_table_shows_the_numbers_of_compare_for_the_default_scenario(default_page):
    assert_summary_matches_compare(default_page, scenario.load())


def test_sizing_answers_put_the_liquidation_where_the_target_says(small_page) -> None:
    """Plug each solved leverage back in: the isolated liquidation price at that leverage has
    the target hit probability (GBM closed form) or lies at the target distance from entry."""
    page, path = small_page
    sc = scenario.load(path)
    rows = parse(page).tables["sizing"]
    assert len(rows) == len(sc.account) * (len(sc.sizing.probability) + len(sc.sizing.distance))
    vols = dict(zip(sc.model.symbols, sc.model.vols, strict=True))
    checked = 0
    for row in rows:
        p = sc.account.position(row["position"][0])
        lev = float(row["max_leverage"][1])
        margin = p.qty * p.entry_price / lev
        tiers = p.market.tiers
        liq = float(mk.tiered_liquidation_price(p.side, p.entry_price, p.qty, margin, tiers))
        target = row["target"][0]
        if target.startswith("P("):
            alpha = float(re.search(r"≤ ([\d.]+)%", target).group(1)) / 100
            prob = float(hit_probability(p.entry_price, liq, vols[p.symbol], 30 / 365))
            assert prob == pytest.approx(alpha, rel=1e-6)
        else:
            d = float(re.search(r"≥ ([\d.]+)%", target).group(1)) / 100
            assert abs(liq / p.entry_price - 1) == pytest.approx(d, rel=1e-9)
        usable = float(row["usable_leverage"][1])
        assert usable == min(lev, float(row["tier_max_leverage"][1]))
        assert row["meets"][0] == ("yes" if p.leverage <= usable else "no")
        checked += 1
    assert checked == len(rows)


def test_stress_replay_liquidates_where_the_crash_path_crosses_the_liquidation_price(
    small_page,
) -> None:
    page, path = small_page
    sc = scenario.load(path)
    crash = sc.stress[0]
    prices = crash.prices(sc.account)
    btc = prices["BTCUSDT"]
    iso = sc.account.with_mode("isolated").liquidation_prices()
    liq = float(iso.loc["BTC long", "liquidation_price"])
    first = int(np.flatnonzero(btc.to_numpy() <= liq)[0])  # first mark at or below it
    rows = {r["mode"][0]: r for r in parse(page).tables["stress-0"]}
    assert "BTC long" in rows["isolated"]["liquidated"][0]
    assert rows["isolated"]["first_liquidation"][0] == f"day {btc.index[first]:.2f}"
    # the same replay run here gives the table's totals
    res = replay(sc.account, prices, margin_call_ratio=crash.margin_call_ratio)
    for mode in ("isolated", "cross"):
        liqs = res.liquidations(mode)
        assert float(rows[mode]["liquidations"][1]) == len(liqs)
        assert float(rows[mode]["loss_realised"][1]) == pytest.approx(liqs["loss"].sum())
        assert float(rows[mode]["equity_end"][1]) == pytest.approx(res.equity[mode][0, -1])


def test_crash_liquidation_loss_is_the_isolated_equity_at_most(small_page) -> None:
    """Beyond-bankruptcy fills are absorbed by the insurance fund: the account loses at most
    the position's isolated margin (its equity at entry)."""
    page, path = small_page
    sc = scenario.load(path)
    rows = {r["mode"][0]: r for r in parse(page).tables["stress-0"]}
    margin = sc.account.position("BTC long").isolated_margin
    assert float(rows["isolated"]["loss_realised"][1]) <= margin + 1e-9


# ----------------------------------------------------------------------------- determinism
def test_same_scenario_and_seed_give_the_same_bytes_but_the_timestamp(small_page) -> None:
    page, path = small_page
    again = report.build_report(path, generated="2000-01-01T00:00:00+00:00")
    assert again != page  # the timestamp differs ...
    assert report.strip_timestamp(again) == report.strip_timestamp(page)  # ... only it
    assert len(re.findall(r'<time id="generated"', page)) == 1


def test_another_seed_gives_other_monte_carlo_numbers(small_page) -> None:
    page, path = small_page
    other = report.build_report(path, seed=8)
    p0 = {
        (r["position"][0], r["mode"][0]): r["p_liquidation"][1]
        for r in parse(page).tables["summary"]
    }
    p1 = {
        (r["position"][0], r["mode"][0]): r["p_liquidation"][1]
        for r in parse(other).tables["summary"]
    }
    assert p0.keys() == p1.keys()
    assert p0 != p1
    assert "seed 8" in other


# ----------------------------------------------------------------------------- offline
def test_page_references_nothing_outside_itself(default_page) -> None:
    page = parse(default_page)
    for tag, attr, value in page.attrs:
        if attr in ("src", "href", "action", "poster", "data", "srcset"):
            assert not re.match(r"\s*(https?:|//|ftp:)", value, re.I), (tag, attr, value)
    assert "link" not in page.tags and "iframe" not in page.tags and "img" not in page.tags
    css = " ".join(t for a, t in page.scripts) + default_page
    assert not re.search(r"@import|url\(\s*['\"]?(https?:)?//", css)
    assert not re.search(r"cdn\.jsdelivr|unpkg\.com|cdnjs", default_page)
    # the vega bundle once, and every chart a JSON data block
    bundles = [t for a, t in page.scripts if "vegaEmbed" in t and len(t) > 100_000]
    assert len(bundles) == 1
    charts = [(a, t) for a, t in page.scripts if a.get("type") == "application/json"]
    assert len(charts) >= 15
    schema = load_schema()
    for _, text in charts:
        spec = json.loads(text)
        assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/v6")
        validate_jsonschema(spec, schema)  # raises on an invalid Vega-Lite spec


def test_default_report_is_under_3_mb(default_page) -> None:
    assert len(default_page.encode("utf-8")) < 3_000_000


def test_formulas_are_mathml_and_inputs_and_sources_are_shown(default_page) -> None:
    page = default_page
    assert page.count("<math ") >= 4 * 5  # 4 derivations of 5 steps, plus the risk formulas
    assert "$" not in re.sub(r"<script.*?</script>", "", page, flags=re.S)  # no raw TeX
    assert f"margin_kit {mk.__version__}" in page
    preset = mk.exchanges.get("binance-usdm")
    for src in preset.sources:
        assert src.url.replace("&", "&amp;") in page or src.url in page
    assert 'id="positions"' in page and "default_scenario.toml" in page


# ----------------------------------------------------------------------------- escaping
def test_names_from_the_scenario_are_text_everywhere(tmp_path) -> None:
    text = small().replace('name = "BTC long"', f'name = "{HOSTILE}"')
    text = text.replace('name = "ETH short"', f'name = "{BREAKOUT}"')
    text = text.replace('title = "Isolated vs cross: demo account"', f'title = "{HOSTILE}"')
    page = report.build_report(write(tmp_path, text))
    assert HOSTILE not in page and "<script>alert" not in page
    assert "</script><script>" not in page and "<!--" not in page
    parsed = parse(page)
    # every script is either the bundle, the loader or a JSON block; none was injected
    kinds = [a.get("type") for a, _ in parsed.scripts]
    assert set(kinds) <= {None, "application/json"}
    assert sum(k is None for k in kinds) == 2  # the vega bundle and the chart loader
    names = {r["position"][0] for r in parsed.tables["summary"]}
    assert HOSTILE in names and BREAKOUT in names  # shown as text
    specs = [json.loads(t) for a, t in parsed.scripts if a.get("type") == "application/json"]
    assert any(BREAKOUT in json.dumps(s, ensure_ascii=False) for s in specs)  # data intact


def test_script_json_cannot_close_its_block() -> None:
    text = str(report._script_json({"name": BREAKOUT, "x": "a & b > c"}))
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"name": BREAKOUT, "x": "a & b > c"}


# ----------------------------------------------------------------------------- errors
BAD_SCENARIOS = [
    (
        'name = "BTC long"',
        'name = "BTC long"\ncolour = "red"',
        r"positions\[0\]\.colour",
        "one of the fields",
    ),
    ("qty = 0.5", 'qty = "half"', r"positions\[0\]\.qty", "a number"),
    ("entry_price = 60000.0", "# no entry price", r"positions\[0\]\.entry_price", "required"),
    ('exchange = "binance-usdm"', 'exchange = "mtgox"', r"account\.exchange", "one of"),
    ('symbol = "ETHUSDT"', 'symbol = "DOGEUSDT"', r"positions\[1\]\.symbol", "one of"),
    ('kind = "gbm"', 'kind = "garch"', r"model\.kind", "one of"),
    ("vol = { BTCUSDT = 0.55, ETHUSDT = 0.70 }", 'vol = "high"', r"model\.vol", "a number"),
    (
        "vol = { BTCUSDT = 0.55, ETHUSDT = 0.70 }",
        "vol = { BTCUSDT = 0.55 }",
        r"model\.vol\.ETHUSDT",
        "required",
    ),
    (
        "vol = { BTCUSDT = 0.55, ETHUSDT = 0.70 }",
        "vol = { BTCUSDT = 0.5, ETHUSDT = 0.7, XRP = 1 }",
        r"model\.vol\.XRP",
        "a symbol of the account",
    ),
    ("correlation = 0.8", "correlation = 1.5", r"model\.correlation", r"\[-1, 1\]"),
    ("horizon_days = 30", "horizon_days = -3", r"simulation\.horizon_days", "> 0"),
    ("paths = 2000", "paths = 1.5", r"simulation\.paths", "an integer"),
    ("seed = 7", "seed = true", r"simulation\.seed", "an integer"),
    (
        "probability = [0.01, 0.05]",
        "probability = [0.01, 5]",
        r"sizing\.probability\[1\]",
        r"fraction in \(0, 1\)",
    ),
    (
        'sections = ["compare", "sizing", "efficiency", "stress"]',
        'sections = ["everything"]',
        r"report\.sections\[0\]",
        "one of",
    ),
    ("move = -0.35", "move = -1.5", r"stress\[0\]\.move", "> -1"),
    (
        'symbols = ["ETHUSDT"]',
        'symbols = ["SOLUSDT"]',
        r"stress\[1\]\.symbols\[0\]",
        "a symbol of the account",
    ),
    (
        'kind = "crash"                     # "crash"',
        'kind = "flash"                     #',
        r"stress\[0\]\.kind",
        "one of",
    ),
    ("es_level = 0.975", "es_level = 0.2", r"compare\.es_level", r"\[0\.5, 1\)"),
]


@pytest.mark.parametrize(
    ("old", "new", "field", "expected"),
    BAD_SCENARIOS,
    ids=[b[2].replace("\\", "") for b in BAD_SCENARIOS],
)
def test_malformed_scenario_names_file_field_expected_and_writes_nothing(
    tmp_path, capsys, old, new, field, expected
) -> None:
    assert old in DEFAULT, old
    path = write(tmp_path, small().replace(old, new, 1))
    out = tmp_path / "out" / "report.html"
    code = main(["report", str(path), "-o", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert re.search(rf"{re.escape(str(path))}: {field}=.*expected .*{expected}", err), err
    assert not out.exists() and not out.parent.exists()
    with pytest.raises(ScenarioError, match=rf"{field}=.*{expected}"):
        report.build_report(path)


def test_report_needs_a_model_and_a_horizon(tmp_path, capsys) -> None:
    account_only = DEFAULT.split("[model]")[0]
    path = write(tmp_path, account_only)
    assert len(scenario.load(path).account) == 3  # fine for `margin-kit demo`
    out = tmp_path / "r.html"
    assert main(["report", str(path), "-o", str(out)]) == 2
    assert "model=None: expected a [model] table" in capsys.readouterr().err
    assert not out.exists()
    no_sim = re.sub(r"\[simulation\].*?\n\n", "", small(), flags=re.S)
    assert main(["report", str(write(tmp_path, no_sim, "b.toml")), "-o", str(out)]) == 2
    assert "simulation=None: expected a [simulation] table" in capsys.readouterr().err
    assert not out.exists()


def test_a_failed_report_leaves_an_existing_file_alone(tmp_path, capsys) -> None:
    out = tmp_path / "report.html"
    out.write_text("previous report")
    bad = write(tmp_path, small().replace("qty = 0.5", "qty = -0.5"))
    assert main(["report", str(bad), "-o", str(out), "-q"]) == 2
    assert "positions[0].qty" in capsys.readouterr().err
    assert out.read_text() == "previous report"
    assert sorted(tmp_path.iterdir()) == sorted([bad, out])  # no temp file left behind


# ----------------------------------------------------------------------------- CLI
def test_cli_report_writes_the_file_and_says_so(tmp_path, capsys) -> None:
    path = write(tmp_path, small())
    out = tmp_path / "build" / "report.html"
    assert main(["report", str(path), "-o", str(out), "--seed", "3", "--paths", "500"]) == 0
    stdout = capsys.readouterr().out
    assert re.fullmatch(rf"wrote {re.escape(str(out))} \(\d+\.\d\d MB\) in \d+\.\d s\n", stdout)
    page = out.read_text("utf-8")
    assert "500 paths" in page and "seed 3" in page
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]  # no temp file left


def test_cli_rejects_bad_overrides(tmp_path, capsys) -> None:
    path = write(tmp_path, small())
    assert main(["report", str(path), "-o", str(tmp_path / "r.html"), "--paths", "1"]) == 2
    assert "--paths=1: expected an integer >= 2" in capsys.readouterr().err
    assert main(["report", str(path), "-o", str(tmp_path / "r.html"), "--seed", "-1"]) == 2
    assert "--seed=-1" in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()


def test_progress_bar_draws_on_a_terminal_only() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty, pipe = Tty(), io.StringIO()
    for stream in (tty, pipe):
        bar = report.Progress(2, stream=stream)
        bar.step("compare")
        bar.advance()
        bar.step("render")
        bar.advance()
        bar.close()
    assert pipe.getvalue() == ""
    assert "[" + "#" * 12 + "." * 12 + "] 1/2" in tty.getvalue()
    assert tty.getvalue().endswith("\n") and "2/2" in tty.getvalue()
    quiet = Tty()
    bar = report.Progress(2, enabled=False, stream=quiet)
    bar.advance()
    bar.close()
    assert quiet.getvalue() == ""


# ----------------------------------------------------------------------------- math
def test_latex_to_mathml_keeps_structure_and_escapes_text() -> None:
    ml = report.latex_to_mathml(
        r"\begin{aligned} a &= \frac{1}{2} \\ \text{<b>x</b>} &\le y "
        r"\end{aligned}",
        display=True,
    )
    assert ml.startswith('<math xmlns="http://www.w3.org/1998/Math/MathML" display="block">')
    assert "<mtable" in ml and "<mfrac>" in ml and "&lt;b&gt;x&lt;/b&gt;" in ml
    assert "<b>" not in ml and "&amp;#x" not in ml and "<mi>&amp;</mi>" not in ml
    assert '<annotation encoding="application/x-tex">' in ml


@pytest.mark.parametrize("tex", [r"\frac{a}{", r"\unknowncommand{x}"])
def test_latex_that_cannot_be_converted_is_an_input_error(tex) -> None:
    with pytest.raises(mk.InputError, match="latex"):
        report.latex_to_mathml(tex)


def test_vega_bundle_is_cached_on_disk_and_identical(tmp_path, monkeypatch) -> None:
    from margin_kit import charts

    monkeypatch.setenv("MARGIN_KIT_CACHE", str(tmp_path / "cache"))
    first = report.vega_js()
    assert first == charts.vega_bundle()  # no "</script" to escape in this bundle
    files = list((tmp_path / "cache").iterdir())
    assert len(files) == 1 and files[0].name.startswith("vega-bundle-")

    def boom() -> str:
        raise AssertionError("the cached file should have been used")

    monkeypatch.setattr(charts, "vega_bundle", boom)
    assert report.vega_js() == first
    monkeypatch.setenv("MARGIN_KIT_CACHE", "0")  # caching off: builds again
    with pytest.raises(AssertionError, match="cached file"):
        report.vega_js()


SHARED_CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "btc-usd-daily.csv"
BOOTSTRAP = """
[account]
name = "one BTC"
exchange = "bybit-linear"
wallet_balance = 5000.0

[[positions]]
name = "BTC long"
symbol = "BTCUSDT"
side = "long"
qty = 0.1
entry_price = 60000.0
leverage = 20
margin_mode = "isolated"

[[positions]]
name = "BTC short"
symbol = "BTCUSDT"
side = "short"
qty = 0.05
entry_price = 60000.0
leverage = 10
margin_mode = "cross"

[model]
kind = "bootstrap"
csv = "btc.csv"
start = "2021-01-01"

[simulation]
horizon_days = 14
paths = 1000
seed = 11

[report]
sections = ["compare", "stress"]

[[stress]]
name = "March 2020"
kind = "csv"
csv = "btc.csv"
start = "2020-03-01"
end = "2020-03-31"
"""


def test_bootstrap_scenario_with_a_historical_stress(tmp_path) -> None:
    """Another exchange, a bootstrap of real returns and a real crash window: the summary is
    compare's, and the replay liquidates on the first day whose (rebased) low reaches the
    isolated liquidation price."""
    (tmp_path / "btc.csv").write_bytes(SHARED_CSV.read_bytes())
    path = write(tmp_path, BOOTSTRAP)
    page = report.build_report(path)
    sc = scenario.load(path)
    assert_summary_matches_compare(page, sc)
    parsed = parse(page)
    assert "sizing" not in parsed.tables and "efficiency" not in parsed.tables  # not asked
    liq = float(sc.account.liquidation_prices().loc["BTC long", "liquidation_price"])
    lows = sc.stress[0].prices(sc.account)["BTCUSDT"]["low"]
    first_day = lows.index[(lows <= liq).to_numpy().argmax()]
    assert (lows <= liq).any()
    rows = {r["mode"][0]: r for r in parsed.tables["stress-0"]}
    assert rows["isolated"]["liquidated"][0] == "BTC long"
    assert rows["isolated"]["first_liquidation"][0] == str(first_day.date())
    assert "Bybit&#39;s rule differs in the maintenance term (tier by entry)" in page


def test_benchmark_quick_runs_and_reports_size_time_and_ratios() -> None:
    import subprocess
    import sys

    script = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_report.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--quick"], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert re.search(r"\(a\) margin-kit report \(fresh process\)\s+\d+\.\d\d s", out), out
    assert re.search(r"report / compare alone\s+:\s+\d+\.\dx", out), out
    assert re.search(r"size: \d\.\d\d MB", out), out
    assert re.search(r"size < 3 MB: (yes|NO); time < 10 s: (yes|NO)", out), out
