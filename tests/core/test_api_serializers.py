"""Answer serializers build their fields once per class: the answers are DRF's own, and instances share no field."""

import copy

import pytest
from rest_framework import serializers

from apps.benefits import services as benefit_services
from apps.benefits.api.serializers import BenefitSerializer, GrantSerializer, RedemptionSerializer
from apps.benefits.models import Grant
from apps.members import services
from apps.members.api.serializers import PointsEntrySerializer
from tests.benefits.factories import GrantFactory
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db


def _built_per_instance(serializer_class: type[serializers.ModelSerializer]) -> type[serializers.ModelSerializer]:
    """The same serializer as DRF builds it, fields introspected on every instance."""
    attrs = {**copy.deepcopy(serializer_class._declared_fields), "Meta": serializer_class.Meta}
    return type(f"Plain{serializer_class.__name__}", (serializers.ModelSerializer,), attrs)


def test_a_grant_s_answer_is_the_one_drf_builds_with_its_nested_benefit_and_redemption():
    grant = GrantFactory()
    services.points_earn(member=grant.member, amount=10, reason="Purchase")
    benefit_services.grant_redeem(code=grant.code, channel="pos", order_ref="POS-1")
    redeemed = Grant.objects.select_related("benefit", "redemption").get(pk=grant.pk)
    assert GrantSerializer(redeemed).data == _built_per_instance(GrantSerializer)(redeemed).data
    assert BenefitSerializer(redeemed.benefit).data == _built_per_instance(BenefitSerializer)(redeemed.benefit).data
    assert RedemptionSerializer(redeemed.redemption).data == _built_per_instance(RedemptionSerializer)(redeemed.redemption).data
    assert GrantSerializer(redeemed).data["redemption"]["order_ref"] == "POS-1"


def test_a_ledger_entry_s_answer_is_the_one_drf_builds():
    entry = services.points_earn(member=MemberFactory(), amount=10, reason="Purchase")
    assert PointsEntrySerializer(entry).data == _built_per_instance(PointsEntrySerializer)(entry).data


def test_each_instance_has_its_own_bound_fields():
    first, second = GrantSerializer(GrantFactory()), GrantSerializer(GrantFactory())
    assert first.fields["benefit"] is not second.fields["benefit"]
    assert first.fields["benefit"].parent is first and second.fields["benefit"].parent is second
    assert first.data["id"] != second.data["id"]
