"""Imported members are announced as enrolled, set-based, with their own enrolment date; rewarded only on request."""

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.analytics.models import ActivityEvent
from apps.imports import services
from apps.members.models import Member, PointsAccount
from apps.rules.models import RuleAward
from tests.imports.files import CHINESE_HEADER, write_csv
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
