"""Tencent Cloud SMS (``SendSms``, API 3.0, version 2021-01-11), signed with TC3-HMAC-SHA256.

Canonical request: ``POST``, ``/``, an empty query, the headers ``content-type``, ``host`` and ``x-tc-action``
(lower-case names; the action's value lower-cased), their names joined by ``;`` and the hex SHA-256 of the JSON
body. String to sign: ``TC3-HMAC-SHA256``, the request's Unix time, ``<UTC date>/sms/tc3_request`` and the hex
SHA-256 of the canonical request. The key is derived as HMAC-SHA256 of the date under ``"TC3" + SecretKey``,
then of ``sms``, then of ``tc3_request``; the signature is the hex HMAC-SHA256 of the string to sign under it.
"""

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from apps.messaging.providers.base import Provider, SendError, SendErrorKind, post

if TYPE_CHECKING:
    from apps.messaging.models import Message

ALGORITHM = "TC3-HMAC-SHA256"
SERVICE = "sms"
ACTION = "SendSms"
VERSION = "2021-01-11"
CONTENT_TYPE = "application/json; charset=utf-8"
DEFAULT_ENDPOINT = "https://sms.tencentcloudapi.com"

# Tencent Cloud SMS error codes (cloud.tencent.com, 短信 API 3.0 错误码) by what the outbox does about them.
RETRY_PREFIXES = (
    "InternalError",
    "RequestLimitExceeded",
    "LimitExceeded.PhoneNumberThirtySecondLimit",
    "LimitExceeded.PhoneNumberOneHourLimit",
)
INVALID_RECIPIENT_CODES = frozenset(
    {"InvalidParameterValue.IncorrectPhoneNumber", "FailedOperation.PhoneNumberInBlacklist", "FailedOperation.PhoneNumberParseFail"}
)


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sign(*, host: str, action: str, body: bytes, timestamp: int, secret_id: str, secret_key: str) -> str:
    """The ``Authorization`` header of a POST with a JSON body."""
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    canonical_headers = f"content-type:{CONTENT_TYPE}\nhost:{host}\nx-tc-action:{action.lower()}\n"
    signed_headers = "content-type;host;x-tc-action"
    canonical_request = f"POST\n/\n\n{canonical_headers}\n{signed_headers}\n{hashlib.sha256(body).hexdigest()}"
    scope = f"{date}/{SERVICE}/tc3_request"
    string_to_sign = f"{ALGORITHM}\n{timestamp}\n{scope}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"
    key = _hmac(_hmac(_hmac(f"TC3{secret_key}".encode(), date), SERVICE), "tc3_request")
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return f"{ALGORITHM} Credential={secret_id}/{scope}, SignedHeaders={signed_headers}, Signature={signature}"


def classify(code: str, status: int = 200) -> SendErrorKind:
    if code in INVALID_RECIPIENT_CODES:
        return SendErrorKind.INVALID_RECIPIENT
    if code.startswith(RETRY_PREFIXES) or status >= 500:
        return SendErrorKind.RETRY
    return SendErrorKind.GIVE_UP


class TencentSmsProvider(Provider):
    name = "tencent_sms"
    channels = frozenset({"sms"})
    required = ("SECRET_ID", "SECRET_KEY", "SDK_APP_ID", "SIGN_NAME")

    def request(self, message: "Message", *, timestamp: int | None = None) -> tuple[str, dict[str, str], bytes]:
        if not message.member.phone:
            raise SendError("the member has no mobile phone number", kind=SendErrorKind.INVALID_RECIPIENT, code="no_phone")
        if not message.provider_template_id:
            raise SendError("the template has no Tencent Cloud template id", kind=SendErrorKind.GIVE_UP, code="no_template_id")
        params: Any = message.provider_params or []
        if not isinstance(params, list):
            raise SendError(
                "Tencent Cloud template parameters are positional: give a list", kind=SendErrorKind.GIVE_UP, code="template_params"
            )
        payload = {
            "PhoneNumberSet": [message.member.phone],
            "SmsSdkAppId": self.config["SDK_APP_ID"],
            "SignName": self.config["SIGN_NAME"],
            "TemplateId": message.provider_template_id,
            "TemplateParamSet": [str(value) for value in params],
            "SessionContext": str(message.pk),
        }
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        endpoint = (self.config.get("ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
        host = urlsplit(endpoint).netloc
        timestamp = timestamp or int(datetime.now(UTC).timestamp())
        headers = {
            "Authorization": sign(
                host=host,
                action=ACTION,
                body=body,
                timestamp=timestamp,
                secret_id=self.config["SECRET_ID"],
                secret_key=self.config["SECRET_KEY"],
            ),
            "Content-Type": CONTENT_TYPE,
            "Host": host,
            "X-TC-Action": ACTION,
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Version": VERSION,
            "X-TC-Region": self.config.get("REGION") or "ap-guangzhou",
        }
        return f"{endpoint}/", headers, body

    def send(self, message: "Message") -> str:
        url, headers, body = self.request(message)
        status, data = post(url, body=body, headers=headers, timeout=self.timeout)
        response = data.get("Response") or {}
        if error := response.get("Error"):
            code = str(error.get("Code", f"http_{status}"))
            raise SendError(f"Tencent Cloud {code}: {error.get('Message', '')}", kind=classify(code, status), code=code)
        statuses = response.get("SendStatusSet") or []
        if not statuses:
            raise SendError(f"Tencent Cloud HTTP {status}: no send status", code=f"http_{status}")
        result = statuses[0]
        code = str(result.get("Code", ""))
        if code == "Ok" and result.get("SerialNo"):
            return str(result["SerialNo"])
        raise SendError(f"Tencent Cloud {code}: {result.get('Message', '')}", kind=classify(code), code=code)
