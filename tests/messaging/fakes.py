"""Local fake Aliyun SMS and Tencent Cloud SMS servers.

Each one checks the request's signature the way the provider does — rebuilt from the bytes it received, with
its own copy of the secret, written here from the providers' documentation rather than imported from the code
under test — and answers like the real one: the documented success body, or the documented error codes.
"""

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    signature_ok: bool


@dataclass
class FakeProvider:
    url: str
    requests: list[Recorded] = field(default_factory=list)
    # phone number (as the provider receives it) → error code to answer with
    errors: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    http_status: int | None = None


def _rfc3986(value: str) -> str:
    return quote(value, safe="-_.~")


def aliyun_signature_ok(key_id: str, secret: str, method: str, raw_query: str, headers: dict[str, str], body: bytes) -> bool:
    """ACS3-HMAC-SHA256 as Alibaba Cloud checks it (help.aliyun.com, V3 请求体&签名机制)."""
    authorization = headers.get("authorization", "")
    prefix = "ACS3-HMAC-SHA256 "
    if not authorization.startswith(prefix):
        return False
    parts = dict(part.split("=", 1) for part in authorization[len(prefix) :].split(","))
    if parts.get("Credential") != key_id:
        return False
    signed = parts.get("SignedHeaders", "").split(";")
    required = {"host", "x-acs-action", "x-acs-content-sha256", "x-acs-date", "x-acs-signature-nonce", "x-acs-version"}
    if not required <= set(signed) or signed != sorted(signed):
        return False
    if headers.get("x-acs-content-sha256") != hashlib.sha256(body).hexdigest():
        return False
    pairs = sorted((_rfc3986(k), _rfc3986(v)) for k, v in parse_qsl(raw_query, keep_blank_values=True))
    canonical = "\n".join(
        [
            method,
            "/",
            "&".join(f"{k}={v}" for k, v in pairs),
            "".join(f"{name}:{headers[name].strip()}\n" for name in signed),
            ";".join(signed),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
    expected = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("Signature", ""))


def tencent_signature_ok(secret_id: str, secret_key: str, headers: dict[str, str], body: bytes) -> bool:
    """TC3-HMAC-SHA256 as Tencent Cloud checks it (cloud.tencent.com, 签名方法 v3)."""
    authorization = headers.get("authorization", "")
    try:
        algorithm, rest = authorization.split(" ", 1)
        parts = dict(part.strip().split("=", 1) for part in rest.split(","))
        credential_id, date, service, terminator = parts["Credential"].split("/")
        timestamp = int(headers["x-tc-timestamp"])
    except (ValueError, KeyError):
        return False
    if credential_id != secret_id or algorithm != "TC3-HMAC-SHA256" or service != "sms" or terminator != "tc3_request":
        return False
    if datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d") != date:
        return False
    signed = parts["SignedHeaders"].split(";")
    canonical_headers = "".join(f"{name}:{headers[name].lower() if name == 'x-tc-action' else headers[name]}\n" for name in signed)
    canonical = f"POST\n/\n\n{canonical_headers}\n{';'.join(signed)}\n{hashlib.sha256(body).hexdigest()}"
    to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{date}/sms/tc3_request\n{hashlib.sha256(canonical.encode()).hexdigest()}"

    def mac(key: bytes, text: str) -> bytes:
        return hmac.new(key, text.encode(), hashlib.sha256).digest()

    key = mac(mac(mac(("TC3" + secret_key).encode(), date), "sms"), "tc3_request")
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("Signature", ""))


def _aliyun_answer(fake: FakeProvider, record: Recorded) -> tuple[int, dict[str, Any]]:
    request_id = "A610F3A9-4E6C-5B0E-9C2F-4C9F5F7B0F1E"
    if not record.signature_ok:
        return 400, {
            "RequestId": request_id,
            "Code": "SignatureDoesNotMatch",
            "Message": "Specified signature is not matched with our calculation.",
        }
    if record.headers.get("x-acs-action") != "SendSms" or record.headers.get("x-acs-version") != "2017-05-25":
        return 400, {"RequestId": request_id, "Code": "InvalidAction.NotFound", "Message": "Specified api is not found"}
    missing = [key for key in ("PhoneNumbers", "SignName", "TemplateCode") if not record.query.get(key)]
    if missing:
        return 400, {"RequestId": request_id, "Code": "MissingParameter", "Message": f"{missing[0]} is mandatory"}
    if code := fake.errors.get(record.query["PhoneNumbers"]):
        return 200, {"RequestId": request_id, "Code": code, "Message": "error as documented"}
    return 200, {"RequestId": request_id, "Code": "OK", "Message": "OK", "BizId": f"9006197469364984^{len(fake.requests)}"}


def _tencent_answer(fake: FakeProvider, record: Recorded) -> tuple[int, dict[str, Any]]:
    request_id = "a0aabda6-cf91-4f3e-a81f-9198114a2279"
    if not record.signature_ok:
        return 200, {
            "Response": {
                "Error": {"Code": "AuthFailure.SignatureFailure", "Message": "The provided credentials could not be validated."},
                "RequestId": request_id,
            }
        }
    payload = json.loads(record.body)
    statuses = []
    for phone in payload["PhoneNumberSet"]:
        code = fake.errors.get(phone, "Ok")
        statuses.append(
            {
                "SerialNo": f"2028:f825e6b16e23f73f4123{len(fake.requests)}" if code == "Ok" else "",
                "PhoneNumber": phone,
                "Fee": 1 if code == "Ok" else 0,
                "SessionContext": payload.get("SessionContext", ""),
                "Code": code,
                "Message": "send success" if code == "Ok" else "error as documented",
                "IsoCode": "CN",
            }
        )
    return 200, {"Response": {"SendStatusSet": statuses, "RequestId": request_id}}


@contextmanager
def fake_provider(kind: str, *, key_id: str, secret: str) -> Iterator[FakeProvider]:
    """Run a fake ``aliyun`` or ``tencent`` SMS endpoint on a free local port for the duration of the block."""
    fake: FakeProvider

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            split = urlsplit(self.path)
            headers = {name.lower(): value for name, value in self.headers.items()}
            if kind == "aliyun":
                ok = aliyun_signature_ok(key_id, secret, self.command, split.query, headers, body)
            else:
                ok = tencent_signature_ok(key_id, secret, headers, body)
            record = Recorded(self.command, split.path, dict(parse_qsl(split.query)), headers, body, ok)
            fake.requests.append(record)
            if fake.delay:
                time.sleep(fake.delay)
            status, answer = (_aliyun_answer if kind == "aliyun" else _tencent_answer)(fake, record)
            if fake.http_status:
                status, answer = fake.http_status, {"Code": "ServiceUnavailable", "Message": "busy"}
            raw = json.dumps(answer, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=utf-8")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake = FakeProvider(url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
