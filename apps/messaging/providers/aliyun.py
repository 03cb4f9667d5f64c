"""Aliyun SMS (dysmsapi ``SendSms``, API version 2017-05-25), signed with the V3 signature ACS3-HMAC-SHA256.

The request is an RPC call: the parameters travel in the query string, the body is empty. The signature covers
the method, ``/``, the canonical query string (RFC 3986 percent-encoding, keys sorted), the headers ``host``,
``x-acs-action``, ``x-acs-content-sha256``, ``x-acs-date``, ``x-acs-signature-nonce`` and ``x-acs-version``
(lower-case names, sorted, ``name:value`` lines), the signed header names joined by ``;`` and the hex SHA-256 of
the body; the string to sign is ``ACS3-HMAC-SHA256`` and the hex SHA-256 of that canonical request, signed with
HMAC-SHA256 under the AccessKey secret (lower-case hex), sent as
``Authorization: ACS3-HMAC-SHA256 Credential=<id>,SignedHeaders=<names>,Signature=<hex>``.
"""

import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from apps.messaging.providers.base import Provider, SendError, SendErrorKind, post

if TYPE_CHECKING:
    from apps.messaging.models import Message

ALGORITHM = "ACS3-HMAC-SHA256"
ACTION = "SendSms"
VERSION = "2017-05-25"
DEFAULT_ENDPOINT = "https://dysmsapi.aliyuncs.com"

# The SendSms error codes (help.aliyun.com, 短信服务 API 错误码) by what the outbox does about them; any other code
# is not worth a retry, except that a 5xx answer always is.
RETRY_CODES = frozenset(
    {"isp.SYSTEM_ERROR", "isv.BUSINESS_LIMIT_CONTROL", "Throttling.User", "Throttling.Api", "ServiceUnavailable", "InternalError"}
)
INVALID_RECIPIENT_CODES = frozenset({"isv.MOBILE_NUMBER_ILLEGAL", "isv.PHONE_NUMBER_ILLEGAL", "isv.MOBILE_IN_BLACK"})


def percent_encode(value: str) -> str:
    """RFC 3986: only ``A-Z a-z 0-9 - _ . ~`` stay as they are (a space is ``%20``, ``*`` is ``%2A``)."""
    return quote(value, safe="-_.~")


def canonical_query(params: dict[str, str]) -> str:
    return "&".join(f"{percent_encode(key)}={percent_encode(params[key])}" for key in sorted(params))


def sign(*, method: str, host: str, params: dict[str, str], headers: dict[str, str], body: bytes, access_key_id: str, secret: str) -> str:
    """The ``Authorization`` header for a request with these ``x-acs-*`` headers (``host`` is added here)."""
    signed = {"host": host, **{name.lower(): value.strip() for name, value in headers.items() if name.lower().startswith("x-acs-")}}
    names = sorted(signed)
    canonical_headers = "".join(f"{name}:{signed[name]}\n" for name in names)
    signed_names = ";".join(names)
    canonical_request = "\n".join([method, "/", canonical_query(params), canonical_headers, signed_names, hashlib.sha256(body).hexdigest()])
    string_to_sign = f"{ALGORITHM}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"
    signature = hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()
    return f"{ALGORITHM} Credential={access_key_id},SignedHeaders={signed_names},Signature={signature}"


def aliyun_phone(e164: str) -> str:
    """Aliyun wants a mainland number without its country code, any other with the code but without ``+``."""
    return e164[3:] if e164.startswith("+86") else e164.lstrip("+")


def classify(code: str, status: int) -> SendErrorKind:
    if code in INVALID_RECIPIENT_CODES:
        return SendErrorKind.INVALID_RECIPIENT
    if code in RETRY_CODES or status >= 500:
        return SendErrorKind.RETRY
    return SendErrorKind.GIVE_UP


class AliyunSmsProvider(Provider):
    name = "aliyun_sms"
    channels = frozenset({"sms"})
    required = ("ACCESS_KEY_ID", "ACCESS_KEY_SECRET", "SIGN_NAME")

    def request(self, message: "Message", *, now: datetime | None = None, nonce: str | None = None) -> tuple[str, dict[str, str], bytes]:
        """The URL, headers and body of the ``SendSms`` call for this message."""
        if not message.member.phone:
            raise SendError("the member has no mobile phone number", kind=SendErrorKind.INVALID_RECIPIENT, code="no_phone")
        if not message.provider_template_id:
            raise SendError("the template has no Aliyun template code", kind=SendErrorKind.GIVE_UP, code="no_template_id")
        params: dict[str, Any] = message.provider_params or {}
        if not isinstance(params, dict):
            raise SendError("Aliyun template parameters are named: give a mapping", kind=SendErrorKind.GIVE_UP, code="template_params")
        query = {
            "PhoneNumbers": aliyun_phone(message.member.phone),
            "SignName": self.config["SIGN_NAME"],
            "TemplateCode": message.provider_template_id,
            "OutId": str(message.pk),
        }
        if params:
            query["TemplateParam"] = json.dumps(params, ensure_ascii=False, separators=(",", ":"))
        endpoint = (self.config.get("ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
        host = urlsplit(endpoint).netloc
        body = b""
        headers = {
            "x-acs-action": ACTION,
            "x-acs-version": VERSION,
            "x-acs-date": (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "x-acs-signature-nonce": nonce or uuid.uuid4().hex,
            "x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
        }
        headers["Authorization"] = sign(
            method="POST",
            host=host,
            params=query,
            headers=headers,
            body=body,
            access_key_id=self.config["ACCESS_KEY_ID"],
            secret=self.config["ACCESS_KEY_SECRET"],
        )
        headers["Accept"] = "application/json"
        return f"{endpoint}/?{canonical_query(query)}", headers, body

    def send(self, message: "Message") -> str:
        url, headers, body = self.request(message)
        status, data = post(url, body=body, headers=headers, timeout=self.timeout)
        code = str(data.get("Code") or f"http_{status}")
        if status == 200 and code == "OK" and data.get("BizId"):
            return str(data["BizId"])
        raise SendError(f"Aliyun {code}: {data.get('Message', '')}", kind=classify(code, status), code=code)
