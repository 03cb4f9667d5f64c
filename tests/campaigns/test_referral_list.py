"""The referral list's search: the code exactly, or the referrer's or referee's name by its beginning, each on an
index; a part from the middle finds nothing (a "contains" read every referral and member when nothing matched)."""

import pytest
from django.urls import reverse

from apps.campaigns.models import Referral
from apps.core.roles import OPERATIONS_MANAGER
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db
LIST = "admin:campaigns_referral_changelist"


@pytest.fixture
def referral() -> Referral:
    return Referral.objects.create(referrer=MemberFactory(name="张伟"), referee=MemberFactory(name="Wang Fang"), code="ZW2026")


def shown(client, text: str) -> list[int]:
    response = client.get(reverse(LIST), {"q": text})
    assert response.status_code == 200
    return [row.pk for row in response.context_data["cl"].result_list]


def test_the_code_is_matched_exactly(client, staff, referral):
    client.force_login(staff(OPERATIONS_MANAGER))
    assert shown(client, "ZW2026") == [referral.pk]
    assert shown(client, "ZW20") == [] and shown(client, "2026") == []


def test_either_name_is_matched_by_its_beginning(client, staff, referral):
    client.force_login(staff(OPERATIONS_MANAGER))
    assert shown(client, "张") == [referral.pk]
    assert shown(client, "Wang") == [referral.pk]
    assert shown(client, "Fang") == [] and shown(client, "伟") == []
    assert "Referral code (exact), or the referrer&#x27;s or referee&#x27;s name (beginning)" in client.get(reverse(LIST)).content.decode()
