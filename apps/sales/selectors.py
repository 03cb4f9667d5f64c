"""Reads of dealers, products and leads, shared by the back office, the API, the member page and segment conditions."""

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.errors import ApplicationError
from apps.members.models import Member
from apps.members.phones import normalize_phone
from apps.members.timeline import TimelineItem, TimelineRow, choice_labels, object_links
from apps.sales.models import Dealer, Lead, OwnedProduct, Ownership, ProductStatus


def leads_search(queryset: QuerySet[Lead], text: str) -> QuerySet[Lead]:
    """The source reference or the interest exactly, or the name by its beginning: each has an index, so a search
    reads the leads it finds, not the table ("contains" read every lead when nothing matched)."""
    text = text.strip()
    if not text:
        return queryset
    return queryset.filter(Q(source_ref=text) | Q(interest=text) | Q(name__startswith=text))


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


def lead_timeline(rows: Sequence[TimelineRow]) -> list[TimelineItem]:
    channel_label = choice_labels(Lead, "channel")
    link_to = object_links("admin:sales_lead_change")
    return [
        row.item(
            kind="lead",
            title=_("Lead from %(channel)s") % {"channel": channel_label(row["channel"])},
            detail=" · ".join(part for part in (row["dealer_name"] or "", row["interest"]) if part),
            link=link_to(row.item_id),
            data={"dealer": row["dealer_code"] or "", "interest": row["interest"], "outcome": row["outcome"]},
        )
        for row in rows
    ]


LEAD_COLUMNS = {
    "channel": "channel",
    "dealer_name": "dealer__name",
    "dealer_code": "dealer__code",
    "interest": "interest",
    "outcome": "outcome",
}


def ownership_timeline(rows: Sequence[TimelineRow]) -> list[TimelineItem]:
    reason_label = choice_labels(Ownership, "reason")
    link_to = object_links("admin:sales_ownedproduct_change")
    return [
        row.item(
            kind=f"ownership_{row['reason']}",
            title=_("Became the owner of %(product)s (%(reason)s)") % {"product": row["model"], "reason": reason_label(row["reason"])},
            detail=row["identifier"],
            link=link_to(row["product"]),
            data={"identifier": row["identifier"], "ended_at": row["ended_at"].isoformat() if row["ended_at"] else None},
        )
        for row in rows
    ]


OWNERSHIP_COLUMNS = {
    "reason": "reason",
    "model": "product__model",
    "identifier": "product__identifier",
    "product": "product_id",
    "ended_at": "ended_at",
}


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
