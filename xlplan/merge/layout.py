"""How the merged workbook looks: formats, column widths, row heights, page set-up, charts,
and the bridge from the looks of the layout workbook (openpyxl) to XlsxWriter formats.

Nothing here reads the archive or writes a cell value: the writer (:mod:`.writer`) does."""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
from functools import lru_cache

from defusedxml import ElementTree as SafeET
from openpyxl.styles.colors import COLOR_INDEX

from ..ooxml.worksheet import column_letter
from ..report import display_width
from .tables import SPECS_BY_NAME, Table

ONE_DECIMAL = {"平均達成度", "評価点（平均）"}
DATE_TIMES = {"最終保存", "回収日時"}  # real date-times in local time: Excel sorts and filters them
FONT = "游ゴシック"


def row_height(values, columns, widths: dict[str, int], wrap) -> float | None:
    """Height that shows every line of the wrapped cells of a row (no application re-measures
    rows of a file it did not save, so a PDF would otherwise show one line per row)."""
    lines = 1
    for name, value in zip(columns, values):
        if name not in wrap or not isinstance(value, str):
            continue
        width = max(widths.get(name, 12) - 1, 4)
        lines = max(lines, _short_lines(value, width) if len(value) <= 100 else _lines(value, width))
    return 15.0 * lines if lines > 1 else None


def _lines(text: str, width: int) -> int:
    return sum(max(1, -(-display_width(part) // width)) for part in text.split("\n"))


# Names repeat row after row in the wrapped columns (入力値's 項目, 推移's 事業 and 指標): measured
# character by character they took ~9 % of a profiled merge at N=500 (108 k rows). Only short
# text is cached (bounded memory); long free text is mostly unique.
_short_lines = lru_cache(maxsize=4096)(_lines)


class Formats:
    """XlsxWriter formats, one per distinct look (made once: a workbook holds a limited number)."""

    def __init__(self, wb):
        self.wb = wb
        self.cache: dict[tuple, object] = {}

    def get(self, **props):
        """The format with these XlsxWriter properties."""
        key = tuple(sorted(props.items()))
        if key not in self.cache:
            self.cache[key] = self.wb.add_format(dict(props))
        return self.cache[key]

    def column(self, name: str, wrap, numeric: bool, **extra):
        """The look of a table cell: the merged workbook's font, text at the top of the row,
        wrapped in the wrap columns, numbers centred (averages with one decimal)."""
        props = {"font_name": FONT, "valign": "top", **extra}
        if name in wrap:
            props["text_wrap"] = True
        if numeric:
            props["align"] = "center"
            if name in ONE_DECIMAL:
                props["num_format"] = "0.0"  # an average of 3 is published as 3.0
            elif str(name).endswith("達成率"):
                props["num_format"] = "0.0%"  # 0.833 is shown as 83.3%; the CSV keeps 0.833
            elif name in DATE_TIMES:
                props["num_format"] = "yyyy/mm/dd hh:mm"
        return self.get(**props)


_CM = 37.8  # pixels per centimetre at 96 dpi (chart sizes were set in cm)


@dataclass
class Written:
    """What a streamed table sheet needs afterwards (charts point at its rows)."""

    ws: object
    rows: int
    head: int   # 0-based row of the header
    first: list[dict]


def table_page_setup(ws, columns: list[str], widths: dict[str, int], head: int, paper: int) -> None:
    """A table sheet's widths and print set-up: header frozen and repeated on every page,
    landscape, fitted to the page width."""
    for col, name in enumerate(columns):
        ws.set_column(col, col, widths.get(name, 12))
    ws.freeze_panes(head + 1, 0)
    ws.set_landscape()
    ws.set_paper(paper)  # 9: A4, 8: A3
    ws.fit_to_pages(1, 0)
    ws.repeat_rows(head)


def header_height(columns: list[str], widths: dict[str, int]) -> float | None:
    """The height of a header row that shows every header's lines (None: one line)."""
    lines = max((-(-display_width(str(n)) // max(widths.get(n, 12) - 1, 4)) for n in columns), default=1)
    return 15.0 * lines if lines > 1 else None


def _bar_chart(wb, title: str, subtype: str | None = None):
    chart = wb.add_chart({"type": "bar", **({"subtype": subtype} if subtype else {})})
    chart.set_title({"name": title, "name_font": {"size": 12}})
    chart.set_size({"width": 16 * _CM, "height": 9 * _CM})
    return chart


def goal_charts(wb, written: Written, columns: list[str]) -> None:
    if not written.rows:
        return
    ws, n, sheet = written.ws, written.rows, written.ws.name
    name_col = columns.index("名称")
    avg = _bar_chart(wb, "平均達成度（1～5）")
    col = columns.index("平均達成度")
    avg.add_series({"name": [sheet, 0, col], "categories": [sheet, 1, name_col, n, name_col],
                    "values": [sheet, 1, col, n, col]})
    avg.set_x_axis({"min": 0, "max": 5})
    ws.insert_chart(n + 2, 0, avg)
    dist = _bar_chart(wb, "達成度の分布（件数）", "stacked")
    first = columns.index("達成度1")
    for col in range(first, first + 5):
        dist.add_series({"name": [sheet, 0, col], "categories": [sheet, 1, name_col, n, name_col],
                         "values": [sheet, 1, col, n, col]})
    ws.insert_chart(n + 2, 9, dist)


def _union(sheet: str, row: int, cols: list[int]) -> str:
    """A chart range over cells that are not next to each other (one rate column per year)."""
    quoted = "'" + sheet.replace("'", "''") + "'"
    return "=(" + ",".join(f"{quoted}!${column_letter(c)}${row + 1}" for c in cols) + ")"


def trend_chart(wb, written: Written, columns: list[str]) -> None:
    """Achievement rate (result / target) per year, one line per indicator and department
    (the first rows of the sheet)."""
    rate_cols = [i for i, c in enumerate(columns) if str(c).endswith("達成率")]
    if not written.rows or not rate_cols:
        return
    sheet = written.ws.name
    chart = wb.add_chart({"type": "line"})
    chart.set_title({"name": "達成率の推移（実績÷目標）", "name_font": {"size": 12}})
    chart.set_y_axis({"name": "達成率"})
    for r, row in enumerate(written.first, start=1):
        chart.add_series({"name": f"{row['指標']}（{row['担当課']}）"[:40],
                          "categories": _union(sheet, 0, rate_cols), "values": _union(sheet, r, rate_cols),
                          "marker": {"type": "circle"}})
    chart.set_size({"width": 22 * _CM, "height": 10 * _CM})
    written.ws.insert_chart(written.rows + 3, 0, chart)


def committee_chart(wb, formats: "Formats", written: Written, table: Table, write) -> None:
    """The average per measure as a bar chart, its short labels written under the table
    (施策の展開 holds the whole policy paragraph, unreadable as a chart label); ``write(ws, r,
    c, value, fmt)`` writes a cell."""
    if not written.rows:
        return
    ws, sheet, n = written.ws, written.ws.name, written.rows
    label_col, value_col = table.columns.index("施策の展開"), table.columns.index("評価点（平均）")
    top = written.head + n + 2
    head = formats.get(font_name=FONT, bold=True, bg_color="#D9E1F2", pattern=1, align="center")
    write(ws, top, label_col, "施策（グラフ用）", head)
    write(ws, top, value_col, "評価点（平均）", head)
    number = formats.column("評価点（平均）", (), True)
    for i, row in enumerate(table.rows(), start=1):
        write(ws, top + i, label_col, measure_label(row["施策の展開"]), formats.column("", (), False))
        write(ws, top + i, value_col, row["評価点（平均）"], number)
    chart = _bar_chart(wb, "施策ごとの評価点（平均）")
    chart.add_series({"name": [sheet, top, value_col],
                      "categories": [sheet, top + 1, label_col, top + n, label_col],
                      "values": [sheet, top + 1, value_col, top + n, value_col]})
    chart.set_x_axis({"min": 0, "max": 5})
    chart.set_y_axis({"reverse": True})  # the first measure at the top, as in the table
    chart.set_size({"width": 18 * _CM, "height": max(7, 0.8 * n) * _CM})
    ws.insert_chart(top + n + 2, 0, chart)


def measure_label(text) -> str:
    """A measure's short label: the first line of 施策の展開 (number and name)."""
    return str(text or "").split("\n", 1)[0].strip()


_BORDERS = {"thin": 1, "medium": 2, "dashed": 3, "dotted": 4, "thick": 5, "double": 6, "hair": 7,
            "mediumDashed": 8, "dashDot": 9, "mediumDashDot": 10, "dashDotDot": 11,
            "mediumDashDotDot": 12, "slantDashDot": 13}
_HORIZONTAL = {"left": "left", "center": "center", "right": "right", "fill": "fill", "justify": "justify",
               "centerContinuous": "center_across", "distributed": "distributed"}
_VERTICAL = {"top": "top", "center": "vcenter", "bottom": "bottom", "justify": "vjustify",
             "distributed": "vdistributed"}


_THEME_NS = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
# Excel's theme colour numbers: 0 and 1 are the light and dark of the first pair, swapped with
# respect to the order of <a:clrScheme> (dk1, lt1, dk2, lt2, accent1-6, hlink, folHlink).
_THEME_ORDER = ("lt1", "dk1", "lt2", "dk2", "accent1", "accent2", "accent3", "accent4", "accent5",
                "accent6", "hlink", "folHlink")


def theme_colours(theme_xml: bytes | None) -> list[str]:
    """The RGB ('RRGGBB') of each theme colour number of a workbook's theme part (empty when
    the workbook has none)."""
    if not theme_xml:
        return []
    scheme = SafeET.fromstring(theme_xml).find(f".//{_THEME_NS}clrScheme")
    if scheme is None:
        return []
    found = {}
    for slot in scheme:
        name = slot.tag.replace(_THEME_NS, "")
        for colour in slot:
            rgb = colour.get("val") if colour.tag == f"{_THEME_NS}srgbClr" else colour.get("lastClr")
            if rgb:
                found[name] = rgb[-6:].upper()
    return [found.get(name, "000000") for name in _THEME_ORDER]


def _tinted(rgb: str, tint: float) -> str:
    """An RGB colour lightened (tint > 0) or darkened (tint < 0) as Excel applies a tint."""
    if not tint:
        return rgb
    h, lum, s = colorsys.rgb_to_hls(*(int(rgb[i:i + 2], 16) / 255 for i in (0, 2, 4)))
    lum = lum * (1 + tint) if tint < 0 else lum * (1 - tint) + tint
    return "".join(f"{round(v * 255):02X}" for v in colorsys.hls_to_rgb(h, lum, s))


def resolved_colour(color, theme: list[str]) -> str | None:
    """'#RRGGBB' of an openpyxl colour, whether given as RGB, as a theme colour (resolved
    through the workbook's ``theme``, with its tint) or as an indexed colour; None for the
    automatic colour or one that cannot be resolved."""
    if color is None:
        return None
    if color.type == "rgb" and isinstance(color.rgb, str) and len(color.rgb) >= 6:
        return "#" + color.rgb[-6:].upper() if color.tint == 0 else "#" + _tinted(color.rgb[-6:], color.tint)
    if color.type == "theme" and isinstance(color.theme, int) and 0 <= color.theme < len(theme):
        return "#" + _tinted(theme[color.theme], color.tint or 0)
    if color.type == "indexed" and isinstance(color.indexed, int) and 0 <= color.indexed < len(COLOR_INDEX):
        rgb = COLOR_INDEX[color.indexed]
        return "#" + rgb[-6:].upper()
    return None


def _is_text_colour(color) -> bool:
    """Whether a font colour is theme colour 1 untinted (テキスト 1), the colour XlsxWriter
    gives every font already: left as the default rather than fixed as RGB."""
    return color is not None and color.type == "theme" and color.theme == 1 and not color.tint


def look_of(c, theme: list[str]) -> dict:
    """XlsxWriter format properties of a styled openpyxl cell of the layout workbook (colours
    resolved to RGB through the workbook's ``theme``: XlsxWriter takes RGB only)."""
    props: dict = {}
    font = c.font
    if font.name:
        props["font_name"] = font.name
    if font.sz:
        props["font_size"] = float(font.sz)
    if font.b:
        props["bold"] = True
    if font.i:
        props["italic"] = True
    if font.u:
        props["underline"] = 1
    if not _is_text_colour(font.color) and (color := resolved_colour(font.color, theme)) is not None:
        props["font_color"] = color
    if c.fill is not None and c.fill.fill_type == "solid" and (color := resolved_colour(c.fill.fgColor, theme)):
        props.update(bg_color=color, pattern=1)
    for side in ("left", "right", "top", "bottom"):
        edge = getattr(c.border, side)
        if edge is not None and edge.style in _BORDERS:
            props[side] = _BORDERS[edge.style]
            if (color := resolved_colour(edge.color, theme)) is not None:
                props[f"{side}_color"] = color
    al = c.alignment
    if al.horizontal in _HORIZONTAL:
        props["align"] = _HORIZONTAL[al.horizontal]
    if al.vertical in _VERTICAL:
        props["valign"] = _VERTICAL[al.vertical]
    if al.wrap_text:
        props["text_wrap"] = True
    if al.shrink_to_fit:
        props["shrink"] = True
    if al.indent:
        props["indent"] = int(al.indent)
    if c.number_format and c.number_format != "General":
        props["num_format"] = c.number_format
    return props


# 一覧's year columns (令和6年度実績 …) by how their header ends: width (and wrapped).
_OVERVIEW_YEAR_COLUMNS = {"事業名": 16, "実績": 34, "計画": 32}


def sheet_layout(table: Table) -> tuple[dict[str, int], tuple[str, ...]]:
    """Column widths and wrapped columns of a table sheet, from its spec (一覧's year columns,
    named after the years, by how their header ends)."""
    spec = SPECS_BY_NAME[table.name]
    widths, wrap = dict(spec.widths), tuple(spec.wrap)
    if table.name == "一覧":
        for column in table.columns:
            suffix = next((k for k in _OVERVIEW_YEAR_COLUMNS if column.endswith(k) and column != k), None)
            if suffix is not None:
                widths[column] = _OVERVIEW_YEAR_COLUMNS[suffix]
                wrap += (column,)
    return widths, wrap
