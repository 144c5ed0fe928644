"""Example: add a layout of your own with a template workbook and a short declaration.

No reader is written: the generated workbook carries its fields in signed metadata, and the
same check, collect and merge handle it. Here a volunteer-centre report: registered volunteers
with a breakdown by age group that must add up, and a free text.

    python examples/custom_layout.py
"""

import tempfile
from pathlib import Path

from openpyxl import Workbook, load_workbook

import xlplan
from xlplan.archive import Archive
from xlplan.collect import collect
from xlplan.merge import merged_tables


def add_volunteer_layout(layouts: Path) -> None:
    """Write the volunteer layout (template workbook and declaration) into a templates folder."""
    # 1. The template: column A is the control column, {{…}} placeholders mark the cells.
    wb = Workbook()
    cover = wb.active
    cover.title = "表紙"
    cover["B1"], cover["B2"], cover["B3"] = "{{plan.name}}", "{{department}}", "{{total.status}}"
    sheet = wb.create_sheet("登録状況")
    sheet["B1"] = "{{year.label}} ボランティア登録状況（{{department}}）"
    for col, head in zip("BCDEFG", ("事業", "登録者数", "うち10～30代", "うち40～60代", "うち70代以上", "活動の様子")):
        sheet[f"{col}2"] = head
    sheet["A3"] = "each project"
    for col, value in zip("BCDEFG", ("{{project.id}} {{project.name}}", "{{input.members}}", "{{input.young}}",
                                     "{{input.middle}}", "{{input.senior}}", "{{input.notes}}")):
        sheet[f"{col}3"] = value
    wb.save(layouts / "volunteer.xlsx")

    # 2. The declaration: sheets, fields (kind, label, unit) and a check that the parts add up.
    (layouts / "volunteer.toml").write_text('''
    id = "volunteer"
    version = 1
    title = "ボランティア登録状況"
    workbook = "volunteer.xlsx"

    [sheets]
    cover = "表紙"
    evaluation = "登録状況"

    [fields.members]
    kind = "quantity"
    label = "登録者数"
    unit = "人"
    [fields.young]
    kind = "quantity"
    label = "うち10～30代"
    unit = "人"
    [fields.middle]
    kind = "quantity"
    label = "うち40～60代"
    unit = "人"
    [fields.senior]
    kind = "quantity"
    label = "うち70代以上"
    unit = "人"
    [fields.notes]
    kind = "text"
    label = "活動の様子"

    [[checks]]
    kind = "sum"
    total = "members"
    parts = ["young", "middle", "senior"]
    ''', encoding="utf-8")


def main() -> None:
    """Add the layout to a new project, generate, fill, collect and merge."""
    project = xlplan.init_project(Path(tempfile.mkdtemp()) / "project")
    layouts = project.settings.templates_dir
    add_volunteer_layout(layouts)

    # 3. The coordinator picks the layout for a project in the master (事業 sheet, column 様式).
    master = load_workbook(project.master)
    for row in master["事業"].iter_rows(min_row=2):
        if row[0].value == "1-2-1":
            row[8].value = "volunteer"
    master.save(project.master)

    plan = xlplan.load_plan(project.master)
    files = [f for f in xlplan.generate(plan, project.outbox, project.settings) if f.layout == "volunteer"]
    print("generated:", [f.path.name for f in files])

    # 4. A department fills it (openpyxl stands in for Excel here): 120 registered, 30+50+35 = 115.
    returned = project.inbox / files[0].path.name
    filled = load_workbook(files[0].path)
    values = {"登録者数": 120, "うち10～30代": 30, "うち40～60代": 50, "うち70代以上": 35,
              "活動の様子": "高校生の登録が増えた。\n送迎ボランティアが不足している。"}
    for row in filled["登録状況"].iter_rows(min_row=3, max_row=3):
        heads = [c.value for c in filled["登録状況"][2]]
        for cell, head in zip(row, heads):
            if head in values:
                cell.value = values[head]
    filled.save(returned)

    # 5. The same collect and merge: the breakdown that does not add up is reported with its cell.
    archive = Archive.for_settings(project.settings)
    collect(archive, [project.inbox], project.settings, plan)
    tables = merged_tables(archive, plan)
    for f in archive.findings([s.id for s in archive.department_current(plan).values()]):
        print(f.code, f"{f.sheet}!{f.cell}", f.message())
    print(tables.values[tables.values["様式"] == "volunteer"][["担当課", "事業", "項目", "値"]].to_string())


if __name__ == "__main__":
    main()
