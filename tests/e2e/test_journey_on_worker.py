"""A campaign manager builds a three-step journey in the back office and watches members move through it, the
steps run by a real Celery worker.

Runs in the worker pass of ``make test`` (CELERY_BROKER_URL on Redis), one module per process.
"""

import pytest
from django.urls import reverse

from apps.core.roles import CAMPAIGN_MANAGER
from apps.journeys.models import Enrolment, EnrolmentState, Journey, JourneyStatus
from apps.members.models import PointsAccount
from tests.campaigns.factories import SegmentFactory
from tests.conftest import wait_for
from tests.members.factories import ConsentFactory, MemberFactory, TagFactory

pytestmark = [pytest.mark.e2e, pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


def leads(count: int, *, consenting: int) -> list:
    tag = TagFactory(name="lead")
    members = MemberFactory.create_batch(count)
    for index, member in enumerate(members):
        member.tags.add(tag)
        if index < consenting:
            ConsentFactory(member=member, channel="sms", granted=True)
    return members


def tick_on_the_worker() -> None:
    from config.celery import app

    app.send_task("journeys.tick")


def figure(page: object, step: int, name: str) -> str:
    return page.get_by_test_id(f"step-1-{step}").locator(f"[data-figure={name}]").inner_text()


def test_a_three_step_journey_built_in_the_browser_runs_on_the_worker(celery_worker_process, page, login_as, screenshot):
    first = leads(3, consenting=2)
    segment = SegmentFactory(name="Leads", rules={"op": "and", "conditions": [{"field": "tags", "value": ["lead"]}]})
    login_as(CAMPAIGN_MANAGER)

    page.goto("/admin/journeys/journey/add/")
    page.fill("input[name=name]", "Lead follow-up")
    page.select_option("select[name=entry_kind]", "segment")
    page.select_option("select[name=entry_segment]", str(segment.pk))
    page.locator("button[name=_continue], input[name=_continue]").first.click()
    journey = Journey.objects.get()

    page.goto(reverse("admin:journeys_journey_steps", args=[journey.pk]))
    page.select_option("select[name=form-0-kind]", "branch")
    page.select_option("select[name=form-0-condition]", "consent")
    page.fill("input[name=form-0-value]", "sms")
    page.fill("input[name=form-0-no_next]", "3")
    page.select_option("select[name=form-1-kind]", "tag")
    page.fill("input[name=form-1-tag]", "contactable")
    page.select_option("select[name=form-2-kind]", "points")
    page.fill("input[name=form-2-points]", "100")
    page.get_by_role("button", name="Save steps").click()
    page.get_by_text("Steps saved as version 1.").wait_for()

    page.goto(reverse("admin:journeys_journey_start", args=[journey.pk]))
    page.get_by_role("button", name="Confirm").click()
    page.get_by_text("The journey is running.").wait_for()
    assert Journey.objects.get().status == JourneyStatus.RUNNING

    tick_on_the_worker()
    wait_for(lambda: Enrolment.objects.filter(state=EnrolmentState.COMPLETED).count() == 3, what="the first members to finish")
    page.reload()
    assert (figure(page, 1, "passed"), figure(page, 1, "yes"), figure(page, 1, "no")) == ("3", "2", "1")
    assert (figure(page, 2, "passed"), figure(page, 3, "passed")) == ("2", "3")
    screenshot("journey-figures")

    # New members join the entry segment; the next tick takes them through, and the page follows.
    later = leads(2, consenting=0)
    tick_on_the_worker()
    wait_for(lambda: Enrolment.objects.filter(state=EnrolmentState.COMPLETED).count() == 5, what="the later members to finish")
    page.reload()
    assert (figure(page, 1, "passed"), figure(page, 1, "no"), figure(page, 3, "passed")) == ("5", "3", "5")
    assert sorted(PointsAccount.objects.filter(member__in=first + later).values_list("balance", flat=True)) == [100] * 5
    assert sorted(m.tags.filter(name="contactable").exists() for m in first + later) == [False, False, False, True, True]
