import factory

from apps.campaigns.models import Campaign, Segment


class SegmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Segment

    name = factory.Sequence(lambda n: f"Segment {n}")
    rules = factory.LazyFunction(lambda: {"op": "and", "conditions": [{"field": "status", "value": ["active", "frozen"]}]})


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Campaign {n}")
    segment = factory.SubFactory(SegmentFactory)
    points_amount = 100
