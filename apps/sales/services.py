"""Every change to dealers, products and leads: keyword-only functions, one transaction each.

Members are created, enrolled and looked up through members' services and selectors only.
"""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from apps.core.activity import activity_happened
from apps.core.errors import ApplicationError
from apps.core.models import ApiClient, User
from apps.members.locks import lock_member
from apps.members.models import Member, MemberStatus, SourceChannel
from apps.members.phones import normalize_phone
from apps.members.services import prospect_register
from apps.sales import journey
from apps.sales.identifiers import attribute_schema_clean, attributes_clean, identifier_clean
from apps.sales.locks import lock_product, lock_products_of
from apps.sales.models import (
    Dealer,
    IdentifierCheck,
    Lead,
    LeadChannel,
    LeadOutcome,
    OwnedProduct,
    Ownership,
    OwnershipReason,
    ProductKind,
    ProductStatus,
)

MAX_LEADS_PER_BATCH = 500
FUTURE_TOLERANCE = timedelta(minutes=5)
OLDEST_LEAD = timedelta(days=3653)
UPLOAD_SOURCE_SYSTEM = "upload"
# The channel a lead came through, as the source channel of the prospect it creates.
_PROSPECT_CHANNEL = {
    LeadChannel.APP: SourceChannel.APP,
    LeadChannel.MINI_PROGRAM: SourceChannel.MINI_PROGRAM,
    LeadChannel.STORE: SourceChannel.STORE,
    LeadChannel.EVENT: SourceChannel.EVENT,
    LeadChannel.STAFF: SourceChannel.STAFF,
}


def _text(value: Any, field_name: str, *, max_length: int, required: bool = False, label: str = "") -> str:
    if value is None:
        value = ""
    if not isinstance(value, str | int):
        raise ApplicationError("invalid", _("%(field)s must be text.") % {"field": label or field_name}, fields={field_name: ""})
    text = str(value).strip()
    if required and not text:
        raise ApplicationError("required", _("%(field)s is required.") % {"field": label or field_name}, fields={field_name: ""})
    if len(text) > max_length:
        raise ApplicationError(
            "too_long",
            _("%(field)s has at most %(max)d characters.") % {"field": label or field_name, "max": max_length},
            fields={field_name: text[:max_length]},
        )
    if "\x00" in text:
        raise ApplicationError(
            "invalid", _("%(field)s cannot contain the NUL character.") % {"field": label or field_name}, fields={field_name: ""}
        )
    return text


# Dealers and product kinds ------------------------------------------------------------------------


@transaction.atomic
def dealer_save(*, dealer: Dealer) -> Dealer:
    dealer.code = _text(dealer.code, "code", max_length=20, required=True, label=_("Code")).upper()
    dealer.name = _text(dealer.name, "name", max_length=100, required=True, label=_("Name"))
    if Dealer.objects.filter(code=dealer.code).exclude(pk=dealer.pk).exists():
        raise ApplicationError(
            "duplicate_dealer", _("Another dealer has the code %(code)s.") % {"code": dealer.code}, fields={"code": dealer.code}
        )
    dealer.save()
    return dealer


@transaction.atomic
def product_kind_save(*, kind: ProductKind) -> ProductKind:
    kind.attribute_schema = attribute_schema_clean(kind.attribute_schema)
    if kind.identifier_check not in IdentifierCheck.values:
        raise ApplicationError("invalid", _("Unknown identifier check."), fields={"identifier_check": kind.identifier_check})
    kind.save()
    return kind


def dealer_by_code(code: str | None, *, field_name: str = "dealer") -> Dealer | None:
    """The active dealer with this code (None for an empty code); an unknown or inactive code is an error naming the field."""
    code = (code or "").strip().upper()
    if not code:
        return None
    dealer = Dealer.objects.filter(code=code).first()
    if dealer is None:
        raise ApplicationError("unknown_dealer", _("No dealer has the code “%(code)s”.") % {"code": code}, fields={field_name: code})
    if not dealer.active:
        raise ApplicationError("inactive_dealer", _("The dealer %(code)s is no longer active.") % {"code": code}, fields={field_name: code})
    return dealer


# Products and their owners --------------------------------------------------------------------------


def _ownable(member: Member, field_name: str = "member") -> None:
    if member.status == MemberStatus.CLOSED:
        raise ApplicationError("member_closed", _("A closed member cannot own a product."), fields={field_name: member.pk}, http_status=409)


@transaction.atomic
def product_deliver(
    *,
    member: Member,
    kind: ProductKind,
    identifier: str,
    model: str,
    trim: str = "",
    attributes: Mapping[str, Any] | None = None,
    delivered_at: datetime | None = None,
    dealer: Dealer | None = None,
    channel: str = LeadChannel.DEALER,
    actor: User | None = None,
) -> OwnedProduct:
    """A product handed over to a member (now, or at ``delivered_at``): the product, its first ownership from that moment,
    and the ``delivered`` journey event."""
    identifier = identifier_clean(kind, identifier)
    model = _text(model, "model", max_length=64, required=True, label=_("Model"))
    trim = _text(trim, "trim", max_length=64, label=_("Trim"))
    cleaned_attributes = attributes_clean(kind, dict(attributes or {}))
    now = timezone.now()
    delivered_at = delivered_at or now
    if delivered_at > now + FUTURE_TOLERANCE:
        raise ApplicationError("invalid_date", _("The delivery is in the future."), fields={"delivered_at": str(delivered_at)})
    if delivered_at < now - OLDEST_LEAD:
        raise ApplicationError("invalid_date", _("The delivery is more than ten years ago."), fields={"delivered_at": str(delivered_at)})
    member = lock_member(member_id=member.pk)
    _ownable(member)
    if OwnedProduct.objects.filter(kind=kind, identifier=identifier).exists():
        raise ApplicationError(
            "duplicate_identifier",
            _("A %(kind)s with the %(label)s %(identifier)s is already recorded.")
            % {"kind": kind.name, "label": kind.identifier_label, "identifier": identifier},
            fields={"identifier": identifier},
            http_status=409,
        )
    product = OwnedProduct(
        kind=kind,
        identifier=identifier,
        model=model,
        trim=trim,
        attributes=cleaned_attributes,
        delivered_on=timezone.localdate(delivered_at),
        dealer=dealer,
        owner=member,
        status=ProductStatus.OWNED,
    )
    try:
        with transaction.atomic():
            product.save(force_insert=True)
    except IntegrityError as exc:
        raise ApplicationError(
            "duplicate_identifier",
            _("This product was recorded at the same moment; look it up."),
            fields={"identifier": identifier},
            http_status=409,
        ) from exc
    Ownership.objects.create(product=product, member=member, started_at=delivered_at, reason=OwnershipReason.DELIVERY, recorded_by=actor)
    activity_happened(
        member_id=member.pk,
        kind=journey.DELIVERED,
        event_id=f"delivered:{product.pk}",
        occurred_at=delivered_at,
        channel=channel,
        properties=_event_properties(
            dealer=dealer, model=model, vin=identifier if kind.identifier_check == IdentifierCheck.VIN else "", product=product.pk
        ),
    )
    return product


@transaction.atomic
def product_transfer(*, product: OwnedProduct, to_member: Member, note: str = "", actor: User | None = None) -> Ownership:
    """Hand an owned product to another member: the current ownership closes and the next opens, at the same moment.

    The product's row is locked first, so two transfers of one product queue and the second sees the first's owner.
    """
    note = _text(note, "note", max_length=255)
    product = lock_product(product_id=product.pk)
    if product.status != ProductStatus.OWNED or product.owner_id is None:
        raise ApplicationError(
            "not_owned",
            _("The product is %(status)s; only an owned product can be transferred.") % {"status": product.get_status_display()},
            http_status=409,
        )
    if product.owner_id == to_member.pk:
        raise ApplicationError(
            "same_owner", _("The member already owns this product."), fields={"to_member": to_member.pk}, http_status=409
        )
    _ownable(to_member, "to_member")
    now = timezone.now()
    Ownership.objects.filter(product=product, ended_at__isnull=True).update(ended_at=now, end_reason=OwnershipReason.TRANSFER)
    ownership = Ownership.objects.create(
        product=product, member=to_member, started_at=now, reason=OwnershipReason.TRANSFER, note=note, recorded_by=actor
    )
    product.owner = to_member
    product.save(update_fields=["owner", "updated_at"])
    return ownership


@transaction.atomic
def product_release(*, product: OwnedProduct, status: str, note: str = "", actor: User | None = None) -> OwnedProduct:
    """The product left the programme (sold, or transferred to someone who is not a member): the ownership closes."""
    if status not in (ProductStatus.SOLD, ProductStatus.TRANSFERRED):
        raise ApplicationError("invalid_status", _("A product leaves as sold or transferred."), fields={"status": status})
    note = _text(note, "note", max_length=255)
    product = lock_product(product_id=product.pk)
    if product.status != ProductStatus.OWNED:
        raise ApplicationError(
            "not_owned", _("The product is %(status)s already.") % {"status": product.get_status_display()}, http_status=409
        )
    reason = OwnershipReason.SALE if status == ProductStatus.SOLD else OwnershipReason.TRANSFER
    closing = {"ended_at": timezone.now(), "end_reason": reason, **({"note": note} if note else {})}
    Ownership.objects.filter(product=product, ended_at__isnull=True).update(**closing)
    product.status = status
    product.owner = None
    product.save(update_fields=["status", "owner", "updated_at"])
    return product


# Leads and prospects ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LeadInput:
    """One lead as a source system sends it, before any check."""

    source_ref: Any
    name: Any
    source_system: Any = ""
    phone: Any = ""
    external_id: Any = ""
    city: Any = ""
    dealer: Any = ""
    channel: Any = LeadChannel.OTHER
    interest: Any = ""
    received_at: Any = None


@dataclass(frozen=True)
class CleanLead:
    source_system: str
    source_ref: str
    name: str
    phone: str
    external_id: str
    city: str
    dealer: Dealer | None
    channel: str
    interest: str
    received_at: datetime


def _received_at(value: Any, now: datetime) -> datetime:
    if value in (None, ""):
        return now
    invalid = ApplicationError(
        "invalid_datetime",
        _("received_at must be a date and time (ISO 8601, e.g. 2026-11-30T14:05:00+08:00)."),
        fields={"received_at": str(value)[:40]},
    )
    try:
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, str):
            text = value.strip()
            day = None if "T" in text or ":" in text else parse_date(text)
            moment = datetime.combine(day, datetime.min.time()) if day else parse_datetime(text)
        else:
            moment = None
        if moment is None:
            raise invalid
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment)
        in_future = moment > now + FUTURE_TOLERANCE
        too_old = moment < now - OLDEST_LEAD
    except (ValueError, OverflowError):
        raise invalid from None
    if in_future:
        raise ApplicationError("invalid_datetime", _("received_at is in the future."), fields={"received_at": str(value)[:40]})
    if too_old:
        raise ApplicationError("invalid_datetime", _("received_at is more than ten years ago."), fields={"received_at": str(value)[:40]})
    return moment


def lead_clean(*, item: LeadInput, default_source_system: str, now: datetime | None = None) -> CleanLead:
    """Check one lead; the first problem raises an ``ApplicationError`` naming its field."""
    now = now or timezone.now()
    source_system = _text(item.source_system, "source_system", max_length=40) or default_source_system
    source_ref = _text(item.source_ref, "source_ref", max_length=64, required=True, label="source_ref")
    name = _text(item.name, "name", max_length=100, required=True, label="name")
    raw_phone = _text(item.phone, "phone", max_length=40)
    external_id = _text(item.external_id, "external_id", max_length=64)
    if not raw_phone and not external_id:
        raise ApplicationError("identity_required", _("A lead needs a mobile phone number or an external ID."), fields={"phone": ""})
    phone = normalize_phone(raw_phone) if raw_phone else ""
    channel = _text(item.channel, "channel", max_length=20) or LeadChannel.OTHER
    if channel not in LeadChannel.values:
        raise ApplicationError(
            "invalid_channel",
            _("Unknown channel “%(channel)s”; one of %(channels)s.") % {"channel": channel, "channels": ", ".join(LeadChannel.values)},
            fields={"channel": channel},
        )
    return CleanLead(
        source_system=source_system,
        source_ref=source_ref,
        name=name,
        phone=phone,
        external_id=external_id,
        city=_text(item.city, "city", max_length=64),
        dealer=dealer_by_code(_text(item.dealer, "dealer", max_length=20)),
        channel=channel,
        interest=_text(item.interest, "interest", max_length=64),
        received_at=_received_at(item.received_at, now),
    )


def _matching_member(*, phone: str, external_id: str) -> Member | None:
    """Dedup rule: the member with this external ID, else the member with this phone (enrolled or prospect)."""
    if external_id and (member := Member.objects.filter(external_id=external_id).first()):
        return member
    if phone and (member := Member.objects.filter(phone=phone).first()):
        return member
    return None


@dataclass(frozen=True)
class LeadReceipt:
    lead: Lead
    created: bool


@transaction.atomic
def lead_receive(*, lead: CleanLead, actor: User | None = None, client: ApiClient | None = None) -> LeadReceipt:
    """Store one checked lead once per (API client, source system, source reference), matched to a member or a new
    prospect; back-office uploads (no client) share one set of references.

    A re-delivered lead changes nothing and answers the lead stored the first time. A client's references are its own:
    it cannot learn whether another system sent a lead by sending that system's name and reference.
    """
    same_lead = Lead.objects.filter(client=client, source_system=lead.source_system, source_ref=lead.source_ref)
    existing = same_lead.select_related("member").first()
    if existing is not None:
        return LeadReceipt(existing, created=False)
    try:
        with transaction.atomic():
            member, outcome = _lead_member(lead, actor)
            stored = Lead.objects.create(
                client=client,
                source_system=lead.source_system,
                source_ref=lead.source_ref,
                name=lead.name,
                phone=lead.phone,
                external_id=lead.external_id,
                city=lead.city,
                dealer=lead.dealer,
                channel=lead.channel,
                interest=lead.interest,
                received_at=lead.received_at,
                member=member,
                outcome=outcome,
            )
    except IntegrityError:
        # The same lead arrived on another connection at the same moment: it is stored once, there.
        existing = same_lead.select_related("member").first()
        if existing is None:
            raise
        return LeadReceipt(existing, created=False)
    activity_happened(
        member_id=member.pk,
        kind=journey.LEAD_CREATED,
        event_id=f"lead:{stored.pk}",
        occurred_at=stored.received_at,
        channel=stored.channel,
        properties={"dealer": lead.dealer.code if lead.dealer else "", "lead": stored.pk, "interest": lead.interest},
    )
    return LeadReceipt(stored, created=True)


def _lead_member(lead: CleanLead, actor: User | None) -> tuple[Member, str]:
    member = _matching_member(phone=lead.phone, external_id=lead.external_id)
    if member is None:
        try:
            member = prospect_register(
                name=lead.name,
                phone=lead.phone or None,
                external_id=lead.external_id or None,
                city=lead.city,
                source_channel=_PROSPECT_CHANNEL.get(lead.channel, SourceChannel.DEALER),
                actor=actor,
            )
            return member, LeadOutcome.NEW_PROSPECT
        except ApplicationError as exc:
            # Another lead for the same person registered them first: attach to that one.
            if exc.code not in ("duplicate_phone", "duplicate_external_id", "conflict"):
                raise
            member = _matching_member(phone=lead.phone, external_id=lead.external_id)
            if member is None:
                raise
    outcome = LeadOutcome.MATCHED_PROSPECT if member.status == MemberStatus.PROSPECT else LeadOutcome.MATCHED_MEMBER
    return member, outcome


@dataclass
class LeadBatchResult:
    created: int = 0
    duplicates: int = 0
    rejected: int = 0
    items: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"created": self.created, "duplicates": self.duplicates, "rejected": self.rejected, "items": self.items}


LEAD_FIELDS = ("source_system", "source_ref", "name", "phone", "external_id", "city", "dealer", "channel", "interest", "received_at")


def _lead_input(raw: Mapping[str, Any]) -> LeadInput:
    return LeadInput(**{name: raw.get(name) for name in LEAD_FIELDS})


def _error_item(index: int, source_ref: Any, exc: ApplicationError) -> dict[str, Any]:
    fields = exc.fields or {}
    return {
        "index": index,
        "source_ref": source_ref if isinstance(source_ref, str) else None,
        "status": "rejected",
        "code": exc.code,
        "field": next(iter(fields), None),
        "message": str(exc.message),
    }


def lead_reference(lead: Lead) -> str:
    """The reference a source system gets for a stored lead: stable, and opaque (it tells neither the row's id, nor
    how many leads there are, nor whom the lead matched)."""
    return "ld_" + salted_hmac("apps.sales.lead_reference", str(lead.pk)).hexdigest()[:24]


def leads_receive_batch(*, items: Any, client: ApiClient, reveal_match: bool = False) -> LeadBatchResult:
    """A batch from a trusted system: each lead checked and stored on its own (in its own savepoint); bad ones are
    listed with their index, field and reason, good ones stored. The batch as a whole must be a list of 1 to
    ``MAX_LEADS_PER_BATCH`` objects.

    Whether a phone or external ID belongs to a member is personal data: each stored lead is answered with its
    opaque reference only, and with the member it matched and the outcome only when ``reveal_match`` (the caller
    may read members). ``source_system`` defaults to the client's name; duplicates are looked for among the client's
    own leads only."""
    if not isinstance(items, list) or not items:
        raise ApplicationError("invalid", _("leads must be a non-empty list."), fields={"leads": ""})
    if len(items) > MAX_LEADS_PER_BATCH:
        raise ApplicationError(
            "batch_too_large", _("At most %(max)d leads per request.") % {"max": MAX_LEADS_PER_BATCH}, fields={"leads": len(items)}
        )
    result = LeadBatchResult()
    now = timezone.now()
    for index, raw in enumerate(items):
        if not isinstance(raw, dict):
            result.rejected += 1
            result.items.append(
                _error_item(index, None, ApplicationError("invalid", _("Each lead is an object."), fields={"leads": index}))
            )
            continue
        unknown = sorted(set(raw) - set(LEAD_FIELDS))
        try:
            if unknown:
                raise ApplicationError("unknown_field", _("Unknown field “%(field)s”.") % {"field": unknown[0]}, fields={unknown[0]: ""})
            clean = lead_clean(item=_lead_input(raw), default_source_system=client.name[:40], now=now)
            receipt = lead_receive(lead=clean, client=client)
        except ApplicationError as exc:
            result.rejected += 1
            result.items.append(_error_item(index, raw.get("source_ref"), exc))
            continue
        result.created += receipt.created
        result.duplicates += not receipt.created
        item = {
            "index": index,
            "source_ref": receipt.lead.source_ref,
            "status": "created" if receipt.created else "duplicate",
            "lead_ref": lead_reference(receipt.lead),
        }
        if reveal_match:
            item.update(member_id=receipt.lead.member_id, outcome=receipt.lead.outcome)
        result.items.append(item)
    return result


@dataclass(frozen=True)
class RowProblem:
    row: int
    column: str
    message: str


@dataclass
class LeadUploadResult:
    created: int = 0
    duplicates: int = 0
    problems: list[RowProblem] = field(default_factory=list)


def leads_import(*, rows: Sequence[Mapping[str, Any]], actor: User | None = None, first_row: int = 2) -> LeadUploadResult:
    """A back-office upload: every row checked first, every bad row reported (row number, column, reason), and only a
    file without problems stored — all of it in one transaction, so nothing is half-written. ``first_row`` is the
    spreadsheet's row number of ``rows[0]`` (the header is row 1)."""
    result = LeadUploadResult()
    if not rows:
        result.problems.append(RowProblem(first_row, "", _("The file has no leads.")))
        return result
    now = timezone.now()
    cleaned: list[tuple[int, CleanLead]] = []
    seen: dict[tuple[str, str], int] = {}
    for offset, row in enumerate(rows):
        number = first_row + offset
        try:
            clean = lead_clean(item=_lead_input(row), default_source_system=UPLOAD_SOURCE_SYSTEM, now=now)
        except ApplicationError as exc:
            result.problems.append(RowProblem(number, next(iter(exc.fields or {}), ""), str(exc.message)))
            continue
        key = (clean.source_system, clean.source_ref)
        if key in seen:
            result.problems.append(RowProblem(number, "source_ref", _("The same lead as row %(row)d.") % {"row": seen[key]}))
            continue
        seen[key] = number
        cleaned.append((number, clean))
    if result.problems:
        return result
    try:
        with transaction.atomic():
            for number, clean in cleaned:
                try:
                    receipt = lead_receive(lead=clean, actor=actor)
                except ApplicationError as exc:
                    result.problems.append(RowProblem(number, next(iter(exc.fields or {}), ""), str(exc.message)))
                    raise
                result.created += receipt.created
                result.duplicates += not receipt.created
    except ApplicationError:
        result.created = result.duplicates = 0
    return result


# Journey events recorded by staff --------------------------------------------------------------------


def _event_properties(*, dealer: Dealer | None, model: str = "", vin: str = "", **more: Any) -> dict[str, Any]:
    properties: dict[str, Any] = {"dealer": dealer.code if dealer else ""}
    if model:
        properties["model"] = model
    if vin:
        properties["vin"] = vin
    properties.update({name: value for name, value in more.items() if value not in (None, "")})
    return properties


@transaction.atomic
def journey_event_record(
    *,
    member: Member,
    kind: str,
    dealer: Dealer | None,
    channel: str,
    occurred_at: datetime | None = None,
    model: str = "",
    vin: str = "",
    product_kind: ProductKind | None = None,
    trim: str = "",
    note: str = "",
    actor: User | None = None,
) -> OwnedProduct | None:
    """Record a journey event staff learnt of (a test drive, an order, a delivery …); a delivery creates the product."""
    if kind not in dict(journey.RECORDABLE):
        raise ApplicationError("invalid_kind", _("Unknown journey event."), fields={"kind": kind})
    if channel not in LeadChannel.values:
        raise ApplicationError("invalid_channel", _("Unknown channel."), fields={"channel": channel})
    model = _text(model, "model", max_length=64)
    now = timezone.now()
    occurred_at = occurred_at or now
    if occurred_at > now + FUTURE_TOLERANCE:
        raise ApplicationError("invalid_datetime", _("The event is in the future."), fields={"occurred_at": str(occurred_at)})
    if occurred_at < now - OLDEST_LEAD:
        raise ApplicationError("invalid_datetime", _("The event is more than ten years ago."), fields={"occurred_at": str(occurred_at)})
    member = lock_member(member_id=member.pk)
    _ownable(member)
    if kind == journey.DELIVERED:
        if product_kind is None:
            raise ApplicationError("required", _("A delivery needs the product kind."), fields={"product_kind": ""})
        return product_deliver(
            member=member,
            kind=product_kind,
            identifier=vin,
            model=model,
            trim=trim,
            delivered_at=occurred_at,
            dealer=dealer,
            channel=channel,
            actor=actor,
        )
    if kind in (journey.ORDER_PLACED, journey.TEST_DRIVE_BOOKED, journey.TEST_DRIVE_COMPLETED) and not model:
        raise ApplicationError("required", _("Name the model."), fields={"model": ""})
    vin_text = ""
    if vin:
        vin_text = identifier_clean(product_kind, vin) if product_kind else _text(vin, "vin", max_length=64)
    activity_happened(
        member_id=member.pk,
        kind=kind,
        event_id=f"{kind}:staff:{uuid.uuid4().hex}",
        occurred_at=occurred_at,
        channel=channel,
        properties=_event_properties(dealer=dealer, model=model, vin=vin_text, note=_text(note, "note", max_length=200)),
    )
    return None


# Registries: merging, personal data -------------------------------------------------------------------


def sales_member_merge(survivor: Member, merged: Member) -> dict[str, int]:
    """Move the merged member's leads, ownerships and products to the survivor (both members already locked)."""
    lock_products_of(member_id=merged.pk)
    return {
        "leads": Lead.objects.filter(member=merged).update(member=survivor),
        "ownerships": Ownership.objects.filter(member=merged).update(member=survivor),
        "owned_products": OwnedProduct.objects.filter(owner=merged).update(owner=survivor, updated_at=timezone.now()),
    }


def leads_anonymise(member: Member) -> None:
    """The member's leads keep their dealer, channel, interest and dates; their name, phone and external ID go."""
    Lead.objects.filter(member=member, anonymised_at__isnull=True).update(
        name=_("(anonymised)"), phone="", external_id="", city="", anonymised_at=timezone.now()
    )
