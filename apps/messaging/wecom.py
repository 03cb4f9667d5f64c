"""WeCom (企业微信): a message to the member from the adviser who owns the relationship.

WeCom lets a company send to an external contact only through the adviser: ``externalcontact/add_msg_template``
creates the message in the adviser's WeCom as a task they confirm, with the member as its only recipient
(``chat_type`` single). The token comes from ``gettoken`` with the corp ID and the customer-contact secret and is
shared and refreshed like WeChat's (``apps.messaging.wechat.AccessToken``).
"""

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.conf import settings

from apps.identities import selectors as identity_selectors
from apps.members.models import ConsentChannel
from apps.messaging.providers.base import Provider
from apps.messaging.wechat import (
    GIVE_UP,
    INVALID_RECIPIENT,
    RETRY,
    TOKEN_INVALID,
    AccessToken,
    WeChatSendError,
    call_with_token,
    http_json,
    missing_wechat_settings,
    not_configured,
    token_answer,
)

if TYPE_CHECKING:
    from apps.messaging.models import Message

# WeCom's codes: busy and rate limits are worth a retry; a contact that is not (or no longer) the adviser's, or an
# unknown external user ID, is a wrong recipient; the rest (an unknown sender, a bad argument) give up.
WECOM_RETRY = {-1, 45009, 45033, 45035}
WECOM_INVALID_RECIPIENT = {40096, 84061, 41054}


def wecom_classify(code: int) -> str:
    if code in WECOM_RETRY or code in TOKEN_INVALID:
        return RETRY
    if code in WECOM_INVALID_RECIPIENT:
        return INVALID_RECIPIENT
    return GIVE_UP


def _base() -> str:
    return settings.USEROPS_WECHAT["WECOM_API_BASE"].rstrip("/")


def wecom_access_token(*, corp_id: str, secret: str) -> AccessToken:
    def fetch() -> tuple[str, int]:
        return token_answer(http_json(f"{_base()}/cgi-bin/gettoken?{urlencode({'corpid': corp_id, 'corpsecret': secret})}"), "WeCom")

    return AccessToken(key=f"wecom:{corp_id}", fetch=fetch)


class WeComBackend(Provider):
    name = "wecom"
    native = True
    channels = frozenset({ConsentChannel.WECOM})

    def missing_settings(self) -> list[str]:
        return missing_wechat_settings({"WECOM_CORP_ID": "USEROPS_WECOM_CORP_ID", "WECOM_SECRET": "USEROPS_WECOM_SECRET"})

    def send(self, message: "Message") -> str:
        corp_id, secret = settings.USEROPS_WECHAT["WECOM_CORP_ID"], settings.USEROPS_WECHAT["WECOM_SECRET"]
        if not (corp_id and secret):
            raise not_configured("WeCom", "USEROPS_WECOM_CORP_ID", "USEROPS_WECOM_SECRET")
        contact = identity_selectors.member_wecom_contact(member_id=message.member_id, corp_id=corp_id)
        if contact is None:
            raise WeChatSendError(f"member is no WeCom contact of corp {corp_id}", outcome=INVALID_RECIPIENT)
        text = f"{message.subject}\n{message.body}" if message.subject else message.body
        payload: dict[str, Any] = {
            "chat_type": "single",
            "external_userid": [contact.external_id],
            "sender": contact.adviser_userid,
            "text": {"content": text},
        }
        answer = call_with_token(
            wecom_access_token(corp_id=corp_id, secret=secret), f"{_base()}/cgi-bin/externalcontact/add_msg_template", payload
        )
        code = int(answer.get("errcode") or 0)
        if code:
            raise WeChatSendError(
                f"WeCom message refused: {code} {answer.get('errmsg', '')}".strip(), outcome=wecom_classify(code), code=code
            )
        if contact.external_id in (answer.get("fail_list") or []):
            raise WeChatSendError("WeCom: the member is not a contact of the adviser", outcome=INVALID_RECIPIENT)
        return f"wecom-{answer.get('msgid', '')}"
