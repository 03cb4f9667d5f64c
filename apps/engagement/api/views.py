import re
from datetime import date
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.errors import ApplicationError
from apps.engagement import selectors, services
from apps.engagement.api import serializers as s
from apps.engagement.windows import local_day
from apps.members import selectors as member_selectors
from apps.members.api.permissions import IsMember


class MyTasksView(APIView):
    permission_classes = [IsMember]

    @extend_schema(responses=s.TaskStandingSerializer(many=True), tags=["engagement"])
    def get(self, request: Request) -> Response:
        member = member_selectors.member_get(pk=request.auth.member_id)
        return Response(s.TaskStandingSerializer(selectors.member_tasks(member=member), many=True).data)


class MyBadgesView(APIView):
    permission_classes = [IsMember]

    @extend_schema(responses=s.BadgeSerializer(many=True), tags=["engagement"])
    def get(self, request: Request) -> Response:
        return Response(s.BadgeSerializer(selectors.member_badges(member=request.auth.member), many=True).data)


class SignInView(APIView):
    """Sign in for today: idempotent per local day (a second call answers the same and changes nothing)."""

    permission_classes = [IsMember]

    @extend_schema(request=None, responses={201: s.SignInSerializer, 200: s.SignInSerializer}, tags=["engagement"])
    def post(self, request: Request) -> Response:
        result = services.sign_in(member=request.auth.member)
        answer = s.SignInSerializer(result).data
        return Response(answer, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


# ASCII digits only: int() would also read full-width digits and padding spaces.
MONTH = re.compile(r"[0-9]{4}-[0-9]{2}")


def _month(raw: Any, today: date) -> date:
    if raw in (None, ""):
        return today.replace(day=1)
    try:
        if not MONTH.fullmatch(str(raw)):
            raise ValueError
        year, month = int(str(raw)[:4]), int(str(raw)[5:])
        if not 2000 <= year <= 2100:
            raise ValueError
        return date(year, month, 1)
    except ValueError:
        raise ApplicationError("invalid_month", _("Give the month as YYYY-MM, e.g. 2026-12."), fields={"month": str(raw)[:20]}) from None


class SignInCalendarView(APIView):
    permission_classes = [IsMember]

    @extend_schema(
        parameters=[OpenApiParameter("month", str, description="YYYY-MM; default: this month")],
        responses=s.CalendarSerializer,
        tags=["engagement"],
    )
    def get(self, request: Request) -> Response:
        month = _month(request.query_params.get("month"), local_day(timezone.now()))
        member = member_selectors.member_get(pk=request.auth.member_id)
        return Response(s.CalendarSerializer(selectors.sign_in_calendar(member=member, month=month)).data)
