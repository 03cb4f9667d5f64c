import contextlib
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from import_export.admin import ImportExportMixin
from modeltranslation.admin import TranslationAdmin
from unfold.contrib.import_export.forms import ExportForm, ImportForm
from unfold.decorators import display

from apps.benefits import selectors, services
from apps.benefits.filters import BenefitFilter, GrantFilter
from apps.benefits.models import Benefit, Grant, GrantSource, GrantState, RedemptionChannel, TierBenefit, normalize_code
from apps.benefits.resources import BenefitResource
from apps.core.admin_actions import AdminAction, AdminActionsMixin
from apps.core.admin_base import HistoryAdmin, ModelAdmin, TabularInline
from apps.core.admin_filters import filterset_list_filter
from apps.core.errors import ApplicationError
from apps.core.service_admin import ServiceFormAdmin
from apps.core.spreadsheet import NeutralisedCSV, TextCellXLSX, xlsx_upload_check
from apps.members.admin import ReasonForm, member_picker_rows, register_member_page_action, register_member_page_section
from apps.members.models import Member
from apps.members.phones import looks_like_phone, normalize_phone


def _find_member(text: str) -> Member | None:
    """A member named exactly: by external ID, else mobile phone in any written form, else email."""
    member = Member.objects.filter(external_id=text).first()
    if member is None and "@" in text:
        member = Member.objects.filter(email=text.lower()).first()
    if member is None and looks_like_phone(text):
        with contextlib.suppress(ApplicationError):
            member = Member.objects.filter(phone=normalize_phone(text)).first()
    return member


class GrantToMembersForm(forms.Form):
    members = forms.CharField(
        label=_("Members"),
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_("One per line: mobile phone (any format), external ID or email."),
    )
    reason = forms.CharField(label=_("Reason"), max_length=128, help_text=_("Kept with each grant; a member gets it once per reason."))

    def clean_members(self) -> list[Member]:
        found, missing = [], []
        for line in self.cleaned_data["members"].splitlines():
            text = line.strip()
            if not text:
                continue
            match = _find_member(text)
            (found if match else missing).append(match or text)
        if missing:
            raise forms.ValidationError(_("No member found for: %(lines)s") % {"lines": ", ".join(missing)})
        if not found:
            raise forms.ValidationError(_("Name at least one member."))
        return found


class RedeemForm(forms.Form):
    channel = forms.ChoiceField(label=_("Channel"), choices=RedemptionChannel.choices, initial=RedemptionChannel.STAFF)
    order_ref = forms.CharField(label=_("Order reference"), max_length=128, required=False)


class BenefitForm(forms.ModelForm):
    """Shows the catalogue rules' refusals on the fields they concern."""

    def _post_clean(self) -> None:
        super()._post_clean()
        try:
            services.benefit_check(benefit=self.instance)
        except ApplicationError as exc:
            for field, message in exc.fields.items():
                self.add_error(field if field in self.fields else None, message)


class TierBenefitInline(TabularInline):
    model = TierBenefit
    extra = 0
    fields = ["tier", "recurrence"]


class CatalogueImportForm(ImportForm):
    """The catalogue spreadsheet, refused before django-import-export reads it if opening it would take unbounded work."""

    def clean_import_file(self) -> Any:
        upload = self.cleaned_data["import_file"]
        try:
            xlsx_upload_check(upload, name=upload.name)
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message, code=exc.code) from exc
        return upload


def _grant_to_members(request: HttpRequest, benefit: Benefit, data: dict[str, Any]) -> Any:
    """Each named member in turn: those the rules refuse are listed with the reason, the others get the grant."""
    granted = 0
    for member in data["members"]:
        try:
            services.grant_issue(benefit=benefit, member=member, source=GrantSource.STAFF, source_ref=data["reason"], actor=request.user)
            granted += 1
        except ApplicationError as exc:
            messages.warning(request, f"{member.name}: {exc.message}")
    return _("%(count)d members received %(benefit)s.") % {"count": granted, "benefit": benefit.name}


@admin.register(Benefit)
class BenefitAdmin(AdminActionsMixin, ServiceFormAdmin, HistoryAdmin, ImportExportMixin, TranslationAdmin, ModelAdmin):
    form = BenefitForm
    resource_classes = [BenefitResource]
    # Only the formats that neutralise formulas the way our own exports do and read back unchanged.
    formats = [NeutralisedCSV, TextCellXLSX]
    import_form_class = CatalogueImportForm
    export_form_class = ExportForm
    list_display = [
        "name",
        "kind",
        "status",
        "face_value",
        "unit_cost",
        "points_price",
        "value_density_display",
        "issued_count",
        "stock_display",
        "cost_committed",
    ]
    list_filter = [
        filterset_list_filter(BenefitFilter, "category", parameter="category__exact"),
        filterset_list_filter(BenefitFilter, "status", parameter="status__exact"),
        filterset_list_filter(BenefitFilter, "kind", parameter="kind__exact"),
    ]
    search_fields = ["name"]
    filter_horizontal = ["eligible_tiers"]
    inlines = [TierBenefitInline]
    readonly_fields = ["category", "issued_count", "cost_committed", "performance"]
    actions_detail = ["grant_to_members"]
    fieldsets = [
        (
            _("What it is"),
            {"fields": ["name", "description", "kind", "category", "face_value", "discount_percent", "discount_cap", "unit_cost"]},
        ),
        (_("Validity"), {"fields": ["valid_from", "valid_until", "validity_days"]}),
        (
            _("Limits"),
            {"fields": ["total_stock", "budget", "per_member_lifetime_limit", "per_member_period_limit", "limit_period", "eligible_tiers"]},
        ),
        (_("Points mall"), {"fields": ["points_price"]}),
        (_("Status and results"), {"fields": ["status", "issued_count", "cost_committed", "performance"]}),
    ]

    def save_model(self, request: HttpRequest, obj: Benefit, form: forms.ModelForm, change: bool) -> None:
        services.benefit_save(benefit=obj)

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool) -> None:
        services.benefit_save(benefit=form.instance, eligible_tiers=form.cleaned_data["eligible_tiers"])
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def has_delete_permission(self, request: HttpRequest, obj: Benefit | None = None) -> bool:
        return False

    @display(description=_("value density"))
    def value_density_display(self, obj: Benefit) -> str:
        return value_density_text(obj)

    @display(description=_("stock left"))
    def stock_display(self, obj: Benefit) -> str | int:
        return "∞" if obj.total_stock is None else obj.stock_left

    @display(description=_("performance"))
    def performance(self, obj: Benefit) -> SafeString:
        if not obj.pk:
            return SafeString("")
        stats = selectors.benefit_stats(benefit=obj)
        grants_url = reverse("admin:benefits_grant_changelist") + f"?benefit__id__exact={obj.pk}"
        return render_to_string("admin/benefits/benefit/performance.html", {"stats": stats, "benefit": obj, "grants_url": grants_url})

    def has_grant_permission(self, request: HttpRequest, object_id: str | None = None) -> bool:
        return request.user.has_perm("benefits.add_grant")

    grant_to_members = AdminAction(
        description=_("Grant to members"),
        url_path="grant",
        permissions=["grant"],
        icon="card_giftcard",
        title=lambda benefit: _("Grant %(benefit)s") % {"benefit": benefit.name},
        form_class=GrantToMembersForm,
        perform=_grant_to_members,
    )

    # The points mall as staff see it: what is on sale, at what price and value, and an exchange on a member's behalf
    # through the same service as the member app (stock, validity, tier, per-member limits, the member's balance).

    def get_urls(self) -> list[Any]:
        return [path("mall/", self.admin_site.admin_view(self.mall_view), name="benefits_benefit_mall"), *super().get_urls()]

    def has_mall_exchange_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("benefits.add_grant")

    def mall_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        member = Member.objects.select_related("tier", "points_account").filter(pk=request.GET.get("member") or None).first()
        error = None
        if request.method == "POST":
            if member is None or not self.has_mall_exchange_permission(request):
                raise PermissionDenied
            benefit = get_object_or_404(Benefit, pk=request.POST.get("benefit"))
            try:
                grant = services.mall_exchange(member=member, benefit=benefit, actor=request.user)
            except ApplicationError as exc:
                error = exc.message
            else:
                messages.success(
                    request,
                    _("%(name)s exchanged %(points)d points for %(benefit)s; grant code %(code)s.")
                    % {"name": member.name, "points": benefit.points_price, "benefit": benefit.name, "code": grant.display_code},
                )
                return HttpResponseRedirect(request.get_full_path())
            member.points_account.refresh_from_db()
        offers = selectors.mall_offers(member=member).prefetch_related("eligible_tiers") if member else selectors.mall_catalogue()
        query = request.GET.get("q", "")
        context = {
            **self.admin_site.each_context(request),
            "title": _("Points mall"),
            "offers": [_mall_row(benefit, member) for benefit in offers],
            "member": member,
            "member_url": reverse("admin:members_member_change", args=[member.pk]) if member else "",
            "can_exchange": member is not None and self.has_mall_exchange_permission(request),
            "query": query,
            "members": member_picker_rows(request, query) if self.has_mall_exchange_permission(request) else [],
            "may_pick": self.has_mall_exchange_permission(request),
            "error": error,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/benefits/benefit/mall.html", context)


def value_density_text(benefit: Benefit) -> str:
    density = benefit.value_density
    if density is None:
        return "—"
    return _("¥%(value)s per 100 points") % {"value": density} if benefit.points_price else f"{density}×"


def _mall_row(benefit: Benefit, member: Member | None) -> dict[str, Any]:
    until = date_format(timezone.localtime(benefit.valid_until), "SHORT_DATE_FORMAT") if benefit.valid_until else ""
    if benefit.validity_days and until:
        validity = _("%(days)d days from the exchange, until %(date)s at the latest") % {"days": benefit.validity_days, "date": until}
    elif benefit.validity_days:
        validity = _("%(days)d days from the exchange") % {"days": benefit.validity_days}
    else:
        validity = _("until %(date)s") % {"date": until}
    tiers = [str(tier) for tier in benefit.eligible_tiers.all()]
    return {
        "id": benefit.pk,
        "name": benefit.name,
        "kind": benefit.get_kind_display(),
        "points_price": benefit.points_price,
        "face_value": benefit.face_value,
        "value_density": value_density_text(benefit),
        "stock_left": "∞" if benefit.total_stock is None else benefit.stock_left,
        "validity": validity,
        "tiers": ", ".join(tiers) if tiers else _("All tiers"),
        "affordable": member is not None and member.points_account.balance >= benefit.points_price,
        "url": reverse("admin:benefits_benefit_change", args=[benefit.pk]),
    }


def _redeem(request: HttpRequest, grant: Grant, data: dict[str, Any]) -> Any:
    services.grant_redeem_by_staff(grant=grant, channel=data["channel"], order_ref=data["order_ref"], actor=request.user)
    return _("The grant was redeemed.")


def _revoke(request: HttpRequest, grant: Grant, data: dict[str, Any]) -> Any:
    services.grant_revoke(grant=grant, reason=data["reason"], actor=request.user)
    return _("The grant was revoked.")


# A grant that is no longer issued says what happened to it (and when) instead of offering the form.
GRANT_PAGE: dict[str, Any] = {
    "select_related": ["benefit", "member"],
    "unusable": lambda grant: selectors.grant_unusable_reason(grant=grant),
}


def _benefit_choices() -> list[tuple[int, str]]:
    return [(benefit.pk, str(benefit)) for benefit in Benefit.objects.order_by("name")]


@admin.register(Grant)
class GrantAdmin(AdminActionsMixin, ModelAdmin):
    list_display = ["display_code", "benefit", "member_link", "state_display", "source", "valid_until", "issued_at"]
    list_filter = [
        filterset_list_filter(GrantFilter, "state", parameter="state__exact"),
        filterset_list_filter(GrantFilter, "source", parameter="source__exact"),
        filterset_list_filter(GrantFilter, "benefit", parameter="benefit__id__exact", choices=_benefit_choices),
    ]
    list_select_related = ["benefit", "member"]
    search_fields = ["code"]
    # The member page links here for one member's grants; a dropdown of every member would not scale.
    extra_lookups = ["member__id__exact"]
    search_help_text = _("Grant code (with or without dashes)")
    readonly_fields = [f.name for f in Grant._meta.fields] + ["redemption_display"]
    actions_detail = ["redeem", "revoke"]
    # Grants are inserted when issued: the key orders them by time and its index serves a page without a sort.
    ordering = ["-id"]

    def get_search_results(self, request: HttpRequest, queryset: Any, search_term: str) -> tuple[Any, bool]:
        return (queryset.filter(code=normalize_code(search_term)) if search_term else queryset), False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Grant | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Grant | None = None) -> bool:
        return False

    @display(description=pgettext_lazy("grant", "code"))
    def display_code(self, obj: Grant) -> str:
        return obj.display_code

    @display(description=_("member"))
    def member_link(self, obj: Grant) -> SafeString:
        return format_html('<a href="{}">{}</a>', reverse("admin:members_member_change", args=[obj.member_id]), obj.member.name)

    @display(
        description=_("state"),
        label={GrantState.ISSUED: "info", GrantState.REDEEMED: "success", GrantState.EXPIRED: "warning", GrantState.REVOKED: "danger"},
    )
    def state_display(self, obj: Grant) -> tuple[str, str]:
        return obj.state, obj.get_state_display()

    @display(description=_("redemption"))
    def redemption_display(self, obj: Grant) -> str:
        redemption = getattr(obj, "redemption", None)
        if redemption is None:
            return "—"
        by = redemption.actor or redemption.client or ""
        at = timezone.localtime(redemption.redeemed_at)
        return f"{redemption.get_channel_display()} {redemption.order_ref} {at:%Y-%m-%d %H:%M} {by}".strip()

    def has_redeem_permission(self, request: HttpRequest, object_id: str | None = None) -> bool:
        return request.user.has_perm("benefits.add_redemption")

    def has_revoke_permission(self, request: HttpRequest, object_id: str | None = None) -> bool:
        return request.user.has_perm("benefits.change_grant")

    # A grant that is no longer issued offers neither button (redeemed, expired and revoked are final); a link to
    # either page opened anyway says what happened to the grant and when.
    def get_actions_detail(self, request: HttpRequest, object_id: str) -> list[Any]:
        actions = super().get_actions_detail(request, object_id)
        if _still_issued(object_id):
            return actions
        final = {f"benefits_grant_{name}" for name in ("redeem", "revoke")}
        return [action for action in actions if action.action_name not in final]

    redeem = AdminAction(
        description=_("Redeem"),
        url_path="redeem",
        permissions=["redeem"],
        icon="check_circle",
        title=_("Redeem grant"),
        form_class=RedeemForm,
        perform=_redeem,
        **GRANT_PAGE,
    )
    revoke = AdminAction(
        description=_("Revoke"),
        url_path="revoke",
        permissions=["revoke"],
        icon="cancel",
        title=_("Revoke grant"),
        form_class=ReasonForm,
        perform=_revoke,
        **GRANT_PAGE,
    )


def _still_issued(grant_id: str | None) -> bool:
    return grant_id is None or Grant.objects.filter(pk=grant_id, state=GrantState.ISSUED).exists()


def member_grants_section(member: Member) -> SafeString:
    grants = selectors.member_grants(member=member)[:20]
    full_list = reverse("admin:benefits_grant_changelist") + f"?member__id__exact={member.pk}"
    return render_to_string("admin/benefits/member_grants.html", {"grants": grants, "full_list": full_list})


register_member_page_section(
    name="benefit_grants", title=_("Benefits (权益)"), permission="benefits.view_grant", render=member_grants_section
)
register_member_page_action(
    group="events",
    title=_("Exchange points in the mall"),
    explanation=_("Buys a points-mall benefit for the member with their points, with the member app's rules: stock, tier, limits."),
    permission="benefits.add_grant",
    url=lambda member: reverse("admin:benefits_benefit_mall") + f"?member={member.pk}",
)
