"""Earning rules for a trusted system (scope ``rules:manage``): list, read, create, change, switch on and off, the
30-day simulation and "why did (or didn't) this member earn". The views call the services and selectors the back
office calls; a refused change names the field at fault. Rules are the programme's, not the caller's: every client
with the scope sees and changes all of them, so the scope is for the brand's own systems and trusted partners."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api.pagination import StandardPagination
from apps.core.api.views import TrustedView
from apps.core.models import ApiScope
from apps.rules import selectors, services
from apps.rules.api import serializers as s
from apps.rules.models import EarningRule, RuleStatus

SCOPE = (ApiScope.RULES_MANAGE,)
TAGS = ["earning rules"]


def _save(rule: EarningRule, data: dict) -> EarningRule:
    tiers, tags, multipliers = data.pop("tiers", None), data.pop("tags", None), data.pop("multipliers", None)
    for name, value in data.items():
        setattr(rule, name, value)
    saved = services.rule_save(
        rule=rule,
        tiers=tiers,
        tags=tags,
        multipliers=None if multipliers is None else [services.Multiplier(m["tier"].pk, m["multiplier"]) for m in multipliers],
    )
    return selectors.rule_get(pk=saved.pk)


class RuleListView(TrustedView):
    required_scopes = {"GET": SCOPE, "POST": SCOPE}

    @extend_schema(
        operation_id="rules_list",
        parameters=[OpenApiParameter("status", str, enum=RuleStatus.values), OpenApiParameter("kind", str)],
        responses=s.RulePageSerializer,
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        filters = s.RuleFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        paginator = StandardPagination()
        page = paginator.paginate_queryset(selectors.rules_list(**filters.validated_data), request, view=self)
        return paginator.get_paginated_response(s.RuleSerializer(page, many=True).data)

    @extend_schema(request=s.RuleInputSerializer, responses={201: s.RuleSerializer}, tags=TAGS, description="A new rule is a draft.")
    def post(self, request: Request) -> Response:
        data = s.RuleInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(s.RuleSerializer(_save(EarningRule(), dict(data.validated_data))).data, status=status.HTTP_201_CREATED)


class RuleDetailView(TrustedView):
    required_scopes = {"GET": SCOPE, "PATCH": SCOPE}

    @extend_schema(responses=s.RuleSerializer, tags=TAGS)
    def get(self, request: Request, pk: int) -> Response:
        return Response(s.RuleSerializer(selectors.rule_get(pk=pk)).data)

    @extend_schema(
        request=s.RuleInputSerializer(partial=True),
        responses=s.RuleSerializer,
        tags=TAGS,
        description="Change any of the fields (not of an ended rule); the status changes through activate and pause.",
    )
    def patch(self, request: Request, pk: int) -> Response:
        rule = selectors.rule_get(pk=pk)
        data = s.RuleInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        return Response(s.RuleSerializer(_save(rule, dict(data.validated_data))).data)


class RuleActivateView(TrustedView):
    required_scopes = {"POST": SCOPE}

    @extend_schema(request=None, responses=s.RuleSerializer, tags=TAGS, description="Switch a draft or paused rule on.")
    def post(self, request: Request, pk: int) -> Response:
        rule = services.rule_activate(rule=selectors.rule_get(pk=pk))
        return Response(s.RuleSerializer(selectors.rule_get(pk=rule.pk)).data)


class RulePauseView(TrustedView):
    required_scopes = {"POST": SCOPE}

    @extend_schema(request=None, responses=s.RuleSerializer, tags=TAGS, description="Switch an active rule off (activate: on again).")
    def post(self, request: Request, pk: int) -> Response:
        rule = services.rule_pause(rule=selectors.rule_get(pk=pk))
        return Response(s.RuleSerializer(selectors.rule_get(pk=rule.pk)).data)


class RuleSimulationView(TrustedView):
    required_scopes = {"GET": SCOPE}

    @extend_schema(
        parameters=[OpenApiParameter("days", int, description="1 to 90; default 30.")],
        responses=s.SimulationSerializer,
        tags=TAGS,
        description="What the rule would have paid over the last days of stored activity, had it been active.",
    )
    def get(self, request: Request, pk: int) -> Response:
        query = s.SimulationQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        result = selectors.rule_simulate(rule=selectors.rule_get(pk=pk), days=query.validated_data["days"])
        return Response(s.SimulationSerializer(result).data)


class EarningExplainView(TrustedView):
    # A verdict tells the member's tier, tags, segments, status and activity: member data, as members:read reads it.
    required_scopes = {"GET": (*SCOPE, ApiScope.MEMBERS_READ)}

    @extend_schema(
        parameters=[OpenApiParameter("member", int, required=True), OpenApiParameter("activity", int, required=True)],
        responses=s.VerdictSerializer(many=True),
        tags=TAGS,
        description="For one member and one of their activities, every rule of its kind but drafts, in the order they apply. "
        "Needs `members:read` as well as `rules:manage`.",
    )
    def get(self, request: Request) -> Response:
        query = s.ExplainQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        ids = query.validated_data
        member, activity = selectors.member_activity_get(member_id=ids["member"], activity_id=ids["activity"])
        return Response(s.VerdictSerializer(selectors.earning_explain(member=member, activity=activity), many=True).data)
