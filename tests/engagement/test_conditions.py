"""Segment conditions "has badge" and "completed task": one query, validated values, listed in the builder."""

import pytest

from apps.benefits import services as benefit_services
from apps.benefits.models import GrantSource
from apps.campaigns.selectors import rules_members, segment_builder_config
from apps.core.errors import ApplicationError
from apps.engagement import services
from tests.benefits.factories import BenefitFactory
from tests.engagement.factories import BadgeFactory, TaskFactory, activity
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db


def ids(rules) -> set[int]:
    return set(rules_members(rules=rules).values_list("pk", flat=True))


def test_has_badge_and_has_none_of_them():
    star, early = BadgeFactory(), BadgeFactory()
    holder, other_holder, nobody = MemberFactory(), MemberFactory(), MemberFactory()
    benefit_services.grant_issue(benefit=star, member=holder, source=GrantSource.STAFF)
    revoked = benefit_services.grant_issue(benefit=star, member=other_holder, source=GrantSource.STAFF)
    benefit_services.grant_revoke(grant=revoked, reason="given by mistake")
    benefit_services.grant_issue(benefit=early, member=other_holder, source=GrantSource.STAFF)
    assert ids({"field": "has_badge", "value": [str(star.pk)]}) == {holder.pk}
    assert ids({"field": "has_badge", "operator": "any", "value": [str(star.pk), str(early.pk)]}) == {holder.pk, other_holder.pk}
    assert nobody.pk in ids({"field": "has_badge", "operator": "none", "value": [str(star.pk)]})
    assert holder.pk not in ids({"field": "has_badge", "operator": "none", "value": [str(star.pk)]})


def test_completed_task():
    task = TaskFactory(code="attend-3", target=1)
    done, not_done = MemberFactory(), MemberFactory()
    services.task_progress_record([activity(done)])
    assert ids({"field": "completed_task", "value": ["attend-3"]}) == {done.pk}
    assert not_done.pk in ids({"field": "completed_task", "operator": "none", "value": ["attend-3"]})
    assert task.pk


@pytest.mark.parametrize(
    "rules",
    [
        {"field": "has_badge", "value": ["999999"]},
        {"field": "has_badge", "value": []},
        {"field": "completed_task", "value": ["no-such-task"]},
        {"field": "has_badge", "operator": "gte", "value": ["1"]},
    ],
)
def test_unknown_values_are_refused_naming_the_rule(rules):
    BadgeFactory()
    with pytest.raises(ApplicationError) as refused:
        list(rules_members(rules=rules))
    assert refused.value.code == "invalid_segment_rule"


def test_a_coupon_is_not_a_badge_value():
    coupon = BenefitFactory()
    with pytest.raises(ApplicationError):
        list(rules_members(rules={"field": "has_badge", "value": [str(coupon.pk)]}))


def test_the_segment_builder_offers_both_conditions_with_their_choices():
    badge = BadgeFactory(name="社区之星")
    TaskFactory(code="profile", title="Complete the profile")
    config = {entry["field"]: entry for entry in segment_builder_config(can_see_personal=True)}
    assert {"has_badge", "completed_task"} <= set(config)
    assert config["has_badge"]["choices"] == [[str(badge.pk), "社区之星"]]
    assert config["completed_task"]["choices"] == [["profile", "Complete the profile"]]
    assert [operator for operator, _label in config["has_badge"]["operators"]] == ["any", "none"]
