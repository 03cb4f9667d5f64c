from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.benefits import selectors, services
from apps.benefits.api import serializers as s
from apps.benefits.filters import GrantFilter
from apps.benefits.models import Grant
from apps.core.api.idempotency import idempotent
from apps.core.api.throttling import SharedScopedRateThrottle
from apps.core.api.views import IDEMPOTENCY_HEADER, TrustedView
from apps.core.models import ApiScope
from apps.members import selectors as member_selectors
from apps.members.api.permissions import IsMember


class MyGrantsView(generics.ListAPIView):
    permission_classes = [IsMember]
    serializer_class = s.GrantSerializer
    filterset_class = GrantFilter
    queryset = Grant.objects.none()

    def get_queryset(self) -> QuerySet[Grant]:
        return selectors.member_grants(member=self.request.auth.member)

    @extend_schema(tags=["benefits"])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class MallView(APIView):
    permission_classes = [IsMember]

    @extend_schema(responses=s.MallOfferSerializer(many=True), tags=["benefits"])
    def get(self, request: Request) -> Response:
        member = member_selectors.member_get(pk=request.auth.member_id)
        balance = member.points_account.balance
        offers = selectors.mall_offers(member=member)
        return Response(s.MallOfferSerializer(offers, many=True, context={"balance": balance}).data)


class MallExchangeView(APIView):
    permission_classes = [IsMember]

    @extend_schema(request=None, responses={201: s.GrantSerializer}, parameters=[IDEMPOTENCY_HEADER], tags=["benefits"])
    @idempotent
    def post(self, request: Request, benefit_id: int) -> Response:
        grant = services.mall_exchange(member=request.auth.member, benefit=selectors.benefit_get(pk=benefit_id))
        return Response(s.GrantSerializer(grant).data, status=status.HTTP_201_CREATED)


class GrantLookupView(TrustedView):
    required_scopes = {"GET": (ApiScope.BENEFITS_REDEEM,)}

    @extend_schema(parameters=[OpenApiParameter("code", str, required=True)], responses=s.GrantSerializer, tags=["benefits"])
    def get(self, request: Request) -> Response:
        return Response(s.GrantSerializer(selectors.grant_by_code(code=request.query_params.get("code", ""))).data)


class GrantRedeemView(TrustedView):
    required_scopes = {"POST": (ApiScope.BENEFITS_REDEEM,)}
    throttle_classes = [SharedScopedRateThrottle]
    throttle_scope = "redeem"

    @extend_schema(request=s.RedeemSerializer, responses={201: s.GrantSerializer}, parameters=[IDEMPOTENCY_HEADER], tags=["benefits"])
    @idempotent(savepoint=False)  # grant_redeem, which refuses before it writes, is the only write
    def post(self, request: Request) -> Response:
        data = s.RedeemSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        member = member_selectors.member_get(pk=fields["member_id"]) if fields.get("member_id") else None
        redemption = services.grant_redeem(
            code=fields["code"],
            member=member,
            channel=fields["channel"],
            order_ref=fields["order_ref"],
            client=request.auth,
        )
        return Response(s.GrantSerializer(redemption.grant).data, status=status.HTTP_201_CREATED)


class GrantCreateView(TrustedView):
    required_scopes = {"POST": (ApiScope.BENEFITS_GRANT,)}

    @extend_schema(request=s.GrantCreateSerializer, responses={201: s.GrantSerializer}, parameters=[IDEMPOTENCY_HEADER], tags=["benefits"])
    @idempotent
    def post(self, request: Request) -> Response:
        data = s.GrantCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        grant = services.grant_issue(
            benefit=selectors.benefit_get(pk=data.validated_data["benefit_id"]),
            member=member_selectors.member_get(pk=data.validated_data["member_id"]),
            source=data.validated_data["source"],
            source_ref=data.validated_data["source_ref"],
            client=request.auth,
        )
        return Response(s.GrantSerializer(grant).data, status=status.HTTP_201_CREATED)
