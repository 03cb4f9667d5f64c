"""The lifecycle back office: the journey analytics page (funnel, movements, lifecycle distribution and flows, dealer
league table, each with its CSV) and the one page of lifecycle thresholds."""

from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from apps.core.admin_base import ModelAdmin
from apps.core.errors import ApplicationError
from apps.core.exports import export_response
from apps.core.replicas import replica_reads
from apps.core.service_admin import ServiceFormAdmin
from apps.lifecycle import selectors, services
from apps.lifecycle.models import JourneyReport, LifecycleSettings

REPORT_PERMISSION = "lifecycle.view_journeyreport"


@admin.register(JourneyReport)
class JourneyReportAdmin(ModelAdmin):
    """No rows to browse: the list page is the journey analytics."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: JourneyReport | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: JourneyReport | None = None) -> bool:
        return False

    def get_urls(self) -> list[Any]:
        export = path("export/<slug:name>/", self.admin_site.admin_view(self.export_view), name="lifecycle_journey_export")
        return [export, *super().get_urls()]

    def _period(self, request: HttpRequest) -> tuple[selectors.Period, str | None]:
        try:
            return selectors.period_from(request.GET), None
        except ApplicationError as exc:
            return selectors.default_period(), exc.message

    @replica_reads()
    def export_view(self, request: HttpRequest, name: str) -> HttpResponse:
        if not request.user.has_perm(REPORT_PERMISSION):
            raise PermissionDenied
        if name not in selectors.FIGURES:
            raise Http404
        period, _error = self._period(request)
        figure = selectors.figure(name=name, period=period)
        return export_response(
            request,
            filename=f"{name}-{period.start}-{period.end}.csv",
            header=[str(column) for column in figure.columns],
            rows=figure.rows,
            object_type=f"lifecycle.{name}",
        )

    @replica_reads()
    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if not request.user.has_perm(REPORT_PERMISSION):
            raise PermissionDenied
        period, error = self._period(request)
        # The figures' statements (medians, date arithmetic) are PostgreSQL's; the embedded SQLite shows why there are none.
        on_postgresql = connection.vendor == "postgresql"
        if not on_postgresql:
            error = _("Journey analytics need PostgreSQL; this installation runs on the embedded SQLite database.")
        context = {
            **self.admin_site.each_context(request),
            "title": _("Journey analytics"),
            "opts": self.model._meta,
            "period": period,
            "error": error,
            "query": urlencode(period.as_params()),
            "dimensions": list(selectors.FUNNEL_DIMENSIONS.items()),
            "figures": {name: selectors.figure(name=name, period=period) for name in selectors.FIGURES} if on_postgresql else {},
            "can_change_thresholds": request.user.has_perm("lifecycle.change_lifecyclesettings"),
        }
        return TemplateResponse(request, "admin/lifecycle/journey_report.html", context)


@admin.register(LifecycleSettings)
class LifecycleSettingsAdmin(ServiceFormAdmin, ModelAdmin):
    """One row of thresholds: the list page opens it; saving goes through the service that checks them together."""

    fieldsets = [
        (_("New and mature"), {"fields": ["new_days", "mature_window_days", "mature_min_events", "mature_min_purchases"]}),
        (_("Dormant, churned and returned"), {"fields": ["dormant_days", "churned_days", "returned_days"]}),
        (_("Journey"), {"fields": ["advocate_service_visits"]}),
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: LifecycleSettings | None = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        return HttpResponseRedirect(reverse("admin:lifecycle_lifecyclesettings_change", args=[1]))

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> LifecycleSettings | None:
        # The defaults stand until staff first save: the page shows them without writing on a GET.
        return services.lifecycle_settings() if object_id == "1" else None

    def save_model(self, request: HttpRequest, obj: LifecycleSettings, form: Any, change: bool) -> None:
        services.lifecycle_settings_save(values={name: form.cleaned_data[name] for name in form.changed_data})

    def response_change(self, request: HttpRequest, obj: LifecycleSettings) -> HttpResponse:
        self.message_user(request, _("The lifecycle thresholds were saved; the next nightly staging uses them."))
        return HttpResponseRedirect(reverse("admin:lifecycle_lifecyclesettings_change", args=[1]))
