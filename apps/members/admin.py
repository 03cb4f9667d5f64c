import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from modeltranslation.admin import TranslationAdmin
from simple_history.models import ModelChange
from simple_history.template_utils import HistoricalRecordContextHelper
from unfold.contrib.filters.admin import ChoicesDropdownFilter, FieldTextFilter, RelatedDropdownFilter
from unfold.decorators import action, display

from apps.core.admin import CodedReasonAdminMixin
from apps.core.admin_actions import AdminAction, AdminActionsMixin, Subject
from apps.core.admin_base import DeclaredLookupsChangeList, HistoryAdmin, ModelAdmin, object_or_404, register_personal_fields
from apps.core.admin_filters import filterset_list_filter
from apps.core.errors import ApplicationError
from apps.core.exports import export_response
from apps.core.masking import mask_birthday, mask_email, mask_phone
from apps.core.models import AccessAction
from apps.core.replicas import replica_reads
from apps.core.service_admin import ServiceFormAdmin, add_service_error
from apps.core.services import access_log_record
from apps.members import selectors, services
from apps.members.exports import export_header, export_rows
from apps.members.filters import MemberFilter, search_members
from apps.members.models import (
    AdjustmentState,
    GrowthAdjustment,
    Member,
    MemberStatus,
    PointsAdjustment,
    PointsEntry,
    Tag,
    Tier,
    TierAssignment,
    TierChange,
)
from apps.members.phones import normalize_phone
from apps.members.profile_page import timeline_view
from apps.members.tier_rules import RFM_SEGMENT, TierRule, metric_choices

PII_PERMISSION = "members.view_member_pii"
MEMBER_TYPE = "members.member"
MASKERS: dict[str, Callable[[Any], str]] = {"phone": mask_phone, "email": mask_email, "birthday": mask_birthday}
RECENT_ROWS = 20
GENERIC_SECTION_TEMPLATE = "admin/members/member/section_generic.html"
PROFILE_FIELDS = ["name", "phone", "external_id", "email", "gender", "birthday", "city", "source_channel", "tags"]
MASKED_FIELDS = {"phone": "phone_display", "email": "email_display", "birthday": "birthday_display"}

register_personal_fields(model=Member, fields=MASKERS, permission=PII_PERMISSION)


@dataclass(frozen=True)
class MemberPageSection:
    name: str
    title: Any
    permission: str


@dataclass(frozen=True)
class MemberProfileFact:
    label: Any
    value: Callable[[Member], str]


@dataclass(frozen=True)
class MemberPageAction:
    group: str
    title: Any
    explanation: Any
    permission: str
    url: Callable[[Member], str]
    # The member's statuses the action applies to.
    statuses: frozenset[str] = frozenset({MemberStatus.ACTIVE})


# Later apps (benefits, events, analytics …) add what they know about a member to the member page through
# ``register_member_page_section``, ``register_member_profile_fact`` and ``register_member_page_action``, so that
# this app never imports them.
MEMBER_PAGE_SECTIONS: list[MemberPageSection] = []
MEMBER_PROFILE_FACTS: list[MemberProfileFact] = []
MEMBER_PAGE_ACTIONS: list[MemberPageAction] = []

# Each status action is offered only where it applies: Freeze or Unfreeze, never both; nothing after closing.
STATUS_ACTIONS = {
    "freeze": {MemberStatus.ACTIVE},
    "unfreeze": {MemberStatus.FROZEN},
    "close": {MemberStatus.ACTIVE, MemberStatus.FROZEN},
    "assign_tier": {MemberStatus.ACTIVE},
    "adjust_growth": {MemberStatus.ACTIVE, MemberStatus.FROZEN},
}

# The member page's actions, grouped, each with what it does: the profile header shows them instead of a bare row of
# buttons.
ACTION_GROUPS = {
    "points": _("Points"),
    "tiers": _("Tier and growth value"),
    "events": _("Events and points mall"),
    "status": _("Membership"),
    "journey": _("Customer journey"),
    "personal_data": _("Personal data (PIPL)"),
    "service": _("Customer service"),
}
OWN_ACTIONS: dict[str, tuple[str, Any]] = {
    "adjust_points": ("points", _("Add or deduct points with a reason; the ledger keeps who did it and why.")),
    "adjust_growth": (
        "tiers",
        _("Add or deduct growth value with a reason; reaching a higher tier's conditions promotes the member at once."),
    ),
    "assign_tier": (
        "tiers",
        _(
            "Put the member on a tier (an invitation-only one too) until an end date; "
            "the nightly evaluation does not demote them before it."
        ),
    ),
    "freeze": (
        "status",
        _("Pauses the membership: the member cannot earn or spend points or register for events until unfrozen."),
    ),
    "unfreeze": ("status", _("Makes the membership active again: earning, spending and registering work as before.")),
    "close": (
        "status",
        _(
            "Ends the membership for good: the member app is signed out and nothing can be earned, spent or registered "
            "any more. The points ledger and the history stay. It cannot be undone."
        ),
    ),
    "withdraw_consents": (
        "personal_data",
        _("Withdraws marketing consent on every channel: no campaign messages; service messages still go out."),
    ),
    "export_personal_data": (
        "personal_data",
        _("Downloads everything held about the member as a file, for an access request; the download is logged."),
    ),
    "anonymise": (
        "personal_data",
        _("Erases name, phone, email, birthday, city and external ID for good and closes the membership, for a deletion request."),
    ),
}


def can_see_pii(request: HttpRequest) -> bool:
    return request.user.has_perm(PII_PERMISSION)


class FullPersonalDataViewsLogged:
    """A list and change page that show personal data in full to staff with the right: each such view leaves a row
    in the access log (``access_log_object_type`` names what was seen); staff who see it masked leave none."""

    access_log_object_type: str

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if request.method == "GET" and response.status_code == 200 and changelist is not None and can_see_pii(request):
            shown = [row.pk for row in changelist.result_list]
            if shown:
                access_log_record(
                    action=AccessAction.VIEW_MEMBER_LIST,
                    request=request,
                    object_type=self.access_log_object_type,
                    row_count=len(shown),
                    object_ids=shown,
                )
        return response

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)
        if request.method == "GET" and response.status_code == 200 and can_see_pii(request):
            access_log_record(
                action=AccessAction.VIEW_MEMBER_DETAIL, request=request, object_type=self.access_log_object_type, object_id=object_id
            )
        return response


class ProfileLinkChangeList(DeclaredLookupsChangeList):
    """The member list opens a member's customer profile, the page staff read first; editing is one link further."""

    def url_for_result(self, result: Member) -> str:
        return reverse("admin:members_member_profile", args=[result.pk])


class MaskedHistoryHelper(HistoricalRecordContextHelper):
    """The member's history for staff without the right: phone, email and birthday changes shown masked."""

    def format_delta_change(self, change: ModelChange) -> ModelChange:
        mask = MASKERS.get(change.field)
        if mask is not None:
            change = ModelChange(field=change.field, old=mask(change.old or None), new=mask(change.new or None))
        return super().format_delta_change(change)


class CityPrefixFilter(FieldTextFilter):
    """The city by its beginning, any case: "上海" finds 上海 and 上海市. A "contains" search of a two-character city
    name can use no index (a trigram index needs three characters), so on a large programme it read the table."""

    def __init__(self, field: Any, request: HttpRequest, params: dict[str, Any], model: Any, model_admin: Any, field_path: str) -> None:
        self.lookup_kwarg = f"{field_path}__istartswith"
        self.lookup_val = params.get(self.lookup_kwarg)
        admin.FieldListFilter.__init__(self, field, request, params, model, model_admin, field_path)


class ExactTextFilter(FieldTextFilter):
    """The whole value, as typed, on the column's index: "contains" read every row when nothing matched."""

    def __init__(self, field: Any, request: HttpRequest, params: dict[str, Any], model: Any, model_admin: Any, field_path: str) -> None:
        self.lookup_kwarg = f"{field_path}__exact"
        self.lookup_val = params.get(self.lookup_kwarg)
        admin.FieldListFilter.__init__(self, field, request, params, model, model_admin, field_path)


class MemberAdminForm(forms.ModelForm):
    class Meta:
        model = Member
        fields = PROFILE_FIELDS

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        try:
            if cleaned.get("phone"):
                cleaned["phone"] = normalize_phone(cleaned["phone"])
            services.member_check_unique(
                phone=cleaned.get("phone") or None,
                external_id=(cleaned.get("external_id") or "").strip() or None,
                exclude_pk=self.instance.pk,
            )
        except ApplicationError as exc:
            add_service_error(self, exc)
        return cleaned


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=255, widget=forms.Textarea(attrs={"rows": 3}))


class AnonymiseForm(ReasonForm):
    confirm = forms.BooleanField(
        label=_("I understand: name, phone, email, birthday, city and external ID are erased for good, and the member is closed."),
        required=True,
    )


class AdjustPointsForm(ReasonForm):
    amount = forms.IntegerField(
        label=_("Points"), help_text=_("Positive to add, negative to deduct."), min_value=-100_000_000, max_value=100_000_000
    )
    # The amount the person saw the new balance for; a different amount asks again.
    confirmed_amount = forms.IntegerField(required=False, widget=forms.HiddenInput)
    field_order = ["amount", "reason"]

    def needs_confirmation(self) -> bool:
        amount = self.cleaned_data["amount"]
        return abs(amount) > settings.USEROPS["ADJUST_CONFIRM_ABOVE"] and self.cleaned_data.get("confirmed_amount") != amount


class AdjustGrowthForm(ReasonForm):
    amount = forms.IntegerField(
        label=_("Growth value"), help_text=_("Positive to add, negative to deduct."), min_value=-10_000_000, max_value=10_000_000
    )
    field_order = ["amount", "reason"]

    def clean_amount(self) -> int:
        amount = self.cleaned_data["amount"]
        if amount == 0:
            raise forms.ValidationError(_("The adjustment must be a non-zero whole number."))
        return amount


class AssignTierForm(ReasonForm):
    tier = forms.ModelChoiceField(label=_("Tier"), queryset=Tier.objects.order_by("rank"), empty_label=None)
    until = forms.DateField(
        label=_("Until"),
        help_text=_("The last day of the assignment; the nightly evaluation applies the normal rules from the day after."),
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    field_order = ["tier", "until", "reason"]

    def clean_until(self) -> Any:
        until = self.cleaned_data["until"]
        if until < timezone.localdate():
            raise forms.ValidationError(_("The end date must be in the future."))
        return until


def end_of_day(day: date) -> datetime:
    """The moment a day (the operator's calendar) ends: an assignment "until 31 Dec" holds through that day."""
    return timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min))


class DecisionForm(forms.Form):
    note = forms.CharField(label=_("Note"), max_length=255, required=False, widget=forms.Textarea(attrs={"rows": 2}))


class RejectionForm(forms.Form):
    note = forms.CharField(label=_("Why it is rejected"), max_length=255, widget=forms.Textarea(attrs={"rows": 2}))


def member_subject(member: Member) -> Subject:
    """A member as action pages show them: name (linking to their page), tier and points balance."""
    url = reverse("admin:members_member_change", args=[member.pk])
    return Subject(name=member.name, url=url, facts=[str(member.tier), f"{_('Points')}: {member.points_account.balance}"])


# What every action page of the member page shares: the member with tier and account, shown above the form.
MEMBER_PAGE: dict[str, Any] = {"select_related": ["tier", "points_account", "growth"], "subject": member_subject}


def _adjust_points_confirmation(request: HttpRequest, member: Member, form: AdjustPointsForm) -> tuple[str, forms.Form] | None:
    """A large amount asks again with the new balance; the form that confirms carries the amount that was seen."""
    if not form.needs_confirmation():
        return None
    amount, balance = form.cleaned_data["amount"], member.points_account.balance
    question = _("Adjust by %(amount)+d points? The balance goes from %(balance)d to %(new_balance)d.") % {
        "amount": amount,
        "balance": balance,
        "new_balance": balance + amount,
    }
    allowance = selectors.adjust_allowance_left(actor=request.user)
    if allowance is not None and abs(amount) > allowance:
        question += " " + _(
            "This is above what you may still adjust today (%(allowance)d points): it will wait for another person's approval."
        ) % {"allowance": allowance}
    confirming = AdjustPointsForm({**request.POST.dict(), "confirmed_amount": amount})
    confirming.is_valid()
    return question, confirming


def _adjust_points(request: HttpRequest, member: Member, data: dict[str, Any]) -> str:
    adjustment = services.points_adjust(member=member, amount=data["amount"], reason=data["reason"], actor=request.user)
    if adjustment.entry is None:
        return _("The adjustment of %(amount)+d points is above your daily limit and waits for another person's approval.") % {
            "amount": adjustment.amount
        }
    return _("Points adjusted by %(amount)+d; the balance is now %(balance)d.") % {
        "amount": adjustment.amount,
        "balance": adjustment.entry.balance_after,
    }


def _adjust_growth(request: HttpRequest, member: Member, data: dict[str, Any]) -> str:
    adjustment = services.growth_adjust(member=member, amount=data["amount"], reason=data["reason"], actor=request.user)
    if adjustment.entry is None:
        return _("The adjustment of %(amount)+d growth value is above your daily limit and waits for another person's approval.") % {
            "amount": adjustment.amount
        }
    member = selectors.member_get(pk=member.pk)
    return _("Growth value adjusted by %(amount)+d; it is now %(value)d and the member's tier is %(tier)s.") % {
        "amount": adjustment.amount,
        "value": member.growth_value,
        "tier": member.tier,
    }


def _assign_tier(request: HttpRequest, member: Member, data: dict[str, Any]) -> str:
    assignment = services.tier_assign(
        member=member, tier=data["tier"], reason=data["reason"], ends_at=end_of_day(data["until"]), actor=request.user
    )
    return _("%(member)s is on %(tier)s until %(until)s.") % {
        "member": member.name,
        "tier": assignment.tier,
        "until": date_format(data["until"], "SHORT_DATE_FORMAT"),
    }


def _with_reason(service: Callable[..., Any], done: Any) -> Callable[[HttpRequest, Member, dict[str, Any]], Any]:
    """A status change: the service with the typed reason and the staff user, then ``done``."""

    def perform(request: HttpRequest, member: Member, data: dict[str, Any]) -> Any:
        service(member=member, reason=data["reason"], actor=request.user)
        return done

    return perform


def _withdraw_consents(request: HttpRequest, member: Member, data: dict[str, Any]) -> Any:
    services.member_withdraw_all_consents(member=member, source="back_office", actor=request.user, reason=data["reason"])
    return _("Marketing consent withdrawn on every channel; no campaign will message this member.")


def _anonymise(request: HttpRequest, member: Member, data: dict[str, Any]) -> Any:
    services.member_anonymise(member=member, reason=data["reason"], actor=request.user)
    access_log_record(action=AccessAction.ANONYMISE, request=request, object_type=MEMBER_TYPE, object_id=member.pk, detail=data["reason"])
    return _("The member was anonymised. The points ledger and the figures stay, attached to no one.")


@admin.register(Member)
class MemberAdmin(FullPersonalDataViewsLogged, AdminActionsMixin, ServiceFormAdmin, HistoryAdmin, ModelAdmin):
    access_log_object_type = MEMBER_TYPE
    form = MemberAdminForm
    list_per_page = 50
    list_display = ["name", "phone_display", "tier", "city", "status_display", "points_balance", "joined_at"]
    list_select_related = ["tier", "points_account"]
    list_filter = [
        ("tier", RelatedDropdownFilter),
        filterset_list_filter(MemberFilter, "status", parameter="status__exact"),
        filterset_list_filter(MemberFilter, "source_channel", parameter="source_channel__exact"),
        ("city", CityPrefixFilter),
        filterset_list_filter(MemberFilter, "consent"),
    ]
    list_filter_submit = True
    search_fields = ["name"]
    search_help_text = _("Phone (any format), name (beginning), external ID or email")
    # The analytics dashboard drills down to the members who joined in a month.
    extra_lookups = ["joined_at__gte", "joined_at__lt"]
    date_hierarchy = None
    ordering = ["-id"]
    actions = ["freeze_selected", "export_csv", "export_xlsx"]
    actions_detail = list(OWN_ACTIONS)
    readonly_fields = ["tier_history", "recent_ledger"]
    change_form_outer_before_template = "admin/members/member/profile.html"
    autocomplete_fields = ["tags"]

    def get_fieldsets(self, request: HttpRequest, obj: Member | None = None) -> list[tuple[Any, dict[str, Any]]]:
        if obj is None:
            return [(_("Profile"), {"fields": PROFILE_FIELDS})]
        # The header above the form shows the profile; the form is an edit section, folded, for staff who may edit.
        fieldsets: list[tuple[Any, dict[str, Any]]] = []
        if self.has_change_permission(request, obj):
            profile = PROFILE_FIELDS if can_see_pii(request) else [MASKED_FIELDS.get(field, field) for field in PROFILE_FIELDS]
            fieldsets.append(
                (
                    _("Edit profile"),
                    {
                        "fields": profile,
                        "classes": ["collapse"],
                        "description": _("Changes are kept with who made them; see History."),
                    },
                )
            )
        fieldsets += [
            (_("Tier history"), {"fields": ["tier_history"]}),
            (_("Points ledger"), {"fields": ["recent_ledger"]}),
        ]
        fieldsets += [
            (section.title, {"fields": [section.name]}) for section in MEMBER_PAGE_SECTIONS if request.user.has_perm(section.permission)
        ]
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Member | None = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj)) + [section.name for section in MEMBER_PAGE_SECTIONS]
        if obj is not None and not can_see_pii(request):
            fields += ["phone_display", "email_display", "birthday_display"]
        return fields

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Member], search_term: str) -> tuple[QuerySet[Member], bool]:
        return search_members(queryset, search_term, by_personal_data=can_see_pii(request)), False

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        changelist = super().get_changelist_instance(request)
        if not can_see_pii(request):
            changelist.search_help_text = _("Name (beginning) or external ID")
        return changelist

    def save_model(self, request: HttpRequest, obj: Member, form: forms.ModelForm, change: bool) -> None:
        data = {field: form.cleaned_data.get(field) for field in ("name", "phone", "external_id", "email", "gender", "birthday", "city")}
        tags = [tag.name for tag in form.cleaned_data.get("tags", [])]
        if change:
            editable = {field: value for field, value in data.items() if field in form.changed_data}
            saved = services.member_update_profile(member=obj, actor=request.user, tags=tags, **editable)
        else:
            saved = services.member_enrol(**data, source_channel=form.cleaned_data["source_channel"], tags=tags, actor=request.user)
        obj.pk = saved.pk

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool) -> None:
        """Tags were saved by the service."""

    def has_delete_permission(self, request: HttpRequest, obj: Member | None = None) -> bool:
        return False

    def get_list_display(self, request: HttpRequest) -> list[str]:
        columns = list(super().get_list_display(request))
        if can_see_pii(request):
            columns[columns.index("phone_display")] = "phone"
        return columns

    @display(description=_("mobile phone"))
    def phone_display(self, obj: Member) -> str:
        return mask_phone(obj.phone)

    @display(description=_("email"))
    def email_display(self, obj: Member) -> str:
        return mask_email(obj.email)

    @display(description=_("birthday"))
    def birthday_display(self, obj: Member) -> str:
        return mask_birthday(obj.birthday)

    @display(
        description=_("status"),
        label={MemberStatus.ACTIVE: "success", MemberStatus.FROZEN: "warning", MemberStatus.CLOSED: "danger"},
    )
    def status_display(self, obj: Member) -> tuple[str, str]:
        return obj.status, obj.get_status_display()

    @display(description=_("points"), ordering="points_account__balance")
    def points_balance(self, obj: Member) -> int:
        return obj.points_account.balance

    @display(description=_("tier history"))
    def tier_history(self, obj: Member) -> SafeString:
        rows = selectors.member_tier_history(member=obj)[:RECENT_ROWS]
        return render_to_string("admin/members/member/tier_history.html", {"rows": rows})

    @display(description=_("latest entries"))
    def recent_ledger(self, obj: Member) -> SafeString:
        rows = selectors.member_ledger(member=obj)[:RECENT_ROWS]
        full = reverse("admin:members_pointsentry_changelist") + f"?account__member__id__exact={obj.pk}"
        return render_to_string("admin/members/member/ledger.html", {"rows": rows, "full_ledger_url": full})

    # Actions: each one a form page that calls one service.

    def has_adjust_points_permission(self, request: HttpRequest, object_id: str | None = None) -> bool:
        return request.user.has_perm("members.adjust_points") or request.user.has_perm("members.adjust_points_unlimited")

    def has_adjust_growth_permission(self, request: HttpRequest, object_id: str | None = None) -> bool:
        return request.user.has_perm("members.adjust_growth") or request.user.has_perm("members.adjust_growth_unlimited")

    def has_assign_tier_permission(self, request: HttpRequest, object_id: str | None = None) -> bool:
        return request.user.has_perm("members.assign_tier")

    def has_change_status_permission(self, request: HttpRequest, object_id: str | None = None) -> bool:
        return request.user.has_perm("members.change_member")

    adjust_points = AdminAction(
        description=_("Adjust points"),
        url_path="adjust-points",
        permissions=["adjust_points"],
        icon="add_card",
        title=_("Adjust points"),
        explanation=OWN_ACTIONS["adjust_points"][1],
        form_class=AdjustPointsForm,
        confirmation=_adjust_points_confirmation,
        perform=_adjust_points,
        **MEMBER_PAGE,
    )
    adjust_growth = AdminAction(
        description=_("Adjust growth value"),
        url_path="adjust-growth",
        permissions=["adjust_growth"],
        icon="trending_up",
        title=_("Adjust growth value"),
        explanation=OWN_ACTIONS["adjust_growth"][1],
        form_class=AdjustGrowthForm,
        perform=_adjust_growth,
        **MEMBER_PAGE,
    )
    assign_tier = AdminAction(
        description=_("Assign tier"),
        url_path="assign-tier",
        permissions=["assign_tier"],
        icon="workspace_premium",
        title=_("Assign a tier"),
        explanation=OWN_ACTIONS["assign_tier"][1],
        form_class=AssignTierForm,
        perform=_assign_tier,
        **MEMBER_PAGE,
    )
    freeze = AdminAction(
        description=_("Freeze"),
        url_path="freeze",
        permissions=["change_status"],
        icon="ac_unit",
        title=_("Freeze member"),
        explanation=OWN_ACTIONS["freeze"][1],
        form_class=ReasonForm,
        perform=_with_reason(services.member_freeze, _("The member is frozen.")),
        **MEMBER_PAGE,
    )
    unfreeze = AdminAction(
        description=_("Unfreeze"),
        url_path="unfreeze",
        permissions=["change_status"],
        icon="sunny",
        title=_("Unfreeze member"),
        explanation=OWN_ACTIONS["unfreeze"][1],
        form_class=ReasonForm,
        perform=_with_reason(services.member_unfreeze, _("The member is active again.")),
        **MEMBER_PAGE,
    )
    close = AdminAction(
        description=_("Close membership"),
        url_path="close",
        permissions=["change_status"],
        icon="block",
        title=_("Close membership"),
        explanation=OWN_ACTIONS["close"][1],
        form_class=ReasonForm,
        perform=_with_reason(services.member_close, _("The membership is closed.")),
        **MEMBER_PAGE,
    )

    # PIPL requests: the member's data as a file, withdrawal of every consent, anonymisation.

    def has_export_personal_data_permission(self, request: HttpRequest, object_id: str | None = None) -> bool:
        return request.user.has_perm("members.export_member_data")

    def has_anonymise_permission(self, request: HttpRequest, object_id: str | None = None) -> bool:
        return request.user.has_perm("members.anonymise_member")

    withdraw_consents = AdminAction(
        description=_("Withdraw all consent"),
        url_path="withdraw-consents",
        permissions=["change_status"],
        icon="unsubscribe",
        title=_("Withdraw all marketing consent"),
        explanation=OWN_ACTIONS["withdraw_consents"][1],
        form_class=ReasonForm,
        perform=_withdraw_consents,
        **MEMBER_PAGE,
    )

    @action(description=_("Export personal data"), url_path="export-personal-data", permissions=["export_personal_data"], icon="download")
    def export_personal_data(self, request: HttpRequest, object_id: str) -> HttpResponse:
        member = object_or_404(Member, object_id)
        data = services.member_data_export(member=member)
        response = HttpResponse(json.dumps(data, ensure_ascii=False, indent=2), content_type="application/json; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="member-{member.pk}-data.json"'
        access_log_record(action=AccessAction.DATA_EXPORT, request=request, object_type=MEMBER_TYPE, object_id=member.pk)
        return response

    anonymise = AdminAction(
        description=_("Anonymise"),
        url_path="anonymise",
        permissions=["anonymise"],
        icon="person_off",
        title=_("Anonymise member (deletion request)"),
        explanation=OWN_ACTIONS["anonymise"][1],
        form_class=AnonymiseForm,
        perform=_anonymise,
        **MEMBER_PAGE,
    )

    @admin.action(description=_("Freeze selected members"), permissions=["change"])
    def freeze_selected(self, request: HttpRequest, queryset: QuerySet[Member]) -> None:
        frozen = 0
        for member in queryset.filter(status=MemberStatus.ACTIVE).order_by("pk"):
            services.member_freeze(member=member, reason=str(_("Frozen in bulk from the member list")), actor=request.user)
            frozen += 1
        messages.success(request, _("%(count)d members frozen.") % {"count": frozen})

    def has_export_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("members.export_member")

    @admin.action(description=_("Export selected members (CSV)"), permissions=["export"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet[Member]) -> HttpResponse:
        return self._export(request, queryset, "csv")

    @admin.action(description=_("Export selected members (Excel)"), permissions=["export"])
    def export_xlsx(self, request: HttpRequest, queryset: QuerySet[Member]) -> HttpResponse:
        return self._export(request, queryset, "xlsx")

    @replica_reads()
    def _export(self, request: HttpRequest, queryset: QuerySet[Member], file_format: str) -> HttpResponse:
        rows = export_rows(queryset, full_pii=can_see_pii(request))
        return export_response(
            request, filename=f"members.{file_format}", header=export_header(), rows=rows, object_type=MEMBER_TYPE, file_format=file_format
        )

    # Personal data: staff who see it in full leave a trace in the access log (``FullPersonalDataViewsLogged``); the
    # history never shows it to others.

    def get_urls(self) -> list[Any]:
        profile = path(
            "<path:object_id>/profile/",
            self.admin_site.admin_view(self.customer_profile_view),
            name="members_member_profile",
        )
        return [profile, *super().get_urls()]

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[Any]:
        return ProfileLinkChangeList

    def customer_profile_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The customer profile (用户画像): identity, tier, points, every section the user may read, then the timeline."""
        member = object_or_404(Member.objects.select_related("tier", "points_account", "growth"), object_id)
        if not self.has_view_or_change_permission(request, member):
            raise PermissionDenied
        sources = selectors.timeline_sources_for(user=request.user)
        panels = selectors.member_profile_panels(member=member, user=request.user)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Customer profile: %(name)s") % {"name": member.name},
            "opts": self.model._meta,
            "original": member,
            "profile": {**self._profile_context(request, member), "on_profile_page": True},
            "panels": [
                {
                    "name": panel.name,
                    "label": panel.label,
                    "value": panel.value,
                    "template": panel.template or GENERIC_SECTION_TEMPLATE,
                    "shape": "mapping" if isinstance(panel.value, dict) else "rows" if isinstance(panel.value, list | tuple) else "text",
                }
                for panel in panels
            ],
            "timeline": timeline_view(request, member, sources=sources),
            "change_url": reverse("admin:members_member_change", args=[member.pk]),
        }
        response = TemplateResponse(request, "admin/members/member/customer_profile.html", context)
        if can_see_pii(request):
            access_log_record(action=AccessAction.VIEW_MEMBER_DETAIL, request=request, object_type=MEMBER_TYPE, object_id=member.pk)
        return response

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # An id that is not one (a mistyped link) finds no member here, and Django's own view then says so.
        member = self.get_object(request, unquote(object_id))
        if member is not None and member.merged_into_id is not None:
            # A merged duplicate lives on in its survivor: its page leads there.
            messages.info(request, _("Member #%(merged)s was merged into this member.") % {"merged": member.pk})
            return HttpResponseRedirect(reverse("admin:members_member_change", args=[member.merged_into_id]))
        if member is not None and self.has_view_or_change_permission(request, member):
            extra_context = {**(extra_context or {}), "profile": self._profile_context(request, member)}
        response = super().change_view(request, object_id, form_url, extra_context)
        if member is not None and hasattr(response, "context_data"):
            # The header lists the actions, grouped and explained; the bare row of buttons would repeat them.
            response.context_data["actions_detail"] = []
        return response

    def _profile_context(self, request: HttpRequest, member: Member) -> dict[str, Any]:
        """Plain values for the profile header: personal data masked for staff without the right."""
        profile = selectors.member_profile(member=member, guarantee_days=settings.USEROPS["TIER_GUARANTEE_DAYS"])
        full = can_see_pii(request)
        contact = [
            (_("Mobile phone"), (member.phone if full else mask_phone(member.phone)) or "—"),
            (_("Email"), (member.email if full else mask_email(member.email)) or "—"),
            (_("Birthday"), (date_format(member.birthday) if full and member.birthday else mask_birthday(member.birthday)) or "—"),
            (_("External ID"), member.external_id or "—"),
            (_("City"), member.city or "—"),
            (_("Source channel"), member.get_source_channel_display()),
            (_("Joined"), date_format(timezone.localtime(member.joined_at), "SHORT_DATE_FORMAT")),
        ]
        groups: dict[str, list[dict[str, Any]]] = {key: [] for key in ACTION_GROUPS}
        for unfold_action in self.get_actions_detail(request, member.pk):
            name = unfold_action.action_name.removeprefix("members_member_")
            if member.status not in STATUS_ACTIONS.get(name, {member.status}):
                continue
            group, explanation = OWN_ACTIONS[name]
            groups[group].append(
                {
                    "title": unfold_action.description,
                    "explanation": explanation,
                    "url": reverse(f"admin:{unfold_action.action_name}", args=[member.pk]),
                }
            )
        for page_action in MEMBER_PAGE_ACTIONS:
            if request.user.has_perm(page_action.permission) and member.status in page_action.statuses:
                groups[page_action.group].append(
                    {"title": page_action.title, "explanation": page_action.explanation, "url": page_action.url(member)}
                )
        return {
            "profile_url": reverse("admin:members_member_profile", args=[member.pk]),
            "name": member.name,
            "status": member.status,
            "status_label": member.get_status_display(),
            "status_reason": member.status_reason,
            "tier": str(profile.tier.tier),
            "growth_value": profile.tier.growth_value,
            "next_tier": str(profile.tier.next_tier) if profile.tier.next_tier else "",
            "next_threshold": profile.tier.next_tier.threshold if profile.tier.next_tier else None,
            "needed_for_next": profile.tier.needed_for_next,
            "progress_percent": profile.progress_percent,
            "points": profile.points,
            "consents": profile.consents,
            "tags": profile.tags,
            "facts": [(fact.label, fact.value(member)) for fact in MEMBER_PROFILE_FACTS],
            "contact": contact,
            "action_groups": [(ACTION_GROUPS[key], items) for key, items in groups.items() if items],
        }

    def history_view(self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        response = super().history_view(request, object_id, extra_context)
        if response.status_code == 200 and can_see_pii(request):
            access_log_record(action=AccessAction.REVEAL, request=request, object_type=MEMBER_TYPE, object_id=object_id, detail="history")
        return response

    def history_form_view(self, request: HttpRequest, object_id: str, version_id: str, extra_context: dict[str, Any] | None = None) -> Any:
        # A past version is shown as the full form: only for staff who may see personal data, and logged.
        if not can_see_pii(request):
            raise PermissionDenied
        response = super().history_form_view(request, object_id, version_id, extra_context)
        access_log_record(
            action=AccessAction.REVEAL, request=request, object_type=MEMBER_TYPE, object_id=object_id, detail=f"version {version_id}"
        )
        return response

    def get_historical_record_context_helper(self, request: HttpRequest, historical_record: Any) -> HistoricalRecordContextHelper:
        if can_see_pii(request):
            return super().get_historical_record_context_helper(request, historical_record)
        return MaskedHistoryHelper(self.model, historical_record)


def member_picker_rows(request: HttpRequest, text: str, limit: int = 20) -> list[dict[str, Any]]:
    """Members matching a phone (any format), name (beginning) or external ID, as plain values for a picker on another
    app's page: phone masked for staff without the personal-data right."""
    if not (text or "").strip():
        return []
    full = can_see_pii(request)
    # Staff who see phones masked search by name and external ID only: a phone search would confirm a guessed number.
    members = search_members(Member.objects.select_related("tier", "points_account"), text, by_personal_data=full)
    members = members.order_by("name", "pk")[:limit]
    return [
        {
            "id": member.pk,
            "name": member.name,
            "phone": (member.phone if full else mask_phone(member.phone)) or "—",
            "external_id": member.external_id or "—",
            "tier": str(member.tier),
            "points": member.points_account.balance,
            "status": member.get_status_display(),
            "url": reverse("admin:members_member_change", args=[member.pk]),
        }
        for member in members
    ]


def register_member_profile_fact(*, label: Any, value: Callable[[Member], str]) -> None:
    """Show ``value(member)`` in the member page's header under ``label`` (analytics' RFM segment, last activity)."""
    MEMBER_PROFILE_FACTS.append(MemberProfileFact(label=label, value=value))


def register_member_page_action(
    *,
    group: str,
    title: Any,
    explanation: Any,
    permission: str,
    url: Callable[[Member], str],
    statuses: Iterable[str] = (MemberStatus.ACTIVE,),
) -> None:
    """Offer a page of another app among the member page's actions (in ``group``, to staff holding ``permission``, on the
    pages of members in one of ``statuses``)."""
    MEMBER_PAGE_ACTIONS.append(
        MemberPageAction(group=group, title=title, explanation=explanation, permission=permission, url=url, statuses=frozenset(statuses))
    )


def register_member_page_section(*, name: str, title: Any, permission: str, render: Callable[[Member], SafeString]) -> None:
    """Show ``render(member)`` as its own section of the member page to staff holding ``permission``."""
    MEMBER_PAGE_SECTIONS.append(MemberPageSection(name=name, title=title, permission=permission))
    setattr(MemberAdmin, name, display(description=title)(lambda model_admin, member: render(member)))


def register_member_list_filter(list_filter: Any) -> None:
    """Add a filter to the member list (analytics' RFM segment, for drill-down) without this app importing its owner."""
    if list_filter not in MemberAdmin.list_filter:
        MemberAdmin.list_filter = [*MemberAdmin.list_filter, list_filter]


class TierAdminForm(forms.ModelForm):
    """The RFM-segment condition is picked from the segments analytics knows, not typed as JSON."""

    rfm_segments = forms.MultipleChoiceField(
        label=_("RFM segments"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("The member's RFM segment must be one of these (none ticked: no condition)."),
    )

    class Meta:
        model = Tier
        # The admin's fieldsets choose the fields. Naming them here as well would make the translation admin copy them
        # onto the admin as ``fields`` at its first page, and Django's checks refuse ``fields`` beside ``fieldsets``.
        exclude: list[str] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["rfm_segments"].choices = metric_choices(RFM_SEGMENT)


def _conditions_summary(tier: Tier | TierRule) -> str:
    """A tier's qualification in words: "growth ≥ 3000 and spend ≥ ¥20000 and …"."""
    parts = [_("growth value ≥ %(value)d") % {"value": tier.threshold}]
    if tier.min_purchases is not None:
        parts.append(_("purchases ≥ %(value)d") % {"value": tier.min_purchases})
    if tier.min_spend is not None:
        parts.append(_("spend ≥ ¥%(value)s") % {"value": tier.min_spend})
    if tier.rfm_segments:
        labels = dict(metric_choices(RFM_SEGMENT))
        parts.append(_("RFM segment: %(value)s") % {"value": " / ".join(str(labels.get(code, code)) for code in tier.rfm_segments)})
    return str(_(" and ")).join(str(part) for part in parts)


class WhatIfForm(forms.Form):
    """One row of fields per tier: the thresholds and conditions to try, prefilled with the current ones."""

    def __init__(self, *args: Any, tiers: list[Tier], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tiers = tiers
        segments = metric_choices(RFM_SEGMENT)
        for tier in tiers:
            self.fields[f"threshold_{tier.pk}"] = forms.IntegerField(
                label=_("growth value threshold"), min_value=0, max_value=2_000_000_000, initial=tier.threshold
            )
            self.fields[f"min_purchases_{tier.pk}"] = forms.IntegerField(
                label=_("purchases in the window"), min_value=0, max_value=1_000_000, required=False, initial=tier.min_purchases
            )
            self.fields[f"min_spend_{tier.pk}"] = forms.DecimalField(
                label=_("spend in the window (CNY)"), min_value=0, max_digits=12, decimal_places=2, required=False, initial=tier.min_spend
            )
            self.fields[f"rfm_segments_{tier.pk}"] = forms.MultipleChoiceField(
                label=_("RFM segments"), choices=segments, required=False, initial=list(tier.rfm_segments or [])
            )

    def rows(self) -> list[dict[str, Any]]:
        """The fields of each tier, for the template (bound fields are primitives' holders, never model instances)."""
        return [
            {
                "name": str(tier),
                "invitation_only": tier.invitation_only,
                "fields": [self[f"{name}_{tier.pk}"] for name in ("threshold", "min_purchases", "min_spend", "rfm_segments")],
            }
            for tier in self.tiers
        ]

    def proposed(self) -> list[services.TierThresholds]:
        data = self.cleaned_data
        return [
            services.TierThresholds(
                tier_id=tier.pk,
                threshold=data[f"threshold_{tier.pk}"],
                min_purchases=data[f"min_purchases_{tier.pk}"],
                min_spend=data[f"min_spend_{tier.pk}"],
                rfm_segments=tuple(data[f"rfm_segments_{tier.pk}"]),
            )
            for tier in self.tiers
        ]

    def rules(self) -> list[TierRule]:
        by_pk = {proposal.tier_id: proposal for proposal in self.proposed()}
        return [
            TierRule(
                tier_id=tier.pk,
                rank=tier.rank,
                name=str(tier),
                threshold=by_pk[tier.pk].threshold,
                min_purchases=by_pk[tier.pk].min_purchases,
                min_spend=by_pk[tier.pk].min_spend,
                rfm_segments=by_pk[tier.pk].rfm_segments,
                invitation_only=tier.invitation_only,
            )
            for tier in self.tiers
        ]

    def add_refusal(self, error: ApplicationError) -> None:
        """A service's refusal on the field of the tier it names (by code), else on the form."""
        tier = next((tier for tier in self.tiers if tier.code in {str(value) for value in error.fields.values()}), None)
        names = [name for name in error.fields if tier is not None and f"{name}_{tier.pk}" in self.fields]
        self.add_error(f"{names[0]}_{tier.pk}" if names else None, error.message)


@admin.register(Tier)
class TierAdmin(ServiceFormAdmin, HistoryAdmin, TranslationAdmin, ModelAdmin):
    form = TierAdminForm
    list_display = ["name", "code", "rank", "conditions", "invitation_only", "points_multiplier", "member_count"]
    ordering = ["rank"]
    fieldsets = [
        (None, {"fields": ["code", "name", "description", "rank", "points_multiplier"]}),
        (
            _("Qualification"),
            {
                "fields": ["threshold", "min_purchases", "min_spend", "rfm_segments", "invitation_only"],
                "description": _(
                    "A member qualifies when the rolling growth value reaches the threshold and every further condition set "
                    "here holds; conditions left empty are not checked. An invitation-only tier is reached only by staff "
                    "assignment."
                ),
            },
        ),
    ]

    @display(description=_("members"))
    def member_count(self, obj: Tier) -> int:
        return obj.members.count()

    @display(description=_("qualification"))
    def conditions(self, obj: Tier) -> str:
        return str(_("assigned by staff")) if obj.invitation_only else _conditions_summary(obj)

    def save_model(self, request: HttpRequest, obj: Tier, form: forms.ModelForm, change: bool) -> None:
        services.tier_save(tier=obj, actor=request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Tier | None = None) -> bool:
        return False

    actions_list = ["what_if"]

    @action(description=_("What if: try thresholds"), url_path="what-if", permissions=["view"], icon="query_stats")
    def what_if(self, request: HttpRequest) -> HttpResponse:
        """Try thresholds and conditions before saving them: how many members would sit in each tier today.

        A GET shows the form prefilled with the current values and today's counts; "Show the effect" (a POST) counts
        with the values typed and changes nothing; "Save these thresholds" saves them through ``tier_save``.
        """
        if not self.has_view_permission(request):
            raise PermissionDenied
        tiers = list(Tier.objects.order_by("rank"))
        saving = request.method == "POST" and "save" in request.POST
        if saving and not self.has_change_permission(request):
            raise PermissionDenied
        form = WhatIfForm(request.POST if request.method == "POST" else None, tiers=tiers)
        counts, tried = None, False
        if request.method == "POST" and form.is_valid():
            if saving:
                try:
                    changed = services.tiers_save_thresholds(thresholds=form.proposed(), actor=request.user)
                except ApplicationError as exc:
                    form.add_refusal(exc)
                else:
                    messages.success(
                        request,
                        _("Thresholds saved for %(count)d tier(s); the nightly evaluation applies them.") % {"count": len(changed)},
                    )
                    return HttpResponseRedirect(reverse("admin:members_tier_what_if"))
            else:
                counts, tried = selectors.tiers_what_if(rules=form.rules()), True
        if counts is None:
            counts = selectors.tiers_what_if(rules=[TierRule.of(tier) for tier in tiers])
        context = {
            **self.admin_site.each_context(request),
            "title": _("Tier thresholds: what if"),
            "opts": self.model._meta,
            "form": form,
            "rows": [
                {**row, "count": {"now": count.now, "after": count.after_evaluation, "qualified": count.qualified}}
                for row, count in zip(form.rows(), counts, strict=True)
            ],
            "tried": tried,
            "can_save": self.has_change_permission(request),
            "total": sum(count.now for count in counts),
        }
        return TemplateResponse(request, "admin/members/tier/what_if.html", context)


@admin.register(Tag)
class TagAdmin(ModelAdmin):
    search_fields = ["name"]
    list_display = ["name"]


class ReadOnlyAdmin(ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _reverse_entry(request: HttpRequest, entry: PointsEntry, data: dict[str, Any]) -> Any:
    services.points_reverse(entry=entry, reason=data["reason"], actor=request.user)
    return _("The entry was reversed.")


@admin.register(PointsEntry)
class PointsEntryAdmin(AdminActionsMixin, CodedReasonAdminMixin, ReadOnlyAdmin):
    list_display = [
        "created_at",
        "member_link",
        "kind",
        "amount",
        "balance_after",
        "reason_text",
        "source_ref",
        "actor",
        "client",
        "expires_at",
    ]
    list_filter = [("kind", ChoicesDropdownFilter), ("source_ref", ExactTextFilter)]
    list_select_related = ["account__member", "actor", "client"]
    search_fields = ["source_ref"]
    search_help_text = _("Source reference (exact)")
    # The member page links here for one member's ledger; a dropdown of every member would not scale.
    extra_lookups = ["account__member__id__exact"]
    # Rows are appended as they happen: the key orders them by time and its index serves a page without a sort.
    ordering = ["-id"]
    actions_detail = ["reverse_entry"]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[PointsEntry], search_term: str
    ) -> tuple[QuerySet[PointsEntry], bool]:
        term = search_term.strip()
        return (queryset.filter(source_ref=term) if term else queryset), False

    @display(description=_("member"))
    def member_link(self, obj: PointsEntry) -> SafeString:
        member = obj.account.member
        return format_html('<a href="{}">{}</a>', reverse("admin:members_member_change", args=[member.pk]), member.name)

    def has_reverse_permission(self, request: HttpRequest, object_id: str | None = None) -> bool:
        return request.user.has_perm("members.adjust_points_unlimited")

    reverse_entry = AdminAction(
        description=_("Reverse"),
        url_path="reverse",
        permissions=["reverse"],
        icon="undo",
        title=_("Reverse ledger entry"),
        form_class=ReasonForm,
        perform=_reverse_entry,
        select_related=["account__member__tier", "account__member__points_account"],
        back_url=lambda entry: reverse("admin:members_member_change", args=[entry.account.member_id]),
        subject=lambda entry: member_subject(entry.account.member),
    )


ADJUSTMENT_COLOURS = {
    AdjustmentState.APPLIED: "success",
    AdjustmentState.PENDING: "warning",
    AdjustmentState.APPROVED: "success",
    AdjustmentState.REJECTED: "danger",
}


def _decision_summary(adjustment: PointsAdjustment) -> str:
    balance = adjustment.member.points_account.balance
    return _(
        "%(requested_by)s asks to adjust %(member)s by %(amount)+d points: %(reason)s. "
        "The balance would go from %(balance)d to %(new_balance)d."
    ) % {
        "requested_by": adjustment.requested_by,
        "member": adjustment.member.name,
        "amount": adjustment.amount,
        "reason": adjustment.reason,
        "balance": balance,
        "new_balance": balance + adjustment.amount,
    }


def _approve_adjustment(request: HttpRequest, adjustment: PointsAdjustment, data: dict[str, Any]) -> Any:
    adjustment = services.points_adjustment_approve(adjustment=adjustment, actor=request.user, note=data["note"])
    return _("Approved: %(amount)+d points; the balance is now %(balance)d.") % {
        "amount": adjustment.amount,
        "balance": adjustment.entry.balance_after,
    }


def _reject_adjustment(request: HttpRequest, adjustment: PointsAdjustment, data: dict[str, Any]) -> Any:
    services.points_adjustment_reject(adjustment=adjustment, actor=request.user, note=data["note"])
    return _("Rejected; no points moved.")


# A decision shows what was asked and, once taken, goes back to the adjustments still waiting.
DECISION_PAGE: dict[str, Any] = {
    "select_related": ["member__points_account", "requested_by"],
    "summary": _decision_summary,
    "done_url": lambda adjustment: reverse("admin:members_pointsadjustment_changelist") + "?state__exact=pending",
}


class AdjustmentAdmin(AdminActionsMixin, ReadOnlyAdmin):
    """A staff adjustment list (points or growth value): those above a staff member's daily limit wait here for another
    person's decision. A subclass names its ``approve_permission`` and declares its approve and reject actions."""

    list_display = ["requested_at", "member_link", "amount", "state_badge", "reason", "requested_by", "decided_by", "decided_at"]
    list_filter = [("state", ChoicesDropdownFilter)]
    list_select_related = ["member", "requested_by", "decided_by"]
    ordering = ["-requested_at", "-id"]
    actions_detail = ["approve", "reject"]
    approve_permission = ""

    @display(description=_("member"))
    def member_link(self, obj: PointsAdjustment | GrowthAdjustment) -> SafeString:
        return format_html('<a href="{}">{}</a>', reverse("admin:members_member_change", args=[obj.member_id]), obj.member.name)

    @display(description=_("state"), label=ADJUSTMENT_COLOURS)
    def state_badge(self, obj: PointsAdjustment | GrowthAdjustment) -> tuple[str, str]:
        return obj.state, obj.get_state_display()

    def has_approve_permission(self, request: HttpRequest, object_id: str | None = None) -> bool:
        return request.user.has_perm(self.approve_permission)

    # Only a pending adjustment asked for by someone else offers the decision buttons.
    def get_actions_detail(self, request: HttpRequest, object_id: str) -> list[Any]:
        actions = super().get_actions_detail(request, object_id)
        open_to_user = self.model.objects.filter(pk=object_id, state=AdjustmentState.PENDING).exclude(requested_by=request.user)
        return actions if open_to_user.exists() else []


@admin.register(PointsAdjustment)
class PointsAdjustmentAdmin(AdjustmentAdmin):
    """Every staff points adjustment."""

    approve_permission = "members.approve_pointsadjustment"

    approve = AdminAction(
        description=_("Approve"),
        url_path="approve",
        permissions=["approve"],
        icon="check_circle",
        title=_("Approve points adjustment"),
        form_class=DecisionForm,
        perform=_approve_adjustment,
        **DECISION_PAGE,
    )
    reject = AdminAction(
        description=_("Reject"),
        url_path="reject",
        permissions=["approve"],
        icon="cancel",
        title=_("Reject points adjustment"),
        form_class=RejectionForm,
        perform=_reject_adjustment,
        **DECISION_PAGE,
    )


def _growth_decision_summary(adjustment: GrowthAdjustment) -> str:
    return _(
        "%(requested_by)s asks to adjust %(member)s's growth value by %(amount)+d: %(reason)s. "
        "The growth value is %(value)d today (tier: %(tier)s)."
    ) % {
        "requested_by": adjustment.requested_by,
        "member": adjustment.member.name,
        "amount": adjustment.amount,
        "reason": adjustment.reason,
        "value": adjustment.member.growth_value,
        "tier": adjustment.member.tier,
    }


def _approve_growth_adjustment(request: HttpRequest, adjustment: GrowthAdjustment, data: dict[str, Any]) -> Any:
    adjustment = services.growth_adjustment_approve(adjustment=adjustment, actor=request.user, note=data["note"])
    return _("Approved: %(amount)+d growth value.") % {"amount": adjustment.amount}


def _reject_growth_adjustment(request: HttpRequest, adjustment: GrowthAdjustment, data: dict[str, Any]) -> Any:
    services.growth_adjustment_reject(adjustment=adjustment, actor=request.user, note=data["note"])
    return _("Rejected; the growth value did not change.")


GROWTH_DECISION_PAGE: dict[str, Any] = {
    "select_related": ["member__tier", "member__growth", "requested_by"],
    "summary": _growth_decision_summary,
    "done_url": lambda adjustment: reverse("admin:members_growthadjustment_changelist") + "?state__exact=pending",
}


@admin.register(GrowthAdjustment)
class GrowthAdjustmentAdmin(AdjustmentAdmin):
    """Every staff growth-value adjustment."""

    approve_permission = "members.approve_growthadjustment"

    approve = AdminAction(
        description=_("Approve"),
        url_path="approve",
        permissions=["approve"],
        icon="check_circle",
        title=_("Approve growth value adjustment"),
        form_class=DecisionForm,
        perform=_approve_growth_adjustment,
        **GROWTH_DECISION_PAGE,
    )
    reject = AdminAction(
        description=_("Reject"),
        url_path="reject",
        permissions=["approve"],
        icon="cancel",
        title=_("Reject growth value adjustment"),
        form_class=RejectionForm,
        perform=_reject_growth_adjustment,
        **GROWTH_DECISION_PAGE,
    )


@admin.register(TierAssignment)
class TierAssignmentAdmin(HistoryAdmin, ReadOnlyAdmin):
    """Who put which member on which tier, why and until when (made from the member page's "Assign tier")."""

    list_display = ["created_at", "member_link", "from_tier", "tier", "ends_at", "still_holds", "reason", "assigned_by"]
    list_filter = [("tier", RelatedDropdownFilter)]
    list_select_related = ["member", "tier", "from_tier", "assigned_by"]
    ordering = ["-created_at", "-id"]

    @display(description=_("member"))
    def member_link(self, obj: TierAssignment) -> SafeString:
        return format_html('<a href="{}">{}</a>', reverse("admin:members_member_change", args=[obj.member_id]), obj.member.name)

    @display(description=_("still holds"), boolean=True)
    def still_holds(self, obj: TierAssignment) -> bool:
        member = obj.member
        return member.tier_id == obj.tier_id and member.tier_assigned_until == obj.ends_at and obj.ends_at > timezone.now()


@admin.register(TierChange)
class TierChangeAdmin(CodedReasonAdminMixin, ReadOnlyAdmin):
    list_display = ["created_at", "member", "kind", "from_tier", "to_tier", "growth_value", "reason_text", "actor"]
    list_filter = [("kind", ChoicesDropdownFilter), ("to_tier", RelatedDropdownFilter)]
    list_select_related = ["member", "from_tier", "to_tier", "actor"]
    # Rows are appended as they happen: the key orders them by time and its index serves a page without a sort.
    ordering = ["-id"]


# The duplicates' pages and the merge audit live in their own module; importing it registers them.
from apps.members import merge_admin  # noqa: E402, F401
