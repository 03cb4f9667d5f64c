"""The lead list's search: the source reference and the interest exactly, the name by its beginning, each on an index;
a part from the middle finds nothing (it used to, by reading every lead)."""

import pytest
from django.urls import reverse

from apps.core.roles import CUSTOMER_SERVICE
from apps.sales.models import Lead
from apps.sales.selectors import leads_search
from tests.sales.factories import LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def leads() -> dict[str, Lead]:
    return {
        "es6": LeadFactory(source_ref="CRM-2024-0001", name="王小明", interest="ES6"),
        "et5": LeadFactory(source_ref="CRM-2024-0002", name="Li Lei", interest="ET5"),
    }


def found(text: str) -> set[int]:
    return set(leads_search(Lead.objects.all(), text).values_list("pk", flat=True))


def test_the_source_reference_is_matched_exactly(leads):
    assert found("CRM-2024-0001") == {leads["es6"].pk}
    assert found("  CRM-2024-0002 ") == {leads["et5"].pk}
    assert found("CRM-2024") == set()
    assert found("2024-0001") == set()


def test_the_name_is_matched_by_its_beginning(leads):
    assert found("王小") == {leads["es6"].pk}
    assert found("Li") == {leads["et5"].pk}
    assert found("小明") == set()
    assert found("Lei") == set()


def test_the_interest_is_matched_exactly(leads):
    assert found("ES6") == {leads["es6"].pk}
    assert found("ES") == set()


def test_an_empty_search_keeps_every_lead(leads):
    assert found("") == {lead.pk for lead in leads.values()}
    assert found("   ") == {lead.pk for lead in leads.values()}


def test_the_list_searches_the_same_way_and_says_how(client, staff, leads):
    client.force_login(staff(CUSTOMER_SERVICE))
    url = reverse("admin:sales_lead_changelist")
    by_prefix = client.get(url, {"q": "王小"})
    assert [lead.pk for lead in by_prefix.context_data["cl"].result_list] == [leads["es6"].pk]
    assert "Source reference or interest (exact), or name (beginning)" in by_prefix.content.decode()
    by_middle = client.get(url, {"q": "小明"})
    assert list(by_middle.context_data["cl"].result_list) == []
