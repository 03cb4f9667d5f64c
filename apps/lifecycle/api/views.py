from typing import Any

from django.db import connection
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api.permissions import IsTrustedClient
from apps.core.errors import ApplicationError
from apps.core.models import ApiClient, ApiScope, User
from apps.core.replicas import replica_reads
from apps.lifecycle import selectors

VIEW_PERMISSION = "lifecycle.view_journeyreport"


class CanReadJourneyMetrics(BasePermission):
    """An API client with the analytics:read scope, or a staff session whose role may open the journey analytics."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if isinstance(request.auth, ApiClient):
            return IsTrustedClient().has_permission(request, view)
        user = request.user
        return isinstance(user, User) and user.is_authenticated and user.is_staff and user.has_perm(VIEW_PERMISSION)


PERIOD_PARAMETERS = [
    OpenApiParameter("start", str, description="First local day, YYYY-MM-DD (default: the first day of the month five months ago)."),
    OpenApiParameter("end", str, description="Last local day, YYYY-MM-DD (default: today)."),
    OpenApiParameter("dimension", str, enum=list(selectors.FUNNEL_DIMENSIONS), description="What the funnel is split by."),
]


class JourneyMetricListView(APIView):
    permission_classes = [CanReadJourneyMetrics]
    required_scopes = {"GET": (ApiScope.ANALYTICS_READ,)}

    @extend_schema(operation_id="journey_metrics_list", responses={200: dict}, tags=["metrics"])
    def get(self, request: Request) -> Response:
        return Response({"metrics": sorted(selectors.FIGURES)})


class JourneyMetricView(APIView):
    permission_classes = [CanReadJourneyMetrics]
    required_scopes = {"GET": (ApiScope.ANALYTICS_READ,)}

    @extend_schema(operation_id="journey_metrics_figure", parameters=PERIOD_PARAMETERS, responses={200: dict}, tags=["metrics"])
    @replica_reads()
    def get(self, request: Request, name: str) -> Response:
        if name not in selectors.FIGURES:
            raise ApplicationError("metric_not_found", _("No such metric."), http_status=404)
        if connection.vendor != "postgresql":
            message = _("Journey analytics need PostgreSQL; this installation runs on the embedded SQLite database.")
            raise ApplicationError("postgresql_required", message, http_status=501)
        period = selectors.period_from(request.query_params)
        return Response(selectors.figure(name=name, period=period).as_json())
