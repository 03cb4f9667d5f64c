"""The member app's feedback and surveys: a member reaches only their own items and their own survey links."""

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api.idempotency import idempotent
from apps.core.api.views import IDEMPOTENCY_HEADER
from apps.feedback import selectors, services
from apps.feedback.api import serializers as s
from apps.feedback.models import FeedbackCategory, FeedbackChannel, FeedbackItem, SurveyResponse
from apps.members.api.permissions import IsMember


def _detail(item: FeedbackItem) -> Response:
    return Response(s.FeedbackDetailSerializer(item, context={"replies": selectors.replies_for_member(item=item)}).data)


class CategoryListView(generics.ListAPIView):
    permission_classes = [IsMember]
    serializer_class = s.CategorySerializer
    filter_backends: list[Any] = []
    queryset = FeedbackCategory.objects.filter(is_active=True).order_by("name")

    @extend_schema(tags=["feedback"])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class MyFeedbackView(generics.ListAPIView):
    permission_classes = [IsMember]
    serializer_class = s.FeedbackSerializer
    filter_backends: list[Any] = []
    queryset = FeedbackItem.objects.none()

    def get_queryset(self) -> QuerySet[FeedbackItem]:
        return selectors.member_feedback(member=self.request.auth.member)

    @extend_schema(tags=["feedback"])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=s.FeedbackCreateSerializer, responses={201: s.FeedbackDetailSerializer}, parameters=[IDEMPOTENCY_HEADER], tags=["feedback"]
    )
    @idempotent(savepoint=False)  # feedback_create, an atomic service, is the only write
    def post(self, request: Request) -> Response:
        data = s.FeedbackCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = services.feedback_create(member=request.auth.member, channel=FeedbackChannel.MEMBER_APP, **data.validated_data)
        response = _detail(item)
        response.status_code = status.HTTP_201_CREATED
        return response


class MyFeedbackDetailView(generics.GenericAPIView):
    permission_classes = [IsMember]

    @extend_schema(responses=s.FeedbackDetailSerializer, tags=["feedback"])
    def get(self, request: Request, pk: int) -> Response:
        return _detail(selectors.member_feedback_get(member=request.auth.member, pk=pk))


class MyFeedbackReplyView(generics.GenericAPIView):
    permission_classes = [IsMember]

    @extend_schema(
        request=s.ReplyCreateSerializer, responses={201: s.FeedbackDetailSerializer}, parameters=[IDEMPOTENCY_HEADER], tags=["feedback"]
    )
    @idempotent(savepoint=False)  # feedback_reply, an atomic service, is the only write
    def post(self, request: Request, pk: int) -> Response:
        item = selectors.member_feedback_get(member=request.auth.member, pk=pk)
        data = s.ReplyCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.feedback_reply(item=item, member=request.auth.member, body=data.validated_data["body"])
        item.refresh_from_db()
        response = _detail(item)
        response.status_code = status.HTTP_201_CREATED
        return response


class MyFeedbackRateView(generics.GenericAPIView):
    permission_classes = [IsMember]

    @extend_schema(request=s.RateSerializer, responses=s.FeedbackDetailSerializer, parameters=[IDEMPOTENCY_HEADER], tags=["feedback"])
    @idempotent(savepoint=False)  # feedback_rate, an atomic service, is the only write
    def post(self, request: Request, pk: int) -> Response:
        item = selectors.member_feedback_get(member=request.auth.member, pk=pk)
        data = s.RateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rated = services.feedback_rate(item=item, member=request.auth.member, **data.validated_data)
        return _detail(rated)


class MySurveyView(generics.GenericAPIView):
    """The survey a signed link opens (GET) and the member's one answer to it (POST)."""

    permission_classes = [IsMember]

    @extend_schema(responses=s.SurveySerializer, tags=["surveys"])
    def get(self, request: Request, token: str) -> Response:
        survey = services.survey_for_link(token=token, member=request.auth.member)
        survey.answered = SurveyResponse.objects.filter(survey=survey, member=request.auth.member).exists()
        return Response(s.SurveySerializer(survey).data)

    @extend_schema(
        request=s.SurveyAnswerSerializer, responses={201: s.SurveyResponseSerializer}, parameters=[IDEMPOTENCY_HEADER], tags=["surveys"]
    )
    @idempotent(savepoint=False)  # survey_submit writes the answer and its activity in one atomic block
    def post(self, request: Request, token: str) -> Response:
        data = s.SurveyAnswerSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        response = services.survey_submit(token=token, member=request.auth.member, **data.validated_data)
        return Response(s.SurveyResponseSerializer(response).data, status=status.HTTP_201_CREATED)
