"""The back office of earning rules: the rules (audited, saved through services), their simulation and status
actions, "why did (or didn't) this member earn", the review queue of held awards, and the metrics page."""

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from unfold.decorators import action

from apps.analytics.admin import ActivityKindFilter
from apps.analytics.models import ActivityEvent
from apps.analytics.services.kinds import all_kind_choices, kind_label
from apps.core.admin_actions import AdminAction, AdminActionsMixin
from apps.core.admin_base import HistoryAdmin, ModelAdmin, object_or_404
from apps.core.errors import ApplicationError
from apps.core.service_admin import ServiceFormAdmin
from apps.members.admin import register_member_page_section
from apps.members.models import Member
from apps.rules import selectors, services
from apps.rules.customer_profile import held_awards_summary
from apps.rules.models import (
    RULE_EDITABLE_FIELDS,
    RULE_EDITABLE_RELATIONS,
    AwardStatus,
    EarningRule,
    RuleAward,
    RuleStatus,
    RuleTierMultiplier,
)


class EarningRuleForm(forms.ModelForm):
    kind = forms.ChoiceField(label=_("activity kind"), choices=())

    class Meta:
        model = EarningRule
        fields = [*RULE_EDITABLE_FIELDS, *RULE_EDITABLE_RELATIONS]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = all_kind_choices()


class MultiplierInline(admin.TabularInline):
    model = RuleTierMultiplier
    extra = 0
    fields = ["tier", "multiplier"]


def _simulation_summary(rule: EarningRule) -> str:
    result = selectors.rule_simulate(rule=rule)
    return str(
        _(
            "Over the last %(days)d days this rule would have paid %(points)d points and %(growth)d growth value to %(members)d "
            "members in %(awards)d awards (cost ¥%(cost)s); caps or the budget stopped %(stopped)d more. Switch it on?"
        )
        % {
            "days": result.days,
            "points": result.points,
            "growth": result.growth,
            "members": result.members,
            "awards": result.awards,
            "cost": result.cost,
            "stopped": result.stopped_by_caps,
        }
    )


@admin.register(EarningRule)
class EarningRuleAdmin(AdminActionsMixin, ServiceFormAdmin, HistoryAdmin, ModelAdmin):
    form = EarningRuleForm
    inlines = [MultiplierInline]
    list_display = [
        "name",
        "kind_display",
        "status",
        "priority",
        "points",
        "growth",
        "budget_points",
        "budget_used",
        "starts_at",
        "ends_at",
    ]
    list_filter = ["status", ActivityKindFilter]
    search_fields = ["name"]
    filter_horizontal = ["tiers", "tags"]
    readonly_fields = ["status", "budget_used"]
    actions_detail = ["simulate_link", "activate", "pause", "end"]
    change_list_template = "admin/rules/earningrule_change_list.html"
    fieldsets = [
        (None, {"fields": ["name", "description", "status", "kind", "priority"]}),
        (_("When"), {"fields": ["starts_at", "ends_at", "days_of_week", "hour_from", "hour_to"]}),
        (_("If"), {"fields": ["property_conditions", "channels", "tiers", "segment", "tags", "first_time_only", "nth_time"]}),
        (_("Then"), {"fields": ["points", "growth", "unit_property", "unit_size", "benefit"]}),
        (
            _("Limits"),
            {
                "fields": [
                    ("cap_day_count", "cap_day_points"),
                    ("cap_week_count", "cap_week_points"),
                    ("cap_month_count", "cap_month_points"),
                    ("cap_lifetime_count", "cap_lifetime_points"),
                    ("budget_points", "budget_used"),
                ]
            },
        ),
    ]

    @admin.display(description=_("activity kind"), ordering="kind")
    def kind_display(self, obj: EarningRule) -> str:
        return kind_label(obj.kind)

    def save_model(self, request: HttpRequest, obj: EarningRule, form: forms.ModelForm, change: bool) -> None:
        pass  # saved with its tiers, tags and multipliers in save_related, through the service

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool) -> None:
        multipliers = []
        for formset in formsets:
            for row in formset.cleaned_data:
                if row and not row.get("DELETE") and row.get("tier") is not None:
                    multipliers.append(services.Multiplier(tier_id=row["tier"].pk, multiplier=row["multiplier"]))
        services.rule_save(
            rule=form.instance,
            tiers=form.cleaned_data["tiers"],
            tags=form.cleaned_data["tags"],
            multipliers=multipliers,
            actor=request.user,
        )
        for formset in formsets:  # saved by the service; the change message reads these
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def has_delete_permission(self, request: HttpRequest, obj: EarningRule | None = None) -> bool:
        return False  # awards name their rule: end it instead

    def get_urls(self) -> list:
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/simulation/", view(self.simulation_view), name="rules_earningrule_simulation"),
            path("explain/", view(self.explain_view), name="rules_earningrule_explain"),
            path("metrics/", view(self.metrics_view), name="rules_earningrule_metrics"),
            *super().get_urls(),
        ]

    def simulation_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        rule = object_or_404(EarningRule.objects.all(), object_id)
        if not self.has_view_permission(request, rule):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": _("Simulation: %(rule)s") % {"rule": rule.name},
            "rule": rule,
            "kind": kind_label(rule.kind),
            "result": selectors.rule_simulate(rule=rule),
            "opts": self.model._meta,
            "change_url": reverse("admin:rules_earningrule_change", args=[rule.pk]),
            "activate_url": reverse("admin:rules_earningrule_activate", args=[rule.pk]),
            "can_activate": rule.status in (RuleStatus.DRAFT, RuleStatus.PAUSED) and self.has_change_permission(request, rule),
        }
        return TemplateResponse(request, "admin/rules/simulation.html", context)

    def explain_view(self, request: HttpRequest) -> HttpResponse:
        """GET only reads: the member and the activity come from the query string."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = ExplainForm(request.GET or None)
        verdicts, activity, member = None, None, None
        if form.is_valid():
            member = Member.objects.filter(pk=form.cleaned_data["member"]).first()
            activity = ActivityEvent.objects.filter(pk=form.cleaned_data["activity"]).first()
            if member is None:
                form.add_error("member", _("No member with this id."))
            elif activity is None or activity.member_id != member.pk:
                form.add_error("activity", _("No activity of this member with this id."))
            else:
                verdicts = selectors.earning_explain(member=member, activity=activity)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Why did (or didn't) this member earn?"),
            "form": form,
            "verdicts": verdicts,
            "activity": activity,
            "kind": kind_label(activity.kind) if activity else "",
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/rules/explain.html", context)

    def metrics_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": _("Earning rules: metrics"),
            "metrics": selectors.rules_metrics(),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/rules/metrics.html", context)

    @action(description=_("Simulate (last 30 days)"), url_path="simulate", permissions=["view"], icon="query_stats")
    def simulate_link(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:rules_earningrule_simulation", args=[object_id]))

    activate = AdminAction(
        description=_("Switch on"),
        url_path="activate",
        permissions=["change"],
        icon="play_arrow",
        title=_("Switch this rule on"),
        explanation=_("From now, matching activities earn through this rule, within its caps and budget."),
        summary=_simulation_summary,
        unusable=lambda rule: (
            None if rule.status in (RuleStatus.DRAFT, RuleStatus.PAUSED) else _("Only a draft or paused rule can be switched on.")
        ),
        perform=lambda request, rule, data: (
            services.rule_activate(rule=rule, actor=request.user),
            _("The rule is on."),
        )[1],
    )
    pause = AdminAction(
        description=_("Pause"),
        url_path="pause",
        permissions=["change"],
        icon="pause",
        title=_("Pause this rule"),
        explanation=_("Activities stop earning through this rule until it is switched on again."),
        unusable=lambda rule: None if rule.status == RuleStatus.ACTIVE else _("Only an active rule can be paused."),
        perform=lambda request, rule, data: (services.rule_pause(rule=rule, actor=request.user), _("The rule is paused."))[1],
    )
    end = AdminAction(
        description=_("End"),
        url_path="end",
        permissions=["change"],
        icon="stop",
        title=_("End this rule for good"),
        explanation=_("An ended rule never earns again and cannot be changed; its awards stay."),
        unusable=lambda rule: None if rule.status != RuleStatus.ENDED else _("The rule has ended already."),
        perform=lambda request, rule, data: (services.rule_end(rule=rule, actor=request.user), _("The rule has ended."))[1],
    )


class ExplainForm(forms.Form):
    member = forms.IntegerField(label=_("member ID"), min_value=1)
    activity = forms.IntegerField(label=_("activity ID"), min_value=1)


# Held awards -------------------------------------------------------------------------------------


class HoldReasonFilter(admin.SimpleListFilter):
    title = _("hold reason")
    parameter_name = "reason"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        seen: set[str] = set()
        for reasons in RuleAward.objects.exclude(hold_reasons=[]).values_list("hold_reasons", flat=True)[:2000]:
            seen.update(reasons or [])
        return [(reason, reason) for reason in sorted(seen)]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if not self.value():
            return queryset
        if connection.vendor == "postgresql":
            return queryset.filter(hold_reasons__contains=[self.value()])
        ids = [pk for pk, reasons in queryset.values_list("pk", "hold_reasons") if self.value() in (reasons or [])]
        return queryset.filter(pk__in=ids)


class DecisionForm(forms.Form):
    note = forms.CharField(label=_("note"), max_length=255, required=False, widget=forms.TextInput)


@admin.register(RuleAward)
class RuleAwardAdmin(HistoryAdmin, ModelAdmin):
    """The review queue: held awards, filtered by rule, reason and date, released or rejected in bulk."""

    list_display = ["created_at", "rule", "member", "kind_display", "occurred_at", "status", "points", "growth", "benefit", "reasons"]
    list_filter = ["status", "rule", HoldReasonFilter, ActivityKindFilter, ("created_at", admin.DateFieldListFilter)]
    list_select_related = ["rule", "member", "benefit"]
    search_fields = ["activity__event_id"]
    search_help_text = _("The activity's event ID (exact)")
    extra_lookups = ["member__id__exact", "rule__id__exact"]
    # Awards are inserted as they are made: the key orders them by time and its index serves a page without a sort
    # (no index leads with the creation time, and one more would be one more write per award at ingest).
    ordering = ["-id"]
    readonly_fields = [f.name for f in RuleAward._meta.fields]
    actions = ["release_selected", "reject_selected"]

    @admin.display(description=_("activity kind"), ordering="kind")
    def kind_display(self, obj: RuleAward) -> str:
        return kind_label(obj.kind)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[RuleAward], search_term: str) -> tuple[QuerySet[RuleAward], bool]:
        # Exact, on the activity's event ID index: "contains" through the join read every activity when nothing matched.
        term = search_term.strip()
        return (queryset.filter(activity__event_id=term) if term else queryset), False

    @admin.display(description=_("hold reasons"))
    def reasons(self, award: RuleAward) -> str:
        return "; ".join(award.hold_reasons or [])

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: RuleAward | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: RuleAward | None = None) -> bool:
        return False

    def has_decide_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("rules.decide_ruleaward")

    def _decide(self, request: HttpRequest, queryset: QuerySet[RuleAward], *, release: bool) -> HttpResponse | None:
        held = queryset.filter(status=AwardStatus.HELD)
        form = DecisionForm(request.POST if "confirm" in request.POST else None)
        if "confirm" in request.POST and form.is_valid():
            try:
                decide = services.awards_release if release else services.awards_reject
                result = decide(award_ids=list(held.values_list("pk", flat=True)), actor=request.user, note=form.cleaned_data["note"])
            except ApplicationError as exc:
                if "note" in exc.fields:
                    form.add_error("note", exc.message)
                else:
                    messages.error(request, exc.message)
                    return None
            else:
                text = _("%(count)d award(s) released and paid (%(points)d points).") if release else _("%(count)d award(s) rejected.")
                messages.success(request, text % {"count": result.decided, "points": result.points})
                return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Release held awards") if release else _("Reject held awards"),
            "awards": list(held.select_related("rule", "member")[:200]),
            "count": held.count(),
            "points": sum(held.values_list("points", flat=True)),
            "ignored": queryset.count() - held.count(),
            "form": form,
            "release": release,
            "action": request.POST.get("action"),
            "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/rules/award_decision.html", context)

    @action(description=_("Release and pay the selected held awards"), permissions=["decide"])
    def release_selected(self, request: HttpRequest, queryset: QuerySet[RuleAward]) -> HttpResponse | None:
        return self._decide(request, queryset, release=True)

    @action(description=_("Reject the selected held awards"), permissions=["decide"])
    def reject_selected(self, request: HttpRequest, queryset: QuerySet[RuleAward]) -> HttpResponse | None:
        return self._decide(request, queryset, release=False)


def member_held_awards_section(member: Member) -> SafeString:
    """The member page's review section: the same list as the customer profile's (one summary, one template)."""
    return render_to_string("admin/rules/profile_held_awards.html", {"value": held_awards_summary(member)})


register_member_page_section(
    name="held_awards", title=_("Awards held for review"), permission="rules.view_ruleaward", render=member_held_awards_section
)


def member_rule_activities_section(member: Member) -> SafeString:
    """The member's latest activities that rules are about, each a link to "why did (or didn't) this member earn?":
    customer service answer "I didn't get my points" from the member page, without looking up ids."""
    explain = reverse("admin:rules_earningrule_explain")
    rows = [
        {
            "occurred_at": activity.occurred_at,
            "kind": kind_label(activity.kind),
            "event_id": activity.event_id,
            "url": f"{explain}?{urlencode({'member': member.pk, 'activity': activity.pk})}",
        }
        for activity in selectors.member_rule_activities(member=member)
    ]
    return render_to_string("admin/rules/member_rule_activities.html", {"rows": rows})


register_member_page_section(
    name="rule_activities",
    title=_("Why did (or didn't) this member earn?"),
    permission="rules.view_earningrule",
    render=member_rule_activities_section,
)
