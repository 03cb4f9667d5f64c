"""Reads of dealers, products and leads, shared by the back office, the API, the member page and segment conditions."""

from datetime import timedelta
from typing import Any

from django.db.models import QuerySet
from django.db.models.expressions import RawSQL
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.errors import ApplicationError
from apps.members.models import Member
from apps.members.phones import normalize_phone
from apps.members.timeline import TimelineCursor, TimelineItem, newest_rows
from apps.sales.models import Dealer, Lead, OwnedProduct, Ownership, ProductStatus


def products_owned(*, member: Member) -> QuerySet[OwnedProduct]:
    return (
        OwnedProduct.objects.filter(owner=member, status=ProductStatus.OWNED)
        .select_related("kind", "dealer")
        .order_by("-delivered_on", "-id")
    )


def owned_products_summary(member: Member) -> list[dict[str, Any]] | None:
    """The profile section: what the member owns now, as plain values."""
    rows = [
        {
            "kind": product.kind.name,
            "identifier_label": product.kind.identifier_label,
            "identifier": product.identifier,
            "model": product.model,
            "trim": product.trim,
            "delivered_on": product.delivered_on.isoformat() if product.delivered_on else None,
            "dealer": product.dealer.code if product.dealer else None,
        }
        for product in products_owned(member=member)
    ]
    return rows or None


def ownership_history(*, product: OwnedProduct) -> QuerySet[Ownership]:
    return Ownership.objects.filter(product=product).select_related("member").order_by("started_at", "id")


LEAD_SOURCE = "leads"
OWNERSHIP_SOURCE = "ownerships"


def lead_timeline(member: Member, before: TimelineCursor | None, limit: int) -> list[TimelineItem]:
    leads = newest_rows(
        Lead.objects.filter(member=member).select_related("dealer"), name=LEAD_SOURCE, before=before, limit=limit, time_field="received_at"
    )
    return [
        TimelineItem(
            at=lead.received_at,
            source=LEAD_SOURCE,
            item_id=lead.pk,
            kind="lead",
            title=_("Lead from %(channel)s") % {"channel": lead.get_channel_display()},
            detail=" · ".join(part for part in (lead.dealer.name if lead.dealer else "", lead.interest) if part),
            link=reverse("admin:sales_lead_change", args=[lead.pk]),
            data={"dealer": lead.dealer.code if lead.dealer else "", "interest": lead.interest, "outcome": lead.outcome},
        )
        for lead in leads
    ]


def ownership_timeline(member: Member, before: TimelineCursor | None, limit: int) -> list[TimelineItem]:
    ownerships = newest_rows(
        Ownership.objects.filter(member=member).select_related("product"),
        name=OWNERSHIP_SOURCE,
        before=before,
        limit=limit,
        time_field="started_at",
    )
    return [
        TimelineItem(
            at=ownership.started_at,
            source=OWNERSHIP_SOURCE,
            item_id=ownership.pk,
            kind=f"ownership_{ownership.reason}",
            title=_("Became the owner of %(product)s (%(reason)s)")
            % {"product": ownership.product.model, "reason": ownership.get_reason_display()},
            detail=ownership.product.identifier,
            link=reverse("admin:sales_ownedproduct_change", args=[ownership.product_id]),
            data={"identifier": ownership.product.identifier, "ended_at": ownership.ended_at.isoformat() if ownership.ended_at else None},
        )
        for ownership in ownerships
    ]


def leads_personal_data(member: Member) -> list[dict[str, Any]]:
    """The PIPL export's section: every lead that named the member, with what it said."""
    return [
        {
            "received_at": lead.received_at.isoformat(),
            "source_system": lead.source_system,
            "source_ref": lead.source_ref,
            "name": lead.name,
            "phone": lead.phone,
            "external_id": lead.external_id,
            "city": lead.city,
            "dealer": lead.dealer.code if lead.dealer else None,
            "channel": lead.channel,
            "interest": lead.interest,
        }
        for lead in Lead.objects.filter(member=member).select_related("dealer").order_by("received_at", "id")
    ]


def products_personal_data(member: Member) -> list[dict[str, Any]]:
    return [
        {
            "identifier": ownership.product.identifier,
            "model": ownership.product.model,
            "from": ownership.started_at.isoformat(),
            "until": ownership.ended_at.isoformat() if ownership.ended_at else None,
            "reason": ownership.reason,
        }
        for ownership in Ownership.objects.filter(member=member).select_related("product").order_by("started_at", "id")
    ]


# Segment conditions read these: member ids as subqueries, so a segment stays one SQL statement.


def owners_of_models(models: list[str]) -> QuerySet:
    return OwnedProduct.objects.filter(status=ProductStatus.OWNED, model__in=models).values("owner_id")


def owners_delivered_within(days: int) -> QuerySet:
    since = timezone.localdate() - timedelta(days=days)
    return OwnedProduct.objects.filter(status=ProductStatus.OWNED, delivered_on__gte=since).values("owner_id")


def members_whose_last_dealer_is(codes: list[str]) -> RawSQL:
    """Members whose latest lead or delivery named one of these dealers (the later of the two decides), as one subquery."""
    placeholders = ", ".join(["%s"] * len(codes))
    sql = (
        "SELECT member_id FROM ("  # noqa: S608 - table names from our models; the codes are parameters
        " SELECT member_id, dealer_code, ROW_NUMBER() OVER (PARTITION BY member_id ORDER BY at DESC, source DESC, id DESC) AS n FROM ("
        f"  SELECT lead.member_id, lead.received_at AS at, 0 AS source, lead.id, dealer.code AS dealer_code FROM {Lead._meta.db_table} lead"
        f"  JOIN {Dealer._meta.db_table} dealer ON dealer.id = lead.dealer_id"
        "  UNION ALL"
        f"  SELECT ownership.member_id, ownership.started_at, 1, ownership.id, dealer.code FROM {Ownership._meta.db_table} ownership"
        f"  JOIN {OwnedProduct._meta.db_table} product ON product.id = ownership.product_id"
        f"  JOIN {Dealer._meta.db_table} dealer ON dealer.id = product.dealer_id WHERE ownership.reason = 'delivery'"
        " ) dealer_events"
        f") latest WHERE n = 1 AND dealer_code IN ({placeholders})"
    )
    return RawSQL(sql, list(codes))  # noqa: S611


def dealer_choices() -> list[tuple[str, str]]:
    return [(code, f"{code} {name}") for code, name in Dealer.objects.order_by("code").values_list("code", "name")]


def model_choices() -> list[tuple[str, str]]:
    models = OwnedProduct.objects.order_by("model").values_list("model", flat=True).distinct()
    return [(model, model) for model in models]


def member_find(*, text: str, field_name: str = "member") -> Member:
    """The member a staff form names by external ID, mobile phone or member ID (tried in that order)."""
    text = (text or "").strip()
    if text:
        if member := Member.objects.filter(external_id=text).first():
            return member
        try:
            phone = normalize_phone(text)
        except ApplicationError:
            phone = ""
        if phone and (member := Member.objects.filter(phone=phone).first()):
            return member
        if text.isdigit() and len(text) < 12 and (member := Member.objects.filter(pk=int(text)).first()):
            return member
    raise ApplicationError(
        "not_found", _("No member has the external ID, mobile phone or ID “%(text)s”.") % {"text": text}, fields={field_name: text}
    )
