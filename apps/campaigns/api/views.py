from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.campaigns import services
from apps.campaigns.api import serializers as s
from apps.core.api.idempotency import idempotent
from apps.core.api.views import IDEMPOTENCY_HEADER, TrustedView
from apps.core.errors import ApplicationError
from apps.core.models import ApiScope
from apps.members.api.permissions import IsMember
from apps.members.selectors import member_get


class MyReferralCodeView(APIView):
    """The member app shows this code for the member to share."""

    permission_classes = [IsMember]

    @extend_schema(responses=s.ReferralCodeSerializer, tags=["me"])
    def get(self, request: Request) -> Response:
        code = services.referral_code_for(member=member_get(pk=request.auth.member_id))
        return Response({"code": code.code})


class ReferralAttachView(TrustedView):
    """Called by the enrolling system right after enrolment with the code the new member entered."""

    required_scopes = {"POST": (ApiScope.REFERRALS_WRITE,)}

    @extend_schema(
        request=s.ReferralAttachSerializer, responses={201: s.ReferralSerializer}, parameters=[IDEMPOTENCY_HEADER], tags=["referrals"]
    )
    @idempotent
    def post(self, request: Request) -> Response:
        data = s.ReferralAttachSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        referral = services.referral_attach(referee=member_get(pk=data.validated_data["referee"]), code=data.validated_data["code"])
        return Response(s.ReferralSerializer(referral).data, status=status.HTTP_201_CREATED)


class ReferralQualifyView(TrustedView):
    """Called when a referee does a qualifying action (first purchase, first event attended)."""

    required_scopes = {"POST": (ApiScope.REFERRALS_WRITE,)}

    @extend_schema(request=s.ReferralQualifySerializer, responses=s.ReferralSerializer, parameters=[IDEMPOTENCY_HEADER], tags=["referrals"])
    @idempotent
    def post(self, request: Request) -> Response:
        data = s.ReferralQualifySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        referral = services.referral_qualify(referee=member_get(pk=data.validated_data["referee"]), action=data.validated_data["action"])
        if referral is None:
            raise ApplicationError("not_referred", _("The member was not referred."), http_status=404)
        return Response(s.ReferralSerializer(referral).data)
