"""Trusted systems register and manage their own webhook endpoints (scope ``webhooks:manage``).

A client sees and changes only the endpoints it registered; anyone else's answer 404, as if they did not exist. The
secret is in the answer that creates or rotates it, and never again.
"""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api.pagination import StandardPagination
from apps.core.api.views import TrustedView
from apps.core.models import ApiScope
from apps.webhooks import selectors, services
from apps.webhooks.api import serializers as s
from apps.webhooks.models import DeliveryStatus

SCOPE = (ApiScope.WEBHOOKS_MANAGE,)
TAGS = ["webhooks"]


class EndpointListView(TrustedView):
    required_scopes = {"GET": SCOPE, "POST": SCOPE}

    @extend_schema(operation_id="webhooks_endpoints_list", responses=s.EndpointPageSerializer, tags=TAGS)
    def get(self, request: Request) -> Response:
        paginator = StandardPagination()
        page = paginator.paginate_queryset(selectors.client_endpoints(client=request.auth), request, view=self)
        return paginator.get_paginated_response(s.EndpointSerializer(page, many=True).data)

    @extend_schema(request=s.EndpointInputSerializer, responses={201: s.EndpointWithSecretSerializer}, tags=TAGS)
    def post(self, request: Request) -> Response:
        data = s.EndpointInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint, _secret = services.endpoint_create(**data.validated_data, actor=None, api_client=request.auth)
        return Response(s.EndpointWithSecretSerializer(endpoint).data, status=status.HTTP_201_CREATED)


class EndpointDetailView(TrustedView):
    required_scopes = {"GET": SCOPE, "PATCH": SCOPE}

    @extend_schema(responses=s.EndpointSerializer, tags=TAGS)
    def get(self, request: Request, pk: int) -> Response:
        return Response(s.EndpointSerializer(selectors.client_endpoint_get(client=request.auth, pk=pk)).data)

    @extend_schema(
        request=s.EndpointInputSerializer(partial=True),
        responses=s.EndpointSerializer,
        tags=TAGS,
        description="Change any of the fields; `is_active: false` disables the endpoint (it gets no new events).",
    )
    def patch(self, request: Request, pk: int) -> Response:
        endpoint = selectors.client_endpoint_get(client=request.auth, pk=pk)
        data = s.EndpointInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        current = {field: getattr(endpoint, field) for field in ("name", "url", "event_types", "contact_email", "is_active")}
        endpoint = services.endpoint_update(endpoint=endpoint, **{**current, **data.validated_data}, actor=None)
        return Response(s.EndpointSerializer(endpoint).data)


class EndpointRotateSecretView(TrustedView):
    required_scopes = {"POST": SCOPE}

    @extend_schema(request=None, responses=s.SecretSerializer, tags=TAGS)
    def post(self, request: Request, pk: int) -> Response:
        endpoint = selectors.client_endpoint_get(client=request.auth, pk=pk)
        return Response({"secret": services.endpoint_rotate_secret(endpoint=endpoint, actor=None)})


class EndpointDeliveriesView(TrustedView):
    required_scopes = {"GET": SCOPE}

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=DeliveryStatus.values),
            OpenApiParameter("type", str, description="An event type, e.g. points.earned."),
        ],
        responses=s.DeliveryPageSerializer,
        tags=TAGS,
    )
    def get(self, request: Request, pk: int) -> Response:
        endpoint = selectors.client_endpoint_get(client=request.auth, pk=pk)
        filters = s.DeliveryFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        deliveries = selectors.client_endpoint_deliveries(
            client=request.auth, endpoint=endpoint, status=filters.validated_data["status"], event_type=filters.validated_data["type"]
        )
        paginator = StandardPagination()
        page = paginator.paginate_queryset(deliveries, request, view=self)
        return paginator.get_paginated_response(s.DeliverySerializer(page, many=True).data)


class DeliveryReplayView(TrustedView):
    required_scopes = {"POST": SCOPE}

    @extend_schema(
        request=None,
        responses={202: s.ReplaySerializer},
        tags=TAGS,
        description="Send the delivery's event again as a new delivery with the same event id.",
    )
    def post(self, request: Request, pk: int, delivery_pk: int) -> Response:
        endpoint = selectors.client_endpoint_get(client=request.auth, pk=pk)
        delivery = selectors.client_endpoint_delivery_get(client=request.auth, endpoint=endpoint, pk=delivery_pk)
        return Response({"replayed": services.deliveries_replay(delivery_ids=[delivery.pk], actor=None)}, status=status.HTTP_202_ACCEPTED)
