import factory

from apps.sales.identifiers import vin_check_digit
from apps.sales.models import Dealer, IdentifierCheck, Lead, LeadChannel, LeadOutcome, OwnedProduct, Ownership, OwnershipReason, ProductKind
from tests.members.factories import MemberFactory


def valid_vin(serial: int, prefix: str = "LFV2A21K") -> str:
    """A VIN with a correct check digit: world maker, descriptor, check digit, model year, plant, serial."""
    body = f"{prefix}0P{serial:07d}"[:17]
    return body[:8] + vin_check_digit(body[:8] + "0" + body[9:]) + body[9:]


class DealerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Dealer
        django_get_or_create = ["code"]

    code = factory.Sequence(lambda n: f"T{n:04d}")
    name = factory.Sequence(lambda n: f"测试门店{n}")
    city = "上海"
    region = "华东"


class VehicleKindFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProductKind
        django_get_or_create = ["code"]

    code = "vehicle"
    name = "Vehicle"
    identifier_label = "VIN"
    identifier_check = IdentifierCheck.VIN
    attribute_schema = factory.LazyFunction(
        lambda: [
            {"name": "colour", "label": "Colour", "type": "text", "required": False},
            {"name": "battery_kwh", "label": "Battery (kWh)", "type": "number", "required": False},
            {"name": "powertrain", "label": "Powertrain", "type": "choice", "required": False, "choices": ["EV", "PHEV"]},
        ]
    )


class OwnedProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OwnedProduct
        skip_postgeneration_save = True

    kind = factory.SubFactory(VehicleKindFactory)
    identifier = factory.Sequence(lambda n: valid_vin(n))
    model = "ES6"
    owner = factory.SubFactory(MemberFactory)
    ownership = factory.RelatedFactory(
        "tests.sales.factories.OwnershipFactory", factory_related_name="product", member=factory.SelfAttribute("..owner")
    )


class OwnershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Ownership

    product = factory.SubFactory(OwnedProductFactory, ownership=None)
    member = factory.SelfAttribute("product.owner")
    reason = OwnershipReason.DELIVERY


class LeadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lead

    source_system = "crm"
    source_ref = factory.Sequence(lambda n: f"L{n:06d}")
    name = factory.SelfAttribute("member.name")
    phone = factory.SelfAttribute("member.phone")
    channel = LeadChannel.DEALER
    member = factory.SubFactory(MemberFactory)
    outcome = LeadOutcome.MATCHED_MEMBER
