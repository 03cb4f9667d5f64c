import datetime as dt

import pytest
from django.core.management import call_command

from apps.imports import services
from apps.imports.parsing import parse_date, parse_file
from apps.members.models import Member, PointsAccount, PointsEntry, PointsEntryKind
from tests.imports.files import CHINESE_HEADER, ENGLISH_HEADER, write_csv, write_xlsx
from tests.members.factories import MemberFactory, tier
from tests.members.test_services import assert_books_balance

pytestmark = pytest.mark.django_db

GOOD = [
    ["CRM1", " 张伟 ", "+86 138 0013 8000", "Zhang.Wei@Example.com", "上海", "2024年3月5日", "金卡", "1,200", "男", "1990/5/8"],
    ["CRM2", "Emma Chen", "138-0013-8001", "", "杭州", "2024/3/5", "silver", "0", "female", ""],
    ["", "李娜", "8613800138002", "", "北京", "2024-03-05", "", "", "", ""],
    ["CRM4", "王芳", "１３８００１３８００３", "", "深圳", "", "普通", "50", "", ""],
]


@pytest.mark.parametrize(("encoding", "delimiter"), [("utf-8", ","), ("utf-8-sig", ","), ("gbk", ","), ("gb18030", ";"), ("utf-8", "\t")])
def test_every_accepted_form_imports(tmp_path, encoding, delimiter):
    path = write_csv(tmp_path / "members.csv", [CHINESE_HEADER, *GOOD], encoding=encoding, delimiter=delimiter)
    summary = services.import_file(path=path)
    assert (summary.created, summary.invalid, summary.duplicate) == (4, 0, 0), summary.errors
    zhang = Member.objects.get(external_id="CRM1")
    assert (zhang.name, zhang.phone, zhang.email, zhang.tier, zhang.gender) == (
        "张伟",
        "+8613800138000",
        "zhang.wei@example.com",
        tier("gold"),
        "male",
    )
    assert zhang.birthday == dt.date(1990, 5, 8) and zhang.joined_at.date() == dt.date(2024, 3, 5)
    assert Member.objects.get(phone="+8613800138002").external_id is None
    assert Member.objects.get(phone="+8613800138003").tier == tier("basic")
    opening = PointsEntry.objects.get(account__member=zhang)
    assert (opening.kind, opening.amount) == (PointsEntryKind.MIGRATE, 1200)
    assert zhang.tier_changes.count() == 1
    assert_books_balance(zhang)


def test_xlsx_with_english_headers_and_excel_dates(tmp_path):
    path = write_xlsx(
        tmp_path / "members.xlsx",
        [ENGLISH_HEADER, ["X1", "Ava Liu", 13800138009, "", "成都", dt.datetime(2023, 1, 2), "VIP", 300, "F", None]],
    )
    summary = services.import_file(path=path)
    assert summary.created == 1, summary.errors
    member = Member.objects.get(external_id="X1")
    assert member.phone == "+8613800138009" and member.tier == tier("vip") and member.joined_at.date() == dt.date(2023, 1, 2)


def test_invalid_rows_are_reported_with_row_column_reason_and_the_rest_imported(tmp_path):
    rows = [
        CHINESE_HEADER,
        ["A1", "", "13800138000", "", "", "", "", "", "", ""],
        ["A2", "Bad phone", "12345", "", "", "", "", "", "", ""],
        ["A3", "Bad email", "13800138001", "not-an-email", "", "", "", "", "", ""],
        ["A4", "Bad tier", "13800138002", "", "", "", "钻石", "", "", ""],
        ["A5", "Bad date", "13800138003", "", "", "2024-02-30", "", "", "", ""],
        ["A6", "X" * 101, "13800138004", "", "", "", "", "", "", ""],
        ["A7", "Good", "13800138005", "", "", "", "", "", "", ""],
        ["", "No identity", "", "", "", "", "", "", "", ""],
        ["A9", "Bad points", "13800138006", "", "", "", "", "-5", "", ""],
    ]
    path = write_csv(tmp_path / "bad.csv", rows)
    summary = services.import_file(path=path)
    assert (summary.created, summary.invalid) == (1, 8)
    reasons = {(e.row_number, e.column): e.reason for e in summary.errors}
    assert reasons[(2, "name")] == "missing name"
    assert "invalid phone" in reasons[(3, "phone")]
    assert "invalid email" in reasons[(4, "email")]
    assert "unknown tier" in reasons[(5, "tier")]
    assert "impossible date" in reasons[(6, "joined_at")]
    assert "too long" in reasons[(7, "name")]
    assert "missing phone" in reasons[(9, "phone")]
    assert "points" in reasons[(10, "points")]
    report = services.error_report_csv(summary.errors, path=path).decode("utf-8-sig")
    # Columns are named as the file heads them (a Chinese file's report says 姓名, not name).
    assert report.splitlines()[0] == "row,column,reason" and "2,姓名,missing name" in report and "6,入会日期," in report


def test_reimport_changes_nothing_and_duplicates_in_one_file_are_imported_once(tmp_path):
    rows = [
        CHINESE_HEADER,
        *GOOD,
        ["CRM1", "张伟", "13800138000", "", "", "", "", "999", "", ""],
        ["", "Same phone", "138 0013 8001", "", "", "", "", "", "", ""],
    ]
    path = write_csv(tmp_path / "members.csv", rows)
    first = services.import_file(path=path)
    assert (first.created, first.duplicate) == (4, 2)
    assert {e.reason for e in first.errors} == {"duplicate of row 2", "duplicate of row 3"}
    second = services.import_file(path=path)
    assert (second.created, second.updated, second.unchanged) == (0, 0, 4)
    assert Member.objects.count() == 4
    assert PointsAccount.objects.get(member__external_id="CRM1").balance == 1200


def test_rows_match_existing_members_by_external_id_then_phone(tmp_path):
    by_ext = MemberFactory(external_id="CRM1", phone="+8613900000000", city="")
    by_phone = MemberFactory(external_id=None, phone="+8613800138002", city="")
    summary = services.import_file(path=write_csv(tmp_path / "m.csv", [CHINESE_HEADER, *GOOD]))
    assert (summary.created, summary.updated) == (2, 2)
    by_ext.refresh_from_db()
    by_phone.refresh_from_db()
    assert by_ext.city == "上海" and by_ext.phone == "+8613900000000"
    assert by_phone.city == "北京"
    assert not PointsEntry.objects.filter(account__member=by_ext).exists()


def test_phone_of_another_member_is_a_conflict(tmp_path):
    MemberFactory(external_id="OTHER", phone="+8613800138000")
    summary = services.import_file(path=write_csv(tmp_path / "m.csv", [CHINESE_HEADER, GOOD[0]]))
    assert summary.invalid == 1 and "belongs to member OTHER" in summary.errors[0].reason


def test_all_or_nothing_imports_nothing_when_a_row_is_invalid(tmp_path):
    path = write_csv(tmp_path / "m.csv", [CHINESE_HEADER, *GOOD, ["Z", "", "", "", "", "", "", "", "", ""]])
    summary = services.import_file(path=path, all_or_nothing=True)
    assert summary.rejected and summary.invalid == 1 and not Member.objects.exists()


def test_dry_run_counts_without_writing(tmp_path):
    summary = services.import_file(path=write_csv(tmp_path / "m.csv", [CHINESE_HEADER, *GOOD]), dry_run=True)
    assert summary.created == 4 and not Member.objects.exists()


def test_formula_and_html_are_stored_as_text(tmp_path):
    rows = [ENGLISH_HEADER, ["F1", '=HYPERLINK("http://evil")', "13800138000", "", "<script>alert(1)</script>", "", "", "", "", ""]]
    services.import_file(path=write_csv(tmp_path / "m.csv", rows))
    member = Member.objects.get(external_id="F1")
    assert member.name.startswith("=HYPERLINK") and member.city == "<script>alert(1)</script>"


def test_missing_columns_and_empty_file_are_refused(tmp_path):
    from apps.core.errors import ApplicationError

    with pytest.raises(ApplicationError, match="name column"):
        list(parse_file(write_csv(tmp_path / "m.csv", [["foo", "bar"], ["1", "2"]])))
    with pytest.raises(ApplicationError, match="empty"):
        list(parse_file(write_csv(tmp_path / "e.csv", [])))


@pytest.mark.parametrize(
    ("text", "expected"), [("2024-03-05", dt.date(2024, 3, 5)), ("2024/3/5", dt.date(2024, 3, 5)), ("2024年3月5日", dt.date(2024, 3, 5))]
)
def test_date_forms(text, expected):
    assert parse_date(text) == expected


def test_command_line_summary_report_and_exit_code(tmp_path, capsys):
    path = write_csv(tmp_path / "m.csv", [CHINESE_HEADER, *GOOD, ["B", "", "", "", "", "", "", "", "", ""]])
    report = tmp_path / "report.csv"
    with pytest.raises(SystemExit) as exit_info:
        call_command("import_members", str(path), "--report", str(report))
    assert exit_info.value.code == 1
    out = capsys.readouterr().out
    assert "created 4" in out and "invalid 1" in out
    assert "missing name" in report.read_text(encoding="utf-8-sig")
    call_command("import_members", str(write_csv(tmp_path / "ok.csv", [CHINESE_HEADER, *GOOD])))
    assert "unchanged 4" in capsys.readouterr().out


def test_a_resumed_import_still_names_the_first_row_of_a_duplicate(tmp_path):
    rows = [
        CHINESE_HEADER,
        ["R1", "甲", "13800138000", "", "", "", "", "", "", ""],
        ["R2", "乙", "13800138001", "", "", "", "", "", "", ""],
        ["R1", "甲again", "13800138009", "", "", "", "", "", "", ""],
        ["R3", "丙", "138 0013 8001", "", "", "", "", "", "", ""],
        ["R1", "甲third", "", "", "", "", "", "", "", ""],
        ["R4", "丁", "13800138004", "", "", "", "", "", "", ""],
    ]
    path = write_csv(tmp_path / "m.csv", rows)
    summary = services.import_file(path=path, start_after_row=4)
    assert (summary.created, summary.duplicate) == (1, 2)
    assert {(e.row_number, e.reason) for e in summary.errors} == {(5, "duplicate of row 3"), (6, "duplicate of row 2")}
    assert list(Member.objects.values_list("external_id", flat=True)) == ["R4"]
