"""Channel identities and mini-program subscriptions: every write, one transaction each."""

import csv
import io

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils.translation import gettext as _

from apps.core.errors import ApplicationError
from apps.identities.locks import lock_subscription_quota
from apps.identities.models import WECHAT_KINDS, ChannelIdentity, IdentityKind, PushPlatform, SubscriptionQuota
from apps.members.locks import lock_member
from apps.members.models import ConsentChannel, Member, MemberStatus
from apps.members.services import member_set_consent

MAX_SUBSCRIPTION_GRANT = 100


def _member(member_id: int) -> Member:
    try:
        member = lock_member(member_id=member_id)
    except Member.DoesNotExist as exc:
        raise ApplicationError("not_found", _("No such member."), http_status=404) from exc
    if member.status == MemberStatus.CLOSED:
        raise ApplicationError("member_closed", _("The member is closed."), http_status=409)
    return member


def _required(field: str, value: str, max_length: int) -> str:
    value = (value or "").strip()
    if not value:
        raise ApplicationError("required", _("%(field)s is required.") % {"field": field}, fields={field: ""})
    if len(value) > max_length:
        raise ApplicationError(
            "too_long", _("%(field)s is longer than %(max)s characters.") % {"field": field, "max": max_length}, fields={field: ""}
        )
    return value


def _check_identity(
    *, kind: str, app_id: str, external_id: str, unionid: str, adviser_userid: str, adviser_id: int | None, dealer_code: str
) -> dict:
    if kind not in IdentityKind.values:
        raise ApplicationError("invalid_kind", _("Unknown identity kind: %(kind)s") % {"kind": kind}, fields={"kind": kind})
    values = {"app_id": _required("app_id", app_id, 64), "external_id": _required("external_id", external_id, 255)}
    unionid, adviser_userid, dealer_code = (unionid or "").strip(), (adviser_userid or "").strip(), (dealer_code or "").strip()
    if kind == IdentityKind.PUSH and values["app_id"] not in PushPlatform.values:
        raise ApplicationError(
            "invalid_platform",
            _("A push token's app_id is its platform: %(platforms)s.") % {"platforms": ", ".join(PushPlatform.values)},
            fields={"app_id": values["app_id"]},
        )
    if unionid and kind not in WECHAT_KINDS:
        raise ApplicationError("unionid_not_allowed", _("Only a WeChat openid has a unionid."), fields={"unionid": ""})
    if len(unionid) > 64:
        raise ApplicationError(
            "too_long", _("%(field)s is longer than %(max)s characters.") % {"field": "unionid", "max": 64}, fields={"unionid": ""}
        )
    if kind == IdentityKind.WECOM:
        values["adviser_userid"] = _required("adviser_userid", adviser_userid, 64)
        if len(dealer_code) > 32:
            raise ApplicationError(
                "too_long",
                _("%(field)s is longer than %(max)s characters.") % {"field": "dealer_code", "max": 32},
                fields={"dealer_code": ""},
            )
        if adviser_id is not None and not get_user_model().objects.filter(pk=adviser_id, is_staff=True, is_active=True).exists():
            raise ApplicationError("invalid_adviser", _("The adviser is not an active staff user."), fields={"adviser": adviser_id})
        values.update(adviser_id=adviser_id, dealer_code=dealer_code)
    elif adviser_userid or adviser_id is not None or dealer_code:
        raise ApplicationError(
            "adviser_not_allowed", _("Only a WeCom contact has an adviser."), fields={"adviser_userid" if adviser_userid else "adviser": ""}
        )
    values["unionid"] = unionid
    return values


@transaction.atomic
def identity_set(
    *,
    member_id: int,
    kind: str,
    app_id: str,
    external_id: str,
    unionid: str = "",
    adviser_userid: str = "",
    adviser_id: int | None = None,
    dealer_code: str = "",
    source: str = "api",
) -> tuple[ChannelIdentity, bool]:
    """Record where the member is reached on a channel; (identity, created).

    Setting the same values again changes nothing. A member has one openid per app and one contact per WeCom corp:
    a new one replaces the old. An address that already belongs to another member is refused (409), naming no one.
    """
    values = _check_identity(
        kind=kind,
        app_id=app_id,
        external_id=external_id,
        unionid=unionid,
        adviser_userid=adviser_userid,
        adviser_id=adviser_id,
        dealer_code=dealer_code,
    )
    member = _member(member_id)
    taken = ChannelIdentity.objects.filter(kind=kind, app_id=values["app_id"], external_id=values["external_id"]).first()
    if taken is not None and taken.member_id != member.pk:
        raise ApplicationError(
            "identity_taken", _("This identifier belongs to another member."), fields={"external_id": ""}, http_status=409
        )
    identity = taken
    if identity is None and kind != IdentityKind.PUSH:
        identity = ChannelIdentity.objects.filter(member=member, kind=kind, app_id=values["app_id"]).first()
    if identity is None:
        identity = ChannelIdentity(member=member, kind=kind, source=source[:32], **values)
        try:
            with transaction.atomic():
                identity.save(force_insert=True)
        except IntegrityError as exc:
            # Another request recorded the same address at the same moment.
            raise ApplicationError(
                "identity_taken", _("This identifier belongs to another member."), fields={"external_id": ""}, http_status=409
            ) from exc
        return identity, True
    changed = [field for field, value in values.items() if getattr(identity, field) != value]
    if changed:
        for field in changed:
            setattr(identity, field, values[field])
        identity.source = source[:32]
        identity.save(update_fields=[*changed, "source", "updated_at"])
    return identity, False


@transaction.atomic
def identity_remove(*, member_id: int, kind: str, app_id: str, external_id: str) -> bool:
    """Forget an address (the member unfollowed, the token expired); False when the member had none such."""
    lock_member(member_id=member_id)
    deleted, _rows = ChannelIdentity.objects.filter(member_id=member_id, kind=kind, app_id=app_id, external_id=external_id).delete()
    return deleted > 0


@transaction.atomic
def subscription_grant(*, member_id: int, template_id: str, count: int = 1) -> SubscriptionQuota:
    """The mini-program reports that the member accepted ``template_id`` ``count`` times: that many more messages may go.

    Accepting a subscription is the member's consent to the mini-program channel.
    """
    template_id = _required("template_id", template_id, 128)
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_SUBSCRIPTION_GRANT:
        raise ApplicationError(
            "invalid_count", _("count must be between 1 and %(max)s.") % {"max": MAX_SUBSCRIPTION_GRANT}, fields={"count": count}
        )
    member = _member(member_id)
    if not ChannelIdentity.objects.filter(member=member, kind=IdentityKind.MINI_PROGRAM).exists():
        raise ApplicationError(
            "no_mini_program_identity",
            _("The member has no mini-program openid: set it first."),
            fields={"member": member.pk},
            http_status=409,
        )
    quota = lock_subscription_quota(member_id=member.pk, template_id=template_id)
    if quota is None:
        quota = SubscriptionQuota.objects.create(member=member, template_id=template_id, remaining=count)
    else:
        quota.remaining = F("remaining") + count
        quota.save(update_fields=["remaining", "updated_at"])
        quota.refresh_from_db(fields=["remaining"])
    member_set_consent(member=member, channel=ConsentChannel.MINI_PROGRAM, granted=True, source="subscription")
    return quota


def subscription_consume(*, member_id: int, template_id: str) -> bool:
    """Take one message of the member's subscription to ``template_id``; False when none is left.

    One conditional UPDATE: of two senders racing for the last one, the second waits for the first and finds zero.
    """
    return (
        SubscriptionQuota.objects.filter(member_id=member_id, template_id=template_id, remaining__gt=0).update(remaining=F("remaining") - 1)
        == 1
    )


def subscription_release(*, member_id: int, template_id: str) -> None:
    """Give back a message taken by ``subscription_consume`` that WeChat did not deliver (it counts only what it sends)."""
    SubscriptionQuota.objects.filter(member_id=member_id, template_id=template_id).update(remaining=F("remaining") + 1)


def subscription_cancel(*, member_id: int, template_id: str) -> None:
    """WeChat says the member refused the template (43101): nothing more may be sent until they accept it again."""
    SubscriptionQuota.objects.filter(member_id=member_id, template_id=template_id).update(remaining=0)


IMPORT_COLUMNS = ("member_external_id", "kind", "app_id", "external_id", "unionid", "adviser_userid", "dealer_code")
IMPORT_MAX_ROWS = 20_000


def _import_rows(content: bytes) -> list[dict[str, str]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte string
        raise ApplicationError("file_encoding", _("The file is neither UTF-8 nor GBK text."), fields={"file": ""})
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [name for name in ("member_external_id", "kind", "app_id", "external_id") if name not in header]
    unknown = [name for name in header if name not in IMPORT_COLUMNS]
    if missing or unknown:
        raise ApplicationError(
            "file_columns",
            _("The header must name the columns %(columns)s; missing: %(missing)s; unknown: %(unknown)s.")
            % {"columns": ", ".join(IMPORT_COLUMNS), "missing": ", ".join(missing) or "—", "unknown": ", ".join(unknown) or "—"},
            fields={"file": ""},
        )
    reader.fieldnames = header
    rows = [{key: (value or "").strip() for key, value in row.items() if key is not None} for row in reader]
    if not rows:
        raise ApplicationError("file_empty", _("The file has no rows."), fields={"file": ""})
    if len(rows) > IMPORT_MAX_ROWS:
        raise ApplicationError("file_too_long", _("At most %(max)s rows per file.") % {"max": IMPORT_MAX_ROWS}, fields={"file": ""})
    return rows


@transaction.atomic
def identities_import(*, content: bytes, source: str = "import") -> int:
    """A CSV of identities (one per row, members by external ID): all rows are recorded, or none.

    Every row is checked as the API checks it; when any is refused the whole file is, with each refused row's number
    (the header is row 1), column and reason, in ``extra["rows"]``. Returns the number of rows recorded.
    """
    rows = _import_rows(content)
    members = dict(
        Member.objects.filter(external_id__in={row.get("member_external_id", "") for row in rows} - {""}).values_list("external_id", "pk")
    )
    errors: list[dict[str, str | int]] = []
    for number, row in enumerate(rows, start=2):
        member_id = members.get(row.get("member_external_id", ""))
        if member_id is None:
            errors.append({"row": number, "field": "member_external_id", "message": _("No member has this external ID.")})
            continue
        try:
            identity_set(
                member_id=member_id,
                kind=row.get("kind", ""),
                app_id=row.get("app_id", ""),
                external_id=row.get("external_id", ""),
                unionid=row.get("unionid", ""),
                adviser_userid=row.get("adviser_userid", ""),
                dealer_code=row.get("dealer_code", ""),
                source=source,
            )
        except ApplicationError as exc:
            errors.append({"row": number, "field": next(iter(exc.fields), ""), "message": str(exc.message)})
    if errors:
        first = errors[0]
        raise ApplicationError(
            "import_refused",
            _("%(count)s rows were refused, nothing was imported. First: row %(row)s, %(field)s: %(message)s")
            % {"count": len(errors), **first},
            fields={"file": ""},
            extra={"rows": errors},
        )
    return len(rows)
