"""A local stand-in for WeChat's and WeCom's HTTP APIs (threading http.server), answering in their formats.

It issues access tokens (``/cgi-bin/token`` for WeChat with appid/secret, ``/cgi-bin/gettoken`` for WeCom with
corpid/corpsecret), refuses a wrong secret (40125 / 40001), answers 40001/42001 to a token it did not issue or has
expired, and answers each send with the next scripted reply (errcode 0 and a msgid by default). Every request is
recorded with its path, query and JSON body.
"""

import itertools
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

APP_SECRETS = {"wx-oa-test": "oa-secret", "wx-mp-test": "mp-secret"}
WECOM_SECRETS = {"ww-corp-test": "wecom-secret"}
SEND_PATHS = {"/cgi-bin/message/template/send", "/cgi-bin/message/subscribe/send", "/cgi-bin/externalcontact/add_msg_template"}


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    body: dict[str, Any] | None


@dataclass
class FakeWeChat:
    expires_in: int = 7200
    token_delay: float = 0.0
    tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (monotonic)
    replies: list[dict[str, Any]] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    msgids: Any = field(default_factory=lambda: itertools.count(1000))
    url: str = ""

    def token_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path in ("/cgi-bin/token", "/cgi-bin/gettoken")]

    def sends(self) -> list[Recorded]:
        return [r for r in self.requests if r.path in SEND_PATHS]

    def expire_all_tokens(self) -> None:
        with self.lock:
            self.tokens = dict.fromkeys(self.tokens, 0.0)

    def answer(self, method: str, path: str, query: dict[str, str], body: dict[str, Any] | None) -> dict[str, Any]:
        with self.lock:
            self.requests.append(Recorded(method, path, query, body))
        if path == "/cgi-bin/token":
            if query.get("grant_type") != "client_credential" or APP_SECRETS.get(query.get("appid", "")) != query.get("secret"):
                return {"errcode": 40125, "errmsg": "invalid appsecret"}
            return self._issue()
        if path == "/cgi-bin/gettoken":
            if WECOM_SECRETS.get(query.get("corpid", "")) != query.get("corpsecret"):
                return {"errcode": 40001, "errmsg": "invalid secret"}
            return self._issue()
        if path in SEND_PATHS:
            if method != "POST" or body is None:
                return {"errcode": 44002, "errmsg": "empty post data"}
            token = query.get("access_token", "")
            with self.lock:
                expiry = self.tokens.get(token)
            if expiry is None:
                return {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}
            if expiry < time.monotonic():
                return {"errcode": 42001, "errmsg": "access_token expired"}
            with self.lock:
                reply = self.replies.pop(0) if self.replies else None
            if reply is None:
                reply = {"errcode": 0, "errmsg": "ok", "msgid": next(self.msgids)}
            return reply
        return {"errcode": 404, "errmsg": "no such api"}

    def _issue(self) -> dict[str, Any]:
        if self.token_delay:
            time.sleep(self.token_delay)
        token = uuid.uuid4().hex
        with self.lock:
            self.tokens[token] = time.monotonic() + self.expires_in
        return {"access_token": token, "expires_in": self.expires_in}


def serve(fake: FakeWeChat) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def _handle(self, method: str) -> None:
            parts = urlsplit(self.path)
            query = {key: values[0] for key, values in parse_qs(parts.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            answer = json.dumps(fake.answer(method, parts.path, query, body)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
