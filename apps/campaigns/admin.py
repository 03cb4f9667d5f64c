import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST
from simple_history.models import ModelChange
from simple_history.template_utils import HistoricalRecordContextHelper
from unfold.contrib.filters.admin import ChoicesDropdownFilter
from unfold.decorators import action, display
from unfold.widgets import UnfoldAdminSelectWidget

from apps.campaigns import selectors, services
from apps.campaigns.conditions import mask_personal_values, personal_conditions
from apps.campaigns.models import (
    CAMPAIGN_TRANSITION_FROM,
    CLOSED_CAMPAIGN_STATUSES,
    RUN_MESSAGE_PREFIX,
    Campaign,
    CampaignRun,
    CampaignStatus,
    Referral,
    ReferralState,
    RunStatus,
    Segment,
)
from apps.core.admin_actions import ACTION_TEMPLATE, Subject
from apps.core.admin_base import HistoryAdmin, ModelAdmin, object_or_404
from apps.core.errors import ApplicationError
from apps.core.jsontext import refuse_lone_surrogates
from apps.core.service_admin import ServiceFormAdmin
from apps.members.admin import can_see_pii
from apps.members.models import ConsentChannel
from apps.messaging.selectors import active_templates, message_template_preview, messages_opened, open_rate


def _each(request: HttpRequest, queryset: QuerySet, service: Callable, done: str) -> None:
    """Call a service per selected object and report each failure with its reason."""
    succeeded = 0
    for obj in queryset:
        try:
            service(obj)
        except ApplicationError as exc:
            messages.error(request, f"{obj}: {exc.message}")
        else:
            succeeded += 1
    if succeeded:
        messages.success(request, done % {"count": succeeded})


class MaskedRulesHistoryHelper(HistoricalRecordContextHelper):
    """A segment's history for staff without the personal-data permission: values of personal conditions masked."""

    def format_delta_change(self, change: ModelChange) -> ModelChange:
        if change.field == "rules":
            change = ModelChange(field=change.field, old=mask_personal_values(change.old), new=mask_personal_values(change.new))
        return super().format_delta_change(change)


@admin.register(Segment)
class SegmentAdmin(ServiceFormAdmin, HistoryAdmin, ModelAdmin):
    list_display = ["name", "frozen_at", "frozen_count", "updated_at"]
    search_fields = ["name", "description"]
    readonly_fields = ["frozen_at", "frozen_count"]
    change_form_after_template = "campaigns/segment_preview.html"
    actions = ["freeze", "unfreeze"]

    def get_urls(self) -> list:
        preview = self.admin_site.admin_view(require_POST(self.preview_view))
        return [path("preview/", preview, name="campaigns_segment_preview"), *super().get_urls()]

    def preview_view(self, request: HttpRequest) -> JsonResponse:
        """Live count and sample of the rules being edited (called by the editor's script)."""
        if not self.has_view_permission(request):
            return JsonResponse({"error": str(_("Not allowed."))}, status=403)
        try:
            rules = refuse_lone_surrogates(json.loads(request.body or b"{}"))
            return JsonResponse(selectors.segment_preview(rules=rules, can_see_personal=can_see_pii(request)))
        except json.JSONDecodeError:
            return JsonResponse({"error": str(_("The rules are not valid JSON."))}, status=400)
        except ApplicationError as exc:
            return JsonResponse({"error": exc.message}, status=exc.http_status if exc.http_status == 403 else 400)

    def _masks_rules(self, request: HttpRequest, obj: Segment | None) -> bool:
        """Staff who may not see personal data read a segment with a condition on it masked, and cannot edit its rules."""
        return obj is not None and not can_see_pii(request) and bool(personal_conditions(obj.rules))

    def get_exclude(self, request: HttpRequest, obj: Segment | None = None) -> list[str]:
        exclude = list(super().get_exclude(request, obj) or [])
        return [*exclude, "rules"] if self._masks_rules(request, obj) else exclude

    def get_readonly_fields(self, request: HttpRequest, obj: Segment | None = None) -> list[str]:
        readonly = list(super().get_readonly_fields(request, obj))
        return [*readonly, "masked_rules"] if self._masks_rules(request, obj) else readonly

    @display(description=_("rules"))
    def masked_rules(self, obj: Segment) -> SafeString:
        return format_html("<pre>{}</pre>", json.dumps(mask_personal_values(obj.rules), ensure_ascii=False, indent=1))

    def history_form_view(self, request: HttpRequest, object_id: str, version_id: str, extra_context: dict[str, Any] | None = None) -> Any:
        # A past version is shown as the full form, its rules unmasked: only for staff who may see personal data.
        if not can_see_pii(request):
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)

    def get_historical_record_context_helper(self, request: HttpRequest, historical_record: Any) -> HistoricalRecordContextHelper:
        if can_see_pii(request):
            return super().get_historical_record_context_helper(request, historical_record)
        return MaskedRulesHistoryHelper(self.model, historical_record)

    def changeform_view(self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: dict | None = None):
        builder = selectors.segment_builder_config(can_see_personal=can_see_pii(request))
        extra_context = {**(extra_context or {}), "segment_builder": builder}
        return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request: HttpRequest, obj: Segment, form: forms.ModelForm, change: bool) -> None:
        services.segment_save(segment=obj, actor=request.user, can_see_personal=can_see_pii(request))

    @action(description=_("Freeze into a snapshot"), permissions=["change"])
    def freeze(self, request: HttpRequest, queryset: QuerySet[Segment]) -> None:
        _each(request, queryset, lambda s: services.segment_freeze(segment=s), _("%(count)d segment(s) frozen."))

    @action(description=_("Unfreeze (back to live rules)"), permissions=["change"])
    def unfreeze(self, request: HttpRequest, queryset: QuerySet[Segment]) -> None:
        _each(request, queryset, lambda s: services.segment_unfreeze(segment=s), _("%(count)d segment(s) unfrozen."))


STATUS_COLOURS = {
    CampaignStatus.DRAFT: "info",
    CampaignStatus.SCHEDULED: "info",
    CampaignStatus.RUNNING: "warning",
    CampaignStatus.PAUSED: "warning",
    CampaignStatus.COMPLETED: "success",
    CampaignStatus.CANCELLED: "danger",
}


class CampaignForm(forms.ModelForm):
    """The message template is picked from the active templates, grouped by channel, not typed."""

    message_template_code = forms.ChoiceField(label=_("message template"), required=False, widget=UnfoldAdminSelectWidget)

    class Meta:
        model = Campaign
        fields = ["message_template_code"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "message_template_code" not in self.fields:
            return
        by_channel: dict[str, list[tuple[str, str]]] = {}
        for template in active_templates():
            by_channel.setdefault(template.channel, []).append(
                (template.code, f"{template.code} — {template.subject or template.body[:40]}")
            )
        choices: list[Any] = [("", "—")]
        choices += [(ConsentChannel(channel).label, options) for channel, options in by_channel.items()]
        current = self.instance.message_template_code
        if current and not any(current == code for options in by_channel.values() for code, _label in options):
            choices.append((current, _("%(code)s (no longer active)") % {"code": current}))
        self.fields["message_template_code"].choices = choices


@dataclass(frozen=True)
class Transition:
    label: Any
    confirm: Any  # the question asked before acting, or None to act at once
    done: Any
    call: Callable[..., Any]


TRANSITIONS = {
    "dry_run": Transition(
        _("Dry run"),
        None,
        _("Dry run started: it counts the members without acting; see the runs below."),
        lambda campaign, actor: services.campaign_launch(campaign=campaign, dry_run=True, actor=actor),
    ),
    "launch": Transition(
        _("Launch now"),
        _("Launch %(name)s now? It acts on %(count)d members of the segment %(segment)s."),
        _("The campaign was launched."),
        lambda campaign, actor: services.campaign_launch(campaign=campaign, actor=actor),
    ),
    "schedule": Transition(
        _("Schedule"),
        None,
        _("The campaign is scheduled."),
        lambda campaign, actor: services.campaign_schedule(campaign=campaign, actor=actor),
    ),
    "pause": Transition(
        _("Pause"), None, _("The campaign is paused."), lambda campaign, actor: services.campaign_pause(campaign=campaign, actor=actor)
    ),
    "resume": Transition(
        _("Resume"),
        None,
        _("The campaign is running again."),
        lambda campaign, actor: services.campaign_resume(campaign=campaign, actor=actor),
    ),
    "cancel": Transition(
        _("Cancel campaign"),
        _("Cancel %(name)s for good? A cancelled campaign cannot be launched again."),
        _("The campaign was cancelled."),
        lambda campaign, actor: services.campaign_cancel(campaign=campaign, actor=actor),
    ),
}


class ConfirmForm(forms.Form):
    confirmed = forms.BooleanField(initial=True, widget=forms.HiddenInput)


@admin.register(Campaign)
class CampaignAdmin(ServiceFormAdmin, HistoryAdmin, ModelAdmin):
    form = CampaignForm
    change_form_outer_before_template = "campaigns/campaign_transitions.html"
    list_display = ["name", "segment", "status_badge", "schedule_kind", "benefit", "points_amount", "message_template_code", "updated_at"]
    list_filter = [("status", ChoicesDropdownFilter), ("schedule_kind", ChoicesDropdownFilter)]
    search_fields = ["name"]
    list_select_related = ["segment", "benefit"]
    autocomplete_fields = ["segment", "benefit"]
    readonly_fields = ["status", "message_preview"]
    fieldsets = [
        (None, {"fields": ["name", "description", "segment", "status"]}),
        (
            _("Actions"),
            {
                "fields": [
                    "benefit",
                    "points_amount",
                    "points_valid_days",
                    "message_channel",
                    "message_template_code",
                    "message_preview",
                    "message_purpose",
                ]
            },
        ),
        (_("Schedule"), {"fields": ["schedule_kind", "run_at", "interval_minutes", "cron", "trigger"]}),
        (
            _("Budget and limits"),
            {"fields": ["max_members", "max_points", "max_cost", "cost_per_member", "holdout_percent", "applies_frequency_cap"]},
        ),
    ]
    actions = ["schedule", "launch", "dry_run", "pause", "resume", "cancel"]

    @display(description=_("status"), label=STATUS_COLOURS)
    def status_badge(self, obj: Campaign) -> tuple[str, str]:
        return obj.status, obj.get_status_display()

    def save_model(self, request: HttpRequest, obj: Campaign, form: forms.ModelForm, change: bool) -> None:
        services.campaign_save(campaign=obj, actor=request.user)

    @display(description=_("message preview"))
    def message_preview(self, obj: Campaign) -> SafeString:
        previews = message_template_preview(code=obj.message_template_code, channel=obj.message_channel) if obj.pk else []
        return render_to_string("campaigns/message_preview.html", {"previews": previews})

    # A completed or cancelled campaign is a record: every field read-only, no save button, a note saying why.
    def get_readonly_fields(self, request: HttpRequest, obj: Campaign | None = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.status in CLOSED_CAMPAIGN_STATUSES:
            fields += [field for fieldset in self.fieldsets for field in fieldset[1]["fields"] if field not in fields]
        return fields

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        campaign = self.get_object(request, unquote(object_id)) if object_id else None
        extra_context = {**(extra_context or {}), "campaign_transitions": [], "campaign_closed": False}
        if campaign is not None:
            if campaign.status in CLOSED_CAMPAIGN_STATUSES:
                extra_context.update(campaign_closed=True, show_save=False, show_save_and_continue=False, show_save_and_add_another=False)
            if self.has_launch_permission(request):
                extra_context["campaign_transitions"] = [
                    (reverse("admin:campaigns_campaign_transition", args=[campaign.pk, name]), transition.label, name)
                    for name, transition in TRANSITIONS.items()
                    if campaign.status in CAMPAIGN_TRANSITION_FROM[name]
                ]
        return super().changeform_view(request, object_id, form_url, extra_context)

    def get_urls(self) -> list:
        transition = self.admin_site.admin_view(require_POST(self.transition_view))
        return [
            path("<path:object_id>/transition/<str:name>/", transition, name="campaigns_campaign_transition"),
            *super().get_urls(),
        ]

    def transition_view(self, request: HttpRequest, object_id: str, name: str) -> HttpResponse:
        """One button of the campaign page: a POST that calls the transition's service, after a confirmation where it matters."""
        if not self.has_launch_permission(request):
            raise PermissionDenied
        transition = TRANSITIONS.get(name)
        campaign = object_or_404(Campaign.objects.select_related("segment"), object_id)
        if transition is None:
            raise Http404
        change_url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
        if transition.confirm is not None and not ConfirmForm(request.POST).is_valid():
            question = transition.confirm % {
                "name": campaign.name,
                "count": selectors.segment_members(segment=campaign.segment).count(),
                "segment": campaign.segment.name,
            }
            context = {
                **self.admin_site.each_context(request),
                "title": transition.label,
                "subject": Subject(name=str(campaign), url=change_url),
                "confirmation": question,
                "form": ConfirmForm(),
                "opts": self.model._meta,
                "change_url": change_url,
            }
            return TemplateResponse(request, ACTION_TEMPLATE, context)
        try:
            transition.call(campaign, request.user)
            messages.success(request, transition.done)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        return HttpResponseRedirect(change_url)

    def has_launch_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("campaigns.launch_campaign")

    @action(description=_("Schedule"), permissions=["launch"])
    def schedule(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        _each(
            request, queryset, lambda c: services.campaign_schedule(campaign=c, actor=request.user), _("%(count)d campaign(s) scheduled.")
        )

    @action(description=_("Launch now"), permissions=["launch"])
    def launch(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        _each(request, queryset, lambda c: services.campaign_launch(campaign=c, actor=request.user), _("%(count)d run(s) started."))

    @action(description=_("Dry run (count only)"), permissions=["launch"])
    def dry_run(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        _each(
            request,
            queryset,
            lambda c: services.campaign_launch(campaign=c, dry_run=True, actor=request.user),
            _("%(count)d dry run(s) started; see Campaign runs."),
        )

    @action(description=_("Pause"), permissions=["launch"])
    def pause(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        _each(request, queryset, lambda c: services.campaign_pause(campaign=c, actor=request.user), _("%(count)d campaign(s) paused."))

    @action(description=_("Resume"), permissions=["launch"])
    def resume(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        _each(request, queryset, lambda c: services.campaign_resume(campaign=c, actor=request.user), _("%(count)d campaign(s) resumed."))

    @action(description=_("Cancel"), permissions=["launch"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        _each(request, queryset, lambda c: services.campaign_cancel(campaign=c, actor=request.user), _("%(count)d campaign(s) cancelled."))

    def has_delete_permission(self, request: HttpRequest, obj: Campaign | None = None) -> bool:
        return False


@admin.register(CampaignRun)
class CampaignRunAdmin(ModelAdmin):
    """Runs with their numbers; the list refreshes itself while a run is in progress."""

    list_display = [
        "id",
        "campaign",
        "trigger_key",
        "dry_run",
        "status_badge",
        "progress_bar",
        "targeted",
        "acted",
        "held_out",
        "skipped_no_consent",
        "skipped_cap_reached",
        "skipped_budget_exhausted",
        "skipped_member_frozen",
        "failed",
        "points_awarded",
        "benefits_granted",
        "benefits_not_granted",
        "messages_queued",
        "started_at",
        "finished_at",
    ]
    list_filter = [("status", ChoicesDropdownFilter), "dry_run"]
    list_select_related = ["campaign"]
    search_fields = ["campaign__name"]
    list_after_template = "campaigns/run_list_refresh.html"
    readonly_fields = ["messages_opened"]

    @display(description=_("messages opened (open rate)"))
    def messages_opened(self, obj: CampaignRun) -> str:
        # Counted on the run's page only: one indexed count per run, not one per row of the list.
        opened = messages_opened(dedupe_prefix=f"{RUN_MESSAGE_PREFIX}:{obj.pk}:")
        return open_rate(opened=opened, sent=obj.messages_queued)

    @display(
        description=_("status"),
        label={RunStatus.PENDING: "info", RunStatus.RUNNING: "warning", RunStatus.COMPLETED: "success", RunStatus.CANCELLED: "danger"},
    )
    def status_badge(self, obj: CampaignRun) -> tuple[str, str]:
        return obj.status, obj.get_status_display()

    @display(description=_("progress"))
    def progress_bar(self, obj: CampaignRun) -> str:
        return format_html('<progress max="100" value="{0}" title="{0}%"></progress> {0}%', obj.progress)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: CampaignRun | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: CampaignRun | None = None) -> bool:
        return False


@admin.register(Referral)
class ReferralAdmin(ModelAdmin):
    """Referrals are made and rewarded by the services (enrolment, qualifying actions); staff read them here."""

    list_display = ["id", "referrer", "referee", "code", "state_badge", "reject_reason", "qualifying_action", "rewarded_at", "created_at"]
    list_filter = [("state", ChoicesDropdownFilter), "reject_reason"]
    search_fields = ["code", "referrer__name", "referee__name"]
    search_help_text = _("Referral code (exact), or the referrer's or referee's name (beginning)")
    list_select_related = ["referrer", "referee"]

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Referral], search_term: str) -> tuple[QuerySet[Referral], bool]:
        # Each branch has an index: "contains" read every referral, and every member through the joins, when nothing matched.
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(Q(code=term) | Q(referrer__name__startswith=term) | Q(referee__name__startswith=term)), False

    @display(
        description=_("state"),
        label={
            ReferralState.PENDING: "info",
            ReferralState.QUALIFIED: "warning",
            ReferralState.REWARDED: "success",
            ReferralState.REJECTED: "danger",
        },
    )
    def state_badge(self, obj: Referral) -> tuple[str, str]:
        return obj.state, obj.get_state_display()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Referral | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Referral | None = None) -> bool:
        return False
