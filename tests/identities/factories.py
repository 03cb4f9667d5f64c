import factory

from apps.identities.models import ChannelIdentity, IdentityKind, SubscriptionQuota
from tests.members.factories import MemberFactory


class ChannelIdentityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ChannelIdentity

    member = factory.SubFactory(MemberFactory)
    kind = IdentityKind.OFFICIAL_ACCOUNT
    app_id = "wx-oa-test"
    external_id = factory.Sequence(lambda n: f"oOpenId{n:020d}")
    source = "test"


class SubscriptionQuotaFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SubscriptionQuota

    member = factory.SubFactory(MemberFactory)
    template_id = "tmpl-points"
    remaining = 1
