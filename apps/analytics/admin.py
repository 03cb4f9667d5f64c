"""The analytics back office: the dashboard (charts, filters, CSV per figure, drill-down), the activity log, RFM scores."""

import json
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _
from modeltranslation.admin import TranslationAdmin
from unfold.contrib.filters.admin import ChoicesDropdownFilter

from apps.analytics import selectors
from apps.analytics.days import day_start
from apps.analytics.models import ActivityEvent, DailyMetric, RegisteredActivityKind, RfmScore, RfmSegment
from apps.analytics.services.kinds import activity_kind_save, all_kind_choices, kind_label
from apps.core.admin_base import HistoryAdmin, ModelAdmin
from apps.core.errors import ApplicationError
from apps.core.exports import export_response
from apps.core.replicas import replica_reads
from apps.core.service_admin import ServiceFormAdmin
from apps.members.admin import can_see_pii, register_member_list_filter, register_member_profile_fact
from apps.members.models import Member, SourceChannel, Tier

DASHBOARD_PERMISSION = "analytics.view_dailymetric"


class RfmSegmentFilter(admin.SimpleListFilter):
    title = _("RFM segment")
    parameter_name = "rfm_segment"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return list(RfmSegment.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet[Member]) -> QuerySet[Member]:
        if self.value() in RfmSegment.values:
            return queryset.filter(pk__in=RfmScore.objects.filter(segment=self.value()).values("member_id"))
        return queryset


register_member_list_filter(RfmSegmentFilter)


def _rfm_segment_fact(member: Member) -> str:
    return selectors.member_rfm_segment(member_id=member.pk) or str(_("Not scored yet"))


def _last_activity_fact(member: Member) -> str:
    at = selectors.member_last_activity(member_id=member.pk)
    return date_format(timezone.localtime(at), "SHORT_DATETIME_FORMAT") if at else str(_("No activity yet"))


register_member_profile_fact(label=_("RFM segment"), value=_rfm_segment_fact)
register_member_profile_fact(label=_("Last activity"), value=_last_activity_fact)


class ActivityKindFilter(admin.SimpleListFilter):
    """Built-in and registered kinds (the column has no fixed choices any more)."""

    title = _("kind")
    parameter_name = "kind"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return all_kind_choices()

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(kind=self.value()) if self.value() else queryset


@admin.register(ActivityEvent)
class ActivityEventAdmin(ModelAdmin):
    list_display = ["occurred_at", "member", "kind_label", "amount", "channel", "source", "event_id", "recorded_at"]
    list_filter = [ActivityKindFilter, ("channel", ChoicesDropdownFilter)]
    list_select_related = ["member"]
    search_fields = ["event_id", "order_ref"]
    search_help_text = _("Event ID or order reference (exact)")
    extra_lookups = ["member__id__exact"]
    ordering = ["-occurred_at", "-id"]
    readonly_fields = [f.name for f in ActivityEvent._meta.fields]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[ActivityEvent], search_term: str
    ) -> tuple[QuerySet[ActivityEvent], bool]:
        # Exact, on their indexes: "contains" read every event of the table when nothing matched.
        term = search_term.strip()
        return (queryset.filter(Q(event_id=term) | Q(order_ref=term)) if term else queryset), False

    @admin.display(description=_("kind"), ordering="kind")
    def kind_label(self, event: ActivityEvent) -> str:
        """The kind in the reader's language (the column keeps the code: registered kinds have no fixed choices)."""
        return kind_label(event.kind)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ActivityEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ActivityEvent | None = None) -> bool:
        return False


@admin.register(RegisteredActivityKind)
class RegisteredActivityKindAdmin(ServiceFormAdmin, HistoryAdmin, TranslationAdmin, ModelAdmin):
    """Kinds the brand reports beside the built-in ones; the ingest checks their properties against the schema."""

    list_display = ["code", "name", "is_active", "updated_at"]
    list_filter = ["is_active"]
    search_fields = ["code", "name"]
    fields = ["code", "name", "description", "properties_schema", "is_active"]

    def get_readonly_fields(self, request: HttpRequest, obj: RegisteredActivityKind | None = None) -> list[str]:
        return ["code"] if obj is not None else []

    def save_model(self, request: HttpRequest, obj: RegisteredActivityKind, form: Any, change: bool) -> None:
        activity_kind_save(kind=obj, actor=request.user)

    def has_delete_permission(self, request: HttpRequest, obj: RegisteredActivityKind | None = None) -> bool:
        return False  # stored events and rules name the kind: stop accepting it instead


@admin.register(RfmScore)
class RfmScoreAdmin(ModelAdmin):
    list_display = ["member", "segment", "recency", "frequency", "monetary", "purchases", "revenue", "last_purchase_day", "scored_at"]
    list_filter = [("segment", ChoicesDropdownFilter)]
    list_select_related = ["member"]
    readonly_fields = [f.name for f in RfmScore._meta.fields]
    ordering = ["-revenue", "member_id"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: RfmScore | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: RfmScore | None = None) -> bool:
        return False


def _member_list_url(f: selectors.MetricFilter, **extra: Any) -> str:
    params: dict[str, Any] = {}
    if f.tier_id:
        params["tier__id__exact"] = f.tier_id
    if f.city:
        params["city__istartswith"] = f.city
    if f.channel:
        params["source_channel__exact"] = f.channel
    params.update(extra)
    return reverse("admin:members_member_changelist") + ("?" + urlencode(params) if params else "")


def _chart(labels: list[Any], datasets: list[tuple[Any, list[Any]]]) -> str:
    return json.dumps(
        {
            "labels": [str(label) for label in labels],
            "datasets": [{"label": str(name), "data": [float(v or 0) for v in values]} for name, values in datasets],
        }
    )


# The theme's chart defaults hide the legend; these show it (and group the bars side by side).
CHART_OPTIONS = json.dumps(
    {
        "animation": False,
        "responsive": True,
        "maintainAspectRatio": False,
        "plugins": {"legend": {"display": True, "position": "bottom", "labels": {"usePointStyle": True, "boxWidth": 6, "boxHeight": 6}}},
        "datasets": {"line": {"pointStyle": False, "borderWidth": 2}, "bar": {"borderRadius": 4, "maxBarThickness": 24}},
        "scales": {"x": {"grid": {"display": False}}, "y": {"beginAtZero": True}},
    }
)


def _heat(rate: Any) -> str:
    """A background for a cohort cell: the higher the retention, the stronger the colour."""
    if rate is None:
        return ""
    alpha = min(1.0, float(rate) / 100) * 0.85 + 0.05
    return f"background-color: rgba(220, 38, 38, {alpha:.2f}); color: {'#fff' if alpha > 0.5 else 'inherit'}"


@admin.register(DailyMetric)
class AnalyticsDashboardAdmin(ModelAdmin):
    """The roll-up table is not browsed row by row: its list page is the analytics dashboard."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: DailyMetric | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: DailyMetric | None = None) -> bool:
        return False

    def get_urls(self) -> list[Any]:
        export = path("export/<slug:name>/", self.admin_site.admin_view(self.export_view), name="analytics_dashboard_export")
        return [export, *super().get_urls()]

    def _filter(self, request: HttpRequest) -> tuple[selectors.MetricFilter, str | None]:
        try:
            f = selectors.metric_filter_from(request.GET)
            if not can_see_pii(request):
                selectors.metric_filter_check_group(f=f)
        except ApplicationError as exc:
            return selectors.default_filter(), exc.message
        return f, None

    @replica_reads()
    def export_view(self, request: HttpRequest, name: str) -> HttpResponse:
        if not request.user.has_perm(DASHBOARD_PERMISSION):
            raise PermissionDenied
        if name not in selectors.FIGURES:
            raise Http404
        f, _error = self._filter(request)
        figure = selectors.figure(name=name, f=f)
        return export_response(
            request,
            filename=f"{name}-{f.start}-{f.end}.csv",
            header=[str(c) for c in figure.columns],
            rows=figure.rows,
            object_type=f"analytics.{name}",
        )

    @replica_reads()
    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if not request.user.has_perm(DASHBOARD_PERMISSION):
            raise PermissionDenied
        f, error = self._filter(request)
        figures = {name: selectors.figure(name=name, f=f) for name in selectors.FIGURES}
        daily, monthly, tiers = figures["daily"], figures["monthly"], figures["tiers"]
        query = urlencode(f.as_params())
        cohort_rows = []
        for row in figures["cohorts"].rows:
            cohort = row[0]
            next_month = (cohort + timedelta(days=32)).replace(day=1)
            link = _member_list_url(f, joined_at__gte=day_start(cohort).isoformat(), joined_at__lt=day_start(next_month).isoformat())
            cohort_rows.append({"cohort": cohort, "size": row[1], "link": link, "cells": [{"rate": r, "style": _heat(r)} for r in row[2:]]})
        largest_step = max((row[1] for row in figures["funnel"].rows), default=0) or 1
        context = {
            **self.admin_site.each_context(request),
            "title": _("Analytics"),
            "opts": self.model._meta,
            "f": f,
            "error": error,
            "query": query,
            "tiers": Tier.objects.order_by("rank"),
            "channels": SourceChannel.choices,
            "figures": figures,
            "headline": {**daily.headline, **monthly.headline},
            "active": figures["active"].headline,
            "nps": figures["nps"].headline,
            "points": figures["points"].headline,
            "events_headline": figures["events"].headline,
            "benefits_headline": figures["benefits"].headline,
            "daily_chart": _chart(
                [row[0].strftime("%m-%d") for row in daily.rows],
                [(_("DAU"), [r[1] for r in daily.rows]), (_("new members"), [r[2] for r in daily.rows])],
            ),
            "revenue_chart": _chart(
                [row[0].strftime("%Y-%m") for row in monthly.rows],
                [(_("MAU"), [r[1] for r in monthly.rows]), (_("purchasers"), [r[4] for r in monthly.rows])],
            ),
            "tier_chart": _chart([row[0] for row in tiers.rows], [(_("members"), [row[2] for row in tiers.rows])]),
            "movement_chart": _chart(
                [row[0].strftime("%Y-%m") for row in figures["tier_movements"].rows],
                [
                    (_("promotions"), [r[1] for r in figures["tier_movements"].rows]),
                    (_("demotions"), [r[2] for r in figures["tier_movements"].rows]),
                ],
            ),
            "tier_rows": [{"row": row, "link": _member_list_url(f, tier__id__exact=row[1])} for row in tiers.rows],
            "rfm_rows": [{"row": row, "link": _member_list_url(f, rfm_segment=row[1])} for row in figures["rfm"].rows],
            "funnel_rows": [{"row": row, "width": round(100 * row[1] / largest_step)} for row in figures["funnel"].rows],
            "funnel_link": _member_list_url(f),
            "chart_options": CHART_OPTIONS,
            "cohort_rows": cohort_rows,
            "cohort_columns": figures["cohorts"].columns[2:],
        }
        return TemplateResponse(request, "admin/analytics/dashboard.html", context)
