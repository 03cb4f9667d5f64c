from datetime import date

import pytest

from apps.campaigns import selectors, services
from apps.campaigns.conditions import compile_rules
from apps.core.errors import ApplicationError
from apps.members.models import ConsentChannel, MemberStatus
from apps.members.services import member_update_profile, points_earn
from tests.campaigns.factories import SegmentFactory
from tests.members.factories import ConsentFactory, MemberFactory, tier

pytestmark = pytest.mark.django_db


def ids(rules):
    return set(selectors.rules_members(rules=rules).values_list("pk", flat=True))


def test_conditions_and_groups_compile_to_one_query(django_assert_num_queries):
    gold_sh = MemberFactory(tier=tier("gold"), city="上海", birthday=date(1990, 5, 3))
    gold_bj = MemberFactory(tier=tier("gold"), city="北京")
    basic_sh = MemberFactory(city="上海")
    member_update_profile(member=gold_bj, tags=["车主", "VIP客户"])
    rules = {
        "op": "and",
        "conditions": [
            {"field": "tier", "value": ["gold"]},
            {"op": "or", "conditions": [{"field": "city", "value": ["上海"]}, {"field": "tags", "value": ["车主", "VIP客户"]}]},
        ],
    }
    with django_assert_num_queries(1):
        assert ids(rules) == {gold_sh.pk, gold_bj.pk}
    assert ids({"field": "tags", "operator": "none", "value": ["车主"]}) == {gold_sh.pk, basic_sh.pk}
    assert ids({"field": "birthday_month", "value": [5]}) == {gold_sh.pk}


def test_points_status_consent_and_join_conditions():
    rich = MemberFactory()
    points_earn(member=rich, amount=500, reason="test")
    frozen = MemberFactory(status=MemberStatus.FROZEN)
    ConsentFactory(member=frozen, channel=ConsentChannel.SMS, granted=True)
    ConsentFactory(member=rich, channel=ConsentChannel.SMS, granted=False)
    assert ids({"field": "points_balance", "operator": "gte", "value": 500}) == {rich.pk}
    assert ids({"field": "status", "value": ["frozen"]}) == {frozen.pk}
    assert ids({"field": "consent", "value": ["sms"]}) == {frozen.pk}
    assert ids({"field": "joined", "operator": "within_days", "value": 1}) == {rich.pk, frozen.pk}
    assert ids({"field": "joined", "operator": "before", "value": "2000-01-01"}) == set()


@pytest.mark.parametrize(
    ("rules", "path"),
    [
        ({"field": "shoe_size", "value": [42]}, "rules"),
        ({"op": "xor", "conditions": []}, "rules"),
        ({"op": "and", "conditions": [{"field": "status", "value": ["sleeping"]}]}, "rules.conditions[0].status"),
        ({"field": "points_balance", "operator": "between", "value": 1}, "rules"),
        ({"field": "joined", "operator": "after", "value": "yesterday"}, "rules.joined"),
    ],
)
def test_bad_rules_name_the_faulty_node(rules, path):
    with pytest.raises(ApplicationError) as exc:
        compile_rules(rules)
    assert exc.value.code == "invalid_segment_rule"
    assert exc.value.fields == {"rules": path}


def test_preview_counts_and_samples():
    MemberFactory.create_batch(3, city="杭州")
    preview = selectors.segment_preview(rules={"field": "city", "value": ["杭州"]}, can_see_personal=True, sample_size=2)
    assert preview["count"] == 3 and len(preview["sample"]) == 2


def test_freeze_snapshots_members_and_locks_the_rules():
    first = MemberFactory(city="成都")
    segment = SegmentFactory(rules={"field": "city", "value": ["成都"]})
    segment = services.segment_freeze(segment=segment)
    later = MemberFactory(city="成都")
    assert segment.frozen_count == 1
    assert list(selectors.segment_members(segment=segment)) == [first]
    segment.rules = {"field": "city", "value": ["上海"]}
    with pytest.raises(ApplicationError) as exc:
        services.segment_save(segment=segment)
    assert exc.value.code == "segment_frozen"
    with pytest.raises(ApplicationError):
        services.segment_freeze(segment=segment)
    services.segment_unfreeze(segment=segment)
    assert set(selectors.segment_members(segment=segment.__class__.objects.get(pk=segment.pk))) == {first, later}
