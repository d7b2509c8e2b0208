"""A numeric goal's chart: the indicator across the plan's years as bars, the target as a dashed
line, the forecast as a dashed outline bar.

One chart model (`chart_model`: every shape's position and text, in SVG user units), two renderers:
inline SVG for HTML (no script, no font download) and PNG for the Word document, drawn with Pillow
at a higher resolution from the same shapes.
"""

from __future__ import annotations

import functools
import io
import math
from dataclasses import dataclass, field

from markupsafe import Markup, escape

from typing import Any

from nsk_pipeline.reports.formatting import fmt_number, fmt_value, target_phrase

# A goal is render.Goal (its series, target, unit, period); render imports this module, so the
# type is not imported here.
GoalReport = Any

WIDTH, HEIGHT = 560, 230
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 18, 34


@dataclass
class Text:
    x: float
    y: float
    text: str
    cls: str  # tick, year, value, forecast-label, nodata, target-label
    anchor: str = "middle"


@dataclass
class Rect:
    x: float
    y: float
    w: float
    h: float
    cls: str  # bar, bar context, forecast
    title: str


@dataclass
class Line:
    x1: float
    x2: float
    y: float
    cls: str  # grid, axis, target-line
    title: str = ""


@dataclass
class Chart:
    goal_id: str
    label: str
    width: int = WIDTH
    height: int = HEIGHT
    lines: list[Line] = field(default_factory=list)  # drawn first: grid and axis
    rects: list[Rect] = field(default_factory=list)
    target: Line | None = None
    texts: list[Text] = field(default_factory=list)


def nice_scale(value: float, whole: bool) -> tuple[float, float]:
    """(top, step) of a y axis with four steps of 1, 2 or 5 × 10^k (2.5 too unless counts)."""
    raw = max(value, 1e-9) / 4
    exp = 10 ** math.floor(math.log10(raw))
    for m in ((1, 2, 5, 10) if whole else (1, 2, 2.5, 5, 10)):
        step = m * exp
        if step >= raw and (not whole or step >= 1):
            break
    if whole:
        step = max(step, 1)
    return step * 4, step


def chart_model(goal: GoalReport) -> Chart:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    points = goal.series
    values = [p.value for p in points if p.value is not None] + [p.forecast for p in points if p.forecast]
    y_max, y_step = nice_scale(max([*values, goal.target or 0, 1e-9]) * 1.1, whole=goal.unit != "pct")

    def y(v: float) -> float:
        return TOP + plot_h - plot_h * v / y_max

    label = f"Diagram: {goal.indicator_name or goal.indicator_id}, {points[0].year}-{points[-1].year}, " \
            f"med måltal {fmt_value(goal.target, goal.unit)}" if points else "Diagram"
    chart = Chart(goal.goal_id, label)
    for i in range(5):  # grid and y labels
        v = y_step * i
        chart.lines.append(Line(LEFT, WIDTH - RIGHT, y(v), "grid"))
        chart.texts.append(Text(LEFT - 6, y(v) + 4, fmt_number(v), "tick", "end"))
    slot = plot_w / max(len(points), 1)
    bar_w = min(64, slot * 0.55)
    for i, p in enumerate(points):
        cx = LEFT + slot * (i + 0.5)
        x0 = cx - bar_w / 2
        chart.texts.append(Text(cx, HEIGHT - BOTTOM + 18, str(p.year), "year"))
        if p.forecast is not None and (p.value is None or p.forecast > p.value):
            chart.rects.append(Rect(x0, y(p.forecast), bar_w, y(0) - y(p.forecast), "forecast",
                                    f"Prognose {p.year}: {fmt_value(p.forecast, goal.unit, whole=True)}"))
            chart.texts.append(Text(cx, y(p.forecast) - 4, f"prognose {fmt_number(p.forecast, 0)}", "forecast-label"))
        if p.value is not None:
            chart.rects.append(Rect(x0, y(p.value), bar_w, max(y(0) - y(p.value), 0), "bar context" if p.context
                                    else "bar", f"{p.year}: {fmt_value(p.value, goal.unit)}"))
            chart.texts.append(Text(cx, y(p.value) - 4, fmt_number(p.value) if goal.unit != "pct"
                                    else fmt_number(p.value, 1), "value"))
        elif not p.future:
            chart.texts.append(Text(cx, y(0) - 6, "ingen data", "nodata"))
    chart.lines.append(Line(LEFT, WIDTH - RIGHT, y(0), "axis"))
    if goal.target is not None:
        single_year = goal.period not in ("annual", "plan")
        if single_year and goal.period.isdigit() and any(p.year == int(goal.period) for p in points):
            i = next(i for i, p in enumerate(points) if p.year == int(goal.period))
            x1, x2 = LEFT + slot * i + 4, LEFT + slot * (i + 1) - 4
        else:
            x1, x2 = LEFT, WIDTH - RIGHT
        chart.target = Line(x1, x2, y(goal.target), "target-line", f"Måltal: {target_phrase(goal)}")
        chart.texts.append(Text(x2, y(goal.target) - 5, f"Måltal {fmt_number(goal.target)}", "target-label", "end"))
    return chart


# --------------------------------------------------------------------------- SVG


def chart_svg(goal: GoalReport) -> Markup:
    """The chart as inline SVG (the HTML report's CSS styles it by class)."""
    c = chart_model(goal)
    e = escape
    out = [f'<svg class="chart" data-goal-id="{e(c.goal_id)}" xmlns="http://www.w3.org/2000/svg" '
           f'viewBox="0 0 {c.width} {c.height}" width="{c.width}" height="{c.height}" role="img" '
           f'aria-label="{e(c.label)}">', f"<title>{e(c.label)}</title>"]
    out += [f'<line class="{ln.cls}" x1="{ln.x1:.1f}" x2="{ln.x2:.1f}" y1="{ln.y:.1f}" y2="{ln.y:.1f}"/>'
            for ln in c.lines]
    out += [f'<rect class="{r.cls}" x="{r.x:.1f}" y="{r.y:.1f}" width="{r.w:.1f}" height="{r.h:.1f}">'
            f"<title>{e(r.title)}</title></rect>" for r in c.rects]
    if c.target:
        t = c.target
        out.append(f'<line class="target-line" x1="{t.x1:.1f}" x2="{t.x2:.1f}" y1="{t.y:.1f}" y2="{t.y:.1f}">'
                   f"<title>{e(t.title)}</title></line>")
    out += [f'<text class="{t.cls}" x="{t.x:.1f}" y="{t.y:.1f}" text-anchor="{t.anchor}">{e(t.text)}</text>'
            for t in c.texts]
    out.append("</svg>")
    return Markup("".join(out))


# --------------------------------------------------------------------------- PNG

SCALE = 2  # 1120 × 460 pixels: about 230 dpi at the 12.5 cm Word prints it
_COLOURS = {"grid": "#e3e3e3", "axis": "#555555", "bar": "#2f5d8a", "bar context": "#a9bfd6",
            "forecast": "#2f5d8a", "target-line": "#c0392b", "tick": "#333333", "year": "#333333",
            "value": "#333333", "forecast-label": "#2f5d8a", "nodata": "#888888", "target-label": "#c0392b"}


# Arial's metric twin first (the HTML report's font), then DejaVu; Pillow finds them in the system's
# font folders. Pillow's own font has no å, ø, æ: without a system font the labels spell them out.
_FONTS = ("LiberationSans-Regular.ttf", "Arial.ttf", "DejaVuSans.ttf")
_SPELLED = str.maketrans({"å": "aa", "Å": "Aa", "ø": "oe", "Ø": "Oe", "æ": "ae", "Æ": "Ae"})


@functools.cache
def _font(size: int) -> tuple[Any, bool]:
    from PIL import ImageFont

    for name in _FONTS:
        try:
            return ImageFont.truetype(name, size), True
        except OSError:
            continue
    return ImageFont.load_default(size=size), False


def _dashed(draw, x1: float, x2: float, y: float, dash: float, gap: float, fill: str, width: int) -> None:
    x = x1
    while x < x2:
        draw.line([(x, y), (min(x + dash, x2), y)], fill=fill, width=width)
        x += dash + gap


def chart_png(goal: GoalReport) -> bytes:
    """The same chart as a PNG (for the Word document, where inline SVG is not reliably shown)."""
    from PIL import Image, ImageDraw

    c = chart_model(goal)
    s = SCALE
    img = Image.new("RGB", (c.width * s, c.height * s), "white")
    draw = ImageDraw.Draw(img)
    font, danish = _font(11 * s)
    for ln in c.lines:
        draw.line([(ln.x1 * s, ln.y * s), (ln.x2 * s, ln.y * s)], fill=_COLOURS[ln.cls], width=s)
    for r in c.rects:
        box = [r.x * s, r.y * s, (r.x + r.w) * s, (r.y + r.h) * s]
        if r.cls == "forecast":
            for edge in (box[1], box[3]):  # a dashed outline, as the SVG's stroke-dasharray
                _dashed(draw, box[0], box[2], edge, 5 * s, 3 * s, _COLOURS["forecast"], s)
            for x in (box[0], box[2]):
                yy = box[1]
                while yy < box[3]:
                    draw.line([(x, yy), (x, min(yy + 5 * s, box[3]))], fill=_COLOURS["forecast"], width=s)
                    yy += 8 * s
        else:
            draw.rectangle(box, fill=_COLOURS[r.cls])
    if c.target:
        t = c.target
        _dashed(draw, t.x1 * s, t.x2 * s, t.y * s, 7 * s, 4 * s, _COLOURS["target-line"], 2 * s)
    anchors = {"middle": "ms", "end": "rs", "start": "ls"}  # SVG's baseline anchors
    for t in c.texts:
        text = t.text if danish else t.text.translate(_SPELLED)
        draw.text((t.x * s, t.y * s), text, fill=_COLOURS[t.cls], font=font, anchor=anchors[t.anchor])
    out = io.BytesIO()
    img.save(out, format="PNG", compress_level=1)  # fast: a report writes a chart per numeric goal
    return out.getvalue()
