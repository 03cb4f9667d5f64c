"""Reading customer files as they come out of Excel and old CRMs, one row at a time.

CSV in UTF-8 (with or without BOM) or GBK/GB18030, delimiter sniffed; or .xlsx. Headers in English or
Chinese. Every value is cleaned into a ``MemberRecord`` or reported as a ``RowError`` naming the column.
"""

import codecs
import csv
import re
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from apps.core.errors import ApplicationError
from apps.core.spreadsheet import unescape_csv_cell, unreadable_workbook, xlsx_upload_check
from apps.members.bulk import MemberRecord
from apps.members.models import Gender, Tier
from apps.members.phones import normalize_phone

# canonical field → accepted headers (compared case-insensitively, spaces, underscores and hyphens ignored)
HEADERS: dict[str, list[str]] = {
    "external_id": [
        "external_id",
        "external id",
        "customer id",
        "member id",
        "crm id",
        "外部编号",
        "外部ID",
        "会员编号",
        "客户编号",
        "会员ID",
        "客户ID",
    ],
    "name": ["name", "full name", "member name", "customer name", "姓名", "名字", "客户姓名", "会员姓名"],
    "phone": ["phone", "mobile", "mobile phone", "phone number", "mobile number", "cell", "手机号", "手机", "手机号码", "电话", "联系电话"],
    "email": ["email", "e-mail", "email address", "邮箱", "电子邮箱", "邮件地址"],
    "city": ["city", "城市", "所在城市"],
    "joined_at": [
        "joined_at",
        "joined",
        "joined on",
        "join date",
        "joining date",
        "date joined",
        "member since",
        "registered",
        "registered at",
        "registration date",
        "signup date",
        "sign-up date",
        "注册日期",
        "注册时间",
        "入会日期",
        "入会时间",
        "加入日期",
        "加入时间",
    ],
    "tier": ["tier", "level", "membership tier", "会员等级", "等级", "会员级别"],
    "points": ["points", "opening points", "points balance", "积分", "积分余额", "当前积分"],
    "gender": ["gender", "sex", "性别"],
    "birthday": ["birthday", "birth date", "date of birth", "dob", "生日", "出生日期"],
}
# Columns of our own member export that the importer recognises and deliberately leaves alone: the internal key
# and the status are the programme's, never a file's (a file's "ID" is ambiguous, so it is not read as the external ID).
READ_ONLY_HEADERS: dict[str, list[str]] = {
    "system_id": ["system id", "系统编号"],
    "status": ["status", "member status", "状态", "会员状态"],
}
TEMPLATE_HEADERS = {
    "en": ["external_id", "name", "phone", "email", "city", "joined_at", "tier", "points", "gender", "birthday"],
    "zh-hans": ["外部编号", "姓名", "手机号", "邮箱", "城市", "入会日期", "会员等级", "积分", "性别", "生日"],
}
MAX_LENGTHS = {"external_id": 64, "name": 100, "email": 254, "city": 64}
GENDERS = {
    "男": Gender.MALE,
    "女": Gender.FEMALE,
    "其他": Gender.OTHER,
    "未知": Gender.UNKNOWN,
    "m": Gender.MALE,
    "f": Gender.FEMALE,
    "male": Gender.MALE,
    "female": Gender.FEMALE,
    "other": Gender.OTHER,
    "unknown": Gender.UNKNOWN,
}
MAX_POINTS = 100_000_000

_TIME = r"(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?"
_DATE_PATTERNS = [
    re.compile(rf"^(\d{{4}})-(\d{{1,2}})-(\d{{1,2}}){_TIME}$"),
    re.compile(rf"^(\d{{4}})/(\d{{1,2}})/(\d{{1,2}}){_TIME}$"),
    re.compile(rf"^(\d{{4}})\.(\d{{1,2}})\.(\d{{1,2}}){_TIME}$"),
    re.compile(rf"^(\d{{4}})年(\d{{1,2}})月(\d{{1,2}})日?{_TIME}$"),
]


@dataclass(slots=True)  # a file may bring an error for each of a million rows
class RowError:
    row_number: int
    column: str
    reason: str


@dataclass
class ParsedRow:
    row_number: int
    member: MemberRecord | None
    errors: list[RowError] = field(default_factory=list)


def _header_key(text: str) -> str:
    return re.sub(r"[\s_\-]", "", unicodedata.normalize("NFKC", str(text or "")).strip().lower())


_ALIASES = {_header_key(alias): canonical for canonical, aliases in HEADERS.items() for alias in aliases}
_READ_ONLY = {_header_key(alias) for aliases in READ_ONLY_HEADERS.values() for alias in aliases}


def map_headers(raw_headers: list[Any]) -> tuple[dict[int, str], list[str]]:
    """Column index → canonical field, and the headers we do not know (not imported, and named to the operator).

    A second column for a field already mapped is unknown too: its values would otherwise vanish unseen.
    """
    mapping, unknown = {}, []
    for index, header in enumerate(raw_headers):
        key = _header_key(header)
        canonical = _ALIASES.get(key)
        if canonical and canonical not in mapping.values():
            mapping[index] = canonical
        elif key not in _READ_ONLY and str(header or "").strip():
            unknown.append(str(header).strip())
    return mapping, unknown


def file_unknown_columns(path: Path) -> list[str]:
    """The headers of the file that the importer does not read, as the file writes them."""
    return map_headers(next(records(path), []))[1]


def file_column_names(path: Path) -> dict[str, str]:
    """Canonical field → the header the file itself gives it, so reports name columns as the operator wrote them."""
    header = next(records(path), [])
    mapping, _unknown = map_headers(header)
    return {canonical: str(header[index]).strip() for index, canonical in mapping.items()}


def detect_encoding(path: Path) -> str:
    """UTF-8 (BOM or not) if the whole file decodes as UTF-8, else GB18030 (a superset of GBK)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as handle:
        try:
            while chunk := handle.read(1 << 20):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "gb18030"
    return "utf-8-sig"


def _csv_records(path: Path) -> Iterator[list[Any]]:
    encoding = detect_encoding(path)
    with path.open(encoding=encoding, newline="") as handle:
        sample = handle.read(64 * 1024)
        handle.seek(0)
        try:
            dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t|")
        except csv.Error:
            dialect = csv.excel
        try:
            for record in csv.reader(handle, dialect):
                yield [unescape_csv_cell(cell) for cell in record]
        except csv.Error as exc:
            raise ApplicationError(
                "unreadable_csv", _("The CSV file cannot be read: %(reason)s. Save it again as CSV from Excel.") % {"reason": exc}
            ) from exc


# What openpyxl raises on a damaged workbook: a broken zip, missing or malformed XML parts, odd values.
XLSX_READ_ERRORS = (zipfile.BadZipFile, KeyError, IndexError, ValueError, TypeError, AttributeError, OSError, SyntaxError, EOFError)


def _xlsx_records(path: Path) -> Iterator[list[Any]]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    with path.open("rb") as handle:
        xlsx_upload_check(handle, name=path.name)
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (*XLSX_READ_ERRORS, InvalidFileException) as exc:
        raise unreadable_workbook() from exc
    try:
        for values in workbook.worksheets[0].iter_rows(values_only=True):
            yield list(values)
    except XLSX_READ_ERRORS as exc:
        raise unreadable_workbook() from exc
    finally:
        workbook.close()


def records(path: Path) -> Iterator[list[Any]]:
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return _xlsx_records(path)
    return _csv_records(path)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return unicodedata.normalize("NFKC", str(value)).strip() if not isinstance(value, str) else value.strip()


def parse_moment(value: Any) -> date | datetime:
    """A date, or a date with a time of day (as our exports write timestamps: local time, to the second)."""
    if isinstance(value, datetime):
        return value.date() if value.time() == time(0) else value  # a spreadsheet holds a plain date as midnight
    if isinstance(value, date):
        return value
    return _parse_moment_text(str(value))


@lru_cache(maxsize=4096)
def _parse_moment_text(value: str) -> date | datetime:
    """Files repeat their dates (a join date per day at most), so each distinct text is parsed once."""
    text = unicodedata.normalize("NFKC", value).strip()
    for pattern in _DATE_PATTERNS:
        match = pattern.match(text)
        if match:
            year, month, day, hour, minute, second = (int(part) if part else None for part in match.groups())
            if hour is None:
                return date(year, month, day)
            return datetime(year, month, day, hour, minute, second or 0)
    raise ValueError(text)


def parse_date(value: Any) -> date:
    moment = parse_moment(value)
    return moment.date() if isinstance(moment, datetime) else moment


class TierLookup:
    def __init__(self) -> None:
        self.by_key: dict[str, int] = {}
        self._by_text: dict[str, int] = {}  # a file writes a handful of tier names a million times
        for tier in Tier.objects.all():
            for key in (tier.code, tier.name, getattr(tier, "name_en", ""), getattr(tier, "name_zh_hans", "")):
                if key:
                    self.by_key[_header_key(key)] = tier.pk
            if tier.name_zh_hans and tier.name_zh_hans.endswith("会员"):
                self.by_key[_header_key(tier.name_zh_hans[:-2])] = tier.pk

    def get(self, text: str) -> int | None:
        tier_id = self._by_text.get(text)
        if tier_id is None and (tier_id := self.by_key.get(_header_key(text))) is not None:
            self._by_text[text] = tier_id
        return tier_id


def clean_row(row_number: int, values: dict[str, Any], tiers: TierLookup) -> ParsedRow:
    errors: list[RowError] = []

    def fail(column: str, reason: str) -> None:
        errors.append(RowError(row_number, column, reason))

    text = {key: _text(value) for key, value in values.items()}
    for column, limit in MAX_LENGTHS.items():
        if len(text.get(column, "")) > limit:
            fail(column, _("too long (at most %(limit)d characters)") % {"limit": limit})
    if not text.get("name"):
        fail("name", _("missing name"))
    phone = None
    if text.get("phone"):
        try:
            phone = normalize_phone(text["phone"])
        except ApplicationError:
            fail("phone", _("invalid phone “%(value)s”") % {"value": text["phone"]})
    elif not text.get("external_id"):
        fail("phone", _("missing phone (a row needs a phone or an external ID)"))
    email = text.get("email", "").lower()
    if email:
        try:
            validate_email(email)
        except ValidationError:
            fail("email", _("invalid email “%(value)s”") % {"value": email})
    dates: dict[str, date | None] = {}
    for column, parse in (("joined_at", parse_moment), ("birthday", parse_date)):
        raw = values.get(column)
        dates[column] = None
        if raw not in (None, ""):
            try:
                dates[column] = parse(raw)
            except ValueError:
                fail(column, _("impossible date “%(value)s”") % {"value": _text(raw)})
    if dates["birthday"] and dates["birthday"] > date.today():
        fail("birthday", _("birthday in the future"))
    tier_id = None
    if text.get("tier"):
        tier_id = tiers.get(text["tier"])
        if tier_id is None:
            fail("tier", _("unknown tier “%(value)s”") % {"value": text["tier"]})
    points = 0
    if text.get("points"):
        try:
            points = int(text["points"].replace(",", ""))
            if not 0 <= points <= MAX_POINTS:
                raise ValueError(points)
        except ValueError:
            fail("points", _("points must be a whole number from 0 to 100,000,000"))
    gender = Gender.UNKNOWN
    if text.get("gender"):
        gender = GENDERS.get(text["gender"].lower(), "")
        if not gender:
            fail("gender", _("unknown gender “%(value)s”") % {"value": text["gender"]})
    if errors:
        return ParsedRow(row_number, None, errors)
    member = MemberRecord(
        row_number=row_number,
        name=text["name"],
        phone=phone,
        external_id=text.get("external_id") or None,
        email=email,
        city=text.get("city", ""),
        joined_at=dates["joined_at"],
        tier_id=tier_id,
        points=points,
        gender=gender,
        birthday=dates["birthday"],
    )
    return ParsedRow(row_number, member)


def parse_file(path: Path) -> Iterator[ParsedRow]:
    """Yield each data row (row numbers as a spreadsheet shows them: the header is row 1)."""
    rows = records(path)
    try:
        header = next(rows)
    except StopIteration as exc:
        raise ApplicationError("empty_file", _("The file is empty.")) from exc
    mapping, _unknown = map_headers(header)
    if "name" not in mapping.values() or not {"phone", "external_id"} & set(mapping.values()):
        raise ApplicationError(
            "missing_columns",
            _("The file needs a name column and a phone or external ID column (see the template)."),
            fields={"headers": [str(h) for h in header]},
        )
    tiers = TierLookup()
    for row_number, record in enumerate(rows, start=2):
        if not any(_text(cell) for cell in record):
            continue
        values = {mapping[index]: record[index] for index in mapping if index < len(record)}
        yield clean_row(row_number, values, tiers)
