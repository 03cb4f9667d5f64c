"""Delivery receipts: each provider's report format read into ``services.Receipt`` values.

Aliyun SMS pushes ``SmsReport`` batches (a JSON array of ``{"biz_id", "success", "err_code", "report_time" …}``)
and Tencent Cloud SMS its status callback (a JSON array of ``{"sid", "report_status", "errmsg",
"user_receive_time" …}``). Neither signs its reports, so the callback URL carries a secret token, compared in
constant time (``receipt_token_valid``). A later provider adds its reader with ``register_receipt_reader``.
"""

import hmac
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils.translation import gettext as _

from apps.core.errors import ApplicationError
from apps.messaging.services import Receipt

# Both providers report local Beijing time.
PROVIDER_ZONE = ZoneInfo("Asia/Shanghai")

Reader = Callable[[Any], list[Receipt]]


def _invalid(field: str, message: str) -> ApplicationError:
    return ApplicationError("invalid_receipt", message, fields={field: message})


def _items(payload: Any) -> list[dict[str, Any]]:
    if isinstance(payload, dict):
        payload = [payload]
    if not isinstance(payload, list) or not payload or not all(isinstance(item, dict) for item in payload):
        raise _invalid("body", _("A receipt is a JSON object or a non-empty array of objects."))
    return payload


def _time(value: Any, field: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S").replace(tzinfo=PROVIDER_ZONE)
    except ValueError as exc:
        raise _invalid(field, _("%(field)s is not a time like 2026-05-01 12:00:00.") % {"field": field}) from exc


def _required(item: dict[str, Any], key: str) -> Any:
    value = item.get(key)
    if value in (None, ""):
        raise _invalid(key, _("%(field)s is required.") % {"field": key})
    return value


def read_aliyun(payload: Any) -> list[Receipt]:
    receipts = []
    for item in _items(payload):
        success = _required(item, "success")
        if not isinstance(success, bool):
            raise _invalid("success", _("%(field)s must be true or false.") % {"field": "success"})
        receipts.append(
            Receipt(
                reference=str(_required(item, "biz_id")),
                delivered=success,
                code=str(item.get("err_code") or ""),
                at=_time(item.get("report_time"), "report_time"),
            )
        )
    return receipts


def read_tencent(payload: Any) -> list[Receipt]:
    receipts = []
    for item in _items(payload):
        status = _required(item, "report_status")
        if status not in ("SUCCESS", "FAIL"):
            raise _invalid("report_status", _("%(field)s must be SUCCESS or FAIL.") % {"field": "report_status"})
        receipts.append(
            Receipt(
                reference=str(_required(item, "sid")),
                delivered=status == "SUCCESS",
                code=str(item.get("errmsg") or ""),
                at=_time(item.get("user_receive_time"), "user_receive_time"),
            )
        )
    return receipts


# Provider name → (reader, the answer the provider expects when the batch is taken).
_readers: dict[str, tuple[Reader, dict[str, Any]]] = {
    "aliyun_sms": (read_aliyun, {"code": 0, "msg": "成功"}),
    "tencent_sms": (read_tencent, {"result": 0, "errmsg": "OK"}),
}


def register_receipt_reader(provider: str, reader: Reader, acknowledgement: dict[str, Any]) -> None:
    _readers[provider] = (reader, acknowledgement)


def receipt_reader(provider: str) -> tuple[Reader, dict[str, Any]] | None:
    return _readers.get(provider)


def receipt_token(provider: str) -> str:
    return str(((settings.USEROPS_MESSAGING.get("PROVIDERS") or {}).get(provider) or {}).get("RECEIPT_TOKEN") or "")


def receipt_token_valid(provider: str, token: str) -> bool:
    expected = receipt_token(provider)
    return bool(expected) and hmac.compare_digest(expected.encode(), token.encode())
