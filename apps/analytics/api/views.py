from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.analytics import selectors, services
from apps.analytics.api import serializers as s
from apps.core.api.idempotency import idempotent
from apps.core.api.permissions import IsTrustedClient
from apps.core.api.views import IDEMPOTENCY_HEADER, TrustedView
from apps.core.errors import ApplicationError
from apps.core.models import ApiClient, ApiScope, User
from apps.core.replicas import replica_reads

VIEW_PERMISSION = "analytics.view_dailymetric"
PII_PERMISSION = "members.view_member_pii"


class CanReadMetrics(BasePermission):
    """An API client with the analytics:read scope, or a staff session whose role may view analytics."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if isinstance(request.auth, ApiClient):
            return IsTrustedClient().has_permission(request, view)
        user = request.user
        return isinstance(user, User) and user.is_authenticated and user.is_staff and user.has_perm(VIEW_PERMISSION)


def _may_read_personal_data(request: Request) -> bool:
    if isinstance(request.auth, ApiClient):
        return request.auth.has_scope(ApiScope.MEMBERS_READ)
    return request.user.has_perm(PII_PERMISSION)


class ActivityBatchView(TrustedView):
    required_scopes = {"POST": (ApiScope.ACTIVITY_WRITE,)}

    @extend_schema(
        request=s.ActivityBatchSerializer,
        responses={200: s.ActivityBatchResultSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        tags=["activity"],
        description="Up to 1,000 events; each is validated on its own (invalid ones are listed with index, field and reason, "
        "valid ones are stored). An event id already stored for this caller is a duplicate and changes nothing; "
        "a new purchase earns points and growth value.",
    )
    @idempotent
    def post(self, request: Request) -> Response:
        events = request.data.get("events") if isinstance(request.data, dict) else None
        result = services.activity_ingest_batch(items=events, client=request.auth)
        return Response(result.as_dict())


FILTER_PARAMETERS = [
    OpenApiParameter("start", str, description="First local day, YYYY-MM-DD (default: 89 days before end)."),
    OpenApiParameter("end", str, description="Last local day, YYYY-MM-DD (default: today)."),
    OpenApiParameter("tier", int, description="Tier id."),
    OpenApiParameter("city", str),
    OpenApiParameter("channel", str, description="Members' source channel."),
]
SLICE_RULE = (
    "A caller that may not read members (a key without `members:read`, staff without the personal-data right) is refused "
    "a tier/city/channel slice of fewer than 5 enrolled members, or one that leaves 1 to 4 members of a wider slice "
    "outside it: 400 `group_too_small`."
)


class MetricListView(APIView):
    permission_classes = [CanReadMetrics]
    required_scopes = {"GET": (ApiScope.ANALYTICS_READ,)}

    @extend_schema(operation_id="metrics_list", responses={200: dict}, tags=["metrics"])
    def get(self, request: Request) -> Response:
        return Response({"metrics": sorted(selectors.FIGURES)})


class MetricView(APIView):
    permission_classes = [CanReadMetrics]
    required_scopes = {"GET": (ApiScope.ANALYTICS_READ,)}

    @extend_schema(
        operation_id="metrics_figure",
        parameters=FILTER_PARAMETERS,
        responses={200: s.FigureSerializer},
        tags=["metrics"],
        description=SLICE_RULE,
    )
    @replica_reads()
    def get(self, request: Request, name: str) -> Response:
        if name not in selectors.FIGURES:
            raise ApplicationError("metric_not_found", _("No such metric."), http_status=404)
        f = selectors.metric_filter_from(request.query_params)
        if not _may_read_personal_data(request):
            selectors.metric_filter_check_group(f=f)
        return Response(selectors.figure(name=name, f=f).as_json())
