"""Altair charts of margin_kit's tables, and how notebooks render them (live or offline).

Every builder takes a frame a core function returns and gives back an altair chart (valid
Vega-Lite 6) with a title, axis titles carrying units (the settle currency, ``%``, days) and
tooltips; margin modes are coloured by :func:`mode_scale` (:data:`MODE_COLORS`) everywhere.

=================================  ==============================================================
builder                            input
=================================  ==============================================================
:func:`equity_vs_price`            :func:`margin_kit.compare.price_sweep`
:func:`liquidation_vs_leverage`    :func:`margin_kit.compare.leverage_sweep`
:func:`probability_vs_leverage`    :func:`margin_kit.compare.leverage_sweep` (with ``horizon``)
:func:`loss_frontier`              :func:`margin_kit.compare.leverage_sweep` (with ``horizon``)
:func:`capital_usage`              :func:`margin_kit.compare` (its table)
:func:`comparison`                 :func:`margin_kit.compare` (its table)
:func:`tier_ladder`                :class:`~margin_kit.tiers.TierTable` or its ``to_frame()``
:func:`path_fan`                   :func:`margin_kit.risk.fan_frame`
:func:`replay_equity`              :class:`~margin_kit.engine.ReplayResult`
=================================  ==============================================================

Rendering: :func:`setup` picks the renderer once per notebook. Live (JupyterLab):
``alt.renderers.enable("jupyter", offline=True)``, the JupyterChart widget with its JavaScript
from vl-convert (no CDN). Static (``MARGIN_KIT_RENDER=static``, what ``margin-kit export`` sets
for its kernel): :func:`offline_renderer`, registered as the altair renderer ``"margin_kit"``,
writes each chart as a small script that waits for ``window.vegaEmbed``; the exported page
inlines :func:`vega_bundle` once.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import altair as alt
import jinja2
import numpy as np
import pandas as pd
from altair.utils.data import to_values
from altair.utils.mimebundle import spec_to_mimebundle
from altair.vegalite.v6.display import VEGA_VERSION, VEGAEMBED_VERSION, VEGALITE_VERSION

from margin_kit._errors import InputError
from margin_kit.compare import ACCOUNT_ROW, PRICE_SWEEP_COLUMNS
from margin_kit.engine import ReplayResult
from margin_kit.tiers import TierTable

__all__ = [
    "MODE_COLORS",
    "RENDER_ENV",
    "capital_usage",
    "comparison",
    "equity_vs_price",
    "liquidation_vs_leverage",
    "loss_frontier",
    "mode_scale",
    "offline_renderer",
    "path_fan",
    "probability_vs_leverage",
    "render_mode",
    "replay_equity",
    "setup",
    "tier_ladder",
    "vega_bundle",
]

#: One colour per margin mode, used by every chart (Okabe-Ito blue and vermillion: told apart
#: with the common colour-vision deficiencies and in greyscale by lightness).
MODE_COLORS: dict[str, str] = {"isolated": "#0072B2", "cross": "#D55E00"}

#: Environment variable that selects the static renderer in :func:`setup`.
RENDER_ENV = "MARGIN_KIT_RENDER"

# One chart of the static renderer: no top-level const/let, so many charts can share a page;
# waits for the vega-embed bundle the exported page inlines once.
_CHART_TEMPLATE = jinja2.Template(
    """<div id="{{ output_div }}" class="margin-kit-chart"></div>
<script type="text/javascript">
(function(spec, embedOpt) {
  function go() {
    if (window.vegaEmbed) {
      window.vegaEmbed("#{{ output_div }}", spec, embedOpt).catch(console.error);
    } else {
      setTimeout(go, 25);
    }
  }
  go();
})({{ spec }}, {{ embed_options }});
</script>"""
)


# ----------------------------------------------------------------------------- style
def mode_scale() -> alt.Scale:
    """The colour scale of margin modes: ``domain`` the modes, ``range`` :data:`MODE_COLORS`."""
    return alt.Scale(domain=list(MODE_COLORS), range=list(MODE_COLORS.values()))


# ----------------------------------------------------------------------------- helpers
_GREY = "#666666"
_FAN = "#4a5868"
_FONT = 11
_EVENT_SHAPES = {"partial_liquidation": "diamond", "liquidation": "cross"}


def _frame(value: Any, field: str, columns: Sequence[str], producer: str) -> pd.DataFrame:
    """Check ``value`` is a non-empty DataFrame with ``columns``; name any that is missing."""
    if not isinstance(value, pd.DataFrame):
        raise InputError(field, type(value).__name__, f"a DataFrame as {producer} returns")
    missing = [c for c in columns if c not in value.columns]
    if missing:
        raise InputError(
            f"{field}.columns",
            missing,
            f"a frame as {producer} returns, with columns {list(columns)} (missing {missing})",
        )
    if value.empty:
        raise InputError(field, "an empty frame", f"one or more rows, as {producer} returns")
    return value


def _attr(frame: pd.DataFrame, key: str, default: Any = None) -> Any:
    value = frame.attrs.get(key, default)
    return default if value is None else value


def _unit(explicit: str | None, frame: pd.DataFrame, key: str, fallback: str) -> str:
    if explicit:
        return str(explicit)
    return str(_attr(frame, key, "") or fallback)


def _currency_from_symbols(table: pd.DataFrame) -> str | None:
    """``USDT``/``USDC`` when every symbol of the table is quoted (and so settled) in it."""
    symbols = {str(s) for s in table["symbol"] if str(s)} if "symbol" in table else set()
    for quote in ("USDT", "USDC"):
        if symbols and all(s.endswith(quote) for s in symbols):
            return quote
    return None


def _modes_in(frame: pd.DataFrame, field: str) -> list[str]:
    modes = list(dict.fromkeys(str(m) for m in frame["mode"]))
    for m in modes:
        if m not in MODE_COLORS:
            raise InputError(f"{field}.mode", m, f"one of {list(MODE_COLORS)}")
    return modes


# Building a chart cheaply (the spec is the same as altair's shorthand API gives):
# - altair wraps every encoding given as a shorthand string ("price:Q"), ``alt.value(...)``,
#   ``alt.condition(...)``/``alt.when(...)`` or a dict with ``from_dict``, about 2 ms each;
#   typed channel objects (``alt.X(field=..., type=...)``, ``alt.XValue(...)``) are stored as
#   they are (microseconds).
# - nested properties (scale, axis, legend, title, mark) are plain dicts: schema objects such as
#   ``alt.Legend`` carry dozens of properties, are validated when created and copied again each
#   time a chart is layered or serialised.
# - data: a DataFrame is converted to rows at every serialisation, once per layer holding it
#   (about 1 ms a frame, most of what ``to_dict`` costs); :class:`_Rows` converts it once.
_TYPES = {"Q": "quantitative", "N": "nominal", "O": "ordinal", "T": "temporal"}


class _Rows(alt.InlineData):
    """A DataFrame's rows as a chart's inline data, converted once (see :func:`_rows`).

    Serialised as altair serialises a DataFrame with its default data transformer (a named
    dataset: the same name and rows), but without converting the frame again at every
    ``to_dict``. Shared, not copied, when altair copies a chart (layering and serialising copy
    every layer): treat it as immutable.
    """

    # not validated when created (the rows are validated with the chart's spec)
    _class_is_valid_at_instantiation = False

    def __deepcopy__(self, memo: Any = None) -> _Rows:
        return self


def _value(v: Any) -> Any:
    """One value of an object column as altair embeds it: missing as None, arrays as lists."""
    if v is None or v is pd.NaT or (isinstance(v, float) and v != v):
        return None
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.number | np.bool_):  # as pandas boxes them in its records
        return None if isinstance(v, np.floating) and v != v else v.item()
    return v


def _rows(frame: Any) -> Any:
    """``frame`` (a DataFrame) as :class:`_Rows`; anything else as it is.

    The rows are those of altair's default data transformer (``altair.utils.data.to_values``):
    floats with NaN and infinities as None, numpy scalars as Python ones, datetimes as ISO
    strings; any other dtype goes through ``to_values`` itself. The frame stays a DataFrame
    (converted by altair when serialised, as usual) when another data transformer is enabled
    (``alt.data_transformers``: the user's choice applies) or when it has more rows than the
    default transformer's ``max_rows`` (altair then raises its ``MaxRowsError``).
    """
    if not isinstance(frame, pd.DataFrame) or alt.data_transformers.active != "default":
        return frame
    max_rows = alt.data_transformers.options.get("max_rows", 5000)
    if max_rows is not None and len(frame) > max_rows:
        return frame
    columns: dict[str, list] = {}
    for name, col in frame.items():
        kind = col.dtype.kind
        if not isinstance(name, str) or kind not in "fiubOM" or str(col.dtype) == "category":
            return _Rows(values=to_values(frame)["values"])
        values = col.to_numpy()
        if kind == "f":
            out = values.tolist()
            for i in np.flatnonzero(~np.isfinite(values)):
                out[i] = None
        elif kind == "M":
            out = ["" if t is pd.NaT else t.isoformat() for t in col]
        elif kind == "O":
            out = [_value(v) for v in values]
        else:
            out = values.tolist()
        columns[name] = out
    names = list(columns)
    return _Rows(
        values=[dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]
    )


def _enc(channel: Any, field: str, **props: Any) -> Any:
    """The encoding ``channel`` of ``field`` (``"price:Q"``: name and type) as a typed object."""
    name, code = field.rsplit(":", 1)
    return channel(field=name, type=_TYPES[code], **props)


def _tip(field: str, title: str, fmt: str | None = None) -> alt.Tooltip:
    """A tooltip entry for ``field`` (``"price:Q"``), with a d3 format if given."""
    if fmt is None:
        return _enc(alt.Tooltip, field, title=title)
    return _enc(alt.Tooltip, field, title=title, format=fmt)


def _chart(
    data: Any,
    mark: str,
    encoding: Mapping[str, Any],
    *,
    transform: list | None = None,
    params: list | None = None,
    **style: Any,
) -> alt.Chart:
    """``alt.Chart(data).mark_<mark>(**style).encode(**encoding)``, built directly.

    ``encoding`` holds typed channel objects only (see :func:`_enc`). A DataFrame is converted
    by :func:`_rows`: convert a frame that several layers share first, so they share its rows
    (as they shared the frame; altair lifts data that every layer shares to the layer chart).
    """
    extra: dict[str, Any] = {}
    if transform:
        extra["transform"] = transform
    if params:
        extra["params"] = params
    return alt.Chart(
        _rows(data), mark={"type": mark, **style}, encoding=alt.FacetedEncoding(**encoding), **extra
    )


def _mode_scale() -> dict[str, list[str]]:
    """:func:`mode_scale` as a dict (a fresh one each call)."""
    return {"domain": list(MODE_COLORS), "range": list(MODE_COLORS.values())}


def _color(legend: bool = True, symbol: str = "circle") -> alt.Color:
    """Colour by margin mode with :func:`mode_scale`."""
    return _enc(
        alt.Color,
        "mode:N",
        scale=_mode_scale(),
        title="Margin mode",
        legend={
            "orient": "top",
            "title": None,
            "symbolType": symbol,
            "symbolOpacity": 1,
            "symbolStrokeWidth": 3,
        }
        if legend
        else None,
    )


def _mode_where(test: str, otherwise: str) -> alt.ColorValue:
    """Colour by margin mode where the Vega expression ``test`` holds, else ``otherwise``."""
    mode = {"field": "mode", "type": "nominal", "scale": _mode_scale(), "title": "Margin mode"}
    return alt.ColorValue(otherwise, condition={"test": test, **mode, "legend": None})


def _hover_opacity(hover: alt.Parameter) -> alt.OpacityValue:
    """Opacity 1 on the points ``hover`` selects, else 0."""
    return alt.OpacityValue(0, condition=[{"param": hover.name, "empty": False, "value": 1}])


def _halo_text(data: Any, style: dict, where: dict, color: Any) -> list[alt.Chart]:
    """A text layer over a white-stroked copy of itself (readable over lines and grid)."""
    data = _rows(data)
    return [
        _chart(data, "text", where, **style, stroke="white", strokeWidth=4, strokeOpacity=0.9),
        _chart(data, "text", {**where, "color": color}, **style),
    ]


def _note(data: pd.DataFrame, x: float, y: float, align: str = "center", size: int = 12) -> list:
    """Bold text at pixel ``(x, y)`` coloured by ``data["mode"]`` (column ``note``), haloed."""
    style = {
        "align": align,
        "fontSize": size,
        "fontWeight": "bold",
        "baseline": "middle",
        "lineBreak": "\n",
    }
    where = {"x": alt.XValue(x), "y": alt.YValue(y), "text": _enc(alt.Text, "note:N")}
    data = _rows(data)
    return [
        _chart(data, "text", where, **style, stroke="white", strokeWidth=4),
        _chart(data, "text", {**where, "color": _color(legend=False)}, **style),
    ]


# Text widths, to place labels where they fit: per character, in ems of the font size, for
# DejaVu Sans (a common sans-serif, wider than Arial/Liberation Sans): an upper bound on the
# browser's usual fonts, so a label placed by these widths never overlaps another.
_NARROW = frozenset(".,:;'!|il ")
_EM_DIGIT, _EM_NARROW, _EM_LOWER, _EM_OTHER = 0.64, 0.33, 0.62, 0.74


def _text_px(text: str, size: float = _FONT, bold: bool = False) -> float:
    """An upper bound on the width of ``text`` in pixels (``size`` px sans-serif)."""
    em = 0.0
    for ch in text:
        if ch in _NARROW:
            em += _EM_NARROW
        elif ch.isdigit():
            em += _EM_DIGIT
        elif ch.islower():
            em += _EM_LOWER
        else:
            em += _EM_OTHER
    return em * size * (1.08 if bold else 1.0)


def _tick_values(lo: float, hi: float, step: float) -> list[float]:
    """Multiples of ``step`` in ``[lo, hi]``, rounded to the step's precision."""
    first, last = np.ceil(lo / step - 1e-9), np.floor(hi / step + 1e-9)
    digits = max(0, 1 - int(np.floor(np.log10(step)))) + 6
    return [round(float(k * step), digits) + 0.0 for k in np.arange(first, last + 1)]  # no -0


def _tick_format(values: Sequence[float], step: float) -> tuple[str, list[str]]:
    """A d3 format for ticks ``step`` apart, and the labels it gives (for their widths).

    Values from 10 000 on are abbreviated (``"57.5k"``, ``"1.2M"``) with just the significant
    digits the step needs; smaller ones are written out with the decimals the step needs
    (``"2,950"``, ``"0.125"``).
    """
    top = max((abs(v) for v in values), default=0.0)
    k_step = int(np.floor(np.log10(step) + 1e-9))
    if top >= 1e4:
        digits = max(1, int(np.floor(np.log10(top) + 1e-9)) - k_step + 1)
        labels = []
        for v in values:
            group = int(np.floor(np.log10(abs(v)) / 3)) if v else 0
            mantissa = v / 1000.0**group
            labels.append(f"{mantissa:.{digits}g}" + ("", "k", "M", "G", "T")[min(group, 4)])
        return f".{digits}~s", labels
    decimals = max(0, -k_step)
    return f",.{decimals}f", [f"{v:,.{decimals}f}" for v in values]


def _x_axis(lo: float, hi: float, width: float) -> dict[str, Any]:
    """Axis properties of a horizontal quantitative axis over ``[lo, hi]``, ``width`` px wide.

    Ticks at round steps (1, 2 or 5 times a power of ten) chosen from the labels' widths, so
    labels never run together however narrow the chart (at least 40 px between ticks, as
    Vega's default, and room for the widest label); values from 10 000 on abbreviated
    (:func:`_tick_format`). Vega's label-overlap check stays on as a safety net.
    """
    axis: dict[str, Any] = {"labelOverlap": True, "labelSeparation": 4}
    span = hi - lo
    if not (np.isfinite(lo) and np.isfinite(hi) and span > 0 and width > 0):
        return axis
    k = int(np.floor(np.log10(span * 40.0 / width)))
    for step in (m * 10.0**e for e in range(k, k + 4) for m in (1, 2, 5)):
        spacing = width * step / span
        if spacing < 40:
            continue
        values = _tick_values(lo, hi, step)
        fmt, labels = _tick_format(values, step)
        widest = max((_text_px(t, 10) for t in labels), default=0.0)
        if len(values) >= 2 and spacing >= widest + 10:
            return {"values": values, "format": fmt, **axis}
    return axis  # too narrow for two labelled ticks: Vega's own, overlapping ones hidden


def _room(
    ends: Sequence[float],
    labels: Sequence[str],
    width: float,
    least: float,
    gap: float,
    size: float = _FONT,
) -> float:
    """Top of a zero-based axis that leaves room for each label right of its bar's end.

    At least ``least``; more when a label ``gap`` px after its end (``ends``, axis units)
    would run past the plot's right edge at ``width`` px.
    """
    top = least
    for end, label in zip(ends, labels, strict=True):
        free = width - gap - _text_px(label, size)
        if np.isfinite(end) and end > 0:
            top = max(top, end * width / max(free, 0.25 * width))
    return float(top)


def _wrap(lines: str | list[str], fit: float) -> str | list[str]:
    """Subtitle ``lines`` (11 px) re-wrapped at spaces where one is wider than ``fit`` px.

    Widths are those of Arial/Liberation Sans (0.8 of :func:`_text_px`): a line a browser
    shows within ``fit`` is kept as it is, so only narrow charts get more lines.
    """
    given = [lines] if isinstance(lines, str) else list(lines)
    out: list[str] = []
    for line in given:
        if 0.8 * _text_px(line, 11) <= fit:
            out.append(line)
            continue
        current = ""
        for word in line.split(" "):
            candidate = f"{current} {word}" if current else word
            if current and 0.8 * _text_px(candidate, 11) > fit:
                out.append(current)
                current = word
            else:
                current = candidate
        out.append(current)
    return lines if out == given else out


def _title(
    text: str, subtitle: str | list[str] | None = None, fit: float | None = None
) -> dict[str, Any]:
    """A title anchored left, with a grey subtitle if given (a TitleParams as a dict).

    ``fit``: the chart's width in pixels (axes included); longer subtitle lines are wrapped.
    """
    if subtitle and fit is not None:
        subtitle = _wrap(subtitle, fit)
    if subtitle:
        return {
            "text": text,
            "subtitle": subtitle,
            "anchor": "start",
            "subtitleColor": _GREY,
            "subtitleFontSize": 11,
        }
    return {"text": text, "anchor": "start"}


def _price(value: float) -> str:
    """A price for a label: thousands separated, 2 decimals below 100 000, 4 digits below 1."""
    if not np.isfinite(value):
        return "none"
    if abs(value) >= 100_000:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.2f}"
    return f"{value:.4g}"


def _amount_format(values: Any) -> str:
    """d3 format for amounts: 2 decimals, or 6 for coin-sized amounts."""
    v = np.abs(np.asarray(values, dtype=float))
    v = v[np.isfinite(v)]
    return ",.2f" if v.size == 0 or v.max() >= 10 else ",.6f"


def _days(years: float) -> str:
    days = years * 365.0
    if abs(days - round(days)) < 1e-6:
        n = round(days)
        return f"{n} day" if n == 1 else f"{n} days"
    return f"{days:.3g} days"


def _levels_frame(levels: Any, sweep: pd.DataFrame) -> pd.DataFrame:
    if levels is None:
        levels = pd.DataFrame(_attr(sweep, "levels", []))
        if levels.empty:
            return pd.DataFrame(columns=["mode", "liquidation_price", "bankruptcy_price"])
    if not isinstance(levels, pd.DataFrame):
        raise InputError("levels", type(levels).__name__, "a DataFrame as price_levels() returns")
    if "mode" not in levels.columns and levels.index.name == "mode":
        levels = levels.reset_index()
    return _frame(
        levels,
        "levels",
        ["mode", "liquidation_price", "bankruptcy_price"],
        "margin_kit.compare.price_levels()",
    )


def _place_rule_labels(
    px: Sequence[float], widths: Sequence[float], width: float, gap: float = 4.0
) -> list[tuple[str, int]]:
    """Side and row of each vertical rule's label (rules at pixel ``px``; in priority order).

    A label starts ``gap`` px beside its rule, on its right (``"left"``-aligned text) or its
    left (``"right"``). Each takes, in order: the side where it stays in the panel, then
    crosses the fewest other rules, then the highest row (rows 14 px apart) where it keeps
    6 px clear of every label placed before it, then faces the middle of the panel. Two labels
    on one row never overlap, so close rules (a liquidation just above its bankruptcy price)
    get labels on opposite sides or staggered rows.
    """
    placed: list[tuple[int, float, float]] = []
    out: list[tuple[str, int]] = []
    for i, (x, w) in enumerate(zip(px, widths, strict=True)):
        best: tuple | None = None
        for align in ("left", "right"):
            x0, x1 = (x + gap, x + gap + w) if align == "left" else (x - gap - w, x - gap)
            overflow = max(0.0, -x0) + max(0.0, x1 - width)
            crosses = sum(x0 < o < x1 for j, o in enumerate(px) if j != i)
            row = 0
            while any(r == row and a0 < x1 + 6 and x0 - 6 < a1 for r, a0, a1 in placed):
                row += 1
            inward = (align == "left") == (x < width / 2)
            key = (overflow > 1.0, overflow, crosses, row, not inward)
            if best is None or key < best[0]:
                best = (key, align, row, x0, x1)
        assert best is not None
        _, align, row, x0, x1 = best
        placed.append((row, x0, x1))
        out.append((align, row))
    return out


def _labelled_rules(
    rows: pd.DataFrame, x_domain: tuple[float, float], width: int, unit: str
) -> list[alt.Chart]:
    """Vertical rules with labels at the top (rows: level, price, text, mode, coloured, dash).

    Rows come in priority order; :func:`_place_rule_labels` puts each label beside its rule,
    on the side and row (column ``row``) where it stays in the panel and overlaps no other.
    """
    lo, hi = x_domain
    rows = rows.copy()
    px = ((rows["price"] - lo) / (hi - lo) * width).to_numpy(dtype=float)
    widths = [_text_px(str(t), _FONT, bold=True) for t in rows["text"]]
    placed = _place_rule_labels(px, widths, width)
    rows["align"] = [a for a, _ in placed]
    rows["row"] = [r for _, r in placed]
    rows["y"] = 9 + 14 * rows["row"]
    colour = _mode_where("datum.coloured", _GREY)
    x = _enc(alt.X, "price:Q")
    rows = _rows(rows)
    layers = [
        _chart(
            rows,
            "rule",
            {
                "x": x,
                "color": colour,
                "strokeDash": _enc(alt.StrokeDash, "dash:N", scale=None, legend=None),
                "tooltip": [
                    _tip("label:N", "Level"),
                    _tip("price:Q", f"Price ({unit})", ",.2f"),
                ],
            },
            strokeWidth=1.5,
        )
    ]
    where = {
        "x": x,
        "y": _enc(alt.Y, "y:Q", scale=None, axis=None),
        "text": _enc(alt.Text, "text:N"),
    }
    for align, dx in (("left", 4), ("right", -4)):
        keep = [{"filter": f"(datum.align === '{align}')"}]
        style = {
            "align": align,
            "dx": dx,
            "fontSize": _FONT,
            "baseline": "middle",
            "fontWeight": 600,
        }
        layers += [
            # a white halo under each label keeps it readable over lines and grid
            _chart(rows, "text", where, transform=keep, **style, stroke="white", strokeWidth=4),
            _chart(rows, "text", {**where, "color": colour}, transform=keep, **style),
        ]
    return layers


# ----------------------------------------------------------------------------- builders
def equity_vs_price(
    sweep: pd.DataFrame,
    levels: pd.DataFrame | None = None,
    *,
    currency: str | None = None,
    price_unit: str | None = None,
    title: str | None = None,
    width: int = 330,
    height: int = 260,
) -> alt.HConcatChart:
    """Equity and maintenance margin against price, isolated and cross side by side.

    One panel per mode, each with its own value axis and the mode's colour: equity solid,
    maintenance margin dashed, the liquidation price (equity = maintenance margin) as a rule in
    the mode's colour with the liquidated side shaded, the bankruptcy price (equity = 0) as a
    dotted grey rule and the mark as a grey rule, all labelled with their prices: each label
    beside its rule, on the side and row where it stays in the panel and overlaps no other
    (a liquidation close to its bankruptcy price gets its label on the other side or a row
    lower). Price ticks are spaced for the labels' widths at any ``width``, abbreviated from
    10 000 on ("57.5k").

    Parameters
    ----------
    sweep : DataFrame
        :func:`margin_kit.compare.price_sweep`: columns ``price``, ``mode``, ``quantity``,
        ``value``.
    levels : DataFrame, optional
        Columns ``mode``, ``liquidation_price``, ``bankruptcy_price``, or indexed by mode as
        :func:`margin_kit.compare.price_levels` returns; default ``sweep.attrs["levels"]``. A
        NaN level draws no rule (the panel says there is none).
    currency, price_unit : str, optional
        Units of the value and price axes; default ``sweep.attrs`` (``settle_currency``,
        ``price_unit``).
    title : str, optional
        Chart title; a default naming the position or table is used when None.
    width, height : int
        Size of each panel, pixels.

    Returns
    -------
    altair.HConcatChart

    Raises
    ------
    InputError
        A missing column (named), an empty frame, an unknown mode or quantity.
    """
    sweep = _frame(sweep, "sweep", PRICE_SWEEP_COLUMNS, "margin_kit.compare.price_sweep()")
    names = {"equity": "equity", "maintenance_margin": "maintenance margin"}
    extra = sorted(set(sweep["quantity"]) - set(names))
    if extra:
        raise InputError("sweep.quantity", extra[0], "'equity' or 'maintenance_margin'")
    lv = _levels_frame(levels, sweep).set_index("mode")
    ccy = _unit(currency, sweep, "settle_currency", "settle currency")
    px_unit = _unit(price_unit, sweep, "price_unit", ccy)
    symbol = str(_attr(sweep, "symbol", ""))
    position = str(_attr(sweep, "position", ""))
    side = _attr(sweep, "side")
    mark = _attr(sweep, "mark_price")
    lo, hi = float(sweep["price"].min()), float(sweep["price"].max())
    fmt = _amount_format(sweep["value"])
    x = _enc(
        alt.X,
        "price:Q",
        title=f"{symbol} price ({px_unit})".strip(),
        scale={"domain": [lo, hi], "nice": False, "zero": False},
        axis=_x_axis(lo, hi, width),
    )
    panels = []
    for mode in _modes_in(sweep, "sweep"):
        data = sweep[sweep["mode"] == mode].assign(what=lambda d: d["quantity"].map(names))
        # equity far below 0 says nothing more: show down to -35 % of the panel's top
        top = float(data["value"].max())
        bottom = float(data["value"].min())
        y_scale = (
            {"domain": [min(0.0, max(bottom, -0.35 * top)), top * 1.04], "nice": False}
            if top > 0
            else {}
        )
        curves = _chart(
            data,
            "line",
            {
                "x": x,
                "y": _enc(alt.Y, "value:Q", title=f"Amount ({ccy})", scale=y_scale),
                "color": _color(legend=False),
                "strokeDash": _enc(
                    alt.StrokeDash,
                    "what:N",
                    scale={"domain": list(names.values()), "range": [[1, 0], [6, 3]]},
                    legend={"orient": "bottom", "title": None, "symbolStrokeColor": _GREY},
                ),
                "tooltip": [
                    _tip("mode:N", "Mode"),
                    _tip("what:N", "Quantity"),
                    _tip("price:Q", f"Price ({px_unit})", ",.2f"),
                    _tip("value:Q", f"Amount ({ccy})", fmt),
                ],
            },
            strokeWidth=2.2,
            clip=True,
        )
        liq = float(lv.loc[mode, "liquidation_price"]) if mode in lv.index else float("nan")
        bk = float(lv.loc[mode, "bankruptcy_price"]) if mode in lv.index else float("nan")
        layers: list[alt.Chart] = []
        rows = []
        if np.isfinite(liq) and lo <= liq <= hi:
            long = side == "long" if side is not None else (mark is None or liq < float(mark))
            x0, x1 = (lo, liq) if long else (liq, hi)
            layers.append(
                _chart(
                    pd.DataFrame({"x": [x0], "x2": [x1], "mode": [mode]}),
                    "rect",
                    {
                        "x": _enc(alt.X, "x:Q"),
                        "x2": alt.X2(field="x2"),
                        "color": _color(legend=False),
                    },
                    opacity=0.08,
                )
            )
            rows.append(("liquidation", liq, f"liquidation {_price(liq)}", mode, True, "solid"))
        if np.isfinite(bk) and lo <= bk <= hi:
            rows.append(("bankruptcy", bk, f"bankruptcy {_price(bk)}", mode, False, "dot"))
        if mark is not None and lo <= float(mark) <= hi:
            m = float(mark)
            rows.append(("mark", m, f"mark {_price(m)}", mode, False, "solid"))
        if rows:
            frame = pd.DataFrame(
                rows, columns=["level", "price", "text", "mode", "coloured", "dash"]
            ).assign(
                label=lambda d: d["level"],
                dash=lambda d: d["dash"].map({"solid": [1, 0], "dot": [2, 3]}),
            )
            layers += _labelled_rules(frame, (lo, hi), width, px_unit)
        if not (np.isfinite(liq) and lo <= liq <= hi):
            note = (
                f"liquidation at {_price(liq)}, off this range"
                if np.isfinite(liq)
                else "no liquidation price:\nequity stays above maintenance"
            )
            layers += _note(
                pd.DataFrame({"note": [note], "mode": [mode]}), width / 2, height * 0.4, size=13
            )
        who = f"{position}: isolated margin + PnL" if mode == "isolated" else "the cross account"
        panels.append(
            alt.LayerChart(
                layer=[*layers[:1], curves, *layers[1:]],
                width=width,
                height=height,
                title={
                    "text": mode,
                    "subtitle": who,
                    "color": MODE_COLORS[mode],
                    "anchor": "start",
                    "fontSize": 13,
                },
            )
        )
    text = title or f"Equity and maintenance margin vs price: {position or symbol}"
    moves = f"every {symbol} position moves" if symbol else "every position on the symbol moves"
    return alt.HConcatChart(
        hconcat=panels,
        spacing=28,
        title=_title(
            text,
            [
                "Liquidated where equity meets the maintenance margin; bankrupt where equity is 0.",
                f"Cross: {moves}, other symbols stay at their marks.",
            ],
            fit=2 * width + 148,
        ),
    )


def _sweep_subtitle(sweep: pd.DataFrame) -> str:
    parts = []
    lev = _attr(sweep, "leverage")
    if lev is not None:
        parts.append(f"Current leverage {float(lev):g}x")
    hi = _attr(sweep, "max_leverage")
    if hi is not None:
        parts.append(f"the tier allows up to {float(hi):g}x")
    return (", ".join(parts) + ".") if parts else ""


def _no_liquidation_notes(sweep: pd.DataFrame, column: str, width: int, height: int) -> list:
    """A note for each mode whose ``column`` is NaN at every leverage.

    Placed in the corner the isolated curve leaves free: bottom right for a long (its
    liquidation price rises towards the mark), top right for a short.
    """
    notes = []
    short = _attr(sweep, "side") == "short"
    for i, mode in enumerate(_modes_in(sweep, "sweep")):
        if sweep.loc[sweep["mode"] == mode, column].isna().all():
            y = 16 + 18 * i if short else height - 40 - 18 * i
            data = pd.DataFrame({"mode": [mode], "note": [f"{mode}: no liquidation price"]})
            notes += _note(data, width - 8, y, align="right")
    return notes


def liquidation_vs_leverage(
    sweep: pd.DataFrame,
    *,
    price_unit: str | None = None,
    title: str | None = None,
    width: int = 520,
    height: int = 300,
) -> alt.LayerChart:
    """Liquidation price against leverage, one line per mode, with the mark as a rule.

    Isolated moves towards the mark as leverage grows; cross stays flat (it depends on the
    wallet, not on the leverage). The position's current leverage (``sweep.attrs["leverage"]``)
    is a dotted rule; a mode with no liquidation price at any leverage is named in the corner.

    Parameters
    ----------
    sweep : DataFrame
        :func:`margin_kit.compare.leverage_sweep`: ``leverage``, ``mode``, ``mark_price``,
        ``liquidation_price``, ``bankruptcy_price``, ``distance_pct``.
    price_unit : str, optional
        Unit of the price axis; default ``sweep.attrs["price_unit"]``.
    title : str, optional
        Chart title; a default naming the position or table is used when None.
    width, height : int
        Pixels.

    Returns
    -------
    altair.LayerChart
    """
    cols = [
        "leverage",
        "mode",
        "mark_price",
        "liquidation_price",
        "bankruptcy_price",
        "distance_pct",
    ]
    sweep = _frame(sweep, "sweep", cols, "margin_kit.compare.leverage_sweep()")
    _modes_in(sweep, "sweep")
    unit = _unit(price_unit, sweep, "price_unit", "quote currency")
    symbol = str(_attr(sweep, "symbol", ""))
    position = str(_attr(sweep, "position", symbol))
    data = sweep[cols].copy()
    mark = float(data["mark_price"].iloc[0])
    finite = data["liquidation_price"].dropna()
    values = np.concatenate([[mark], finite.to_numpy()])
    pad = 0.05 * (values.max() - values.min() or mark)
    y = _enc(
        alt.Y,
        "liquidation_price:Q",
        title=f"Liquidation price ({unit})",
        scale={"domain": [values.min() - pad, values.max() + pad], "zero": False, "nice": False},
    )
    x = _enc(
        alt.X,
        "leverage:Q",
        title="Leverage (x)",
        scale={
            "domain": [float(data["leverage"].min()), float(data["leverage"].max())],
            "nice": False,
        },
    )
    tooltip = [
        _tip("mode:N", "Mode"),
        _tip("leverage:Q", "Leverage (x)", ".2f"),
        _tip("liquidation_price:Q", f"Liquidation ({unit})", ",.2f"),
        _tip("bankruptcy_price:Q", f"Bankruptcy ({unit})", ",.2f"),
        _tip("distance_pct:Q", "Distance from mark (%)", ".2f"),
    ]
    rows = _rows(data)
    lines = _chart(
        rows,
        "line",
        {"x": x, "y": y, "color": _color(symbol="stroke"), "tooltip": tooltip},
        strokeWidth=2.4,
    )
    hover = alt.selection_point(on="pointerover", nearest=True, fields=["leverage"], empty=False)
    points = _chart(
        rows,
        "point",
        {
            "x": _enc(alt.X, "leverage:Q"),
            "y": _enc(alt.Y, "liquidation_price:Q"),
            "color": _color(legend=False),
            "opacity": _hover_opacity(hover),
            "tooltip": tooltip,
        },
        params=[hover.param],
        filled=True,
        size=40,
    )
    mark_df = _rows(pd.DataFrame({"mark_price": [mark], "label": [f"mark {_price(mark)}"]}))
    mark_y = _enc(alt.Y, "mark_price:Q")
    mark_layers = [
        _chart(
            mark_df,
            "rule",
            {"y": mark_y, "tooltip": [_tip("mark_price:Q", f"Mark ({unit})", ",.2f")]},
            color=_GREY,
            strokeWidth=1.2,
        ),
        *_halo_text(
            mark_df,
            {"align": "left", "dx": 4, "dy": -8, "fontSize": _FONT},
            {"x": alt.XValue(0), "y": mark_y, "text": _enc(alt.Text, "label:N")},
            alt.ColorValue(_GREY),
        ),
    ]

    def flat_text(mode: str, value: float) -> str:
        return f"{mode}: {_price(value)} at every leverage"

    label_y = None
    lev = _current_leverage(sweep)
    if lev is not None:  # the "current" label where no line, mark or note runs
        domains = (
            (float(data["leverage"].min()), float(data["leverage"].max())),
            (float(values.min() - pad), float(values.max() + pad)),
        )
        mark_px = (1.0 - (mark - domains[1][0]) / (domains[1][1] - domains[1][0])) * height
        boxes = _flat_boxes(data, "liquidation_price", flat_text, domains, (width, height))
        boxes.append((0.0, 4 + _text_px(f"mark {_price(mark)}"), mark_px - 15, mark_px - 1))
        short = _attr(sweep, "side") == "short"
        for i, m in enumerate(_modes_in(sweep, "sweep")):  # as _no_liquidation_notes places
            if not sweep.loc[sweep["mode"] == m, "liquidation_price"].isna().all():
                continue
            c = 16 + 18 * i if short else height - 40 - 18 * i
            w = _text_px(f"{m}: no liquidation price", 12, bold=True)
            boxes.append((width - 8 - w, width - 8, c - 8, c + 8))
        label_y = _leverage_label_y(
            data, "liquidation_price", domains, lev, (width, height), [mark], boxes
        )
    layers = [*mark_layers, *_leverage_rule(sweep, height, label_y), lines, points]
    layers += _no_liquidation_notes(sweep, "liquidation_price", width, height)
    layers += _flat_notes(data, "liquidation_price", flat_text)
    text = title or f"Liquidation price vs leverage: {position}"
    return alt.LayerChart(
        layer=layers,
        width=width,
        height=height,
        title=_title(
            text,
            [
                "Isolated: margin = notional / leverage, so more leverage moves liquidation "
                "towards the mark.",
                "Cross: the whole wallet backs the position; leverage does not move it.",
                _sweep_subtitle(sweep),
            ],
            fit=width + 60,
        ),
    )


def _current_leverage(sweep: pd.DataFrame) -> float | None:
    """``sweep.attrs["leverage"]`` when within the sweep's leverages, else None."""
    lev = _attr(sweep, "leverage")
    if lev is None or not sweep["leverage"].min() <= float(lev) <= sweep["leverage"].max():
        return None
    return float(lev)


def _free_y(
    x_left: float,
    w: float,
    height: int,
    curves: Sequence[tuple[np.ndarray, np.ndarray]],
    boxes: Sequence[tuple[float, float, float, float]] = (),
) -> float:
    """Where (pixels from the top) a one-line label over ``[x_left, x_left + w]`` meets least.

    Obstacles: ``curves`` (pixel x and y of each line; a horizontal line is two points) and
    other labels' ``boxes`` (x0, x1, y0, y1). Tried 8 px above the bottom edge (where it
    always was), then higher, then at the top, then further in; the first that meets nothing,
    else the one meeting least.
    """
    best: tuple | None = None
    for rank, c in enumerate((height - 8, height - 24, 8, 24, height - 40, 40)):
        y0, y1 = c - 7.5, c + 7.5  # the text and a line's half width
        hits = 0
        for cx, cy in curves:
            keep = np.isfinite(cx) & np.isfinite(cy)
            cx, cy = cx[keep], cy[keep]
            order = np.argsort(cx, kind="stable")
            cx, cy = cx[order], cy[order]
            inside = (cx >= x_left) & (cx <= x_left + w)
            # the line's heights over the label: points inside plus the line at both ends
            ys = list(cy[inside])
            for edge in (x_left, x_left + w):
                if cx.size and cx[0] <= edge <= cx[-1]:
                    ys.append(float(np.interp(edge, cx, cy)))
            if ys and min(ys) < y1 and max(ys) > y0:
                hits += 3
        hits += 5 * sum(
            b[0] < x_left + w and x_left < b[1] and b[2] < y1 and y0 < b[3] for b in boxes
        )
        if best is None or (hits, rank) < best[0]:
            best = ((hits, rank), c)
    assert best is not None
    return float(best[1])


def _leverage_label_y(
    data: pd.DataFrame,
    column: str,
    domains: tuple[tuple[float, float], tuple[float, float]],
    lev: float,
    size: tuple[int, int],
    hlines: Sequence[float] = (),
    boxes: Sequence[tuple[float, float, float, float]] = (),
) -> float:
    """The free height for the "current Nx" label beside the rule at leverage ``lev``.

    Curves: each mode's ``column`` against leverage, and horizontal lines at ``hlines`` (axis
    units); boxes: labels already there (pixels). See :func:`_free_y`.
    """
    (x0, x1), (y0, y1) = domains
    width, height = size

    def px(v: Any) -> np.ndarray:
        return (np.asarray(v, dtype=float) - x0) / ((x1 - x0) or 1.0) * width

    def py(v: Any) -> np.ndarray:
        return (1.0 - (np.asarray(v, dtype=float) - y0) / ((y1 - y0) or 1.0)) * height

    curves = [(px(g["leverage"]), py(g[column])) for _, g in data.groupby("mode", sort=False)]
    curves += [(np.array([0.0, width]), py([h, h])) for h in hlines]
    label = f"current {lev:g}x"
    return _free_y(float(px(lev)) + 4, _text_px(label), height, curves, boxes)


def _flat_boxes(
    data: pd.DataFrame,
    column: str,
    text: Any,
    domains: tuple[tuple[float, float], tuple[float, float]],
    size: tuple[int, int],
) -> list[tuple[float, float, float, float]]:
    """Pixel boxes of :func:`_flat_notes`' labels (right end of each flat line, 9 px above)."""
    (x0, x1), (y0, y1) = domains
    width, height = size
    boxes = []
    for mode, group in data.groupby("mode", sort=False):
        values = group[column].dropna()
        if len(values) > 1 and float(values.max() - values.min()) <= 1e-12 * max(
            1.0, float(values.abs().max())
        ):
            last = group.loc[group["leverage"].idxmax()]
            right = (float(last["leverage"]) - x0) / ((x1 - x0) or 1.0) * width - 4
            w = _text_px(text(mode, float(last[column])), _FONT, bold=True)
            c = (1.0 - (float(last[column]) - y0) / ((y1 - y0) or 1.0)) * height - 9
            boxes.append((right - w, right, c - 7, c + 7))
    return boxes


def _leverage_rule(sweep: pd.DataFrame, height: int, label_y: float | None = None) -> list:
    """A dotted rule at the position's current leverage (``sweep.attrs["leverage"]``).

    Its label at ``label_y`` pixels from the top (default 8 px above the bottom).
    """
    lev = _current_leverage(sweep)
    if lev is None:
        return []
    data = _rows(pd.DataFrame({"leverage": [float(lev)], "label": [f"current {float(lev):g}x"]}))
    x = _enc(alt.X, "leverage:Q")
    return [
        _chart(
            data,
            "rule",
            {"x": x, "tooltip": [_tip("leverage:Q", "Current leverage (x)", ".2f")]},
            color=_GREY,
            strokeDash=[2, 3],
        ),
        *_halo_text(
            data,
            {"align": "left", "dx": 4, "fontSize": _FONT},
            {
                "x": x,
                "y": alt.YValue(height - 8 if label_y is None else label_y),
                "text": _enc(alt.Text, "label:N"),
            },
            alt.ColorValue(_GREY),
        ),
    ]


def _horizon_text(sweep: pd.DataFrame) -> tuple[str, str]:
    """("within 30 days", "GBM, vol 60 %/yr ...") from the sweep's ``horizon`` and ``vol``."""
    t = float(sweep["horizon"].iloc[0]) if "horizon" in sweep else _attr(sweep, "horizon")
    vol = float(sweep["vol"].iloc[0]) if "vol" in sweep else _attr(sweep, "vol")
    within = f"within {_days(float(t))}" if t is not None else "within the horizon"
    model = (
        f"GBM without drift, volatility {100 * float(vol):.0f} %/yr; barrier-hit probability "
        "in closed form."
        if vol is not None
        else "Closed-form barrier-hit probability."
    )
    return within, model


def probability_vs_leverage(
    sweep: pd.DataFrame,
    *,
    title: str | None = None,
    width: int = 520,
    height: int = 300,
) -> alt.LayerChart:
    """P(liquidation within the horizon) against leverage, one line per mode.

    Parameters
    ----------
    sweep : DataFrame
        :func:`margin_kit.compare.leverage_sweep` with a volatility and horizon: ``leverage``,
        ``mode``, ``p_liquidation``, ``distance_pct`` (``horizon``, ``vol`` for the subtitle).
    title : str, optional
        Chart title; a default naming the position or table is used when None.
    width, height : int
        Pixels.

    Returns
    -------
    altair.LayerChart
        Probability axis in percent.
    """
    cols = ["leverage", "mode", "p_liquidation", "distance_pct", "liquidation_price"]
    sweep = _frame(sweep, "sweep", cols, "margin_kit.compare.leverage_sweep(..., horizon=)")
    _modes_in(sweep, "sweep")
    within, model = _horizon_text(sweep)
    position = str(_attr(sweep, "position", _attr(sweep, "symbol", "")))
    unit = _unit(None, sweep, "price_unit", "quote currency")
    data = sweep[cols].copy()
    tooltip = [
        _tip("mode:N", "Mode"),
        _tip("leverage:Q", "Leverage (x)", ".2f"),
        _tip("p_liquidation:Q", f"P(liquidation {within})", ".2%"),
        _tip("liquidation_price:Q", f"Liquidation ({unit})", ",.2f"),
        _tip("distance_pct:Q", "Distance from mark (%)", ".2f"),
    ]
    x = _enc(
        alt.X,
        "leverage:Q",
        title="Leverage (x)",
        scale={
            "domain": [float(data["leverage"].min()), float(data["leverage"].max())],
            "nice": False,
        },
    )
    y = _enc(
        alt.Y,
        "p_liquidation:Q",
        title=f"P(liquidation {within}) (%)",
        axis={"format": ".0%"},
        scale={"domain": [0, max(0.05, float(data["p_liquidation"].max()))]},
    )
    rows = _rows(data)
    lines = _chart(
        rows,
        "line",
        {"x": x, "y": y, "color": _color(symbol="stroke"), "tooltip": tooltip},
        strokeWidth=2.4,
    )
    hover = alt.selection_point(on="pointerover", nearest=True, fields=["leverage"], empty=False)
    points = _chart(
        rows,
        "point",
        {
            "x": _enc(alt.X, "leverage:Q"),
            "y": _enc(alt.Y, "p_liquidation:Q"),
            "color": _color(legend=False),
            "opacity": _hover_opacity(hover),
            "tooltip": tooltip,
        },
        params=[hover.param],
        filled=True,
        size=40,
    )
    text = title or f"Probability of liquidation vs leverage: {position}"

    def flat_text(mode: str, value: float) -> str:
        return f"{mode}: {value:.2%} at every leverage"

    notes = _flat_notes(data, "p_liquidation", flat_text)
    label_y = None
    lev = _current_leverage(sweep)
    if lev is not None:  # the "current" label where no line or note runs
        domains = (
            (float(data["leverage"].min()), float(data["leverage"].max())),
            (0.0, max(0.05, float(data["p_liquidation"].max()))),
        )
        boxes = _flat_boxes(data, "p_liquidation", flat_text, domains, (width, height))
        label_y = _leverage_label_y(data, "p_liquidation", domains, lev, (width, height),
                                    boxes=boxes)  # fmt: skip
    return alt.LayerChart(
        layer=[*_leverage_rule(sweep, height, label_y), lines, points, *notes],
        width=width,
        height=height,
        title=_title(text, [model, _sweep_subtitle(sweep)], fit=width + 60),
    )


#: Places for a point's label: (side, dy), the label's centre ``6 px + half its width`` to the
#: ``side`` (+1 right, -1 left) of the point and ``dy`` px below it.
_BESIDE = {
    "above right": (1, -7),
    "above left": (-1, -7),
    "below right": (1, 9),
    "below left": (-1, 9),
}


def _nice_top(lo: float, hi: float, count: int = 10) -> float:
    """``hi`` rounded up as Vega's ``nice`` scale rounds a domain (d3's tick step for ``count``)."""
    raw = (hi - lo) / count
    if not np.isfinite(raw) or raw <= 0:
        return hi
    power = 10.0 ** np.floor(np.log10(raw))
    error = raw / power
    factor = next((f for f, at in ((10, 50), (5, 10), (2, 2)) if error >= np.sqrt(at)), 1)
    step = factor * power
    return float(np.ceil(hi / step) * step)


def _label_leverages(
    data: pd.DataFrame,
    x: str,
    y: str,
    domains: tuple[tuple[float, float], tuple[float, float]],
    width: int,
    height: int,
) -> pd.DataFrame:
    """A few rows per mode to label, each with a free place beside its point.

    Candidates: the ends and the round leverages 2, 5, 10, 20, 50, 100; a mode whose points all
    coincide (cross: leverage moves neither axis) gets one label, "every leverage", placed
    first. Each label takes the place (:data:`_BESIDE`) inside the plot, clear of every label
    already placed, that covers the fewest points, preferring the side the curve leaves free
    (above left of a rising curve, above right of a falling one); a label with no such place
    is skipped. ``domains`` (x and y scales) and the size map values to pixels; the label's
    centre is returned in axis units (``label_x``, ``label_y``), for a centred text mark.
    """
    (x0, x1), (y0, y1) = domains
    data = data.reset_index(drop=True)
    px = ((data[x] - x0) / ((x1 - x0) or 1.0) * width).to_numpy(dtype=float)
    py = ((1.0 - (data[y] - y0) / ((y1 - y0) or 1.0)) * height).to_numpy(dtype=float)
    pos = {i: k for k, i in enumerate(data.index)}
    spans = {c: float(data[c].max() - data[c].min()) or 1.0 for c in (x, y)}
    groups = list(data.groupby("mode", sort=False))
    flat = {
        m: all(float(g[c].max() - g[c].min()) < 1e-9 * spans[c] for c in (x, y)) for m, g in groups
    }
    boxes: list[tuple[float, float, float, float]] = []
    picked: dict[Any, tuple[str, float, float]] = {}

    def place(i: Any, label: str, rising: bool | None) -> None:
        k = pos[i]
        if not (np.isfinite(px[k]) and np.isfinite(py[k])):
            return
        half = _text_px(label, _FONT, bold=True) / 2
        order = ["above right", "below left", "above left", "below right"]  # falling, or flat
        if rising:
            order = ["above left", "below right", "above right", "below left"]
        best = None
        for rank, name in enumerate(order):
            side, dy = _BESIDE[name]
            cx, cy = px[k] + side * (6 + half), py[k] + dy
            box = (cx - half, cx + half, cy - 7, cy + 7)
            if box[0] < 0 or box[1] > width or box[2] < 0 or box[3] > height:
                continue
            if any(box[0] < b[1] + 2 and b[0] < box[1] + 2 and box[2] < b[3] and b[2] < box[3]
                   for b in boxes):  # fmt: skip
                continue
            inside = (px > box[0] - 3) & (px < box[1] + 3) & (py > box[2] - 3) & (py < box[3] + 3)
            key = (int(inside.sum()), rank)
            if best is None or key < best[0]:
                best = (key, box, cx, cy)
        if best is None and rising is None:  # the one label of a flat mode is never dropped
            cx, cy = px[k] + 6 + half, py[k] - 7
            best = (None, (cx - half, cx + half, cy - 7, cy + 7), cx, cy)
        if best is not None:
            _, box, cx, cy = best
            boxes.append(box)
            picked[i] = (label, x0 + cx / width * (x1 - x0), y1 - cy / height * (y1 - y0))

    for m, group in sorted(groups, key=lambda mg: not flat[mg[0]]):
        if flat[m]:
            place(group.index[0], f"{m}: every leverage", None)
            continue
        group = group.sort_values("leverage")
        levs = group["leverage"].to_numpy()
        gx = px[[pos[i] for i in group.index]]
        gy = py[[pos[i] for i in group.index]]
        for v in (levs.min(), 2, 5, 10, 20, 50, 100, levs.max()):
            if not levs.min() <= v <= levs.max():
                continue
            j = int(np.argmin(np.abs(levs - v)))
            i = group.index[j]
            if i in picked:
                continue
            a, b = max(j - 1, 0), min(j + 1, len(levs) - 1)
            # on screen y grows downwards: a rising curve has dy < 0 where dx > 0
            rising = bool((gy[b] - gy[a]) * (gx[b] - gx[a]) < 0)
            place(i, f"{levs[j]:.3g}x", rising)
    out = data.loc[list(picked)].copy()
    for k, column in enumerate(("label", "label_x", "label_y")):
        out[column] = [picked[i][k] for i in picked]
    return out


def _flat_notes(data: pd.DataFrame, column: str, text: Any) -> list[alt.Chart]:
    """Label the right end of each mode's line that is the same at every leverage."""
    rows = []
    for mode, group in data.groupby("mode", sort=False):
        values = group[column].dropna()
        if len(values) > 1 and float(values.max() - values.min()) <= 1e-12 * max(
            1.0, float(values.abs().max())
        ):
            last = group.loc[group["leverage"].idxmax()]
            rows.append({"mode": mode, "leverage": last["leverage"], column: last[column],
                         "note": text(mode, float(last[column]))})  # fmt: skip
    if not rows:
        return []
    return _halo_text(
        pd.DataFrame(rows),
        {"align": "right", "dx": -4, "dy": -9, "fontSize": _FONT, "fontWeight": 600},
        {
            "x": _enc(alt.X, "leverage:Q"),
            "y": _enc(alt.Y, f"{column}:Q"),
            "text": _enc(alt.Text, "note:N"),
        },
        _color(legend=False),
    )


def loss_frontier(
    sweep: pd.DataFrame,
    *,
    currency: str | None = None,
    title: str | None = None,
    width: int = 520,
    height: int = 320,
) -> alt.LayerChart:
    """Expected loss against P(liquidation): the trade-off leverage buys, both modes.

    Each point is one leverage (tooltip: leverage, probability, loss given liquidation, expected
    loss, margin locked); points of a mode are joined in leverage order, and a few leverages are
    labelled. Isolated: more leverage, higher probability but a smaller margin to lose; cross:
    the probability does not move with leverage and the loss is the whole cross equity.

    Parameters
    ----------
    sweep : DataFrame
        :func:`margin_kit.compare.leverage_sweep` with a volatility and horizon: ``leverage``,
        ``mode``, ``p_liquidation``, ``expected_loss``, ``loss_given_liquidation``,
        ``margin_locked``.
    currency : str, optional
        Settle currency; default ``sweep.attrs["settle_currency"]``.
    title : str, optional
        Chart title; a default naming the position or table is used when None.
    width, height : int
        Pixels.

    Returns
    -------
    altair.LayerChart
    """
    cols = [
        "leverage",
        "mode",
        "p_liquidation",
        "expected_loss",
        "loss_given_liquidation",
        "margin_locked",
    ]
    sweep = _frame(sweep, "sweep", cols, "margin_kit.compare.leverage_sweep(..., horizon=)")
    _modes_in(sweep, "sweep")
    ccy = _unit(currency, sweep, "settle_currency", "settle currency")
    within, model = _horizon_text(sweep)
    position = str(_attr(sweep, "position", _attr(sweep, "symbol", "")))
    data = sweep[cols].copy()
    fmt = _amount_format(data["loss_given_liquidation"])
    tooltip = [
        _tip("mode:N", "Mode"),
        _tip("leverage:Q", "Leverage (x)", ".2f"),
        _tip("p_liquidation:Q", f"P(liquidation {within})", ".2%"),
        _tip("loss_given_liquidation:Q", f"Loss if liquidated ({ccy})", fmt),
        _tip("expected_loss:Q", f"Expected loss ({ccy})", fmt),
        _tip("margin_locked:Q", f"Margin locked ({ccy})", fmt),
    ]
    p_top = max(0.05, float(data["p_liquidation"].max()) * 1.05)
    # the y scale Vega would make (from 0, nice), explicit: labels are placed in its pixels
    losses = data["expected_loss"].to_numpy(dtype=float)
    losses = losses[np.isfinite(losses)]
    y_lo = min(0.0, float(losses.min())) if losses.size else 0.0
    y_hi = float(losses.max()) if losses.size else 1.0
    y_domain = (y_lo, _nice_top(y_lo, y_hi if y_hi > y_lo else y_lo + 1.0))
    encoding = {
        "x": _enc(
            alt.X,
            "p_liquidation:Q",
            title=f"P(liquidation {within}) (%)",
            axis={"format": ".0%"},
            scale={"domain": [0, p_top]},
        ),
        "y": _enc(
            alt.Y,
            "expected_loss:Q",
            title=f"Expected loss ({ccy})",
            scale={"domain": list(y_domain), "nice": False},
        ),
        "color": _color(),
        "order": _enc(alt.Order, "leverage:Q"),
        "tooltip": tooltip,
    }
    labels = _label_leverages(
        data, "p_liquidation", "expected_loss", ((0.0, p_top), y_domain), width, height
    )
    label_layers = _halo_text(
        labels,
        {"align": "center", "baseline": "middle", "fontSize": _FONT, "fontWeight": 600},
        {
            "x": _enc(alt.X, "label_x:Q"),
            "y": _enc(alt.Y, "label_y:Q"),
            "text": _enc(alt.Text, "label:N"),
        },
        _color(legend=False),
    )
    rows = _rows(data)
    text = title or f"Expected loss vs probability of liquidation: {position}"
    return alt.LayerChart(
        layer=[
            _chart(rows, "line", encoding, strokeWidth=1.5, opacity=0.5),
            _chart(rows, "circle", encoding, size=30, opacity=1),
            *label_layers,
        ],
        width=width,
        height=height,
        title=_title(
            text,
            [
                "Each point is one leverage (some labelled). Expected loss = P(liquidation) x "
                "loss if liquidated:",
                "isolated, the position's margin + PnL; cross, the whole cross equity.",
                model,
            ],
            fit=width + 60,
        ),
    )


def capital_usage(
    table: pd.DataFrame,
    *,
    currency: str | None = None,
    title: str | None = None,
    width: int = 460,
    height: int = 110,
) -> alt.LayerChart:
    """Capital locked as margin vs free collateral, per mode (stacked horizontal bars).

    One bar per mode: a segment per position's ``margin_locked`` (solid, the mode's colour,
    outlined) then the account's ``free_collateral`` (pale). Taken from the per-position and
    ``"(account)"`` rows of :func:`margin_kit.compare`'s table.

    Parameters
    ----------
    table : DataFrame
        :func:`margin_kit.compare`'s table (``position``, ``mode``, ``margin_locked``,
        ``free_collateral``).
    currency : str, optional
        Settle currency; default ``table.attrs["settle_currency"]``, else inferred from the
        symbols (``...USDT`` → USDT).
    title : str, optional
        Chart title; a default naming the position or table is used when None.
    width, height : int
        Pixels.

    Returns
    -------
    altair.LayerChart
    """
    cols = ["position", "mode", "margin_locked", "free_collateral"]
    table = _frame(table, "table", cols, "margin_kit.compare()")
    ccy = _unit(currency, table, "settle_currency", _currency_from_symbols(table) or "")
    ccy = ccy or "settle currency"
    modes = _modes_in(table, "table")
    rows = []
    for mode in modes:
        sub = table[table["mode"] == mode]
        per_pos = sub[sub["position"] != ACCOUNT_ROW]
        acct = sub[sub["position"] == ACCOUNT_ROW]
        for _, r in per_pos.iterrows():
            rows.append((mode, "locked", str(r["position"]), float(r["margin_locked"])))
        free = acct["free_collateral"] if len(acct) else sub["free_collateral"].iloc[:1]
        rows.append((mode, "free", "free collateral", float(free.iloc[0])))
    data = pd.DataFrame(rows, columns=["mode", "kind", "part", "amount"])
    data["total"] = data.groupby("mode")["amount"].transform("sum")
    data["share"] = data["amount"] / data["total"]
    data["order"] = np.arange(len(data))
    fmt = _amount_format(data["amount"])
    totals = data.groupby("mode", sort=False)["amount"].sum().reset_index()

    def _amt(v: float) -> str:
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.4g}"

    totals["label"] = [
        f"locked {_amt(data[(data['mode'] == m) & (data['kind'] == 'locked')]['amount'].sum())}"
        f" · free {_amt(data[(data['mode'] == m) & (data['kind'] == 'free')]['amount'].sum())}"
        for m in totals["mode"]
    ]
    # room on the right for the "locked · free" label, however narrow the chart
    top = _room(totals["amount"], totals["label"], width, 1.45 * float(data["total"].max()), 6)
    bars = _chart(
        data,
        "bar",
        {
            "y": _enc(alt.Y, "mode:N", title=None, sort=modes, axis={"labelFontSize": 12}),
            "x": _enc(
                alt.X,
                "amount:Q",
                title=f"Capital ({ccy})",
                stack="zero",
                scale={"domain": [0, top], "nice": False},
                axis=_x_axis(0.0, top, width),
            ),
            "color": _color(legend=False),
            "opacity": _enc(
                alt.Opacity,
                "kind:N",
                scale={"domain": ["locked", "free"], "range": [0.95, 0.3]},
                legend={
                    "orient": "top",
                    "title": None,
                    "labelLimit": 320,
                    "labelExpr": "datum.label == 'locked' ? "
                    "'margin locked (a segment per position)' : 'free collateral'",
                },
            ),
            "order": _enc(alt.Order, "order:Q"),
            "tooltip": [
                _tip("mode:N", "Mode"),
                _tip("part:N", "Part"),
                _tip("amount:Q", f"Amount ({ccy})", fmt),
                _tip("share:Q", "Share of the bar", ".1%"),
            ],
        },
        stroke="white",
        strokeWidth=1.5,
        height={"band": 0.7},
    )
    labels = _chart(
        totals,
        "text",
        {
            "y": _enc(alt.Y, "mode:N", sort=modes),
            "x": _enc(alt.X, "amount:Q"),
            "text": _enc(alt.Text, "label:N"),
        },
        align="left",
        dx=6,
        fontSize=_FONT,
        color=_GREY,
    )
    text = title or "Capital locked vs free collateral"
    return alt.LayerChart(
        layer=[bars, labels],
        width=width,
        height=height,
        title=_title(
            text,
            [
                "Isolated: margin ring-fenced per position; the rest of the wallet is free.",
                "Cross: initial margin at the mark; the rest of the cross equity is available.",
            ],
            fit=width + 60,
        ),
    )


def comparison(
    table: pd.DataFrame,
    *,
    title: str | None = None,
    width: int = 300,
    height: int | None = None,
) -> alt.HConcatChart:
    """P(liquidation) and distance to liquidation by position, isolated and cross side by side.

    Two panels sharing the position axis: bars of ``p_liquidation`` (percent, with a 95 %
    interval of ``±1.96 p_stderr`` from the Monte Carlo) and of ``distance_pct``, one bar per
    mode within each position. The ``"(account)"`` rows (probability of any liquidation) show in
    the probability panel only.

    Parameters
    ----------
    table : DataFrame
        :func:`margin_kit.compare`'s table (``position``, ``mode``, ``p_liquidation``,
        ``p_stderr``, ``distance_pct``, ``liquidation_price``, ``mark_price``,
        ``expected_loss``).
    title : str, optional
        Chart title; a default naming the position or table is used when None.
    width : int
        Width of each panel, pixels.
    height : int, optional
        Default from the number of positions (40 px each).

    Returns
    -------
    altair.HConcatChart
    """
    cols = [
        "position",
        "mode",
        "p_liquidation",
        "p_stderr",
        "distance_pct",
        "liquidation_price",
        "mark_price",
        "expected_loss",
    ]
    table = _frame(table, "table", cols, "margin_kit.compare()")
    modes = _modes_in(table, "table")
    data = table[cols].copy()
    se = data["p_stderr"].fillna(0.0)
    data["p_low"] = (data["p_liquidation"] - 1.96 * se).clip(lower=0.0)
    data["p_high"] = (data["p_liquidation"] + 1.96 * se).clip(upper=1.0)
    positions = list(dict.fromkeys(data["position"]))
    order = [p for p in positions if p != ACCOUNT_ROW] + (
        [ACCOUNT_ROW] if ACCOUNT_ROW in positions else []
    )
    h = height or max(120, 44 * len(order))
    ccy = _currency_from_symbols(table[table["position"] != ACCOUNT_ROW]) or "settle currency"
    fmt = _amount_format(data["expected_loss"])
    tooltip = [
        _tip("position:N", "Position"),
        _tip("mode:N", "Mode"),
        _tip("p_liquidation:Q", "P(liquidation)", ".2%"),
        _tip("p_stderr:Q", "Monte Carlo std. error", ".3%"),
        _tip("distance_pct:Q", "Distance from mark (%)", ".2f"),
        _tip("liquidation_price:Q", "Liquidation price", ",.2f"),
        _tip("mark_price:Q", "Mark price", ",.2f"),
        _tip("expected_loss:Q", f"Expected loss ({ccy})", fmt),
    ]
    y = _enc(
        alt.Y,
        "position:N",
        sort=order,
        title=None,
        scale={"domain": order},
        axis={"labelFontSize": 12, "labelExpr": f"datum.label == '{ACCOUNT_ROW}' ? "
              "'account (any)' : datum.label"},
    )  # fmt: skip
    y_off = _enc(alt.YOffset, "mode:N", sort=modes, scale={"domain": modes, "paddingInner": 0.1})
    p_max = min(1.0, max(0.05, float(data["p_high"].max())))
    data["p_text"] = [f"{v:.1%}" for v in data["p_liquidation"]]
    data["d_text"] = [f"{v:.1f} %" if np.isfinite(v) else "" for v in data["distance_pct"]]
    p_top = _room(data["p_high"], data["p_text"], width, p_max * 1.22, 4, size=10)
    where = {"y": y, "yOffset": y_off}
    label = {"align": "left", "dx": 4, "fontSize": 10, "baseline": "middle"}
    rows = _rows(data)
    prob = alt.LayerChart(
        layer=[
            _chart(
                rows,
                "bar",
                {
                    **where,
                    "x": _enc(
                        alt.X,
                        "p_liquidation:Q",
                        title="P(liquidation) (%)",
                        axis={"format": ".0%"},
                        # room on the right for the value labels
                        scale={"domain": [0, p_top], "nice": False},
                    ),
                    "color": _color(symbol="square"),
                    "tooltip": tooltip,
                },
                height={"band": 1},
            ),
            _chart(
                rows,
                "rule",
                {
                    **where,
                    "x": _enc(alt.X, "p_low:Q"),
                    "x2": alt.X2(field="p_high"),
                    "tooltip": tooltip,
                },
                color="black",
                strokeWidth=1.2,
            ),
            _chart(
                rows,
                "text",
                {
                    **where,
                    "x": _enc(alt.X, "p_high:Q"),
                    "text": _enc(alt.Text, "p_text:N"),
                    "color": _color(legend=False),
                    "tooltip": tooltip,
                },
                **label,
            ),
        ],
        width=width,
        height=h,
        title={"text": "P(liquidation)", "anchor": "start", "fontSize": 12},
    )
    dist_data = data[data["position"] != ACCOUNT_ROW]
    d_max = float(np.nanmax(dist_data["distance_pct"].to_numpy(dtype=float), initial=1.0))
    d_top = _room(dist_data["distance_pct"], dist_data["d_text"], width, max(1.0, d_max) * 1.18, 4,
                  size=10)  # fmt: skip
    dist_rows = _rows(dist_data)
    where = {
        "y": _enc(alt.Y, "position:N", sort=order, title=None, axis=None, scale={"domain": order}),
        "yOffset": y_off,
    }
    dist = alt.LayerChart(
        layer=[
            _chart(
                dist_rows,
                "bar",
                {
                    **where,
                    "x": _enc(
                        alt.X,
                        "distance_pct:Q",
                        title="Distance to liquidation (% of mark)",
                        scale={"domain": [0, d_top], "nice": False},
                    ),
                    "color": _color(legend=False),
                    "tooltip": tooltip,
                },
                height={"band": 1},
            ),
            _chart(
                dist_rows,
                "text",
                {
                    **where,
                    "x": _enc(alt.X, "distance_pct:Q"),
                    "text": _enc(alt.Text, "d_text:N"),
                    "color": _color(legend=False),
                    "tooltip": tooltip,
                },
                **label,
            ),
        ],
        width=width,
        height=h,
        title={"text": "Distance to liquidation", "anchor": "start", "fontSize": 12},
    )
    text = title or "Isolated vs cross by position"
    return alt.HConcatChart(
        hconcat=[prob, dist],
        spacing=16,
        title=_title(
            text,
            [
                "P(liquidation): Monte Carlo estimate with its 95 % interval (black); cross "
                "positions share one event.",
                "Distance: adverse move from the mark to the liquidation price.",
            ],
            fit=2 * width + 116,
        ),
    )


def _short_unit(unit: str) -> str:
    """The first word of a tier table's ``notional_unit`` (``"BTC (coin notional...)"`` → BTC)."""
    return unit.split("(")[0].strip().split(" ")[0] if unit else ""


def tier_ladder(
    tiers: TierTable | pd.DataFrame,
    *,
    unit: str | None = None,
    title: str | None = None,
    width: int = 520,
    height: int = 170,
) -> alt.VConcatChart:
    """The tier table as a step chart: maintenance margin rate and max leverage vs notional.

    Two panels sharing a log notional axis: mmr (percent) and max leverage, each a step
    function over ``floor <= N < cap``. A log axis cannot show 0, so the first tier is drawn
    from a tenth of its cap (its tooltip still says 0).

    Parameters
    ----------
    tiers : TierTable or DataFrame
        A table, or its :meth:`~margin_kit.tiers.TierTable.to_frame` (``floor``, ``cap``,
        ``max_leverage``, ``mmr``, ``maint_amount``).
    unit : str, optional
        Notional unit; default the table's ``notional_unit`` (first word).
    title : str, optional
        Chart title; a default naming the position or table is used when None.
    width, height : int
        Size of each panel, pixels.

    Returns
    -------
    altair.VConcatChart
    """
    symbol = ""
    if isinstance(tiers, TierTable):
        unit = unit or _short_unit(tiers.notional_unit)
        symbol = tiers.symbol
        frame = tiers.to_frame()
    else:
        frame = tiers
    cols = ["floor", "cap", "max_leverage", "mmr", "maint_amount"]
    frame = _frame(frame, "tiers", cols, "TierTable.to_frame()")
    unit = unit or "notional units"
    data = frame[cols].reset_index(drop=True).copy()
    data["tier"] = np.arange(1, len(data) + 1)
    data["start"] = data["floor"].where(data["floor"] > 0, data["cap"] / 10.0)
    data["mmr_pct"] = 100.0 * data["mmr"]
    # one extra point at the last cap closes the last step
    last = data.iloc[[-1]].assign(start=data["cap"].iloc[-1])
    steps = pd.concat([data, last], ignore_index=True)
    tooltip = [
        _tip("tier:Q", "Tier", "d"),
        _tip("floor:Q", f"From ({unit})", ",.0f"),
        _tip("cap:Q", f"Below ({unit})", ",.0f"),
        _tip("mmr_pct:Q", "Maintenance margin rate (%)", ".3g"),
        _tip("max_leverage:Q", "Max leverage (x)", "g"),
        _tip("maint_amount:Q", f"Maintenance amount ({unit})", ",.2f"),
    ]
    x_lo, x_hi = float(data["start"].min()), float(data["cap"].max())
    decades = [
        10.0**k for k in range(int(np.floor(np.log10(x_lo))), int(np.ceil(np.log10(x_hi))) + 1)
    ]
    x = _enc(
        alt.X,
        "start:Q",
        title=f"Position notional ({unit}, log scale)",
        scale={"type": "log", "domain": [x_lo, x_hi], "nice": False},
        # grid at powers of ten only; "1B" rather than d3's "1G"
        axis={
            "values": [d for d in decades if x_lo <= d <= x_hi],
            "labelExpr": "replace(format(datum.value, '~s'), 'G', 'B')",
        },
    )
    mmr_lo, mmr_hi = float(data["mmr_pct"].min()), float(data["mmr_pct"].max())
    mmr_ticks = [v for v in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)
                 if mmr_lo / 1.5 <= v <= mmr_hi * 1.5]  # fmt: skip
    y_axes = {
        "mmr_pct": _enc(
            alt.Y,
            "mmr_pct:Q",
            title="Maintenance margin rate (%, log scale)",
            scale={"type": "log", "domain": [mmr_lo / 1.3, mmr_hi * 1.3], "nice": False}
            if mmr_lo > 0
            else {},
            axis={"values": mmr_ticks, "format": "~g"} if mmr_lo > 0 else {},
        ),
        "max_leverage": _enc(
            alt.Y, "max_leverage:Q", title="Max leverage (x)", scale={"zero": True}
        ),
    }
    panels = []
    step_rows, tier_rows = _rows(steps), _rows(data)
    for field, name in (("mmr_pct", "Maintenance margin rate"), ("max_leverage", "Max leverage")):
        points = {
            "x": _enc(alt.X, "start:Q"),
            "y": _enc(alt.Y, f"{field}:Q"),
            "tooltip": tooltip,
        }
        panel = alt.LayerChart(
            layer=[
                _chart(
                    step_rows,
                    "line",
                    {"x": x, "y": y_axes[field]},
                    interpolate="step-after",
                    strokeWidth=2.2,
                    color=_FAN,
                ),
                _chart(tier_rows, "point", points, filled=True, size=45, color=_FAN, opacity=1),
            ],
            width=width,
            height=height,
            title={"text": name, "anchor": "start", "fontSize": 12},
        )
        panels.append(panel)
    text = title or f"Tier ladder{': ' + symbol if symbol else ''}"
    return alt.VConcatChart(
        vconcat=panels,
        spacing=12,
        title=_title(
            text,
            "Larger positions pay a higher maintenance rate and may use less leverage "
            "(points mark where each tier starts).",
            fit=width + 60,
        ),
    )


def _barrier_frame(barriers: Any) -> pd.DataFrame:
    if barriers is None:
        return pd.DataFrame(columns=["mode", "liquidation_price"])
    if isinstance(barriers, pd.DataFrame):
        frame = barriers
        if "mode" not in frame.columns and frame.index.name == "mode":
            frame = frame.reset_index()
        frame = _frame(frame, "barriers", ["mode", "liquidation_price"], "price_levels()")
        frame = frame[["mode", "liquidation_price"]]
    elif isinstance(barriers, Mapping):
        frame = pd.DataFrame(
            {"mode": list(barriers), "liquidation_price": [float(v) for v in barriers.values()]}
        )
    else:
        raise InputError("barriers", type(barriers).__name__, "a mapping mode -> price or a frame")
    if len(frame):
        _modes_in(frame, "barriers")
    return frame.reset_index(drop=True)


def _pack(desired: Sequence[float], lo: float, hi: float, gap: float) -> list[float]:
    """Positions as near ``desired`` as allows ``gap`` between any two, within ``[lo, hi]``.

    One-dimensional label packing (order kept): pushed apart downwards, then back up from
    ``hi``. More labels than fit in ``[lo, hi]`` go on above ``lo`` rather than overlap.
    """
    order = np.argsort(np.asarray(desired, dtype=float), kind="stable")
    pos = np.asarray(desired, dtype=float)[order]
    for i in range(len(pos)):
        pos[i] = max(pos[i], lo if i == 0 else pos[i - 1] + gap)
    for i in reversed(range(len(pos))):
        pos[i] = min(pos[i], hi if i == len(pos) - 1 else pos[i + 1] - gap)
    out = np.empty_like(pos)
    out[order] = pos
    return out.tolist()


#: A liquidation level further than this share of the simulated range beyond it is not put on
#: the fan's axis (the fan would shrink below 1 / 1.6 of the height): it is named at the edge.
_LEVEL_REACH = 0.6


def _fan_levels(
    bar: pd.DataFrame,
    near: np.ndarray,
    domain: tuple[float, float],
    unit: str,
    width: int,
    height: int,
) -> list[alt.Chart]:
    """Liquidation levels on the fan: rules with labels, or edge labels for levels off it.

    ``bar``: finite levels (``mode``, ``liquidation_price``); ``near``: which are on the
    axis (``domain``). Those get a dashed rule in the mode's colour; the others a label at the
    bottom or top edge with an arrow ("cross liquidation 3,137.45 ↓ below the chart"). Labels
    sit at the right, just above their rule (below it at the top edge), packed at least 13 px
    apart so close levels never overlap.
    """
    lo, hi = domain
    level = bar["liquidation_price"].to_numpy(dtype=float)
    y_px = (hi - level) / (hi - lo) * height
    desired = np.where(
        near,
        np.where(y_px - 8 < 7, y_px + 9, y_px - 8),
        np.where(level < lo, height - 8, 8),
    )
    at = np.asarray(_pack(desired, 7, height - 7, 13))
    text = [
        f"{m} liquidation {_price(v)}"
        + ("" if n else " ↓ below the chart" if v < lo else " ↑ above the chart")
        for m, v, n in zip(bar["mode"], level, near, strict=True)
    ]
    tip = [
        _tip("mode:N", "Mode"),
        _tip("liquidation_price:Q", f"Liquidation ({unit})", ",.2f"),
    ]
    labels = bar.assign(label=text, label_y=hi - at / height * (hi - lo))
    layers: list[alt.Chart] = []
    if near.any():
        layers.append(
            _chart(
                bar[near],
                "rule",
                {
                    "y": _enc(alt.Y, "liquidation_price:Q"),
                    "color": _color(symbol="stroke"),
                    "tooltip": tip,
                },
                strokeWidth=2,
                strokeDash=[7, 3],
            )
        )
    return layers + _halo_text(
        labels,
        {"align": "right", "baseline": "middle", "fontSize": _FONT, "fontWeight": 600},
        {
            "x": alt.XValue(width - 4),
            "y": _enc(alt.Y, "label_y:Q"),
            "text": _enc(alt.Text, "label:N"),
            "tooltip": tip,
        },
        _color(legend=False),
    )


def path_fan(
    fan: pd.DataFrame,
    barriers: Mapping[str, float] | pd.DataFrame | None = None,
    *,
    price_unit: str | None = None,
    title: str | None = None,
    width: int = 560,
    height: int = 320,
) -> alt.LayerChart:
    """Monte Carlo fan: quantile bands, median, sample paths and liquidation prices per mode.

    Parameters
    ----------
    fan : DataFrame
        :func:`margin_kit.risk.fan_frame` (``time_days``, ``kind``, ``series``, ``quantile``,
        ``price``); bands are drawn between symmetric quantiles (5-95 %, 25-75 %), the middle
        one (median) as a line.
    barriers : mapping or DataFrame, optional
        Liquidation price per mode (``{"isolated": 54_000, "cross": 30_000}``), or a frame with
        ``mode`` and ``liquidation_price`` (one row per mode, e.g. one position's rows of
        :func:`margin_kit.compare`'s table); drawn as horizontal rules in the mode's colour,
        labelled at the right (close levels' labels stacked, never overlapping). The price axis
        takes in levels up to 60 % of the simulated range's span beyond it; a level further
        off is not dropped but named at the chart's bottom or top edge with an arrow ("cross
        liquidation 3,137.45 ↓ below the chart"), so the fan keeps most of the height. NaN:
        no rule; the subtitle names the mode ("No liquidation price: cross.").
    price_unit : str, optional
        Unit of the price axis; default ``barriers.attrs["price_unit"]`` (a
        :func:`margin_kit.compare.price_levels` frame carries it), else ``fan.attrs``.
    title : str, optional
        Chart title; a default naming the position or table is used when None.
    width, height : int
        Pixels.

    Returns
    -------
    altair.LayerChart
    """
    cols = ["time_days", "kind", "series", "quantile", "price"]
    fan = _frame(fan, "fan", cols, "margin_kit.risk.fan_frame()")
    unit = price_unit or (
        barriers.attrs.get("price_unit") if isinstance(barriers, pd.DataFrame) else None
    )
    unit = unit or _unit(None, fan, "price_unit", "quote currency")
    q = fan[fan["kind"] == "quantile"]
    paths = fan[fan["kind"] == "path"]
    if q.empty:
        raise InputError("fan.kind", sorted(set(fan["kind"])), "rows of kind 'quantile'")
    wide = q.pivot_table(index="time_days", columns="quantile", values="price").sort_index()
    levels = list(wide.columns)
    # keep the embedded data small: at most 250 times
    step = max(1, int(np.ceil(len(wide) / 250)))
    keep_t = wide.index[::step].union(wide.index[-1:])
    wide = wide.loc[keep_t]
    paths = paths[paths["time_days"].isin(keep_t)]
    bands = []
    for i in range(len(levels) // 2):
        lo, hi = levels[i], levels[-1 - i]
        bands.append(
            pd.DataFrame(
                {
                    "time_days": wide.index,
                    "low": wide[lo].to_numpy(),
                    "high": wide[hi].to_numpy(),
                    "band": f"{100 * lo:g}-{100 * hi:g} %",
                }
            )
        )
    band_data = pd.concat(bands, ignore_index=True) if bands else None
    median = None
    if len(levels) % 2:
        mid = levels[len(levels) // 2]
        median = pd.DataFrame(
            {
                "time_days": wide.index,
                "price": wide[mid].to_numpy(),
                "series": f"{100 * mid:g} % quantile",
            }
        )
    bar = _barrier_frame(barriers)
    level = bar["liquidation_price"].to_numpy(dtype=float)
    missing = list(dict.fromkeys(bar.loc[~np.isfinite(level), "mode"]))
    bar, level = bar[np.isfinite(level)].reset_index(drop=True), level[np.isfinite(level)]
    fan_prices = np.concatenate([q["price"].to_numpy(), paths["price"].to_numpy()])
    # the axis takes in a level near the simulated range; one far off it would squash the fan:
    # it is named at the chart's edge instead (never silently dropped)
    reach = _LEVEL_REACH * (fan_prices.max() - fan_prices.min() or fan_prices.max())
    near = (level >= fan_prices.min() - reach) & (level <= fan_prices.max() + reach)
    prices = np.concatenate([fan_prices, level[near]])
    pad = 0.04 * (prices.max() - prices.min() or prices.max())
    d_lo, d_hi = float(prices.min() - pad), float(prices.max() + pad)
    y_scale = {"domain": [d_lo, d_hi], "zero": False, "nice": False}
    y = _enc(alt.Y, "price:Q", title=f"Price ({unit})", scale=y_scale)
    x = _enc(
        alt.X,
        "time_days:Q",
        title="Days from now",
        scale={"domain": [0, float(wide.index.max())], "nice": False},
    )
    day = _tip("time_days:Q", "Day", ".1f")
    layers: list[alt.Chart] = []
    if band_data is not None:
        opac = {b: 0.16 + 0.14 * i for i, b in enumerate(dict.fromkeys(band_data["band"]))}
        encoding = {
            "x": x,
            "y": _enc(alt.Y, "low:Q", title=f"Price ({unit})", scale=y_scale),
            "y2": alt.Y2(field="high"),
            "opacity": _enc(
                alt.Opacity,
                "band:N",
                scale={"domain": list(opac), "range": list(opac.values())},
                legend={"title": "Simulated range", "orient": "top-left"},
            ),
            "tooltip": [
                _tip("band:N", "Quantile band"),
                day,
                _tip("low:Q", f"Low ({unit})", ",.2f"),
                _tip("high:Q", f"High ({unit})", ",.2f"),
            ],
        }
        layers.append(_chart(band_data, "area", encoding, color=_FAN))
    price_tip = _tip("price:Q", f"Price ({unit})", ",.2f")
    if not paths.empty:
        encoding = {
            "x": x,
            "y": y,
            "detail": _enc(alt.Detail, "series:N"),
            "tooltip": [_tip("series:N", "Sample"), day, price_tip],
        }
        layers.append(_chart(paths, "line", encoding, strokeWidth=0.7, opacity=0.35, color=_FAN))
    if median is not None:
        encoding = {"x": x, "y": y, "tooltip": [_tip("series:N", "Line"), day, price_tip]}
        layers.append(_chart(median, "line", encoding, strokeWidth=2, color="black"))
    if len(bar):
        layers += _fan_levels(bar, near, (d_lo, d_hi), unit, width, height)
    n_paths = _attr(fan, "paths")
    n_samples = paths["series"].nunique()
    sub = [
        f"Shaded: quantile bands over {n_paths:,} simulated paths"
        if n_paths
        else "Shaded: quantile bands of the simulated paths",
        f"black: median; thin: {n_samples} sample paths; dashed: liquidation price per mode.",
    ]
    lines = ["; ".join(sub)]
    if missing:
        lines.append(f"No liquidation price: {', '.join(missing)}.")
    text = title or "Simulated price paths"
    return alt.LayerChart(
        layer=layers, width=width, height=height, title=_title(text, lines, fit=width + 60)
    )


#: Names of time units a replay's index may carry (singular and plural), by plural.
_TIME_UNITS = {
    u + s: u + "s"
    for u in ("second", "minute", "hour", "day", "week", "month", "year")
    for s in ("", "s")
}


def _time_title(index: pd.Index) -> str | None:
    """The axis title of a named numeric time index, its unit in brackets; None otherwise.

    ``day`` (a crash path's index) gives "Time (days)", ``time_hours`` "Time (hours)",
    ``t`` "t"; an unnamed index, one named ``step`` (the engine's default) or a non-numeric
    one gives None (the chart then counts steps).
    """
    name = index.name
    if not isinstance(name, str) or not name.strip() or name == "step":
        return None
    if not pd.api.types.is_numeric_dtype(index) or pd.api.types.is_bool_dtype(index):
        return None
    words = name.strip().replace("_", " ").split()
    unit = _TIME_UNITS.get(words[-1].lower())
    if unit is None:
        return name.strip()
    rest = " ".join(words[:-1])
    return f"{rest[:1].upper() + rest[1:] if rest else 'Time'} ({unit})"


def replay_equity(
    result: ReplayResult,
    *,
    path: int = 0,
    currency: str | None = None,
    title: str | None = None,
    width: int = 560,
    height: int = 300,
) -> alt.LayerChart:
    """Equity on one replayed path per mode, with margin calls and liquidations as points.

    Parameters
    ----------
    result : ReplayResult
        From :func:`margin_kit.engine.replay`.
    path : int, default 0
        Which path.
    currency : str, optional
        Settle currency for the axis.
    title : str, optional
        Chart title; a default naming the position or table is used when None.
    width, height : int
        Pixels.

    Returns
    -------
    altair.LayerChart
        Lines from :meth:`ReplayResult.equity_frame` (long series thinned to at most 1500 steps
        per mode, every step with an event kept); events as points (shape by event, colour by
        mode) with tooltips (time, position, event, price, fill price, loss). The x axis is the
        replay's time axis: dates for a datetime index; the index's own values for a numeric
        index with a name (a crash path's ``day``: "Time (days)"); else the step.
    """
    if not isinstance(result, ReplayResult):
        raise InputError("result", type(result).__name__, "a ReplayResult (engine.replay())")
    ccy = currency or "settle currency"
    eq = result.equity_frame(path)
    events = result.events
    events = events[events["path"] == path]
    keep = eq["step"].isin(events["step"])
    n = int(eq["step"].max()) + 1
    stride = max(1, int(np.ceil(n / 1500)))
    keep |= (eq["step"] % stride == 0) | (eq["step"] == n - 1)
    eq = eq[keep].reset_index(drop=True)
    temporal = pd.api.types.is_datetime64_any_dtype(eq["time"])
    axis = None if temporal else _time_title(result.time)
    if temporal:
        x = _enc(alt.X, "time:T", title="Date")
        x_tip = _tip("time:T", "Date", "%Y-%m-%d %H:%M")
    elif axis is not None:  # a named numeric time axis, e.g. days into a crash path
        x = _enc(alt.X, "time:Q", title=axis)
        x_tip = _tip("time:Q", axis, ",.4~f")
    else:
        eq["time"] = eq["step"]
        x = _enc(alt.X, "time:Q", title="Step")
        x_tip = _tip("time:Q", "Step", "d")
    fmt = _amount_format(eq["equity"])
    lines = _chart(
        eq,
        "line",
        {
            "x": x,
            "y": _enc(alt.Y, "equity:Q", title=f"Account equity ({ccy})"),
            "color": _color(symbol="stroke"),
            "tooltip": [_tip("mode:N", "Mode"), x_tip, _tip("equity:Q", f"Equity ({ccy})", fmt)],
        },
        strokeWidth=2,
    )
    layers: list[alt.Chart] = [lines]
    if len(events):
        at = result.equity_frame(path)[["step", "mode", "equity"]]
        ev = events.merge(at, on=["step", "mode"], how="left")
        own_time = temporal or axis is not None
        ev = ev.assign(time=ev["time"] if own_time else ev["step"], event=ev["event"].astype(str))
        ev = ev[
            [
                "time",
                "step",
                "mode",
                "position",
                "event",
                "price",
                "fill_price",
                "loss",
                "margin_ratio",
                "equity",
            ]
        ]
        ev["what"] = ev["event"].str.replace("_", " ")
        ev_tip = [
            _tip("what:N", "Event"),
            _tip("mode:N", "Mode"),
            _tip("position:N", "Position"),
            x_tip,
            _tip("price:Q", "Checked price", ",.2f"),
            _tip("fill_price:Q", "Fill price", ",.2f"),
            _tip("loss:Q", f"Loss ({ccy})", fmt),
            _tip("margin_ratio:Q", "Margin ratio", ".1%"),
            _tip("equity:Q", f"Equity after ({ccy})", fmt),
        ]
        calls = ev[ev["event"] == "margin_call"]
        if len(calls):
            # margin calls as dashed vertical rules: a liquidation often follows at the same step
            dash = _enc(
                alt.StrokeDash,
                "what:N",
                scale={"domain": ["margin call"], "range": [[4, 3]]},
                legend={"orient": "top", "title": None, "symbolStrokeColor": _GREY},
            )
            encoding = {
                "x": x,
                "color": _color(legend=False),
                "strokeDash": dash,
                "tooltip": ev_tip,
            }
            layers.append(_chart(calls, "rule", encoding, strokeWidth=1.3, opacity=0.75))
        liqs = ev[ev["event"] != "margin_call"]
        if len(liqs):
            present = [e.replace("_", " ") for e in _EVENT_SHAPES if e in set(liqs["event"])]
            shapes = {k.replace("_", " "): v for k, v in _EVENT_SHAPES.items()}
            shape = _enc(
                alt.Shape,
                "what:N",
                scale={"domain": present, "range": [shapes[e] for e in present]},
                legend={"orient": "top", "title": None},
            )
            encoding = {
                "x": x,
                "y": _enc(alt.Y, "equity:Q"),
                "color": _color(),
                "shape": shape,
                "tooltip": ev_tip,
            }
            layers.append(
                _chart(
                    liqs,
                    "point",
                    encoding,
                    size=120,
                    filled=True,
                    strokeWidth=1.2,
                    stroke="black",
                    opacity=1,
                )
            )
    n_liq = int(events["event"].isin(["liquidation", "partial_liquidation"]).sum())
    n_call = int((events["event"] == "margin_call").sum())
    text = title or "Replay: account equity by margin mode"
    sub = (
        f"Path {path}: {n_call} margin call(s) (dashed), {n_liq} liquidation(s) (marked) over "
        "all modes; equity at each close, after events."
    )
    return alt.LayerChart(
        layer=layers, width=width, height=height, title=_title(text, sub, fit=width + 60)
    )


# ----------------------------------------------------------------------------- rendering
def offline_renderer(spec: dict, **metadata: Any) -> dict:
    """Altair renderer ``"margin_kit"``: a chart as HTML that needs no network.

    The output is a ``<div>`` and a script wrapped in a function (no top-level ``const``, so any
    number of charts share a page) that waits for ``window.vegaEmbed`` and embeds the spec. The
    page must provide vega-embed once: ``margin-kit export`` inlines :func:`vega_bundle`.

    Parameters
    ----------
    spec : dict
        The Vega-Lite spec (altair passes it).
    **metadata
        ``embed_options`` and the other options altair forwards to
        :func:`altair.utils.mimebundle.spec_to_mimebundle`.

    Returns
    -------
    dict
        A mimebundle ``{"text/html": ...}``.
    """
    return spec_to_mimebundle(
        spec,
        format="html",
        mode="vega-lite",
        template=_CHART_TEMPLATE,
        vega_version=VEGA_VERSION,
        vegaembed_version=VEGAEMBED_VERSION,
        vegalite_version=VEGALITE_VERSION,
        output_div=f"mk-{uuid.uuid4().hex}",
        **metadata,
    )


def render_mode() -> str:
    """``"static"`` if the environment variable ``MARGIN_KIT_RENDER`` says so, else ``"live"``."""
    return "static" if os.environ.get(RENDER_ENV, "").strip().lower() == "static" else "live"


def setup(mode: str | None = None) -> str:
    """Enable the renderer for ``mode`` (default :func:`render_mode`); notebooks call it first.

    ``"live"``: ``alt.renderers.enable("jupyter", offline=True)`` (JupyterChart widgets, their
    JavaScript from vl-convert: no CDN). ``"static"``: the ``"margin_kit"`` renderer
    (:func:`offline_renderer`) with ``actions=False`` (no menu linking to the online editor).

    Returns
    -------
    str
        The mode enabled.

    Raises
    ------
    InputError
        A mode other than ``"live"`` or ``"static"``.
    """
    mode = render_mode() if mode is None else mode
    if mode == "static":
        alt.renderers.enable("margin_kit", embed_options={"actions": False})
    elif mode == "live":
        alt.renderers.enable("jupyter", offline=True)
    else:
        raise InputError("mode", mode, "'live', 'static' or None (from MARGIN_KIT_RENDER)")
    return mode


@functools.lru_cache(maxsize=1)
def vega_bundle() -> str:
    """vega, vega-lite and vega-embed as one script to inline once in a page (cached).

    :func:`vl_convert.javascript_bundle` for altair's Vega-Lite version (major.minor), wrapped in
    a function so its top-level declarations do not leak; it sets ``window.vegaEmbed``.
    """
    import vl_convert

    vl_version = ".".join(VEGALITE_VERSION.split(".")[:2])
    return "(function(){\n" + vl_convert.javascript_bundle(vl_version=vl_version) + "\n})();"
