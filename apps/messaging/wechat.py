"""WeChat official account template messages and mini-program subscribe messages, in WeChat's request formats.

Each backend is a class with ``send(message) -> str`` (the ``msgid``) that raises ``WeChatSendError``, a ``SendError``
whose ``outcome`` says what the outbox should do: ``retry`` later, ``give_up`` on this message, or
``invalid_recipient`` (the address is wrong or gone). The access token is fetched once for every process: it lives
in the shared cache (Redis when configured) and one process refreshes it under a lock, on expiry and when WeChat
answers that the token is invalid (40001, 42001, 40014), after which the call is made once more.
"""

import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode
from urllib.request import Request, urlopen

from django.conf import settings
from django.core.cache import cache
from django.utils import translation

from apps.identities import selectors as identity_selectors
from apps.identities import services as identity_services
from apps.identities.models import IdentityKind
from apps.members.models import ConsentChannel
from apps.messaging.models import MessageTemplate
from apps.messaging.providers.base import Provider, SendError, SendErrorKind
from apps.messaging.rendering import compile_message_template, render_message_text
from apps.messaging.tracking import tracked_url

if TYPE_CHECKING:
    from apps.messaging.models import Message

logger = logging.getLogger("userops.messaging")

RETRY = "retry"
GIVE_UP = "give_up"
INVALID_RECIPIENT = "invalid_recipient"

# WeChat's global error codes (the same numbers on WeCom for the token ones).
TOKEN_INVALID = {40001, 42001, 40014}
RETRY_CODES = {-1, 45009, 45011, 45033}
INVALID_RECIPIENT_CODES = {40003, 43004}
SUBSCRIPTION_REFUSED = 43101

# A token is kept this long less than WeChat says, so it is never used in its last minutes.
TOKEN_MARGIN_SECONDS = 300
LOCK_SECONDS = 30
LOCK_WAIT_SECONDS = 15.0


class WeChatSendError(SendError):
    """A ``SendError`` whose ``outcome`` is its kind and whose ``code`` is WeChat's number."""

    def __init__(self, message: str, *, outcome: str, code: int | None = None) -> None:
        super().__init__(message, kind=SendErrorKind(outcome), code="" if code is None else str(code))
        self.outcome = outcome
        self.code = code


def _config(key: str) -> Any:
    return settings.USEROPS_WECHAT[key]


def http_json(url: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    """GET (no payload) or POST JSON; a network failure, a 5xx or an answer that is not JSON is worth a retry."""
    if not url.startswith(("https://", "http://")):
        raise WeChatSendError(f"the API base must be an http(s) URL, not {url.split(':', 1)[0]}", outcome=GIVE_UP)
    data = None if payload is None else json.dumps(payload, ensure_ascii=False).encode()
    request = Request(url, data=data, method="GET" if payload is None else "POST")  # noqa: S310 - scheme checked above
    if data is not None:
        request.add_header("Content-Type", "application/json; charset=utf-8")
    try:
        with urlopen(request, timeout=_config("TIMEOUT_SECONDS")) as response:  # noqa: S310 - the URL is our configured API base
            body = response.read()
    except HTTPError as exc:
        raise WeChatSendError(
            f"HTTP {exc.code} from {request.host}", outcome=RETRY if exc.code >= 500 or exc.code == 429 else GIVE_UP
        ) from exc
    except (URLError, TimeoutError, OSError) as exc:
        raise WeChatSendError(f"cannot reach {request.host}: {exc}", outcome=RETRY) from exc
    try:
        answer = json.loads(body)
    except ValueError as exc:
        raise WeChatSendError(f"answer from {request.host} is not JSON", outcome=RETRY) from exc
    if not isinstance(answer, dict):
        raise WeChatSendError(f"answer from {request.host} is not a JSON object", outcome=RETRY)
    return answer


def classify(code: int) -> str:
    if code in RETRY_CODES or code in TOKEN_INVALID:
        return RETRY
    if code in INVALID_RECIPIENT_CODES:
        return INVALID_RECIPIENT
    return GIVE_UP


class AccessToken:
    """One app's access token in the shared cache; ``fetch`` asks the provider for a new one: (token, expires_in)."""

    def __init__(self, *, key: str, fetch: Callable[[], tuple[str, int]]) -> None:
        self.key = f"userops:wechat-token:{key}"
        self.lock_key = f"{self.key}:lock"
        self.fetch = fetch

    def get(self) -> str:
        token = cache.get(self.key)
        return token if token else self.refresh(stale=None)

    def refresh(self, *, stale: str | None) -> str:
        """A token other than ``stale``: the one another process stored meanwhile, or a new one fetched under the lock."""
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            current = cache.get(self.key)
            if current and current != stale:
                return current
            owner = uuid.uuid4().hex
            if cache.add(self.lock_key, owner, timeout=LOCK_SECONDS):
                try:
                    current = cache.get(self.key)
                    if current and current != stale:
                        return current
                    token, expires_in = self.fetch()
                    keep = expires_in - TOKEN_MARGIN_SECONDS if expires_in > 2 * TOKEN_MARGIN_SECONDS else max(expires_in // 2, 1)
                    cache.set(self.key, token, timeout=keep)
                    return token
                finally:
                    if cache.get(self.lock_key) == owner:
                        cache.delete(self.lock_key)
            if time.monotonic() > deadline:
                raise WeChatSendError("timed out waiting for another process to refresh the access token", outcome=RETRY)
            time.sleep(0.05)


def token_answer(answer: dict[str, Any], what: str) -> tuple[str, int]:
    """(token, expires_in) from a token endpoint's answer; a refusal (wrong secret, IP not allowed) is a give-up."""
    code = int(answer.get("errcode") or 0)
    token = answer.get("access_token")
    if code or not token:
        raise WeChatSendError(
            f"{what} token refused: {code} {answer.get('errmsg', '')}".strip(), outcome=classify(code) if code else RETRY, code=code or None
        )
    return str(token), int(answer.get("expires_in") or 7200)


def wechat_access_token(*, app_id: str, secret: str) -> AccessToken:
    def fetch() -> tuple[str, int]:
        query = urlencode({"grant_type": "client_credential", "appid": app_id, "secret": secret})
        return token_answer(http_json(f"{_config('API_BASE').rstrip('/')}/cgi-bin/token?{query}"), "WeChat")

    return AccessToken(key=f"wechat:{app_id}", fetch=fetch)


def call_with_token(token: AccessToken, url: str, payload: dict[str, Any]) -> dict[str, Any]:
    """POST ``payload`` to ``url`` with the access token; on an invalid or expired token, refresh it and call once more."""
    current = token.get()
    answer = http_json(f"{url}?{urlencode({'access_token': current})}", payload)
    if int(answer.get("errcode") or 0) in TOKEN_INVALID:
        logger.info("access token refused (%s), refreshing", answer.get("errcode"))
        current = token.refresh(stale=current)
        answer = http_json(f"{url}?{urlencode({'access_token': current})}", payload)
    return answer


def raise_for_code(answer: dict[str, Any], what: str) -> None:
    code = int(answer.get("errcode") or 0)
    if code:
        raise WeChatSendError(f"{what}: {code} {answer.get('errmsg', '')}".strip(), outcome=classify(code), code=code)


# Message content ----------------------------------------------------------------------------------

# Mini-program subscribe message values are limited by the key's type (WeChat refuses longer ones with 47003).
VALUE_LIMITS = {"thing": 20, "name": 10, "phrase": 5, "character_string": 32, "letter": 32, "symbol": 5, "car_number": 8}


def _limit(key: str, value: str) -> str:
    kind = key.rstrip("0123456789")
    limit = VALUE_LIMITS.get(kind)
    return value[:limit] if limit else value


def provider_template(message: "Message") -> MessageTemplate:
    template = MessageTemplate.objects.filter(code=message.template_code, channel=message.channel).first()
    if template is None or not template.provider_template_id:
        raise WeChatSendError(f"template {message.template_code} has no WeChat template ID", outcome=GIVE_UP)
    return template


def template_data(message: "Message", template: MessageTemplate, *, limit: bool) -> dict[str, dict[str, str]]:
    """WeChat's ``data`` from the template's ``provider_params``: each key takes the message's rendered ``subject`` or
    ``body``, or a text with the member's variables ({{ name }}, {{ tier }}, {{ points_balance }}). Keys starting with
    ``_`` are options (``_page``, ``_url``), not data."""
    params = {key: spec for key, spec in (template.provider_params or {}).items() if not key.startswith("_")}
    if not params:
        raise WeChatSendError(f"template {template.code} has no WeChat parameters", outcome=GIVE_UP)
    member = message.member
    with translation.override(message.language):
        values = {"name": member.name, "tier": str(member.tier.name), "points_balance": member.points_account.balance}
        data = {}
        for key, spec in params.items():
            if spec == "subject":
                text = message.subject
            elif spec == "body":
                text = message.body
            else:
                text = render_message_text(compile_message_template(str(spec), field=f"provider_params.{key}"), values)
            data[key] = {"value": _limit(key, text) if limit else text}
    return data


def missing_wechat_settings(settings_by_variable: dict[str, str]) -> list[str]:
    """The environment variables still to set, of those named by their USEROPS_WECHAT keys."""
    return [variable for key, variable in settings_by_variable.items() if not _config(key)]


def not_configured(what: str, *names: str) -> WeChatSendError:
    return WeChatSendError(f"{what} is not configured ({', '.join(names)})", outcome=GIVE_UP)


def configuration_status() -> dict[str, bool]:
    """Which WeChat channels are configured, for the back office's provider panel and the system check."""
    return {
        ConsentChannel.OFFICIAL_ACCOUNT: bool(_config("OFFICIAL_ACCOUNT_APP_ID") and _config("OFFICIAL_ACCOUNT_APP_SECRET")),
        ConsentChannel.MINI_PROGRAM: bool(_config("MINI_PROGRAM_APP_ID") and _config("MINI_PROGRAM_APP_SECRET")),
        ConsentChannel.WECOM: bool(_config("WECOM_CORP_ID") and _config("WECOM_SECRET")),
    }


def _openid(message: "Message", kind: str, app_id: str) -> str:
    identity = identity_selectors.member_identity(member_id=message.member_id, kind=kind, app_id=app_id)
    if identity is None:
        raise WeChatSendError(f"member has no openid for app {app_id}", outcome=INVALID_RECIPIENT)
    return identity.external_id


# Backends -----------------------------------------------------------------------------------------


class OfficialAccountBackend(Provider):
    """Template message of the official account (``/cgi-bin/message/template/send``) to the member's openid there."""

    name = "wechat_official_account"
    native = True
    channels = frozenset({ConsentChannel.OFFICIAL_ACCOUNT})

    def missing_settings(self) -> list[str]:
        return missing_wechat_settings(
            {"OFFICIAL_ACCOUNT_APP_ID": "USEROPS_WECHAT_OA_APP_ID", "OFFICIAL_ACCOUNT_APP_SECRET": "USEROPS_WECHAT_OA_APP_SECRET"}
        )

    def send(self, message: "Message") -> str:
        app_id, secret = _config("OFFICIAL_ACCOUNT_APP_ID"), _config("OFFICIAL_ACCOUNT_APP_SECRET")
        if not (app_id and secret):
            raise not_configured("WeChat official account", "USEROPS_WECHAT_OA_APP_ID", "USEROPS_WECHAT_OA_APP_SECRET")
        template = provider_template(message)
        payload: dict[str, Any] = {
            "touser": _openid(message, IdentityKind.OFFICIAL_ACCOUNT, app_id),
            "template_id": template.provider_template_id,
            "data": template_data(message, template, limit=False),
            "client_msg_id": f"userops-{message.pk}",
        }
        # A message with a link opens it through its tracked link, which records the click; else the template's _url.
        if message.link_url:
            payload["url"] = tracked_url(message.pk)
        elif url := (template.provider_params or {}).get("_url"):
            payload["url"] = url
        answer = call_with_token(
            wechat_access_token(app_id=app_id, secret=secret), f"{_config('API_BASE').rstrip('/')}/cgi-bin/message/template/send", payload
        )
        raise_for_code(answer, "official account template message refused")
        return f"wechat-oa-{answer.get('msgid', '')}"


class MiniProgramBackend(Provider):
    """Subscribe message of the mini-program (``/cgi-bin/message/subscribe/send``).

    Each message takes one of the member's subscriptions to the template (``SubscriptionQuota``), as WeChat counts
    them: none left is a give-up; WeChat's "user refused" (43101) zeroes the count; a message WeChat did not take is
    given back.
    """

    name = "wechat_mini_program"
    native = True
    channels = frozenset({ConsentChannel.MINI_PROGRAM})

    def missing_settings(self) -> list[str]:
        return missing_wechat_settings(
            {"MINI_PROGRAM_APP_ID": "USEROPS_WECHAT_MP_APP_ID", "MINI_PROGRAM_APP_SECRET": "USEROPS_WECHAT_MP_APP_SECRET"}
        )

    def send(self, message: "Message") -> str:
        app_id, secret = _config("MINI_PROGRAM_APP_ID"), _config("MINI_PROGRAM_APP_SECRET")
        if not (app_id and secret):
            raise not_configured("WeChat mini-program", "USEROPS_WECHAT_MP_APP_ID", "USEROPS_WECHAT_MP_APP_SECRET")
        template = provider_template(message)
        template_id = template.provider_template_id
        payload: dict[str, Any] = {
            "touser": _openid(message, IdentityKind.MINI_PROGRAM, app_id),
            "template_id": template_id,
            "data": template_data(message, template, limit=True),
            "miniprogram_state": _config("MINI_PROGRAM_STATE"),
            "lang": "zh_CN" if message.language.startswith("zh") else "en_US",
        }
        if page := (template.provider_params or {}).get("_page"):
            payload["page"] = page
        if not identity_services.subscription_consume(member_id=message.member_id, template_id=template_id):
            raise WeChatSendError(f"member has no subscription left for template {template_id}", outcome=GIVE_UP)
        try:
            answer = call_with_token(
                wechat_access_token(app_id=app_id, secret=secret),
                f"{_config('API_BASE').rstrip('/')}/cgi-bin/message/subscribe/send",
                payload,
            )
            raise_for_code(answer, "mini-program subscribe message refused")
        except WeChatSendError as exc:
            if exc.code == SUBSCRIPTION_REFUSED:
                identity_services.subscription_cancel(member_id=message.member_id, template_id=template_id)
                raise WeChatSendError(str(exc), outcome=GIVE_UP, code=exc.code) from exc
            identity_services.subscription_release(member_id=message.member_id, template_id=template_id)
            raise
        return f"wechat-mp-{answer.get('msgid', '')}"
