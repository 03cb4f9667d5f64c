"""Trusted systems (the member app's backend, the mini-program's server, the WeCom sidebar) tell us where a member is
reached. Setting an identity is naturally idempotent: the same request again answers 200 and changes nothing."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api.idempotency import idempotent
from apps.core.api.views import IDEMPOTENCY_HEADER, TrustedView
from apps.core.models import ApiScope
from apps.identities import selectors, services
from apps.identities.api import serializers as s
from apps.members.selectors import member_get

SCOPE = (ApiScope.IDENTITIES_WRITE,)


class MemberIdentitiesView(TrustedView):
    required_scopes = {"GET": SCOPE, "POST": SCOPE}

    @extend_schema(responses=s.IdentitySerializer(many=True), tags=["identities"])
    def get(self, request: Request, pk: int) -> Response:
        member = member_get(pk=pk)
        return Response(s.IdentitySerializer(selectors.member_identities(member_id=member.pk), many=True).data)

    @extend_schema(request=s.IdentityInputSerializer, responses={200: s.IdentitySerializer, 201: s.IdentitySerializer}, tags=["identities"])
    def post(self, request: Request, pk: int) -> Response:
        data = s.IdentityInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        identity, created = services.identity_set(member_id=pk, adviser_id=values.pop("adviser"), source="api", **values)
        return Response(s.IdentitySerializer(identity).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class MemberIdentityRemoveView(TrustedView):
    required_scopes = {"POST": SCOPE}

    @extend_schema(request=s.IdentityRemoveSerializer, responses={204: None}, tags=["identities"])
    def post(self, request: Request, pk: int) -> Response:
        data = s.IdentityRemoveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        member = member_get(pk=pk)
        services.identity_remove(member_id=member.pk, **data.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MemberSubscriptionsView(TrustedView):
    required_scopes = {"GET": SCOPE, "POST": SCOPE}

    @extend_schema(responses=s.SubscriptionSerializer(many=True), tags=["identities"])
    def get(self, request: Request, pk: int) -> Response:
        member = member_get(pk=pk)
        return Response(s.SubscriptionSerializer(selectors.member_subscriptions(member_id=member.pk), many=True).data)

    @extend_schema(
        request=s.SubscriptionInputSerializer,
        responses={201: s.SubscriptionSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        tags=["identities"],
    )
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        data = s.SubscriptionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        quota = services.subscription_grant(member_id=pk, **data.validated_data)
        return Response(s.SubscriptionSerializer(quota).data, status=status.HTTP_201_CREATED)
