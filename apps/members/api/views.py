"""Thin views: validate input, call a service or a selector, serialize the answer."""

from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api.idempotency import idempotent
from apps.core.api.throttling import SharedScopedRateThrottle
from apps.core.api.views import IDEMPOTENCY_HEADER, TrustedView
from apps.core.errors import ApplicationError
from apps.core.models import AccessAction, ApiClient, ApiScope
from apps.core.services import access_log_record
from apps.members import selectors, services
from apps.members.api import serializers as s
from apps.members.api.permissions import CanHandleDataRequests, IsMember
from apps.members.filters import MemberFilter
from apps.members.models import Member, PointsEntry
from apps.members.phones import normalize_phone
from apps.members.timeline import decode_cursor, encode_cursor


def _points_answer(entry: PointsEntry, status_code: int = status.HTTP_201_CREATED) -> Response:
    body = {"entry": s.PointsEntrySerializer(entry).data, "balance": entry.balance_after}
    return Response(body, status=status_code)


def _member_from_identity(request: Request) -> Member:
    data = s.MemberTokenIssueSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    identity = dict(data.validated_data)
    if identity.get("phone"):
        identity["phone"] = normalize_phone(identity["phone"])
    return selectors.member_by_identity(**identity)


# Member self-service ----------------------------------------------------------------------------


class MyProfileView(APIView):
    permission_classes = [IsMember]

    @extend_schema(responses=s.MyProfileSerializer, tags=["me"])
    def get(self, request: Request) -> Response:
        return Response(s.MyProfileSerializer(selectors.member_get(pk=request.auth.member_id)).data)

    @extend_schema(request=s.MyProfileUpdateSerializer, responses=s.MyProfileSerializer, tags=["me"])
    def patch(self, request: Request) -> Response:
        data = s.MyProfileUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        member = services.member_update_profile(member=request.auth.member, **data.validated_data)
        return Response(s.MyProfileSerializer(selectors.member_get(pk=member.pk)).data)


class MyTierView(APIView):
    permission_classes = [IsMember]

    @extend_schema(responses=s.TierProgressSerializer, tags=["me"])
    def get(self, request: Request) -> Response:
        member = selectors.member_get(pk=request.auth.member_id)
        progress = selectors.member_tier_progress(member=member, guarantee_days=settings.USEROPS["TIER_GUARANTEE_DAYS"])
        return Response(s.TierProgressSerializer(progress).data)


class MySummaryView(APIView):
    """The customer profile for the member app: tier and progress, points with the next expiry, and the profile
    sections shown to members (staff-only ones, such as scores and tags, never are)."""

    permission_classes = [IsMember]

    @extend_schema(responses=s.MySummarySerializer, tags=["me"])
    def get(self, request: Request) -> Response:
        member = selectors.member_get(pk=request.auth.member_id)
        profile = selectors.member_profile(member=member, guarantee_days=settings.USEROPS["TIER_GUARANTEE_DAYS"])
        panels = selectors.member_profile_panels(member=member, for_member=True)
        body = {
            "id": member.pk,
            "name": member.name,
            "status": member.status,
            "tier": profile.tier,
            "progress_percent": profile.progress_percent,
            "points": profile.points,
            "sections": [{"name": panel.name, "label": panel.label, "value": panel.value} for panel in panels],
        }
        return Response(s.MySummarySerializer(body).data)


class MyTimelineView(APIView):
    """The member's own timeline, newest first, from the sources shown to members; paged by cursor (``older``)."""

    permission_classes = [IsMember]

    @extend_schema(
        parameters=[
            OpenApiParameter("before", str, description="The `older` cursor of the previous page."),
            OpenApiParameter("source", str, many=True, description="Only these sources (repeat the parameter)."),
            OpenApiParameter("limit", int, description="Items per page, 1-100 (25 by default)."),
        ],
        responses=s.TimelinePageSerializer,
        tags=["me"],
    )
    def get(self, request: Request) -> Response:
        sources = selectors.timeline_sources_for(for_member=True)
        query = s.TimelineQuerySerializer(data=request.query_params, sources=[source.name for source in sources])
        query.is_valid(raise_exception=True)
        chosen = [source for source in sources if not query.validated_data.get("source") or source.name in query.validated_data["source"]]
        before = decode_cursor(query.validated_data["before"]) if query.validated_data.get("before") else None
        member = selectors.member_get(pk=request.auth.member_id)
        page = selectors.member_timeline(member=member, sources=chosen, before=before, limit=query.validated_data["limit"])
        body = {
            "items": [
                {
                    "at": item.at,
                    "source": item.source,
                    "kind": item.kind,
                    "title": str(item.title),
                    "detail": str(item.detail),
                    "data": item.data,
                }
                for item in page.items
            ],
            "older": encode_cursor(page.older) if page.older else None,
        }
        return Response(s.TimelinePageSerializer(body).data)


class MyPointsView(APIView):
    permission_classes = [IsMember]

    @extend_schema(responses=s.PointsSummarySerializer, tags=["me"])
    def get(self, request: Request) -> Response:
        return Response(s.PointsSummarySerializer(selectors.member_points_summary(member=request.auth.member)).data)


class MyLedgerView(generics.ListAPIView):
    permission_classes = [IsMember]
    serializer_class = s.PointsEntrySerializer
    filter_backends: list[Any] = []

    @extend_schema(tags=["me"])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[PointsEntry]:
        return selectors.member_ledger(member=self.request.auth.member)


class MyConsentsView(APIView):
    permission_classes = [IsMember]

    @extend_schema(responses=s.ConsentsSerializer, tags=["me"])
    def get(self, request: Request) -> Response:
        return Response(s.consents_of(request.auth.member))

    @extend_schema(request=s.ConsentsSerializer, responses=s.ConsentsSerializer, tags=["me"])
    def put(self, request: Request) -> Response:
        data = s.ConsentsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        for channel, granted in data.validated_data.items():
            services.member_set_consent(member=request.auth.member, channel=channel, granted=granted, source="member_app")
        return Response(s.consents_of(request.auth.member))


class MyConsentsWithdrawView(APIView):
    """Withdraw marketing consent on every channel in one step."""

    permission_classes = [IsMember]

    @extend_schema(request=None, responses=s.ConsentsSerializer, tags=["me"])
    def post(self, request: Request) -> Response:
        services.member_withdraw_all_consents(member=request.auth.member, source="member_app")
        return Response(s.consents_of(request.auth.member))


class MyDataExportView(APIView):
    """Everything UserOps holds about the calling member, as JSON (PIPL access and portability)."""

    permission_classes = [IsMember]

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, tags=["me"])
    def get(self, request: Request) -> Response:
        data = services.member_data_export(member=request.auth.member)
        access_log_record(
            action=AccessAction.DATA_EXPORT,
            request=request,
            client=request.auth.client,
            object_type="members.member",
            object_id=request.auth.member_id,
            detail="member self-service",
        )
        return Response(data, headers={"Content-Disposition": f'attachment; filename="member-{request.auth.member_id}-data.json"'})


class MyTokenRevokeView(APIView):
    permission_classes = [IsMember]

    @extend_schema(request=None, responses={204: None}, tags=["me"])
    def post(self, request: Request) -> Response:
        services.member_tokens_revoke(member=request.auth.member, token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


# Trusted systems --------------------------------------------------------------------------------


# Enrolling and updating answer with the member's whole record (an enrolment may convert a prospect a lead made, an
# empty PATCH changes nothing): a key that may only write must not read members through them.
MEMBER_WRITE_SCOPES = (ApiScope.MEMBERS_WRITE, ApiScope.MEMBERS_READ)


class MemberListView(generics.ListAPIView, TrustedView):
    required_scopes = {"GET": (ApiScope.MEMBERS_READ,), "POST": MEMBER_WRITE_SCOPES}
    serializer_class = s.MemberSerializer
    filterset_class = MemberFilter
    queryset = Member.objects.none()

    def get_queryset(self) -> QuerySet[Member]:
        return Member.objects.select_related("tier", "points_account", "growth").prefetch_related("tags", "consents").order_by("-id")

    @extend_schema(tags=["members"])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(request=s.MemberEnrolSerializer, responses={201: s.MemberSerializer}, parameters=[IDEMPOTENCY_HEADER], tags=["members"])
    @idempotent
    def post(self, request: Request) -> Response:
        data = s.MemberEnrolSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        consents = fields.pop("consents", None)
        member = services.member_enrol(**fields, consents=consents)
        return Response(s.MemberSerializer(selectors.member_get(pk=member.pk)).data, status=status.HTTP_201_CREATED)


class MemberDetailView(TrustedView):
    required_scopes = {"GET": (ApiScope.MEMBERS_READ,), "PATCH": MEMBER_WRITE_SCOPES}

    @extend_schema(responses=s.MemberSerializer, tags=["members"])
    def get(self, request: Request, pk: int) -> Response:
        return Response(s.MemberSerializer(selectors.member_get(pk=pk)).data)

    @extend_schema(request=s.MemberProfileSerializer(partial=True), responses=s.MemberSerializer, tags=["members"])
    def patch(self, request: Request, pk: int) -> Response:
        data = s.MemberProfileSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.member_update_profile(member=selectors.member_get(pk=pk), **data.validated_data)
        return Response(s.MemberSerializer(selectors.member_get(pk=pk)).data)


class MemberPointsView(TrustedView):
    required_scopes = {"GET": (ApiScope.MEMBERS_READ,)}

    @extend_schema(responses=s.PointsSummarySerializer, tags=["points"])
    def get(self, request: Request, pk: int) -> Response:
        return Response(s.PointsSummarySerializer(selectors.member_points_summary(member=selectors.member_get(pk=pk))).data)


class MemberLedgerView(generics.ListAPIView, TrustedView):
    required_scopes = {"GET": (ApiScope.MEMBERS_READ,)}
    serializer_class = s.PointsEntrySerializer
    filter_backends: list[Any] = []

    @extend_schema(tags=["points"])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[PointsEntry]:
        return selectors.member_ledger(member=selectors.member_get(pk=self.kwargs["pk"]))


class PointsOperationView(TrustedView):
    """Earn or spend: validate with ``input_serializer``, call ``operation`` for the member, answer the entry.

    The operation (a ledger service that leaves nothing behind when it refuses) is the only write, so the idempotent
    handlers need no savepoint of their own.
    """

    required_scopes = {"POST": (ApiScope.POINTS_WRITE,)}
    input_serializer: type[serializers.Serializer]
    operation: Any

    def operate(self, request: Request, pk: int) -> Response:
        data = self.input_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        # The service locks the account with its member and answers 404 for an unknown id: no lookup before it.
        entry = type(self).operation(member=pk, client=request.auth, **data.validated_data)
        return _points_answer(entry)


class PointsEarnView(PointsOperationView):
    input_serializer = s.PointsEarnSerializer
    operation = services.points_earn

    @extend_schema(
        request=s.PointsEarnSerializer, responses={201: s.PointsOperationSerializer}, parameters=[IDEMPOTENCY_HEADER], tags=["points"]
    )
    @idempotent(savepoint=False)
    def post(self, request: Request, pk: int) -> Response:
        return self.operate(request, pk)


class PointsSpendView(PointsOperationView):
    input_serializer = s.PointsSpendSerializer
    operation = services.points_spend

    @extend_schema(
        request=s.PointsSpendSerializer, responses={201: s.PointsOperationSerializer}, parameters=[IDEMPOTENCY_HEADER], tags=["points"]
    )
    @idempotent(savepoint=False)
    def post(self, request: Request, pk: int) -> Response:
        return self.operate(request, pk)


class PointsReverseView(TrustedView):
    required_scopes = {"POST": (ApiScope.POINTS_WRITE,)}

    @extend_schema(
        request=s.PointsReverseSerializer, responses={201: s.PointsOperationSerializer}, parameters=[IDEMPOTENCY_HEADER], tags=["points"]
    )
    @idempotent
    def post(self, request: Request, entry_id: int) -> Response:
        data = s.PointsReverseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        entry = selectors.points_entry_get(pk=entry_id)
        reversal = services.points_reverse(entry=entry, client=request.auth, reason=data.validated_data["reason"])
        return _points_answer(reversal)


class MemberDataExportView(APIView):
    """A member's data export on their request, by staff or the brand's request-handling system."""

    permission_classes = [CanHandleDataRequests]

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, tags=["members"])
    def get(self, request: Request, pk: int) -> Response:
        member = selectors.member_get(pk=pk)
        data = services.member_data_export(member=member)
        access_log_record(action=AccessAction.DATA_EXPORT, request=request, object_type="members.member", object_id=member.pk)
        return Response(data)


class MemberAnonymiseView(APIView):
    """A deletion request: personal fields replaced for good, consents withdrawn, the member closed; the books stay."""

    permission_classes = [CanHandleDataRequests]

    @extend_schema(request=s.AnonymiseSerializer, responses={200: s.AnonymisedSerializer}, tags=["members"])
    def post(self, request: Request, pk: int) -> Response:
        data = s.AnonymiseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        actor = request.user if request.user.is_authenticated and not isinstance(request.auth, ApiClient) else None
        member = services.member_anonymise(member=selectors.member_get(pk=pk), reason=data.validated_data["reason"], actor=actor)
        access_log_record(
            action=AccessAction.ANONYMISE, request=request, object_type="members.member", object_id=member.pk, detail=member.status_reason
        )
        return Response(s.AnonymisedSerializer(member).data)


class MemberTokenIssueView(TrustedView):
    required_scopes = {"POST": (ApiScope.MEMBER_TOKENS,)}
    throttle_classes = [SharedScopedRateThrottle]
    throttle_scope = "member_token_issue"

    @extend_schema(
        request=s.MemberTokenIssueSerializer,
        responses={201: s.MemberTokenSerializer},
        tags=["auth"],
        description="An identity that names no member, a closed account or a prospect is one 404 `not_found` for a key "
        "without `members:read`; a key with it is told `member_closed` or `member_not_enrolled` (409).",
    )
    def post(self, request: Request) -> Response:
        member = _member_from_identity(request)
        token, raw = services.member_token_issue(
            member=member, client=request.auth, reveal_refusal=request.auth.has_scope(ApiScope.MEMBERS_READ)
        )
        body = {"token": raw, "member_id": member.pk, "expires_at": token.expires_at}
        return Response(s.MemberTokenSerializer(body).data, status=status.HTTP_201_CREATED)


class MemberTokenRevokeView(TrustedView):
    required_scopes = {"POST": (ApiScope.MEMBER_TOKENS,)}

    @extend_schema(
        request=s.MemberTokenIssueSerializer,
        responses={200: None},
        tags=["auth"],
        description="A key without `members:read` gets the same answer whatever the identity names (no member, or a "
        "member with or without live tokens); a key with it is told how many tokens were revoked, and 404 for no member.",
    )
    def post(self, request: Request) -> Response:
        if request.auth.has_scope(ApiScope.MEMBERS_READ):
            revoked = services.member_tokens_revoke(member=_member_from_identity(request))
            return Response({"revoked": revoked, "detail": _("Tokens revoked.")})
        try:
            services.member_tokens_revoke(member=_member_from_identity(request))
        except ApplicationError as exc:
            if exc.code != "not_found":
                raise
        return Response({"detail": _("Tokens revoked.")})
