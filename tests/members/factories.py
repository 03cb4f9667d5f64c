from datetime import timedelta

import factory
from django.utils import timezone

from apps.core.models import hash_secret
from apps.members.models import (
    Consent,
    ConsentChannel,
    DuplicateCandidate,
    DuplicateReason,
    GrowthEntry,
    Member,
    MemberToken,
    PointsAccount,
    PointsEntry,
    PointsEntryKind,
    Tag,
    Tier,
    TierChange,
    TierChangeKind,
)
from tests.core.factories import ApiClientFactory


def tier(code: str) -> Tier:
    return Tier.objects.get(code=code)


class TierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tier

    code = factory.Sequence(lambda n: f"tier{n}")
    name = factory.LazyAttribute(lambda t: t.code.title())
    rank = factory.Sequence(lambda n: 100 + n)
    threshold = factory.Sequence(lambda n: 100_000 + n * 1000)


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"tag{n}")


class MemberFactory(factory.django.DjangoModelFactory):
    """A member as enrolment leaves it: lowest tier, an empty points account, an initial tier change."""

    class Meta:
        model = Member
        skip_postgeneration_save = True

    name = factory.Faker("name", locale="zh_CN")
    phone = factory.Sequence(lambda n: f"+86137{n:08d}")
    external_id = factory.Sequence(lambda n: f"EXT{n:07d}")
    email = factory.Sequence(lambda n: f"member{n}@example.com")
    city = "上海"
    tier = factory.LazyFunction(lambda: Tier.objects.order_by("rank").first())
    account = factory.RelatedFactory("tests.members.factories.PointsAccountFactory", factory_related_name="member")
    initial_tier = factory.RelatedFactory(
        "tests.members.factories.TierChangeFactory", factory_related_name="member", to_tier=factory.SelfAttribute("..tier")
    )


class PointsAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PointsAccount

    member = factory.SubFactory(MemberFactory, account=None)
    balance = 0


class TierChangeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TierChange

    member = factory.SubFactory(MemberFactory, initial_tier=None)
    kind = TierChangeKind.INITIAL
    to_tier = factory.LazyAttribute(lambda change: change.member.tier)
    growth_value = 0
    reason = "Enrolment"


class ConsentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Consent

    member = factory.SubFactory(MemberFactory)
    channel = ConsentChannel.SMS
    granted = True


class GrowthEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GrowthEntry

    member = factory.SubFactory(MemberFactory)
    amount = 100
    reason = "Purchase"
    created_at = factory.LazyFunction(timezone.now)


class PointsEntryFactory(factory.django.DjangoModelFactory):
    """A bare ledger row, for read-side tests; balances stay true only through the services."""

    class Meta:
        model = PointsEntry

    account = factory.LazyAttribute(lambda entry: MemberFactory().points_account)
    kind = PointsEntryKind.EARN
    amount = 100
    balance_after = 100
    reason = "Purchase"


class MemberTokenFactory(factory.django.DjangoModelFactory):
    """``token.raw`` holds the bearer token for the test to send."""

    class Meta:
        model = MemberToken

    member = factory.SubFactory(MemberFactory)
    client = factory.SubFactory(ApiClientFactory)
    raw = factory.Sequence(lambda n: f"member-token-{n}")
    token_hash = factory.LazyAttribute(lambda token: hash_secret(token.raw))
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(hours=1))

    @classmethod
    def _create(cls, model_class: type, *args: object, **kwargs: object) -> MemberToken:
        raw = kwargs.pop("raw")
        token = super()._create(model_class, *args, **kwargs)
        token.raw = raw
        return token


class DuplicateCandidateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DuplicateCandidate

    member_a = factory.SubFactory(MemberFactory)
    member_b = factory.SubFactory(MemberFactory)
    reason = DuplicateReason.EMAIL
    score = 90
