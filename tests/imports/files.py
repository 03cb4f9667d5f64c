"""Messy customer files, written the way Excel and old CRMs write them."""

import csv
import io
from pathlib import Path

from openpyxl import Workbook


def write_csv(path: Path, rows: list[list[object]], *, encoding: str = "utf-8", delimiter: str = ",") -> Path:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def write_xlsx(path: Path, rows: list[list[object]]) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


CHINESE_HEADER = ["外部编号", "姓名", "手机号", "邮箱", "城市", "入会日期", "会员等级", "积分", "性别", "生日"]
ENGLISH_HEADER = ["external_id", "name", "phone", "email", "city", "joined_at", "tier", "points", "gender", "birthday"]
