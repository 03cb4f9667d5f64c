"""Sales' services: VIN and attribute checks, lead dedup, prospects becoming members, transfers."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.analytics.models import ActivityEvent
from apps.campaigns.selectors import rules_members
from apps.core.errors import ApplicationError
from apps.members import selectors as member_selectors
from apps.members import services as member_services
from apps.members.merging import MEMBER_MERGERS
from apps.members.models import Member, MemberStatus, PointsAccount, TierChange
from apps.members.personal_data import MEMBER_ANONYMISERS
from apps.sales import services
from apps.sales.identifiers import attribute_schema_clean, attributes_clean, vin_check_digit, vin_normalise
from apps.sales.models import Lead, LeadOutcome, OwnedProduct, Ownership, ProductStatus
from apps.sales.services import LeadInput, lead_clean, lead_receive
from tests.core.factories import ApiClientFactory
from tests.members.factories import MemberFactory
from tests.sales.factories import DealerFactory, OwnedProductFactory, VehicleKindFactory, valid_vin

pytestmark = pytest.mark.django_db


def receive(**fields):
    item = LeadInput(**{"source_ref": "R1", "name": "王小明", "phone": "13800138000", **fields})
    return lead_receive(lead=lead_clean(item=item, default_source_system="crm"))


# VIN --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vin", "check"),
    [("1M8GDM9AXKP042788", "X"), ("5GZCZ43D13S812715", "1"), ("11111111111111111", "1"), ("LFV2A21K5P0000001", "5")],
)
def test_real_vins_pass_their_check_digit(vin, check):
    assert vin_check_digit(vin) == check
    assert vin_normalise(vin.lower()) == vin


def test_spaces_and_dashes_are_ignored():
    assert vin_normalise(" 1M8-GDM9AX KP042788 ") == "1M8GDM9AXKP042788"


@pytest.mark.parametrize(
    ("vin", "says"),
    [
        ("1M8GDM9AXKP04278", "has 16"),
        ("1M8GDM9AXKP0427889", "has 18"),
        ("1M8GDM9AXKPO42788", "I, O or Q"),
        ("IM8GDM9AXKP042788", "I, O or Q"),
        ("1M8GDM9AXKP04278_", "only digits and capital letters"),
        ("1M8GDM9A1KP042788", "position 9) is 1, but the other characters make it X"),
    ],
)
def test_a_bad_vin_says_which_check_failed(vin, says):
    with pytest.raises(ApplicationError) as caught:
        vin_normalise(vin)
    assert caught.value.code == "invalid_vin"
    assert says in str(caught.value.message)
    assert "identifier" in caught.value.fields


def test_attributes_follow_the_kind_schema():
    kind = VehicleKindFactory()
    assert attributes_clean(kind, {"colour": " 蓝 ", "battery_kwh": "75", "powertrain": "EV"}) == {
        "colour": "蓝",
        "battery_kwh": 75,
        "powertrain": "EV",
    }
    for bad, field in [({"wheels": 4}, "wheels"), ({"battery_kwh": "lots"}, "battery_kwh"), ({"powertrain": "Diesel"}, "powertrain")]:
        with pytest.raises(ApplicationError) as caught:
            attributes_clean(kind, bad)
        assert caught.value.fields == {"attributes": field}


def test_a_bad_schema_names_its_field():
    with pytest.raises(ApplicationError, match="type"):
        attribute_schema_clean([{"name": "colour", "type": "colour"}])
    with pytest.raises(ApplicationError, match="choices"):
        attribute_schema_clean([{"name": "trim", "type": "choice"}])
    with pytest.raises(ApplicationError, match="twice"):
        attribute_schema_clean([{"name": "a", "type": "text"}, {"name": "a", "type": "date"}])


# Leads and prospects -------------------------------------------------------------------------------------


def test_an_unknown_person_becomes_a_prospect_with_an_account_but_no_enrolment(django_capture_on_commit_callbacks):
    dealer = DealerFactory(code="SH001")
    with django_capture_on_commit_callbacks(execute=True):
        receipt = receive(dealer="sh001", interest="ES6", channel="dealer", city="上海")
    lead = receipt.lead
    assert receipt.created and lead.outcome == LeadOutcome.NEW_PROSPECT and lead.dealer == dealer
    prospect = lead.member
    assert prospect.status == MemberStatus.PROSPECT and prospect.phone == "+8613800138000"
    assert PointsAccount.objects.get(member=prospect).balance == 0
    assert not TierChange.objects.filter(member=prospect).exists()
    event = ActivityEvent.objects.get(member=prospect, kind="lead_created")
    assert event.properties == {"dealer": "SH001", "lead": lead.pk, "interest": "ES6"}
    assert event.channel == "dealer"
    assert not ActivityEvent.objects.filter(member=prospect, kind="enrolment").exists()


def test_a_known_member_gets_the_lead_by_phone_or_external_id():
    member = MemberFactory(phone="+8613800138000", external_id="APP-1")
    by_phone = receive(phone="138 0013 8000").lead
    by_external_id = receive(source_ref="R2", phone="", external_id="APP-1").lead
    assert by_phone.member == member and by_external_id.member == member
    assert by_phone.outcome == LeadOutcome.MATCHED_MEMBER
    assert Member.objects.count() == 1


def test_the_external_id_wins_when_phone_and_external_id_name_two_people():
    by_phone = MemberFactory(phone="+8613800138000")
    by_external_id = MemberFactory(external_id="APP-9")
    lead = receive(external_id="APP-9").lead
    assert lead.member == by_external_id != by_phone


def test_a_second_lead_of_a_prospect_attaches_to_the_same_prospect():
    first = receive().lead
    second = receive(source_ref="R2", phone="+86 138-0013-8000").lead
    assert second.member == first.member and second.outcome == LeadOutcome.MATCHED_PROSPECT


def test_a_redelivered_lead_changes_nothing(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = receive()
    with django_capture_on_commit_callbacks(execute=True):
        again = receive(name="Someone else")
    assert again.lead == first.lead and not again.created
    assert Lead.objects.count() == 1 and ActivityEvent.objects.filter(kind="lead_created").count() == 1


def test_a_lead_is_a_duplicate_only_of_the_same_clients_lead():
    item = lead_clean(item=LeadInput(source_ref="R1", name="王小明", phone="13800138000"), default_source_system="website")
    first_client, second_client = ApiClientFactory(), ApiClientFactory()
    first = lead_receive(lead=item, client=first_client)
    other = lead_receive(lead=item, client=second_client)
    upload = lead_receive(lead=item)
    assert first.created and other.created and upload.created
    assert len({first.lead.pk, other.lead.pk, upload.lead.pk}) == 3
    again = lead_receive(lead=item, client=second_client)
    assert again.lead == other.lead and not again.created
    assert lead_receive(lead=item).lead == upload.lead
    assert Member.objects.count() == 1


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"phone": "12345"}, "phone"),
        ({"phone": "", "external_id": ""}, "phone"),
        ({"name": " "}, "name"),
        ({"dealer": "NOPE1"}, "dealer"),
        ({"channel": "fax"}, "channel"),
        ({"received_at": "yesterday"}, "received_at"),
        ({"received_at": "2026-13-45T10:00:00"}, "received_at"),
        ({"received_at": "0001-01-01T00:00:00"}, "received_at"),
        ({"received_at": 20261130}, "received_at"),
        ({"name": {"first": "王"}}, "name"),
        ({"interest": "x" * 65}, "interest"),
        ({"received_at": (timezone.now() + timedelta(days=1)).isoformat()}, "received_at"),
    ],
)
def test_a_bad_lead_names_its_field_and_writes_nothing(fields, field):
    with pytest.raises(ApplicationError) as caught:
        receive(**fields)
    assert field in caught.value.fields
    assert not Lead.objects.exists() and not Member.objects.exists()


def test_an_inactive_dealer_is_refused():
    DealerFactory(code="OLD01", active=False)
    with pytest.raises(ApplicationError, match="no longer active"):
        receive(dealer="OLD01")


# Enrolment of a prospect ------------------------------------------------------------------------------------


def test_enrolling_with_the_prospects_phone_turns_the_prospect_into_the_member(django_capture_on_commit_callbacks):
    prospect = receive(external_id="").lead.member
    before = prospect.joined_at
    with django_capture_on_commit_callbacks(execute=True):
        member = member_services.member_enrol(name="王小明", phone="13800138000", email="wang@example.com", source_channel="app")
    assert member.pk == prospect.pk and Member.objects.count() == 1
    member.refresh_from_db()
    assert member.status == MemberStatus.ACTIVE and member.joined_at > before and member.email == "wang@example.com"
    assert member.source_channel == "app"
    assert Lead.objects.get().member == member
    assert TierChange.objects.filter(member=member).count() == 1
    assert ActivityEvent.objects.filter(member=member, kind="enrolment").count() == 1


def test_enrolling_by_external_id_fills_in_the_phone():
    prospect = receive(phone="", external_id="DMS-7").lead.member
    member = member_services.member_enrol(name="王小明", phone="13900139000", external_id="DMS-7")
    assert member.pk == prospect.pk and member.phone == "+8613900139000"


def test_two_prospects_named_by_one_enrolment_are_refused():
    receive(phone="13800138000", external_id="")
    receive(source_ref="R2", phone="13900139000", external_id="DMS-8")
    with pytest.raises(ApplicationError) as caught:
        member_services.member_enrol(name="王", phone="13800138000", external_id="DMS-8")
    assert caught.value.code == "ambiguous_prospect"


def test_an_enrolled_members_phone_is_still_taken():
    MemberFactory(phone="+8613800138000")
    with pytest.raises(ApplicationError) as caught:
        member_services.member_enrol(name="王", phone="13800138000")
    assert caught.value.code == "duplicate_phone"


def test_staff_enrol_a_prospect_and_only_a_prospect():
    prospect = receive().lead.member
    member = member_services.member_enrol_prospect(member=prospect, email="x@example.com")
    assert member.status == MemberStatus.ACTIVE and member.source_channel == "staff"
    with pytest.raises(ApplicationError) as caught:
        member_services.member_enrol_prospect(member=member)
    assert caught.value.code == "invalid_status"


# Prospects are not programme members -----------------------------------------------------------------------


def test_a_prospect_earns_no_points_and_gets_no_member_token():
    prospect = receive().lead.member
    with pytest.raises(ApplicationError) as caught:
        member_services.points_earn(member=prospect, amount=10, reason="Purchase")
    assert caught.value.code == "member_not_enrolled"
    with pytest.raises(ApplicationError) as caught:
        member_services.member_token_issue(member=prospect, client=ApiClientFactory())
    assert caught.value.code == "member_not_enrolled"


def test_segments_leave_prospects_out_unless_they_ask_for_them():
    member = MemberFactory(city="上海")
    prospect = receive(city="上海").lead.member
    assert list(rules_members(rules={"field": "city", "value": ["上海"]})) == [member]
    asked = rules_members(rules={"op": "and", "conditions": [{"field": "status", "value": ["prospect"]}]})
    assert list(asked) == [prospect]


def test_the_dashboard_counts_enrolled_members_only():
    MemberFactory()
    receive()
    overview = member_selectors.programme_overview()
    assert overview.members_total == 1 and overview.new_members_this_week == 1
    assert overview.members_by_status[MemberStatus.PROSPECT] == 1


# Products and transfers ----------------------------------------------------------------------------------


def test_a_delivery_records_the_product_its_first_owner_and_the_event(django_capture_on_commit_callbacks):
    member, dealer, kind = MemberFactory(), DealerFactory(code="HZ001"), VehicleKindFactory()
    with django_capture_on_commit_callbacks(execute=True):
        product = services.product_deliver(
            member=member, kind=kind, identifier="1m8gdm9axkp042788", model="ES6", attributes={"colour": "白"}, dealer=dealer
        )
    assert product.identifier == "1M8GDM9AXKP042788" and product.owner == member and product.status == ProductStatus.OWNED
    assert Ownership.objects.get(product=product).ended_at is None
    event = ActivityEvent.objects.get(member=member, kind="delivered")
    assert event.properties["dealer"] == "HZ001" and event.properties["vin"] == "1M8GDM9AXKP042788" and event.properties["model"] == "ES6"
    with pytest.raises(ApplicationError) as caught:
        services.product_deliver(member=MemberFactory(), kind=kind, identifier="1M8GDM9AXKP042788", model="ES6")
    assert caught.value.code == "duplicate_identifier"


def test_a_bad_vin_at_delivery_writes_nothing():
    with pytest.raises(ApplicationError, match="position 9"):
        services.product_deliver(member=MemberFactory(), kind=VehicleKindFactory(), identifier="1M8GDM9A1KP042788", model="ES6")
    assert not OwnedProduct.objects.exists()


def test_one_member_owns_several_and_a_transfer_keeps_the_history():
    first, second = MemberFactory(), MemberFactory()
    car, other = OwnedProductFactory(owner=first), OwnedProductFactory(owner=first)
    services.product_transfer(product=car, to_member=second, note="Sold privately")
    car.refresh_from_db()
    assert car.owner == second and set(first.owned_products.all()) == {other}
    history = list(Ownership.objects.filter(product=car).order_by("started_at", "id"))
    assert [h.member for h in history] == [first, second]
    assert history[0].ended_at == history[1].started_at and history[0].end_reason == "transfer" and history[1].ended_at is None
    with pytest.raises(ApplicationError) as caught:
        services.product_transfer(product=car, to_member=second)
    assert caught.value.code == "same_owner"


def test_a_sold_product_cannot_be_transferred():
    car = OwnedProductFactory()
    services.product_release(product=car, status=ProductStatus.SOLD, note="Traded in")
    car.refresh_from_db()
    assert car.owner is None and Ownership.objects.get(product=car).end_reason == "sale"
    with pytest.raises(ApplicationError) as caught:
        services.product_transfer(product=car, to_member=MemberFactory())
    assert caught.value.code == "not_owned"


def test_staff_record_journey_events_with_dealer_and_model(django_capture_on_commit_callbacks):
    member, dealer = MemberFactory(), DealerFactory(code="BJ001")
    with django_capture_on_commit_callbacks(execute=True):
        services.journey_event_record(member=member, kind="test_drive_completed", dealer=dealer, channel="dealer", model="ET5")
    event = ActivityEvent.objects.get(member=member, kind="test_drive_completed")
    assert event.properties == {"dealer": "BJ001", "model": "ET5"} and event.channel == "dealer"
    with pytest.raises(ApplicationError) as caught:
        services.journey_event_record(member=member, kind="order_placed", dealer=dealer, channel="dealer")
    assert caught.value.fields == {"model": ""}
    product = services.journey_event_record(
        member=member, kind="delivered", dealer=dealer, channel="dealer", model="ET5", vin=valid_vin(42), product_kind=VehicleKindFactory()
    )
    assert product.owner == member


# Registries ----------------------------------------------------------------------------------------


def test_merging_moves_leads_ownerships_and_products():
    survivor, merged = MemberFactory(), MemberFactory()
    lead = receive(phone=merged.phone).lead
    car = OwnedProductFactory(owner=merged)
    mover = next(m for m in MEMBER_MERGERS if m.name == "sales")
    assert mover.move(survivor, merged) == {"leads": 1, "ownerships": 1, "owned_products": 1}
    lead.refresh_from_db()
    car.refresh_from_db()
    assert lead.member == survivor and car.owner == survivor


def test_a_data_export_lists_the_leads_and_anonymisation_scrubs_them():
    prospect = receive(city="上海").lead.member
    export = member_services.member_data_export(member=prospect)
    assert export["leads"][0]["phone"] == "+8613800138000"
    assert services.leads_anonymise in MEMBER_ANONYMISERS
    member_services.member_anonymise(member=prospect, reason="PIPL request")
    lead = Lead.objects.get()
    assert lead.phone == "" and lead.name != "王小明" and lead.anonymised_at is not None


# Segment conditions ------------------------------------------------------------------------------------


def test_ownership_and_dealer_conditions():
    owner_es6, owner_et5, nobody = MemberFactory(), MemberFactory(), MemberFactory()
    old = OwnedProductFactory(owner=owner_es6, model="ES6", delivered_on=timezone.localdate() - timedelta(days=200))
    OwnedProductFactory(owner=owner_et5, model="ET5", delivered_on=timezone.localdate() - timedelta(days=10))
    assert set(rules_members(rules={"field": "owns_model", "operator": "any", "value": ["ES6"]})) == {owner_es6}
    assert set(rules_members(rules={"field": "owns_model", "operator": "none", "value": ["ES6"]})) == {owner_et5, nobody}
    assert set(rules_members(rules={"field": "delivered", "operator": "within_days", "value": 90})) == {owner_et5}
    services.product_transfer(product=old, to_member=nobody)
    assert set(rules_members(rules={"field": "owns_model", "operator": "any", "value": ["ES6"]})) == {nobody}

    DealerFactory(code="SH001")
    DealerFactory(code="GZ001")
    receive(phone=owner_es6.phone, dealer="SH001", received_at=(timezone.now() - timedelta(days=3)).isoformat())
    receive(source_ref="R2", phone=owner_es6.phone, dealer="GZ001", received_at=(timezone.now() - timedelta(days=1)).isoformat())
    receive(source_ref="R3", phone=owner_et5.phone, dealer="SH001")
    assert set(rules_members(rules={"field": "last_dealer", "value": ["SH001"]})) == {owner_et5}
    assert set(rules_members(rules={"field": "last_dealer", "value": ["GZ001"]})) == {owner_es6}
    with pytest.raises(ApplicationError):
        rules_members(rules={"field": "last_dealer", "value": ["XX999"]})


def test_the_timeline_sources_page_leads_and_ownerships_newest_first():
    from apps.members.timeline import TIMELINE_SOURCES, TimelineCursor

    member = MemberFactory()
    first = receive(phone=member.phone, received_at=(timezone.now() - timedelta(days=2)).isoformat()).lead
    second = receive(source_ref="R2", phone=member.phone, received_at=(timezone.now() - timedelta(days=1)).isoformat()).lead
    leads = next(source for source in TIMELINE_SOURCES if source.name == "leads")
    page = leads.fetch(member, None, 1)
    assert [item.item_id for item in page] == [second.pk]
    after = TimelineCursor(at=page[0].at, source="leads", item_id=page[0].item_id)
    assert [item.item_id for item in leads.fetch(member, after, 5)] == [first.pk]
    car = OwnedProductFactory(owner=member)
    ownerships = next(source for source in TIMELINE_SOURCES if source.name == "ownerships")
    assert [item.data["identifier"] for item in ownerships.fetch(member, None, 5)] == [car.identifier]


def test_the_profile_section_lists_what_the_member_owns_now():
    from apps.members.profile_sections import PROFILE_SECTIONS

    section = next(section for section in PROFILE_SECTIONS if section.name == "owned_products")
    member = MemberFactory()
    assert section.summary(member) is None
    car = OwnedProductFactory(owner=member, model="ES8", trim="旗舰版")
    assert section.summary(member) == [
        {
            "kind": "Vehicle",
            "identifier_label": "VIN",
            "identifier": car.identifier,
            "model": "ES8",
            "trim": "旗舰版",
            "delivered_on": None,
            "dealer": None,
        }
    ]
    services.product_transfer(product=car, to_member=MemberFactory())
    assert section.summary(member) is None
