"""The review queue's list: newest award first by its key (an index serves the page), and a search by the activity's
event ID matching it exactly (a part of an ID finds nothing: that read every activity)."""

import pytest
from django.urls import reverse

from apps.core.roles import OPERATIONS_MANAGER
from apps.rules.models import RuleAward
from tests.core.factories import ApiClientFactory
from tests.members.factories import MemberFactory
from tests.rules.factories import EarningRuleFactory, event, ingest

pytestmark = pytest.mark.django_db
LIST = "admin:rules_ruleaward_changelist"


@pytest.fixture
def awards() -> list[RuleAward]:
    EarningRuleFactory(kind="community_post", points=20)
    members = MemberFactory.create_batch(3)
    ingest(ApiClientFactory(), *[event(m, kind="community_post", event_id=f"post-{i}-abc") for i, m in enumerate(members)])
    return list(RuleAward.objects.order_by("id"))


def test_the_list_shows_the_newest_award_first(client, staff, awards):
    client.force_login(staff(OPERATIONS_MANAGER))
    page = client.get(reverse(LIST))
    assert [award.pk for award in page.context_data["cl"].result_list] == [award.pk for award in reversed(awards)]


def test_the_search_matches_the_event_id_exactly(client, staff, awards):
    client.force_login(staff(OPERATIONS_MANAGER))
    hit = client.get(reverse(LIST), {"q": " post-1-abc "})
    assert [award.pk for award in hit.context_data["cl"].result_list] == [awards[1].pk]
    assert "The activity&#x27;s event ID (exact)" in hit.content.decode()
    for part in ("post-1", "abc", "POST-1-ABC"):
        assert list(client.get(reverse(LIST), {"q": part}).context_data["cl"].result_list) == [], part
