"""The demo's journey "试驾后跟进" runs, with members at its different steps and exits."""

import random

import pytest

from apps.journeys.models import EnrolmentState, Journey, JourneyStatus, StepOutcome, StepRun
from fixtures import demo_journeys
from tests.benefits.factories import BenefitFactory
from tests.members.factories import ConsentFactory, MemberFactory

pytestmark = pytest.mark.django_db


def test_the_demo_journey_has_members_waiting_messaged_converted_and_held_out():
    for member in MemberFactory.create_batch(150):
        ConsentFactory(member=member, channel="sms", granted=True)
    BenefitFactory()

    demo_journeys.load(random.Random(2026))

    journey = Journey.objects.get(name="试驾后跟进")
    assert journey.status == JourneyStatus.RUNNING
    states = set(journey.enrolments.values_list("state", flat=True))
    assert {EnrolmentState.ACTIVE, EnrolmentState.COMPLETED, EnrolmentState.CONVERTED, EnrolmentState.HELD_OUT} <= states
    assert journey.enrolments.filter(state=EnrolmentState.ACTIVE, step__position=1).exists()
    assert StepRun.objects.filter(step__position=3, outcome=StepOutcome.DONE).exists()
