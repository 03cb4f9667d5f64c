"""The demo journeys move people through the stages and give every journey figure something to show."""

import random
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from apps.lifecycle import selectors
from apps.lifecycle.models import JourneyStage, MemberStage, StageChange, StageDimension
from fixtures import demo_lifecycle
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_demo_journeys_fill_the_funnel_the_league_table_and_the_flows():
    MemberFactory.create_batch(120, joined_at=timezone.now() - timedelta(days=400))
    demo_lifecycle.load(random.Random(7))
    stages = set(MemberStage.objects.values_list("journey_stage", flat=True))
    assert {JourneyStage.INTENT, JourneyStage.TEST_DRIVEN, JourneyStage.OWNER} <= stages
    # The nightly staging runs on either database; the figures below are PostgreSQL statements.
    assert StageChange.objects.filter(dimension=StageDimension.LIFECYCLE).exists()
    if connection.vendor != "postgresql":
        return
    period = selectors.default_period()
    funnel = selectors.journey_funnel(period=period)
    assert {row[0] for row in funnel.rows} <= set(demo_lifecycle.DEALERS)
    assert sum(row[6] for row in funnel.rows) > 0  # deliveries
    assert len(selectors.dealer_league(period=period).rows) == len(demo_lifecycle.DEALERS)
    assert selectors.lifecycle_flows(period=period).rows
