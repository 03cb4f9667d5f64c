"""The ledger list finds rows by their source reference exactly, on its index, in the search box and in the filter;
a part of a reference finds nothing (a "contains" read every ledger row when nothing matched)."""

import pytest
from django.urls import reverse

from apps.core.roles import OPERATIONS_MANAGER
from tests.members.factories import PointsEntryFactory

pytestmark = pytest.mark.django_db
LEDGER = "admin:members_pointsentry_changelist"


@pytest.fixture
def entries():
    return [PointsEntryFactory(source_ref="ORDER-1001"), PointsEntryFactory(source_ref="ORDER-1002")]


def shown(client, **params) -> list[int]:
    response = client.get(reverse(LEDGER), params)
    assert response.status_code == 200
    return [entry.pk for entry in response.context_data["cl"].result_list]


def test_the_search_matches_the_reference_exactly(client, staff, entries):
    client.force_login(staff(OPERATIONS_MANAGER))
    assert shown(client, q=" ORDER-1001 ") == [entries[0].pk]
    assert shown(client, q="ORDER-10") == []
    assert shown(client, q="1002") == []
    assert "Source reference (exact)" in client.get(reverse(LEDGER)).content.decode()


def test_the_reference_filter_matches_exactly_and_refuses_contains(client, staff, entries):
    client.force_login(staff(OPERATIONS_MANAGER))
    assert shown(client, source_ref__exact="ORDER-1002") == [entries[1].pk]
    assert shown(client, source_ref__exact="ORDER-10") == []
    assert client.get(reverse(LEDGER), {"source_ref__icontains": "ORDER"}).status_code == 400
