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
from apps.events.filters import ClubFilter, EventFilter
from apps.events.models import Club, ClubJoinRequest, ClubMembership, Event, Registration
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


# Clubs ------------------------------------------------------------------------------------------


class ClubListView(generics.ListAPIView):
    permission_classes = [IsMember]
    serializer_class = s.ClubListSerializer
    filterset_class = ClubFilter
    queryset = Club.objects.none()

    def get_queryset(self) -> QuerySet[Club]:
        return selectors.public_clubs()

    @extend_schema(tags=["clubs"])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ClubDetailView(generics.GenericAPIView):
    permission_classes = [IsMember]

    @extend_schema(responses=s.ClubDetailSerializer, tags=["clubs"])
    def get(self, request: Request, pk: int) -> Response:
        club = selectors.club_get(pk=pk)
        return Response(s.ClubDetailSerializer(club, context={"member": request.auth.member}).data)


def _result(state: str, club: Club, membership: ClubMembership | None = None, join_request: ClubJoinRequest | None = None) -> Response:
    body = {
        "state": state,
        "club": club.pk,
        "membership": s.MyClubSerializer(membership).data if membership else None,
        "request_id": join_request.pk if join_request else None,
    }
    return Response(s.JoinResultSerializer(body).data)


class ClubJoinView(generics.GenericAPIView):
    permission_classes = [IsMember]

    @extend_schema(request=s.ClubJoinInputSerializer, responses=s.JoinResultSerializer, parameters=[IDEMPOTENCY_HEADER], tags=["clubs"])
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        data = s.ClubJoinInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        club = selectors.club_get(pk=pk)
        outcome = services.club_join_request(club=club, member=request.auth.member, message=data.validated_data["message"])
        return _result(outcome.state, club, outcome.membership, outcome.request)


class ClubLeaveView(generics.GenericAPIView):
    permission_classes = [IsMember]

    @extend_schema(request=None, responses=s.JoinResultSerializer, parameters=[IDEMPOTENCY_HEADER], tags=["clubs"])
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        club = selectors.club_get(pk=pk)
        left = services.club_leave(club=club, member=request.auth.member)
        if isinstance(left, ClubMembership):
            return _result("left", club, left)
        return _result("withdrawn", club, join_request=left)


class MyClubsView(generics.ListAPIView):
    permission_classes = [IsMember]
    serializer_class = s.MyClubSerializer
    filter_backends: list[Any] = []
    queryset = ClubMembership.objects.none()

    def get_queryset(self) -> QuerySet[ClubMembership]:
        return selectors.member_memberships(member=self.request.auth.member)

    @extend_schema(tags=["clubs"])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class OrganiserRequestsView(generics.ListAPIView):
    """Pending join requests of a club the member organises (any other club is a 404)."""

    permission_classes = [IsMember]
    serializer_class = s.JoinRequestSerializer
    filter_backends: list[Any] = []
    queryset = ClubJoinRequest.objects.none()

    def get_queryset(self) -> QuerySet[ClubJoinRequest]:
        club = selectors.organised_club_get(member=self.request.auth.member, pk=self.kwargs["pk"])
        return selectors.pending_requests(club=club)

    @extend_schema(tags=["clubs"])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class OrganiserApproveView(generics.GenericAPIView):
    permission_classes = [IsMember]

    @extend_schema(request=None, responses=s.JoinRequestSerializer, parameters=[IDEMPOTENCY_HEADER], tags=["clubs"])
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        organiser = request.auth.member
        join_request = selectors.organiser_join_request_get(member=organiser, pk=pk)
        services.club_join_approve(join_request=join_request, organiser=organiser)
        join_request.refresh_from_db()
        return Response(s.JoinRequestSerializer(join_request).data)


class OrganiserDeclineView(generics.GenericAPIView):
    permission_classes = [IsMember]

    @extend_schema(request=s.DeclineSerializer, responses=s.JoinRequestSerializer, parameters=[IDEMPOTENCY_HEADER], tags=["clubs"])
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        organiser = request.auth.member
        join_request = selectors.organiser_join_request_get(member=organiser, pk=pk)
        data = s.DeclineSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        join_request = services.club_join_decline(join_request=join_request, organiser=organiser, reason=data.validated_data["reason"])
        return Response(s.JoinRequestSerializer(join_request).data)
