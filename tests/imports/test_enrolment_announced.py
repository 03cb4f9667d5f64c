"""Imported members are announced as enrolled, set-based, with their own enrolment date; rewarded only on request."""

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.analytics.models import OWN_SOURCE, ActivityEvent, ActivityEventKey
from apps.core.activity import AnnouncedActivity, activities_announce
from apps.core.errors import ApplicationError
from apps.imports import services
from apps.members.models import Member, PointsAccount
from apps.rules.models import RuleAward
from tests.imports.files import CHINESE_HEADER, write_csv
from tests.members.factories import MemberFactory
from tests.rules.factories import EarningRuleFactory

pytestmark = pytest.mark.django_db

ROWS = [
    ["CRM1", "张伟", "+86 138 0013 8000", "", "上海", "2024-03-05", "", "", "", ""],
    ["CRM2", "Emma Chen", "138-0013-8001", "", "杭州", "2023-11-20", "", "", "", ""],
    ["CRM3", "李娜", "8613800138002", "", "北京", "", "", "", "", ""],
]


@pytest.fixture
def welcome_rule():
    return EarningRuleFactory(kind="enrolment", points=100, growth=10)


def enrolments():
    return {e.member.external_id: e for e in ActivityEvent.objects.filter(kind="enrolment").select_related("member")}


def test_a_migration_records_each_enrolment_on_its_date_and_rewards_nothing(tmp_path, welcome_rule):
    summary = services.import_file(path=write_csv(tmp_path / "m.csv", [CHINESE_HEADER, *ROWS]))
    assert summary.created == 3
    events = enrolments()
    assert set(events) == {"CRM1", "CRM2", "CRM3"}
    crm1 = Member.objects.get(external_id="CRM1")
    assert events["CRM1"].occurred_at == crm1.joined_at and crm1.joined_at.date() == dt.date(2024, 3, 5)
    assert events["CRM2"].occurred_at.date() == dt.date(2023, 11, 20)
    assert events["CRM1"].event_id == f"enrolment:{crm1.pk}"
    assert not RuleAward.objects.exists()
    assert set(PointsAccount.objects.values_list("balance", flat=True)) == {0}


def test_new_enrolments_earn_the_welcome_rules(tmp_path, welcome_rule):
    services.import_file(path=write_csv(tmp_path / "m.csv", [CHINESE_HEADER, *ROWS]), welcome_rewards=True)
    assert RuleAward.objects.filter(rule=welcome_rule).count() == 3
    assert set(PointsAccount.objects.values_list("balance", flat=True)) == {100}


def test_a_rerun_announces_nobody_twice(tmp_path, welcome_rule):
    path = write_csv(tmp_path / "m.csv", [CHINESE_HEADER, *ROWS])
    services.import_file(path=path, welcome_rewards=True)
    again = services.import_file(path=path, welcome_rewards=True)
    assert again.created == 0 and ActivityEvent.objects.filter(kind="enrolment").count() == 3
    assert RuleAward.objects.count() == 3 and set(PointsAccount.objects.values_list("balance", flat=True)) == {100}


def test_a_dry_run_announces_nothing(tmp_path):
    services.import_file(path=write_csv(tmp_path / "m.csv", [CHINESE_HEADER, *ROWS]), dry_run=True)
    assert not ActivityEvent.objects.exists() and not Member.objects.exists()


def test_one_insert_of_enrolments_per_chunk_whatever_its_size(tmp_path):
    def inserts(rows):
        path = write_csv(tmp_path / f"m{len(rows)}.csv", [CHINESE_HEADER, *rows])
        with CaptureQueriesContext(connection) as queries:
            services.import_file(path=path)
        # The events themselves, not their keys (analytics_activityeventkey) claimed beside them.
        return sum(bool(re.search(r"INSERT INTO analytics_activityevent\s*\(", q["sql"].replace('"', ""))) for q in queries)

    few = inserts([[f"A{i}", f"甲{i}", f"+86 139 0000 {i:04d}", "", "", "", "", "", "", ""] for i in range(2)])
    many = inserts([[f"B{i}", f"乙{i}", f"+86 137 0000 {i:04d}", "", "", "", "", "", "", ""] for i in range(40)])
    assert few == many == 1


def test_a_first_time_only_welcome_rule_pays_each_new_member_without_looking_for_earlier_events(tmp_path):
    rule = EarningRuleFactory(kind="enrolment", points=50, first_time_only=True)
    path = write_csv(tmp_path / "m.csv", [CHINESE_HEADER, *ROWS])
    with CaptureQueriesContext(connection) as queries:
        services.import_file(path=path, welcome_rewards=True)
    assert RuleAward.objects.filter(rule=rule).count() == 3
    assert set(PointsAccount.objects.values_list("balance", flat=True)) == {50}
    # Members created by the chunk have no earlier events: nobody asks for their first event of a kind.
    assert not [q for q in queries if "MIN(" in q["sql"].upper() and "analytics_activityevent" in q["sql"]]


def test_an_enrolment_whose_key_is_already_claimed_is_neither_stored_nor_rewarded(welcome_rule):
    claimed, free = MemberFactory(), MemberFactory()
    ActivityEventKey.objects.create(source=OWN_SOURCE, event_id=f"enrolment:{claimed.pk}")
    now = timezone.now()
    stored = activities_announce(
        events=[
            AnnouncedActivity(member_id=member.pk, kind="enrolment", event_id=f"enrolment:{member.pk}", occurred_at=now, channel="import")
            for member in (claimed, free)
        ],
        rewards=True,
        new_members=True,
    )
    assert stored == 1
    assert list(ActivityEvent.objects.values_list("member_id", flat=True)) == [free.pk]
    assert list(RuleAward.objects.values_list("member_id", flat=True)) == [free.pk]


def test_an_unknown_kind_is_refused_and_nothing_is_stored():
    member = MemberFactory()
    event = AnnouncedActivity(member_id=member.pk, kind="no-such-kind", event_id="x:1", occurred_at=timezone.now())
    with pytest.raises(ApplicationError) as refused:
        activities_announce(events=[event], rewards=False, new_members=True)
    assert refused.value.fields == {"kind": "no-such-kind"}
    assert not ActivityEvent.objects.exists() and not ActivityEventKey.objects.exists()
