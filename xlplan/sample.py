"""The embedded sample plan and the plan-master writer used by ``xlplan init`` and the demo.

The sample is an invented city (みどり市) with the real structure of the seed documents: a 社協
事業シート plan (seed 000) and a city plan merged per department (seed 003). Names are made up.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.worksheet.datavalidation import DataValidation

from . import plan as P
from .fiscal import fiscal_years, parse_fiscal_year
from .normalise import normalise_quantity

_FONT = "游ゴシック"
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_THIN = Side(style="thin", color="999999")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)

# (id, direction, name, departments, 現状と課題, 方針・目標, それぞれの役割, indicators)
# indicators: (name, unit, targets R5..R9)
_PROJECTS = [
    ("1-1-1", "1-1", "福祉教育推進事業", "学校教育課、社会福祉協議会",
     "小中学校での福祉学習やキャップハンディ体験は一部の学校に限られ、参加校・参加者は年々減って"
     "いる。体験した児童生徒だけでなく、広く活動を伝えることが課題である。",
     "社会福祉協議会が学校と地域、福祉事業者のつなぎ役となり、福祉学習のプログラムを全校に提案する。"
     "ボランティアスクールは募集方法を見直し、市内全域から参加を募る。",
     "市民：家庭で福祉について話し合う機会をもつ。\n社協：学校と地域のつなぎ役を担う。\n行政：学校での交流機会を拡充する。",
     [("福祉学習を実施した学校数", "校", [10, 10, 12, 12, 14]),
      ("ボランティアスクール参加者数", "人", [30, 30, 35, 35, 40])]),
    ("1-2-1", "1-2", "ボランティア養成講座", "社会福祉協議会",
     "ボランティア登録者は高齢化し、新たな担い手が不足している。若い世代が参加しやすい講座の"
     "時間帯や内容になっていない。",
     "平日夜間・休日の講座を設け、入門講座から活動先の紹介まで一体で行う。",
     "市民：講座に参加し、身近な活動を始める。\n社協：講座を企画し活動先を紹介する。",
     [("入門講座の開催", "回", [4, 4, 4, 4, 4]),
      ("新規ボランティア登録者数", "人", [40, 45, 50, 55, 60])]),
    ("2-1-1", "2-1", "福祉会議事業（地区ケア会議）", "社会福祉協議会、長寿社会課",
     "地区ケア会議は、地区の困り事や共通の生活課題を出し合い、解決に必要な取組みを協議する場として"
     "30地区社協で行われている。コロナ禍で開催を自粛する地区が増え、会議の意義や目的が浸透していない"
     "地区社協も見受けられる。",
     "地区ケア会議の構成員に市職員も加え、住民・社協・行政の連携体制を強化する。地区の特性や社会資源を"
     "アセスメントシートとして毎年作成し、課題解決の基礎資料とする。",
     "市民：地区ケア会議に参加する。\n社協：地区担当CSWが会議を運営する。\n行政：市職員が構成員として参加する。",
     [("地区ケア会議及び地域包括ケアシステムについて説明", "地区", [30, 30, 30, 31, 31]),
      ("地区アセスメントシートの作成", "地区", ["-", 5, 10, 15, 20])]),
    ("2-1-2", "2-1", "配食サービス事業", "長寿社会課",
     "概ね65歳以上の一人暮らし高齢者等に食事を届け、安否確認を行っている。利用は約130名。"
     "不在時や緊急時の対応が地域ステーションごとに異なり、業務が統一されていない。",
     "安否確認の方法やメッセージカードの様式を統一し、地域差のない事業展開を図る。民生委員等に事業を"
     "説明し、地域の見守りの一環として活用を働きかける。",
     "福祉事業者：配食と安否確認を行う。\n行政：事業を委託し、様式を統一する。",
     [("業務内容統一に向けた協議", "回", [1, 1, 1, 1, 1]),
      ("地区ケア会議での広報", "地区", [30, 30, 30, 31, 31])]),
    ("2-2-1", "2-2", "小地域ネットワーク活動支援", "長寿社会課、福祉課",
     "除雪や見守りなど住民同士の支え合い活動を行う行政区は増えているが、担い手の高齢化で休止する"
     "地区もある。",
     "活動費の助成を続け、活動を始める行政区には生活支援コーディネーターが立ち上げを支援する。",
     "市民：見守り・除雪の支え合い活動に参加する。\n行政：活動費を助成する。",
     [("活動を実施した行政区数", "行政区", [31, 33, 35, 38, 40])]),
    ("3-1-1", "3-1", "産前産後ヘルパー派遣事業", "児童保育課、健康づくり課",
     "妊婦及び産後1年以内の産婦を対象に家事・育児の支援を行っている。複合的な課題を抱える世帯が多い。",
     "担当保健師と連携し、世帯の養育力を支えるサービスとなるよう提供体制を整え、質の向上を図る。",
     "行政：保健師と連携して支援が必要な世帯につなぐ。\n福祉事業者：ヘルパーを派遣する。",
     [("産褥期の変化についてのヘルパー研修", "回", [1, 1, 1, 1, 1]),
      ("事業評価のための利用者アンケート", "", ["アンケート作成", "実施", "→", "→", "→"])]),
    ("3-1-2", "3-1", "障害者就労支援事業", "福祉課",
     "一般求人では就労に結びつきにくい方への支援と、登録企業の開拓が課題である。",
     "企業と雇用条件を丁寧に調整し、就労後の定着まで伴走支援する。",
     "福祉事業者：職場実習を受け入れる。\n行政：支援センターを運営する。",
     [("利用者登録数", "人", [350, 360, 370, 380, 390]),
      ("就労者の定着率", "%", [85, 85, 87, 87, 90])]),
    ("3-2-1", "3-2", "作業所運営事業（ひだまりの家）", "福祉課",
     "在宅の障害者が軽作業を通じて生活のリズムを作る作業所を運営している。送迎の範囲が限られ、"
     "市内全域のニーズに対応できていない。",
     "利用希望のニーズ調査を行い、結果を基に送迎ルートの見直しを検討する。指導員の研修参加を進める。",
     "福祉事業者：作業所を運営する。\n行政：送迎体制を協議する。",
     [("利用についてのニーズ調査", "地域", ["-", 4, "-", "-", "-"]),
      ("送迎ルートの見直し", "", ["-", "検討", "協議", "実施", "→"]),
      ("指導員の研修参加", "回", ["-", 2, 2, 2, 2])]),
    ("3-2-2", "3-2", "訪問介護人材確保事業", "長寿社会課",
     "市内北東部の訪問介護事業所は一か所だけで、訪問介護員の人手不足からサービスの受入れが難しい。",
     "プロジェクトチームを設置し、市内の事業所と協議しながら介護人材の確保に全市で取り組む。",
     "福祉事業者：人材確保に協力する。\n行政：研修会を開催する。",
     [("職員研修会の開催", "回", [12, 12, 12, 12, 12])]),
]

_GOALS = [("1", "地域福祉を担う人づくり"), ("2", "ともに支え合う地域づくり"),
          ("3", "利用者のための福祉サービス提供体制の整備")]
_DIRECTIONS = [("1-1", "1", "福祉教育の推進"), ("1-2", "1", "地域福祉を担う人材の育成"),
               ("2-1", "2", "地域包括ケアシステムの構築"), ("2-2", "2", "見守り・支え合い活動の推進"),
               ("3-1", "3", "相談支援体制の充実"), ("3-2", "3", "社会福祉事業の推進")]
_DEPARTMENTS = [("長寿社会課", "保健福祉部", "田中"), ("福祉課", "保健福祉部", "鈴木"),
                ("児童保育課", "こども部", "高橋"), ("健康づくり課", "保健福祉部", "伊藤"),
                ("学校教育課", "教育部", "渡辺"), ("社会福祉協議会", "地域福祉係", "山本")]


_MEMBERS = [("1", "青木 一郎", "知識経験者"), ("2", "石川 直子", "知識経験者"),
            ("3", "上田 正明", "福祉団体"), ("4", "遠藤 和子", "福祉団体"),
            ("5", "岡本 隆", "福祉団体"), ("6", "加藤 美穂", "市民活動団体"),
            ("7", "木下 健二", "市民活動団体"), ("8", "小林 恵子", "民生委員児童委員"),
            ("9", "斎藤 修", "民生委員児童委員"), ("10", "佐野 由美", "社会福祉法人"),
            ("11", "杉山 大輔", "公募委員"), ("12", "田村 さと子", "公募委員")]
_TERM = "令和6年7月29日～令和8年7月28日"


def sample_plan() -> P.Plan:
    """The embedded sample plan as a Plan object (R5–R9, evaluated in R6)."""
    years = fiscal_years("R5", "R9")
    projects = []
    for pid, did, name, depts, issues, policy, roles, indicators in _PROJECTS:
        project = P.Project(pid, did, name, P.split_departments(depts), issues, policy, roles)
        for no, (iname, unit, targets) in enumerate(indicators, start=1):
            parsed = {}
            for year, raw in zip(years, targets):
                norm = normalise_quantity(raw, unit or None)
                text = "" if raw is None else str(raw)
                parsed[year] = P.Target(text, norm.value if norm.kind == "number" else None, norm.kind)
            project.indicators.append(P.Indicator(pid, no, iname, unit, parsed))
        projects.append(project)
    return P.Plan(
        plan_id="midori-chiiki-fukushi-2", name="第2期みどり市地域福祉計画",
        philosophy="誰もが支え合い、みんなが安心して暮らせるまちづくり",
        start=parse_fiscal_year("R5"), end=parse_fiscal_year("R9"), year=parse_fiscal_year("R6"),
        # CHECK is taken as of the end of July of the following fiscal year (seed 000).
        deadlines={y: dt.date(y.year + 1, 7, 31) for y in years}, organisation="みどり市 保健福祉部 長寿社会課（事務局）",
        goals=[P.Goal(*g) for g in _GOALS], directions=[P.Direction(*d) for d in _DIRECTIONS],
        projects=projects, departments=[P.Department(*d) for d in _DEPARTMENTS],
        members=[P.Member(mid, name, group, _TERM) for mid, name, group in _MEMBERS],
    )


def city_plan(departments: int, projects_each: int = 5) -> P.Plan:
    """The sample plan grown into a city plan (seeds 000 and 003): ``departments`` departments,
    each with ``projects_each`` projects of its own (copies of the sample's projects under new
    ids and names), so no two departments get the same workbook and nothing can be stamped."""
    plan = sample_plan()
    models = plan.projects
    plan.departments = [P.Department(f"{d.name}{n:03d}" if n else d.name, d.division, d.contact)
                        for n in range(departments // len(plan.departments) + 1) for d in plan.departments
                        ][:departments]
    projects = []
    for d, department in enumerate(plan.departments):
        for k in range(projects_each):
            model = models[(d * projects_each + k) % len(models)]
            pid = f"{model.direction_id}-{d + 1:03d}{k + 1:02d}"
            project = P.Project(pid, model.direction_id, f"{model.name}（{department.name}）", [department.name],
                                model.issues, model.policy, model.roles)
            project.indicators = [P.Indicator(pid, i.no, i.name, i.unit, dict(i.targets))
                                  for i in model.indicators]
            projects.append(project)
    plan.projects = projects
    return plan


def _sheet(wb, title, headers, rows, widths, text_cols=(), wrap_cols=()):
    ws = wb.create_sheet(title)
    ws.append(headers)
    for row in rows:
        ws.append(list(row))
    for idx, width in enumerate(widths, start=1):
        ws.column_dimensions[ws.cell(1, idx).column_letter].width = width
    for cell in ws[1]:
        cell.font = Font(name=_FONT, bold=True)
        cell.fill = _HEADER_FILL
        cell.border = _BORDER
        cell.alignment = Alignment(vertical="center", wrap_text=True)
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            cell.font = Font(name=_FONT)
            cell.border = _BORDER
            wrap = cell.column in wrap_cols
            cell.alignment = Alignment(vertical="top", wrap_text=wrap)
            if cell.column in text_cols:
                # Ids such as 4-1 must stay text: Excel would turn them into dates.
                cell.number_format = "@"
    ws.freeze_panes = "A2"
    return ws


def write_master(plan: P.Plan, path: Path) -> Path:
    """Write a plan as a plan-master workbook the coordinator edits in Excel."""
    wb = Workbook()
    ws = wb.active
    ws.title = P.SHEET_PLAN
    items = [("計画ID", plan.plan_id), ("計画名", plan.name), ("基本理念", plan.philosophy),
             ("開始年度", plan.start.short), ("終了年度", plan.end.short),
             ("評価年度", plan.year.short), ("実施主体", plan.organisation), ("様式", plan.layout)]
    ws.append(["項目", "値", "説明"])
    notes = {"計画ID": "計画を識別する英数字。配布後は変更しないでください。",
             "開始年度": "R5、令和5年度、2023、FY2023 のいずれの形でも入力できます。",
             "評価年度": "今回評価する年度。xlplan generate --year で上書きできます。提出期限は「提出期限」シートに年度ごとに書きます。",
             "様式": "配布する様式の既定（department=事業シート、activity=活動報告、indicators=指標の実績、counts=件数）。事業シートの「様式」列で事業ごとに変更できます。"}
    for label, value in items:
        ws.append([label, value, notes.get(label, "")])
    for row in ws.iter_rows(min_row=1):
        for cell in row:
            cell.font = Font(name=_FONT, bold=cell.row == 1 or cell.column == 1)
            cell.border = _BORDER
            cell.alignment = Alignment(vertical="top", wrap_text=True)
        row[1].number_format = "yyyy/m/d" if isinstance(row[1].value, dt.date) else "@"
    for letter, width in zip("ABC", (14, 50, 50)):
        ws.column_dimensions[letter].width = width

    _sheet(wb, P.SHEET_GOALS, ["番号", "基本目標"], [(g.no, g.name) for g in plan.goals],
           (8, 50), text_cols=(1,))
    _sheet(wb, P.SHEET_DIRECTIONS, ["番号", "基本目標番号", "施策の方向性"],
           [(d.id, d.goal_no, d.name) for d in plan.directions], (8, 12, 40), text_cols=(1, 2))
    _sheet(wb, P.SHEET_PROJECTS,
           ["事業番号", "施策の方向性番号", "事業名", "担当課", "現状と課題", "方針・目標",
            "それぞれの役割", "状態", "様式"],
           [(p.id, p.direction_id, p.name, "、".join(p.departments), p.issues, p.policy, p.roles,
             p.status, p.layout) for p in plan.projects],
           (10, 10, 28, 24, 50, 50, 40, 8, 12), text_cols=(1, 2), wrap_cols=(3, 4, 5, 6, 7))
    years = plan.years
    ind_rows = []
    for p in plan.projects:
        for ind in p.indicators:
            ind_rows.append([p.id, ind.no, ind.name, ind.unit] +
                            [_target_cell(ind.targets.get(y)) for y in years])
    ws_ind = _sheet(wb, P.SHEET_INDICATORS,
                    ["事業番号", "指標番号", "取組みの達成目標", "単位"] + [y.short for y in years],
                    ind_rows, (10, 8, 40, 8) + (10,) * len(years), text_cols=(1,), wrap_cols=(3,))
    ws_ind.freeze_panes = "E2"
    _sheet(wb, P.SHEET_DEPARTMENTS, ["担当課", "部", "担当者", "メール"],
           [(d.name, d.division, d.contact, d.email) for d in plan.departments], (20, 16, 12, 28))
    choice_rows = []
    for i in range(max(len(plan.direction_choices), len(plan.score_scale))):
        choice = plan.direction_choices[i] if i < len(plan.direction_choices) else None
        score, label = plan.score_scale[i] if i < len(plan.score_scale) else (None, None)
        choice_rows.append((choice, score, label))
    _sheet(wb, P.SHEET_CHOICES, ["今後の方向性", "達成度", "達成度の説明"], choice_rows, (22, 8, 30))
    _sheet(wb, P.SHEET_DEADLINES, ["評価年度", "提出期限", "説明"],
           [(y.short, day, "各課の提出期限（表紙に表示されます）。評価年度ごとに 1 行。" if i == 0 else "")
            for i, (y, day) in enumerate(sorted(plan.deadlines.items()))], (10, 14, 50), text_cols=(1,))
    for row in wb[P.SHEET_DEADLINES].iter_rows(min_row=2, min_col=2, max_col=2):
        row[0].number_format = "yyyy/m/d"
    _sheet(wb, P.SHEET_MEMBERS, ["番号", "氏名", "区分", "任期"],
           [(m.id, m.name, m.group, m.term) for m in plan.members], (6, 16, 18, 34), text_cols=(1,))
    _add_master_validations(wb, plan)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def _target_cell(target: P.Target | None):
    if target is None:
        return None
    return target.value if target.kind == "number" else target.text


def _add_master_validations(wb, plan: P.Plan) -> None:
    """Dropdowns in the master itself, so the coordinator picks listed departments and parents."""
    ws = wb[P.SHEET_PROJECTS]
    dv = DataValidation(type="list", formula1=f"='{P.SHEET_DIRECTIONS}'!$A$2:$A$200", allow_blank=True,
                        showErrorMessage=False, promptTitle="施策の方向性番号",
                        prompt="「施策の方向性」シートの番号を入力します。", showInputMessage=True)
    dv.add("B2:B500")
    ws.add_data_validation(dv)
    status = DataValidation(type="list", formula1='"実施中,終了"', allow_blank=True)
    status.add("H2:H500")
    ws.add_data_validation(status)
