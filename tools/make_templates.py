"""Build the default layouts in workbook_templates/ (run once; coordinators then restyle the files).

    python tools/make_templates.py

The .xlsx files it writes are the source of truth afterwards: edit them in Excel, not here. This
script only exists to recreate the defaults from scratch.
"""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

OUT = Path(__file__).resolve().parent.parent / "workbook_templates"
FONT = "游ゴシック"
THIN = Side(style="thin", color="808080")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
LABEL_FILL = PatternFill("solid", fgColor="D9E1F2")
BLOCK_FILL = PatternFill("solid", fgColor="B4C6E7")


def style(cell, *, bold=False, size=10, fill=None, wrap=True, h="left", v="center", border=True):
    cell.font = Font(name=FONT, bold=bold, size=size)
    if fill:
        cell.fill = fill
    cell.alignment = Alignment(horizontal=h, vertical=v, wrap_text=wrap)
    if border:
        cell.border = BOX


def put(ws, ref, value, merge=None, **kw):
    ws[ref] = value
    style(ws[ref], **kw)
    if merge:
        for row in ws[merge]:
            for c in row:
                c.border = BOX
                if kw.get("fill"):
                    c.fill = kw["fill"]
        ws.merge_cells(merge)


def project_sheet(wb):
    ws = wb.create_sheet("事業シート")
    widths = {"A": 16, "B": 7, "C": 15, "D": 30, "E": 7, "F": 6, "G": 10, "H": 10, "I": 10, "J": 10, "K": 10}
    for col, w in widths.items():
        ws.column_dimensions[col].width = w
    put(ws, "B1", "{{plan.name}}　事業シート（{{year.label}}評価）", "B1:K1", bold=True, size=14, border=False)
    ws.row_dimensions[1].height = 28
    for row, label, value in ((2, "基本目標", "{{goal.no}}. {{goal.name}}"),
                              (3, "施策の方向性", "{{direction.id}} {{direction.name}}"),
                              (4, "事業名", "{{project.id}} {{project.name}}"),
                              (5, "担当課", "{{project.departments}}")):
        put(ws, f"B{row}", label, f"B{row}:C{row}", bold=True, fill=LABEL_FILL)
        put(ws, f"D{row}", value, f"D{row}:K{row}", bold=row == 4, size=12 if row == 4 else 10)
        ws.row_dimensions[row].height = 20
    # PLAN
    put(ws, "B6", "PLAN\n（計画）", "B6:B10", bold=True, fill=BLOCK_FILL, h="center")
    put(ws, "C6", "現状と課題", fill=LABEL_FILL, bold=True)
    put(ws, "D6", "{{project.issues}}", "D6:K6", v="top")
    ws.row_dimensions[6].height = 80
    put(ws, "C7", "方針・目標", fill=LABEL_FILL, bold=True)
    put(ws, "D7", "{{project.policy}}", "D7:K7", v="top")
    ws.row_dimensions[7].height = 80
    put(ws, "C8", "取組みの\n達成目標", "C8:C10", fill=LABEL_FILL, bold=True)
    put(ws, "D8", "指標", fill=LABEL_FILL, bold=True, h="center")
    put(ws, "E8", "単位", fill=LABEL_FILL, bold=True, h="center")
    put(ws, "F8", "", fill=LABEL_FILL)
    for i, col in enumerate("GHIJK", start=1):
        put(ws, f"{col}8", f"{{{{year[{i}]}}}}", fill=LABEL_FILL, bold=True, h="center")
    ws["A9"] = "each indicator"
    ws["A10"] = "each indicator"
    put(ws, "D9", "{{indicator.name}}", "D9:D10", v="center")
    put(ws, "E9", "{{indicator.unit}}", "E9:E10", h="center")
    put(ws, "F9", "計画", h="center")
    put(ws, "F10", "結果", h="center")
    for i, col in enumerate("GHIJK", start=1):
        put(ws, f"{col}9", f"{{{{target[{i}]}}}}", h="center")
        put(ws, f"{col}10", f"{{{{result[{i}]}}}}", h="center")
    ws.row_dimensions[9].height = 22
    ws.row_dimensions[10].height = 22
    # DO
    put(ws, "B11", "DO\n（これまでの\n取組み）", "B11:B12", bold=True, fill=BLOCK_FILL, h="center")
    put(ws, "C11", "年度", fill=LABEL_FILL, bold=True, h="center")
    put(ws, "D11", "取組み内容", "D11:K11", fill=LABEL_FILL, bold=True, h="center")
    ws["A12"] = "each year"
    put(ws, "C12", "{{do.year}}", h="center")
    put(ws, "D12", "{{do.text}}", "D12:K12", v="top")
    ws.row_dimensions[12].height = 48
    # CHECK
    put(ws, "B13", "CHECK\n（毎年度\n7月末時点）", "B13:B15", bold=True, fill=BLOCK_FILL, h="center")
    put(ws, "C13", "達成状況と成果", fill=LABEL_FILL, bold=True)
    put(ws, "D13", "{{input.achievement}}", "D13:K13", v="top")
    ws.row_dimensions[13].height = 70
    put(ws, "C14", "課題", fill=LABEL_FILL, bold=True)
    put(ws, "D14", "{{input.issues}}", "D14:K14", v="top")
    ws.row_dimensions[14].height = 70
    put(ws, "C15", "今後の方向性\n（継続・見直し\n・終了）", fill=LABEL_FILL, bold=True)
    put(ws, "D15", "{{input.direction}}", "D15:E15", h="center")
    put(ws, "F15", "{{hint:▼ 一覧から選んでください}}", "F15:K15", border=False, size=9)
    ws.row_dimensions[15].height = 44
    # ACTION
    put(ws, "B16", "ACTION\n（今後の\n取組み）", bold=True, fill=BLOCK_FILL, h="center")
    put(ws, "C16", "具体的な\n取組み内容", fill=LABEL_FILL, bold=True)
    put(ws, "D16", "{{input.action}}", "D16:K16", v="top")
    ws.row_dimensions[16].height = 70
    ws["A1"] = "制御列（生成時に削除）"
    ws.print_title_rows = "1:4"
    ws.page_setup.orientation = "portrait"
    return ws


def evaluation_sheet(wb):
    ws = wb.create_sheet("評価表")
    headers = [("基本目標", 16), ("施策の方向性", 16), ("事業", 20), ("担当課", 12),
               ("{{year.label}}実績", 30), ("{{year.label}}事業\n（事業名）", 18),
               ("評価\n（効果や反省点等）", 30), ("達成度\n（1～5段階評価）", 13),
               ("{{next_year.label}}計画", 30), ("{{next_year.label}}事業\n（事業名）", 18)]
    cols = "BCDEFGHIJK"
    ws.column_dimensions["A"].width = 14
    put(ws, "B1", "{{plan.name}}　{{year.label}}実績及び{{next_year.label}}計画（{{department}}）",
        "B1:K1", bold=True, size=13, border=False)
    ws.row_dimensions[1].height = 26
    for col, (label, width) in zip(cols, headers):
        ws.column_dimensions[col].width = width
        put(ws, f"{col}2", label, bold=True, fill=LABEL_FILL, h="center")
    ws.row_dimensions[2].height = 48
    ws["A3"] = "each project"
    values = ["{{goal.no}}. {{goal.name}}", "{{direction.id}} {{direction.name}}",
              "{{project.id}} {{project.name}}", "{{project.departments}}", "{{input.eval_result}}",
              "{{input.eval_name}}", "{{input.eval_comment}}", "{{input.eval_score}}",
              "{{input.next_plan}}", "{{input.next_name}}"]
    for col, value in zip(cols, values):
        put(ws, f"{col}3", value, v="top", h="center" if value == "{{input.eval_score}}" else "left")
    ws.row_dimensions[3].height = 90
    ws.print_title_rows = "1:2"
    ws.page_setup.orientation = "landscape"
    ws["A1"] = "制御列"
    return ws


def cover_sheet(wb):
    ws = wb.active
    ws.title = "表紙"
    for col, w in {"A": 14, "B": 12, "C": 40, "D": 30, "E": 10, "F": 10}.items():
        ws.column_dimensions[col].width = w
    put(ws, "B1", "{{plan.name}}", "B1:F1", bold=True, size=16, border=False)
    ws.row_dimensions[1].height = 30
    put(ws, "B2", "{{year.label}}　事業評価シート", "B2:F2", bold=True, size=13, border=False)
    for row, label, value in ((4, "担当課", "{{department}}"), (5, "提出期限", "{{deadline}}"),
                              (6, "事務局", "{{plan.organisation}}"), (7, "計画期間", "{{plan.period}}")):
        put(ws, f"B{row}", label, bold=True, fill=LABEL_FILL)
        put(ws, f"C{row}", value, f"C{row}:F{row}")
    put(ws, "B9", "入力のしかた", bold=True, fill=LABEL_FILL)
    put(ws, "C9", "・色の付いた欄だけ入力できます（未入力の欄はオレンジ、入力済みは黄色）。ほかの欄は変更できません。\n"
                  "・実績は数値だけを入力してください（単位は不要です）。\n"
                  "・今後の方向性は一覧から選び、達成度は 1～5 の整数で入力してください。\n"
                  "・未入力の欄は色が付きます。下の表で残りの件数を確認できます。\n"
                  "・シートの追加・削除や行の挿入はしないでください。",
        "C9:F9", v="top")
    ws.row_dimensions[9].height = 96
    for col, label in zip("BCDEF", ("事業番号", "事業名", "シート", "入力欄", "未入力")):
        put(ws, f"{col}11", label, bold=True, fill=LABEL_FILL, h="center")
    ws["A12"] = "each project"
    for col, value in zip("BCDEF", ("{{project.id}}", "{{project.name}}", "{{project.sheet}}",
                                    "{{inputs.count}}", "{{inputs.blank}}")):
        put(ws, f"{col}12", value, h="center" if col in "BEF" else "left")
    put(ws, "B13", "評価表", h="center")
    put(ws, "C13", "{{year.label}}実績及び{{next_year.label}}計画", )
    put(ws, "D13", "{{evaluation.sheet}}")
    put(ws, "E13", "{{evaluation.count}}", h="center")
    put(ws, "F13", "{{evaluation.blank}}", h="center")
    put(ws, "B14", "合計", "B14:D14", bold=True, h="right")
    put(ws, "E14", "{{total.count}}", bold=True, h="center")
    put(ws, "F14", "{{total.blank}}", bold=True, h="center")
    put(ws, "B16", "{{total.status}}", "B16:F16", bold=True, size=12, border=False)
    ws["A1"] = "制御列"
    ws.page_setup.orientation = "portrait"
    return ws


def styles_sheet(wb):
    ws = wb.create_sheet("スタイル")
    ws.column_dimensions["A"].width = 24
    ws.column_dimensions["B"].width = 24
    ws["A1"] = "この様式の色の見本（生成時に削除）"
    samples = (("入力欄", "FFF9E5"), ("未入力の強調", "FCE4D6"), ("参照のみ（過年度・計画）", "F2F2F2"))
    for row, (label, color) in enumerate(samples, start=2):
        ws.cell(row, 1, label)
        cell = ws.cell(row, 2, "見本")
        cell.fill = PatternFill("solid", fgColor=color)
        cell.border = BOX
    return ws


def scoring_cover(wb):
    ws = wb.active
    ws.title = "表紙"
    for col, w in {"A": 14, "B": 14, "C": 60}.items():
        ws.column_dimensions[col].width = w
    put(ws, "B1", "{{plan.name}}", "B1:C1", bold=True, size=16, border=False)
    ws.row_dimensions[1].height = 30
    put(ws, "B2", "中間評価 評価票（{{year.label}}）", "B2:C2", bold=True, size=13, border=False)
    for row, label, value in ((4, "委員", "{{member.name}}（{{member.group}}）"),
                              (5, "提出期限", "{{deadline}}"), (6, "事務局", "{{plan.organisation}}"),
                              (7, "基本理念", "{{plan.philosophy}}")):
        put(ws, f"B{row}", label, bold=True, fill=LABEL_FILL)
        put(ws, f"C{row}", value)
    put(ws, "B9", "評価のしかた", bold=True, fill=LABEL_FILL)
    put(ws, "C9", "・「評価票」シートの施策ごとに、これまでの主な取組を読んで評価を選んでください。\n"
                  "  ①できていない ②あまりできていない ③どちらともいえない ④できている ⑤よくできている\n"
                  "・評価できない施策は「評価しない」を選んでください（空欄のままにしないでください）。\n"
                  "・ご意見があれば意見欄に記入してください（セル内の改行は Alt+Enter）。", v="top")
    ws.row_dimensions[9].height = 84
    put(ws, "B11", "入力欄", bold=True, fill=LABEL_FILL)
    put(ws, "C11", "{{total.count}} か所")
    put(ws, "B12", "状況", bold=True, fill=LABEL_FILL)
    put(ws, "C12", "{{total.status}}")
    ws["A1"] = "制御列"
    return ws


def scoring_sheet(wb):
    ws = wb.create_sheet("評価票")
    headers = [("基本目標", 14), ("施策展開の方向性", 16), ("施策の展開", 30), ("それぞれの役割", 34),
               ("これまでの主な取組（{{year.label}}実績）", 44), ("評価", 16), ("意見", 36)]
    cols = "BCDEFGH"
    ws.column_dimensions["A"].width = 14
    put(ws, "B1", "{{plan.name}}　中間評価 評価票（{{member.name}} 委員）", "B1:H1", bold=True, size=13,
        border=False)
    put(ws, "B2", "評価点数・・・①できていない ②あまりできていない ③どちらともいえない ④できている ⑤よくできている",
        "B2:H2", border=False)
    for col, (label, width) in zip(cols, headers):
        ws.column_dimensions[col].width = width
        put(ws, f"{col}3", label, bold=True, fill=LABEL_FILL, h="center")
    ws.row_dimensions[3].height = 30
    ws["A4"] = "each project"
    values = ["{{goal.no}}. {{goal.name}}", "{{direction.id}} {{direction.name}}",
              "{{project.id}} {{project.name}}\n{{project.policy}}", "{{project.roles}}",
              "{{project.summary}}", "{{input.rating}}", "{{input.rating_comment}}"]
    for col, value in zip(cols, values):
        put(ws, f"{col}4", value, v="top", h="center" if "rating}}" in value else "left")
    ws.row_dimensions[4].height = 150
    ws.print_title_rows = "1:3"
    ws.page_setup.orientation = "landscape"
    ws["A1"] = "制御列"
    return ws


def generic_cover(wb, title):
    """A cover for one-sheet layouts: who, when, how, and how many inputs are still blank."""
    ws = wb.active
    ws.title = "表紙"
    for col, w in {"A": 14, "B": 14, "C": 64}.items():
        ws.column_dimensions[col].width = w
    put(ws, "B1", "{{plan.name}}", "B1:C1", bold=True, size=16, border=False)
    ws.row_dimensions[1].height = 30
    put(ws, "B2", f"{{{{year.label}}}}　{title}", "B2:C2", bold=True, size=13, border=False)
    for row, label, value in ((4, "担当課", "{{department}}"), (5, "提出期限", "{{deadline}}"),
                              (6, "事務局", "{{plan.organisation}}")):
        put(ws, f"B{row}", label, bold=True, fill=LABEL_FILL)
        put(ws, f"C{row}", value)
    put(ws, "B8", "入力のしかた", bold=True, fill=LABEL_FILL)
    put(ws, "C8", "・色の付いた欄だけ入力できます（未入力の欄はオレンジ、入力済みは黄色）。\n"
                  "・件数・人数は数値だけを入力してください（単位は不要です）。\n"
                  "・内訳がある場合は、内訳の合計が実績と一致するようにしてください。\n"
                  "・シートの追加・削除や行の挿入はしないでください。", v="top")
    ws.row_dimensions[8].height = 70
    put(ws, "B10", "入力欄", bold=True, fill=LABEL_FILL)
    put(ws, "C10", "{{total.count}} か所")
    put(ws, "B11", "未入力", bold=True, fill=LABEL_FILL)
    put(ws, "C11", "{{total.blank}}")
    put(ws, "B13", "{{total.status}}", "B13:C13", bold=True, size=12, border=False)
    ws["A1"] = "制御列"
    return ws


def table_sheet(wb, name, title, headers, values, tag, height=60):
    """One table with a header row and a row block repeated per ``tag``."""
    ws = wb.create_sheet(name)
    cols = [get_column_letter(i) for i in range(2, len(headers) + 2)]
    ws.column_dimensions["A"].width = 14
    put(ws, "B1", title, f"B1:{cols[-1]}1", bold=True, size=13, border=False)
    ws.row_dimensions[1].height = 26
    for col, (label, width) in zip(cols, headers):
        ws.column_dimensions[col].width = width
        put(ws, f"{col}2", label, bold=True, fill=LABEL_FILL, h="center")
    ws.row_dimensions[2].height = 36
    ws["A3"] = f"each {tag}"
    for col, value in zip(cols, values):
        numeric = value.startswith("{{input.n_") or value.startswith("{{result") or value.startswith("{{prev")
        put(ws, f"{col}3", value, v="top", h="center" if numeric else "left")
    ws.row_dimensions[3].height = height
    ws.print_title_rows = "1:2"
    ws.page_setup.orientation = "landscape"
    ws["A1"] = "制御列"
    return ws


def activity_layout():
    """seed 001: an activity report per activity direction, two years side by side, areas."""
    wb = Workbook()
    generic_cover(wb, "活動報告")
    table_sheet(wb, "活動報告", "{{plan.name}}　{{year.label}} 活動報告（{{department}}）",
                [("No", 7), ("基本的な活動の方向性", 22), ("{{year.label}} 具体的活動", 30), ("活動項目", 26),
                 ("{{prev_year.label}}\n実績", 10), ("{{year.label}}\n実績", 10), ("うち 中", 8),
                 ("うち 小", 8), ("うち 宮", 8), ("{{next_year.label}} 重点活動", 30)],
                ["{{project.id}}", "{{project.name}}", "{{project.policy}}", "{{input.activity_items}}",
                 "{{prev.n_total}}", "{{input.n_total}}", "{{input.n_area1}}", "{{input.n_area2}}",
                 "{{input.n_area3}}", "{{input.focus_next}}"], "project", height=90)
    styles_sheet(wb)
    return wb


def indicators_layout():
    """seed 002: an indicator results table, values per year, 担当課 and 今後の方針."""
    wb = Workbook()
    generic_cover(wb, "取組実績（指標）")
    table_sheet(wb, "指標実績", "{{plan.name}}　指標の実績（{{year.label}}・{{department}}）",
                [("事業", 24), ("指標", 30), ("単位", 7), ("{{year[1]}}", 9), ("{{year[2]}}", 9),
                 ("{{year[3]}}", 9), ("{{year[4]}}", 9), ("{{year[5]}}", 9),
                 ("{{year.label}}\n目標", 9), ("担当課", 14), ("今後の方針", 14)],
                ["{{project.id}} {{project.name}}", "{{indicator.name}}", "{{indicator.unit}}",
                 "{{result[1]}}", "{{result[2]}}", "{{result[3]}}", "{{result[4]}}", "{{result[5]}}",
                 "{{target.current}}", "{{project.departments}}", "{{input.policy_next}}"],
                "indicator", height=30)
    styles_sheet(wb)
    return wb


def counts_layout():
    """seed 004: a counts form (相談件数 by category with a total) for a model project."""
    wb = Workbook()
    generic_cover(wb, "相談件数報告")
    table_sheet(wb, "相談件数", "{{plan.name}}　{{year.label}} 相談件数（{{department}}）",
                [("事業", 24), ("相談件数\n（実数）", 10), ("母子", 8), ("身体・知的", 9), ("精神", 8),
                 ("こころの\n相談", 8), ("難病", 8), ("生活困窮", 9), ("その他", 8), ("延べ件数", 9),
                 ("主な相談内容・連携事例", 40)],
                ["{{project.id}} {{project.name}}", "{{input.n_total}}", "{{input.n_boshi}}",
                 "{{input.n_shintai}}", "{{input.n_seishin}}", "{{input.n_kokoro}}", "{{input.n_nanbyo}}",
                 "{{input.n_konkyu}}", "{{input.n_sonota}}", "{{input.n_visits}}", "{{input.summary}}"],
                "project", height=80)
    styles_sheet(wb)
    return wb


def main():
    OUT.mkdir(exist_ok=True)
    wb = Workbook()
    cover_sheet(wb)
    project_sheet(wb)
    evaluation_sheet(wb)
    styles_sheet(wb)
    wb.save(OUT / "department.xlsx")
    print("wrote", OUT / "department.xlsx")
    wb = Workbook()
    scoring_cover(wb)
    scoring_sheet(wb)
    styles_sheet(wb)
    wb.save(OUT / "scoring.xlsx")
    print("wrote", OUT / "scoring.xlsx")
    for name, build in (("activity", activity_layout), ("indicators", indicators_layout),
                        ("counts", counts_layout)):
        build().save(OUT / f"{name}.xlsx")
        print("wrote", OUT / f"{name}.xlsx")


if __name__ == "__main__":
    main()
