"""The journey page: building a journey and its steps with clear refusals, transitions, figures, per-role access."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.core.roles import ANALYST, AUDITOR, CAMPAIGN_MANAGER, CUSTOMER_SERVICE
from apps.journeys import services
from apps.journeys.models import Journey, JourneyStatus, JourneyVersion
from apps.journeys.steps import StepSpec
from tests.campaigns.factories import SegmentFactory
from tests.journeys.factories import JourneyFactory, running_journey, wait
from tests.members.factories import MemberFactory, TagFactory
from tests.messaging.factories import MessageTemplateFactory

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/journeys/journey/add/"


def journey_form(**overrides: object) -> dict:
    data = {
        "name": "试驾后跟进",
        "description": "",
        "entry_kind": "event",
        "entry_segment": "",
        "entry_activity_kind": "test_drive_completed",
        "entry_properties": "{}",
        "entry_stage": "",
        "reentry": "never",
        "reentry_days": "",
        "holdout_percent": "10",
        "goal_activity_kind": "order_placed",
        "timeout_days": "30",
    }
    return {**data, **overrides}


def steps_post(rows: list[dict]) -> dict:
    data = {"form-TOTAL_FORMS": str(len(rows)), "form-INITIAL_FORMS": "0", "form-MIN_NUM_FORMS": "0", "form-MAX_NUM_FORMS": "30"}
    for index, row in enumerate(rows):
        data.update({f"form-{index}-{name}": value for name, value in row.items()})
    return data


def test_a_campaign_manager_builds_a_journey_and_bad_entries_are_refused_on_their_field(client, staff):
    client.force_login(staff(CAMPAIGN_MANAGER))
    refused = client.post(ADD_URL, journey_form(entry_activity_kind="no_such_kind"))
    assert refused.status_code == 200
    assert "known activity kind" in str(refused.context["adminform"].form.errors["entry_activity_kind"])
    refused = client.post(ADD_URL, journey_form(entry_kind="segment"))
    assert "needs a segment" in str(refused.context["adminform"].form.errors["entry_segment"])
    refused = client.post(ADD_URL, journey_form(reentry="after_days"))
    assert "how many days" in str(refused.context["adminform"].form.errors["reentry_days"])
    assert not Journey.objects.exists()

    assert client.post(ADD_URL, journey_form()).status_code == 302
    journey = Journey.objects.get()
    assert (journey.status, journey.holdout_percent, journey.goal_activity_kind) == (JourneyStatus.DRAFT, 10, "order_placed")


def test_the_steps_editor_names_the_step_and_field_of_a_refusal_and_saves_nothing(client, staff):
    journey = JourneyFactory()
    client.force_login(staff(CAMPAIGN_MANAGER))
    url = reverse("admin:journeys_journey_steps", args=[journey.pk])
    assert client.get(url).status_code == 200

    bad_rows = [
        {"kind": "wait", "days": "2"},
        {"kind": "branch", "condition": "activity", "value": "order_placed", "yes_next": "4"},
        {"kind": "message", "template_code": "missing", "channel": "sms", "purpose": "marketing"},
        {"kind": "exit"},
    ]
    response = client.post(url, steps_post(bad_rows))
    assert response.status_code == 200
    errors = response.context["formset"].forms[2].errors
    assert "Step 3" in str(errors["template_code"]) and "missing" in str(errors["template_code"])
    assert not JourneyVersion.objects.exists()

    backwards = [{"kind": "wait", "days": "1"}, {"kind": "branch", "condition": "tier", "value": "gold", "no_next": "1"}]
    errors = client.post(url, steps_post(backwards)).context["formset"].forms[1].errors
    assert "Step 2" in str(errors["no_next"])
    no_wait = [{"kind": "wait"}]
    assert "Step 1" in str(client.post(url, steps_post(no_wait)).context["formset"].forms[0].errors["days"])
    bad_time = [{"kind": "wait", "weekday": "2", "at_time": "25:00"}]
    assert "HH:MM" in str(client.post(url, steps_post(bad_time)).context["formset"].forms[0].errors["at_time"])
    unknown_tier = [{"kind": "branch", "condition": "tier", "value": "platinum"}]
    assert "platinum" in str(client.post(url, steps_post(unknown_tier)).context["formset"].forms[0].errors["value"])
    assert not JourneyVersion.objects.exists()

    MessageTemplateFactory(code="follow_up", channel="sms")
    good_rows = [*bad_rows[:2], {**bad_rows[2], "template_code": "follow_up"}, bad_rows[3], {"kind": ""}]
    assert client.post(url, steps_post(good_rows)).status_code == 302
    version = JourneyVersion.objects.get()
    assert [step.kind for step in version.steps.all()] == ["wait", "branch", "message", "exit"]
    assert version.steps.get(position=2).yes_next == 4
    # The editor opens with the saved steps.
    assert client.get(url).context["formset"].initial[1]["value"] == "order_placed"


def test_transitions_run_through_their_pages_and_only_from_their_statuses(client, staff):
    journey = JourneyFactory()
    services.journey_steps_save(journey=journey, steps=[wait(days=1)])
    client.force_login(staff(CAMPAIGN_MANAGER))
    start = reverse("admin:journeys_journey_start", args=[journey.pk])
    assert client.get(start).status_code == 200
    assert Journey.objects.get().status == JourneyStatus.DRAFT  # GET never acts
    assert client.post(start).status_code == 302
    assert Journey.objects.get().status == JourneyStatus.RUNNING
    resume = client.post(reverse("admin:journeys_journey_resume", args=[journey.pk]))
    assert resume.status_code == 200 and "cannot take this action" in resume.content.decode()
    client.post(reverse("admin:journeys_journey_pause", args=[journey.pk]))
    assert Journey.objects.get().status == JourneyStatus.PAUSED
    client.post(reverse("admin:journeys_journey_stop", args=[journey.pk]))
    assert Journey.objects.get().status == JourneyStatus.STOPPED


def test_the_page_shows_per_step_figures_against_the_holdout(client, staff):
    tag = TagFactory(name="lead")
    for member in MemberFactory.create_batch(4):
        member.tags.add(tag)
    segment = SegmentFactory(rules={"op": "and", "conditions": [{"field": "tags", "value": ["lead"]}]})
    journey = running_journey([StepSpec("tag", {"tag": "seen"}), wait(days=2)], entry_segment=segment)
    services.journey_tick(journey_id=journey.pk)
    client.force_login(staff(ANALYST))
    page = client.get(reverse("admin:journeys_journey_change", args=[journey.pk])).content.decode()
    assert 'data-testid="journey-figures"' in page
    assert 'data-testid="step-1-1"' in page and 'data-testid="step-1-2"' in page


def test_an_analyst_reads_but_cannot_build_or_run(client, staff):
    journey = JourneyFactory()
    services.journey_steps_save(journey=journey, steps=[wait(days=1)])
    client.force_login(staff(ANALYST))
    assert client.get("/admin/journeys/journey/").status_code == 200
    assert client.get(reverse("admin:journeys_journey_change", args=[journey.pk])).status_code == 200
    assert client.get("/admin/journeys/enrolment/").status_code == 200
    assert client.get(reverse("admin:journeys_journey_steps", args=[journey.pk])).status_code == 403
    assert client.post(reverse("admin:journeys_journey_steps", args=[journey.pk]), steps_post([{"kind": "exit"}])).status_code == 403
    assert client.post(reverse("admin:journeys_journey_start", args=[journey.pk])).status_code == 403
    assert client.post(ADD_URL, journey_form(name="other")).status_code == 403
    assert Journey.objects.get().status == JourneyStatus.DRAFT
    assert JourneyVersion.objects.get().steps.get().kind == "wait"


@pytest.mark.parametrize("role", [CUSTOMER_SERVICE, AUDITOR])
def test_roles_without_journeys_cannot_reach_them_by_url(client, staff, role):
    journey = JourneyFactory()
    client.force_login(staff(role))
    assert client.get("/admin/journeys/journey/").status_code == 403
    assert client.get(reverse("admin:journeys_journey_change", args=[journey.pk])).status_code == 403
    assert client.get(reverse("admin:journeys_journey_steps", args=[journey.pk])).status_code == 403
    assert client.post(reverse("admin:journeys_journey_start", args=[journey.pk])).status_code == 403


def test_the_journey_page_and_its_refusals_speak_chinese(client, staff):
    journey = JourneyFactory()
    services.journey_steps_save(journey=journey, steps=[wait(days=1)])
    client.force_login(staff(CAMPAIGN_MANAGER))
    page = client.get(reverse("admin:journeys_journey_change", args=[journey.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "编辑步骤" in page and "对照组" in page and "进入条件" in page
    url = reverse("admin:journeys_journey_steps", args=[journey.pk])
    refused = client.post(url, steps_post([{"kind": "wait"}]), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "步骤 1（等待），days：请填写等待时长" in str(refused.context["formset"].forms[0].errors["days"])


def test_the_enrolment_list_reads_a_page_in_the_same_queries_whatever_its_length(client, staff):
    segment = SegmentFactory(rules={"op": "and", "conditions": [{"field": "tags", "value": ["lead"]}]})
    tag = TagFactory(name="lead")
    journey = running_journey([wait(days=2)], entry_segment=segment)
    client.force_login(staff(ANALYST))

    def queries_for_page() -> int:
        services.journey_tick(journey_id=journey.pk)
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/admin/journeys/enrolment/")
        assert response.status_code == 200
        return len(queries), len(response.context["cl"].result_list)

    MemberFactory().tags.add(tag)
    one_row = queries_for_page()
    for _ in range(5):
        MemberFactory().tags.add(tag)
    assert one_row[1] == 1
    assert queries_for_page() == (one_row[0], 6)
