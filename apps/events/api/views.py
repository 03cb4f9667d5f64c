from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api.idempotency import idempotent
from apps.core.api.views import IDEMPOTENCY_HEADER, TrustedView
from apps.core.models import ApiScope
from apps.events import selectors, services
from apps.events.api import serializers as s
from apps.events.filters import EventFilter
from apps.events.models import Event, Registration
from apps.members.api.permissions import IsMember


class EventListView(generics.ListAPIView):
    permission_classes = [IsMember]
    serializer_class = s.EventSerializer
    filterset_class = EventFilter
    queryset = Event.objects.none()

    def get_queryset(self) -> QuerySet[Event]:
        return selectors.public_events()

    @extend_schema(tags=["events"])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class EventDetailView(generics.GenericAPIView):
    permission_classes = [IsMember]

    @extend_schema(responses=s.EventSerializer, tags=["events"])
    def get(self, request: Request, pk: int) -> Response:
        return Response(s.EventSerializer(selectors.public_event_get(pk=pk)).data)


class RegisterView(generics.GenericAPIView):
    permission_classes = [IsMember]

    @extend_schema(
        request=s.RegisterSerializer, responses={201: s.RegistrationSerializer}, parameters=[IDEMPOTENCY_HEADER], tags=["events"]
    )
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        data = s.RegisterSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        registration = services.registration_create(
            event=selectors.public_event_get(pk=pk), member=request.auth.member, companions=data.validated_data["companions"]
        )
        return Response(s.RegistrationSerializer(registration).data, status=status.HTTP_201_CREATED)


class MyRegistrationsView(generics.ListAPIView):
    permission_classes = [IsMember]
    serializer_class = s.RegistrationSerializer
    filter_backends: list[Any] = []
    queryset = Registration.objects.none()

    def get_queryset(self) -> QuerySet[Registration]:
        return selectors.member_registrations(member=self.request.auth.member)

    @extend_schema(tags=["events"])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class MyRegistrationDetailView(generics.GenericAPIView):
    permission_classes = [IsMember]

    @extend_schema(responses=s.RegistrationSerializer, tags=["events"])
    def get(self, request: Request, pk: int) -> Response:
        return Response(s.RegistrationSerializer(selectors.member_registration_get(member=request.auth.member, pk=pk)).data)


class CancelRegistrationView(generics.GenericAPIView):
    permission_classes = [IsMember]

    @extend_schema(request=None, responses=s.RegistrationSerializer, parameters=[IDEMPOTENCY_HEADER], tags=["events"])
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        registration = selectors.member_registration_get(member=request.auth.member, pk=pk)
        services.registration_cancel(registration=registration)
        registration.refresh_from_db()
        return Response(s.RegistrationSerializer(registration).data)


class CheckInView(TrustedView):
    required_scopes = {"POST": (ApiScope.EVENTS_CHECKIN,)}

    @extend_schema(request=s.CheckInSerializer, responses=s.CheckInResultSerializer, parameters=[IDEMPOTENCY_HEADER], tags=["events"])
    @idempotent
    def post(self, request: Request) -> Response:
        data = s.CheckInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        event = selectors.public_event_get(pk=data.validated_data["event_id"]) if data.validated_data.get("event_id") else None
        result = services.registration_check_in(ticket=data.validated_data["ticket"], event=event, client=request.auth)
        return Response(s.CheckInResultSerializer(check_in_answer(result)).data)


def check_in_answer(result: services.CheckIn) -> dict[str, Any]:
    registration = result.registration
    at = timezone.localtime(registration.checked_in_at).strftime("%Y-%m-%d %H:%M")
    message = (
        _("Already checked in at %(at)s.") % {"at": at}
        if result.already
        else _("Welcome, %(name)s (+%(companions)d).") % {"name": registration.member.name, "companions": registration.companions}
    )
    return {
        "already_checked_in": result.already,
        "checked_in_at": registration.checked_in_at,
        "member_name": registration.member.name,
        "companions": registration.companions,
        "message": message,
    }
