"""Dealers, the leads they and our channels send, and the durable products members own (vehicles first)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.models import ApiClient, TimeStampedModel
from apps.members.models import Member


class Dealer(TimeStampedModel):
    """A dealer or store: leads, test drives, orders, deliveries and service visits name it by its code."""

    code = models.CharField(_("code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=100)
    city = models.CharField(_("city"), max_length=64, blank=True, db_index=True)
    region = models.CharField(_("region"), max_length=64, blank=True, db_index=True)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("dealer")
        verbose_name_plural = _("dealers")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class IdentifierCheck(models.TextChoices):
    NONE = "none", _("No check")
    VIN = "vin", _("Vehicle identification number (ISO 3779, check digit)")


class AttributeType(models.TextChoices):
    TEXT = "text", _("Text")
    NUMBER = "number", _("Number")
    DATE = "date", _("Date")
    CHOICE = "choice", _("Choice")


class ProductKind(TimeStampedModel):
    """A kind of durable product members own: how its identifier is checked and which attributes it carries.

    ``attribute_schema`` is a list of ``{"name", "label", "type", "required", "choices"}`` (``type`` one of
    ``AttributeType``; ``choices`` only for ``choice``); a product's ``attributes`` must satisfy it.
    """

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=64)
    identifier_label = models.CharField(_("identifier label"), max_length=32, default="ID", help_text=_("For example VIN."))
    identifier_check = models.CharField(_("identifier check"), max_length=10, choices=IdentifierCheck.choices, default=IdentifierCheck.NONE)
    attribute_schema = models.JSONField(_("attribute schema"), default=list, blank=True)

    class Meta:
        verbose_name = _("product kind")
        verbose_name_plural = _("product kinds")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class ProductStatus(models.TextChoices):
    OWNED = "owned", _("Owned")
    SOLD = "sold", _("Sold")
    TRANSFERRED = "transferred", _("Transferred")


class OwnedProduct(TimeStampedModel):
    """One product (a vehicle by its VIN) and who owns it now; ``Ownership`` keeps every owner it had."""

    kind = models.ForeignKey(ProductKind, verbose_name=_("product kind"), on_delete=models.PROTECT, related_name="products")
    identifier = models.CharField(_("identifier"), max_length=64)
    model = models.CharField(_("model"), max_length=64, db_index=True)
    trim = models.CharField(_("trim"), max_length=64, blank=True)
    attributes = models.JSONField(_("attributes"), default=dict, blank=True)
    delivered_on = models.DateField(_("delivered on"), null=True, blank=True, db_index=True)
    dealer = models.ForeignKey(Dealer, verbose_name=_("dealer"), on_delete=models.PROTECT, null=True, blank=True, related_name="products")
    status = models.CharField(_("status"), max_length=12, choices=ProductStatus.choices, default=ProductStatus.OWNED)
    owner = models.ForeignKey(
        Member, verbose_name=_("current owner"), on_delete=models.PROTECT, null=True, blank=True, related_name="owned_products"
    )

    class Meta:
        verbose_name = _("owned product")
        verbose_name_plural = _("owned products")
        ordering = ["-id"]
        permissions = [
            ("transfer_ownedproduct", _("Can transfer a product to another owner or record it sold")),
            ("record_journey_event", _("Can record a member's test drives, orders, deliveries and service visits")),
        ]
        constraints = [
            models.UniqueConstraint(fields=["kind", "identifier"], name="owned_product_unique_identifier"),
            # Owned means owned by someone; sold means out of the programme's hands.
            models.CheckConstraint(condition=~Q(status="owned") | Q(owner__isnull=False), name="owned_product_owned_has_owner"),
        ]
        indexes = [models.Index(fields=["owner", "status"], name="owned_product_owner_idx")]

    def __str__(self) -> str:
        return f"{self.model} {self.identifier}"


class OwnershipReason(models.TextChoices):
    DELIVERY = "delivery", _("Delivery")
    TRANSFER = "transfer", _("Transfer")
    SALE = "sale", _("Sold")
    MERGE = "merge", _("Member merge")


class Ownership(models.Model):
    """One member's ownership of one product, from ``started_at`` until ``ended_at`` (open while it lasts)."""

    product = models.ForeignKey(OwnedProduct, verbose_name=_("product"), on_delete=models.CASCADE, related_name="ownerships")
    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="ownerships")
    started_at = models.DateTimeField(_("from"), default=timezone.now)
    ended_at = models.DateTimeField(_("until"), null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=12, choices=OwnershipReason.choices)
    end_reason = models.CharField(_("end reason"), max_length=12, choices=OwnershipReason.choices, blank=True)
    note = models.CharField(_("note"), max_length=255, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("recorded by"), on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("ownership")
        verbose_name_plural = _("ownership history")
        ordering = ["product", "started_at", "id"]
        constraints = [
            # At most one open ownership per product: a transfer closes one before it opens the next.
            models.UniqueConstraint(fields=["product"], condition=Q(ended_at__isnull=True), name="ownership_one_open_per_product"),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=models.F("started_at")), name="ownership_ends_after_start"
            ),
        ]
        indexes = [models.Index(fields=["member", "started_at", "id"], name="ownership_member_time_idx")]

    def __str__(self) -> str:
        return f"{self.product_id}:{self.member_id}"


class LeadChannel(models.TextChoices):
    """Where a lead came from; the codes are activity channels, so the journey event keeps the channel."""

    APP = "app", _("Member app")
    MINI_PROGRAM = "mini_program", _("Mini-programme")
    ONLINE = "online", _("Website")
    DEALER = "dealer", _("Dealer")
    STORE = "store", _("Store")
    EVENT = "event", _("Event")
    STAFF = "staff", _("Back office")
    OTHER = "other", _("Other")


class LeadOutcome(models.TextChoices):
    MATCHED_MEMBER = "matched_member", _("Matched an enrolled member")
    MATCHED_PROSPECT = "matched_prospect", _("Matched a known prospect")
    NEW_PROSPECT = "new_prospect", _("New prospect")


class Lead(models.Model):
    """A prospect's enquiry, from a source system; (API client, source system, source reference) is its idempotency key
    (uploads from the back office have no client)."""

    client = models.ForeignKey(ApiClient, verbose_name=_("by system"), on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    source_system = models.CharField(_("source system"), max_length=40)
    source_ref = models.CharField(_("source reference"), max_length=64)
    name = models.CharField(_("name"), max_length=100)
    phone = models.CharField(_("mobile phone"), max_length=20, blank=True, help_text=_("Stored in E.164 format."))
    external_id = models.CharField(_("external ID"), max_length=64, blank=True)
    city = models.CharField(_("city"), max_length=64, blank=True)
    dealer = models.ForeignKey(Dealer, verbose_name=_("dealer"), on_delete=models.PROTECT, null=True, blank=True, related_name="leads")
    channel = models.CharField(_("channel"), max_length=20, choices=LeadChannel.choices, default=LeadChannel.OTHER)
    interest = models.CharField(_("interest (model)"), max_length=64, blank=True)
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    member = models.ForeignKey(Member, verbose_name=_("matched member"), on_delete=models.PROTECT, related_name="leads")
    outcome = models.CharField(_("outcome"), max_length=20, choices=LeadOutcome.choices)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    anonymised_at = models.DateTimeField(_("anonymised at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        ordering = ["-id"]
        permissions = [
            ("upload_leads", _("Can upload a file of leads")),
            ("enrol_prospect", _("Can enrol a prospect in the programme")),
        ]
        constraints = [
            # Each API client has its own references: another system's lead must not answer "duplicate" to a probe.
            models.UniqueConstraint(
                fields=["client", "source_system", "source_ref"], condition=Q(client__isnull=False), name="lead_unique_client_source_ref"
            ),
            models.UniqueConstraint(
                fields=["source_system", "source_ref"], condition=Q(client__isnull=True), name="lead_unique_source_ref"
            ),
        ]
        indexes = [
            models.Index(fields=["member", "received_at", "id"], name="lead_member_time_idx"),
            models.Index(fields=["dealer", "received_at"], name="lead_dealer_time_idx"),
            # The back office's search: the reference and the interest exactly, the name by its beginning.
            models.Index(fields=["source_ref"], name="lead_source_ref_idx"),
            models.Index(fields=["name"], name="lead_name_prefix_idx", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["interest"], name="lead_interest_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.source_system}:{self.source_ref}"
