"""The back office for dealers, product kinds, owned products (transfers, history) and leads (upload, enrolment),
and the member page's journey-event recording."""

import csv
import io
import itertools
from pathlib import Path
from typing import Any

import openpyxl
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.decorators import action, display

from apps.core.admin_actions import AdminAction, AdminActionsMixin, Subject
from apps.core.admin_base import ModelAdmin, TabularInline, register_personal_fields
from apps.core.errors import ApplicationError
from apps.core.masking import mask_phone
from apps.core.service_admin import ServiceFormAdmin, add_service_error
from apps.core.spreadsheet import XLSX_SUFFIXES, unreadable_workbook, xlsx_upload_check
from apps.members.admin import FullPersonalDataViewsLogged, can_see_pii, register_member_page_action, register_member_page_section
from apps.members.models import Member, MemberStatus
from apps.members.services import member_enrol_prospect
from apps.sales import journey, selectors, services
from apps.sales.models import Dealer, Lead, LeadChannel, OwnedProduct, Ownership, ProductKind, ProductStatus

PII_PERMISSION = "members.view_member_pii"
TRANSFER_PERMISSION = "sales.transfer_ownedproduct"
RECORD_PERMISSION = "sales.record_journey_event"
UPLOAD_PERMISSION = "sales.upload_leads"
ENROL_PERMISSION = "sales.enrol_prospect"
LEAD_TYPE = "sales.lead"
MAX_UPLOAD_ROWS = 5000

register_personal_fields(model=Lead, fields=["phone", "external_id"], permission=PII_PERMISSION)


def _member_link(member: Member | None) -> str:
    if member is None:
        return "—"
    return format_html('<a class="userops-link" href="{}">{}</a>', reverse("admin:members_member_change", args=[member.pk]), member.name)


@admin.register(Dealer)
class DealerAdmin(ServiceFormAdmin, ModelAdmin):
    list_display = ["code", "name", "city", "region", "active"]
    list_filter = ["region", "active"]
    search_fields = ["code", "name", "city"]
    fields = ["code", "name", "city", "region", "active"]
    ordering = ["code"]

    def save_model(self, request: HttpRequest, obj: Dealer, form: forms.ModelForm, change: bool) -> None:
        services.dealer_save(dealer=obj)

    def has_delete_permission(self, request: HttpRequest, obj: Dealer | None = None) -> bool:
        return False  # leads, products and journey events name dealers: a closed store is made inactive


@admin.register(ProductKind)
class ProductKindAdmin(ServiceFormAdmin, ModelAdmin):
    list_display = ["code", "name", "identifier_label", "identifier_check"]
    fields = ["code", "name", "identifier_label", "identifier_check", "attribute_schema"]

    def save_model(self, request: HttpRequest, obj: ProductKind, form: forms.ModelForm, change: bool) -> None:
        services.product_kind_save(kind=obj)

    def has_delete_permission(self, request: HttpRequest, obj: ProductKind | None = None) -> bool:
        return False


class OwnershipInline(TabularInline):
    model = Ownership
    fields = ["member_shown", "started_at", "ended_at", "reason", "end_reason", "note"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = _("ownership history")

    @display(description=_("member"))
    def member_shown(self, obj: Ownership) -> str:
        return _member_link(obj.member)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class TransferForm(forms.Form):
    to_member = forms.CharField(label=_("New owner"), help_text=_("External ID, mobile phone or member ID."), max_length=40)
    note = forms.CharField(label=_("Note"), required=False, max_length=255)


class ReleaseForm(forms.Form):
    status = forms.ChoiceField(
        label=_("The product was"),
        choices=[(ProductStatus.SOLD, ProductStatus.SOLD.label), (ProductStatus.TRANSFERRED, ProductStatus.TRANSFERRED.label)],
    )
    note = forms.CharField(label=_("Note"), required=False, max_length=255)


def _transfer(request: HttpRequest, product: OwnedProduct, data: dict[str, Any]) -> str:
    to_member = selectors.member_find(text=data["to_member"], field_name="to_member")
    services.product_transfer(product=product, to_member=to_member, note=data["note"], actor=request.user)
    return gettext("%(product)s now belongs to %(member)s.") % {"product": product, "member": to_member.name}


def _release(request: HttpRequest, product: OwnedProduct, data: dict[str, Any]) -> str:
    services.product_release(product=product, status=data["status"], note=data["note"], actor=request.user)
    return gettext("%(product)s left the programme.") % {"product": product}


def _not_owned(product: OwnedProduct) -> str | None:
    return (
        None if product.status == ProductStatus.OWNED else gettext("The product is %(status)s.") % {"status": product.get_status_display()}
    )


PRODUCT_PAGE = {
    "unusable": _not_owned,
    "select_related": ["owner", "kind"],
    "subject": lambda product: Subject(
        name=str(product),
        url=reverse("admin:sales_ownedproduct_change", args=[product.pk]),
        facts=[gettext("Owner: %(name)s") % {"name": product.owner.name if product.owner else "—"}],
    ),
}


@admin.register(OwnedProduct)
class OwnedProductAdmin(AdminActionsMixin, ModelAdmin):
    list_display = ["identifier", "model", "trim", "kind", "owner_shown", "status", "delivered_on", "dealer"]
    list_filter = ["status", "kind", "dealer", "model"]
    search_fields = ["identifier", "model"]
    list_select_related = ["kind", "dealer", "owner"]
    fields = ["kind", "identifier", "model", "trim", "attributes", "delivered_on", "dealer", "status", "owner_shown"]
    readonly_fields = fields
    inlines = [OwnershipInline]
    actions_detail = ["transfer", "release"]

    @display(description=_("current owner"))
    def owner_shown(self, obj: OwnedProduct) -> str:
        return _member_link(obj.owner)

    # Products come from deliveries (a member's journey events) and change only through transfers.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: OwnedProduct | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: OwnedProduct | None = None) -> bool:
        return False

    def has_transfer_permission(self, request: HttpRequest, object_id: str | None = None) -> bool:
        return request.user.has_perm(TRANSFER_PERMISSION)

    transfer = AdminAction(
        description=_("Transfer ownership"),
        url_path="transfer",
        permissions=["transfer"],
        icon="swap_horiz",
        title=_("Transfer ownership"),
        explanation=_("The current ownership ends now and the new owner's begins; the history keeps both."),
        form_class=TransferForm,
        perform=_transfer,
        **PRODUCT_PAGE,
    )
    release = AdminAction(
        description=_("Sold or transferred out"),
        url_path="release",
        permissions=["transfer"],
        icon="logout",
        title=_("The product left the programme"),
        explanation=_("Sold (traded in) or passed to someone who is not a member: the ownership ends and nobody owns it here."),
        form_class=ReleaseForm,
        perform=_release,
        **PRODUCT_PAGE,
    )

    def get_urls(self) -> list[Any]:
        record = self.admin_site.admin_view(self.record_view)
        return [path("record/<int:member_id>/", record, name="sales_journey_record"), *super().get_urls()]

    def record_view(self, request: HttpRequest, member_id: int) -> HttpResponse:
        """A journey event of one member, recorded by staff: GET shows the form, a valid POST records it."""
        if not request.user.has_perm(RECORD_PERMISSION):
            raise PermissionDenied
        member = get_object_or_404(Member, pk=member_id)
        member_url = reverse("admin:members_member_change", args=[member.pk])
        form = JourneyEventForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                services.journey_event_record(
                    member=member,
                    kind=data["kind"],
                    dealer=data["dealer"],
                    channel=data["channel"],
                    occurred_at=data["occurred_at"],
                    model=data["model"],
                    vin=data["vin"],
                    product_kind=data["product_kind"],
                    trim=data["trim"],
                    note=data["note"],
                    actor=request.user,
                )
            except ApplicationError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, gettext("%(event)s recorded.") % {"event": dict(journey.RECORDABLE)[data["kind"]]})
                return HttpResponseRedirect(member_url)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Record a journey event"),
            "subject": Subject(name=member.name, url=member_url, facts=[member.get_status_display()]),
            "explanation": gettext(
                "A test drive, an order, a delivery (which records the vehicle with its VIN), a service visit or a renewal."
            ),
            "form": form,
            "opts": self.model._meta,
            "change_url": member_url,
        }
        return TemplateResponse(request, "admin/userops/action_form.html", context)


class JourneyEventForm(forms.Form):
    kind = forms.ChoiceField(label=_("Event"), choices=journey.RECORDABLE)
    dealer = forms.ModelChoiceField(label=_("Dealer"), queryset=Dealer.objects.filter(active=True), required=False)
    channel = forms.ChoiceField(label=_("Channel"), choices=LeadChannel.choices, initial=LeadChannel.DEALER)
    occurred_at = forms.DateTimeField(label=_("When"), required=False, help_text=_("Empty: now."))
    model = forms.CharField(label=_("Model"), max_length=64, required=False)
    trim = forms.CharField(label=_("Trim"), max_length=64, required=False)
    product_kind = forms.ModelChoiceField(
        label=_("Product kind"), queryset=ProductKind.objects.all(), required=False, help_text=_("For a delivery.")
    )
    vin = forms.CharField(
        label=_("VIN"), max_length=40, required=False, help_text=_("For a delivery: the vehicle's identification number.")
    )
    note = forms.CharField(label=_("Note"), max_length=200, required=False)

    def clean_occurred_at(self) -> Any:
        return self.cleaned_data["occurred_at"] or timezone.now()


class LeadUploadForm(forms.Form):
    file = forms.FileField(label=_("File"), help_text=_("CSV (UTF-8) or Excel (.xlsx), first row the column names."))


def _rows_of(upload: Any) -> list[dict[str, Any]]:
    """The file's rows by lower-case column name; an unreadable file is an error on the file field."""
    name = upload.name or ""
    if Path(name).suffix.lower() in XLSX_SUFFIXES:
        xlsx_upload_check(upload, name=name)
        try:
            sheet = openpyxl.load_workbook(upload, read_only=True, data_only=True).active
            table = [list(row) for row in sheet.iter_rows(values_only=True, max_row=MAX_UPLOAD_ROWS + 2)]
        except Exception as exc:  # openpyxl raises many kinds for a damaged workbook
            raise unreadable_workbook() from exc
    else:
        raw = upload.read()
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                text = raw.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise ApplicationError("unreadable_file", gettext("The file is neither UTF-8 nor GB18030 text."), fields={"file": ""})
        try:
            # Read one row past the limit, so a huge file is refused without being parsed to its end.
            table = list(itertools.islice(csv.reader(io.StringIO(text)), MAX_UPLOAD_ROWS + 2))
        except csv.Error as exc:  # a cell over the csv module's field limit, a stray quote in strict mode …
            raise ApplicationError(
                "unreadable_csv",
                gettext("The CSV file cannot be read: %(reason)s. Save it again as CSV from Excel.") % {"reason": exc},
                fields={"file": ""},
            ) from exc
    if not table:
        raise ApplicationError("empty_file", gettext("The file is empty."), fields={"file": ""})
    header = [str(cell or "").strip().lower() for cell in table[0]]
    unknown = [column for column in header if column and column not in services.LEAD_FIELDS]
    if unknown:
        raise ApplicationError(
            "unknown_column",
            gettext("Unknown column “%(column)s”; the columns are %(columns)s.")
            % {"column": unknown[0], "columns": ", ".join(services.LEAD_FIELDS)},
            fields={"file": unknown[0]},
        )
    missing = [column for column in ("source_ref", "name") if column not in header]
    if missing:
        raise ApplicationError(
            "missing_column", gettext("The column “%(column)s” is missing.") % {"column": missing[0]}, fields={"file": missing[0]}
        )
    if len(table) - 1 > MAX_UPLOAD_ROWS:
        raise ApplicationError("too_many_rows", gettext("At most %(max)d leads per file.") % {"max": MAX_UPLOAD_ROWS}, fields={"file": ""})
    rows = []
    for cells in table[1:]:
        values = ["" if cell is None else str(cell).strip() for cell in cells]
        if any(values):
            rows.append({column: value for column, value in zip(header, values, strict=False) if column})
    return rows


def _enrol(request: HttpRequest, lead: Lead, data: dict[str, Any]) -> str:
    member = member_enrol_prospect(member=lead.member, actor=request.user)
    return gettext("%(name)s is now a member.") % {"name": member.name}


@admin.register(Lead)
class LeadAdmin(FullPersonalDataViewsLogged, AdminActionsMixin, ModelAdmin):
    # Staff who see the phones in full leave a trace in the access log, as on the member pages.
    access_log_object_type = LEAD_TYPE
    list_display = ["received_at", "name", "phone_shown", "dealer", "channel", "interest", "member_shown", "outcome"]
    list_filter = ["outcome", "channel", "dealer"]
    search_fields = ["source_ref", "name", "interest"]
    search_help_text = _("Source reference or interest (exact), or name (beginning)")
    list_select_related = ["dealer", "member"]
    date_hierarchy = None
    fields = [
        "client",
        "source_system",
        "source_ref",
        "received_at",
        "name",
        "phone_shown",
        "city",
        "dealer",
        "channel",
        "interest",
        "member_shown",
        "outcome",
        "created_at",
    ]
    readonly_fields = fields
    actions_list = ["upload"]
    actions_detail = ["enrol"]

    @display(description=_("mobile phone"))
    def phone_shown(self, obj: Lead) -> str:
        return mask_phone(obj.phone)

    @display(description=_("mobile phone"))
    def phone_full(self, obj: Lead) -> str:
        return obj.phone

    @display(description=_("matched member"))
    def member_shown(self, obj: Lead) -> str:
        return _member_link(obj.member)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Lead], search_term: str) -> tuple[QuerySet[Lead], bool]:
        return selectors.leads_search(queryset, search_term), False

    def _unmasked(self, request: HttpRequest, names: Any) -> list[str]:
        """Staff with the personal-data right see the phone in full; the others see it masked."""
        return [("phone_full" if name == "phone_shown" and can_see_pii(request) else name) for name in names]

    def get_list_display(self, request: HttpRequest) -> list[str]:
        return self._unmasked(request, super().get_list_display(request))

    def get_fields(self, request: HttpRequest, obj: Lead | None = None) -> list[str]:
        return self._unmasked(request, super().get_fields(request, obj))

    def get_readonly_fields(self, request: HttpRequest, obj: Lead | None = None) -> list[str]:
        return self._unmasked(request, super().get_readonly_fields(request, obj))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Lead | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Lead | None = None) -> bool:
        return False

    def has_upload_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(UPLOAD_PERMISSION)

    def has_enrol_permission(self, request: HttpRequest, object_id: str | None = None) -> bool:
        return request.user.has_perm(ENROL_PERMISSION)

    enrol = AdminAction(
        description=_("Enrol the prospect"),
        url_path="enrol",
        permissions=["enrol"],
        icon="how_to_reg",
        title=_("Enrol the prospect in the programme"),
        explanation=_("The prospect becomes an active member joined now, at the lowest tier; their leads and history stay."),
        perform=_enrol,
        select_related=["member"],
        unusable=lambda lead: (
            None if lead.member.status == MemberStatus.PROSPECT else gettext("%(name)s is already enrolled.") % {"name": lead.member.name}
        ),
        done_url=lambda lead: reverse("admin:members_member_change", args=[lead.member_id]),
    )

    @action(description=_("Upload leads"), url_path="upload-leads", permissions=["upload"], icon="upload_file")
    def upload(self, request: HttpRequest) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:sales_lead_upload_file"))

    def get_urls(self) -> list[Any]:
        return [path("upload-file/", self.admin_site.admin_view(self.upload_view), name="sales_lead_upload_file"), *super().get_urls()]

    def upload_view(self, request: HttpRequest) -> HttpResponse:
        """A CSV or Excel file of leads: every bad row listed by row number and column, and nothing stored unless all are good."""
        if not self.has_upload_permission(request):
            raise PermissionDenied
        form = LeadUploadForm(request.POST or None, request.FILES or None)
        problems: list[services.RowProblem] = []
        if request.method == "POST" and form.is_valid():
            try:
                rows = _rows_of(form.cleaned_data["file"])
            except ApplicationError as exc:
                add_service_error(form, exc)
            else:
                result = services.leads_import(rows=rows, actor=request.user)
                problems = result.problems
                if not problems:
                    messages.success(
                        request,
                        gettext("%(created)d leads stored, %(duplicates)d already known.")
                        % {"created": result.created, "duplicates": result.duplicates},
                    )
                    return HttpResponseRedirect(reverse("admin:sales_lead_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Upload leads"),
            "opts": self.model._meta,
            "form": form,
            "problems": problems,
            "columns": services.LEAD_FIELDS,
            "channels": LeadChannel.values,
        }
        return TemplateResponse(request, "admin/sales/lead_upload.html", context)


def member_sales_section(member: Member) -> SafeString:
    products = list(selectors.products_owned(member=member))
    leads = list(Lead.objects.filter(member=member).select_related("dealer").order_by("-received_at", "-id")[:10])
    return render_to_string("admin/sales/member_section.html", {"products": products, "leads": leads})


register_member_page_section(
    name="sales_section", title=_("Owned products and leads"), permission="sales.view_ownedproduct", render=member_sales_section
)
register_member_page_action(
    group="journey",
    title=_("Record a journey event"),
    explanation=_("A test drive, an order, a delivery with its VIN, a service visit or a renewal, with the dealer and channel."),
    permission=RECORD_PERMISSION,
    url=lambda member: reverse("admin:sales_journey_record", args=[member.pk]),
    statuses=(MemberStatus.PROSPECT, MemberStatus.ACTIVE),
)
