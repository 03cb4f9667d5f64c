import json
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST
from simple_history.admin import SimpleHistoryAdmin
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import ChoicesDropdownFilter
from unfold.decorators import action, display

from apps.campaigns import selectors, services
from apps.campaigns.conditions import compile_rules
from apps.campaigns.models import Campaign, CampaignRun, CampaignStatus, Referral, ReferralState, RunStatus, Segment
from apps.core.errors import ApplicationError


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


class SegmentForm(forms.ModelForm):
    class Meta:
        model = Segment
        fields = ["name", "description", "rules"]

    def clean_rules(self) -> Any:
        rules = self.cleaned_data["rules"]
        try:
            compile_rules(rules)
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message, code=exc.code) from exc
        return rules


@admin.register(Segment)
class SegmentAdmin(SimpleHistoryAdmin, ModelAdmin):
    form = SegmentForm
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
            rules = json.loads(request.body or b"{}")
            return JsonResponse(selectors.segment_preview(rules=rules))
        except json.JSONDecodeError:
            return JsonResponse({"error": str(_("The rules are not valid JSON."))}, status=400)
        except ApplicationError as exc:
            return JsonResponse({"error": exc.message}, status=400)

    def changeform_view(self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: dict | None = None):
        extra_context = {**(extra_context or {}), "segment_builder": selectors.segment_builder_config()}
        return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request: HttpRequest, obj: Segment, form: forms.ModelForm, change: bool) -> None:
        try:
            services.segment_save(segment=obj, actor=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)

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


@admin.register(Campaign)
class CampaignAdmin(SimpleHistoryAdmin, ModelAdmin):
    list_display = ["name", "segment", "status_badge", "schedule_kind", "benefit", "points_amount", "message_template_code", "updated_at"]
    list_filter = [("status", ChoicesDropdownFilter), ("schedule_kind", ChoicesDropdownFilter)]
    search_fields = ["name"]
    list_select_related = ["segment", "benefit"]
    autocomplete_fields = ["segment", "benefit"]
    readonly_fields = ["status"]
    fieldsets = [
        (None, {"fields": ["name", "description", "segment", "status"]}),
        (
            _("Actions"),
            {"fields": ["benefit", "points_amount", "points_valid_days", "message_channel", "message_template_code", "message_purpose"]},
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
        try:
            services.campaign_save(campaign=obj, actor=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)

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
    list_select_related = ["referrer", "referee"]

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
