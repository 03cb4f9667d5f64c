"""Real threads against PostgreSQL: transfers of one product queue on its row; racing leads of one person make one prospect."""

from itertools import pairwise

import pytest

from apps.members.models import Member
from apps.sales import services
from apps.sales.models import Lead, Ownership
from apps.sales.services import LeadInput, lead_clean
from tests.members.factories import MemberFactory
from tests.members.test_concurrency import run_at_once
from tests.sales.factories import OwnedProductFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]

THREADS = 8


def test_concurrent_transfers_of_one_product_leave_one_unbroken_chain_of_owners():
    car = OwnedProductFactory()
    buyers = [MemberFactory() for _ in range(THREADS)]

    def transfer(index: int) -> str:
        services.product_transfer(product=car, to_member=buyers[index])
        return "ok"

    assert run_at_once(transfer, threads=THREADS) == {"ok": THREADS}
    history = list(Ownership.objects.filter(product=car).order_by("started_at", "id"))
    assert len(history) == THREADS + 1
    assert [h.ended_at is None for h in history] == [False] * THREADS + [True]
    for earlier, later in pairwise(history):
        assert earlier.ended_at == later.started_at
    car.refresh_from_db()
    assert car.owner == history[-1].member


def test_racing_leads_of_one_new_person_make_one_prospect():
    def receive(index: int) -> str:
        item = LeadInput(source_ref=f"R{index}", name="韩梅梅", phone="13700137000")
        return services.lead_receive(lead=lead_clean(item=item, default_source_system="crm")).lead.outcome

    outcomes = run_at_once(receive, threads=THREADS)
    assert sum(outcomes.values()) == THREADS and outcomes["new_prospect"] == 1
    assert Member.objects.count() == 1 and Lead.objects.filter(member=Member.objects.get()).count() == THREADS
